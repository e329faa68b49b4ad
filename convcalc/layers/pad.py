"""Padding layers: zeropad, constantpad, reflectionpad, replicationpad, circularpad 1d/2d/3d.

``padding`` is one size for every side or a tuple in PyTorch's order, the last dimension
first: (left, right), (left, right, top, bottom), (left, right, top, bottom, front, back). As
in PyTorch a tuple of another even length pads that many trailing dimensions (ZeroPad2d((1, 2))
pads the width only), and a negative entry crops. Output size per padded dimension: L + left +
right. convcalc's sizes are positive, so a padding that leaves a size 0 (which PyTorch allows
for constant, replication and circular padding) is refused; padding that would reach into
PyTorch's batch (a constant pad of more dimensions than --input has) is refused too.

Conventions. Padding copies and fills: no FLOPs forward. Backward (derivatives.yaml):
constant and zero padding's dL/dx is a slice of dL/dy (nothing computed, nothing saved).
Reflection and replication padding (reflection_pad*_backward, replication_pad*_backward) add
each dL/dy entry to the input element it was copied from: an element copied to r outputs sums
r terms, r - 1 adds, so B*(prod out - prod unpadded * prod reached_d) adds, reached_d the input
positions of dimension d that some output copies; they save the input (for its shape).
Circular padding is PyTorch's composite of slice copies (crop by the negative entries, then
wrap); its gradient is counted as the same sum (r - 1 adds where r outputs copy an element),
not the full-size accumulations autograd's slice copies make; nothing is saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, TYPE_CHECKING

from .. import sizes
from ..sizes import SizeArg
from ..expr import parse_tuple
from .base import ConfigError, ConvcalcError, Counts, Layer, Opt, ShapeError, show, to_float, to_value

if TYPE_CHECKING:
    from .training import Backward

class _PaddingOpt(Opt):
    """One size (every side) or a tuple in PyTorch's order, negative entries allowed; text through
    parse_tuple (never evaluated), one value typed meaning every side."""

    def parse(self, raw: Any) -> Any:
        if isinstance(raw, str):
            values = parse_tuple(raw)
            return values[0] if len(values) == 1 else values
        return raw


PADDING = _PaddingOpt("padding", "sizes", None, "Padding: one size for every side, or (left, right, top, bottom, front, back), the last dimension first; negative crops.",
              required=True)


def _slice_len(n: int, start: int, end: int) -> int:
    """The length of ATen's slice(start, end) of a dimension of n (negative ends count from the end, then clamped)."""
    start, end = start + n if start < 0 else start, end + n if end < 0 else end
    start = min(max(start, 0), n)
    end = min(max(end, start), n)
    return end - start


def _copies(dst: int, src: int) -> bool:
    """Whether copy_ takes a source of this length into a destination of that one (broadcasting)."""
    return src == dst or src == 1


