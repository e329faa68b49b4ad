"""Inverse solving: which input sizes, or which values of a layer parameter, give a target output.

Input sizes: every solvable layer gives, per spatial dimension, a monotone size map with its
inverse in closed form (layers/window.py), so the sizes that reach an output o are the interval
[least(o), greatest(o)] (clipped to sizes >= 1), for numbers of any size and for symbols alike.

Parameters (padding, kernel_size, stride, dilation, output_padding): each output size is monotone
in each of them and the values PyTorch accepts form an interval, so the solutions are an
interval too; it is found exactly by bisection over the layer's own formula (numbers only).
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

from . import sizes
from .errors import ConfigError, ConvcalcError, ShapeError
from .layers.base import Layer
from .report import Printable
from .layers.window import IDENTITY, ConstantMap

SOLVABLE_PARAMS = ("padding", "kernel_size", "stride", "dilation", "output_padding")
#: beyond this a parameter's range counts as unbounded
SEARCH_LIMIT = 2**128
#: the most parameter pairs listed for two unknowns
MAX_PAIRS = 20


@dataclass(frozen=True)
class SolveReport(Printable):
    """What a solve found: the quantities, nothing about how to show them."""

    layer: str
    unknown: tuple[str, ...]
    target: tuple
    input_shape: tuple | None = None
    input_ranges: tuple | None = None  # per spatial dimension (lo, hi) with hi None = unbounded; None = no size
    sizes_per_dim: tuple | None = None  # how many sizes each input range holds (None = unbounded)
    values: dict | None = None  # parameter -> per dimension: {"min", "max"} / list / None; pairs: list of dicts
    domain: tuple = ()
    nearest: tuple = ()  # per dimension, the reachable outputs next to the target when there is no solution
    notes: tuple = ()
    config: dict = field(default_factory=dict)
    network: str | None = None  # set when a whole network was solved
    steps: tuple = ()  # with --explain: per dimension, the inequalities step by step


def _require_solvable(layer: Layer) -> None:
    if not hasattr(layer, "size_maps"):
        raise ConvcalcError(f"{layer.NAME} has no inverse here: its output size is not a size map of its input")


def _check_target(layer: Layer, target: tuple, channels_in: Any) -> tuple:
    """The input's channel entry for this target (and a check of the target's rank and channels)."""
    maps = layer.size_maps()
    if len(target) != len(maps) + 1:
        raise ShapeError(f"has {len(target)} entries; {layer.NAME} outputs {len(maps) + 1} (channels, then the sizes)", option="target")
    out_channels = layer.output_shape((channels_in,) + (1,) * len(maps))[0] if channels_in is not None else None
    if out_channels is not None and sizes.compare(out_channels, target[0]) not in (0, None):
        raise ShapeError(
            f"has {sizes.to_text(target[0])} channels but the layer gives {sizes.to_text(out_channels)}", option="target"
        )
    return maps


def solve_input(layer: Layer, target: tuple, channels_in: Any, *, explain: bool = False) -> SolveReport:
    """The exact sizes of each spatial input dimension that give the target."""
    _require_solvable(layer)
    maps = _check_target(layer, target, channels_in)
    steps = ()
    if explain:
        from .explain import solve_steps

        names = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}.get(len(maps), tuple(f"S{i + 1}" for i in range(len(maps))))
        steps = tuple((names[i], tuple(solve_steps(m, names[i], o))) for i, (m, o) in enumerate(zip(maps, target[1:])))
    ranges, domain, nearest, notes = [], [], [], []
    for i, (m, o) in enumerate(zip(maps, target[1:])):
        if isinstance(m, ConstantMap):
            if sizes.compare(m.n, o) == 0:
                ranges.append((1, None))
            else:
                ranges.append(None)
                nearest.append((i + 1, m.n, m.n))
            continue
        lo = sizes.normalize(sizes.smax(1, m.least(o)))
        hi = sizes.normalize(m.greatest(o))
        order = sizes.compare(lo, hi)
        if order == 1:
            ranges.append(None)
            below, above = m.forward(hi) if sizes.compare(hi, 1) != -1 else None, m.forward(lo)
            nearest.append((i + 1, sizes.normalize(below) if below is not None else None, sizes.normalize(above)))
        else:
            ranges.append((lo, hi))
            if order is None:
                domain.append(f"{sizes.to_text(lo)} <= {sizes.to_text(hi)}")
    domain += [f"{sizes.to_text(o)} >= 1" for o in dict.fromkeys(target) if not sizes.is_int(o)]
    domain += getattr(layer, "domain", lambda: [])()
    domain = list(dict.fromkeys(domain))
    if any(r is not None and r[1] is None for r in ranges):
        notes.append("adaptive pooling gives its output size for every input size")
    counts = tuple(
        None if r is None else (0 if r is None else (None if r[1] is None else sizes.normalize(r[1] - r[0] + 1)))
        for r in ranges
    )
    return SolveReport(
        layer=layer.NAME,
        unknown=("input",),
        sizes_per_dim=counts,
        target=tuple(target),
        input_ranges=tuple(ranges),
        domain=tuple(domain),
        nearest=tuple(nearest),
        notes=tuple(notes),
        config=layer.config(),
        steps=steps,
    )


# -- parameters ------------------------------------------------------------------------------------


def solvable(cls: type[Layer]) -> tuple[str, ...]:
    """The parameters of a layer class that can be solved for (the ones its options set)."""
    options = {o.name for o in cls.OPTIONS}
    return tuple(n for n in SOLVABLE_PARAMS if n in options)


def tied_to(cls: type[Layer], options: dict, unknown: tuple[str, ...]) -> dict[str, str]:
    """Parameters that follow an unknown: a pool's stride left out is its kernel size."""
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    if ("kernel_size" in unknown and "stride" not in unknown and "stride" in defaults and defaults["stride"] is None
            and options.get("stride") is None):
        return {"stride": "kernel_size"}
    return {}


