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
from typing import Any, ClassVar

from .. import sizes
from .base import ConfigError, Counts, Layer, ShapeError, expect_rank, per_dim, require
from .options import CEIL_MODE, COUNT_INCLUDE_PAD, DILATION, INT_PADDING, KERNEL_SIZE, OUTPUT_SIZE, POOL_STRIDE
from .window import adaptive_taps, pool_out, taps_inside


@dataclass(frozen=True)
class _PoolNd(Layer):
    kernel_size: Any
    stride: Any = None
    padding: Any = 0
    dilation: Any = 1
    ceil_mode: bool = False

    NDIM: ClassVar[int] = 0
    MAX: ClassVar[bool] = True

    def __post_init__(self) -> None:
        n = self.NDIM
        put = lambda name, v: object.__setattr__(self, name, v)  # noqa: E731 (frozen dataclass)
        put("kernel_size", per_dim(self.kernel_size, n, "kernel_size"))
        put("stride", self.kernel_size if self.stride is None else per_dim(self.stride, n, "stride"))
        put("padding", per_dim(self.padding, n, "padding"))
        put("dilation", per_dim(self.dilation, n, "dilation"))
        require(self.kernel_size, "kernel_size", minimum=1)
        require(self.stride, "stride", minimum=1)
        require(self.dilation, "dilation", minimum=1)
        require(self.padding, "padding", minimum=0)
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

    def output_shape(self, shape: tuple) -> tuple:
        return (shape[0],) + tuple(
            pool_out(L, k, s, d, p, self.ceil_mode)
            for L, k, s, d, p in zip(shape[1:], self.kernel_size, self.stride, self.dilation, self.padding)
        )

    def counts(self, shape: tuple, out: tuple) -> Counts:
        outputs = sizes.prod(out)
        taps = [
            taps_inside(n, k, s, d, p, L)
            for L, n, k, s, d, p in zip(shape[1:], out[1:], self.kernel_size, self.stride, self.dilation, self.padding)
        ]
        connections = None if None in taps else shape[0] * sizes.prod(taps)
        reduce = None if connections is None else connections - outputs
        if self.MAX:
            return Counts(comparisons=reduce, connections=connections)
        return Counts(adds=reduce, mults=outputs, connections=connections)


class _MaxPoolNd(_PoolNd):
    OPTIONS = (KERNEL_SIZE, POOL_STRIDE, INT_PADDING, DILATION, CEIL_MODE)


@dataclass(frozen=True)
class _AvgPoolNd(_PoolNd):
    # PyTorch's AvgPool has no dilation; the field stays 1.
    count_include_pad: bool = True
    MAX = False
    OPTIONS = (KERNEL_SIZE, POOL_STRIDE, INT_PADDING, CEIL_MODE, COUNT_INCLUDE_PAD)

    def __post_init__(self) -> None:
        super().__post_init__()
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
    output_size: Any

    NDIM: ClassVar[int] = 0
    MAX: ClassVar[bool] = True
    OPTIONS = (OUTPUT_SIZE,)

    def __post_init__(self) -> None:
        object.__setattr__(self, "output_size", per_dim(self.output_size, self.NDIM, "output_size"))
        require(self.output_size, "output_size", minimum=1)

    def check_input(self, shape: tuple) -> None:
        expect_rank(self, shape, self.NDIM + 1)

    def output_shape(self, shape: tuple) -> tuple:
        return (shape[0],) + tuple(self.output_size)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        outputs = sizes.prod(out)
        connections = shape[0] * sizes.prod(adaptive_taps(L, n) for L, n in zip(shape[1:], self.output_size))
        if self.MAX:
            return Counts(comparisons=connections - outputs, connections=connections)
        return Counts(adds=connections - outputs, mults=outputs, connections=connections)


_MAX_EX = {1: "--input 16,100 --kernel-size 3 --stride 2", 2: "--input 64,112,112 --kernel-size 3 --stride 2 --padding 1", 3: "--input 8,16,32,32 --kernel-size 2"}
_AVG_EX = {1: "--input 16,100 --kernel-size 4", 2: "--input 64,56,56 --kernel-size 2", 3: "--input 8,16,32,32 --kernel-size 2"}
_ADA_EX = {1: "--input 16,100 --output-size 10", 2: "--input 2048,7,7 --output-size 1", 3: "--input 8,16,32,32 --output-size 4"}
_DIMS = {1: "C,L", 2: "C,H,W", 3: "C,D,H,W"}


