"""Evaluating a network: the items run on a shape, a row per layer and block, the totals.

Each layer is built from its command name and PyTorch's parameter names, its
in_channels/in_features/num_features taken from the incoming shape, and reported with the same
code as a single-layer command (flow.py); blocks combine their rows (blocks.py). Where
a block joins symbolic sizes that are equal only for some inputs, the condition goes into the
report's ``domain``; where they are never equal, the network is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from .. import sizes
from ..errors import ConvcalcError
from ..expr import parse_expr, parse_shape
from ..report import DTYPE_BYTES, Printable
from . import receptive
from .flow import MAX_LAYERS, _count_layers, _run  # noqa: F401 (MAX_LAYERS re-exported)
from .reading import NetworkError, Parsed
from .source import collector_paused
from .state import ROW_COUNTS, _Ctx, _State, _sum  # noqa: F401 (_Ctx re-exported)

#: a symbolic network of more layers than this is refused: a layer costs about 0.1 ms in
#: convcalc's algebra, but one whose sizes fall back to SymPy (a symbolic stride) about 10 ms
MAX_SYMBOLIC_LAYERS = 2_000

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
        summary: a stack command's figures beside the totals (per token, prefill and decode, the
            KV cache, the 6N rule): (key, title, value, unit); JSON key "transformer".
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
    #: a stack command's own figures (``convcalc transformer``): (key, title, value, unit) with unit
    #: "count", "bytes" or "text"; empty for a network file
    summary: tuple = ()
    #: the roofline on a device (a roofline.Roofline of Totals) when one was given, else None
    roofline: Any = None
    #: another counter's count of the network (a conventions.Counted) when --convention was given, else None
    convention: Any = None


def _input_shape(source: Any, label: str) -> tuple:
    """The input shape from the file's value or the caller's (text such as "3,H,W", or a sequence)."""
    if source is None:
        raise NetworkError(f"{label}: no input shape: give 'input:' in the file or --input")
    if isinstance(source, (list, tuple)):
        parts = []
        for v in source:
            if isinstance(v, bool) or not (isinstance(v, (int, str)) or sizes.is_symbolic(v)):
                raise NetworkError(f"{label}: input: {v!r} is not a size (whole numbers and names such as H)")
            if isinstance(v, int) and v > 10**100:
                raise NetworkError(f"{label}: input: a size exceeds 10**100")
            parts.append(v if isinstance(v, str) else sizes.to_text(v))
        text = ",".join(parts)
    elif isinstance(source, str):
        text = source
    elif sizes.is_int(source) or sizes.is_symbolic(source):
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
        training: Any = None, device: Any = None, weight_dtype: str | None = None, convention: str | None = None) -> NetworkReport:
    """The report of a parsed network (``input_shape`` overrides the file's input); with a
    ``Training``, the training step too (network/step.py). The garbage collector is paused
    meanwhile (source.collector_paused)."""
    with collector_paused():
        report = _report(parsed, input_shape, batch, dtype, depth, by_op, training, device, weight_dtype, convention)
    return report


def _report(parsed: Parsed, input_shape: Any, batch: Any, dtype: str, depth: int | None, by_op: bool, training: Any,
            device: Any = None, weight_dtype: str | None = None, convention: str | None = None) -> NetworkReport:
    label, items = parsed.label, parsed.items
    if isinstance(batch, str):
        try:
            batch = parse_expr(batch)
        except ConvcalcError as e:
            raise NetworkError(f"{label}: batch: {e.message}") from None
    if isinstance(batch, bool) or not (sizes.is_int(batch) or sizes.is_symbolic(batch)) or (sizes.is_int(batch) and batch < 1):
        raise NetworkError(f"{label}: batch: expected a positive whole number or an expression, got {batch!r}")
    if dtype not in DTYPE_BYTES:
        raise NetworkError(f"{label}: dtype: {dtype!r} is not one of {', '.join(DTYPE_BYTES)}")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise NetworkError(f"{label}: depth: must be a whole number, 0 or more, got {depth!r}")
    ctx = _Ctx(label, batch, dtype)
    if device is not None:
        from ..roofline import dtype_bytes

        dtype_bytes(weight_dtype or dtype, "weight-dtype")
        device.peak(dtype)  # refused before the evaluation when the device has no peak for it
        ctx.cost = (device, weight_dtype)
    if convention is not None:
        from ..conventions import Tally, convention as named

        ctx.tally = Tally(named(convention))  # an unknown name is refused before the evaluation
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
    columns = zip(*map(itemgetter(*ROW_COUNTS), leaves)) if leaves else ([] for _ in ROW_COUNTS)
    total = {k: _sum(list(column)) for k, column in zip(ROW_COUNTS, columns)}  # one pass over the rows
    total["activation_bytes_peak"] = sizes.normalize(ctx.peak)
    last = final.rf if final.rf is not None else (None if ctx.rf_cut else ctx.last_rf)
    total["receptive_field"], total["jump"] = receptive.sizes_and_jumps(last)
    total["sequential_depth"] = sizes.normalize(final.depth_seq)
    total["layers"] = len(leaves)
    if ctx.step is not None:
        total.update(ctx.step.network_total(leaves, total["buffer_bytes"]))
    macs = total["macs"]
    rows = []
    for r in ctx.rows:  # the rows are this report's own: completed in place
        if depth is not None and r["depth"] > depth:
            continue
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
    if ctx.wanted:
        notes += ("outputs saved (save:) and read again (from:) stay alive for the activation peak from where they are saved to the end",)
    tied = sorted({(r["path"], r["tied_to"]) for r in ctx.rows if r.get("tied_to") is not None})
    if tied:
        notes += ("tied parameters (tie:) counted once, on the first layer's row: " + ", ".join(f"{p} uses {n}'s" for p, n in tied)
                  + "; with a training step the two gradients are summed into one (an add per element) and stepped once",)
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
    roof = None
    if ctx.cost is not None:
        from ..roofline import network as network_roofline

        roof = network_roofline(ctx.roofs, ctx.cost[0], dtype, weight_dtype)
        notes += ("roofline: each layer's and join's least traffic and time bound on the device, the bounds summed (layers run "
                  "one after another); a concat's copy and the optimizer step are not in it; a lower bound, not a measurement",)
    counted = None if ctx.tally is None else ctx.tally.result(total["params"], by_op=by_op)
    return NetworkReport(name, tuple(shape), final.shape, tuple(rows), total, groups, batch, dtype, notes, depth, domain, options,
                         roofline=roof, convention=counted)


