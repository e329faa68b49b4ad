"""Rearranging layers: pixelshuffle, pixelunshuffle, channelshuffle, unflatten, unfold, fold.

Conventions. These layers move data: a copy, a view or a permutation is not a FLOP, so
pixelshuffle, pixelunshuffle, channelshuffle, unflatten and unfold count nothing forward. Fold
(col2im) sums the patch entries that land on the same output element: an output element
reached by r entries is a sum of r terms, r - 1 adds (padding entries are dropped, an element
no patch reaches is 0 and costs nothing). ``connections`` are the entries that are copied from
real input (unfold) or land on real output (fold).

Backward (PyTorch's derivatives.yaml): pixel_shuffle's is pixel_unshuffle of dL/dy and the
other way round, channel_shuffle's the inverse permutation, unflatten's a view: nothing
computed, nothing saved. Unfold's (im2col) is fold (col2im) of dL/dy: an input element read by
r patches sums r gradient entries, r - 1 adds; fold's is unfold of dL/dy: copies. Neither saves
a tensor (they keep only sizes).

PyTorch's batch is dimension 0 and ``--input`` excludes it: where PyTorch would take the batch
for a channel or unflatten it (an input with too few entries, unflatten's dim 0), convcalc
refuses. Divisibility that PyTorch checks (channels by upscale_factor**2, sizes by
downscale_factor, channels by groups, fold's channels by the kernel's taps) refuses numbers;
with symbols the quotient is written exactly (C/4) and the condition is stated in the notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, TYPE_CHECKING

from .. import sizes
from ..sizes import Size, SizeArg
from .base import ConfigError, ConvcalcError, Counts, Layer, Opt, ShapeError, per_dim, require, show, to_index, to_value
from .convwindow import check_work, reached_by_taps
from .options import DILATION, KERNEL_SIZE, STRIDE
from .window import conv_map, taps_inside

if TYPE_CHECKING:
    from .training import Backward


def _nothing(what: str) -> "Backward":
    from .training import Backward  # only a training query imports it

    return Backward(notes=(what,))


def divides(divisor: Any, value: Any, fact: str, option: str) -> str | None:
    """Refuse a numeric value the divisor does not divide (PyTorch's check); with symbols, the
    condition in words (None when it holds)."""
    d, v = sizes.known_int(divisor), sizes.known_int(value)
    if d is not None and v is not None:
        if v % d:
            raise ShapeError(f"{fact}: {v} is not divisible by {d} (PyTorch's check)", option=option)
        return None
    if d is not None and d == 1:
        return None
    return f"valid where {sizes.to_text(divisor)} divides {sizes.to_text(value)} ({fact}; PyTorch refuses other sizes)"


def _min_rank(layer: Layer, shape: tuple, rank: int, why: str) -> None:
    if len(shape) < rank:
        raise ShapeError(
            f"expects at least {rank} entries ({layer.INPUT}, batch excluded), got {len(shape)}: {show(shape)}; {why}",
            option="input",
        )


@dataclass(frozen=True)
class _Shuffle(Layer):
    """Shared by pixelshuffle and pixelunshuffle: (..., C, H, W) with factor r."""

    INPUT = "C,H,W (more leading entries allowed)"
    UP: ClassVar[bool] = True
    FACTOR: ClassVar[str] = "upscale_factor"

    def __post_init__(self) -> None:
        self.normalize(scalars={self.FACTOR: 1})

    @property
    def r(self) -> Any:
        return getattr(self, self.FACTOR)

    def conditions(self, shape: tuple) -> list:
        _min_rank(self, shape, 3, "with fewer PyTorch would take the batch for the channels")
        c, h, w = shape[-3:]
        r = self.r
        if self.UP:
            return [divides(r * r, c, "the channels must be divisible by upscale_factor**2", "input")]
        return [divides(r, h, "the height must be divisible by downscale_factor", "input"),
                divides(r, w, "the width must be divisible by downscale_factor", "input")]

    def check_input(self, shape: tuple) -> None:
        self.conditions(shape)

    def output_shape(self, shape: tuple) -> tuple:
        c, h, w = shape[-3:]
        r = self.r
        if self.UP:
            return tuple(shape[:-3]) + (sizes.exact_div(c, r * r), h * r, w * r)
        return tuple(shape[:-3]) + (c * r * r, sizes.exact_div(h, r), sizes.exact_div(w, r))

    def counts(self, shape: tuple, out: tuple) -> Counts:
        return Counts(notes=tuple(n for n in self.conditions(shape) if n))

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """pixel_shuffle's backward is pixel_unshuffle(dL/dy, r) and pixel_unshuffle's is
        pixel_shuffle(dL/dy, r) (derivatives.yaml): a permutation of the gradient, no arithmetic;
        nothing is saved (only r)."""
        return _nothing(f"{self.NAME} backward: the inverse rearrangement of dL/dy (a copy, no arithmetic)")


@dataclass(frozen=True)
class PixelShuffle(_Shuffle, example="--input 16,8,8 --upscale-factor 2"):
    """PixelShuffle: (C*r^2, H, W) -> (C, H*r, W*r), a rearrangement (nothing counted)."""

    upscale_factor: Size

    SCALAR = "upscale_factor"
    OPTIONS = (Opt("upscale_factor", "size", None, "Factor r: the channels divide by r^2, height and width grow r times.", required=True),)


@dataclass(frozen=True)
class PixelUnshuffle(_Shuffle, example="--input 4,16,16 --downscale-factor 2"):
    """PixelUnshuffle: (C, H*r, W*r) -> (C*r^2, H, W), a rearrangement (nothing counted)."""

    downscale_factor: Size

    UP = False
    FACTOR = "downscale_factor"
    SCALAR = "downscale_factor"
    OPTIONS = (Opt("downscale_factor", "size", None, "Factor r: height and width divide by r, the channels grow r^2 times.", required=True),)


@dataclass(frozen=True)
class ChannelShuffle(Layer, example="--input 16,8,8 --groups 4"):
    """ChannelShuffle: the channels (groups, C/groups) transposed to (C/groups, groups), a permutation (nothing counted)."""

    groups: Size

    INPUT = "C,L or C,H,W or C,D,H,W"
    SCALAR = "groups"
    OPTIONS = (Opt("groups", "size", None, "Number of groups the channels are divided into (must divide C).", required=True),)

    def __post_init__(self) -> None:
        self.normalize(scalars={"groups": 1})

    def condition(self, shape: tuple) -> str | None:
        _min_rank(self, shape, 2, "PyTorch's channel_shuffle expects input with > 2 dims (the batch included)")
        return divides(self.groups, shape[0], "the channels must be divisible by groups", "input")

    def check_input(self, shape: tuple) -> None:
        self.condition(shape)

    def output_shape(self, shape: tuple) -> tuple:
        return tuple(shape)

    def window_steps(self) -> str:
        return "keep"

    def counts(self, shape: tuple, out: tuple) -> Counts:
        note = self.condition(shape)
        return Counts(notes=(note,) if note else ())

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """channel_shuffle is view, permute, reshape: its backward permutes dL/dy back (a copy),
        no arithmetic, nothing saved."""
        return _nothing("channelshuffle backward: the inverse permutation of dL/dy (a copy, no arithmetic)")


class _SizesOpt(Opt):
    """A tuple of sizes where -1 (infer) is allowed: text through parse_tuple, never evaluated."""

    def parse(self, raw: Any) -> Any:
        from ..expr import parse_tuple

        if isinstance(raw, str):
            return parse_tuple(raw)
        return raw


@dataclass(frozen=True)
class Unflatten(Layer, example="--input 48,7 --dim 1 --unflattened-size 3,-1"):
    """Unflatten one entry into several (torch.nn.Unflatten; dim counts the batch as 0, one entry of unflattened_size may be -1), a view (nothing counted)."""

    dim: int
    unflattened_size: tuple

    INPUT = "any shape"
    OPTIONS = (
        Opt("dim", "size", None, "Dimension unflattened (PyTorch's, batch = 0, -1 the last).", required=True),
        _SizesOpt("unflattened_size", "sizes", None, "The sizes it becomes, e.g. 3,-1 (one -1 is inferred).", required=True),
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "dim", to_index(self.dim, "dim"))
        value = self.unflattened_size
        if isinstance(value, str):
            try:
                value = _SizesOpt("unflattened_size", "sizes", None, "").parse(value)
            except ConvcalcError as e:
                raise e.with_context(option="unflattened_size") from None
        if not isinstance(value, (tuple, list)):
            raise ConfigError(f"expected a tuple of sizes such as (3, -1), got {sizes.to_text(value) if sizes.is_int(value) else type(value).__name__}",
                              option="unflattened_size")
        if not value:
            raise ConfigError("sizes must be non-empty (PyTorch's check)", option="unflattened_size")
        parts = tuple(to_value(v, "unflattened_size") for v in value)
        if sum(1 for v in parts if v == -1) > 1:
            raise ConfigError("only one dimension can be inferred (-1) (PyTorch's check)", option="unflattened_size")
        for v in parts:
            if v != -1 and sizes.is_known_lt(v, 0):
                raise ConfigError(f"invalid shape dimension {sizes.to_text(v)} (PyTorch's check)", option="unflattened_size")
        object.__setattr__(self, "unflattened_size", parts)

    def resolve(self, shape: tuple) -> tuple[int, tuple, str | None]:
        """(index into the shape, the sizes with -1 inferred, a condition on symbols or None)."""
        from .elementwise import batch_dim

        i = batch_dim(self.dim, len(shape), "dim")
        n = shape[i]
        known = [v for v in self.unflattened_size if v != -1]
        product = sizes.prod(known)
        wanted = f"provided sizes {show(self.unflattened_size)} don't multiply up to the size of dim {self.dim} ({sizes.to_text(n)})"
        if -1 in self.unflattened_size:
            p, v = sizes.known_int(product), sizes.known_int(n)
            if p == 0 or (p is not None and v is not None and v % p):
                raise ShapeError(wanted + " (PyTorch's check)", option="unflattened_size")
            note = divides(product, n, "unflatten infers -1", "unflattened_size")
            inferred = sizes.normalize(sizes.exact_div(n, product))
            return i, tuple(inferred if v == -1 else v for v in self.unflattened_size), note
        same = sizes.compare(product, n)
        if same not in (0, None):
            raise ShapeError(wanted + " (PyTorch's check)", option="unflattened_size")
        note = None if same == 0 else f"valid where {sizes.to_text(sizes.normalize(product))} = {sizes.to_text(n)} (PyTorch refuses other sizes)"
        return i, self.unflattened_size, note

    def check_input(self, shape: tuple) -> None:
        self.resolve(shape)

    def output_shape(self, shape: tuple) -> tuple:
        i, parts, _ = self.resolve(shape)
        return tuple(shape[:i]) + parts + tuple(shape[i + 1 :])

    def counts(self, shape: tuple, out: tuple) -> Counts:
        note = self.resolve(shape)[2]
        return Counts(notes=(note,) if note else ())

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """A view: dL/dx is dL/dy reshaped, nothing computed and nothing saved."""
        from .training import Backward  # only a training query imports it

        return Backward()


@dataclass(frozen=True)
class _Im2col(Layer):
    """Sliding blocks of a 2-d image: kernel_size, dilation, padding, stride (PyTorch's checks)."""

    NDIM = 2

    def _normalize(self) -> None:
        for name, minimum, word in (("kernel_size", 1, "kernel size"), ("dilation", 1, "dilation"), ("stride", 1, "stride"),
                                    ("padding", 0, "padding")):
            value = getattr(self, name)
            if isinstance(value, (tuple, list)) and len(value) not in (1, 2):
                raise ConfigError(f"it is expected {name} equals to 2, but got size {len(value)} (PyTorch's check)", option=name)
            values = per_dim(value, 2, name)
            require(values, name, minimum=minimum)
            object.__setattr__(self, name, values)

    def blocks(self, spatial: tuple) -> tuple:
        """The sliding blocks per dimension: floor((L + 2p - d*(k - 1) - 1)/s) + 1, each at least one."""
        out = []
        for i, (L, k, d, p, s) in enumerate(zip(spatial, self.kernel_size, self.dilation, self.padding, self.stride)):
            n = sizes.normalize(conv_map(k, s, d, p, p).forward(L))
            if sizes.is_known_lt(n, 1):
                raise ShapeError(
                    f"given spatial size {show(spatial)}, kernel_size={show(self.kernel_size)}, dilation={show(self.dilation)}, "
                    f"padding={show(self.padding)}, stride={show(self.stride)}: the sliding blocks in dimension {i + 1} are "
                    f"{sizes.to_text(n)}, but must be at least one (PyTorch's check)",
                    option="input",
                )
            out.append(n)
        return tuple(out)

    def overlap(self, channels: Any, spatial: tuple, blocks: tuple) -> tuple[Any, Any]:
        """(entries on real positions, sums' adds) for one sample: C*prod taps_d, and
        C*(prod taps_d - prod reached_d): a position reached by r entries sums r terms."""
        taps, reached = [], []
        for L, n, k, d, p, s in zip(spatial, blocks, self.kernel_size, self.dilation, self.padding, self.stride):
            taps.append(taps_inside(n, k, s, d, p, L, size_map=conv_map(k, s, d, p, p)))
            reached.append(reached_by_taps(n, k, s, d, p, L))
        connections = None if None in taps else sizes.normalize(channels * sizes.prod(taps))
        if connections is None or None in reached:
            return connections, None
        return connections, sizes.normalize(connections - channels * sizes.prod(reached))


KERNEL_2 = Opt("kernel_size", "sizes", None, "Size of the sliding blocks: one value, or two (height, width).", required=True)
UNFOLD_OPTIONS = (DILATION, Opt("padding", "sizes", "0", "Zero padding on both sides: one value or two."), STRIDE)


@dataclass(frozen=True)
class Unfold(_Im2col, example="--input 3,8,8 --kernel-size 3"):
    """Unfold (im2col): (C, H, W) -> (C*kh*kw, L) sliding blocks as columns, copies (nothing counted forward)."""

    kernel_size: SizeArg
    dilation: SizeArg = 1
    padding: SizeArg = 0
    stride: SizeArg = 1

    INPUT = "C,H,W"
    OPTIONS = (KERNEL_2,) + UNFOLD_OPTIONS

    def __post_init__(self) -> None:
        self._normalize()

    def check_input(self, shape: tuple) -> None:
        if len(shape) != 3:
            raise ShapeError(f"expects 3 entries (C,H,W, batch excluded; PyTorch's unfold takes 4-d batches), got {len(shape)}: "
                             f"{show(shape)}", option="input")
        check_work(shape, self.kernel_size)
        self.blocks(shape[1:])

    def output_shape(self, shape: tuple) -> tuple:
        return (shape[0] * sizes.prod(self.kernel_size), sizes.prod(self.blocks(shape[1:])))

    def counts(self, shape: tuple, out: tuple) -> Counts:
        connections, _ = self.overlap(shape[0], shape[1:], self.blocks(shape[1:]))
        return Counts(connections=connections)

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """im2col's backward is col2im (fold) of dL/dy: each input element sums the gradient
        entries of the patches that read it, r - 1 adds where r patches read it (entries on the
        padding are dropped): B*C*(prod taps_d - prod reached_d), as fold's forward. Nothing is
        saved (only the sizes)."""
        from .training import Backward  # only a training query imports it

        _, adds = self.overlap(shape[0], shape[1:], self.blocks(shape[1:]))
        return Backward(grad_input={"adds": None if adds is None else batch * adds})


@dataclass(frozen=True)
class Fold(_Im2col, example="--input 12,9 --output-size 4,4 --kernel-size 2"):
    """Fold (col2im): (C*kh*kw, L) -> (C, H, W), summing overlapping patches (r - 1 adds where r entries land)."""

    output_size: SizeArg
    kernel_size: SizeArg
    dilation: SizeArg = 1
    padding: SizeArg = 0
    stride: SizeArg = 1

    INPUT = "C*kh*kw,L"
    OPTIONS = (Opt("output_size", "sizes", None, "Output height and width: one value or two.", required=True), KERNEL_2) + UNFOLD_OPTIONS

    def __post_init__(self) -> None:
        self._normalize()
        value = self.output_size
        if isinstance(value, (tuple, list)) and len(value) not in (1, 2):
            raise ConfigError(f"it is expected output_size equals to 2, but got size {len(value)} (PyTorch's check)", option="output_size")
        values = per_dim(value, 2, "output_size")
        require(values, "output_size", minimum=1)
        object.__setattr__(self, "output_size", values)

    def conditions(self, shape: tuple) -> list:
        if len(shape) != 2:
            raise ShapeError(f"expects 2 entries (C*kh*kw,L, batch excluded; PyTorch's fold takes 3-d batches), got {len(shape)}: "
                             f"{show(shape)}", option="input")
        check_work((1,) + tuple(self.output_size), self.kernel_size)
        taps = sizes.prod(self.kernel_size)
        notes = [divides(taps, shape[0], "the input's channels must be divisible by the product of kernel_size", "input")]
        blocks = sizes.normalize(sizes.prod(self.blocks(self.output_size)))
        same = sizes.compare(shape[1], blocks)
        if same not in (0, None):
            raise ShapeError(
                f"given output_size={show(self.output_size)}, kernel_size={show(self.kernel_size)}, dilation={show(self.dilation)}, "
                f"padding={show(self.padding)}, stride={show(self.stride)}: expected L to match the calculated number of "
                f"sliding blocks {sizes.to_text(blocks)}, but got {sizes.to_text(shape[1])} (PyTorch's check)",
                option="input",
            )
        if same is None:
            notes.append(f"valid where L = {sizes.to_text(blocks)} (the sliding blocks; PyTorch refuses other sizes)")
        return notes

    def check_input(self, shape: tuple) -> None:
        self.conditions(shape)

    def output_shape(self, shape: tuple) -> tuple:
        return (sizes.exact_div(shape[0], sizes.prod(self.kernel_size)),) + tuple(self.output_size)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        notes = tuple(n for n in self.conditions(shape) if n)
        connections, adds = self.overlap(out[0], self.output_size, self.blocks(self.output_size))
        return Counts(adds=adds, connections=connections, notes=notes)

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """col2im's backward is im2col (unfold) of dL/dy: every entry copies one gradient element
        (0 on the padding), no arithmetic; nothing is saved (only the sizes)."""
        return _nothing("fold backward: unfold (im2col) of dL/dy (copies, no arithmetic)")
