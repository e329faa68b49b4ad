"""Pooling: maxpool/avgpool 1d/2d/3d and adaptive avg/max pooling, with PyTorch's semantics.

Counting (per sample): pooling has no weights and no MACs.
- max pooling: comparisons = the window's taps on real input minus one, per output element
  (padding is never compared, as in PyTorch's kernels).
- average pooling: adds = taps on real input minus one per output element, and one division per
  output element counted as a mult (count_include_pad changes the divisor, not the counts).
- connections: edges from real input units to output units (unweighted here).
- adaptive pools take None in output_size (``None,7``, YAML ``[null, 7]``), as PyTorch does: that
  dimension keeps its input size (windows of one element).

Backward (whole batch; see each ``backward``): max pooling routes each dL/dy to its window's
argmax through the saved int64 indices (no mults, no comparisons); an input element that is
the argmax of r windows sums r terms (r - 1 adds), which depends on the data: convcalc counts
the most it can be, when the maxima of overlapping windows coincide as often as possible (0
when windows do not overlap). Average pooling divides each dL/dy by its divisor once and
scatters it over its window's real taps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, TYPE_CHECKING

from .. import sizes
from ..sizes import Size, SizeArg
from .base import ConfigError, Counts, Layer, Opt, ShapeError, expect_rank, per_dim, require
from ..expr import parse_expr
from .options import CEIL_MODE, COUNT_INCLUDE_PAD, DILATION, INT_PADDING, KERNEL_SIZE, POOL_STRIDE
from .conv import check_work, reached_by_taps
if TYPE_CHECKING:
    from .training import Backward
from .window import IDENTITY, ConstantMap, adaptive_taps, pool_map, taps_inside


@dataclass(frozen=True)
class _PoolNd(Layer):
    kernel_size: SizeArg
    stride: SizeArg = None
    padding: SizeArg = 0
    dilation: SizeArg = 1
    ceil_mode: bool = False

    MAX: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.stride is None:
            object.__setattr__(self, "stride", self.kernel_size)
        self.normalize(spatial={"kernel_size": 1, "stride": 1, "dilation": 1, "padding": 0})
        for p, k in zip(self.padding, self.kernel_size):
            if sizes.is_known_lt(k // 2, p):
                raise ConfigError(
                    f"{sizes.to_text(p)} must be at most half the kernel size {sizes.to_text(k)} (PyTorch's rule)",
                    option="padding",
                )

    def check_input(self, shape: tuple) -> None:
        # PyTorch lets a window hang past the input (with ceil_mode even a kernel longer than the
        # input); what it refuses is an output size below 1, which the base class checks.
        expect_rank(self, shape, self.NDIM + 1)
        check_work(shape, self.kernel_size)

    def window_steps(self) -> tuple:
        """(effective kernel, stride) per spatial dimension, for receptive fields."""
        return tuple((d * (k - 1) + 1, s) for k, s, d in zip(self.kernel_size, self.stride, self.dilation))

    def domain(self) -> list[str]:
        """Conditions on symbolic arguments under which PyTorch accepts the layer."""
        return [f"{sizes.to_text(sizes.normalize(2 * p))} <= {sizes.to_text(k)}" for p, k in zip(self.padding, self.kernel_size)
                if sizes.compare(2 * p, k) is None]

    def size_maps(self) -> tuple:
        return tuple(
            pool_map(k, s, d, p, self.ceil_mode) for k, s, d, p in zip(self.kernel_size, self.stride, self.dilation, self.padding)
        )

    def output_shape(self, shape: tuple) -> tuple:
        return (shape[0],) + tuple(m.forward(L) for m, L in zip(self.size_maps(), shape[1:]))

    def counts(self, shape: tuple, out: tuple) -> Counts:
        outputs = sizes.prod(out)
        taps = [
            taps_inside(n, k, s, d, p, L, size_map=m)
            for L, n, k, s, d, p, m in zip(shape[1:], out[1:], self.kernel_size, self.stride, self.dilation, self.padding, self.size_maps())
        ]
        connections = None if None in taps else shape[0] * sizes.prod(taps)
        reduce = None if connections is None else connections - outputs
        if self.MAX:
            return Counts(comparisons=reduce, connections=connections)
        return Counts(adds=reduce, mults=outputs, connections=connections)

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """Max pooling (max_pool*_with_indices_backward): dL/dx[i] = the sum of dL/dy[o] over the
        windows o whose argmax is i, read off the saved indices: no mults, no comparisons, and
        r - 1 adds at an element that is the argmax of r windows. How many windows share an
        argmax depends on the data; the most is when the argmaxes are as few elements as can
        meet every window: per channel, prod over dimensions of tau_d, the fewest points that
        meet every window of dimension d (windows of a product are products). So at most
        B*C*(prod n_d - prod tau_d) adds (see ``fewest_argmaxes``), 0 when windows do not overlap.
        Saved: the input and the indices, int64, one per output element.

        Average pooling (avg_pool*_backward): each dL/dy[o] is divided by its divisor once (a
        mult per output element) and added to the real input elements of its window: an element
        read by r windows sums r terms, so adds = taps on real input - elements read at all
        (B*(connections - C*prod reached_d)). Saved: the input (PyTorch keeps it for its shape)."""
        from .training import Backward, Saved  # only a training query imports it
        channels = batch * shape[0]
        outputs = sizes.prod(out[1:])
        if self.MAX:
            taus = [fewest_argmaxes(n, k, s, d) for n, k, s, d in zip(out[1:], self.kernel_size, self.stride, self.dilation)]
            adds = None if None in taus else channels * (outputs - sizes.prod(taus))
            return Backward(
                grad_input={"adds": adds},
                saved=(Saved("input", channels * sizes.prod(shape[1:]), tensor="input"),
                       Saved("indices", channels * outputs, dtype="int64")),
                notes=(MAX_NOTE,),
            )
        connections = self.counts(shape, out).connections
        reached = [reached_by_taps(n, k, s, d, p, L)
                   for L, n, k, s, d, p in zip(shape[1:], out[1:], self.kernel_size, self.stride, self.dilation, self.padding)]
        adds = None if connections is None or None in reached else batch * connections - channels * sizes.prod(reached)
        return Backward(
            grad_input={"mults": channels * outputs, "adds": adds},
            saved=(Saved("input", channels * sizes.prod(shape[1:]), tensor="input"),),
        )


MAX_NOTE = ("max pooling backward: each dL/dy goes to its window's argmax (the saved int64 indices); adds are the "
            "most the data can need (overlapping windows sharing argmaxes as much as they can), 0 without overlap")


def fewest_argmaxes(n: Any, k: Any, s: Any, d: Any) -> Any:
    """tau: the fewest input positions that meet each of the n windows {o*s - p + t*d : t < k}
    of one dimension (clipped to the input; every window has a real tap). A window lies in one
    residue class mod d and there is an interval of k class indices; windows of one class are
    those o = c mod q (q = d/g, g = gcd(s, d)) and step s/g class indices apart, so one point
    meets at most m = floor((k - 1)*g/s) + 1 consecutive ones, and the greedy (each point at the
    right end of the first window not yet met, optimal for intervals) meets exactly that many:
    tau = sum over c < q of ceil(n_c/m), n_c = #{o < n : o = c mod q}. Padding and ceil_mode
    only clip windows and do not change it. Needs numeric k, s and d (n may be symbolic); None
    otherwise."""
    if not sizes.all_int(k, s, d):
        return None
    g = sizes.gcd(s, d)
    q, m = d // g, (k - 1) * g // s + 1
    total: Any = 0
    for c in range(q):
        n_c = sizes.smax(0, (n - 1 - c) // q + 1)
        total = total + sizes.ceil_div(n_c, m)
    return sizes.normalize(total)


def fewest_adaptive(L: Any, n: Any) -> Any:
    """tau for adaptive pooling's windows [floor(i*L/n), ceil((i + 1)*L/n)) of one dimension, by
    the greedy (each point at the right end of the first window not yet met); 1 when n is 1
    (every element is in the one window), n when n divides L (the windows do not overlap).
    None for other symbolic sizes."""
    if sizes.known_int(n) == 1:
        return 1
    if not sizes.all_int(L, n):
        if sizes.is_int(n) and sizes.compare(sizes.normalize(L % n), 0) == 0:
            return n
        return None
    count, point = 0, -1
    for i in range(n):
        if i * L // n > point:  # window i starts after the last point: a new point at its right end
            count += 1
            point = -(-(i + 1) * L // n) - 1
    return count


RETURN_INDICES = Opt("return_indices", "flag", False, "Also return the argmax indices (PyTorch's; counts do not change).")
DIVISOR_OVERRIDE = Opt("divisor_override", "size", None, "Divide by this instead of the window size (counts do not change).")


@dataclass(frozen=True)
class _MaxPoolNd(_PoolNd):
    return_indices: bool = False

    OPTIONS = (KERNEL_SIZE, POOL_STRIDE, INT_PADDING, DILATION, RETURN_INDICES, CEIL_MODE)


@dataclass(frozen=True)
class _AvgPoolNd(_PoolNd):
    # PyTorch's AvgPool has no dilation; the field stays 1.
    count_include_pad: bool = True
    divisor_override: Size = None  # AvgPool2d/3d only, as in PyTorch
    MAX = False
    EXPLAIN_NUMERIC = ("dilation",)  # always 1
    OPTIONS = (KERNEL_SIZE, POOL_STRIDE, INT_PADDING, CEIL_MODE, COUNT_INCLUDE_PAD)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.divisor_override is not None:
            if self.NDIM == 1:
                raise ConfigError("avgpool1d has no divisor_override (as in PyTorch)", option="divisor_override")
            self.normalize(scalars={"divisor_override": 1})
        if any(sizes.compare(d, 1) != 0 for d in self.dilation):
            raise ConfigError("average pooling has no dilation", option="dilation")

    def check_input(self, shape: tuple) -> None:
        super().check_input(shape)
        if self.NDIM == 3:  # PyTorch's avg_pool3d also wants the unpadded input to hold the kernel
            for i, (L, k) in enumerate(zip(shape[1:], self.kernel_size)):
                if sizes.is_known_lt(L, k):
                    raise ShapeError(
                        f"kernel {sizes.to_text(k)} is larger than the input {sizes.to_text(L)} in spatial "
                        f"dimension {i + 1} (avgpool3d does not count the padding here, as in PyTorch)",
                        option="kernel_size",
                    )


class _TargetSizes(Opt):
    """output_size of an adaptive pool: one size, or one per dimension where None (or none)
    keeps that dimension's input size, as PyTorch allows: ``None,7``."""

    def parse(self, raw: Any) -> Any:
        if isinstance(raw, str) and "," in raw:
            parts = [p.strip() for p in raw.split(",")]
            return tuple(None if p.lower() == "none" else parse_expr(p) for p in parts)
        return super().parse(raw)


