"""Pooling: maxpool/avgpool 1d/2d/3d and adaptive avg/max pooling, with PyTorch's semantics.

Counting (per sample): pooling has no weights and no MACs.
- max pooling: comparisons = the window's taps on real input minus one, per output element
  (padding is never compared, as in PyTorch's kernels).
- average pooling: adds = taps on real input minus one per output element, and one division per
  output element counted as a mult (count_include_pad changes the divisor, not the counts).
- connections: edges from real input units to output units (unweighted here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .. import sizes
from ..sizes import Size, SizeArg
from .base import ConfigError, Counts, Layer, Opt, ShapeError, expect_rank
from .options import CEIL_MODE, COUNT_INCLUDE_PAD, DILATION, INT_PADDING, KERNEL_SIZE, OUTPUT_SIZE, POOL_STRIDE
from .conv import check_work
from .window import ConstantMap, adaptive_taps, pool_map, taps_inside


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


@dataclass(frozen=True)
class _AdaptivePoolNd(Layer):
    output_size: SizeArg

    MAX: ClassVar[bool] = True
    OPTIONS = (OUTPUT_SIZE,)

    def __post_init__(self) -> None:
        self.normalize(spatial={"output_size": 1})

    def check_input(self, shape: tuple) -> None:
        expect_rank(self, shape, self.NDIM + 1)

    def size_maps(self) -> tuple:
        return tuple(ConstantMap(n) for n in self.output_size)

    def output_shape(self, shape: tuple) -> tuple:
        return (shape[0],) + tuple(self.output_size)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        outputs = sizes.prod(out)
        connections = shape[0] * sizes.prod(adaptive_taps(L, n) for L, n in zip(shape[1:], self.output_size))
        if self.MAX:
            return Counts(comparisons=connections - outputs, connections=connections)
        return Counts(adds=connections - outputs, mults=outputs, connections=connections)


class _AdaptiveAvgPoolNd(_AdaptivePoolNd):
    MAX = False


@dataclass(frozen=True)
class _AdaptiveMaxPoolNd(_AdaptivePoolNd):
    return_indices: bool = False

    OPTIONS = (OUTPUT_SIZE, RETURN_INDICES)


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
