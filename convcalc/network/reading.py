"""Reading a network file: the bytes, the YAML nodes, and the items (layers and blocks).

Hostile files are refused before they can cost anything: only a regular file (checked on the
opened descriptor, so that a FIFO cannot block), at most MAX_FILE_BYTES, UTF-8 text without NUL
bytes; the YAML event stream is scanned for nesting deeper than MAX_NESTING before any node is
built (libyaml's composer recurses in C and would crash the interpreter); the composed node graph
is walked with a budget of MAX_NODES visits (aliases are shared nodes, so an alias bomb explodes
only when walked); merge keys (``<<: *anchor``) are flattened in every mapping. Every error names
the file, the line and the layer path.

The format: a mapping with ``name``, ``input`` (a shape such as ``3,224,224`` or ``3,H,W``) and
``layers``, a list whose items are a layer (``conv2d: {out_channels: 64, kernel_size: 7}``, a bare
name such as ``relu``, or one value such as ``dropout: 0.1``) or a block (``residual: {body,
shortcut}``, ``concat: {branches}``, ``sequential: {layers}``). Beside the layer or block, an
item may have ``name:`` (shown in the rows), ``repeat: N`` (N copies, one after the other) and
``frozen: true``: its parameters get no gradient (PyTorch's ``requires_grad_(False)``), so with
``--training`` the layer computes no dL/dW and needs no gradient or optimizer memory; on a block
it freezes every layer inside. A block takes ``repeat``, ``name`` and ``frozen`` inside its
mapping too, and a layer ``frozen`` among its parameters.
"""

from __future__ import annotations

import difflib
import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConvcalcError
from ..layers.registry import LAYERS

#: a file larger than this is refused
MAX_FILE_BYTES = 4_000_000
#: YAML collections nested deeper than this are refused (about 30 levels of blocks)
MAX_NESTING = 100
#: the composed node graph may be walked through at most this many nodes (aliases counted each time)
MAX_NODES = 200_000

BLOCKS = ("residual", "concat", "sequential")
BLOCK_FIELDS = {"residual": ("body", "shortcut"), "concat": ("branches",), "sequential": ("layers",)}


class NetworkError(ConvcalcError):
    """An error in a network file, with the file, line and layer path in its message."""


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


@dataclass
class Parsed:
    """A network file read and checked: its name, its input (as written), its items."""

    name: str
    input: Any
    items: list
    label: str


def fail(label: str, line: int | None, path: str | None, message: str) -> NetworkError:
    where = f"{label}:{line}" if line else label
    return NetworkError(f"{where}: {path + ': ' if path else ''}{message}")


# -- bytes -----------------------------------------------------------------------------------------


