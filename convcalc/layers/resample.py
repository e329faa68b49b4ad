"""Resampling: upsample (torch.nn.Upsample) and interpolate (torch.nn.functional.interpolate as a
layer), modes nearest, nearest-exact, linear, bilinear, bicubic and trilinear, with PyTorch's
semantics.

Input C,L (linear), C,H,W (bilinear, bicubic) or C,D,H,W (trilinear); nearest and nearest-exact
take any of the three. A mode on an input of another rank is refused, as PyTorch refuses it.

Output size, as PyTorch computes it: ``size``, or per dimension trunc(double(L) * scale_factor)
(C++'s compute_output_size, and Python's int(L * s) with recompute_scale_factor; the same for a
positive product); an output size below 1 is refused. With a symbolic L an integer scale factor s
gives s*L; a non-integer one gives floor(L*p/q), p/q the exact rational of the decimal as written
(the shortest repr of the float: 1.5 -> 3/2, 0.1 -> 1/10), not the float's binary value: PyTorch
multiplies in double, and a product that double rounding lifts to an integer (10*0.7 is
6.9999999999999996 with the float 0.7's exact value, 7.0 in double, and PyTorch's size is 7)
agrees with the decimal (7/10). Where double rounding and the decimal disagree, substituting a
number into the symbolic size can differ from PyTorch by one; numeric inputs always follow
PyTorch's double product.

Counting per output element (per channel and sample), as PyTorch's CPU kernel for contiguous
(N, C, ...) tensors computes it (upsample_generic_Nd_kernel_impl; its per-dimension index and
weight tables are computed once per call, not per element, and are not counted, like the index
arithmetic of convolutions and pooling):
- nearest, nearest-exact: a copy, nothing counted; one tap (connection) per output element.
- linear family, k = 2 taps per dimension (d = 1 linear, 2 bilinear, 3 trilinear), and bicubic,
  k = 4 (its 4 weights per output row and per output column come from the table, border taps
  clamped to the edge are still computed): the separable evaluation of Interpolate<d>: the
  innermost dimension multiplies k values by k weights and sums them (k mults, k - 1 adds); each
  outer dimension multiplies k such partial sums by its k weights and sums them. Per element:
  mults k + k^2 + ... + k^d (linear 2, bilinear 6, trilinear 14, bicubic 20), adds k^d - 1
  (1, 3, 7, 15); connections (taps) k^d. PyTorch's bilinear switches to a channels-last kernel
  when H_out + W_out <= 128 (or with one thread and 3 channels), which computes 4 weight products
  per output position and 4 mults and 3 adds per element; convcalc counts the generic kernel
  throughout, so that counts do not jump with the size.

Backward (whole batch; PyTorch's upsample_*_backward kernels, grad_input zeroed then += per tap):
nearest adds each dL/dy into the input element it was copied from; linear family: per output
element and tap, grad_input[tap] += l_1 * ... * l_d * g (d mults: the d - 1 products of the
per-dimension weights and the product with g); bicubic: += g * wy * wx (2 mults per tap). An
input element reached by n terms costs n - 1 adds: adds = B*C*(taps*prod(out) - prod(r)), r_d the
input positions of dimension d that some tap reaches (a tap clamped to the border reaches the
edge again). r is enumerated with PyTorch's float32 source-index formulas (nearest_idx,
nearest_exact_idx, compute_source_index_and_lambda, the cubic floor) for numeric outputs of up to
ENUMERATE positions; otherwise (larger or symbolic sizes) it is the whole input when the output
is an integer multiple of it (integer scale factors), else unknown (adds reported as unknown). Autograd saves no tensor (only the sizes and
scales): nothing is saved.

antialias=True (interpolate) is refused: its filter's taps and normalisation depend on the scale
and convcalc does not count them. Modes 'area' (F.interpolate runs adaptive average pooling) and
'lanczos' are refused with a pointer.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Tuple, TYPE_CHECKING, Union

from .. import sizes
from ..sizes import Size
from .base import ConfigError, Counts, Layer, Opt, ShapeError, show, to_float, to_value
from .values import _short
if TYPE_CHECKING:
    from .training import Backward

NEAREST = ("nearest", "nearest-exact")
#: interpolating mode -> spatial dimensions it needs
NEEDS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
MODES = NEAREST + tuple(NEEDS)
LAYOUT = {1: "C,L", 2: "C,H,W", 3: "C,D,H,W"}


class _ValuesOpt(Opt):
    """An option that is one value for every spatial dimension or one per dimension, kept apart
    as PyTorch keeps them (a list must have one entry per dimension): ``scales`` reads numbers
    (scale_factor; text is read here, the constructor takes numbers only), ``ints`` sizes (size);
    ``none`` is None."""

    def parse(self, raw: Any) -> Any:
        if not isinstance(raw, str):
            return raw
        text = raw.strip()
        if text.lower() == "none":
            return None
        parts = [p for p in text.replace("x", ",").split(",")] if self.kind == "ints" else text.split(",")
        if self.kind == "scales":
            values = tuple(to_float(p, self.name) for p in parts)
        else:
            values = tuple(to_value(p.strip(), self.name) for p in parts)
        return values if len(parts) > 1 else values[0]


class _TriOpt(Opt):
    """true, false or none (PyTorch's Optional[bool] arguments)."""

    def parse(self, raw: Any) -> Any:
        if not isinstance(raw, str):
            return raw
        word = raw.strip().lower()
        table = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False, "none": None}
        if word not in table:
            raise ConfigError(f"{_short(raw)} is not one of true, false, none", option=self.name)
        return table[word]


