"""Activations of issue 12: torch.nn.Hardswish, Hardsigmoid, Hardtanh, Mish, ELU, SELU, CELU,
Softplus, PReLU, GLU, LogSoftmax, Softmax2d and Identity.

Counted per element as PyTorch's CPU kernels compute them (aten/src/ATen/native/cpu/
Activation.cpp), with the conventions of ``elementwise``: divisions count as mults; exp, expm1,
log1p, tanh and sigmoid (1/(1 + exp(-x)), one transcendental as for silu) are transcendentals;
each comparison of a clamp or a branch is a comparison; a negation is not counted. Where the
kernel branches (x < 0 ? ... : ...), an element is counted with the comparison and the dearer
branch, which every element may take (the vectorised kernel computes both branches of a vector
that holds a negative value). Multiplications by the kernel's coefficients are counted as the
kernel does them, also when a coefficient is 1 (ELU's scale and input_scale: one kernel serves
ELU, SELU and CELU).

Forward per element (mults, adds, comparisons, transcendentals):
- hardswish x*min(max(x + 3, 0), 6)/6: (2, 1, 2, 0); hardsigmoid min(max(x + 3, 0), 6)/6:
  (1, 1, 2, 0); hardtanh clamp(x, min_val, max_val): (0, 0, 2, 0);
- mish x*tanh(log1p(exp(x))): (1, 0, 0, 3);
- elu, selu, celu (the elu kernel: x <= 0 ? expm1(x*input_scale)*alpha*scale : x*scale):
  (2, 0, 1, 1);
- softplus x*beta > threshold ? x : log1p(exp(x*beta))/beta: (2, 0, 1, 2) (x*beta computed once,
  as in its backward);
- prelu x > 0 ? x : weight*x: (1, 0, 1, 0);
- glu a*sigmoid(b) over the two halves of ``dim``, per output element: (1, 0, 0, 1);
- logsoftmax over a row of n (with softmax's convention, no max subtracted) x - log(sum exp x):
  n exps and a log, n - 1 adds and n subtractions; softmax2d is softmax over the channels of
  C,H,W (PyTorch takes 3-D or 4-D tensors and reduces dim -3; with the batch that is C,H,W,
  while an H,W input would reduce over the batch: refused);
- identity: nothing.
The backward of each is in its ``backward``. No layer here computes a matrix product:
FlopCounterMode counts 0, and so do macs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, TYPE_CHECKING

from .. import sizes
from ..sizes import Size
from .base import ConfigError, Counts, Layer, Opt, ShapeError, expect_rank, to_float, to_index
from .elementwise import INPLACE, _Elementwise, _OverDim, batch_dim, per_element, softmax_backward
if TYPE_CHECKING:
    from .training import Backward


@dataclass(frozen=True)
class Hardswish(_Elementwise, example="--input 16,112,112"):
    """Hardswish x*relu6(x + 3)/6 (MobileNetV3): an add, two comparisons and two mults per element."""

    inplace: bool = False

    PER_ELEMENT = (2, 1, 2, 0)
    BACKWARD = (2, 1, 2, 0)
    OPTIONS = (INPLACE,)

    # backward, hardswish_backward(g, x): x <= -3 ? 0 : x < 3 ? g*(x/3 + 0.5) : g: two comparisons, x/3 (a mult), +
    # 0.5 (an add), g*(.) (a mult) per element. Saved: the input; in place (hardswish_) a copy of it, as
    # autograd clones an input the op overwrites.


@dataclass(frozen=True)
class Hardsigmoid(_Elementwise, example="--input 16,1,1"):
    """Hardsigmoid relu6(x + 3)/6 (MobileNetV3's gates): an add, two comparisons and a mult per element."""

    inplace: bool = False

    PER_ELEMENT = (1, 1, 2, 0)
    BACKWARD = (1, 0, 2, 0)
    OPTIONS = (INPLACE,)

    # backward, hardsigmoid_backward(g, x): -3 < x < 3 ? g/6 : 0: two comparisons and a mult per element. Saved: the
    # input; in place a copy of it.


@dataclass(frozen=True)
class Hardtanh(_Elementwise, example="--input 64,56,56 --min-val -1 --max-val 1"):
    """Hardtanh clamp(x, min_val, max_val): two comparisons per element."""

    min_val: float = -1.0
    max_val: float = 1.0
    inplace: bool = False

    PER_ELEMENT = (0, 0, 2, 0)
    BACKWARD = (0, 0, 2, 0)
    OPTIONS = (Opt("min_val", "float", "-1.0", "Lower end of the linear region."),
               Opt("max_val", "float", "1.0", "Upper end of the linear region (greater than min_val)."), INPLACE)

    def __post_init__(self) -> None:
        object.__setattr__(self, "min_val", to_float(self.min_val, "min_val"))
        object.__setattr__(self, "max_val", to_float(self.max_val, "max_val"))
        if self.max_val <= self.min_val:
            raise ConfigError(f"max_val ({self.max_val:g}) must be greater than min_val ({self.min_val:g}) (as in PyTorch)",
                              option="max_val")

    # backward, hardtanh_backward(g, x): x <= min_val || x >= max_val ? 0 : g: two comparisons per element. Saved:
    # the input; in place (hardtanh_) a copy of it.


@dataclass(frozen=True)
class Mish(_Elementwise, example="--input 64,56,56"):
    """Mish x*tanh(softplus(x)): three transcendentals (exp, log1p, tanh) and a mult per element."""

    inplace: bool = False

    PER_ELEMENT = (1, 0, 0, 3)
    BACKWARD = (4, 2, 0, 4)
    OPTIONS = (INPLACE,)

    # backward, mish_backward(g, x): s = sigmoid(x) (a transcendental), t = tanh(log1p(exp(x))) (three), g*(t +
    # x*s*(1 - t*t)): t*t, x*s, *(1 - .), g*(.) (4 mults), 1 - t*t and t + . (2 adds). Saved: the input;
    # in place a copy of it.


ALPHA = Opt("alpha", "float", "1.0", "Scale of the negative branch alpha*(exp(x) - 1).")


@dataclass(frozen=True)
class _EluKernel(_Elementwise):
    """ELU, SELU and CELU: PyTorch's elu kernel with (alpha, scale, input_scale)."""

    PER_ELEMENT = (2, 0, 1, 1)
    INPLACE_SAVES = "output"  # elu_ and celu_ save their result (derivatives.yaml: is_result)

    @property
    def BACKWARD(self) -> tuple:  # type: ignore[override]
        # input: g*input_scale*alpha*scale*exp(x*input_scale) (4 mults, exp); result: g*input_scale*(y + alpha*scale)
        return (2, 1, 1, 0) if getattr(self, "inplace", False) else (4, 0, 1, 1)

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """elu_backward(g, alpha, scale, input_scale, is_result, x or y), PyTorch's CPU kernel,
        per element: from the input (out of place) x <= 0 ? g*input_scale*(alpha*scale)*
        exp(x*input_scale) : g*scale: a comparison, 4 mults and an exp; from the result (in
        place, since the input is overwritten) y <= 0 ? g*input_scale*(y + alpha*scale) : g*scale:
        a comparison, 2 mults and an add. PyTorch refuses the in-place backward with a negative
        alpha, and so does convcalc. Saved: the input, or in place the output."""
        if getattr(self, "inplace", False) and getattr(self, "alpha", 1.0) < 0:
            raise ConfigError("in-place backward with a negative alpha is not supported by PyTorch "
                              "(call the out-of-place version)", option="alpha")
        return super().backward(shape, out, batch)


@dataclass(frozen=True)
class ELU(_EluKernel, example="--input 64,56,56"):
    """ELU x > 0 ? x : alpha*(exp(x) - 1): a comparison, an expm1 and two mults per element."""

    alpha: float = 1.0
    inplace: bool = False

    SCALAR = "alpha"
    OPTIONS = (ALPHA, INPLACE)

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha", to_float(self.alpha, "alpha"))

    # backward, elu_backward with scale = input_scale = 1 (see ``_EluKernel.backward``).


@dataclass(frozen=True)
class SELU(_EluKernel, example="--input 64,56,56"):
    """SELU scale*(x > 0 ? x : alpha*(exp(x) - 1)) with PyTorch's fixed alpha and scale: a comparison, an expm1 and two mults per element."""

    inplace: bool = False

    OPTIONS = (INPLACE,)

    # backward, elu_backward with alpha = 1.6732632423543772, scale = 1.0507009873554805 and input_scale = 1 (see
    # ``_EluKernel.backward``).


@dataclass(frozen=True)
class CELU(_EluKernel, example="--input 64,56,56 --alpha 1.0"):
    """CELU max(0, x) + min(0, alpha*(exp(x/alpha) - 1)): a comparison, an expm1 and two mults per element."""

    alpha: float = 1.0
    inplace: bool = False

    SCALAR = "alpha"
    OPTIONS = (Opt("alpha", "float", "1.0", "The alpha of alpha*(exp(x/alpha) - 1), not 0."), INPLACE)

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha", to_float(self.alpha, "alpha"))
        if self.alpha == 0:
            raise ConfigError("alpha cannot be 0 for CELU (as in PyTorch)", option="alpha")

    # backward, elu_backward with scale = 1 and input_scale = 1/alpha (see ``_EluKernel.backward``).


@dataclass(frozen=True)
class Softplus(_Elementwise, example="--input 64,56,56"):
    """Softplus log(1 + exp(beta*x))/beta, linear above threshold: two transcendentals, two mults and a comparison per element."""

    beta: float = 1.0
    threshold: float = 20.0

    PER_ELEMENT = (2, 0, 1, 2)
    BACKWARD = (3, 1, 1, 1)
    SCALAR = "beta"
    OPTIONS = (Opt("beta", "float", "1.0", "The beta of log(1 + exp(beta*x))/beta."),
               Opt("threshold", "float", "20.0", "Above beta*x > threshold the layer is the identity."))

    def __post_init__(self) -> None:
        object.__setattr__(self, "beta", to_float(self.beta, "beta"))
        object.__setattr__(self, "threshold", to_float(self.threshold, "threshold"))

    # backward, softplus_backward(g, x, beta, threshold): z = exp(x*beta) (a mult, an exp), x*beta > threshold ? g :
    # g*z/(z + 1) (a comparison, 2 mults, an add) per element. Saved: the input.


@dataclass(frozen=True)
class PReLU(Layer, example="--input 64,56,56 --num-parameters 64"):
    """PReLU x > 0 ? x : weight*x with a learnable weight, one or one per channel: a comparison and a mult per element."""

    num_parameters: Size = 1
    init: float = 0.25

    INPUT = "C or C,* (channels first)"
    SCALAR = "num_parameters"
    OPTIONS = (Opt("num_parameters", "size", "1", "Number of weights: 1, or the channels C (the input's first entry)."),
               Opt("init", "float", "0.25", "Initial value of the weights (counts do not change)."))

    def __post_init__(self) -> None:
        self.normalize(scalars={"num_parameters": 1})
        object.__setattr__(self, "init", to_float(self.init, "init"))

    def window_steps(self) -> str:
        return "keep"

    def check_input(self, shape: tuple) -> None:
        p = self.num_parameters
        if sizes.compare(p, 1) != 0 and sizes.compare(p, shape[0]) not in (0, None):
            raise ShapeError(f"mismatch of parameter numbers and input channel size: num_parameters is "
                             f"{sizes.to_text(p)} but the input has {sizes.to_text(shape[0])} channels (PyTorch "
                             "accepts 1 or the channels)", option="num_parameters")

    def output_shape(self, shape: tuple) -> tuple:
        return tuple(shape)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        n, p = sizes.prod(shape), self.num_parameters
        open_ = sizes.compare(p, 1) is None and sizes.compare(p, shape[0]) is None
        notes = (f"prelu: assumes num_parameters {sizes.to_text(p)} is 1 or the channels {sizes.to_text(shape[0])} "
                 "(PyTorch refuses otherwise)",) if open_ else ()
        return Counts(weights=p, mults=n, comparisons=n, notes=notes)

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """_prelu_kernel_backward(g, x, w), PyTorch's CPU kernel, per element of the N =
        B*prod(shape) of the batch: mask = x > 0 (a comparison, which both gradients need:
        shared); dL/dx = mask ? g : w*g (a mult); the weight's gradient per element mask ? 0 :
        x*g (a mult), then summed to the weight's shape by autograd (sum_to): each of the P =
        num_parameters weights sums N/P elements, N - P adds. The kernel computes both outputs
        in one pass whichever is wanted; convcalc counts each with its gradient. Saved: the
        input and the weight (a parameter, not counted)."""
        from .training import Backward, Saved  # only a training query imports it
        n = batch * sizes.prod(shape)
        p = self.num_parameters
        return Backward(grad_input={"mults": n}, grad_weight={"mults": n, "adds": n - p}, shared={"comparisons": n},
                        saved=(Saved("input", n, tensor="input"),), params={"weight": (p,)})


def _even(n: Any) -> Optional[bool]:
    """Whether n is even: True, False, or None while symbols leave it open."""
    if sizes.is_int(n):
        return n % 2 == 0
    rest = sizes.known_int(sizes.normalize(n - 2 * (n // 2)))
    return None if rest is None else rest == 0


@dataclass(frozen=True)
class GLU(Layer, example="--input 64,28,28 --dim 1"):
    """GLU a*sigmoid(b) where a and b are the two halves of dim (PyTorch's dim, batch at 0; default the last): a sigmoid and a mult per output element."""

    dim: int = -1

    INPUT = "any shape, dim of even size"
    SCALAR = "dim"
    OPTIONS = (Opt("dim", "size", "-1", "Dimension halved, as PyTorch counts it (batch = 0, -1 the last)."),)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dim", to_index(self.dim, "dim"))

    def axis(self, shape: tuple) -> int:
        return batch_dim(self.dim, len(shape), "dim")

    def check_input(self, shape: tuple) -> None:
        i = self.axis(shape)
        if _even(shape[i]) is False:
            raise ShapeError(f"halving dimension must be even, but dimension {self.dim} is size {sizes.to_text(shape[i])} "
                             "(as in PyTorch)", option="input")

    def output_shape(self, shape: tuple) -> tuple:
        i = self.axis(shape)
        return tuple(shape[:i]) + (sizes.exact_div(shape[i], 2),) + tuple(shape[i + 1:])

    def counts(self, shape: tuple, out: tuple) -> Counts:
        m = sizes.prod(out)
        notes = ()
        i = self.axis(shape)
        if _even(shape[i]) is None:
            notes = (f"glu: assumes {sizes.to_text(shape[i])} is even (PyTorch refuses an odd size)",)
        return Counts(mults=m, transcendentals=m, notes=notes)

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """glu_backward(g, x, dim), PyTorch's CPU kernel, per output element (M = B*prod(out) of
        them, x = (a, b)): s = sigmoid(b) into dL/da's storage (a transcendental); dL/db =
        (1 - s)*s*a*g (an add, 3 mults); dL/da = s*g (a mult): 4 mults, an add, a transcendental.
        Saved: the input (2M elements)."""
        from .training import Backward, Saved  # only a training query imports it
        m = batch * sizes.prod(out)
        return Backward(grad_input=per_element((4, 1, 0, 1), m), saved=(Saved("input", 2 * m, tensor="input"),))


@dataclass(frozen=True)
class LogSoftmax(_OverDim, example="--input 1000"):
    """LogSoftmax x - log(sum(exp x)) over one entry (PyTorch's dim, batch at 0; default the last): n exps and a log, 2n - 1 adds per row of n."""

    def counts(self, shape: tuple, out: tuple) -> Counts:
        rows, n = self.rows(shape)
        return Counts(transcendentals=rows * (n + 1), adds=rows * (2 * n - 1))

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """_log_softmax_backward_data(g, y) per row of n: dL/dx = g - exp(y)*sum(g): n - 1 adds
        for the sum, n exps, n mults, n subtractions: n mults, 2n - 1 adds and n transcendentals
        a row. Saved: the output."""
        from .training import Backward, Saved  # only a training query imports it
        rows, n = self.rows(shape)
        rows = batch * rows
        return Backward(grad_input={"mults": rows * n, "adds": rows * (2 * n - 1), "transcendentals": rows * n},
                        saved=(Saved("output", rows * n, tensor="output"),))


class Softmax2d(_Elementwise, example="--input 21,64,64"):
    """Softmax over the channels of C,H,W at every position (torch.nn.Softmax2d): exps, C - 1 adds and C divisions per position."""

    INPUT = "C,H,W"

    def check_input(self, shape: tuple) -> None:
        # PyTorch takes 3-D or 4-D tensors and reduces dim -3; batched (--input excludes the
        # batch) that is C,H,W: an H,W input would make PyTorch reduce over the batch
        expect_rank(self, shape, 3)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        rows, n = sizes.prod(shape[1:]), shape[0]
        return Counts(transcendentals=rows * n, adds=rows * (n - 1), mults=rows * n)

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """softmax's backward over the channels, _softmax_backward_data(g, y) per position of C
        (``softmax_backward``: 2C mults, 2C - 1 adds). Saved: the output."""
        from .training import Backward, Saved  # only a training query imports it
        rows = batch * sizes.prod(shape[1:])
        return Backward(grad_input=softmax_backward(rows, shape[0]), saved=(Saved("output", rows * shape[0], tensor="output"),))


class Identity(_Elementwise, example="--input 512,7,7"):
    """Identity: returns its input (torch.nn.Identity, a placeholder; convcalc takes no arguments, PyTorch ignores any): nothing counted, nothing saved."""

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """The same tensor comes back: dL/dx is dL/dy, nothing computed and nothing saved."""
        from .training import Backward  # only a training query imports it
        return Backward()
