"""Local response normalisation, as torch.nn.LocalResponseNorm (torch.nn.functional.
local_response_norm, built from elementary ops): its conventions are stated with the other
normalisation layers in ``samplenorm``'s docstring. No parameters or buffers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TYPE_CHECKING

from .. import sizes
from ..sizes import Size
from ..errors import ConfigError, ShapeError
from .base import Counts, Layer, Opt, show, to_float
if TYPE_CHECKING:
    from .training import Backward


def pow_cost(e: float) -> tuple:
    """(mults, transcendentals) of x**e per element: a transcendental for a non-integer e; for an
    integer, |e| - 1 mults and a division when negative; nothing for e = 0 (ones)."""
    if e != int(e):
        return 0, 1
    e = int(e)
    return (abs(e) - 1 + (1 if e < 0 else 0), 0) if e else (0, 0)


@dataclass(frozen=True)
class LocalResponseNorm(Layer, example="--input 96,55,55 --size 5"):
    """Local response normalisation across channels (torch.nn.LocalResponseNorm): x / (k + alpha * mean of x^2 over size channels)^beta."""

    size: Size
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0

    INPUT = "C,* (channels first, at least one more entry)"
    SCALAR = "size"
    OPTIONS = (Opt("size", "size", None, "Number of neighbouring channels summed over.", required=True),
               Opt("alpha", "float", "0.0001", "Multiplicative factor (counts do not change)."),
               Opt("beta", "float", "0.75", "Exponent: a transcendental per element unless an integer."),
               Opt("k", "float", "1.0", "Additive factor (counts do not change)."))

    def __post_init__(self) -> None:
        self.normalize(scalars={"size": 1})
        if not sizes.is_int(self.size):
            raise ConfigError(f"must be a number, got {sizes.to_text(self.size)}", option="size")
        for name in ("alpha", "beta", "k"):
            object.__setattr__(self, name, to_float(getattr(self, name), name))

    def window_steps(self) -> str:
        return "keep"

    def check_input(self, shape: tuple) -> None:
        if len(shape) < 2:
            raise ShapeError(f"expects at least 2 entries (C and one more, batch excluded; PyTorch wants 3D or more "
                             f"with the batch), got {len(shape)}: {show(shape)}", option="input")

    def output_shape(self, shape: tuple) -> tuple:
        return tuple(shape)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        n = sizes.prod(shape)
        pm, pt = pow_cost(self.beta)
        # x*x, the average's division, * alpha, the final division; + pow's mults
        return Counts(mults=(4 + pm) * n, adds=(self.size - 1) * n + n, transcendentals=pt * n, connections=self.size * n)

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """Autograd through local_response_norm's ops, E = B*C*R elements (R = prod of the
        entries after C), P = B*(C + size - 1)*R padded squares:
        - x / d (DivBackward0): dL/dx += g/d (E mults); dL/dd = -g*((x/d)/d) (two divisions and
          a mult, the negation not counted: 3E mults);
        - d = u**beta (PowBackward0): g*(beta*u**(beta - 1)): a pow (``pow_cost(beta - 1)``)
          and 2 mults per element; beta = 0 gives zeros (nothing);
        - + k: nothing; * alpha: E mults;
        - the average over size channels (avg_pool2d/3d_backward on the padded squares): a
          division per output (E mults), and each padded element sums the windows that read it:
          E*size taps on P elements, all read, so E*size - P = B*R*(C - 1)*(size - 1) adds;
        - the padding and views: nothing; x*x (MulBackward0): g*x twice (2E mults), summed
          (E adds); and dL/dx from the division and from x*x summed (E adds).
        Saved: the input (x*x saves it twice and x / d once: one storage), the padded squares
        (P), u = k + alpha*avg (E) and d = u**beta (E)."""
        from .training import Backward, Saved  # only a training query imports it
        c, rest = shape[0], sizes.prod(shape[1:])
        e = batch * c * rest
        padded = batch * (c + self.size - 1) * rest
        mults, trans = 4 * e + e + e + 2 * e, 0  # division, * alpha, the average's division, x*x
        if self.beta != 0:
            pm, pt = pow_cost(self.beta - 1)
            mults += (2 + pm) * e
            trans = pt * e
        return Backward(
            grad_input={"mults": mults, "adds": batch * rest * (c - 1) * (self.size - 1) + 2 * e, "transcendentals": trans},
            saved=(Saved("input", e, tensor="input"), Saved("padded squares", padded), Saved("k + alpha*average", e),
                   Saved("divisor", e)),
        )