SIZE = _ValuesOpt("size", "ints", None, "Output size: one value for every spatial dimension or one per dimension (56 or 28,56).")
SCALE_FACTOR = _ValuesOpt("scale_factor", "scales", None, "Multiplier of the spatial size: one number for every dimension or one per dimension (2 or 1.5,2).")
MODE = Opt("mode", "choice", "nearest", "The interpolation: linear needs C,L, bilinear and bicubic C,H,W, trilinear C,D,H,W.", choices=MODES)
ALIGN_CORNERS = _TriOpt("align_corners", "bool_or_none", None, "true/false: align the corner pixels (interpolating modes only; none = false).")
RECOMPUTE = _TriOpt("recompute_scale_factor", "bool_or_none", None, "true: the kernel uses L/out instead of 1/scale_factor (the output size is the same).")
ANTIALIAS = Opt("antialias", "flag", False, "Anti-aliasing (PyTorch's bilinear/bicubic option; refused: convcalc does not count it).")


def _optional_bool(value: Any, what: str) -> Any:
    if value is not None and not isinstance(value, bool):
        raise ConfigError(f"expected True, False or None, got {_short(value)}", option=what)
    return value


def _f32(x: float) -> float:
    """x rounded to float32 (PyTorch's float index arithmetic)."""
    return struct.unpack("f", struct.pack("f", x))[0]


def _scale_value(scale: float | None, L: int, n: int) -> float:
    """compute_scales_value<float>: 1/scale when given and positive, else L/n."""
    return _f32(1.0 / scale) if scale is not None and scale > 0 else _f32(_f32(L) / _f32(n))


def source_taps(mode: str, L: int, n: int, o: int, align_corners: bool, scale: float | None) -> tuple:
    """The input positions (of one dimension of size L) that output position o of n reads, as
    PyTorch's CPU kernels find them (float32 arithmetic); for the brute force and for r."""
    if mode in NEAREST:
        if mode == "nearest":
            if n == L:
                return (o,)
            if n == 2 * L:
                return (o >> 1,)
            return (min(math.floor(_f32(_f32(o) * _scale_value(scale, L, n))), L - 1),)
        return (min(math.floor(_f32((o + 0.5) * _scale_value(scale, L, n))), L - 1),)
    if align_corners:
        ratio = _f32(_f32(L - 1) / _f32(n - 1)) if n > 1 else 0.0
    else:
        ratio = _scale_value(scale, L, n)
    if align_corners:
        real = _f32(ratio * o)
    else:
        real = _f32(_f32(ratio * _f32(o + 0.5)) - 0.5)
    if mode == "bicubic":
        first = math.floor(real)
        return tuple(min(max(first - 1 + i, 0), L - 1) for i in range(4))
    if n == L:
        return (o, o)
    real = max(real, 0.0)
    i0 = min(math.floor(real), L - 1)
    return (i0, i0 + (1 if i0 < L - 1 else 0))


#: the most output positions of one dimension whose taps are enumerated (a backward query stays fast)
ENUMERATE = 100_000


def reached(mode: str, L: Any, n: Any, align_corners: bool, scale: float | None) -> Any:
    """r: how many input positions of one dimension some tap reaches: enumerated for numeric
    sizes up to ENUMERATE outputs; else L when the output is an integer multiple of the input
    (every position is read: steps of at most one, first and last reached); else None."""
    if sizes.all_int(L, n):
        if n <= ENUMERATE:
            hit: set = set()
            for o in range(n):
                hit.update(source_taps(mode, L, n, o, align_corners, scale))
            return len(hit)
        return L if n % L == 0 else None
    ratio = sizes.normalize(sizes.as_expr(n) / sizes.as_expr(L))
    if sizes.known_int(ratio) is not None and ratio >= 1:
        return L  # an integer multiple: every input position is read
    return None


def _rational(s: float) -> tuple[int, int]:
    """p/q of the decimal as written (the float's shortest repr)."""
    from fractions import Fraction

    f = Fraction(repr(s))
    return f.numerator, f.denominator


