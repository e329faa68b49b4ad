"""Linear (fully connected) layers, as torch.nn.Linear.

The input's last entry is in_features; leading entries are kept (each row is one product).
Counting per sample: mults = macs = rows * in * out; adds = rows * out * (in - 1) plus one bias
add per output element; gemm = X[rows, in] x W^T[in, out].
"""

from __future__ import annotations

from dataclasses import dataclass


from typing import TYPE_CHECKING

from .. import sizes
from ..sizes import Size
from .base import Counts, Layer, Opt, ShapeError
from .options import BIAS

if TYPE_CHECKING:
    from .training import Backward

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

    def backward(self, shape: tuple, out: tuple, batch: object) -> Backward:
        """dL/dx = dL/dy W: rows*in*out products, each of the rows*in elements out - 1 adds.
        dL/dW = dL/dy^T x summed over the batch's rows R = batch*rows: in*out*R products,
        R - 1 adds each; dL/db sums dL/dy over the same rows. x is saved for dL/dW only (the
        weight, for dL/dx, is a parameter)."""
        from .training import Backward, Saved, command  # only a training query needs them

        rows = batch * sizes.prod(shape[:-1])
        products = rows * self.in_features * self.out_features
        params = {"weight": (self.out_features, self.in_features)}
        if self.bias:
            params["bias"] = (self.out_features,)
        return Backward(
            grad_input={"mults": products, "macs": products, "adds": rows * self.in_features * (self.out_features - 1)},
            grad_weight={"mults": products, "macs": products,
                         "adds": (self.in_features * self.out_features + (self.out_features if self.bias else 0)) * (rows - 1)},
            saved=(Saved("input", rows * self.in_features, tensor="input", needed_for="weight"),),
            params=params,
            as_layers=(
                ("input", command("linear", input=tuple(shape[:-1]) + (self.out_features,), out_features=self.in_features, bias=False),
                 "dL/dy times W: a linear layer from out_features to in_features"),
                ("weight", command("linear", input=(self.out_features, sizes.normalize(rows)), out_features=self.in_features, bias=False),
                 "dL/dy transposed (out_features x the batch's rows) times x: its output is dL/dW"),
            ),
        )