ADAPTIVE_OUTPUT_SIZE = _TargetSizes("output_size", "sizes", None, "Target output size: one value or one per dimension; "
                                    "None in a dimension keeps its input size (None,7).", required=True)


@dataclass(frozen=True)
class _AdaptivePoolNd(Layer):
    output_size: SizeArg

    MAX: ClassVar[bool] = True
    OPTIONS = (ADAPTIVE_OUTPUT_SIZE,)

    def __post_init__(self) -> None:
        value = self.output_size
        if isinstance(value, (tuple, list)) and any(v is None for v in value):
            # PyTorch's None entries keep the input's size there; the others are sizes as usual
            if len(value) != self.NDIM:
                raise ConfigError(f"expected {self.NDIM} values when one is None, got {len(value)}", option="output_size")
            known = [v for v in value if v is not None]
            checked = iter(per_dim(tuple(known), len(known), "output_size")) if known else iter(())
            values = tuple(None if v is None else next(checked) for v in value)
            require(tuple(v for v in values if v is not None), "output_size", minimum=1)
            object.__setattr__(self, "output_size", values)
            return
        self.normalize(spatial={"output_size": 1})

    def check_input(self, shape: tuple) -> None:
        expect_rank(self, shape, self.NDIM + 1)

    def targets(self, shape: tuple) -> tuple:
        """The output size per spatial dimension: output_size, the input's size where it is None."""
        return tuple(L if n is None else n for L, n in zip(shape[1:], self.output_size))

    def size_maps(self) -> tuple:
        return tuple(IDENTITY if n is None else ConstantMap(n) for n in self.output_size)

    def output_shape(self, shape: tuple) -> tuple:
        return (shape[0],) + self.targets(shape)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        outputs = sizes.prod(out)
        connections = shape[0] * sizes.prod(adaptive_taps(L, n) for L, n in zip(shape[1:], self.targets(shape)))
        if self.MAX:
            return Counts(comparisons=connections - outputs, connections=connections)
        return Counts(adds=connections - outputs, mults=outputs, connections=connections)

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """Adaptive max pooling: as max pooling, dL/dy routed to the saved argmax indices (int64,
        one per output element), at most B*C*(prod n_d - prod tau_d) adds, tau_d the fewest
        elements meeting every window of dimension d (``fewest_adaptive``). Adaptive average
        pooling: one division per output element; every input element is in some window, so an
        element in r windows takes r - 1 adds: B*(connections - C*prod L_d). Saved: the input.
        An output of ones is x.mean(spatial dims) in PyTorch: dL/dy expanded and divided by the
        count at every input element (B*C*prod L_d mults), nothing saved."""
        from .training import Backward, Saved  # only a training query imports it
        channels = batch * shape[0]
        outputs = sizes.prod(out[1:])
        inputs = channels * sizes.prod(shape[1:])
        if self.MAX:
            taus = [L if n is None else fewest_adaptive(L, n) for L, n in zip(shape[1:], self.output_size)]  # None: windows of one
            adds = None if None in taus else channels * (outputs - sizes.prod(taus))
            return Backward(grad_input={"adds": adds}, notes=(MAX_NOTE,),
                            saved=(Saved("input", inputs, tensor="input"), Saved("indices", channels * outputs, dtype="int64")))
        if all(sizes.known_int(n) == 1 for n in self.targets(shape)):
            # PyTorch computes an output of ones as x.mean(spatial dims): its backward expands dL/dy
            # and divides every element by the count, and it saves no tensor
            return Backward(grad_input={"mults": inputs})
        connections = self.counts(shape, out).connections
        return Backward(grad_input={"mults": channels * outputs, "adds": batch * connections - inputs},
                        saved=(Saved("input", inputs, tensor="input"),))


