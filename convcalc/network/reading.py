"""Reading a network file into items (layers and blocks); the bytes and YAML nodes: source.py.

The format: a mapping with ``name``, ``input`` (a shape such as ``3,224,224`` or ``3,H,W``) and
``layers``, a list whose items are a layer (``conv2d: {out_channels: 64, kernel_size: 7}``, a bare
name such as ``relu``, or one value such as ``dropout: 0.1``) or a block:

- ``residual: {body, shortcut}``: body(x) + shortcut(x);
- ``concat: {branches, dim}``: every branch takes the input, the outputs concatenated along dim
  (PyTorch's dim, the batch at 0: 1, the channels, by default);
- ``add: {branches}``, ``multiply: {branches}``: every branch takes the input, the outputs added
  or multiplied elementwise with PyTorch's broadcasting;
- ``scale: {body}``: x * body(x), body's output broadcast against x (squeeze-and-excitation);
- ``chunk: {chunks, dim, branches, join}``, ``split: {split_size_or_sections, dim, branches,
  join}``: the input cut as torch.chunk / torch.split along dim, branch i taking part i, the
  outputs joined by ``join``: concat (the default, along the same dim), add or multiply;
- ``sequential: {layers}``.

Beside the layer or block, an item may have ``name:`` (shown in the rows), ``repeat: N`` (N
copies, one after the other), ``save: NAME`` (remember the item's output under NAME) and
``frozen: true``: its parameters get no gradient (PyTorch's ``requires_grad_(False)``), so with
``--training`` the layer computes no dL/dW and needs no gradient or optimizer memory; on a block
it freezes every layer inside. A block takes ``repeat``, ``name``, ``save`` and ``frozen`` inside
its mapping too, and a layer ``frozen`` among its parameters. The item ``from: NAME`` continues
from a saved output (also as a branch's first item: the branch starts from it instead of the
block's input), so that skips spanning several blocks (U-Net, FPN) can be written.

A layer may say how the PyTorch model runs it: ``call: function`` (torchvision's DenseNet ends in
F.relu and F.adaptive_avg_pool2d) or ``call: method`` (ShuffleNetV2's x.mean([2, 3])); the default
is ``module``. Counts are the same; what other counters see is not (--convention: a module
hook sees only modules).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConvcalcError
from ..layers.registry import LAYERS
from .source import (MAX_FILE_BYTES, MAX_NESTING, MAX_NODES, NetworkError, _scalar_or_list, collector_paused, compose, decode, fail,  # noqa: F401
                     mapping, read_bytes, value, walk_and_flatten)

#: how a PyTorch model may run a layer (``call:``): what hook-based counters see depends on it
CALLS = ("module", "function", "method")
#: block kind -> the fields its mapping takes (besides repeat, name, save, frozen)
BLOCK_FIELDS = {
    "residual": ("body", "shortcut"),
    "concat": ("branches", "dim"),
    "sequential": ("layers",),
    "add": ("branches",),
    "multiply": ("branches",),
    "scale": ("body",),
    "chunk": ("chunks", "dim", "branches", "join"),
    "split": ("split_size_or_sections", "dim", "branches", "join"),
}
BLOCKS = tuple(BLOCK_FIELDS)
#: the fields a block must have
REQUIRED = {"residual": ("body",), "concat": ("branches",), "sequential": ("layers",), "add": ("branches",),
            "multiply": ("branches",), "scale": ("body",), "chunk": ("chunks", "branches"),
            "split": ("split_size_or_sections", "branches")}
#: how blocks combine their branches
JOINS = ("concat", "add", "multiply")


@dataclass
class Item:
    kind: str  # "layer" or a block kind
    type: str
    params: dict
    children: dict  # block kind -> lists of items ("body", "shortcut", "layers", "branches")
    repeat: Any
    name: str | None
    line: int
    path: str
    frozen: bool = False  # no gradient for its parameters (every layer inside, for a block)
    save: str | None = None  # the name its output is remembered under (``save:``)
    tie: str | None = None  # a layer's parameters are those of the earlier layer of this name (``tie:``)
    call: str = "module"  # how the PyTorch model runs it (``call:``): a module, a function (F.relu) or a method (x.mean)


@dataclass
class Parsed:
    """A network file read and checked: its name, its input (as written), its items."""

    name: str
    input: Any
    items: list
    label: str

# -- items -----------------------------------------------------------------------------------------


_names: list = []  # [the registry's layer names], once asked


def _layer_names() -> frozenset:
    """The layer names (``kind in LAYERS`` would import the layer's module at every item)."""
    if not _names:
        _names.append(frozenset(LAYERS))
    return _names[0]


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


def items(node, label: str, path: str) -> list[Item]:
    import yaml

    if not isinstance(node, yaml.SequenceNode):
        raise fail(label, node.start_mark.line + 1, path, "expected a list of layers")
    return [item(child, label, f"{path}[{i}]") for i, child in enumerate(node.value)]


def item(node, label: str, path: str) -> Item:
    import yaml

    line = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        kind = value(node, label, path)
        if not isinstance(kind, str):
            raise fail(label, line, path, f"expected a layer name or a mapping such as {{conv2d: {{...}}}}, got {kind!r}")
        fields: dict = {kind: None}
    elif isinstance(node, yaml.MappingNode):
        fields = mapping(node, label, path)
    else:
        raise fail(label, line, path, "expected a layer name or a mapping such as {conv2d: {...}}")
    name_node = fields.pop("name", None)
    repeat_node = fields.pop("repeat", None)
    frozen_node = fields.pop("frozen", None)
    save_node = fields.pop("save", None)
    tie_node = fields.pop("tie", None)
    call_node = fields.pop("call", None)
    if len(fields) != 1:
        raise fail(label, line, path, f"expected one layer or block, found {', '.join(fields) or 'none'}")
    kind, body = next(iter(fields.items()))
    kind = kind.lower()
    name = None if name_node is None else value(name_node, label, path)
    repeat = 1 if repeat_node is None else value(repeat_node, label, path)
    frozen = False if frozen_node is None else _frozen(frozen_node, label, path)
    save = None if save_node is None else _name(save_node, label, path, "save")
    tie = None if tie_node is None else _name(tie_node, label, path, "tie")
    if kind == "from":
        if any(n is not None for n in (name_node, repeat_node, frozen_node, save_node, tie_node, call_node)):
            raise fail(label, line, path, "from takes the name of a saved output and nothing beside it")
        return Item("from", "from", {"from": _name(body, label, path, "from")}, {}, 1, None, line, path)
    if kind in BLOCKS and tie is not None:
        raise fail(label, line, path, f"tie: is for a layer (its parameters shared with an earlier named layer), not a {kind} block")
    call = "module"
    if call_node is not None:
        call = value(call_node, label, path)
        if kind in BLOCKS or call not in CALLS:
            what = f"not a {kind} block" if kind in BLOCKS else f"got {call!r}"
            raise fail(label, line, path, f"call: says how PyTorch runs a layer ({', '.join(CALLS)}), {what}")
    if kind in BLOCKS:
        block = _block(kind, body, name, repeat, label, line, path, frozen)
        block.save = block.save or save
        return block
    if kind not in _layer_names():
        hint = did_you_mean(kind, [*LAYERS, *BLOCKS])
        raise fail(label, line, path, f"unknown layer {kind!r}" + (f" ({hint})" if hint else ""))
    params: dict = {}
    if body is not None and not (isinstance(body, yaml.ScalarNode) and body.tag.endswith(":null")):
        if not isinstance(body, yaml.MappingNode):  # one bare value: dropout: 0.1, leakyrelu: 0.2, ...
            bare = value(body, label, path)
            if not _scalar_or_list(bare) or isinstance(bare, list):
                raise fail(label, line, path, f"{kind} takes a mapping of parameters, got {bare!r}")
            try:
                params = LAYERS[kind].params_from_body(bare)
            except ConvcalcError as e:
                raise fail(label, line, path, f"{kind}: {e.message}") from None
        for key, vnode in (mapping(body, label, path).items() if isinstance(body, yaml.MappingNode) else ()):
            v = value(vnode, label, f"{path}: {kind}: {key}")
            if not _scalar_or_list(v):
                raise fail(label, vnode.start_mark.line + 1, path, f"{kind}: {key}: expected a number, a name or a list of them, got {'a nested list' if isinstance(v, list) else 'a mapping' if isinstance(v, dict) else type(v).__name__}")
            if key == "frozen":
                frozen = frozen or _frozen(vnode, label, path)
                continue
            params[key] = v
    _check_name(name, label, line, path)
    return Item("layer", kind, params, {}, repeat, name, line, path, frozen, save, tie, call)


def _name(node, label: str, path: str, what: str) -> str:
    """The name of a saved output (``save: NAME``, ``from: NAME``)."""
    v = None if node is None else value(node, label, path)
    if isinstance(v, bool) or not isinstance(v, (str, int)) or not str(v).strip():
        line = (node.start_mark.line + 1) if node is not None else None
        raise fail(label, line, path, f"{what} takes the name of an output (text), got {v!r}")
    return str(v)


def _frozen(node, label: str, path: str) -> bool:
    v = value(node, label, path)
    if not isinstance(v, bool):
        raise fail(label, node.start_mark.line + 1, path, f"frozen must be true or false, got {v!r}")
    return v


def _check_name(name: Any, label: str, line: int, path: str) -> None:
    if name is not None and not isinstance(name, (str, int)) or isinstance(name, bool):
        raise fail(label, line, path, f"name must be text, got {name!r}")


def _block(kind: str, body, name: Any, repeat: Any, label: str, line: int, path: str, frozen: bool = False) -> Item:
    import yaml

    allowed = BLOCK_FIELDS[kind]
    takes = ", ".join(allowed)
    if body is None or not isinstance(body, yaml.MappingNode):
        raise fail(label, line, path, f"{kind} needs a mapping ({takes})")
    fields = mapping(body, label, path)
    if "repeat" in fields:
        repeat = value(fields.pop("repeat"), label, path)
    if "name" in fields:
        name = value(fields.pop("name"), label, path)
    if "frozen" in fields:
        frozen = _frozen(fields.pop("frozen"), label, path) or frozen
    save = _name(fields.pop("save"), label, path, "save") if "save" in fields else None
    _check_name(name, label, line, path)
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        hint = did_you_mean(unknown[0], allowed)
        raise fail(label, line, path, f"{kind} has no {unknown[0]!r} ({hint + ' ' if hint else ''}it takes {takes}, repeat, name, save)")
    for need in REQUIRED[kind]:
        if need not in fields:
            what = "a list of branches, each a list of layers" if need == "branches" else need
            raise fail(label, line, path, f"{kind} needs {what}")
    children: dict = {}
    sub = f"{path}.{kind}"
    if kind == "residual":
        children["body"] = items(fields["body"], label, f"{sub}.body")
        shortcut = fields.get("shortcut")
        empty = shortcut is None or (isinstance(shortcut, yaml.ScalarNode) and shortcut.tag.endswith(":null"))
        children["shortcut"] = [] if empty else items(shortcut, label, f"{sub}.shortcut")
    elif kind in ("scale", "sequential"):
        key = "body" if kind == "scale" else "layers"
        children[key] = items(fields[key], label, f"{sub}.{key}")
    else:
        branches = fields["branches"]
        if not isinstance(branches, yaml.SequenceNode) or not branches.value:
            raise fail(label, line, path, f"{kind} needs a list of branches, each a list of layers")
        children["branches"] = [items(b, label, f"{sub}.branches[{j}]") for j, b in enumerate(branches.value)]
    params = {}
    for key in ("dim", "chunks", "split_size_or_sections", "join"):
        if key in fields:
            params[key] = _block_param(kind, key, fields[key], label, path)
    return Item(kind, kind, params, children, repeat, None if name is None else str(name), line, path, frozen, save)


def _block_param(kind: str, key: str, node, label: str, path: str) -> Any:
    """dim (a whole number, negative from the end), chunks (a positive whole number),
    split_size_or_sections (one size or a list: whole numbers or expressions such as C/2,
    read when the network runs), join (concat, add or multiply)."""
    v = value(node, label, f"{path}: {kind}: {key}")
    line = node.start_mark.line + 1
    if key == "join":
        if v not in JOINS:
            raise fail(label, line, path, f"{kind}: join must be one of {', '.join(JOINS)}, got {v!r}")
        return v
    if key == "split_size_or_sections":
        parts = v if isinstance(v, list) else [v]
        if not parts or not all(isinstance(x, (int, str)) and not isinstance(x, bool) for x in parts):
            raise fail(label, line, path, f"{kind}: {key} must be a size or a list of sizes, got {v!r}")
        return tuple(parts) if isinstance(v, list) else v
    if isinstance(v, bool) or not isinstance(v, int) or (key == "chunks" and v < 1):
        want = "a positive whole number" if key == "chunks" else "a whole number (PyTorch's dim: the batch is 0)"
        raise fail(label, line, path, f"{kind}: {key} must be {want}, got {v!r}")
    return v


# -- the whole file --------------------------------------------------------------------------------


def parse_text(text: str, label: str, default_name: str) -> Parsed:
    """A network from YAML text (label names it in errors); the garbage collector paused."""
    with collector_paused():
        return _parse(text, label, default_name)


def _parse(text: str, label: str, default_name: str) -> Parsed:
    import yaml

    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        raise NetworkError(f"{label}: empty file; a network file is a mapping with 'layers' (and 'name', 'input')")
    if "\x00" in text:
        raise NetworkError(f"{label}: contains NUL bytes (a binary file?), not a network file")
    root = compose(text, label)
    if root is None or not isinstance(root, yaml.MappingNode):
        raise NetworkError(f"{label}: expected a mapping with 'layers' (and 'name', 'input')")
    try:
        walk_and_flatten(root, label)
        top = mapping(root, label, None)
        unknown = sorted(set(top) - {"name", "input", "layers"})
        if unknown:
            hint = did_you_mean(unknown[0], ("name", "input", "layers"))
            hint = hint[:-1] + ";" if hint else ""
            line = next(k.start_mark.line + 1 for k, _ in root.value if getattr(k, "value", None) == unknown[0])
            raise fail(label, line, None, f"unknown key {unknown[0]!r} ({hint + ' ' if hint else ''}known: name, input, layers)")
        if "layers" not in top:
            raise NetworkError(f"{label}: no 'layers' list")
        name = value(top["name"], label, "name") if "name" in top else default_name
        if isinstance(name, bool) or not isinstance(name, (str, int)):
            raise fail(label, top["name"].start_mark.line + 1, None, f"name must be text, got {name!r}")
        input_value = value(top["input"], label, "input") if "input" in top else None
        return Parsed(str(name), input_value, items(top["layers"], label, "layers"), label)
    except RecursionError:
        raise NetworkError(f"{label}: nested too deeply; refused") from None


def read_path(path: str | os.PathLike) -> Parsed:
    """A network file, or an ONNX file (``.onnx``: imported as a network file, importing/)."""
    label = os.fspath(path)
    if label.lower().endswith(".onnx"):
        from ..importing.onnx_graph import to_yaml

        return parse_text(to_yaml(path), label, Path(label).stem)
    return parse_text(decode(read_bytes(path, label), label), label, Path(label).stem)
