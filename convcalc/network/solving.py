"""Solving backwards through a network: the input sizes its spatial part maps to a target, and
the largest batch whose training step fits in a memory."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .. import sizes
from ..errors import ConfigError, ConvcalcError, ShapeError
from ..report import Printable
from . import receptive
from .reading import NetworkError, Parsed, read_path
from .running import _Ctx, _State, _count_layers, _run, _input_shape

#: the spatial size used to build a network's layers when only their size maps are wanted
_PROBE = 2**20


def _spatial_maps(layer: Any) -> tuple | str | None:
    """The layer's per-dimension size maps, "keep" for shape-keeping layers, None otherwise."""
    from ..layers.window import ConstantMap

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
        elif node[0] == "from":
            raise ConvcalcError(f"a branch reads a saved output ({node[2]}); solving does not go through named outputs")
        else:
            if node[0] != "residual" and len(node) > 4 and node[4] != 0:
                raise ConvcalcError(f"{node[2]}: {node[0]} along dim {node[4] + 1} changes a spatial size; cannot solve through it")
            branches = [node[1], node[2]] if node[0] == "residual" else node[1]
            if node[0] in ("add", "multiply"):
                # a branch pooled to a size 1 that broadcasts (squeeze-and-excitation) bounds nothing
                pulled = []
                for b in branches:
                    try:
                        pulled.append(_pull(b, ranges))
                    except ConvcalcError:
                        continue
                if not pulled:
                    pulled = [_pull(branches[0], ranges)]
                ranges = [_intersect([p[d] for p in pulled]) for d in range(len(ranges))]
                continue
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


def solve_network(path: str | os.PathLike | Parsed, target: tuple, *, input_channels: Any = None):
    """The input sizes that the network's spatial part (every layer up to the first flatten,
    linear or adaptive pooling) maps to the target."""
    from ..solve import SolveReport

    parsed = path if isinstance(path, Parsed) else read_path(path)
    name, file_input, label = parsed.name, parsed.input, parsed.label
    if input_channels is None:
        if file_input is None:
            raise NetworkError(f"{label}: no input: give 'input:' in the file or --in-channels")
        first = _input_shape(file_input, label)
        input_channels, spatial = first[0], len(first) - 1
    else:
        spatial = len(target) - 1
    probe = (input_channels,) + (_PROBE,) * spatial
    ctx_report_trace = _trace(parsed, probe)
    prefix = []
    for node in ctx_report_trace:
        if node[0] == "layer" and _spatial_maps(node[1]) is None:
            break
        prefix.append(node)
    if not prefix:
        raise NetworkError(f"{label}: the first layer does not keep spatial sizes; nothing to solve")
    last = prefix[-1]
    # trace nodes: ("layer", layer, path, shape), ("residual", body, shortcut, path, shape),
    # (a join, branches, path, shape[, dim]), ("from", [], name, shape)
    out_shape = last[4] if last[0] == "residual" else last[3]
    where = last[3] if last[0] == "residual" else last[2]
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


def _trace(parsed: Parsed, shape: tuple) -> list:
    ctx = _Ctx(parsed.label, 1, "float32")
    _count_layers(parsed.items, ctx)
    spatial = len(shape) - 1
    try:
        _run(parsed.items, _State(tuple(shape), receptive.start(spatial) if spatial else None), ctx, 0)
    except RecursionError:
        raise NetworkError(f"{parsed.label}: nested too deeply to evaluate; refused") from None
    return ctx.trace


# -- the largest batch whose training step fits --------------------------------------------------

#: memory units: name -> bytes (decimal kB, MB, ...; binary KiB, MiB, ...; case ignored)
MEMORY_UNITS = {"": 1, "b": 1, "byte": 1, "bytes": 1,
                **{p + "b": 1000 ** (i + 1) for i, p in enumerate("kmgtpe")},
                **{p + "ib": 1024 ** (i + 1) for i, p in enumerate("kmgtpe")}}
_MEMORY = re.compile(r"\s*(\d{1,30}(?:\.\d{0,30})?|\.\d{1,30})(?:[eE]([+-]?\d{1,3}))?\s*([A-Za-z]{0,5})\s*")