@dataclass(frozen=True)
class _PadNd(Layer):
    padding: SizeArg

    MODE: ClassVar[str] = "constant"
    INPUT = "any shape (its last dimensions padded)"
    SCALAR = "padding"

    def __post_init__(self) -> None:
        value = self.padding
        if isinstance(value, str):
            try:
                value = PADDING.parse(value)
            except ConvcalcError as e:
                raise e.with_context(option="padding") from None
        if isinstance(value, (tuple, list)):
            if not value or len(value) % 2:
                raise ConfigError(f"padding length must be divisible by 2, got {len(value)} values (PyTorch's check)", option="padding")
            elif len(value) > 2 * 32:
                raise ConfigError(f"{len(value)} values are more than an input has sides", option="padding")
        if isinstance(value, (tuple, list)):
            pads = tuple(to_value(v, "padding") for v in value)
        else:
            pads = (to_value(value, "padding"),) * (2 * self.NDIM)
        object.__setattr__(self, "padding", pads)

    @property
    def EXPLAIN_NUMERIC(self) -> tuple:  # noqa: N802 (the Layer attribute's name)
        """A negative padding stays a number in derivations (padding symbols are non-negative)."""
        return ("padding",) if any(sizes.is_known_lt(p, 0) for p in self.padding) else ()

    def pairs(self) -> list:
        """(left, right) per padded dimension, the first padded dimension first."""
        p = self.padding
        return [(p[2 * i], p[2 * i + 1]) for i in range(len(p) // 2)][::-1]

    def check_rank(self, rank: int) -> None:
        m = len(self.padding) // 2
        batched = rank + 1
        if self.MODE == "constant":
            if m > rank:
                raise ShapeError(f"pads {m} dimensions but the input has {rank} entries (batch excluded); padding PyTorch's "
                                 "batch dimension is refused", option="input")
            return
        if self.MODE == "circular" and batched not in (self.NDIM + 1, self.NDIM + 2):
            raise ShapeError(f"expected {self.NDIM + 1}D or {self.NDIM + 2}D input with the batch, that is {self.NDIM} or "
                             f"{self.NDIM + 1} entries (batch excluded), got {rank} (PyTorch's check)", option="input")
        if m not in (1, 2, 3) or batched not in (m + 1, m + 2):
            raise ShapeError(f"padding size {2 * m} is not supported for {batched}D input tensor (the batch included; "
                             f"PyTorch's {self.MODE} padding of {m} dimensions takes {m} or {m + 1} entries besides the batch)",
                             option="input")

    def conditions(self, shape: tuple) -> list:
        """PyTorch's checks: refuse numbers that fail, state undecided ones on symbols."""
        self.check_rank(len(shape))
        notes: list = []
        m = len(self.pairs())
        for j, (L, (l, r)) in enumerate(zip(shape[len(shape) - m:], self.pairs())):
            where = f"dimension {len(shape) - m + j + 1} (size {sizes.to_text(L)}, padding {sizes.to_text(l)}, {sizes.to_text(r)})"
            for small, big, strict, fact in self.rules(L, l, r):
                c = sizes.compare(small, big if strict else big + 1)  # small < big (+ 1)
                if c in (0, 1):
                    raise ShapeError(f"{fact} in {where}", option="padding")
                if c is None:
                    rel = "<" if strict else "<="
                    notes.append(f"valid where {sizes.to_text(sizes.normalize(small))} {rel} {sizes.to_text(sizes.normalize(big))} "
                                 f"({fact.split(' (')[0]}; refused otherwise)")
            out = sizes.normalize(L + l + r)
            if sizes.is_known_lt(out, 1):
                raise ShapeError(f"the output size {sizes.to_text(out)} in {where} is not positive (convcalc's sizes are)", option="padding")
        return notes

    def rules(self, L: Any, l: Any, r: Any) -> list:
        """(small, big, strict, fact): PyTorch needs small <= big (small < big when strict)."""
        # constant_pad_nd narrows by the negative entries first
        return [(-sizes.smin(l, 0), L, False, "the negative padding crops more than the input (PyTorch's check)"),
                (-sizes.smin(l, 0) - sizes.smin(r, 0), L, False, "the negative padding crops more than the input (PyTorch's check)")]

    def check_input(self, shape: tuple) -> None:
        self.conditions(shape)

    def output_shape(self, shape: tuple) -> tuple:
        m = len(self.pairs())
        head = tuple(shape[: len(shape) - m])
        return head + tuple(L + l + r for L, (l, r) in zip(shape[len(shape) - m:], self.pairs()))

    def counts(self, shape: tuple, out: tuple) -> Counts:
        return Counts(notes=tuple(self.conditions(shape)))

    def reached(self, L: Any, l: Any, r: Any) -> Any:
        """Input positions of one dimension that some output copies (None: not decided)."""
        raise NotImplementedError

    def gradient_adds(self, shape: tuple, out: tuple) -> Any:
        """Adds of one sample's dL/dx: prod out - prod unpadded * prod reached_d."""
        m = len(self.pairs())
        reached = [self.reached(L, l, r) for L, (l, r) in zip(shape[len(shape) - m:], self.pairs())]
        if None in reached:
            return None
        return sizes.normalize(sizes.prod(out) - sizes.prod(shape[: len(shape) - m]) * sizes.prod(reached))


def _decided(*comparisons: int | None) -> bool:
    return None not in comparisons


class _ConstantPadNd(_PadNd):
    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """constant_pad_nd's backward slices dL/dy back to the input's positions (a view of the
        gradient): nothing computed, nothing saved."""
        from .training import Backward  # only a training query imports it

        return Backward()


@dataclass(frozen=True)
class _ZeroPad(_ConstantPadNd):
    pass


@dataclass(frozen=True)
class _ConstantPad(_ConstantPadNd):
    value: float

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "value", to_float(self.value, "value"))


VALUE = Opt("value", "float", None, "The fill value (counts and shapes do not change with it).", required=True)


class ZeroPad1d(_ZeroPad, example="--input 3,32 --padding 1,2"):
    """ZeroPad1d: pad the last dimension with zeros (a copy, nothing counted)."""

    NDIM = 1
    INPUT = "C,L (any leading entries)"
    OPTIONS = (PADDING,)


class ZeroPad2d(_ZeroPad, example="--input 3,32,32 --padding 1,1,2,0"):
    """ZeroPad2d: pad the last two dimensions with zeros (a copy, nothing counted)."""

    NDIM = 2
    INPUT = "C,H,W (any leading entries)"
    OPTIONS = (PADDING,)


class ZeroPad3d(_ZeroPad, example="--input 3,8,16,16 --padding 1"):
    """ZeroPad3d: pad the last three dimensions with zeros (a copy, nothing counted)."""

    NDIM = 3
    INPUT = "C,D,H,W (any leading entries)"
    OPTIONS = (PADDING,)


class ConstantPad1d(_ConstantPad, example="--input 3,32 --padding 2 --value 0.5"):
    """ConstantPad1d: pad the last dimension with a constant (a copy, nothing counted)."""

    NDIM = 1
    INPUT = "C,L (any leading entries)"
    OPTIONS = (PADDING, VALUE)


class ConstantPad2d(_ConstantPad, example="--input 3,32,32 --padding 1,2,3,4 --value 1"):
    """ConstantPad2d: pad the last two dimensions with a constant (a copy, nothing counted)."""

    NDIM = 2
    INPUT = "C,H,W (any leading entries)"
    OPTIONS = (PADDING, VALUE)


class ConstantPad3d(_ConstantPad, example="--input 3,8,16,16 --padding 1 --value -1"):
    """ConstantPad3d: pad the last three dimensions with a constant (a copy, nothing counted)."""

    NDIM = 3
    INPUT = "C,D,H,W (any leading entries)"
    OPTIONS = (PADDING, VALUE)


@dataclass(frozen=True)
class _CopyPadNd(_PadNd):
    """Reflection, replication and circular padding: every output copies an input element."""

    SAVES_INPUT: ClassVar[bool] = True

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """dL/dx[i] is the sum of dL/dy over the outputs that copy input element i (the
        *_pad*d_backward kernels add each dL/dy entry into its source): r - 1 adds where r
        outputs copy it, per sample prod(out) - prod(unpadded) * prod_d reached_d (``reached``
        per mode; each padded dimension's map is independent, so the copies of an element are a
        product over dimensions). Reflection and replication save the input (autograd keeps it
        for the backward kernel's shapes); circular padding (slice copies) saves nothing."""
        from .training import Backward, Saved  # only a training query imports it

        adds = self.gradient_adds(shape, out)
        saved = (Saved("input", batch * sizes.prod(shape), tensor="input"),) if self.SAVES_INPUT else ()
        return Backward(grad_input={"adds": None if adds is None else batch * adds}, saved=saved)


@dataclass(frozen=True)
class _ReflectionPad(_CopyPadNd):
    MODE = "reflect"

    def rules(self, L: Any, l: Any, r: Any) -> list:
        return [(l, L, True, "padding size should be less than the corresponding input dimension: left (PyTorch's check)"),
                (r, L, True, "padding size should be less than the corresponding input dimension: right (PyTorch's check)")]

    def reached(self, L: Any, l: Any, r: Any) -> Any:
        """Output o copies input reflect(o - l) over [0, L) (mirror at 0 and at L - 1); the
        outputs cover i in [a, b) = [-l, L + r). With l > 0 (a < 0 < b) the image is
        [0, max(min(b, L), 1 + l)); with l <= 0 < r it is [min(a, 2L - 1 - b), L); otherwise
        every output copies its own element (out positions)."""
        if all(sizes.compare(v, 0) in (0, 1) for v in (l, r)):
            return L  # l, r >= 0 (and < L: checked): the centre is the whole input
        a, b, out = -l, L + r, L + l + r
        cl, cb, ca, cbl = sizes.compare(l, 0), sizes.compare(b, 0), sizes.compare(a, L), sizes.compare(b, L)
        if not _decided(cl, cb):
            return None
        if cl == 1 and cb == 1:
            return sizes.smax(sizes.smin(b, L), 1 + l)
        if cl in (-1, 0) and _decided(ca, cbl) and ca == -1 and cbl == 1:
            return L - sizes.smin(a, 2 * L - 1 - b)
        if cl in (-1, 0) and not _decided(ca, cbl):
            return None
        return out


@dataclass(frozen=True)
class _ReplicationPad(_CopyPadNd):
    MODE = "replicate"

    def rules(self, L: Any, l: Any, r: Any) -> list:
        return []

    def reached(self, L: Any, l: Any, r: Any) -> Any:
        """Output o copies input clamp(o - l, 0, L - 1); the outputs cover i in [-l, L + r), so
        the image is [clamp(-l), clamp(L + r - 1)]."""
        if all(sizes.compare(v, 0) in (0, 1) for v in (l, r)):
            return L

        def clamp(x: Any) -> Any:
            return sizes.smin(sizes.smax(x, 0), L - 1)

        return sizes.normalize(clamp(L + r - 1) - clamp(-l) + 1)


@dataclass(frozen=True)
class _CircularPad(_CopyPadNd):
    MODE = "circular"
    SAVES_INPUT = False

    def rules(self, L: Any, l: Any, r: Any) -> list:
        """_pad_circular: left, right <= L (one wrap at most); it crops by the negative entries
        (L' = L + min(l, 0) + min(r, 0)) and wraps the cropped part, whose copies read
        uninitialised memory unless left, right <= L' (PyTorch does not check that one: convcalc
        refuses it)."""
        cropped = L + sizes.smin(l, 0) + sizes.smin(r, 0)
        return [(l, L, False, "padding value causes wrapping around more than once: left (PyTorch's check)"),
                (r, L, False, "padding value causes wrapping around more than once: right (PyTorch's check)"),
                (0, cropped, False, "the negative padding crops more than the input (PyTorch's check)"),
                (l, cropped, False, "the left padding wraps past the cropped input, where PyTorch copies uninitialised memory (convcalc refuses it)"),
                (r, cropped, False, "the right padding wraps past the cropped input, where PyTorch copies uninitialised memory (convcalc refuses it)")]

    def conditions(self, shape: tuple) -> list:
        notes = super().conditions(shape)
        m = len(self.pairs())
        for L, (l, r) in zip(shape[len(shape) - m:], self.pairs()):
            if sizes.all_int(L, l, r):
                out = L + l + r
                centre = _copies(_slice_len(out, max(l, 0), out - max(r, 0)), _slice_len(L, max(-l, 0), L - max(-r, 0)))
                left = l <= 0 or _copies(_slice_len(out, 0, l), _slice_len(out, out - l - max(r, 0), out - max(r, 0)))
                right = r <= 0 or _copies(_slice_len(out, out - r, out), _slice_len(out, max(l, 0), max(l, 0) + r))
                if not (centre and left and right):
                    raise ShapeError(f"the slices of PyTorch's circular padding do not match in size (padding {l}, {r} of "
                                     f"size {L})", option="padding")
        return notes

    def reached(self, L: Any, l: Any, r: Any) -> Any:
        """Output o copies cropped element (o - l) mod L', L' = L + min(l, 0) + min(r, 0): with
        left, right <= L' every cropped element is copied (it is in the centre)."""
        return sizes.normalize(L + sizes.smin(l, 0) + sizes.smin(r, 0))


class ReflectionPad1d(_ReflectionPad, example="--input 3,32 --padding 2,3"):
    """ReflectionPad1d: pad the last dimension with its reflection (a copy; backward adds the reflected gradients)."""

    NDIM = 1
    INPUT = "C,L or L"
    OPTIONS = (PADDING,)


class ReflectionPad2d(_ReflectionPad, example="--input 3,32,32 --padding 1,1,2,2"):
    """ReflectionPad2d: pad the last two dimensions with their reflection (a copy; backward adds the reflected gradients)."""

    NDIM = 2
    INPUT = "C,H,W or H,W"
    OPTIONS = (PADDING,)


class ReflectionPad3d(_ReflectionPad, example="--input 3,8,16,16 --padding 1"):
    """ReflectionPad3d: pad the last three dimensions with their reflection (a copy; backward adds the reflected gradients)."""

    NDIM = 3
    INPUT = "C,D,H,W or D,H,W"
    OPTIONS = (PADDING,)


class ReplicationPad1d(_ReplicationPad, example="--input 3,32 --padding 2,3"):
    """ReplicationPad1d: pad the last dimension with its edge values (a copy; backward adds the replicated gradients)."""

    NDIM = 1
    INPUT = "C,L or L"
    OPTIONS = (PADDING,)


class ReplicationPad2d(_ReplicationPad, example="--input 3,32,32 --padding 1,1,2,2"):
    """ReplicationPad2d: pad the last two dimensions with their edge values (a copy; backward adds the replicated gradients)."""

    NDIM = 2
    INPUT = "C,H,W or H,W"
    OPTIONS = (PADDING,)


class ReplicationPad3d(_ReplicationPad, example="--input 3,8,16,16 --padding 1"):
    """ReplicationPad3d: pad the last three dimensions with their edge values (a copy; backward adds the replicated gradients)."""

    NDIM = 3
    INPUT = "C,D,H,W or D,H,W"
    OPTIONS = (PADDING,)


class CircularPad1d(_CircularPad, example="--input 3,32 --padding 2,3"):
    """CircularPad1d: pad the last dimension by wrapping it around (a copy; backward adds the wrapped gradients)."""

    NDIM = 1
    INPUT = "C,L or L"
    OPTIONS = (PADDING,)


class CircularPad2d(_CircularPad, example="--input 3,32,32 --padding 1,1,2,2"):
    """CircularPad2d: pad the last two dimensions by wrapping them around (a copy; backward adds the wrapped gradients)."""

    NDIM = 2
    INPUT = "C,H,W or H,W"
    OPTIONS = (PADDING,)


class CircularPad3d(_CircularPad, example="--input 3,8,16,16 --padding 1"):
    """CircularPad3d: pad the last three dimensions by wrapping them around (a copy; backward adds the wrapped gradients)."""

    NDIM = 3
    INPUT = "C,D,H,W or D,H,W"
    OPTIONS = (PADDING,)
