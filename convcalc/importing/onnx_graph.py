"""An ONNX file as a convcalc network file (issue 16): the graph followed node by node.

The file is read with the ``onnx`` package (``pip install "convcalc[onnx]"``) without its external
weights (only the initializers' dims count), its shapes inferred by ONNX's own shape inference.
Every node is either
- a layer (onnx_ops.OPS: Conv -> conv2d, Gemm -> linear, ...), a row of the network, or part of
  one (onnx_modules: an attention or GELU module written out node by node, torch.chunk's slices);
- a join of two computed tensors (Add, Mul, Concat), a block whose branches start from them;
- the same tensor again (Dropout, Identity) or shape arithmetic (Shape, Gather on a shape,
  Constant, ...): no row;
- refused: every node no layer maps is named with its op type, all in one error, never counted
  as zero; control flow (If, Loop, Scan) is refused too.

A tensor read again later, or by a join, is remembered (``save:``) and read with ``from:``, so
any graph that is a DAG of computed tensors becomes a network file; residual and
squeeze-and-excitation skips are read back as blocks (onnx_blocks). An initializer used by two
layers is counted once (``tie:``). The first graph input is the network's input: its first
dimension the batch, its named dynamic axes (``dim_param``) symbols.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..errors import ConvcalcError
from ..network.source import NetworkError, read_bytes

#: an ONNX file larger than this is refused (protobuf's own limit is 2 GiB)
MAX_ONNX_BYTES = 2 * 1024**3
CONTROL_FLOW = ("If", "Loop", "Scan")
#: what a damaged file's attributes raise in a handler (a missing or mistyped value)
MALFORMED = (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError, OverflowError, RecursionError)
#: ops whose output is their (first) input: no row
PASS_THROUGH = ("Dropout", "Identity")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ConvcalcError('reading ONNX needs the onnx package: pip install "convcalc[onnx]"') from None
    return onnx


def load(path: str | os.PathLike) -> Any:
    """The ONNX model in a file (its external weights not read); NetworkError for anything else."""
    label = os.fspath(path)
    return parse(read_bytes(path, label, MAX_ONNX_BYTES, "an ONNX file"), label)


def parse(data: bytes, label: str) -> Any:
    """The ONNX model in these bytes; NetworkError naming label when they are not one."""
    onnx = _onnx()
    try:
        model = onnx.load_model_from_string(data)
    except Exception as e:  # noqa: BLE001 - protobuf raises its own DecodeError (and others) for a damaged file
        raise NetworkError(f"{label}: not an ONNX model ({type(e).__name__}: it does not parse as one)") from None
    if not model.ir_version or not model.graph.node:
        raise NetworkError(f"{label}: not an ONNX model (no graph, or an empty one)")
    return model


class _Graph:
    """What the walk needs of the graph: shapes, constants, consumers."""

    def __init__(self, model: Any, label: str):
        onnx = _onnx()
        try:
            model = onnx.shape_inference.infer_shapes(model, data_prop=True)
        except Exception as e:  # noqa: BLE001 - ONNX's checker errors for a malformed graph
            raise NetworkError(f"{label}: ONNX shape inference refused the graph ({type(e).__name__}: {str(e)[:200]})") from None
        g = model.graph
        self.label = label
        self.graph = g
        self.initializers = {t.name: t for t in g.initializer}
        self.shapes: dict = {}
        self.dtypes: dict = {}
        for v in list(g.input) + list(g.value_info) + list(g.output):
            tt = v.type.tensor_type
            self.dtypes[v.name] = tt.elem_type
            if tt.HasField("shape"):
                self.shapes[v.name] = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim)
        for t in g.initializer:
            self.shapes[t.name] = tuple(t.dims)
            self.dtypes[t.name] = t.data_type
        self.constants: dict = {}  # tensor -> its value (a list of numbers) where the file holds it
        for t in g.initializer:
            v = _value(t)
            if v is not None:
                self.constants[t.name] = v
        self.consumers: dict = {}
        self._values: dict = {}  # value() of tensors asked for
        self.made_by: dict = {}  # tensor -> the node that outputs it
        for i, node in enumerate(g.node):
            for name in node.output:
                self.made_by[name] = node
            for name in node.input:
                self.consumers.setdefault(name, []).append(i)
            if node.op_type == "Constant":
                for a in node.attribute:
                    if a.name == "value":
                        self.shapes[node.output[0]] = tuple(a.t.dims)
                        v = _value(a.t)
                        if v is not None:
                            self.constants[node.output[0]] = v
                    elif a.name in ("value_int", "value_float"):
                        self.constants[node.output[0]] = [a.i if a.name == "value_int" else a.f]
                    elif a.name in ("value_ints", "value_floats"):
                        self.constants[node.output[0]] = list(a.ints if a.name == "value_ints" else a.floats)

        # an initializer passed through Identity (torch's exporter so shares equal values) or Transpose (a
        # linear layer's weight, unfolded) is that initializer: a weight, counted where it is stored
        for node in g.node:
            if node.op_type in ("Identity", "Transpose") and node.input and node.input[0] in self.initializers:
                self.initializers[node.output[0]] = self.initializers[node.input[0]]
                if node.op_type == "Identity":
                    self.shapes[node.output[0]] = self.shapes[node.input[0]]
                    if node.input[0] in self.constants:
                        self.constants[node.output[0]] = self.constants[node.input[0]]
                elif self.shapes.get(node.output[0]) is None:
                    perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
                    dims = self.shapes[node.input[0]]
                    self.shapes[node.output[0]] = tuple(dims[k] for k in perm) if perm else tuple(reversed(dims))

    def shape(self, name: str) -> tuple | None:
        return self.shapes.get(name)

    def learn(self, name: str, shape: tuple) -> None:
        """A tensor's shape the walk knows better than ONNX's inference (which loses sizes through
        a reshape computed from shapes): numbers replace names, dimension by dimension."""
        old = self.shapes.get(name)
        if old is None or len(old) != len(shape):
            self.shapes[name] = tuple(shape)
        else:
            self.shapes[name] = tuple(o if isinstance(o, int) else n for o, n in zip(old, shape))

    def value(self, name: str, depth: int = 0) -> list | None:
        """The value of a small integer tensor the graph computes from shapes and constants
        (Shape, Gather, Unsqueeze, Concat, Cast, Add, Sub, Mul, Div): torch.chunk's split points,
        a reshape's target. None when it depends on anything else (or a size is symbolic)."""
        if name in self.constants:
            return self.constants[name]
        if name in self._values:  # a DAG of shape arithmetic shares its parts: each evaluated once
            return self._values[name]
        self._values[name] = got = self._value(name, depth)
        return got

    def _value(self, name: str, depth: int) -> list | None:
        node = self.made_by.get(name)
        if node is None or depth > 50:
            return None
        op = node.op_type
        if op == "Shape":
            dims = self.shape(node.input[0])
            return list(dims) if dims and all(isinstance(d, int) for d in dims) else None
        args = [self.value(t, depth + 1) for t in node.input if t]
        if any(a is None for a in args):
            if op == "Gather" and args and args[0] is None and node.input[0] in self.made_by and \
                    self.made_by[node.input[0]].op_type == "Shape" and args[1] is not None:
                dims = self.shape(self.made_by[node.input[0]].input[0]) or ()
                picked = [dims[int(i)] if -len(dims) <= int(i) < len(dims) else None for i in args[1]]
                return picked if all(isinstance(d, int) for d in picked) else None
            return None
        if op == "Gather":
            return [args[0][int(i)] for i in args[1]]
        if op in ("Unsqueeze", "Squeeze", "Cast", "Identity"):
            return args[0]
        if op == "Concat":
            return [v for a in args for v in a]
        if op in ("Add", "Sub", "Mul", "Div") and len(args) == 2:
            a, b = args
            if len(a) != len(b):
                a, b = (a * len(b), b) if len(a) == 1 else (a, b * len(a))
            fn = {"Add": lambda x, y: x + y, "Sub": lambda x, y: x - y, "Mul": lambda x, y: x * y,
                  "Div": lambda x, y: x // y if isinstance(x, int) and isinstance(y, int) else x / y}[op]
            return [fn(x, y) for x, y in zip(a, b)]
        return None

    def is_weight(self, name: str) -> bool:
        return name in self.initializers


def _value(tensor: Any) -> list | None:
    """A tensor's values when the file holds them (not external), flattened; None otherwise."""
    if any(e.key == "location" for e in tensor.external_data) or tensor.data_location == 1:
        return None
    from onnx import numpy_helper

    try:
        return numpy_helper.to_array(tensor).reshape(-1).tolist()
    except Exception:  # noqa: BLE001 - a tensor onnx cannot read: its value is unknown
        return None


def _symbol(name: str, taken: dict) -> str:
    """A dynamic axis' name as a convcalc symbol (an identifier; others become d1, d2, ...)."""
    if name in taken:
        return taken[name]
    sym = name if _NAME.fullmatch(name) else f"d{len(taken) + 1}"
    taken[name] = sym
    return sym


def network(path: str | os.PathLike) -> dict:
    """The network mapping (a network file's content) of an ONNX file."""
    return network_of(load(path), os.fspath(path))


def network_of(model: Any, label: str) -> dict:
    """The network mapping of an ONNX model (label names it in errors and in the name)."""
    try:
        return _network_of(model, label)
    except ConvcalcError:
        raise
    except MALFORMED as e:  # a damaged graph the checks above did not foresee: still one error
        raise NetworkError(f"{label}: a malformed ONNX graph ({type(e).__name__}: {str(e)[:200]})") from None


def _network_of(model: Any, label: str) -> dict:
    from .onnx_blocks import blocks
    from .onnx_context import Context
    from .onnx_modules import region, regions
    from .onnx_ops import OPS

    g = _Graph(model, label)
    for node in g.graph.node:
        if node.op_type in CONTROL_FLOW:
            raise NetworkError(f"{label}: node {_text(node.name or node.output[0])!r} ({_text(node.op_type)}): control flow; convcalc follows "
                               "graphs without it")
    inputs = [v for v in g.graph.input if v.name not in g.initializers]
    if not inputs:
        raise NetworkError(f"{label}: the graph has no input")
    if len(inputs) > 1:  # nodes reading only the others would be skipped as constants: refused instead
        raise NetworkError(f"{label}: the graph has {len(inputs)} inputs ({', '.join(v.name for v in inputs[:4])}); "
                           "convcalc reads a network of one input")
    first = inputs[0]
    dims = g.shape(first.name)
    if not dims or len(dims) < 2:
        raise NetworkError(f"{label}: input {first.name!r} has no shape with a batch dimension")
    taken: dict = {}
    shape = [d if isinstance(d, int) and d > 0 else _symbol(str(d or "n"), taken) for d in dims[1:]]
    ctx = Context(g, first.name, label)
    ctx.regions = {m: found for found in regions(g).values() for m in found[1]}
    ctx.ops = OPS
    unmapped = []
    for i, node in enumerate(g.graph.node):
        if i in ctx.done or not ctx.computed(node):
            continue  # folded into an earlier layer, or shape arithmetic and constants
        if node.op_type in PASS_THROUGH:
            ctx.alias(node.output[0], node.input[0])
            continue
        found = ctx.regions.get(i)
        if found is not None:
            try:
                region(*found, ctx)
                continue
            except ConvcalcError as e:
                unmapped.append(f"{_text(node.name or node.output[0])} ({e.message})")
                ctx.done.update(found[1])
                ctx.stand_in(node)
                continue
        handler = OPS.get(node.op_type)
        if handler is None:
            unmapped.append(f"{_text(node.name or node.output[0])} ({_text(node.op_type)})")
            ctx.stand_in(node)
            continue
        try:
            handler(node, i, ctx)
        except ConvcalcError as e:
            unmapped.append(f"{_text(node.name or node.output[0])} ({_text(node.op_type)}: {e.message})")
            ctx.stand_in(node)
        except MALFORMED as e:  # attributes of the wrong kind or missing: a damaged file
            unmapped.append(f"{_text(node.name or node.output[0])} ({_text(node.op_type)}: malformed, {type(e).__name__})")
            ctx.stand_in(node)
    if unmapped:
        more = f" and {len(unmapped) - 5} more" if len(unmapped) > 5 else ""
        raise NetworkError(f"{label}: {len(unmapped)} node(s) convcalc cannot map: {', '.join(unmapped[:5])}{more}")
    outputs = [ctx.resolve(o.name) for o in g.graph.output]
    if outputs and outputs[0] != ctx.current:
        ctx.use(outputs[0])
    name = _text(model.graph.name) or Path(label).stem
    return _clean({"name": f"{name} (ONNX: {Path(label).name})", "input": ",".join(str(d) for d in shape), "layers": blocks(ctx.finish())})


def _text(v: Any) -> str:
    """A name from the file as text: protobuf hands back bytes for a string that is not UTF-8."""
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _clean(v: Any) -> Any:
    """The mapping with every name as text and nothing but YAML's plain values."""
    if isinstance(v, dict):
        return {_text(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_clean(x) for x in v]
    if isinstance(v, bytes):
        return _text(v)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise NetworkError(f"a value of type {type(v).__name__} in the graph's attributes")


def to_yaml(path: str | os.PathLike, mapping: dict | None = None) -> str:
    """The network file (YAML) of an ONNX file (or of its mapping, already made), with a header
    saying where it comes from."""
    from ..network.writing import to_yaml as dump

    mapping = network(path) if mapping is None else mapping
    head = (f"# Imported from {Path(os.fspath(path)).name} by convcalc: one row per ONNX node that computes; save:/from:\n"
            "# follow the graph; tie: marks an initializer two layers share (counted once).\n")
    return head + dump(mapping)
