"""Network files: whole architectures in YAML -> layers -> a NetworkReport.

The file is read with PyYAML's safe loader (anchors, aliases and merge keys work; no Python
objects are built) and walked node by node so that every error names the file, the line, the
layer path (layers[4].residual.body[3]) and the reason. Each layer is built from its command name
and PyTorch's parameter names, its in_channels/in_features/num_features taken from the incoming
shape, and reported with the same code as a single-layer command; blocks (residual, concat,
sequential) combine their rows. Sizes and parameters may be expressions in symbols.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import sizes
from .errors import ConvcalcError, ShapeError
from .expr import parse_shape
from .layers.registry import LAYERS
from .report import DTYPE_BYTES

#: a file larger than this is refused
MAX_FILE_BYTES = 4_000_000
#: a network that expands (repeats included) to more layers than this is refused: about 0.3 ms a
#: layer numerically (15 s here), about 10 ms a layer with a symbolic input
MAX_LAYERS = 50_000
MAX_SYMBOLIC_LAYERS = 2_000

BLOCKS = ("residual", "concat", "sequential")
ROW_COUNTS = ("params", "buffers", "mults", "adds", "comparisons", "macs", "flops", "transcendentals", "activation_bytes", "param_bytes", "buffer_bytes")


@dataclass(frozen=True)
class NetworkReport:
    """Per-layer rows (leaves and blocks, in order, with their depth) and the totals."""

    network: str
    input_shape: tuple
    output_shape: tuple
    rows: tuple
    total: dict
    by_op: dict | None = None
    batch: Any = 1
    dtype: str = "float32"
    notes: tuple = ()
    depth_limit: int | None = None


class NetworkError(ConvcalcError):
    """An error in a network file, with the file, line and layer path in its message."""


@dataclass
class _Item:
    kind: str  # "layer" or a block kind
    type: str
    params: dict
    children: dict  # block kind -> lists of items ("body", "shortcut", "layers", "branches")
    repeat: Any
    name: str | None
    line: int
    path: str


@dataclass
class _State:
    """What flows through the network while it is evaluated."""

    shape: tuple
    rf: tuple | None  # per spatial dimension (size, jump); None once the spatial chain ends
    held: Any = 0  # activation bytes kept alive by enclosing blocks
    depth_seq: Any = 0  # sequential depth so far


@dataclass
class _Ctx:
    file: str
    batch: Any
    dtype: str
    rows: list = field(default_factory=list)
    peak: Any = 0
    last_rf: tuple | None = None  # the receptive field before the spatial chain ended
    cache: dict = field(default_factory=dict)  # (layer, input shape) -> LayerReport
    trace: list = field(default_factory=list)  # the layers as run: ("layer", layer, path, output shape) and blocks


# -- reading ---------------------------------------------------------------------------------------


def _fail(ctx_file: str, line: int | None, path: str | None, message: str) -> NetworkError:
    where = f"{ctx_file}:{line}" if line else ctx_file
    return NetworkError(f"{where}: {path + ': ' if path else ''}{message}")


def read(path: str | Path) -> tuple[str, Any, list, str]:
    """(name, input text or None, the composed YAML items node, file label) of a network file."""
    import yaml

    p = Path(path)
    label = str(path)
    try:
        size = p.stat().st_size
    except OSError as e:
        raise NetworkError(f"{label}: cannot read: {e.strerror}") from None
    if size > MAX_FILE_BYTES:
        raise NetworkError(f"{label}: {size} bytes is more than the {MAX_FILE_BYTES} a network file may have")
    try:
        text = p.read_text(encoding="utf-8")
        # the C loader (libyaml) where PyYAML has it: the same safe tags, several times faster
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except OSError as e:
        raise NetworkError(f"{label}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise NetworkError(f"{label}: not UTF-8 text") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        reason = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise NetworkError(f"{label}{line}: not valid YAML: {reason}") from None
    if root is None or not isinstance(root, yaml.MappingNode):
        raise NetworkError(f"{label}: expected a mapping with 'layers' (and 'name', 'input')")
    loader = yaml.SafeLoader("")
    top = {}
    for k, v in root.value:
        top[_value(loader, k, label)] = v
    unknown = set(top) - {"name", "input", "layers"}
    if unknown:
        key = sorted(map(str, unknown))[0]
        raise NetworkError(f"{label}: unknown key {key!r} (known: name, input, layers)")
    if "layers" not in top:
        raise NetworkError(f"{label}: no 'layers' list")
    name = _value(loader, top["name"], label) if "name" in top else p.stem
    input_value = _value(loader, top["input"], label) if "input" in top else None
    return str(name), input_value, top["layers"], label


def _value(loader, node, label: str, path: str | None = None) -> Any:
    """A YAML node's Python value through the safe constructor; tags it refuses are an error."""
    import yaml

    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as e:
        reason = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise _fail(label, node.start_mark.line + 1, path, f"not valid YAML: {reason}") from None


