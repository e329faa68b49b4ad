"""Receptive fields through a network, exact where the layers' windows are numbers.

Per spatial dimension the inputs an output position o depends on span [lo(o), hi(o)] (away
from the borders). Every layer maps positions monotonically, and lo, hi are *periodic-affine*:
f(o + P) = f(o) + Q, stored as (P, Q, f(0..P-1)). A convolution or pooling window
(kernel k, stride s, left padding p, dilation d) gives lo'(o) = lo(s*o - p),
hi'(o) = hi(s*o - p + d*(k - 1)); a transposed convolution gives lo'(o) = lo(i_min(o)),
hi'(o) = hi(i_max(o)) with i_min/i_max the least and greatest input i with
s*i - p + d*t = o for a tap t (periodic in o with period s); a residual add or a concat takes
the pointwise min of the lo and max of the hi. The receptive field is the largest
hi(o) - lo(o) + 1 over one period, the jump Q/P (None when it is not a whole number in some
dimension: after a transposed convolution the outputs can be closer together than the input pixels).

Where a window size is symbolic the classic (size, jump) recursion is used instead (it needs no
offsets): size + (k - 1)*jump, jump*stride; a transposed convolution there ends it.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, NamedTuple

from .. import sizes

#: a period longer than this gives up the exact field (it would take too long to tabulate)
MAX_PERIOD = 4096


class PA(NamedTuple):
    """A periodic-affine map of integers: f(o) = table[o % P] + (o // P) * Q."""

    P: int
    Q: int
    table: tuple

    def __call__(self, o: int) -> int:
        q, r = divmod(o, self.P)
        return self.table[r] + q * self.Q

    def after(self, g: "PA") -> "PA | None":
        """f(g(o))."""
        if self.P == 1 and g.P == 1:  # both affine: the common case, kept cheap
            return PA(1, self.Q * g.Q, (self.table[0] + self.Q * g.table[0],))
        m = self.P // math.gcd(self.P, g.Q) if g.Q else 1
        period = g.P * m
        if period > MAX_PERIOD:
            return None
        return PA(period, self.Q * (g.Q * m) // self.P, tuple(self(g(o)) for o in range(period)))


def _combine(fs: list, pick) -> "PA | None":
    """The pointwise min or max of maps with the same slope Q/P (None for different slopes)."""
    if any(f.Q * fs[0].P != fs[0].Q * f.P for f in fs):
        return None
    period = math.lcm(*[f.P for f in fs])
    if period > MAX_PERIOD:
        return None
    q = fs[0].Q * period // fs[0].P
    return PA(period, q, tuple(pick(f(o) for f in fs) for o in range(period)))


class Span(NamedTuple):
    """The input positions [lo(o), hi(o)] one output position o depends on, and the largest
    number of them (the receptive field)."""

    lo: PA
    hi: PA
    size: int

    def jump(self) -> int | None:
        q, r = divmod(self.lo.Q, self.lo.P)
        return q if r == 0 else None


def span(lo: PA, hi: PA) -> Span:
    if lo.P == 1 and hi.P == 1:
        return Span(lo, hi, hi.table[0] - lo.table[0] + 1)
    period = math.lcm(lo.P, hi.P)
    return Span(lo, hi, max(hi(o) - lo(o) + 1 for o in range(period)))


def start(spatial: int) -> tuple:
    one = PA(1, 1, (0,))
    return tuple(span(one, one) for _ in range(spatial))


def _classic(dim: Any) -> tuple | None:
    """A dimension as (size, jump) for the symbolic recursion; None when that cannot describe it."""
    if isinstance(dim, Span):
        if dim.lo.P == 1 and dim.hi.P == 1:
            return (dim.size, dim.jump())
        return None
    return dim


@lru_cache(maxsize=1024)
def _windows(layer: Any) -> tuple | None:
    """Per dimension (k, s, left padding, dilation, transposed) when they are all numbers."""
    kinds = {c.__name__ for c in type(layer).__mro__}
    try:
        if "_ConvTransposeNd" in kinds:
            rows = [(k, s, p, d, True) for k, s, p, d in zip(layer.kernel_size, layer.stride, layer.padding, layer.dilation)]
        elif "_ConvNd" in kinds:
            rows = [(k, s, lo, d, False) for k, s, (lo, _hi), d in zip(layer.kernel_size, layer.stride, layer.pads(), layer.dilation)]
        elif "_PoolNd" in kinds:
            rows = [(k, s, p, d, False) for k, s, p, d in zip(layer.kernel_size, layer.stride, layer.padding, layer.dilation)]
        elif hasattr(layer, "half") and hasattr(layer, "mask"):  # a masked convolution keeps the size
            rows = [(k, 1, h, 1, False) for k, h in zip(layer.kernel_size, layer.half)]
        else:
            return None
    except (AttributeError, TypeError):
        return None
    if not all(sizes.is_int(v) for r in rows for v in r[:4]):
        return None
    return tuple(rows)


def _transposed(k: int, s: int, p: int, d: int) -> tuple | None:
    """(i_min, i_max) as periodic-affine maps of the output position; None when some outputs
    receive no input (a stride longer than the kernel's reach)."""
    lows, highs = [], []
    for o in range(s):
        inputs = [(o + p - t * d) // s for t in range(k) if (o + p - t * d) % s == 0]
        if not inputs:
            return None
        lows.append(min(inputs))
        highs.append(max(inputs))
    return PA(s, 1, tuple(lows)), PA(s, 1, tuple(highs))


def through(rf: tuple | None, layer: Any) -> tuple | None:
    """The field after a layer; None once the spatial chain ends (or cannot be described)."""
    if rf is None:
        return None
    windows = _windows(layer)
    if windows is not None and len(windows) == len(rf) and all(type(d) is Span for d in rf):
        out = []
        for dim, (k, s, p, d, transposed) in zip(rf, windows):
            lo, hi = dim.lo, dim.hi
            if not transposed and lo.P == 1 and hi.P == 1:  # affine stays affine: the common case
                a, b = lo.table[0] - p * lo.Q, hi.table[0] + (d * (k - 1) - p) * hi.Q
                out.append(Span(PA(1, lo.Q * s, (a,)), PA(1, hi.Q * s, (b,)), b - a + 1))
                continue
            if transposed:
                maps = _transposed(k, s, p, d)
                if maps is None:
                    return None
                lo, hi = dim.lo.after(maps[0]), dim.hi.after(maps[1])
            else:
                lo, hi = dim.lo.after(PA(1, s, (-p,))), dim.hi.after(PA(1, s, (-p + d * (k - 1),)))
            if lo is None or hi is None:
                return None
            out.append(span(lo, hi))
        return tuple(out)
    steps = layer.window_steps() if hasattr(layer, "window_steps") else None
    if steps == "keep":
        return rf
    if steps is None or len(steps) != len(rf):
        return None
    classic = [_classic(d) for d in rf]
    if None in classic or any(j is None for _, j in classic):
        return None
    return tuple((sizes.normalize(r + (k - 1) * j), sizes.normalize(j * s)) for (r, j), (k, s) in zip(classic, steps))


def merge(fields: list) -> tuple | None:
    """The field where branches meet (a residual add, a concat): the union of their spans."""
    if any(f is None for f in fields):
        return None
    out = []
    for dims in zip(*fields):
        if all(isinstance(d, Span) for d in dims):
            lo = _combine([d.lo for d in dims], min)
            hi = _combine([d.hi for d in dims], max)
            if lo is None or hi is None:
                return None
            out.append(span(lo, hi))
            continue
        classic = [_classic(d) for d in dims]
        if None in classic:
            return None
        out.append((sizes.normalize(sizes.smax(*[r for r, _ in classic])), classic[0][1]))
    return tuple(out)


def sizes_and_jumps(rf: tuple | None) -> tuple:
    """([size per dimension], [jump per dimension]) for a row; (None, None) without a field."""
    if rf is None:
        return None, None
    got = [(d.size, d.jump()) if isinstance(d, Span) else d for d in rf]
    jumps = [j for _, j in got]
    return [r for r, _ in got], (None if None in jumps else jumps)