class MaxPool1d(_MaxPoolNd):
    NDIM, NAME, INPUT = 1, "maxpool1d", _DIMS[1]
    SUMMARY = "1-D max pooling (torch.nn.MaxPool1d)."
    EXAMPLE = f"convcalc {NAME} {_MAX_EX[1]}"


class MaxPool2d(_MaxPoolNd):
    NDIM, NAME, INPUT = 2, "maxpool2d", _DIMS[2]
    SUMMARY = "2-D max pooling (torch.nn.MaxPool2d)."
    EXAMPLE = f"convcalc {NAME} {_MAX_EX[2]}"


class MaxPool3d(_MaxPoolNd):
    NDIM, NAME, INPUT = 3, "maxpool3d", _DIMS[3]
    SUMMARY = "3-D max pooling (torch.nn.MaxPool3d)."
    EXAMPLE = f"convcalc {NAME} {_MAX_EX[3]}"


class AvgPool1d(_AvgPoolNd):
    NDIM, NAME, INPUT = 1, "avgpool1d", _DIMS[1]
    SUMMARY = "1-D average pooling (torch.nn.AvgPool1d)."
    EXAMPLE = f"convcalc {NAME} {_AVG_EX[1]}"


class AvgPool2d(_AvgPoolNd):
    NDIM, NAME, INPUT = 2, "avgpool2d", _DIMS[2]
    SUMMARY = "2-D average pooling (torch.nn.AvgPool2d)."
    EXAMPLE = f"convcalc {NAME} {_AVG_EX[2]}"


class AvgPool3d(_AvgPoolNd):
    NDIM, NAME, INPUT = 3, "avgpool3d", _DIMS[3]
    SUMMARY = "3-D average pooling (torch.nn.AvgPool3d)."
    EXAMPLE = f"convcalc {NAME} {_AVG_EX[3]}"


class AdaptiveAvgPool1d(_AdaptivePoolNd):
    NDIM, NAME, INPUT, MAX = 1, "adaptiveavgpool1d", _DIMS[1], False
    SUMMARY = "1-D adaptive average pooling (torch.nn.AdaptiveAvgPool1d)."
    EXAMPLE = f"convcalc {NAME} {_ADA_EX[1]}"


class AdaptiveAvgPool2d(_AdaptivePoolNd):
    NDIM, NAME, INPUT, MAX = 2, "adaptiveavgpool2d", _DIMS[2], False
    SUMMARY = "2-D adaptive average pooling (torch.nn.AdaptiveAvgPool2d)."
    EXAMPLE = f"convcalc {NAME} {_ADA_EX[2]}"


class AdaptiveAvgPool3d(_AdaptivePoolNd):
    NDIM, NAME, INPUT, MAX = 3, "adaptiveavgpool3d", _DIMS[3], False
    SUMMARY = "3-D adaptive average pooling (torch.nn.AdaptiveAvgPool3d)."
    EXAMPLE = f"convcalc {NAME} {_ADA_EX[3]}"


class AdaptiveMaxPool1d(_AdaptivePoolNd):
    NDIM, NAME, INPUT = 1, "adaptivemaxpool1d", _DIMS[1]
    SUMMARY = "1-D adaptive max pooling (torch.nn.AdaptiveMaxPool1d)."
    EXAMPLE = f"convcalc {NAME} {_ADA_EX[1]}"


class AdaptiveMaxPool2d(_AdaptivePoolNd):
    NDIM, NAME, INPUT = 2, "adaptivemaxpool2d", _DIMS[2]
    SUMMARY = "2-D adaptive max pooling (torch.nn.AdaptiveMaxPool2d)."
    EXAMPLE = f"convcalc {NAME} {_ADA_EX[2]}"


class AdaptiveMaxPool3d(_AdaptivePoolNd):
    NDIM, NAME, INPUT = 3, "adaptivemaxpool3d", _DIMS[3]
    SUMMARY = "3-D adaptive max pooling (torch.nn.AdaptiveMaxPool3d)."
    EXAMPLE = f"convcalc {NAME} {_ADA_EX[3]}"
