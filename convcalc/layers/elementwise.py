"""Shape-keeping and reshaping layers without weights: activations, dropout, flatten.

Counting per element: relu one comparison; relu6 two; leakyrelu a comparison and a mult;
sigmoid and tanh one transcendental; gelu (x/2)(1 + erf(x/sqrt 2)) one transcendental, three
mults and one add, or with approximate='tanh' (x/2)(1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))
one transcendental, six mults and two adds; silu x*sigmoid(x) one transcendental and one mult;
softmax over the entry ``dim`` names (PyTorch's dim, the batch at 0; default the last): an exp
per element (transcendental), n - 1 adds and n divisions (mults) per row of n. Dropout is the
identity at inference; flatten reshapes and computes nothing. ``inplace`` (PyTorch's) changes
no count or shape and is accepted where PyTorch has it.

Backward per element (PyTorch's backward kernels; dL/dy is g): relu g masked where its saved
output is <= 0 (one comparison); relu6 (hardtanh) where its input is outside (0, 6) (two);
leakyrelu x > 0 ? g : g*slope (a comparison and a mult); sigmoid g*y*(1 - y) and tanh
g*(1 - y*y) from the saved output (two mults, one add); silu, gelu: see their classes; softmax
y*(g - sum(g*y)) per row; dropout g times the saved mask; flatten reshapes g (nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional, TYPE_CHECKING

from .. import sizes
from .base import ConfigError, Counts, Layer, Opt, ShapeError, to_float, to_index
if TYPE_CHECKING:
    from .training import Backward

INPLACE = Opt("inplace", "flag", False, "Overwrite the input (PyTorch's inplace; counts and shapes do not change).")


def per_element(counts: tuple, n: Any) -> dict:
    """A count dict of n elements from one element's (mults, adds, comparisons, transcendentals):
    a layer's PER_ELEMENT or BACKWARD, also for the activations inside stacks (PixelCNN, WaveNet)."""
    m, a, c, t = counts
    return {"mults": m * n, "adds": a * n, "comparisons": c * n, "transcendentals": t * n}


def softmax_backward(rows: Any, n: Any) -> dict:
    """_softmax_backward_data(g, y) over rows of n: dL/dx = y*(g - sum(g*y)): n mults and n - 1
    adds for the sum, n subtractions, n mults: 2n mults and 2n - 1 adds a row."""
    return {"mults": 2 * rows * n, "adds": rows * (2 * n - 1)}


@dataclass(frozen=True)
class _Elementwise(Layer):
    """Counts per element: (mults, adds, comparisons, transcendentals)."""

    PER_ELEMENT: ClassVar[tuple] = (0, 0, 0, 0)
    #: dL/dx per element from dL/dy: (mults, adds, comparisons, transcendentals)
    BACKWARD: ClassVar[tuple] = (0, 0, 0, 0)
    #: the tensor autograd saves: the layer's "input" or "output" (derivatives.yaml)
    SAVES: ClassVar[str] = "input"
    #: what the in-place variant saves instead of the input: "output", or "copy" of the input
    INPLACE_SAVES: ClassVar[str] = "copy"
    INPUT = "any shape"

    def output_shape(self, shape: tuple) -> tuple:
        return tuple(shape)

    def window_steps(self) -> str:
        return "keep"

    def counts(self, shape: tuple, out: tuple) -> Counts:
        n = sizes.prod(shape)
        m, a, c, t = self.PER_ELEMENT
        return Counts(mults=m * n, adds=a * n, comparisons=c * n, transcendentals=t * n)

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """dL/dx elementwise from dL/dy and the one saved tensor (the input or the output, as
        PyTorch's derivatives.yaml): BACKWARD's counts per element, times the batch's elements."""
        from .training import Backward, Saved  # only a training query imports it
        n = batch * sizes.prod(shape)
        name, tensor = self.saves()
        return Backward(grad_input=per_element(self.BACKWARD, n), saved=(Saved(name, n, tensor=tensor),))

    def saves(self) -> tuple[str, str]:
        """(name, tensor) of the saved tensor. In place (inplace=True), the input is gone once
        the layer has run: relu and leakyrelu then save their output (the same storage),
        relu6 (hardtanh_) and silu_ a copy of the input made before it is overwritten."""
        if getattr(self, "inplace", False) and self.SAVES == "input":
            if self.INPLACE_SAVES == "output":
                return "output", "output"
            return "input (a copy: inplace)", ""
        return self.SAVES, self.SAVES