def _items(node, label: str, path: str, loader, budget: list) -> list[_Item]:
    import yaml

    if not isinstance(node, yaml.SequenceNode):
        raise _fail(label, node.start_mark.line + 1, path, "expected a list of layers")
    out = []
    for i, child in enumerate(node.value):
        out.append(_item(child, label, f"{path}[{i}]", loader, budget))
    return out


def _item(node, label: str, path: str, loader, budget: list) -> _Item:
    import yaml

    line = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        kind = str(_value(loader, node, label, path))
        mapping: dict = {kind: None}
        values = {kind: None}
    elif isinstance(node, yaml.MappingNode):
        values = {}
        for k, v in node.value:
            values[str(_value(loader, k, label, path))] = v
        mapping = values
    else:
        raise _fail(label, line, path, "expected a layer name or a mapping such as {conv2d: {...}}")
    name = mapping.pop("name", None)
    repeat_node = mapping.pop("repeat", None)
    if name is not None and not isinstance(name, str):
        name = str(_value(loader, name, label, path))
    if len(mapping) != 1:
        raise _fail(label, line, path, f"expected one layer or block, found {', '.join(mapping) or 'none'}")
    kind, body = next(iter(mapping.items()))
    kind = kind.lower()
    repeat = 1
    if repeat_node is not None:
        repeat = _value(loader, repeat_node, label, path)
    if kind in BLOCKS:
        if body is None or not isinstance(body, yaml.MappingNode):
            raise _fail(label, line, path, f"{kind} needs a mapping ({'body, shortcut' if kind == 'residual' else 'branches' if kind == 'concat' else 'layers'})")
        fields = {}
        for k, v in body.value:
            fields[str(_value(loader, k, label, path))] = v
        if "repeat" in fields:
            repeat = _value(loader, fields.pop("repeat"), label, path)
        if "name" in fields:
            name = str(_value(loader, fields.pop("name"), label, path))
        allowed = {"residual": {"body", "shortcut"}, "concat": {"branches"}, "sequential": {"layers"}}[kind]
        unknown = set(fields) - allowed
        if unknown:
            raise _fail(label, line, path, f"{kind} has no {sorted(unknown)[0]!r} (it takes {', '.join(sorted(allowed))}, repeat, name)")
        children: dict = {}
        sub = f"{path}.{kind}"
        if kind == "residual":
            if "body" not in fields:
                raise _fail(label, line, path, "residual needs a body")
            children["body"] = _items(fields["body"], label, f"{sub}.body", loader, budget)
            shortcut = fields.get("shortcut")
            children["shortcut"] = [] if shortcut is None else _items(shortcut, label, f"{sub}.shortcut", loader, budget)
        elif kind == "concat":
            branches = fields.get("branches")
            if branches is None or not isinstance(branches, yaml.SequenceNode) or not branches.value:
                raise _fail(label, line, path, "concat needs a list of branches, each a list of layers")
            children["branches"] = [_items(b, label, f"{sub}.branches[{j}]", loader, budget) for j, b in enumerate(branches.value)]
        else:
            if "layers" not in fields:
                raise _fail(label, line, path, "sequential needs layers")
            children["layers"] = _items(fields["layers"], label, f"{sub}.layers", loader, budget)
        return _Item(kind, kind, {}, children, repeat, name, line, path)
    if kind not in LAYERS:
        raise _fail(label, line, path, f"unknown layer {kind!r}")
    params = {} if body is None else _value(loader, body, label, path)
    if not isinstance(params, dict):
        raise _fail(label, line, path, f"{kind} takes a mapping of parameters, got {params!r}")
    return _Item("layer", kind, params, {}, repeat, name, line, path)