def read_bytes(path: str | os.PathLike, label: str) -> bytes:
    """The file's bytes; anything but a readable regular file of bounded size is refused."""
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as e:
        if e.errno == errno.EISDIR:
            raise NetworkError(f"{label}: is a directory, not a network file") from None
        raise NetworkError(f"{label}: cannot read: {e.strerror or e}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise NetworkError(f"{label}: is a directory, not a network file")
        if not stat.S_ISREG(info.st_mode):
            raise NetworkError(f"{label}: not a regular file (a FIFO, device or socket is not read)")
        if info.st_size > MAX_FILE_BYTES:
            raise NetworkError(f"{label}: {info.st_size} bytes is more than the {MAX_FILE_BYTES} a network file may have")
        chunks, total = [], 0
        while True:
            try:
                chunk = os.read(fd, 1 << 20)
            except BlockingIOError:
                break  # not a regular file after all: nothing more to read without waiting
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > MAX_FILE_BYTES:
                raise NetworkError(f"{label}: more than the {MAX_FILE_BYTES} bytes a network file may have")
        return b"".join(chunks)
    except OSError as e:
        raise NetworkError(f"{label}: cannot read: {e.strerror or e}") from None
    finally:
        os.close(fd)


def decode(data: bytes, label: str) -> str:
    if b"\x00" in data:
        raise NetworkError(f"{label}: contains NUL bytes (a binary file?), not a network file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NetworkError(f"{label}: not UTF-8 text (byte {e.start} is invalid)") from None


# -- YAML nodes ------------------------------------------------------------------------------------


def _yaml_reason(e: BaseException) -> str:
    return getattr(e, "problem", None) or (str(e).splitlines() or [type(e).__name__])[0]


def compose(text: str, label: str):
    """The root node of the text, after the nesting scan; None for an empty document."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if len(text) > MAX_FILE_BYTES:
        raise NetworkError(f"{label}: more than the {MAX_FILE_BYTES} characters a network file may have")
    try:
        depth = 0
        starts = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
        ends = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
        for event in yaml.parse(text, Loader=loader):  # an event stream: flat, whatever the nesting
            if isinstance(event, starts):
                depth += 1
                if depth > MAX_NESTING:
                    line = event.start_mark.line + 1
                    raise NetworkError(f"{label}:{line}: nested more than {MAX_NESTING} levels deep; refused")
            elif isinstance(event, ends):
                depth -= 1
        return yaml.compose(text, Loader=loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise NetworkError(f"{label}{line}: not valid YAML: {_yaml_reason(e)}") from None
    except RecursionError:
        raise NetworkError(f"{label}: nested more than {MAX_NESTING} levels deep; refused") from None


def walk_and_flatten(root, label: str) -> None:
    """Walk the node graph with a budget (an alias is walked each time it is used, which is
    what makes an alias bomb explode), then flatten the merge keys of every mapping."""
    import yaml

    visits, stack, mappings, seen = 0, [(root, 1)], [], set()
    while stack:
        node, depth = stack.pop()
        visits += 1
        if visits > MAX_NODES:
            line = node.start_mark.line + 1
            raise NetworkError(f"{label}:{line}: aliases expand to more than {MAX_NODES} YAML nodes; refused")
        if depth > MAX_NESTING:
            line = node.start_mark.line + 1
            raise NetworkError(f"{label}:{line}: nested more than {MAX_NESTING} levels deep (through aliases); refused")
        if isinstance(node, yaml.MappingNode):
            if id(node) not in seen:
                seen.add(id(node))
                mappings.append(node)
            for k, v in node.value:
                stack.append((k, depth + 1))
                stack.append((v, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
    constructor = yaml.SafeLoader("")
    for node in reversed(mappings):  # inner mappings first
        try:
            constructor.flatten_mapping(node)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None) or node.start_mark
            raise NetworkError(f"{label}:{mark.line + 1}: not valid YAML: {_yaml_reason(e)}") from None


def value(node, label: str, path: str | None = None) -> Any:
    """A node's Python value through the safe constructor; tags it refuses are an error."""
    import yaml

    try:
        return yaml.SafeLoader("").construct_object(node, deep=True)
    except yaml.YAMLError as e:
        raise fail(label, node.start_mark.line + 1, path, f"not valid YAML: {_yaml_reason(e)}") from None
    except (ValueError, OverflowError) as e:  # an integer of more than 4300 digits, ...
        reason = "a number with too many digits" if "digits" in str(e) else _yaml_reason(e)
        raise fail(label, node.start_mark.line + 1, path, f"not a usable value: {reason}") from None


def mapping(node, label: str, path: str | None) -> dict:
    """The (flattened) mapping node as {text key: value node}; keys that are not text are refused."""
    import yaml

    out = {}
    for k, v in node.value:
        key = value(k, label, path) if isinstance(k, yaml.ScalarNode) else None
        if not isinstance(key, str):
            shown = repr(key) if isinstance(k, yaml.ScalarNode) else "a " + ("list" if isinstance(k, yaml.SequenceNode) else "mapping")
            raise fail(label, k.start_mark.line + 1, path, f"keys must be text, got {shown}")
        out[key] = v
    return out


def _scalar_or_list(v: Any) -> bool:
    scalar = (int, float, str, bool, type(None))
    return isinstance(v, scalar) or (isinstance(v, list) and all(isinstance(x, scalar) and x is not None for x in v))


# -- items -----------------------------------------------------------------------------------------


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
    if len(fields) != 1:
        raise fail(label, line, path, f"expected one layer or block, found {', '.join(fields) or 'none'}")
    kind, body = next(iter(fields.items()))
    kind = kind.lower()
    name = None if name_node is None else value(name_node, label, path)
    repeat = 1 if repeat_node is None else value(repeat_node, label, path)
    frozen = False if frozen_node is None else _frozen(frozen_node, label, path)
    if kind in BLOCKS:
        return _block(kind, body, name, repeat, label, line, path, frozen)
    if kind not in LAYERS:
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
    return Item("layer", kind, params, {}, repeat, name, line, path, frozen)


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

    takes = {"residual": "body, shortcut", "concat": "branches", "sequential": "layers"}[kind]
    if body is None or not isinstance(body, yaml.MappingNode):
        raise fail(label, line, path, f"{kind} needs a mapping ({takes})")
    fields = mapping(body, label, path)
    if "repeat" in fields:
        repeat = value(fields.pop("repeat"), label, path)
    if "name" in fields:
        name = value(fields.pop("name"), label, path)
    if "frozen" in fields:
        frozen = _frozen(fields.pop("frozen"), label, path) or frozen
    _check_name(name, label, line, path)
    allowed = BLOCK_FIELDS[kind]
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        hint = did_you_mean(unknown[0], allowed)
        raise fail(label, line, path, f"{kind} has no {unknown[0]!r} ({hint + ' ' if hint else ''}it takes {takes}, repeat, name)")
    children: dict = {}
    sub = f"{path}.{kind}"
    if kind == "residual":
        if "body" not in fields:
            raise fail(label, line, path, "residual needs a body")
        children["body"] = items(fields["body"], label, f"{sub}.body")
        shortcut = fields.get("shortcut")
        empty = shortcut is None or (isinstance(shortcut, yaml.ScalarNode) and shortcut.tag.endswith(":null"))
        children["shortcut"] = [] if empty else items(shortcut, label, f"{sub}.shortcut")
    elif kind == "concat":
        branches = fields.get("branches")
        if branches is None or not isinstance(branches, yaml.SequenceNode) or not branches.value:
            raise fail(label, line, path, "concat needs a list of branches, each a list of layers")
        children["branches"] = [items(b, label, f"{sub}.branches[{j}]") for j, b in enumerate(branches.value)]
    else:
        if "layers" not in fields:
            raise fail(label, line, path, "sequential needs layers")
        children["layers"] = items(fields["layers"], label, f"{sub}.layers")
    return Item(kind, kind, {}, children, repeat, None if name is None else str(name), line, path, frozen)


# -- the whole file --------------------------------------------------------------------------------


def parse_text(text: str, label: str, default_name: str) -> Parsed:
    """A network from YAML text (label names it in errors)."""
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
    label = os.fspath(path)
    return parse_text(decode(read_bytes(path, label), label), label, Path(label).stem)