#: one float for every spatial dimension, or one per dimension
Scale = Union[float, Tuple[float, ...], None]


@dataclass(frozen=True)
class _Resample(Layer):
    size: Union[Size, Tuple[Size, ...], None] = None
    scale_factor: Scale = None
    mode: str = "nearest"
    align_corners: Optional[bool] = None
    recompute_scale_factor: Optional[bool] = None

    INPUT = "C,L or C,H,W or C,D,H,W"
    OPTIONS = (SIZE, SCALE_FACTOR, MODE, ALIGN_CORNERS, RECOMPUTE)
    SCALAR = None
    #: nn.Upsample reads a scale_factor that is 0 (falsy) as none, F.interpolate does not
    FALSY_SCALE_IS_NONE: ClassVar[bool] = True

    def __post_init__(self) -> None:
        mode = self.mode
        if mode == "area":
            raise ConfigError("'area' is adaptive average pooling (F.interpolate runs adaptive_avg_pool): "
                              "use adaptiveavgpool1d/2d/3d with its output_size", option="mode")
        if mode == "lanczos":
            raise ConfigError("'lanczos' needs antialias=True, which convcalc does not count", option="mode")
        if mode not in MODES:
            raise ConfigError(f"{_short(mode)} is not one of {', '.join(MODES)}", option="mode")
        _optional_bool(self.align_corners, "align_corners")
        _optional_bool(self.recompute_scale_factor, "recompute_scale_factor")
        if mode in NEAREST and self.align_corners is not None:
            raise ConfigError("can only be set with the interpolating modes linear, bilinear, bicubic, trilinear "
                              "(PyTorch's rule; leave it none)", option="align_corners")
        scale = self.scale_factor
        if self.FALSY_SCALE_IS_NONE and scale is not None and not isinstance(scale, str):
            try:
                if not scale:
                    scale = None
            except Exception:  # an object without a truth value: refused below
                pass
        if scale is not None:
            values = scale if isinstance(scale, (tuple, list)) else (scale,)
            for v in values:
                if isinstance(v, str):  # the option parser reads text; the constructor takes numbers
                    raise ConfigError(f"expected a number, got text {_short(v)}", option="scale_factor")
            values = tuple(to_float(v, "scale_factor") for v in values)
            scale = values if isinstance(scale, (tuple, list)) else values[0]
        object.__setattr__(self, "scale_factor", scale)
        if self.size is not None and scale is not None:
            raise ConfigError("only one of size or scale_factor should be defined (PyTorch's rule)", option="size")
        if self.size is None and scale is None:
            raise ConfigError("either size or scale_factor should be defined (PyTorch's rule)", option="size")
        if self.size is not None:
            size = self.size
            if isinstance(size, (tuple, list)):
                size = tuple(to_value(v, "size") for v in size)
            else:
                size = to_value(size, "size")
            for v in size if isinstance(size, tuple) else (size,):
                if sizes.is_known_lt(v, 1):
                    raise ConfigError(f"must be positive (PyTorch: output sizes should be greater than 0), got {sizes.to_text(v)}",
                                      option="size")
            object.__setattr__(self, "size", size)
            if self.recompute_scale_factor:
                raise ConfigError("is not meaningful with an explicit size (PyTorch's rule)", option="recompute_scale_factor")

    # -- shapes ------------------------------------------------------------------------------
    def spatial(self, shape: tuple) -> int:
        return len(shape) - 1

    def check_input(self, shape: tuple) -> None:
        d = self.spatial(shape)
        if d not in (1, 2, 3):
            raise ShapeError(f"expects C,L or C,H,W or C,D,H,W (batch excluded; PyTorch takes 3-D, 4-D and 5-D tensors), "
                             f"got {len(shape)} entries: {show(shape)}", option="input")
        need = NEEDS.get(self.mode)
        if need is not None and need != d:
            raise ShapeError(f"mode {self.mode} needs {LAYOUT[need]} ({need + 2}-D with the batch), got {LAYOUT[d]}: "
                             f"{show(shape)} ({d + 2}-D, as PyTorch refuses it)", option="input")
        for name in ("size", "scale_factor"):
            value = getattr(self, name)
            if isinstance(value, tuple) and len(value) != d:
                raise ShapeError(f"{name} has {len(value)} entries but the input has {d} spatial dimensions "
                                 f"({show(shape)}); give one value or {d} (PyTorch's rule)", option=name)

    def per_dim(self, name: str, d: int) -> tuple:
        value = getattr(self, name)
        return value if isinstance(value, tuple) else (value,) * d

    def kernel_scales(self, d: int) -> tuple:
        """The scale each dimension's kernel is given: the scale factor, or None (L/out) when the
        size is given or recomputed."""
        if self.size is not None or self.recompute_scale_factor:
            return (None,) * d
        return self.per_dim("scale_factor", d)

    def output_shape(self, shape: tuple) -> tuple:
        d = self.spatial(shape)
        if self.size is not None:
            return (shape[0],) + self.per_dim("size", d)
        out = []
        for i, (L, s) in enumerate(zip(shape[1:], self.per_dim("scale_factor", d))):
            if sizes.is_int(L):
                v = float(L) * s
                if not math.isfinite(v) or abs(v) >= 2.0**63:
                    raise ShapeError(f"output size {L}*{s!r} in spatial dimension {i + 1} is beyond int64 (PyTorch refuses it)",
                                     option="scale_factor")
                n = int(v)
            elif s <= 0:
                n = 0
            elif s.is_integer():
                n = int(s) * L
            else:
                p, q = _rational(s)
                n = (L * p) // q
            if sizes.is_known_lt(n, 1):
                raise ShapeError(f"gives output size {sizes.to_text(n)} in spatial dimension {i + 1} (input "
                                 f"{sizes.to_text(L)} times {s!r}); PyTorch wants output sizes greater than 0", option="scale_factor")
            out.append(n)
        return (shape[0],) + tuple(out)

    # -- counts ------------------------------------------------------------------------------
    @property
    def taps_per_dim(self) -> int:
        return 1 if self.mode in NEAREST else 4 if self.mode == "bicubic" else 2

    def counts(self, shape: tuple, out: tuple) -> Counts:
        d, k = self.spatial(shape), self.taps_per_dim
        elements = sizes.prod(out)
        if k == 1:
            return Counts(connections=elements, notes=(NEAREST_NOTE,))
        return Counts(mults=elements * sum(k**j for j in range(1, d + 1)), adds=elements * (k**d - 1),
                      connections=elements * k**d, notes=(INTERP_NOTE,))

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """upsample_*_backward (PyTorch's CPU kernels): grad_input starts at zero and every output
        element adds its dL/dy, weighted, into each of its taps. Nearest: one tap, the copy
        reversed (no mults). Linear family: 2^d taps, each += l_1*...*l_d*g (d mults per tap).
        Bicubic: 16 taps, each += g*wy*wx (2 mults). An input element that n terms reach costs
        n - 1 adds, so adds = B*C*(taps*prod(out) - prod(r_d)), r_d the positions of dimension d
        some tap reaches (``reached``). Autograd keeps only the sizes and scales: nothing saved."""
        from .training import Backward  # only a training query imports it
        d, k = self.spatial(shape), self.taps_per_dim
        taps = k**d
        channels = batch * shape[0]
        outputs = sizes.prod(out[1:])
        align = bool(self.align_corners)
        rs = [reached(self.mode, L, n, align, s) for L, n, s in zip(shape[1:], out[1:], self.kernel_scales(d))]
        adds = None if None in rs else channels * (taps * outputs - sizes.prod(rs))
        per_tap = 0 if k == 1 else 2 if k == 4 else d
        return Backward(grad_input={"mults": channels * outputs * taps * per_tap, "adds": adds}, notes=(BACKWARD_NOTE,))