def parse_memory(text: Any) -> int:
    """A memory size in bytes from text such as 16GiB, 16GB, 1.5e9, 512 MiB, 4096 (no unit:
    bytes); a fraction of a byte is dropped (what fits in 1.5 bytes fits in 1). An int is taken
    as bytes. ConfigError for anything else."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = Fraction(text)
    elif isinstance(text, str):
        m = _MEMORY.fullmatch(text)
        if m is None:
            raise ConfigError(f"{text[:40]!r} is not a memory size (e.g. 16GiB, 16GB, 1.5e9)", option="memory")
        unit = m.group(3).lower()
        if unit not in MEMORY_UNITS:
            raise ConfigError(f"unknown unit {m.group(3)!r} (B, kB, MB, GB, TB or KiB, MiB, GiB, TiB)", option="memory")
        value = Fraction(m.group(1)) * Fraction(10) ** int(m.group(2) or 0) * MEMORY_UNITS[unit]
    else:
        raise ConfigError(f"expected a memory size such as 16GiB, got {type(text).__name__}", option="memory")
    if value > sizes.MAX_SIZE:
        raise ConfigError(f"more than 10**{sizes.MAX_SIZE_DIGITS} bytes", option="memory")
    if value < 1:
        raise ConfigError(f"must be at least 1 byte, got {text!r}", option="memory")
    return math.floor(value)


@dataclass(frozen=True)
class BatchReport(Printable):
    """The largest batch whose training step fits in memory.

    The step's peak is affine in the batch, fixed + per_sample * batch (parameters, gradients
    and optimizer state do not grow with it; saved tensors and the working set grow in
    proportion); batch = floor((memory - fixed) / per_sample). With numbers: peak_bytes is the
    peak at that batch and next_peak_bytes at one more (both evaluated, not extrapolated); with a
    symbolic input the batch is an expression in its sizes.
    """

    network: str
    memory: int
    input_shape: tuple
    batch: Any
    fixed_bytes: Any
    per_sample_bytes: Any
    dtype: str
    training: dict
    peak_bytes: Any = None
    next_peak_bytes: Any = None
    notes: tuple = ()
    unknown: tuple = ("batch",)


def _peak(parsed: Parsed, shape: tuple, batch: Any, dtype: str, training: Any) -> Any:
    from .running import run

    return run(parsed, input_shape=shape, batch=batch, dtype=dtype, training=training).total["training_peak_bytes"]


def _batch_symbol(shape: tuple) -> Any:
    from ..expr import symbol

    names = {s.name for v in shape if not sizes.is_int(v) for s in v.free_symbols}
    name = next(n for n in ("B", "batch", "B_", "batch_") if n not in names)
    return symbol(name)


def solve_batch(path: str | os.PathLike | Parsed, memory: Any, training: Any, *, input_shape: Any = None,
                dtype: str = "float32") -> BatchReport:
    """The largest batch whose training step (counted with ``training``, a Training) peaks
    within ``memory`` bytes (an int, or text such as 16GiB)."""
    from ..layers.training import Training

    parsed = path if isinstance(path, Parsed) else read_path(path)
    if not isinstance(training, Training):
        raise NetworkError(f"{parsed.label}: training: expected a Training, got {type(training).__name__}")
    limit = parse_memory(memory)
    shape = _input_shape(input_shape if input_shape is not None else parsed.input, parsed.label)
    options = training.describe()
    note = ("peak of the training step = fixed + per_sample * batch (parameters, gradients and optimizer state are "
            "fixed; saved tensors and the backward's working set grow with the batch)")
    if all(sizes.is_int(v) for v in shape):
        one, two = _peak(parsed, shape, 1, dtype, training), _peak(parsed, shape, 2, dtype, training)
        per, fixed = two - one, 2 * one - two
        if per <= 0:
            raise NetworkError(f"{parsed.label}: the training step's peak does not grow with the batch; no largest batch")
        batch = max(0, (limit - fixed) // per)
        peak = _peak(parsed, shape, batch, dtype, training) if batch >= 1 else None
        after = _peak(parsed, shape, batch + 1, dtype, training)
        if (peak is not None and peak > limit) or after <= limit:  # the peak is not affine in the batch: a bug
            raise NetworkError(f"{parsed.label}: the training step's peak is not affine in the batch; cannot solve")
        notes = (note,)
        if batch == 0:
            notes += (f"not even batch 1 fits: it needs {after} bytes, more than {limit}",)
        return BatchReport(parsed.name, limit, shape, batch, fixed, per, dtype, options, peak, after, notes)
    import sympy as sp

    b = _batch_symbol(shape)
    total = sizes.as_expr(_peak(parsed, shape, b, dtype, training))
    fixed = sizes.normalize(total.subs(b, 0))
    per = sizes.normalize(sp.diff(total, b))
    if b in sizes.as_expr(per).free_symbols or sp.expand(total - fixed - per * b) != 0:
        raise NetworkError(f"{parsed.label}: the training step's peak is not affine in the batch; cannot solve")
    batch = sizes.normalize(sp.floor((limit - sizes.as_expr(fixed)) / sizes.as_expr(per)))
    notes = (note, f"the batch is at least 1 only where {limit} >= fixed + per_sample bytes; below that, not even batch 1 fits")
    return BatchReport(parsed.name, limit, shape, batch, fixed, per, dtype, options, notes=notes)
