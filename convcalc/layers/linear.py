"""Linear (fully connected) layers, as torch.nn.Linear.

The input's last entry is in_features; leading entries are kept (each row is one product).
Counting per sample: mults = macs = rows * in * out; adds = rows * out * (in - 1) plus one bias
add per output element; gemm = X[rows, in] x W^T[in, out].
"""

from __future__ import annotations

from dataclasses import dataclass


from .. import sizes
from ..sizes import Size
from .base import Counts, Layer, Opt, ShapeError
from .options import BIAS

OUT_FEATURES = Opt("out_features", "size", None, "Number of output features.", required=True)


@dataclass(frozen=True)
class Linear(Layer, example="--input 512 --out-features 1000"):
    """Fully connected layer (torch.nn.Linear); leading input entries are kept."""

    in_features: Size
    out_features: Size
    bias: bool = True

    INPUT = "...,in_features"
    OPTIONS = (OUT_FEATURES, BIAS)

    def __post_init__(self) -> None:
        self.normalize(scalars={"in_features": 1, "out_features": 1})

    INFERRED = {"in_features": -1}

    def check_input(self, shape: tuple) -> None:
        if not shape:
            raise ShapeError("needs at least one entry (in_features)", option="input")
        if sizes.compare(shape[-1], self.in_features) not in (0, None):
            raise ShapeError(
                f"last entry {sizes.to_text(shape[-1])} is not in_features {sizes.to_text(self.in_features)}",
                option="input",
            )

    def output_shape(self, shape: tuple) -> tuple:
        return tuple(shape[:-1]) + (self.out_features,)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        rows = sizes.prod(shape[:-1])
        outputs = rows * self.out_features
        products = outputs * self.in_features
        return Counts(
            weights=self.in_features * self.out_features,
            biases=self.out_features if self.bias else 0,
            mults=products,
            adds=outputs * (self.in_features - 1) + (outputs if self.bias else 0),
            macs=products,
            connections=products,
            gemm=(rows, self.in_features, self.out_features),
            gemm_groups=1,
            gemm_batch_axis=0,
        )