class _AdaptiveAvgPoolNd(_AdaptivePoolNd):
    MAX = False

    @property
    def EXPLAIN_NUMERIC(self) -> tuple:  # noqa: N802 (the Layer attribute's name)
        """Pooling to 1 is a case of its own (PyTorch runs x.mean(), which saves nothing for the
        backward): a derivation keeps that output size the number 1."""
        return ("output_size",) if all(sizes.known_int(v) == 1 for v in self.output_size) else ()


@dataclass(frozen=True)
class _AdaptiveMaxPoolNd(_AdaptivePoolNd):
    return_indices: bool = False

    OPTIONS = (ADAPTIVE_OUTPUT_SIZE, RETURN_INDICES)


class MaxPool1d(_MaxPoolNd, ndim=1, example="--input 16,100 --kernel-size 3 --stride 2"):
    """1-D max pooling (torch.nn.MaxPool1d)."""


class MaxPool2d(_MaxPoolNd, ndim=2, example="--input 64,112,112 --kernel-size 3 --stride 2 --padding 1"):
    """2-D max pooling (torch.nn.MaxPool2d)."""


class MaxPool3d(_MaxPoolNd, ndim=3, example="--input 8,16,32,32 --kernel-size 2"):
    """3-D max pooling (torch.nn.MaxPool3d)."""


