"""Evaluating a network: the items run on a shape, a row per layer and block, the totals.

Each layer is built from its command name and PyTorch's parameter names, its
in_channels/in_features/num_features taken from the incoming shape, and reported with the same
code as a single-layer command; blocks (residual, concat, sequential) combine their rows. Where
a block joins symbolic sizes that are equal only for some inputs, the condition goes into the
report's ``domain``; where they are never equal, the network is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import sizes
from ..errors import ConvcalcError
from ..expr import parse_expr, parse_shape
from ..layers.registry import LAYERS
from ..report import DTYPE_BYTES, Printable
from . import receptive
from .joins import same as _same
from .reading import Item, NetworkError, Parsed, did_you_mean, fail

#: a network that expands (repeats included) to more layers than this is refused: about 0.3 ms a
#: layer numerically (15 s here), about 10 ms a layer with a symbolic input
MAX_LAYERS = 50_000
MAX_SYMBOLIC_LAYERS = 2_000

ROW_COUNTS = ("params", "buffers", "mults", "adds", "comparisons", "macs", "flops", "transcendentals", "activation_bytes", "param_bytes", "buffer_bytes")

TRANSPOSED_RF_NOTE = (
    "receptive field not given after a transposed convolution ({path}): its window is symbolic, or some of its "
    "outputs receive no input (a stride longer than the kernel's reach)"
)
FRACTIONAL_JUMP_NOTE = (
    "receptive field after a transposed convolution: the largest over the output positions (an output sees "
    "ceil(k/s) or floor(k/s) of the layer's inputs, by its position); no jump where outputs are closer together "
    "than the input pixels"
)


@dataclass(frozen=True)
class NetworkReport(Printable):
    """Per-layer rows (leaves and blocks, in order, with their depth) and the totals.

    Attributes:
        network: the network's name.
        input_shape, output_shape: shapes without the batch dimension.
        rows: dicts with path, name, type, depth, block, output_shape, the counts, receptive_field, jump.
        total: the network's totals (counts, activation peak, receptive field, sequential depth, layers).
        by_op: totals per layer type, or None.
        batch, dtype: as asked.
        notes: what the numbers mean, and the domain conditions.
        depth_limit: the folding depth asked for, or None.
        domain: conditions on the symbols under which PyTorch accepts the network (empty when it
            accepts every value, and for numeric inputs).
        training: the training options the step was counted with (None: the forward only); the
            rows and totals then have the training step's keys (see network/step.py).
    """

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
    domain: tuple = ()
    training: dict | None = None


@dataclass
class _State:
    """What flows through the network while it is evaluated."""

    shape: tuple
    rf: tuple | None  # per spatial dimension (size, jump); None once the spatial chain ends
    held: Any = 0  # activation bytes kept alive by enclosing blocks
    depth_seq: Any = 0  # sequential depth so far
    tensor: int = 0  # the tensor's id in the training step (0: the network's input)


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
    domain: list = field(default_factory=list)  # conditions (equations) under which the joins' sizes agree
    residues: dict = field(default_factory=dict)  # symbol -> Residues: the conditions on one symbol, combined
    joins: list = field(default_factory=list)  # where the conditions come from
    rf_cut: str | None = None  # the first transposed convolution: no receptive field after it
    step: Any = None  # the training step (a step.Step), when one is counted


# -- evaluating ------------------------------------------------------------------------------------


def _repeat_count(item: Item, ctx: _Ctx) -> int:
    r = item.repeat
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise fail(ctx.file, item.line, item.path, f"repeat must be a positive whole number, got {r!r}")
    return r


def _count_layers(items: list[Item], ctx: _Ctx) -> int:
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
            raise fail(ctx.file, item.line, item.path, f"expands to more than {MAX_LAYERS} layers; refused (it could not be computed in seconds)")
    return total


def _row(ctx: _Ctx, item: Item, path: str, depth: int, kind: str, shape: tuple, counts: dict, rf: tuple | None, block: bool) -> dict:
    row = {"path": path, "name": item.name, "type": kind, "depth": depth, "block": block, "output_shape": shape}
    row.update(counts)
    row["receptive_field"], row["jump"] = receptive.sizes_and_jumps(rf)
    return row


def _leaf(item: Item, state: _State, ctx: _Ctx, path: str, depth: int) -> _State:
    cls = LAYERS[item.type]
    accepted = [o.name for o in cls.OPTIONS]
    known = set(accepted) | set(cls.__dataclass_fields__)
    unknown = sorted(set(item.params) - known)
    if unknown:
        hint = did_you_mean(unknown[0], accepted)
        raise fail(ctx.file, item.line, path, f"{item.type} has no parameter {unknown[0]!r} ({hint + ' ' if hint else ''}it takes {', '.join(accepted)})")
    params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in item.params.items()}
    try:
        layer = cls.build(state.shape, params)
        training = None if ctx.step is None else ctx.step.layer_training(state.tensor, item.frozen)
        key = (layer, state.shape, training)
        report = ctx.cache.get(key)
        if report is None:  # repeated blocks meet the same layer on the same shape
            report = ctx.cache[key] = layer.report(state.shape, batch=ctx.batch, dtype=ctx.dtype, training=training)
    except NotImplementedError:
        raise fail(ctx.file, item.line, path, f"{item.type}: its backward pass is not written yet; --training cannot count it") from None
    except ConvcalcError as e:
        msg = e.message if not e.option else f"{e.option}: {e.message}"
        raise fail(ctx.file, item.line, path, f"{item.type}: {msg}") from None
    except (TypeError, AttributeError, ArithmeticError, ValueError, RecursionError) as e:
        # a value no layer check foresaw: still one line, never a traceback
        raise fail(ctx.file, item.line, path, f"{item.type}: cannot use these parameters ({type(e).__name__}: {e})") from None
    counts = {k: getattr(report, k) for k in ROW_COUNTS}
    rf = receptive.through(state.rf, layer)
    if rf is not None:
        ctx.last_rf = rf
    elif state.rf is not None and item.type.startswith("convtranspose") and ctx.rf_cut is None:
        ctx.rf_cut = path
    row = _row(ctx, item, path, depth, item.type, report.output_shape, counts, rf, False)
    tensor = state.tensor
    if ctx.step is not None:
        extra, tensor = ctx.step.leaf(layer, report, state.tensor)
        row.update(extra)
    ctx.rows.append(row)
    ctx.trace.append(("layer", layer, path, report.output_shape))
    width = DTYPE_BYTES[ctx.dtype]
    live = sizes.normalize(state.held + sizes.prod(state.shape) * ctx.batch * width + report.activation_bytes)
    if ctx.peak is not None:  # the peak is kept for numbers only: a Max over every layer helps nobody
        ctx.peak = max(ctx.peak, live) if sizes.is_int(live) else None
    return _State(report.output_shape, rf, state.held, state.depth_seq + 1, tensor)


def _sum(values: list) -> Any:
    """The sum of counts; None when a layer could not give one (it is unknown, not zero)."""
    if any(v is None for v in values):
        return None
    return sizes.normalize(sum(values, start=0))


def _show(shape: tuple) -> str:
    return "x".join(sizes.to_text(v) for v in shape)


def _run(items: list[Item], state: _State, ctx: _Ctx, depth: int) -> _State:
    for item in items:
        for rep in range(_repeat_count(item, ctx)):
            path = item.path if item.repeat == 1 else f"{item.path}@{rep + 1}"
            state = _run_one(item, state, ctx, depth, path)
    return state


def _rebase(items: list[Item], old: str, new: str) -> list[Item]:
    if old == new:
        return items
    out = []
    for it in items:
        children = {k: ([_rebase(b, old, new) for b in v] if k == "branches" else _rebase(v, old, new)) for k, v in it.children.items()}
        out.append(Item(it.kind, it.type, it.params, children, it.repeat, it.name, it.line, it.path.replace(old, new, 1), it.frozen))
    return out


def _run_one(item: Item, state: _State, ctx: _Ctx, depth: int, path: str) -> _State:
    if item.kind == "layer":
        return _leaf(item, state, ctx, path, depth)
    if ctx.step is None or not item.frozen:
        return _block(item, state, ctx, depth, path)
    ctx.step.frozen += 1
    try:
        return _block(item, state, ctx, depth, path)
    finally:
        ctx.step.frozen -= 1


def _block(item: Item, state: _State, ctx: _Ctx, depth: int, path: str) -> _State:
    start = len(ctx.rows)
    ctx.rows.append(None)  # the block's own row, filled in below
    width = DTYPE_BYTES[ctx.dtype]
    input_bytes = sizes.prod(state.shape) * ctx.batch * width
    kids = {k: ([_rebase(b, item.path, path) for b in v] if k == "branches" else _rebase(v, item.path, path)) for k, v in item.children.items()}
    if item.kind == "sequential":
        out = _run(kids["layers"], state, ctx, depth + 1)
    elif item.kind == "residual":
        outer, ctx.trace = ctx.trace, []
        held = _State(state.shape, state.rf, state.held + input_bytes, state.depth_seq, state.tensor)
        body = _run(kids["body"], held, ctx, depth + 1)
        body_trace, ctx.trace = ctx.trace, []
        short = _run(kids["shortcut"], _State(state.shape, state.rf, state.held + sizes.prod(body.shape) * ctx.batch * width, state.depth_seq, state.tensor), ctx, depth + 1)
        outer.append(("residual", body_trace, ctx.trace, path, body.shape))
        ctx.trace = outer
        if not _same(body.shape, short.shape, ctx, f"{path}: the add joins {_show(body.shape)} and {_show(short.shape)}"):
            never = "" if all(sizes.all_int(*x) for x in zip(body.shape, short.shape)) else ", which are equal for no input"
            raise fail(ctx.file, item.line, path, f"the add joins shapes {_show(body.shape)} (body) and {_show(short.shape)} (shortcut){never}")
        elements = sizes.prod(body.shape) * ctx.batch
        adds = {k: 0 for k in ROW_COUNTS}
        adds.update(adds=sizes.normalize(elements), flops=sizes.normalize(elements), activation_bytes=sizes.normalize(elements * width))
        rf = receptive.merge([body.rf, short.rf])
        row = _row(ctx, item, f"{path}.add", depth + 1, "add", body.shape, adds, rf, False)
        tensor = 0
        if ctx.step is not None:
            extra, tensor = ctx.step.join(adds, [body.tensor, short.tensor])
            row.update(extra)
            ctx.step.fork(start, state.tensor, sizes.prod(state.shape) * ctx.batch, 2)
        ctx.rows.append(row)
        out = _State(body.shape, rf, state.held, sizes.smax(body.depth_seq, short.depth_seq), tensor)
    else:  # concat
        outs, traces = [], []
        outer = ctx.trace
        held = state.held + input_bytes
        for branch in kids["branches"]:
            ctx.trace = []
            result = _run(branch, _State(state.shape, state.rf, held, state.depth_seq, state.tensor), ctx, depth + 1)
            traces.append(ctx.trace)
            held = held + sizes.prod(result.shape) * ctx.batch * width
            outs.append(result)
        ctx.trace = outer
        first = outs[0].shape
        for j, o in enumerate(outs[1:], start=1):
            where = f"{path}: the concat joins {_show(first[1:])} and {_show(o.shape[1:])}"
            if len(o.shape) != len(first) or not _same(o.shape[1:], first[1:], ctx, where):
                never = "" if all(sizes.is_int(v) for v in first + o.shape) else " (equal for no input)"
                raise fail(ctx.file, item.line, path, f"concat joins branches of shapes {_show(first)} (branch 0) and {_show(o.shape)} (branch {j}): all but the channels must match{never}")
        shape = (sizes.normalize(sum((o.shape[0] for o in outs), start=0)),) + tuple(first[1:])
        rfs = [o.rf for o in outs]
        rf = receptive.merge(rfs)
        tensor = 0
        if ctx.step is not None:
            tensor = ctx.step.merge([o.tensor for o in outs])
            ctx.step.fork(start, state.tensor, sizes.prod(state.shape) * ctx.batch, len(outs))
        out = _State(shape, rf, state.held, sizes.smax(*[o.depth_seq for o in outs]), tensor)
        outer.append(("concat", traces, path, shape))
    children = [r for r in ctx.rows[start + 1 :] if r is not None and not r["block"]]
    totals = {k: _sum([r[k] for r in children]) for k in ROW_COUNTS}
    ctx.rows[start] = _row(ctx, item, path, depth, item.kind, out.shape, totals, out.rf, True)
    if ctx.step is not None:
        ctx.rows[start].update(ctx.step.block(children, start, len(ctx.rows)))
    return out

def _input_shape(source: Any, label: str) -> tuple:
    """The input shape from the file's value or the caller's (text such as "3,H,W", or a sequence)."""
    if source is None:
        raise NetworkError(f"{label}: no input shape: give 'input:' in the file or --input")
    if isinstance(source, (list, tuple)):
        parts = []
        for v in source:
            if isinstance(v, bool) or not (isinstance(v, (int, str)) or hasattr(v, "free_symbols")):
                raise NetworkError(f"{label}: input: {v!r} is not a size (whole numbers and names such as H)")
            if isinstance(v, int) and v > 10**100:
                raise NetworkError(f"{label}: input: a size exceeds 10**100")
            parts.append(v if isinstance(v, str) else sizes.to_text(v))
        text = ",".join(parts)
    elif isinstance(source, str):
        text = source
    elif sizes.is_int(source) or hasattr(source, "free_symbols"):
        text = sizes.to_text(source)
    else:
        raise NetworkError(f"{label}: input: expected a shape such as 3,224,224, got {source!r}")
    try:
        shape = parse_shape(text)
    except ConvcalcError as e:
        raise NetworkError(f"{label}: input: {e.message}") from None
    for v in shape:
        if isinstance(v, bool) or getattr(v, "is_Boolean", False) or getattr(v, "name", "").lower() in ("true", "false"):
            raise NetworkError(f"{label}: input: {text!r} is not a shape")
    return tuple(shape)


def run(parsed: Parsed, *, input_shape: Any = None, batch: Any = 1, dtype: str = "float32", depth: int | None = None, by_op: bool = False,
        training: Any = None) -> NetworkReport:
    """The report of a parsed network (``input_shape`` overrides the file's input); with a
    ``Training``, the training step too (network/step.py)."""
    label, items = parsed.label, parsed.items
    if isinstance(batch, str):
        try:
            batch = parse_expr(batch)
        except ConvcalcError as e:
            raise NetworkError(f"{label}: batch: {e.message}") from None
    if isinstance(batch, bool) or not (sizes.is_int(batch) or hasattr(batch, "free_symbols")) or (sizes.is_int(batch) and batch < 1):
        raise NetworkError(f"{label}: batch: expected a positive whole number or an expression, got {batch!r}")
    if dtype not in DTYPE_BYTES:
        raise NetworkError(f"{label}: dtype: {dtype!r} is not one of {', '.join(DTYPE_BYTES)}")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise NetworkError(f"{label}: depth: must be a whole number, 0 or more, got {depth!r}")
    ctx = _Ctx(label, batch, dtype)
    if training is not None:
        from .step import Step  # only a training query needs it

        ctx.step = Step(training, batch)
    count = _count_layers(items, ctx)
    shape = _input_shape(input_shape if input_shape is not None else parsed.input, label)
    name = parsed.name
    if count > MAX_SYMBOLIC_LAYERS and not all(sizes.is_int(v) for v in shape):
        raise NetworkError(f"{label}: {count} layers with a symbolic input is more than the {MAX_SYMBOLIC_LAYERS} that compute in seconds; refused")
    spatial = len(shape) - 1
    state = _State(tuple(shape), receptive.start(spatial) if spatial >= 1 else None)
    try:
        final = _run(items, state, ctx, 0)
    except RecursionError:
        raise NetworkError(f"{label}: nested too deeply to evaluate; refused") from None
    leaves = [r for r in ctx.rows if not r["block"]]
    total = {k: _sum([r[k] for r in leaves]) for k in ROW_COUNTS}
    total["activation_bytes_peak"] = sizes.normalize(ctx.peak)
    last = final.rf if final.rf is not None else (None if ctx.rf_cut else ctx.last_rf)
    total["receptive_field"], total["jump"] = receptive.sizes_and_jumps(last)
    total["sequential_depth"] = sizes.normalize(final.depth_seq)
    total["layers"] = len(leaves)
    if ctx.step is not None:
        total.update(ctx.step.network_total(leaves, total["buffer_bytes"]))
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
                g[k] = _sum([g[k], r[k]])
        if ctx.step is not None:
            ctx.step.by_op(groups, leaves)
    notes = (
        "activation memory: the sum of every layer's output, and the peak of what is alive at once "
        "(a layer's input and output, and the tensors residual and concat blocks keep; numeric shapes only)",
        "receptive field and jump per spatial dimension, through convolutions and pooling; the rows show none after a "
        "flatten, a linear or adaptive pooling, and the total gives the last one before",
        "sequential depth: the longest chain of layers (blocks' branches run side by side)",
    )
    if ctx.step is not None:
        from .step import NOTE

        notes += (NOTE,)
    if ctx.rf_cut:
        notes += (TRANSPOSED_RF_NOTE.format(path=ctx.rf_cut),)
    elif any(r["type"].startswith("convtranspose") and r["receptive_field"] is not None for r in ctx.rows if not r["block"]):
        notes += (FRACTIONAL_JUMP_NOTE,)
    domain = tuple(ctx.residues[k].text() for k in sorted(ctx.residues)) + tuple(ctx.domain)
    if domain:
        notes += (f"valid for {' and '.join(domain)}: only there do the sizes joined agree ({'; '.join(ctx.joins)}); PyTorch refuses other inputs",)
    options = None
    if training is not None:
        options = training.describe()
    return NetworkReport(name, tuple(shape), final.shape, tuple(rows), total, groups, batch, dtype, notes, depth, domain, options)


