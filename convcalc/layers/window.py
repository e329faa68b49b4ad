"""Per-dimension window formulas shared by convolution and pooling layers.

Written once in plain integer arithmetic (``//``, ``+``, ``*`` and the ``sizes`` helpers) so
that they work on ints and, unchanged, on SymPy expressions.
"""

from __future__ import annotations

from typing import Any

from .. import sizes
from ..errors import ConvcalcError


def conv_out(L: Any, k: Any, s: Any, d: Any, lo: Any, hi: Any) -> Any:
    """Output length of a convolution: floor((L + lo + hi - d*(k-1) - 1) / s) + 1."""
    return (L + lo + hi - d * (k - 1) - 1) // s + 1


def transposed_out(L: Any, k: Any, s: Any, d: Any, p: Any, op: Any) -> Any:
    """Output length of a transposed convolution: (L-1)*s - 2p + d*(k-1) + op + 1."""
    return (L - 1) * s - 2 * p + d * (k - 1) + op + 1


def pool_out(L: Any, k: Any, s: Any, d: Any, p: Any, ceil_mode: bool) -> Any:
    """Output length of max/avg pooling, PyTorch's rule included: with ceil_mode the last window
    must start inside the input or the left padding, i.e. (out-1)*s <= L + p - 1."""
    span = L + 2 * p - d * (k - 1) - 1
    if not ceil_mode:
        return span // s + 1
    return sizes.smin(sizes.ceil_div(span, s), (L + p - 1) // s) + 1


def taps_inside(n_pos: Any, k: Any, s: Any, d: Any, offset: Any, L: Any) -> Any:
    """How many (position o in [0, n_pos), tap t in [0, k)) pairs land inside [0, L):
    0 <= o*s - offset + t*d <= L - 1. For a convolution this counts the taps on real input
    (not padding); for a transposed convolution, the products that land inside the output.
    None when the kernel is too long to sum tap by tap."""

    def per_tap(t: Any) -> Any:
        first = sizes.smax(0, sizes.ceil_div(offset - t * d, s))
        last = sizes.smin(n_pos - 1, (L - 1 + offset - t * d) // s)
        return sizes.smax(0, last - first + 1)

    try:
        return sizes.summation(per_tap, 0, k - 1)
    except ConvcalcError:
        return None


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
