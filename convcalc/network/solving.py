"""Solving backwards through a network: the input sizes its spatial part maps to a target."""

from __future__ import annotations

import os
from typing import Any

from .. import sizes
from ..errors import ConvcalcError, ShapeError
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


def _trace(parsed: Parsed, shape: tuple) -> list:
    ctx = _Ctx(parsed.label, 1, "float32")
    _count_layers(parsed.items, ctx)
    spatial = len(shape) - 1
    try:
        _run(parsed.items, _State(tuple(shape), receptive.start(spatial) if spatial else None), ctx, 0)
    except RecursionError:
        raise NetworkError(f"{parsed.label}: nested too deeply to evaluate; refused") from None
    return ctx.trace
