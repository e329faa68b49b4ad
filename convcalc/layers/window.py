"""Per-dimension window formulas shared by convolution and pooling layers.

Written once in plain integer arithmetic (``//``, ``+``, ``*`` and the ``sizes`` helpers) so
that they work on ints and, unchanged, on SymPy expressions.
"""

from __future__ import annotations

from typing import Any

from .. import sizes
from ..errors import ConvcalcError


class FloorMap:
    """L -> floor((L + a) / s) + c, a monotone size map, with its inverse.

    least(o) is the smallest L with f(L) >= o, greatest(o) the largest L with f(L) <= o, from
    s*(o - c) <= L + a <= s*(o - c) + s - 1; the preimage of o is [least(o), greatest(o)]."""

    def __init__(self, a: Any, s: Any, c: Any = 1):
        self.a, self.s, self.c = a, s, c

    def forward(self, L: Any) -> Any:
        return (L + self.a) // self.s + self.c

    def least(self, o: Any) -> Any:
        return self.s * (o - self.c) - self.a

    def greatest(self, o: Any) -> Any:
        return self.s * (o - self.c + 1) - 1 - self.a


class CeilPoolMap:
    """L -> min(ceil((L + b) / s), floor((L + e) / s)) + 1: ceil_mode pooling, whose last window
    must start inside the input or the left padding. min(x, y) >= m needs both, min(x, y) <= m
    either, so the inverse takes the max of the two bounds on each side."""

    def __init__(self, b: Any, e: Any, s: Any):
        self.b, self.e, self.s = b, e, s

    def forward(self, L: Any) -> Any:
        return sizes.smin(sizes.ceil_div(L + self.b, self.s), (L + self.e) // self.s) + 1

    def least(self, o: Any) -> Any:
        m, s = o - 1, self.s
        return sizes.smax(s * (m - 1) + 1 - self.b, s * m - self.e)

    def greatest(self, o: Any) -> Any:
        m, s = o - 1, self.s
        return sizes.smax(s * m - self.b, s * m + s - 1 - self.e)


class AffineMap:
    """L -> s*L + a with s >= 1 (transposed convolutions; s = 1, a = 0 keeps the size)."""

    def __init__(self, s: Any, a: Any):
        self.s, self.a = s, a

    def forward(self, L: Any) -> Any:
        return self.s * L + self.a

    def least(self, o: Any) -> Any:
        return sizes.ceil_div(o - self.a, self.s)

    def greatest(self, o: Any) -> Any:
        return (o - self.a) // self.s


class ConstantMap:
    """L -> n whatever L (adaptive pooling): every size gives n, no size gives anything else."""

    UNBOUNDED = None

    def __init__(self, n: Any):
        self.n = n

    def forward(self, L: Any) -> Any:
        return self.n


IDENTITY = AffineMap(1, 0)


def conv_map(k: Any, s: Any, d: Any, lo: Any, hi: Any) -> FloorMap:
    """A convolution: floor((L + lo + hi - d*(k-1) - 1) / s) + 1."""
    return FloorMap(lo + hi - d * (k - 1) - 1, s)


def transposed_map(k: Any, s: Any, d: Any, p: Any, op: Any) -> AffineMap:
    """A transposed convolution: (L-1)*s - 2p + d*(k-1) + op + 1."""
    return AffineMap(s, -s - 2 * p + d * (k - 1) + op + 1)


def pool_map(k: Any, s: Any, d: Any, p: Any, ceil_mode: bool) -> FloorMap | CeilPoolMap:
    """Max/avg pooling, PyTorch's rule included: with ceil_mode the last window must start inside
    the input or the left padding, i.e. (out-1)*s <= L + p - 1."""
    span = 2 * p - d * (k - 1) - 1
    if not ceil_mode:
        return FloorMap(span, s)
    return CeilPoolMap(span, p - 1, s)


def taps_inside(n_pos: Any, k: Any, s: Any, d: Any, offset: Any, L: Any, size_map: Any = None) -> Any:
    """How many (position o in [0, n_pos), tap t in [0, k)) pairs land inside [0, L):
    0 <= o*s - offset + t*d <= L - 1. For a convolution this counts the taps on real input
    (not padding); for a transposed convolution, the products that land inside the output.
    None when the kernel is too long to sum tap by tap.

    With the FloorMap that gives n_pos from L (n_pos = floor((L + a)/s) + 1) and numbers for
    everything but L, each tap's count is one floor, decided without symbolic comparisons:
    the last position is floor((L + min(a, offset - 1 - t*d))/s), and the count needs no max(0, .)
    when it is already non-negative at the smallest L the layer accepts."""
    if (
        isinstance(size_map, FloorMap)
        and sizes.all_int(k, s, d, offset, size_map.a, size_map.s, size_map.c)
        and size_map.s == s
        and size_map.c == 1
        and not sizes.is_int(L)
        and k <= sizes.MAX_TERMS
    ):
        smallest = max(1, -size_map.a)  # the least L with n_pos >= 1

        def fast(t: int) -> Any:
            first = max(0, -((t * d - offset) // s))
            shift = min(size_map.a, offset - 1 - t * d)
            at_least = (smallest + shift) // s - first + 1
            count = (L + shift) // s - first + 1
            return count if at_least >= 0 else sizes.smax(0, count)

        return sum((fast(t) for t in range(k)), start=0)

    if sizes.known_int(offset) == 0 and _ends_inside(n_pos, k, s, d, L):
        return n_pos * k  # no window reaches outside [0, L): every pair lands inside
    if isinstance(size_map, FloorMap) and sizes.known_int(size_map.c) == 1:
        closed = _closed_taps(n_pos, k, s, d, offset, L, size_map)
        if closed is not None:
            return closed

    def per_tap(t: Any) -> Any:
        first = sizes.ceil_div(offset - t * d, s)
        last = sizes.smin(n_pos - 1, (L - 1 + offset - t * d) // s)
        return sizes.smax(0, last + sizes.smin(0, -first) + 1)  # last - max(0, first) + 1

    try:
        return sizes.summation(per_tap, 0, k - 1)
    except ConvcalcError:
        return None


def _ends_inside(n_pos: Any, k: Any, s: Any, d: Any, L: Any) -> bool:
    """True when the last pair, position n_pos - 1 and tap k - 1, is known to land inside [0, L)."""
    slack = sizes.normalize(L - 1 - (n_pos - 1) * s - (k - 1) * d)
    if sizes.is_int(slack):
        return slack >= 0
    from .._symbolic import nonnegative

    return nonnegative(slack)


def _closed_taps(n: Any, k: Any, s: Any, d: Any, lo: Any, L: Any, m: FloorMap) -> Any:
    """taps_inside in closed form for a convolution's or pooling's window (n = floor((L + lo +
    hi - d*(k - 1) - 1)/s) + 1 positions, lo and hi the padding on either side), or None.

    - No padding (lo = hi = 0, any symbols): every tap of every window is on the input: n*k.
    - A causal window (stride 1, lo = d*(k - 1), hi = 0): tap j from the end reaches back j*d,
      and is on the input at max(0, L - j*d) positions: with m = min(k, floor((L - 1)/d) + 1)
      taps that reach the input at all, m*L - d*m*(m - 1)/2.
    - Numeric stride, dilation and padding with a symbolic kernel k: only the first
      T = ceil(lo/d) taps ever touch the left padding and only the last J = ceil(hi/d) the
      right one; every other tap is on the input at all n positions. So the count is
      n*(k - T - J) plus T + J per-tap terms, for k >= T + J; a smaller k is a case of its own
      (the per-tap sum with that k), which makes the result piecewise in k.
    """
    hi = sizes.normalize(m.a + d * (k - 1) + 1 - lo)
    if sizes.known_int(lo) == 0 and sizes.known_int(hi) == 0:
        return n * k
    if sizes.known_int(s) == 1 and sizes.known_int(hi) == 0 and sizes.known_int(sizes.normalize(lo - d * (k - 1))) == 0:
        reach = sizes.smin(k, (L - 1) // d + 1)
        return reach * L - sizes.exact_div(d * reach * (reach - 1), 2)
    if not (sizes.all_int(s, d, lo, hi) and not sizes.is_int(k)):
        return None
    left, right = -(-lo // d), -(-hi // d)
    import sympy

    # the general case, k >= left + right: written with k = j + left + right - 1 (j >= 1) so that
    # the comparisons know it, then put back in terms of k
    j = sympy.Dummy("j", integer=True, positive=True)
    at = {k: j + left + right - 1} if left + right > 1 else {}
    nj = sizes.normalize(sympy.sympify(n).xreplace(at)) if at else n
    kj = j + left + right - 1 if at else k

    def count(t: Any, nv: Any) -> Any:
        first = sizes.ceil_div(lo - t * d, s)
        last = sizes.smin(nv - 1, (L - 1 + lo - t * d) // s)
        return sizes.smax(0, last + sizes.smin(0, -first) + 1)  # last - max(0, first) + 1

    general = nj * (kj - left - right) + sum((count(t, nj) for t in range(left)), start=0) + sum((count(kj - 1 - i, nj) for i in range(right)), start=0)
    if not at:  # k >= 1 >= left + right always
        return general
    general = sizes.normalize(sympy.sympify(general).xreplace({j: k - left - right + 1}))
    cases = []
    for kv in range(1, left + right):
        nv = sizes.normalize(sympy.sympify(n).xreplace({k: kv}))
        cases.append((sum((count(t, nv) for t in range(kv)), start=0), sympy.Eq(k, kv)))
    return sympy.Piecewise(*cases, (general, True))


def positions_reached(n_in: Any, k: int, s: int, d: int, p: int, L: Any) -> Any:
    """How many output positions o in [0, L) a transposed convolution writes to at least once:
    o = i*s - p + t*d for some input i in [0, n_in) and tap t in [0, k).

    Per residue class r of o modulo s, tap t covers the class indices [a_t, a_t + n_in - 1];
    the union of those intervals, clipped to the class indices inside [0, L), is counted.
    Needs numeric k, s, d, p (sizes may be symbolic); None otherwise or for huge kernels."""
    if not sizes.all_int(k, s, d, p) or k > sizes.MAX_TERMS:
        return None
    classes: dict[int, set[int]] = {}
    for t in range(k):
        off = t * d - p
        classes.setdefault(off % s, set()).add(off // s)
    total: Any = 0
    for r, starts in classes.items():
        hi = (L - 1 - r) // s  # largest class index inside the output
        ordered = sorted(starts)
        for j, a in enumerate(ordered):
            end = a + n_in - 1
            if j + 1 < len(ordered):
                end = sizes.smin(end, ordered[j + 1] - 1)
            total = total + sizes.smax(0, sizes.smin(end, hi) - sizes.smax(a, 0) + 1)
    return total


def adaptive_taps(L: Any, n: Any) -> Any:
    """Total window length of adaptive pooling from L to n: windows [floor(iL/n), ceil((i+1)L/n))
    sum to L + n - gcd(L, n)."""
    return L + n - sizes.gcd(L, n)