def probe_layer(cls: type[Layer], shape: tuple, options: dict, unknown: tuple[str, ...]) -> Layer:
    """The layer to solve with: every unknown takes a stand-in value PyTorch accepts with the
    given options (the search replaces it dimension by dimension), so an option being solved
    for is never required."""
    _check_names(cls, unknown)
    for name in unknown:
        if options.get(name) is not None:
            raise ConfigError("is what --for solves for; leave it out", option=name)
    candidates = range(0, 65)
    for values in itertools.product(candidates, repeat=len(unknown)):
        trial = dict(options, **{n: v for n, v in zip(unknown, values)})
        try:
            return cls.build(shape, trial)
        except ConvcalcError:
            continue
    raise ConfigError(f"no value of {' and '.join(unknown)} below 65 gives a layer PyTorch accepts with these options", option="for")


def _check_names(cls: type[Layer], names: tuple[str, ...]) -> None:
    known = solvable(cls)
    for name in names:
        if name not in known:
            raise ConfigError(f"{name!r} is not a parameter of {cls.NAME} that can be solved for (one of {', '.join(known)})", option="for")
    if len(names) > 2 or len(set(names)) != len(names):
        raise ConfigError("give one parameter or two different ones", option="for")


def _with(layer: Layer, name: str, dim: int, value: int, tied: dict[str, str] | None = None) -> Layer | None:
    """The layer with one dimension of one parameter changed (and of the parameters tied to it);
    None where PyTorch refuses it."""
    changes = {}
    for field_name in [name] + [dep for dep, src in (tied or {}).items() if src == name]:
        current = getattr(layer, field_name)
        if not isinstance(current, tuple):
            raise ConfigError(f"{current!r} cannot be solved for; give numbers", option=field_name)
        changes[field_name] = tuple(value if j == dim else v for j, v in enumerate(current))
    try:
        return dataclasses.replace(layer, **changes)
    except ConvcalcError:
        return None


def _output(layer: Layer | None, shape: tuple, dim: int) -> int | None:
    if layer is None:
        return None
    try:
        layer.check_input(shape)
        value = layer.output_shape(shape)[dim + 1]
    except ConvcalcError:
        return None
    value = sizes.known_int(sizes.normalize(value))
    return value if value is not None and value >= 1 else None