@dataclass(frozen=True)
class ReLU(_Elementwise, example="--input 64,112,112"):
    """ReLU: max(0, x), one comparison per element."""

    inplace: bool = False

    PER_ELEMENT = (0, 0, 1, 0)
    BACKWARD = (0, 0, 1, 0)  # threshold_backward(g, y, 0): y <= 0 ? 0 : g
    SAVES = "output"
    OPTIONS = (INPLACE,)


@dataclass(frozen=True)
class ReLU6(_Elementwise, example="--input 32,112,112"):
    """ReLU6: min(max(0, x), 6), two comparisons per element."""

    inplace: bool = False

    PER_ELEMENT = (0, 0, 2, 0)
    BACKWARD = (0, 0, 2, 0)  # hardtanh_backward(g, x, 0, 6): x <= 0 || x >= 6 ? 0 : g
    OPTIONS = (INPLACE,)


@dataclass(frozen=True)
class LeakyReLU(_Elementwise, example="--input 64,56,56"):
    """LeakyReLU: a comparison and a mult per element."""

    negative_slope: float = 0.01
    inplace: bool = False

    PER_ELEMENT = (1, 0, 1, 0)
    BACKWARD = (1, 0, 1, 0)  # leaky_relu_backward(g, x): x > 0 ? g : g*slope
    INPLACE_SAVES = "output"  # leaky_relu_ saves its result: leaky_relu_backward(g, y) has the same sign test
    SCALAR = "negative_slope"
    OPTIONS = (Opt("negative_slope", "float", "0.01", "Slope for x < 0 (counts and shapes do not change)."), INPLACE)

    def __post_init__(self) -> None:
        object.__setattr__(self, "negative_slope", to_float(self.negative_slope, "negative_slope"))


class Sigmoid(_Elementwise, example="--input 10"):
    """Sigmoid: one transcendental per element."""

    PER_ELEMENT = (0, 0, 0, 1)
    BACKWARD = (2, 1, 0, 0)  # sigmoid_backward(g, y): g*(1 - y)*y
    SAVES = "output"


class Tanh(_Elementwise, example="--input 10"):
    """Tanh: one transcendental per element."""

    PER_ELEMENT = (0, 0, 0, 1)
    BACKWARD = (2, 1, 0, 0)  # tanh_backward(g, y): g*(1 - y*y)
    SAVES = "output"


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

    @property
    def BACKWARD(self) -> tuple:  # type: ignore[override]
        """gelu_backward(g, x), as PyTorch's kernel. none: cdf = 0.5*(1 + erf(x*sqrt(1/2))) (2 mults,
        an add, erf), pdf = beta*exp(x*x*-0.5) (3 mults, exp), g*(cdf + x*pdf) (2 mults, an add):
        7 mults, 2 adds, 2 transcendentals. tanh: x^2, x^3 = x^2*x, kappa*x^3, beta*(x + .) (4
        mults, an add), tanh; left = 0.5*x, 0.5*(1 + t) (2 mults, an add); 1 - t*t (a mult, an
        add); beta*(1 + 3kappa*x^2) (2 mults, an add; 3kappa a constant); left*(1 - t^2)*(.) (2
        mults); g*(sum) (a mult, an add): 12 mults, 5 adds, 1 transcendental."""
        return (12, 5, 0, 1) if self.approximate == "tanh" else (7, 2, 0, 2)