class Upsample(_Resample, example="--input 64,28,28 --scale-factor 2 --mode bilinear"):
    """Upsampling (torch.nn.Upsample): nearest, nearest-exact, linear, bilinear, bicubic or trilinear, by size or scale_factor."""


NEAREST_NOTE = "nearest upsampling copies (nothing counted); connections are the one tap per output element"
INTERP_NOTE = ("interpolation counted as PyTorch's separable CPU kernel: per output element k+...+k^d mults and k^d - 1 adds "
               "(k = 2 linear, 4 bicubic; d spatial dims); the per-call index and weight tables are not counted")
BACKWARD_NOTE = ("upsample backward: dL/dy added into every tap (linear: d mults per tap, bicubic: 2, nearest: none); an input "
                 "element reached n times costs n - 1 adds")


@dataclass(frozen=True)
class Interpolate(_Resample, example="--input 3,32,32 --size 64 --mode bicubic --align-corners true"):
    """torch.nn.functional.interpolate as a layer: size or scale_factor, nearest, nearest-exact, linear, bilinear, bicubic, trilinear."""

    antialias: bool = False

    OPTIONS = _Resample.OPTIONS + (ANTIALIAS,)
    FALSY_SCALE_IS_NONE = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.antialias:
            if self.mode not in ("bilinear", "bicubic"):
                raise ConfigError("is restricted to bilinear and bicubic modes on C,H,W input (PyTorch's rule)", option="antialias")
            raise ConfigError("is not counted by convcalc (the anti-aliasing filter's taps depend on the scale); "
                              "use antialias=False", option="antialias")
