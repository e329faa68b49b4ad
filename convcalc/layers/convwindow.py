"""What the convolution layers share besides their class: the checks PyTorch makes (groups that
divide the channels, a kernel that fits the padded input), the cap on per-tap work, the fit of a
transposed convolution's count to a symbolic kernel size, and which input positions a window's
taps reach (the elements whose dL/dx has a term)."""

from __future__ import annotations

from typing import Any

from .. import sizes
from ..sizes import Size
from .base import ConfigError, ShapeError
from .window import positions_reached


def reached_by_taps(n: Any, k: Any, s: Any, d: Any, lo: Any, L: Any) -> Any:
    """How many of L positions the taps of n windows at stride s reach: the input elements a
    convolution's dL/dx gives a term to, or the output elements a transposed convolution writes.
    positions_reached, or in closed form without padding and dilation (windows at 0, s, 2s, ...
    of k taps: every position up to (n - 1)*s + k - 1 when k >= s, else k of every s)."""
    got = positions_reached(n, k, s, d, lo, L)
    if got is None and (sizes.known_int(lo), sizes.known_int(d)) == (0, 1):
        got = n * sizes.smin(k, s) + sizes.smax(0, k - s)
    return got

def _check_groups(groups: Any, in_channels: Any, out_channels: Any) -> None:
    for what, c in (("in_channels", in_channels), ("out_channels", out_channels)):
        g, n = sizes.known_int(groups), sizes.known_int(c)
        if g is not None and n is not None and n % g:
            raise ConfigError(f"{g} does not divide {what} {n}", option="groups")


def _check_fits(shape: tuple, pads: tuple, kernel: tuple, dilation: tuple) -> None:
    for i, (L, (lo, hi), k, d) in enumerate(zip(shape[1:], pads, kernel, dilation)):
        eff = d * (k - 1) + 1
        if sizes.is_known_lt(L + lo + hi, eff):
            dil = f" (dilated to {sizes.to_text(eff)})" if sizes.compare(d, 1) != 0 else ""
            raise ShapeError(
                f"kernel {sizes.to_text(k)}{dil} is larger than the padded input "
                f"{sizes.to_text(sizes.normalize(L + lo + hi))} in spatial dimension {i + 1}",
                option="kernel_size",
            )


#: kernel taps per dimension whose counts are summed tap by tap: numbers, and symbolic inputs
#: (each tap a floor SymPy simplifies, ~5 ms); larger kernels are refused, not left to hang
MAX_KERNEL = 100_000
MAX_SYMBOLIC_KERNEL = 64


def check_work(shape: tuple, kernel: tuple, dilation: tuple = ()) -> None:
    """Refuse kernels whose per-tap sums would not finish in seconds."""
    symbolic = not all(sizes.is_int(v) for v in shape)
    for i, k in enumerate(kernel):
        if not sizes.is_int(k):
            continue
        cap = MAX_SYMBOLIC_KERNEL if symbolic else MAX_KERNEL
        if k > cap:
            where = " with a symbolic input (give numbers for the input)" if symbolic else ""
            raise ConfigError(
                f"{k} taps in spatial dimension {i + 1} is more than the {cap} that compute in seconds{where}; refused",
                option="kernel_size",
            )


#: kernel sizes tried when fitting a count to a symbolic kernel size (see in_kernel_size)
MAX_FIT = 300


def in_kernel_size(count: Any, k: Any, least: int, knee: int) -> Any:
    """A per-dimension count f(kernel) of a transposed convolution, given numerically by
    ``count(kv)``, as an expression in the symbolic kernel size k, exact for every kernel size
    >= least. f is piecewise affine in the kernel size with integer breakpoints below ``knee``
    (beyond it every crop and gap has saturated), so with s(j) = f(j + 1) - f(j):
    f(k) = f(least) + s(knee) * (k - least) + sum_m (s(m - 1) - s(m)) * (min(k, m) - least),
    m = least + 1 .. knee. None when the knee is beyond MAX_FIT."""
    if knee - least > MAX_FIT:
        return None
    values = [count(v) for v in range(least, knee + 2)]
    if None in values:
        return None
    slope = [b - a for a, b in zip(values, values[1:])]
    total: Size = values[0] + slope[-1] * (k - least)
    for j in range(1, len(slope)):
        c = slope[j - 1] - slope[j]
        if c:
            total = total + c * (sizes.smin(k, least + j) - least)
    return total
