"""Shape-keeping and reshaping layers without weights: activations, dropout, flatten.

Counting per element: relu one comparison; relu6 two; leakyrelu a comparison and a mult;
sigmoid and tanh one transcendental; gelu (x/2)(1 + erf(x/sqrt 2)) one transcendental, three
mults and one add; silu x*sigmoid(x) one transcendental and one mult; softmax over the last
entry (dim=-1): an exp per element (transcendental), n - 1 adds and n divisions (mults) per
row. Dropout is the identity at inference; flatten reshapes and computes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .. import sizes
from .base import ConfigError, Counts, Layer, Opt, ShapeError


@dataclass(frozen=True)
class _Elementwise(Layer):
    """Counts per element: (mults, adds, comparisons, transcendentals)."""

    PER_ELEMENT: ClassVar[tuple] = (0, 0, 0, 0)
    INPUT = "any shape"

    def output_shape(self, shape: tuple) -> tuple:
        return tuple(shape)

    def window_steps(self) -> str:
        return "keep"

    def counts(self, shape: tuple, out: tuple) -> Counts:
        n = sizes.prod(shape)
        m, a, c, t = self.PER_ELEMENT
        return Counts(mults=m * n, adds=a * n, comparisons=c * n, transcendentals=t * n)


class ReLU(_Elementwise, example="--input 64,112,112"):
    """ReLU: max(0, x), one comparison per element."""

    PER_ELEMENT = (0, 0, 1, 0)


class ReLU6(_Elementwise, example="--input 32,112,112"):
    """ReLU6: min(max(0, x), 6), two comparisons per element."""

    PER_ELEMENT = (0, 0, 2, 0)


class LeakyReLU(_Elementwise, example="--input 64,56,56"):
    """LeakyReLU: a comparison and a mult per element."""

    PER_ELEMENT = (1, 0, 1, 0)


class Sigmoid(_Elementwise, example="--input 10"):
    """Sigmoid: one transcendental per element."""

    PER_ELEMENT = (0, 0, 0, 1)


class Tanh(_Elementwise, example="--input 10"):
    """Tanh: one transcendental per element."""

    PER_ELEMENT = (0, 0, 0, 1)


class GELU(_Elementwise, example="--input 197,768"):
    """GELU (x/2)(1 + erf(x/sqrt 2)): an erf, three mults and an add per element."""

    PER_ELEMENT = (3, 1, 0, 1)


class SiLU(_Elementwise, example="--input 64,56,56"):
    """SiLU x*sigmoid(x): a transcendental and a mult per element."""

    PER_ELEMENT = (1, 0, 0, 1)


@dataclass(frozen=True)
class Dropout(_Elementwise, example="--input 4096"):
    """Dropout: the identity at inference (nothing counted)."""

    p: Any = 0.5

    OPTIONS = (Opt("p", "float", "0.5", "Drop probability (no effect on counts or shapes)."),)

    def __post_init__(self) -> None:
        if not isinstance(self.p, (int, float)) or isinstance(self.p, bool) or not 0 <= self.p < 1:
            raise ConfigError(f"must be a number in [0, 1), got {self.p!r}", option="p")


class Softmax(_Elementwise, example="--input 1000"):
    """Softmax over the last entry: exps, n - 1 adds and n divisions per row."""

    def counts(self, shape: tuple, out: tuple) -> Counts:
        n = shape[-1]
        rows = sizes.prod(shape[:-1])
        return Counts(transcendentals=rows * n, adds=rows * (n - 1), mults=rows * n)


@dataclass(frozen=True)
class Flatten(Layer, example="--input 512,7,7"):
    """Flatten: C,H,W... to one entry (torch.nn.Flatten with start_dim=1, batch excluded)."""

    INPUT = "any shape"

    def check_input(self, shape: tuple) -> None:
        if not shape:
            raise ShapeError("needs at least one entry", option="input")

    def output_shape(self, shape: tuple) -> tuple:
        return (sizes.prod(shape),)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        return Counts()

