"""Batch normalisation, as torch.nn.BatchNorm1d/2d/3d.

Parameters and buffers are counted as PyTorch stores them: weight and bias (affine), and the
buffers running_mean, running_var (the layer's dtype) and num_batches_tracked (int64), kept when
track_running_stats is on. Operations are counted for inference with per-channel statistics
folded into a scale: per element one add (x - mean) and one mult (* 1/sqrt(var + eps)), and
with affine one more mult (* weight) and add (+ bias). The per-channel 1/sqrt(var + eps) and the
batch statistics of training mode are not counted.

The backward is counted in training mode (batch statistics), as PyTorch's CPU kernel computes
it: see ``_BatchNormNd.backward``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional, TYPE_CHECKING

from .. import sizes
from ..sizes import Size
from .base import Counts, Layer, Opt, expect_channels, expect_rank, to_float
if TYPE_CHECKING:
    from .training import Backward
from .window import IDENTITY

AFFINE = Opt("affine", "flag", True, "Learnable per-channel weight and bias.")
TRACK = Opt("track_running_stats", "flag", True, "Keep running_mean, running_var and num_batches_tracked buffers.")
EPS = Opt("eps", "float", "1e-05", "Added to the variance for stability (counts do not change).")
MOMENTUM = Opt("momentum", "float_or_none", "0.1", "Running statistics update factor in [0, 1], or none for a cumulative average (counts do not change).")


@dataclass(frozen=True)
class _BatchNormNd(Layer):
    num_features: Size
    eps: float = 1e-5
    momentum: Optional[float] = 0.1
    affine: bool = True
    track_running_stats: bool = True

    RANKS: ClassVar[tuple[int, ...]] = ()
    OPTIONS = (EPS, MOMENTUM, AFFINE, TRACK)

    def __post_init__(self) -> None:
        self.normalize(scalars={"num_features": 1})
        object.__setattr__(self, "eps", to_float(self.eps, "eps", low=0))
        if self.momentum is not None:
            object.__setattr__(self, "momentum", to_float(self.momentum, "momentum", low=0, high=1))

    INFERRED = {"num_features": 0}

    def check_input(self, shape: tuple) -> None:
        expect_rank(self, shape, self.RANKS)
        expect_channels(shape, self.num_features, "num_features")

    def window_steps(self) -> str:
        return "keep"

    def size_maps(self) -> tuple:
        return (IDENTITY,) * (self.RANKS[-1] - 1)

    def output_shape(self, shape: tuple) -> tuple:
        return tuple(shape)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        c = self.num_features
        elements = sizes.prod(shape)
        per_element = 2 if self.affine else 1
        return Counts(
            weights=c if self.affine else 0,
            biases=c if self.affine else 0,
            buffers=2 * c if self.track_running_stats else 0,
            int_buffers=1 if self.track_running_stats else 0,
            mults=elements * per_element,
            adds=elements * per_element,
            connections=elements,
        )

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """Training mode (native_batch_norm_backward with the saved batch statistics), per
        channel over its M = B*prod(spatial) elements, N = C*M in all, as PyTorch's CPU kernel
        computes it:
        - sum = sum of dL/dy: M - 1 adds; dotp = sum of (x - mean)*dL/dy: M adds, M mults and
          M - 1 adds;
        - k = dotp*invstd*invstd/M (3 mults) and grad_mean = sum/M (1 mult) per channel;
        - dL/dx = (dL/dy - grad_mean - (x - mean)*k)*invstd*weight: 3 adds and 3 mults per
          element (2 without affine: no weight);
        so grad_input: mults = N + 4C + (3 or 2)N, adds = 2(N - C) + N + 3N = 6N - 2C.
        grad_weight (affine): dL/dweight = dotp*invstd (C mults), dL/dbias = sum (nothing more).
        The two sums serve dL/dx and dL/dW alike and are counted once, with dL/dx (which needs
        them with or without affine): a layer whose dL/dx is not wanted still computes them.
        Saved: the input, and save_mean and save_invstd (C each, float32 whatever the input's
        dtype); weight is a parameter and the running statistics buffers, not counted here."""
        from .training import Backward, Saved  # only a training query imports it
        c = self.num_features
        n = batch * sizes.prod(shape)
        params = {"weight": (c,), "bias": (c,)} if self.affine else {}
        return Backward(
            grad_input={"mults": n + 4 * c + (3 if self.affine else 2) * n, "adds": 6 * n - 2 * c},
            grad_weight={"mults": c} if self.affine else {},
            saved=(Saved("input", n, tensor="input"), Saved("save_mean", c, dtype="float32"),
                   Saved("save_invstd", c, dtype="float32")),
            params=params,
            notes=("batch normalisation backward in training mode: the per-channel sums of dL/dy and (x - mean)*dL/dy "
                   "serve dL/dx and dL/dW alike and are counted once, with dL/dx",),
        )


class BatchNorm1d(_BatchNormNd, example="--input 256,100"):
    """Batch normalisation over C or C,L (torch.nn.BatchNorm1d)."""

    RANKS = (1, 2)
    INPUT = "C or C,L"


class BatchNorm2d(_BatchNormNd, ndim=2, example="--input 64,112,112"):
    """Batch normalisation over C,H,W (torch.nn.BatchNorm2d)."""

    RANKS = (3,)


class BatchNorm3d(_BatchNormNd, ndim=3, example="--input 32,8,28,28"):
    """Batch normalisation over C,D,H,W (torch.nn.BatchNorm3d)."""

    RANKS = (4,)