@dataclass(frozen=True)
class SiLU(_Elementwise, example="--input 64,56,56"):
    """SiLU x*sigmoid(x): a transcendental and a mult per element."""

    inplace: bool = False

    PER_ELEMENT = (1, 0, 0, 1)
    # silu_backward(g, x): s = sigmoid(x); g*s*(1 + x*(1 - s)): 3 mults, 2 adds, a sigmoid
    BACKWARD = (3, 2, 0, 1)
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

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """Training mode: y = x*mask with mask = bernoulli(1 - p)/(1 - p), saved; dL/dx = g*mask,
        one mult per element. On the CPU PyTorch's mask is a tensor of the input's dtype (what
        convcalc counts); CUDA's fused kernel (native_dropout) saves a bool mask instead, 1 byte
        an element. p = 0 returns the input (nothing saved, nothing to do); p = 1 multiplies by a
        zero scalar, which is what is saved."""
        from .training import Backward, Saved  # only a training query imports it
        n = batch * sizes.prod(shape)
        if self.p == 0:
            return Backward()
        mask = 1 if self.p == 1 else n
        return Backward(grad_input={"mults": n}, saved=(Saved("mask", mask),),
                        notes=("dropout: counted in training mode; PyTorch's CPU kernel saves its mask in the input's dtype, "
                               "CUDA's fused kernel a bool mask (1 byte an element)",))


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


def softmax_dim(dim: Optional[int], rank: int) -> int:
    """The input entry a softmax reduces: PyTorch's dim (batch at 0) or, for None, its legacy
    implicit rule on the batched tensor (dim 0 for 0, 1 or 3 dimensions, else 1)."""
    if dim is None:
        dim = 0 if rank + 1 in (0, 1, 3) else 1
    return batch_dim(dim, rank, "dim")


@dataclass(frozen=True)
class _OverDim(_Elementwise):
    """A layer reducing rows along PyTorch's ``dim`` (softmax, logsoftmax): the option, its check, the rows."""

    dim: Optional[int] = -1

    SCALAR = "dim"
    OPTIONS = (Opt("dim", "size", "-1", "Dimension reduced, as PyTorch counts it (batch = 0, -1 the last)."),)

    def __post_init__(self) -> None:
        if self.dim is not None:
            object.__setattr__(self, "dim", to_index(self.dim, "dim"))

    def axis(self, shape: tuple) -> int:
        return softmax_dim(self.dim, len(shape))

    def check_input(self, shape: tuple) -> None:
        self.axis(shape)

    def rows(self, shape: tuple) -> tuple:
        """(rows, n): the number of rows of one sample and each row's length."""
        i = self.axis(shape)
        return sizes.prod(shape[:i] + shape[i + 1 :]), shape[i]


@dataclass(frozen=True)
class Softmax(_OverDim, example="--input 1000"):
    """Softmax over one entry (PyTorch's dim, batch at 0; default the last): exps, n - 1 adds and n divisions per row of n."""

    def counts(self, shape: tuple, out: tuple) -> Counts:
        rows, n = self.rows(shape)
        return Counts(transcendentals=rows * n, adds=rows * (n - 1), mults=rows * n)

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """_softmax_backward_data(g, y) per row of n (``softmax_backward``). Saved: the output. The K x K Jacobian route and the fused softmax + cross-entropy gradient are
        set beside it in the report's Work table (``_report``)."""
        from .training import Backward, Saved  # only a training query imports it
        rows, n = self.rows(shape)
        rows = batch * rows
        return Backward(
            grad_input=softmax_backward(rows, n),
            saved=(Saved("output", rows * n, tensor="output"),),
            notes=("softmax backward: the Jacobian dy/dx of a row of n is n x n, J = diag(y) - y y^T; PyTorch never builds "
                   "it and computes J^T g = y*(g - <g, y>) (2n mults, 2n - 1 adds a row); followed by cross-entropy the "
                   "gradient fuses to (p - p*)/M: see Work",),
        )

    def _report(self, input_shape: Any, batch: Any, dtype: str, training: Any = None) -> Any:
        report = super()._report(input_shape, batch, dtype, training)
        if training is None:
            return report
        from .loss import softmax_routes, with_work

        rows, n = self.rows(report.input_shape)
        return with_work(report, softmax_routes(report.batch * rows, n, from_log=False))


@dataclass(frozen=True)
class Flatten(Layer, example="--input 512,7,7"):
    """Flatten entries start_dim..end_dim into one (torch.nn.Flatten; dims count the batch as 0, so the default 1..-1 flattens everything but the batch)."""

    start_dim: int = 1
    end_dim: int = -1

    INPUT = "any shape"
    SCALAR = "start_dim"
    VIEW = "alias"  # its output is its input's storage (a network counts a tensor saved through it once)
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

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """A view: dL/dx is dL/dy reshaped, nothing computed and nothing saved."""
        from .training import Backward  # only a training query imports it
        return Backward()
