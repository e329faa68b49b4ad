"""Power-average pooling (torch.nn.LPPool1d/2d/3d) and fractional max pooling
(torch.nn.FractionalMaxPool2d/3d).

LPPool is, as torch.nn.functional.lp_pool*d writes it, u = x.pow(p); o = avg_pool(u, kernel,
stride, padding 0, ceil_mode); y = (sign(o) * relu(abs(o))).mul(prod kernel).pow(1/p). Counted
op by op (per element; n_in input elements, n_out output elements):
- pow(e): ``lrn.pow_cost(e)``: an integer e costs |e| - 1 mults (and a division when negative),
  e = 0 or 1 nothing (ones, a copy), any other e a transcendental;
- the average pool: AvgPool's counts (taps - 1 adds and one division per output);
- sign: 2 comparisons (x > 0, x < 0); abs: 1 (max(x, -x)); relu: 1; so 4 comparisons an output;
- sign*relu and .mul(prod kernel): 2 mults an output; then pow(1/p).
Backward, through each op (autograd's formulas; g the incoming gradient):
- pow(1/p) (PowBackward0): g*(e*z.pow(e - 1)), e = 1/p: pow_cost(e - 1) and 2 mults an output;
- mul by the kernel size: 1 mult; sign*relu (MulBackward0): g*r and g*s, 2 mults;
- relu (threshold_backward on its saved result): 1 comparison; sign: zeros (nothing);
- abs: g*sgn(o): 2 comparisons and 1 mult; the gradients of o from sign and abs are summed: 1 add;
- the average pool's backward (AvgPool's); pow(p): g*(p*x.pow(p - 1)): pow_cost(p - 1) and 2
  mults an input element.
Saved (one storage each): x (the input), x^p (avg_pool), o (abs), relu's result (relu and the
mul), sign's result (the mul), the mul's result (pow): 2*n_in + 4*n_out elements.
norm_type inf (PyTorch's max pooling of |x|) is refused; 0 is refused as PyTorch refuses it.

FractionalMaxPool: windows of kernel_size at pseudo-random starts (PyTorch draws the samples;
the shapes do not depend on them): output_size, or output_ratio r with output int(L*r) (Python's
float product, as torch.nn.functional does; a symbolic L uses r as the exact decimal fraction).
PyTorch wants output + kernel - 1 <= input in every dimension (< input in 3-D). Every window lies inside the input:
prod(kernel) - 1 comparisons per output. Backward: dL/dy routed to the saved argmax indices
(int64, one per output): the adds depend on the data and the samples; convcalc counts a bound:
consecutive window starts differ by at least floor(j*alpha) over j steps (alpha = (L - k)/(n - 1)),
so a point lies in at most m = min(n, floor(k*(n - 1)/(L - k)) + 2) windows of a dimension and
the argmaxes are at least ceil(n/m) per dimension: at most B*C*(prod n - prod ceil(n/m)) adds.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar, Optional, Tuple, Union, TYPE_CHECKING

from .. import sizes
from ..sizes import SizeArg
from .base import ConfigError, Counts, Layer, Opt, ShapeError, expect_rank, to_float
from .lrn import pow_cost
from .options import CEIL_MODE, KERNEL_SIZE, POOL_STRIDE
if TYPE_CHECKING:
    from .training import Backward

NORM_TYPE = Opt("norm_type", "float", None, "The power p (a float; 1 sums, 2 is the root of the sum of squares).", required=True)


@dataclass(frozen=True)
class _LPPoolNd(Layer):
    norm_type: float
    kernel_size: SizeArg
    stride: SizeArg = None
    ceil_mode: bool = False

    OPTIONS = (NORM_TYPE, KERNEL_SIZE, POOL_STRIDE, CEIL_MODE)

    def __post_init__(self) -> None:
        p = self.norm_type
        if isinstance(p, str) and p.strip().lower() in ("inf", "-inf", "infinity", "-infinity"):
            raise ConfigError("inf (PyTorch's max pooling of |x|) is not counted here: use maxpool", option="norm_type")
        p = to_float(p, "norm_type")
        if p == 0:
            raise ConfigError("must not be 0 (PyTorch divides by it: 1/norm_type)", option="norm_type")
        object.__setattr__(self, "norm_type", p)
        if self.stride is None:
            object.__setattr__(self, "stride", self.kernel_size)
        self.normalize(spatial={"kernel_size": 1, "stride": 1})

    def average(self) -> Layer:
        """The average pool inside (padding 0, count_include_pad, ceil_mode as given)."""
        from . import pool

        cls = (pool.AvgPool1d, pool.AvgPool2d, pool.AvgPool3d)[self.NDIM - 1]
        return cls(self.kernel_size, self.stride, 0, ceil_mode=self.ceil_mode)

    def check_input(self, shape: tuple) -> None:
        self.average().check_input(shape)

    def window_steps(self) -> tuple:
        return self.average().window_steps()

    def size_maps(self) -> tuple:
        return self.average().size_maps()

    def output_shape(self, shape: tuple) -> tuple:
        return self.average().output_shape(shape)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        c = self.average().counts(shape, out)
        n_in, n_out = sizes.prod(shape), sizes.prod(out)
        m_in, t_in = pow_cost(self.norm_type)
        m_out, t_out = pow_cost(1.0 / self.norm_type)
        c.mults = c.mults + m_in * n_in + (2 + m_out) * n_out
        c.comparisons = 4 * n_out
        c.transcendentals = t_in * n_in + t_out * n_out
        return c

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """Back through each op of lp_pool (see the module docstring), for the whole batch: per
        output pow(1/p)'s g*(e*z^(e-1)) (pow_cost(1/p - 1) + 2 mults), the kernel-size mul (1),
        sign*relu (2 mults), relu (1 comparison), abs (2 comparisons, 1 mult), the two gradients
        of o summed (1 add); the average pool's backward; per input element pow(p)'s
        g*(p*x^(p-1)) (pow_cost(p - 1) + 2 mults). Saved: x, x^p, o, relu(|o|), sign(o) and the
        scaled product."""
        from .training import Backward, Saved  # only a training query imports it
        n_in, n_out = batch * sizes.prod(shape), batch * sizes.prod(out)
        p = self.norm_type
        m_root, t_root = pow_cost(1.0 / p - 1)
        m_pow, t_pow = pow_cost(p - 1)
        avg = self.average().backward(shape, out, batch).grad_input
        grad = {"mults": (m_root + 6) * n_out + avg["mults"] + (m_pow + 2) * n_in,
                "adds": None if avg["adds"] is None else n_out + avg["adds"],
                "comparisons": 3 * n_out,
                "transcendentals": t_root * n_out + t_pow * n_in}
        return Backward(
            grad_input=grad,
            saved=(Saved("input", n_in, tensor="input"), Saved("x^p", n_in), Saved("average", n_out),
                   Saved("relu(|average|)", n_out), Saved("sign(average)", n_out), Saved("scaled product", n_out)),
        )


class LPPool1d(_LPPoolNd, ndim=1, example="--input 16,100 --norm-type 2 --kernel-size 3 --stride 2"):
    """1-D power-average pooling (torch.nn.LPPool1d): (sum of x^p over the window)^(1/p)."""


class LPPool2d(_LPPoolNd, ndim=2, example="--input 64,56,56 --norm-type 2 --kernel-size 2"):
    """2-D power-average pooling (torch.nn.LPPool2d): (sum of x^p over the window)^(1/p)."""


class LPPool3d(_LPPoolNd, ndim=3, example="--input 8,16,32,32 --norm-type 3 --kernel-size 2"):
    """3-D power-average pooling (torch.nn.LPPool3d): (sum of x^p over the window)^(1/p)."""


class _Ratios(Opt):
    """output_ratio: one float or one per dimension, each read by float() (never evaluated)."""

    def parse(self, raw: Any) -> Any:
        if isinstance(raw, str):
            parts = [p for p in raw.split(",")]
            values = tuple(to_float(p, self.name) for p in parts)
            return values[0] if len(values) == 1 else values
        return raw


OUTPUT_RATIO = _Ratios("output_ratio", "float", None, "Output size as a fraction of the input (0 < r < 1): one or one per dimension.")
FRACTIONAL_SIZE = Opt("output_size", "sizes", None, "Target output size: one value or one per dimension.")
RETURN_INDICES = Opt("return_indices", "flag", False, "Also return the argmax indices (PyTorch's; counts do not change).")
FRACTIONAL_NOTE = ("fractional max pooling backward: adds bounded over every placement of the random windows "
                   "(at most m windows of a dimension share a point)")


@dataclass(frozen=True)
class _FractionalMaxPoolNd(Layer):
    kernel_size: SizeArg
    output_size: Optional[SizeArg] = None
    output_ratio: Union[float, Tuple[float, ...], None] = None
    return_indices: bool = False

    OPTIONS = (KERNEL_SIZE, FRACTIONAL_SIZE, OUTPUT_RATIO, RETURN_INDICES)
    MAX: ClassVar[bool] = True

    def __post_init__(self) -> None:
        name = type(self).__name__
        if self.output_size is None and self.output_ratio is None:
            raise ConfigError(f"{name} requires specifying either an output size, or a pooling ratio (PyTorch's rule)",
                              option="output_size")
        if self.output_size is not None and self.output_ratio is not None:
            raise ConfigError("only one of output_size and output_ratio may be specified (PyTorch's rule)", option="output_ratio")
        self.normalize(spatial={"kernel_size": 1})
        if self.output_size is not None:
            self.normalize(spatial={"output_size": 1})
        else:
            r = self.output_ratio
            values = tuple(r) if isinstance(r, (tuple, list)) else (r,)
            if len(values) not in (1, self.NDIM):
                raise ConfigError(f"expected 1 or {self.NDIM} values, got {len(values)}", option="output_ratio")
            values = tuple(to_float(v, "output_ratio") for v in values) * (self.NDIM if len(values) == 1 else 1)
            for v in values:
                if not 0 < v < 1:
                    raise ConfigError(f"must be between 0 and 1 (got {v:g}), as PyTorch requires", option="output_ratio")
            object.__setattr__(self, "output_ratio", values)

    def targets(self, shape: tuple) -> tuple:
        """The output size per spatial dimension: output_size, or int(L*r) (Python's float product
        for a number; the decimal fraction of r for a symbolic L)."""
        if self.output_size is not None:
            return tuple(self.output_size)
        out = []
        for L, r in zip(shape[1:], self.output_ratio):
            if sizes.is_int(L):
                out.append(int(L * r))
            else:
                f = Fraction(repr(r))
                out.append(sizes.normalize(L * f.numerator // f.denominator))
        return tuple(out)

    def check_input(self, shape: tuple) -> None:
        expect_rank(self, shape, self.NDIM + 1)
        words = ("time", "height", "width")[3 - self.NDIM:]
        strict = int(self.NDIM == 3)  # PyTorch's 3-D kernel wants output + kernel - 1 < input, the 2-D one <=
        for word, L, n, k in zip(words, shape[1:], self.targets(shape), self.kernel_size):
            if sizes.is_known_lt(L, n + k - 1 + strict):
                raise ShapeError(f"pool {word} {sizes.to_text(k)} too large relative to input {word} {sizes.to_text(L)} "
                                 f"(output {sizes.to_text(n)} + kernel - 1 must be {'below' if strict else 'at most'} the "
                                 f"input, PyTorch's rule)", option="kernel_size")

    def output_shape(self, shape: tuple) -> tuple:
        return (shape[0],) + self.targets(shape)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        taps = sizes.prod(self.kernel_size)
        outputs = sizes.prod(out)
        return Counts(comparisons=outputs * (taps - 1), connections=outputs * taps)

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """fractional_max_pool*d_backward: dL/dx[i] = the sum of dL/dy[o] over the windows whose
        argmax (the saved int64 indices) is i: no mults, r - 1 adds where r windows share an
        argmax. Window starts of a dimension satisfy s_j - s_i >= floor((j - i)*alpha), alpha =
        (L - k)/(n - 1), so a point is in at most m = min(n, floor(k*(n - 1)/(L - k)) + 2)
        windows and a dimension needs at least ceil(n/m) argmaxes: at most
        B*C*(prod n - prod ceil(n/m)) adds, whatever the random samples. Saved: the input and
        the indices (one per output)."""
        from .training import Backward, Saved  # only a training query imports it
        channels = batch * shape[0]
        outputs = sizes.prod(out[1:])
        least = []
        for L, n, k in zip(shape[1:], out[1:], self.kernel_size):
            m = sizes.smin(n, (k * (n - 1)) // sizes.smax(1, L - k) + 2)
            least.append(sizes.ceil_div(n, m))
        return Backward(
            grad_input={"adds": channels * (outputs - sizes.prod(least))},
            saved=(Saved("input", channels * sizes.prod(shape[1:]), tensor="input"),
                   Saved("indices", channels * outputs, dtype="int64")),
            notes=(FRACTIONAL_NOTE,),
        )


class FractionalMaxPool2d(_FractionalMaxPoolNd, ndim=2, example="--input 64,32,32 --kernel-size 3 --output-ratio 0.5"):
    """2-D fractional max pooling at pseudo-random window starts (torch.nn.FractionalMaxPool2d)."""


class FractionalMaxPool3d(_FractionalMaxPoolNd, ndim=3, example="--input 8,16,32,32 --kernel-size 2 --output-size 8,16,16"):
    """3-D fractional max pooling at pseudo-random window starts (torch.nn.FractionalMaxPool3d)."""