def _first(pred: Callable[[int], bool], lo: int, hi: int) -> int | None:
    """Smallest v in [lo, hi] with pred(v), pred monotone (False ... True); None if none."""
    if lo > hi or not pred(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _feasible_range(f: Callable[[int], int | None], start: int) -> tuple[int, int] | None:
    """[first, last] values where f is defined (an interval: PyTorch's limits are bounds)."""
    first = None
    for v in range(start, start + 64):  # the lower limits are small (0 or 1, or 2p for a kernel)
        if f(v) is not None:
            first = v
            break
    if first is None:
        return None
    step = 1
    while f(first + step) is not None:
        if first + step > SEARCH_LIMIT:
            return first, SEARCH_LIMIT
        step *= 2
    last = _first(lambda v: f(v) is None, first + step // 2, first + step) - 1
    return first, last


def solve_dim(f: Callable[[int], int | None], target: int, start: int) -> tuple[Any, tuple | None]:
    """All v >= start with f(v) == target, f monotone where defined: ((lo, hi) with hi None for
    unbounded, or None) and, when there is none, the outputs reachable just below and above."""
    span = _feasible_range(f, start)
    if span is None:
        return None, (None, None)
    a, b = span
    increasing = f(b) >= f(a)
    # first value at or past the target, and first value beyond it, in the map's direction
    reach = _first((lambda v: f(v) >= target) if increasing else (lambda v: f(v) <= target), a, b)
    past = _first((lambda v: f(v) > target) if increasing else (lambda v: f(v) < target), a, b)
    if reach is not None and f(reach) == target:
        hi = (past - 1) if past is not None else b
        return (reach, None if hi >= SEARCH_LIMIT else hi), None
    before = f(reach - 1) if reach is not None and reach > a else (f(b) if reach is None else None)
    after = f(reach) if reach is not None else None
    below, above = (before, after) if increasing else (after, before)
    return None, (below, above)


def _start(name: str) -> int:
    return 0 if name in ("padding", "output_padding") else 1


def solve_params(
    layer: Layer, input_shape: tuple, target: tuple, names: tuple[str, ...], *, tied: dict[str, str] | None = None
) -> SolveReport:
    """The values of one or two parameters (per spatial dimension) that give the target. The
    layer's values of those parameters are stand-ins (see probe_layer); ``tied`` names parameters
    that move with an unknown (a pool's stride left out follows its kernel size)."""
    _require_solvable(layer)
    _check_names(type(layer), names)
    if all(m is IDENTITY for m in layer.size_maps()):
        raise ConfigError(f"{layer.NAME} keeps the input's size whatever its {' and '.join(names)}: nothing to solve for", option="for")
    _check_target(layer, target, input_shape[0])
    if len(input_shape) != len(target):
        raise ShapeError(f"has {len(input_shape)} entries but the target has {len(target)}", option="input")
    dims = len(target) - 1
    if not all(sizes.is_int(v) for v in tuple(input_shape) + tuple(target)):
        raise ConfigError("parameters are solved for numeric shapes; give numbers for --input and --target", option="for")
    values: dict = {}
    nearest = []
    if len(names) == 1:
        name = names[0]
        per_dim = []
        for i in range(dims):
            f = lambda v, i=i: _output(_with(layer, name, i, v, tied), input_shape, i)  # noqa: E731
            found, near = solve_dim(f, target[i + 1], _start(name))
            per_dim.append(None if found is None else {"min": found[0], "max": found[1]})
            if found is None:
                nearest.append((i + 1,) + near)
        values[name] = per_dim
    else:
        outer, inner = names
        per_dim = []
        for i in range(dims):
            pairs, more = [], False
            limit = 4 * max(input_shape[i + 1], target[i + 1]) + 16
            for v in range(_start(outer), limit):
                base = _with(layer, outer, i, v, tied)
                if base is None:
                    continue
                f = lambda w, base=base, i=i: _output(_with(base, inner, i, w, tied), input_shape, i)  # noqa: E731
                found, _ = solve_dim(f, target[i + 1], _start(inner))
                if found is not None:
                    if len(pairs) == MAX_PAIRS:
                        more = True
                        break
                    pairs.append({outer: v, inner: {"min": found[0], "max": found[1]}})
            per_dim.append({"pairs": pairs, "more": more})
            if not pairs:
                nearest.append((i + 1, None, None))
        values[f"{outer},{inner}"] = per_dim
    return SolveReport(
        layer=layer.NAME,
        unknown=tuple(names),
        target=tuple(target),
        input_shape=tuple(input_shape),
        values=values,
        nearest=tuple(nearest),
        notes=(("pairs listed up to the first " + str(MAX_PAIRS) + " per dimension",) if len(names) == 2 else ()),
        config=layer.config(),  # the unknowns hold their stand-in values (see `unknown`)
    )