class AvgPool1d(_AvgPoolNd, ndim=1, example="--input 16,100 --kernel-size 4"):
    """1-D average pooling (torch.nn.AvgPool1d)."""


class AvgPool2d(_AvgPoolNd, ndim=2, example="--input 64,56,56 --kernel-size 2"):
    """2-D average pooling (torch.nn.AvgPool2d)."""

    OPTIONS = _AvgPoolNd.OPTIONS + (DIVISOR_OVERRIDE,)


class AvgPool3d(_AvgPoolNd, ndim=3, example="--input 8,16,32,32 --kernel-size 2"):
    """3-D average pooling (torch.nn.AvgPool3d)."""

    OPTIONS = _AvgPoolNd.OPTIONS + (DIVISOR_OVERRIDE,)


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd, ndim=1, example="--input 16,100 --output-size 10"):
    """1-D adaptive average pooling (torch.nn.AdaptiveAvgPool1d)."""


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd, ndim=2, example="--input 2048,7,7 --output-size 1"):
    """2-D adaptive average pooling (torch.nn.AdaptiveAvgPool2d)."""


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd, ndim=3, example="--input 8,16,32,32 --output-size 4"):
    """3-D adaptive average pooling (torch.nn.AdaptiveAvgPool3d)."""


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd, ndim=1, example="--input 16,100 --output-size 10"):
    """1-D adaptive max pooling (torch.nn.AdaptiveMaxPool1d)."""


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd, ndim=2, example="--input 512,13,13 --output-size 6"):
    """2-D adaptive max pooling (torch.nn.AdaptiveMaxPool2d)."""


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd, ndim=3, example="--input 8,16,32,32 --output-size 4"):
    """3-D adaptive max pooling (torch.nn.AdaptiveMaxPool3d)."""
