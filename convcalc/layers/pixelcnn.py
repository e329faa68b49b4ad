"""Masked convolutions and PixelCNN stacks (van den Oord et al. 2016, Pixel Recurrent Neural
Networks; and Conditional Image Generation with PixelCNN Decoders for the gated stack).

A masked k_h x k_w convolution (odd sizes, zero padding (k-1)/2, stride 1) keeps the taps above
the centre row, the taps left of the centre, and the centre itself: never with mask A and one
colour group, always with mask B and one group; with colour groups g (RGB: 3) the centre tap
links input group i to output group j only for i < j (A) or i <= j (B).

- stored params: the full kernel, as a framework allocates it; effective params: the unmasked
  weights. mults/adds/macs as frameworks compute them (the full kernel, padding taps included);
  effective mults: products by unmasked weights. connections: unmasked taps on real pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TYPE_CHECKING

from .. import sizes
from ..sizes import Size, SizeArg
from .base import ConfigError, Counts, Layer, Opt, ShapeError, expect_channels, expect_rank
from .conv import Conv2d
from .options import BIAS, KERNEL_SIZE, OUT_CHANNELS
from .pixelfield import MAX_REACH, _compose, _masked_offsets, field_summary, gated_field, one_sided, two_sided, vanilla_field  # noqa: F401 (re-exported)
if TYPE_CHECKING:
    from .training import Backward
from .window import IDENTITY

MASK = Opt("mask", "choice", "B", "A excludes the centre pixel (first layer), B includes it.", choices=("A", "B"))
COLOUR_GROUPS = Opt("colour_groups", "size", "1", "Channel groups masked in order at the centre tap (3: R, G, B).")

_ASSUMPTION = "symbolic connections assume the image is larger than half the kernel in each dimension"


@dataclass(frozen=True)
class MaskedConv2d(Layer, example="--input 3,32,32 --out-channels 96 --kernel-size 7 --mask A --colour-groups 3"):
    """Masked 2-D convolution of PixelCNN (zero padding (k-1)/2, stride 1: the image size is kept)."""

    in_channels: Size
    out_channels: Size
    kernel_size: SizeArg
    mask: str = "B"
    colour_groups: Size = 1
    bias: bool = True

    NDIM = 2
    INPUT = "C,H,W"
    OPTIONS = (OUT_CHANNELS, KERNEL_SIZE, MASK, COLOUR_GROUPS, BIAS)

    def __post_init__(self) -> None:
        self.normalize(scalars={"in_channels": 1, "out_channels": 1, "colour_groups": 1}, spatial={"kernel_size": 1})
        mask = self.mask.strip().upper() if isinstance(self.mask, str) else self.mask
        if mask not in ("A", "B"):
            raise ConfigError(f"{self.mask!r} is not one of A, B", option="mask")
        object.__setattr__(self, "mask", mask)
        for k in self.kernel_size:
            if sizes.known_int(k) is not None and k % 2 == 0:
                raise ConfigError(f"{k} is even: a centred mask needs odd kernel sizes", option="kernel_size")
        g = sizes.known_int(self.colour_groups)
        for what, c in (("in_channels", self.in_channels), ("out_channels", self.out_channels)):
            n = sizes.known_int(c)
            if g is not None and n is not None and n % g:
                raise ConfigError(f"{g} colour groups do not divide {what} {n}", option="colour_groups")

    INFERRED = {"in_channels": 0}

    def check_input(self, shape: tuple) -> None:
        expect_rank(self, shape, 3)
        expect_channels(shape, self.in_channels, "in_channels")

    def window_steps(self) -> tuple:
        return tuple((k, 1) for k in self.kernel_size)

    def domain(self) -> list[str]:
        return [f"{sizes.to_text(k)} is odd" for k in self.kernel_size if sizes.known_int(k) is None]

    def size_maps(self) -> tuple:
        return (IDENTITY, IDENTITY)

    def output_shape(self, shape: tuple) -> tuple:
        return (self.out_channels,) + tuple(shape[1:])

    @property
    def half(self) -> tuple:
        return tuple(sizes.exact_div(k - 1, 2) for k in self.kernel_size)

    def centre_pairs(self) -> Any:
        """(input channel, output channel) pairs the centre tap links."""
        g = self.colour_groups
        per_pair = (self.in_channels // g) * (self.out_channels // g)
        return per_pair * sizes.exact_div(g * (g - 1) if self.mask == "A" else g * (g + 1), 2)

    def masked_counts(self, shape: tuple) -> tuple[Any, Any, bool]:
        """(effective weights, connections per sample, whether connections assume a size)."""
        ch, cw = self.half
        kw = self.kernel_size[1]
        pairs = self.in_channels * self.out_channels
        before = ch * kw + cw  # taps before the centre in raster order
        H, W = shape[1], shape[2]
        rows_above, a1 = one_sided(H, ch)
        row_span, a2 = two_sided(W, cw)
        left, a3 = one_sided(W, cw)
        connections = pairs * (rows_above * row_span + H * left) + self.centre_pairs() * H * W
        return pairs * before + self.centre_pairs(), connections, a1 or a2 or a3

    def counts(self, shape: tuple, out: tuple) -> Counts:
        k = sizes.prod(self.kernel_size)
        positions = shape[1] * shape[2]
        outputs = self.out_channels * positions
        products = outputs * self.in_channels * k
        effective, connections, assumed = self.masked_counts(shape)
        return Counts(
            weights=self.out_channels * self.in_channels * k,
            biases=self.out_channels if self.bias else 0,
            mults=products,
            adds=outputs * (self.in_channels * k - 1) + (outputs if self.bias else 0),
            macs=products,
            connections=connections,
            gemm=(self.out_channels, self.in_channels * k, positions),
            gemm_groups=1,
            effective_weights=effective,
            effective_mults=effective * positions,
            notes=(_ASSUMPTION,) if assumed else (),
        )

    def as_conv(self) -> Conv2d:
        """The convolution a framework runs: the whole kernel (masked taps hold zeros), zero
        padding (k - 1)/2 on both sides, stride 1."""
        return Conv2d(self.in_channels, self.out_channels, self.kernel_size, padding=self.half, bias=self.bias)

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """A masked convolution as PixelCNN implementations run it (and as the golden module
        is built): a Conv2d whose weight holds zeros at the masked taps (the mask multiplied
        into the weight in place, before the step). Its backward is that convolution's: dL/dx
        a transposed convolution of dL/dy by the whole kernel, dL/dW every tap's sum of x*dL/dy
        (the masked taps' gradients too; the mask is applied again before the next forward),
        and autograd saves x (the weight is the parameter itself, a reference)."""
        from .training import Backward  # only a training query imports it
        bw = self.as_conv().backward(shape, out, batch)
        return Backward(grad_input=bw.grad_input, grad_weight=bw.grad_weight, saved=bw.saved, params=bw.params,
                        as_layers=bw.as_layers,
                        notes=("dL/dW is computed for every tap, masked ones too (frameworks compute the whole kernel); "
                               "written as F.conv2d(x, weight * mask) the backward would also multiply dL/dW by the mask "
                               "and save the masked weight",))


def named(*prefixes_then_backwards: Any) -> dict:
    """{prefix.name: shape} of the parameters of convolutions' Backward (prefixes first)."""
    half = len(prefixes_then_backwards) // 2
    prefixes, bws = prefixes_then_backwards[:half], prefixes_then_backwards[half:]
    return {f"{p}.{name}": shape for p, bw in zip(prefixes, bws) for name, shape in bw.params.items()}


# -- the PixelCNN stack --------------------------------------------------------------------------

CHANNELS = Opt("channels", "size", None, "Hidden channels h of every layer.", required=True)
LAYERS_OPT = Opt("layers", "size", None, "Mask-B layers (or residual blocks, or gated layers) after the first, d.", required=True)
PX_KERNEL = Opt("kernel_size", "size", "3", "Kernel size k of the mask-B layers (odd).")
FIRST_KERNEL = Opt("first_kernel_size", "size", "7", "Kernel size of the first, mask-A layer (odd).")
RESIDUAL = Opt("residual", "flag", False, "Residual blocks as in the paper: 1x1 h->h/2, k x k h/2->h/2, 1x1 h/2->h, plus the input.")
GATED = Opt("gated", "flag", False, "Gated PixelCNN: vertical and horizontal stacks with tanh*sigmoid gates (no blind spot).")
OUTPUT_LAYERS = Opt("output_layers", "size", "2", "1x1 mask-B layers at the top, each after a ReLU; the last gives the logits.")
OUTPUT_CLASSES = Opt("output_classes", "size", "256", "Softmax classes per colour channel.")


def _elementwise(**kw: Any) -> Counts:
    return Counts(**kw)


@dataclass(frozen=True)
class PixelCNN(Layer, example="--input 3,32,32 --channels 128 --layers 15 --kernel-size 3 --first-kernel-size 7"):
    """A PixelCNN stack: a mask-A layer, d mask-B layers (or residual blocks, or gated layers), 1x1 output layers and a softmax per colour channel."""

    in_channels: Size
    channels: Size
    layers: Size
    kernel_size: SizeArg = 3
    first_kernel_size: Size = 7
    colour_groups: Size = 1
    residual: bool = False
    gated: bool = False
    output_layers: Size = 2
    output_classes: Size = 256
    bias: bool = True

    INPUT = "C,H,W"
    OPTIONS = (CHANNELS, LAYERS_OPT, PX_KERNEL, FIRST_KERNEL, COLOUR_GROUPS, RESIDUAL, GATED, OUTPUT_LAYERS, OUTPUT_CLASSES, BIAS)

    def __post_init__(self) -> None:
        self.normalize(
            scalars={"in_channels": 1, "channels": 1, "layers": 1, "kernel_size": 1, "first_kernel_size": 1,
                     "colour_groups": 1, "output_layers": 1, "output_classes": 1}
        )  # fmt: skip
        for name in ("kernel_size", "first_kernel_size"):
            k = sizes.known_int(getattr(self, name))
            if k is not None and k % 2 == 0:
                raise ConfigError(f"{k} is even: a centred mask needs an odd kernel size", option=name)
        if self.gated and self.residual:
            raise ConfigError("a gated stack has its own residual connections; use one of --gated, --residual", option="gated")
        if self.gated and sizes.compare(self.colour_groups, 1) != 0:
            raise ConfigError("the gated stack is counted with one colour group", option="colour_groups")
        h, g = sizes.known_int(self.channels), sizes.known_int(self.colour_groups)
        if h is not None and g is not None and h % g:
            raise ConfigError(f"{g} colour groups do not divide {h} channels", option="channels")
        if self.residual:
            if h is not None and g is not None and h % (2 * g):
                raise ConfigError(f"residual blocks halve the channels: {h} is not divisible by 2 x {g} colour groups", option="channels")

    INFERRED = {"in_channels": 0}

    @property
    def EXPLAIN_NUMERIC(self) -> tuple:  # noqa: N802 (the Layer attribute's name)
        """The gated stack is counted with one colour group: --explain keeps that a number."""
        return ("colour_groups",) if self.gated else ()

    def check_input(self, shape: tuple) -> None:
        expect_rank(self, shape, 3)
        expect_channels(shape, self.in_channels, "in_channels")
        g = sizes.known_int(self.colour_groups)
        c = sizes.known_int(self.in_channels)
        if g is not None and c is not None and c % g:
            raise ShapeError(f"{g} colour groups do not divide the input's {c} channels", option="colour_groups")

    def output_shape(self, shape: tuple) -> tuple:
        return (self.in_channels * self.output_classes,) + tuple(shape[1:])

    def _masked(self, cin: Any, cout: Any, k: Any, mask: str) -> MaskedConv2d:
        return MaskedConv2d(cin, cout, k, mask=mask, colour_groups=self.colour_groups, bias=self.bias)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        C, H, W = shape
        h, d, g, n_out = self.channels, self.layers, self.colour_groups, self.output_layers
        pixels = H * W
        rows: list[dict] = []
        total = Counts()
        assumed = False

        def part(label: str, kind: str, counts: Counts, times: Any = 1) -> None:
            nonlocal assumed
            total.add(counts, times)
            assumed = assumed or bool(counts.notes)
            eff = counts.effective_weights if counts.effective_weights is not None else counts.weights
            rows.append(
                {
                    "layer": label,
                    "type": kind,
                    "repeat": times,
                    "params": (counts.weights + counts.biases) * times,
                    "effective_params": (eff + counts.biases) * times,
                    "connections": counts.connections * times,
                    "per_sequence": {
                        "mults": counts.mults * times,
                        "adds": counts.adds * times,
                        "comparisons": counts.comparisons * times,
                        "macs": counts.macs * times,
                        "transcendentals": counts.transcendentals * times,
                    },
                }
            )

        def masked(cin: Any, cout: Any, k: Any, mask: str) -> Counts:
            return self._masked(cin, cout, k, mask).counts((cin, H, W), (cout, H, W))

        def relu(channels: Any) -> Counts:
            return _elementwise(comparisons=channels * pixels)

        k, k1 = self.kernel_size, self.first_kernel_size
        kt = lambda kk: f"{sizes.to_text(kk)}x{sizes.to_text(kk)}"  # noqa: E731
        if self.gated:
            depth = self._gated(part, C, H, W, h, d, k, k1, kt)
        else:
            part("1", f"{kt(k1)} A", masked(C, h, k1, "A"))
            if self.residual:
                half = h // 2
                block = Counts()
                for piece in (relu(h), masked(h, half, 1, "B"), relu(half), masked(half, half, k, "B"), relu(half),
                              masked(half, h, 1, "B"), _elementwise(adds=h * pixels)):
                    block.add(piece)
                part("2..d+1", f"block {kt(k)} B", block, d)
                depth = 1 + 3 * d + n_out
            else:
                layer = Counts()
                layer.add(relu(h))
                layer.add(masked(h, h, k, "B"))
                part("2..d+1", f"{kt(k)} B", layer, d)
                depth = 1 + d + n_out
        hidden = Counts()
        hidden.add(relu(h))
        hidden.add(masked(h, h, 1, "B"))
        part("output", "1x1 B", hidden, n_out - 1)
        logits = Counts()
        logits.add(relu(h))
        logits.add(masked(h, C * self.output_classes, 1, "B"))
        part("logits", "1x1 B", logits)
        classes = self.output_classes
        softmax = _elementwise(
            transcendentals=C * pixels * classes, adds=C * pixels * (classes - 1), mults=C * pixels * classes
        )
        part("softmax", f"softmax {sizes.to_text(classes)}", softmax)

        passes = pixels * g
        regimes = {"training_pass": depth, "sampling_passes": passes, "sampling": passes * depth}
        field, field_note = self._field()
        notes = [
            f"training and likelihood: one pass, {sizes.to_text(sizes.normalize(depth))} layers deep (all pixels at once)",
            f"sampling: one pass per pixel{' and colour group' if sizes.compare(g, 1) != 0 else ''}, "
            f"{sizes.to_text(sizes.normalize(passes))} passes of that depth, one after another",
            "every convolution after the first is preceded by a ReLU (comparisons); residual adds are counted; "
            "the softmax's exps are transcendentals, its divisions mults",
            "effective: products by unmasked weights (frameworks compute the whole kernel)",
        ]
        if field_note:
            notes.append(field_note)
        if assumed:
            notes.append(_ASSUMPTION)
        return Counts(
            **{key: getattr(total, key) for key in Counts.ADDITIVE + ("effective_weights", "effective_mults")},
            sequential_steps=depth,
            sequential_steps_backward=depth,
            per_layer=rows,
            regimes=regimes,
            receptive_field=field,
            notes=tuple(notes),
        )

    def _gated(self, part, C, H, W, h, d, k, k1, kt) -> Any:
        """Add the gated layers' parts; return the depth in convolutions (output layers included)."""
        from .pixelgated import gated_parts

        return gated_parts(self, part, C, H, W, h, d, k, k1, kt)

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """The backward of the stack as autograd runs it on a PyTorch module built like the
        forward: masked convolutions as Conv2d over the whole kernel (their backward reused),
        nn.ReLU before each convolution after the first (it saves its output, which is also the
        next convolution's input), residual adds, and a softmax over the classes of each colour
        channel. dL/dx is the first convolution's; dL/dW the convolutions' weight and bias
        gradients; the gradient through the stack (each inner convolution's dL/dx, the ReLU
        masks: one comparison an element, the softmax's backward, one add an element where a
        tensor is read twice: a residual block's input, the block and the add) is shared: counted
        with dL/dW when the weights train, else with dL/dx. Sums pass dL/dy on unchanged."""
        from .training import Backward, Saved  # only a training query imports it
        from .wavenet import plus, relu_backward, softmax_backward

        C, H, W = shape
        h, d, n_out = self.channels, self.layers, self.output_layers
        rows = batch * H * W  # pixels of the whole batch

        def masked(cin: Any, cout: Any, k: Any, mask: str = "B") -> Backward:
            return self._masked(cin, cout, k, mask).backward((cin, H, W), (cout, H, W), batch)

        relus = n_out  # ReLUs whose outputs are saved, h channels each
        if self.gated:
            from .pixelgated import gated_backward

            first, (body_weights, body_through), saved, params = gated_backward(self, shape, batch)
        else:
            first = masked(C, h, self.first_kernel_size, "A")
            first.params = {f"first.{k}": v for k, v in first.params.items()}
            saved = []
            if self.residual:
                half = h // 2
                convs = (masked(h, half, 1), masked(half, half, self.kernel_size), masked(half, h, 1))
                params = named(*(f"blocks.i.{j}" for j in range(3)), *convs)
                body_weights = plus((plus(*(c.grad_weight for c in convs)), d))
                # the block's input is read twice (the block and the add): one add an element
                body_through = plus((plus(relu_backward((h + 2 * half) * rows), *(c.grad_input for c in convs), {"adds": h * rows}), d))
                saved.append(Saved("ReLU outputs in the blocks (the convolutions' inputs)", d * (h + 2 * half) * rows))
            else:
                conv = masked(h, h, self.kernel_size)
                body_weights = plus((conv.grad_weight, d))
                body_through = plus((plus(relu_backward(h * rows), conv.grad_input), d))
                params = named("layers.i", conv)
                relus = relus + d
        classes = self.output_classes
        hidden, logits = masked(h, h, 1), masked(h, C * classes, 1)
        grad_weight = plus(first.grad_weight, body_weights, (hidden.grad_weight, n_out - 1), logits.grad_weight)
        # the gradient through the stack: every weight but the logits' needs it, and dL/dx does
        through = plus(
            first.shared,
            body_through,
            (plus(relu_backward(h * rows), hidden.grad_input), n_out - 1),
            relu_backward(h * rows),
            logits.grad_input,
            softmax_backward(C * rows, classes),
        )
        saved = [
            *first.saved,
            *saved,
            Saved("ReLU outputs (the convolutions' inputs)", relus * h * rows),
            Saved("softmax output", C * classes * rows, tensor="output"),
        ]
        params = {**first.params, **params, **(named("output.j", hidden) if sizes.compare(n_out, 1) != 0 else {}),
                  **named("logits", logits)}
        notes = ["dL/dx: the first layer's; the gradient through the stack is counted with dL/dW (with dL/dx when the "
                 "layer is frozen)",
                 f"i = 0 .. {sizes.to_text(sizes.normalize(d - 1))}: one per layer (or block)"]
        if sizes.compare(n_out, 1) != 0:
            notes.append(f"j = 0 .. {sizes.to_text(sizes.normalize(n_out - 2))}: the 1x1 output layers before the logits")
        return Backward(grad_input=first.grad_input, grad_weight=grad_weight, shared=through, saved=tuple(saved), params=params,
                        notes=tuple(notes))

    def _field(self) -> tuple[dict | None, str | None]:
        d, k, k1 = (sizes.known_int(v) for v in (self.layers, self.kernel_size, self.first_kernel_size))
        if None in (d, k, k1):
            return None, "receptive field: give numbers for --layers and the kernel sizes to draw it"
        if k1 // 2 + d * (k // 2) + 1 > MAX_REACH:
            return None, f"receptive field: reaches more than {MAX_REACH} rows; not enumerated"
        if self.gated:
            field = gated_field((k1, k1), (k, k), d)
        elif self.residual:  # a block's 1x1 convolutions add no reach
            field = vanilla_field((k1, k1), (k, k), d)
        else:
            field = vanilla_field((k1, k1), (k, k), d)
        return field_summary(field), None