# -- evaluating ------------------------------------------------------------------------------------


def _repeat_count(item: _Item, ctx: _Ctx) -> int:
    r = item.repeat
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise _fail(ctx.file, item.line, item.path, f"repeat must be a positive whole number, got {r!r}")
    return r


def _count_layers(items: list[_Item], ctx: _Ctx) -> int:
    """How many layers the items expand to, repeats included; refused beyond MAX_LAYERS before
    anything is computed."""
    total = 0
    for item in items:
        n = _repeat_count(item, ctx)
        if item.kind == "layer":
            inner = 1
        elif item.kind == "concat":
            inner = sum(_count_layers(branch, ctx) for branch in item.children["branches"])
        else:
            inner = sum(_count_layers(group, ctx) for group in item.children.values())
        total += n * inner
        if total > MAX_LAYERS:
            raise _fail(ctx.file, item.line, item.path, f"expands to more than {MAX_LAYERS} layers; refused (it could not be computed in seconds)")
    return total


def _rf_through(rf: tuple | None, layer: Any) -> tuple | None:
    """Receptive field (size, jump) per spatial dimension after a layer."""
    if rf is None:
        return None
    steps = layer.window_steps() if hasattr(layer, "window_steps") else None
    if steps == "keep":
        return rf
    if steps is None or len(steps) != len(rf):
        return None
    return tuple((sizes.normalize(r + (k - 1) * j), sizes.normalize(j * s)) for (r, j), (k, s) in zip(rf, steps))


def _row(ctx: _Ctx, item: _Item, path: str, depth: int, kind: str, shape: tuple, counts: dict, rf: tuple | None, block: bool) -> dict:
    row = {"path": path, "name": item.name, "type": kind, "depth": depth, "block": block, "output_shape": shape}
    row.update(counts)
    row["receptive_field"] = None if rf is None else [r for r, _ in rf]
    row["jump"] = None if rf is None else [j for _, j in rf]
    return row


def _leaf(item: _Item, state: _State, ctx: _Ctx, path: str, depth: int) -> _State:
    cls = LAYERS[item.type]
    known = {o.name for o in cls.OPTIONS} | set(cls.__dataclass_fields__)
    unknown = set(item.params) - known
    if unknown:
        raise _fail(ctx.file, item.line, path, f"{item.type} has no parameter {sorted(unknown)[0]!r} (it takes {', '.join(sorted(o.name for o in cls.OPTIONS))})")
    params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in item.params.items()}
    params = {k: (str(v) if isinstance(v, str) else v) for k, v in params.items()}
    try:
        layer = cls.build(state.shape, params)
        key = (layer, state.shape)
        report = ctx.cache.get(key)
        if report is None:  # repeated blocks meet the same layer on the same shape
            report = ctx.cache[key] = layer.report(state.shape, batch=ctx.batch, dtype=ctx.dtype)
    except ConvcalcError as e:
        msg = e.message if not e.option else f"{e.option}: {e.message}"
        raise _fail(ctx.file, item.line, path, f"{item.type}: {msg}") from None
    counts = {k: getattr(report, k) for k in ROW_COUNTS}
    rf = _rf_through(state.rf, layer)
    if rf is not None:
        ctx.last_rf = rf
    ctx.rows.append(_row(ctx, item, path, depth, item.type, report.output_shape, counts, rf, False))
    ctx.trace.append(("layer", layer, path, report.output_shape))
    width = DTYPE_BYTES[ctx.dtype]
    live = sizes.normalize(state.held + sizes.prod(state.shape) * ctx.batch * width + report.activation_bytes)
    if ctx.peak is not None:  # the peak is kept for numbers only: a Max over every layer helps nobody
        ctx.peak = max(ctx.peak, live) if sizes.is_int(live) else None
    return _State(report.output_shape, rf, state.held, state.depth_seq + 1)


