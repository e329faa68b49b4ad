"""Shape-keeping and reshaping layers without weights: activations, dropout, flatten.

Counting per element: relu one comparison; relu6 two; leakyrelu a comparison and a mult;
sigmoid and tanh one transcendental; gelu (x/2)(1 + erf(x/sqrt 2)) one transcendental, three
mults and one add, or with approximate='tanh' (x/2)(1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))
one transcendental, six mults and two adds; silu x*sigmoid(x) one transcendental and one mult;
softmax over the entry ``dim`` names (PyTorch's dim, the batch at 0; default the last): an exp
per element (transcendental), n - 1 adds and n divisions (mults) per row of n. Dropout is the
identity at inference; flatten reshapes and computes nothing. ``inplace`` (PyTorch's) changes
no count or shape and is accepted where PyTorch has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional

from .. import sizes
from .base import ConfigError, Counts, Layer, Opt, ShapeError, to_float, to_index

INPLACE = Opt("inplace", "flag", False, "Overwrite the input (PyTorch's inplace; counts and shapes do not change).")


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


@dataclass(frozen=True)
class ReLU(_Elementwise, example="--input 64,112,112"):
    """ReLU: max(0, x), one comparison per element."""

    inplace: bool = False

    PER_ELEMENT = (0, 0, 1, 0)
    OPTIONS = (INPLACE,)


@dataclass(frozen=True)
class ReLU6(_Elementwise, example="--input 32,112,112"):
    """ReLU6: min(max(0, x), 6), two comparisons per element."""

    inplace: bool = False

    PER_ELEMENT = (0, 0, 2, 0)
    OPTIONS = (INPLACE,)


@dataclass(frozen=True)
class LeakyReLU(_Elementwise, example="--input 64,56,56"):
    """LeakyReLU: a comparison and a mult per element."""

    negative_slope: float = 0.01
    inplace: bool = False

    PER_ELEMENT = (1, 0, 1, 0)
    SCALAR = "negative_slope"
    OPTIONS = (Opt("negative_slope", "float", "0.01", "Slope for x < 0 (counts and shapes do not change)."), INPLACE)

    def __post_init__(self) -> None:
        object.__setattr__(self, "negative_slope", to_float(self.negative_slope, "negative_slope"))


class Sigmoid(_Elementwise, example="--input 10"):
    """Sigmoid: one transcendental per element."""

    PER_ELEMENT = (0, 0, 0, 1)


class Tanh(_Elementwise, example="--input 10"):
    """Tanh: one transcendental per element."""

    PER_ELEMENT = (0, 0, 0, 1)


APPROXIMATE = Opt("approximate", "choice", "none", "none: the exact erf form; tanh: the tanh approximation (6 mults, 2 adds).", choices=("none", "tanh"))


@dataclass(frozen=True)
class GELU(_Elementwise, example="--input 197,768"):
    """GELU (x/2)(1 + erf(x/sqrt 2)): an erf, three mults and an add per element."""

    approximate: str = "none"

    SCALAR = "approximate"
    OPTIONS = (APPROXIMATE,)

    def __post_init__(self) -> None:
        if self.approximate not in APPROXIMATE.choices:
            raise ConfigError(f"{self.approximate!r} is not one of none, tanh", option="approximate")

    @property
    def PER_ELEMENT(self) -> tuple:  # type: ignore[override]
        # tanh: x^3 (2), 0.044715 * x^3, sqrt(2/pi) * (...), x/2, * (1 + tanh): 6 mults; 2 adds
        return (6, 2, 0, 1) if self.approximate == "tanh" else (3, 1, 0, 1)


@dataclass(frozen=True)
class SiLU(_Elementwise, example="--input 64,56,56"):
    """SiLU x*sigmoid(x): a transcendental and a mult per element."""

    inplace: bool = False

    PER_ELEMENT = (1, 0, 0, 1)
    OPTIONS = (INPLACE,)


@dataclass(frozen=True)
class Dropout(_Elementwise, example="--input 4096"):
    """Dropout: the identity at inference (nothing counted)."""

    p: float = 0.5
    inplace: bool = False

    SCALAR = "p"
    OPTIONS = (Opt("p", "float", "0.5", "Drop probability in [0, 1] (no effect on counts or shapes)."), INPLACE)

    def __post_init__(self) -> None:
        object.__setattr__(self, "p", to_float(self.p, "p", low=0, high=1))


def batch_dim(dim: Any, rank: int, what: str) -> int:
    """PyTorch's dim of the batched tensor (batch at 0, negative from the end) as an index into
    the input shape, which excludes the batch; the batch itself is refused."""
    if not -(rank + 1) <= dim <= rank:
        raise ShapeError(
            f"dimension out of range (expected to be in range of [{-(rank + 1)}, {rank}], but got {dim}): "
            f"the input has {rank} entries plus the batch",
            option=what,
        )
    index = dim if dim >= 0 else dim + rank + 1
    if index == 0:
        raise ShapeError(
            f"{dim} is the batch dimension (PyTorch counts the batch as dimension 0; --input excludes it), "
            "which convcalc does not reduce or merge",
            option=what,
        )
    return index - 1


@dataclass(frozen=True)
class Softmax(_Elementwise, example="--input 1000"):
    """Softmax over one entry (PyTorch's dim, batch at 0; default the last): exps, n - 1 adds and n divisions per row of n."""

    dim: Optional[int] = -1

    SCALAR = "dim"
    OPTIONS = (Opt("dim", "size", "-1", "Dimension reduced, as PyTorch counts it (batch = 0, -1 the last)."),)

    def __post_init__(self) -> None:
        if self.dim is not None:
            object.__setattr__(self, "dim", to_index(self.dim, "dim"))

    def axis(self, shape: tuple) -> int:
        rank = len(shape)
        dim = self.dim
        if dim is None:  # PyTorch's legacy rule for Softmax(dim=None), on the batched tensor
            dim = 0 if rank + 1 in (0, 1, 3) else 1
        return batch_dim(dim, rank, "dim")

    def check_input(self, shape: tuple) -> None:
        self.axis(shape)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        i = self.axis(shape)
        n = shape[i]
        rows = sizes.prod(shape[:i] + shape[i + 1 :])
        return Counts(transcendentals=rows * n, adds=rows * (n - 1), mults=rows * n)


@dataclass(frozen=True)
class Flatten(Layer, example="--input 512,7,7"):
    """Flatten entries start_dim..end_dim into one (torch.nn.Flatten; dims count the batch as 0, so the default 1..-1 flattens everything but the batch)."""

    start_dim: int = 1
    end_dim: int = -1

    INPUT = "any shape"
    SCALAR = "start_dim"
    OPTIONS = (
        Opt("start_dim", "size", "1", "First dimension flattened (PyTorch's, batch = 0)."),
        Opt("end_dim", "size", "-1", "Last dimension flattened (PyTorch's, -1 the last)."),
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_dim", to_index(self.start_dim, "start_dim"))
        object.__setattr__(self, "end_dim", to_index(self.end_dim, "end_dim"))

    def span(self, shape: tuple) -> tuple[int, int]:
        """The input entries [first, last] flattened (indices into the shape, batch excluded)."""
        first = batch_dim(self.start_dim, len(shape), "start_dim")
        last = batch_dim(self.end_dim, len(shape), "end_dim")
        if first > last:
            raise ShapeError("start_dim cannot come after end_dim (as in PyTorch)", option="start_dim")
        return first, last

    def check_input(self, shape: tuple) -> None:
        if not shape:
            raise ShapeError("needs at least one entry", option="input")
        self.span(shape)

    def output_shape(self, shape: tuple) -> tuple:
        first, last = self.span(shape)
        return tuple(shape[:first]) + (sizes.prod(shape[first : last + 1]),) + tuple(shape[last + 1 :])

    def counts(self, shape: tuple, out: tuple) -> Counts:
        return Counts()