def _same(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(sizes.compare(x, y) in (0, None) for x, y in zip(a, b))


def _show(shape: tuple) -> str:
    return "x".join(sizes.to_text(v) for v in shape)


def _run(items: list[_Item], state: _State, ctx: _Ctx, depth: int) -> _State:
    for item in items:
        for rep in range(_repeat_count(item, ctx)):
            path = item.path if item.repeat == 1 else f"{item.path}@{rep + 1}"
            state = _run_one(item, state, ctx, depth, path)
    return state


def _rebase(items: list[_Item], old: str, new: str) -> list[_Item]:
    if old == new:
        return items
    out = []
    for it in items:
        children = {k: ([_rebase(b, old, new) for b in v] if k == "branches" else _rebase(v, old, new)) for k, v in it.children.items()}
        out.append(_Item(it.kind, it.type, it.params, children, it.repeat, it.name, it.line, it.path.replace(old, new, 1)))
    return out


def _run_one(item: _Item, state: _State, ctx: _Ctx, depth: int, path: str) -> _State:
    if item.kind == "layer":
        return _leaf(item, state, ctx, path, depth)
    start = len(ctx.rows)
    ctx.rows.append(None)  # the block's own row, filled in below
    width = DTYPE_BYTES[ctx.dtype]
    input_bytes = sizes.prod(state.shape) * ctx.batch * width
    kids = {k: ([_rebase(b, item.path, path) for b in v] if k == "branches" else _rebase(v, item.path, path)) for k, v in item.children.items()}
    if item.kind == "sequential":
        out = _run(kids["layers"], state, ctx, depth + 1)
    elif item.kind == "residual":
        outer, ctx.trace = ctx.trace, []
        held = _State(state.shape, state.rf, state.held + input_bytes, state.depth_seq)
        body = _run(kids["body"], held, ctx, depth + 1)
        body_trace, ctx.trace = ctx.trace, []
        short = _run(kids["shortcut"], _State(state.shape, state.rf, state.held + sizes.prod(body.shape) * ctx.batch * width, state.depth_seq), ctx, depth + 1)
        outer.append(("residual", body_trace, ctx.trace, path, body.shape))
        ctx.trace = outer
        if not _same(body.shape, short.shape):
            raise _fail(ctx.file, item.line, path, f"the add joins shapes {_show(body.shape)} (body) and {_show(short.shape)} (shortcut)")
        elements = sizes.prod(body.shape) * ctx.batch
        adds = {k: 0 for k in ROW_COUNTS}
        adds.update(adds=sizes.normalize(elements), flops=sizes.normalize(elements), activation_bytes=sizes.normalize(elements * width))
        rf = body.rf if short.rf is None or body.rf is None else tuple(
            (sizes.normalize(sizes.smax(a, b)), ja) for (a, ja), (b, _jb) in zip(body.rf, short.rf)
        )
        ctx.rows.append(_row(ctx, item, f"{path}.add", depth + 1, "add", body.shape, adds, rf, False))
        out = _State(body.shape, rf, state.held, sizes.smax(body.depth_seq, short.depth_seq))
    else:  # concat
        outs, traces = [], []
        outer = ctx.trace
        held = state.held + input_bytes
        for branch in kids["branches"]:
            ctx.trace = []
            result = _run(branch, _State(state.shape, state.rf, held, state.depth_seq), ctx, depth + 1)
            traces.append(ctx.trace)
            held = held + sizes.prod(result.shape) * ctx.batch * width
            outs.append(result)
        ctx.trace = outer
        first = outs[0].shape
        for j, o in enumerate(outs[1:], start=1):
            if len(o.shape) != len(first) or not _same(o.shape[1:], first[1:]):
                raise _fail(ctx.file, item.line, path, f"concat joins branches of shapes {_show(first)} (branch 0) and {_show(o.shape)} (branch {j}): all but the channels must match")
        shape = (sizes.normalize(sum((o.shape[0] for o in outs), start=0)),) + tuple(first[1:])
        rfs = [o.rf for o in outs]
        rf = None if any(r is None for r in rfs) else tuple(
            (sizes.normalize(sizes.smax(*[r[d][0] for r in rfs])), rfs[0][d][1]) for d in range(len(rfs[0]))
        )
        out = _State(shape, rf, state.held, sizes.smax(*[o.depth_seq for o in outs]))
        outer.append(("concat", traces, path, shape))
    children = [r for r in ctx.rows[start + 1 :] if r is not None]
    totals = {k: sizes.normalize(sum((r[k] for r in children if not r["block"]), start=0)) for k in ROW_COUNTS}
    ctx.rows[start] = _row(ctx, item, path, depth, item.kind, out.shape, totals, out.rf, True)
    return out


def evaluate(path: str | Path, *, input_shape: Any = None, batch: Any = 1, dtype: str = "float32", depth: int | None = None, by_op: bool = False) -> NetworkReport:
    """The report of a network file (``input_shape`` overrides the file's input)."""
    name, file_input, layers_node, label = read(path)
    import yaml

    loader = yaml.SafeLoader("")
    items = _items(layers_node, label, "layers", loader, [0])
    ctx = _Ctx(label, batch, dtype)
    count = _count_layers(items, ctx)
    source = input_shape if input_shape is not None else file_input
    if source is None:
        raise NetworkError(f"{label}: no input shape: give 'input:' in the file or --input")
    if isinstance(source, str):
        try:
            shape = parse_shape(source)
        except ConvcalcError as e:
            raise NetworkError(f"{label}: input: {e.message}") from None
    elif isinstance(source, (list, tuple)):
        try:
            shape = parse_shape(",".join(str(v) for v in source))
        except ConvcalcError as e:
            raise NetworkError(f"{label}: input: {e.message}") from None
    else:
        shape = parse_shape(str(source))
    if count > MAX_SYMBOLIC_LAYERS and not all(sizes.is_int(v) for v in shape):
        raise NetworkError(f"{label}: {count} layers with a symbolic input is more than the {MAX_SYMBOLIC_LAYERS} that compute in seconds; refused")
    spatial = len(shape) - 1
    state = _State(tuple(shape), tuple((1, 1) for _ in range(spatial)) if spatial >= 1 else None)
    final = _run(items, state, ctx, 0)
    leaves = [r for r in ctx.rows if not r["block"]]
    total = {k: sizes.normalize(sum((r[k] for r in leaves), start=0)) for k in ROW_COUNTS}
    total["activation_bytes_peak"] = sizes.normalize(ctx.peak)
    last = final.rf if final.rf is not None else ctx.last_rf
    total["receptive_field"] = None if last is None else [r for r, _ in last]
    total["jump"] = None if last is None else [j for _, j in last]
    total["sequential_depth"] = sizes.normalize(final.depth_seq)
    total["layers"] = len(leaves)
    macs = total["macs"]
    rows = []
    for r in ctx.rows:
        if depth is not None and r["depth"] > depth:
            continue
        r = dict(r)
        r["macs_share"] = (r["macs"] / macs) if sizes.is_int(r["macs"]) and sizes.is_int(macs) and macs else None
        rows.append(r)
    groups = None
    if by_op:
        groups = {}
        for r in leaves:
            g = groups.setdefault(r["type"], {k: 0 for k in ("layers", "params", "macs", "flops", "mults", "adds", "comparisons", "transcendentals")})
            g["layers"] += 1
            for k in ("params", "macs", "flops", "mults", "adds", "comparisons", "transcendentals"):
                g[k] = sizes.normalize(g[k] + r[k])
    notes = (
        "activation memory: the sum of every layer's output, and the peak of what is alive at once "
        "(a layer's input and output, and the tensors residual and concat blocks keep; numeric shapes only)",
        "receptive field and jump per spatial dimension, through convolutions and pooling; the rows show none after a "
        "flatten, a linear or adaptive pooling, and the total gives the last one before",
        "sequential depth: the longest chain of layers (blocks' branches run side by side)",
    )
    return NetworkReport(name, tuple(shape), final.shape, tuple(rows), total, groups, batch, dtype, notes, depth)


# -- solving backwards through a network -----------------------------------------------------------

#: the spatial size used to build a network's layers when only their size maps are wanted
_PROBE = 2**20


def _spatial_maps(layer: Any) -> tuple | str | None:
    """The layer's per-dimension size maps, "keep" for shape-keeping layers, None otherwise."""
    from .layers.window import ConstantMap

    if getattr(layer, "window_steps", None) and layer.window_steps() == "keep":
        return "keep"
    maps = layer.size_maps() if hasattr(layer, "size_maps") else None
    if not maps or any(isinstance(m, ConstantMap) for m in maps):
        return None
    return maps


def _pull(trace: list, ranges: list) -> list:
    """Input intervals that a traced chain maps into the given output intervals (monotone maps:
    the preimage of [a, b] is [least(a), greatest(b)]); blocks intersect their branches."""
    for node in reversed(trace):
        if node[0] == "layer":
            maps = _spatial_maps(node[1])
            if maps is None:
                raise ConvcalcError(f"{node[2]}: {node[1].NAME} does not keep the spatial sizes; cannot solve through it")
            if maps == "keep":
                continue
            new = []
            for m, r in zip(maps, ranges):
                if r is None:
                    new.append(None)
                    continue
                lo = sizes.normalize(sizes.smax(1, m.least(r[0])))
                hi = None if r[1] is None else sizes.normalize(m.greatest(r[1]))
                new.append(None if hi is not None and sizes.compare(lo, hi) == 1 else (lo, hi))
            ranges = new
        else:
            branches = [node[1], node[2]] if node[0] == "residual" else node[1]
            pulled = [_pull(b, ranges) for b in branches]
            ranges = [_intersect([p[d] for p in pulled]) for d in range(len(ranges))]
    return ranges


def _intersect(ranges: list) -> tuple | None:
    if any(r is None for r in ranges):
        return None
    lo = sizes.normalize(sizes.smax(*[r[0] for r in ranges]))
    his = [r[1] for r in ranges if r[1] is not None]
    hi = sizes.normalize(sizes.smin(*his)) if his else None
    if hi is not None and sizes.compare(lo, hi) == 1:
        return None
    return (lo, hi)


def solve_network(path: str | Path, target: tuple, *, input_channels: Any = None):
    """The input sizes that the network's spatial part (every layer up to the first flatten,
    linear or adaptive pooling) maps to the target."""
    from .solve import SolveReport

    name, file_input, _layers, label = read(path)
    if input_channels is None:
        if file_input is None:
            raise NetworkError(f"{label}: no input: give 'input:' in the file or --in-channels")
        first = parse_shape(",".join(map(str, file_input)) if isinstance(file_input, (list, tuple)) else str(file_input))
        input_channels, spatial = first[0], len(first) - 1
    else:
        spatial = len(target) - 1
    probe = (input_channels,) + (_PROBE,) * spatial
    ctx_report_trace = _trace(path, probe)
    prefix = []
    for node in ctx_report_trace:
        if node[0] == "layer" and _spatial_maps(node[1]) is None:
            break
        prefix.append(node)
    if not prefix:
        raise NetworkError(f"{label}: the first layer does not keep spatial sizes; nothing to solve")
    last = prefix[-1]
    out_shape = last[3] if last[0] == "layer" else last[-1]
    where = last[2]
    if len(target) != len(out_shape):
        raise ShapeError(f"has {len(target)} entries; {where}, the last spatial layer, gives {len(out_shape)}", option="target")
    if sizes.compare(target[0], out_shape[0]) not in (0, None):
        raise ShapeError(f"has {sizes.to_text(target[0])} channels but {where} gives {sizes.to_text(out_shape[0])}", option="target")
    ranges = _pull(prefix, [(o, o) for o in target[1:]])
    counts = tuple(None if r is None else (None if r[1] is None else sizes.normalize(r[1] - r[0] + 1)) for r in ranges)
    return SolveReport(
        layer=name,
        unknown=("input",),
        target=tuple(target),
        input_ranges=tuple(ranges),
        sizes_per_dim=counts,
        notes=(f"the target is the output of {where}, the last layer before the spatial sizes end",),
        network=name,
    )


def _trace(path: str | Path, shape: tuple) -> list:
    name, _file_input, layers_node, label = read(path)
    import yaml

    items = _items(layers_node, label, "layers", yaml.SafeLoader(""), [0])
    ctx = _Ctx(label, 1, "float32")
    _count_layers(items, ctx)
    spatial = len(shape) - 1
    _run(items, _State(tuple(shape), tuple((1, 1) for _ in range(spatial)) if spatial else None), ctx, 0)
    return ctx.trace
