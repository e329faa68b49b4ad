"""Causal dilated convolutions and WaveNet stacks (van den Oord et al. 2016, WaveNet).

- causalconv1d: a Conv1d padded d*(k-1) on the left only, so output t sees inputs t - d*(k-1) .. t
  and the length is kept. Counted like any convolution: mults on the padding too, connections
  only on real samples.
- wavenet: an initial causal convolution (input channels -> residual channels, dilation 1),
  then blocks of layers with dilations 1, 2, ..., 2^(L-1): filter and gate convolutions (kernel
  k, residual -> dilation channels), z = tanh(filter) * sigmoid(gate), a 1x1 residual convolution
  added to the layer's input and a 1x1 skip convolution; the skips are summed, then
  ReLU, 1x1, ReLU, 1x1 to the output classes and a softmax.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import sizes
from .base import Counts, Layer, Opt, expect_channels, expect_rank, require
from .conv import Conv1d, _ConvNd
from .options import BIAS, DILATION, KERNEL_SIZE, OUT_CHANNELS


class CausalConv1d(_ConvNd, ndim=1, example="--input 32,T --out-channels 32 --kernel-size 2 --dilation 4"):
    """Causal dilated 1-D convolution: left padding dilation*(kernel-1), the length is kept."""

    OPTIONS = (OUT_CHANNELS, KERNEL_SIZE, DILATION, BIAS)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "padding", "causal")

    def pads(self) -> tuple:
        return ((self.dilation[0] * (self.kernel_size[0] - 1), 0),)


SEQ_LEN = Opt("seq_len", "size", None, "Samples T (instead of --input C,T).", role="input")
RESIDUAL_CH = Opt("residual_channels", "size", None, "Channels of the residual stream.", required=True)
DILATION_CH = Opt("dilation_channels", "size", None, "Channels of the filter and gate convolutions (default: residual channels).")
SKIP_CH = Opt("skip_channels", "size", None, "Channels of the skip connections.", required=True)
LAYERS_PER_BLOCK = Opt("layers_per_block", "size", None, "Layers per block, L: dilations 1, 2, ..., 2^(L-1).", required=True)
BLOCKS = Opt("blocks", "size", "1", "Blocks, B: the dilation pattern repeats B times.")
WN_KERNEL = Opt("kernel_size", "size", "2", "Kernel size of the dilated convolutions.")
WN_CLASSES = Opt("output_classes", "size", "256", "Output classes (mu-law levels); also the one-hot input channels by default.")
INPUT_CH = Opt("input_channels", "size", None, "Input channels (default: one-hot over the output classes).")


def _sum_counts(parts: list[tuple[Counts, Any]]) -> dict:
    total = Counts()
    for part, times in parts:
        total.add(part, times)
    return {key: getattr(total, key) for key in Counts.ADDITIVE}


def _per_position(c: Counts, T: Any) -> dict:
    """A layer's operation counts for one output position (it computes T of them)."""
    return {k: sizes.exact_div(getattr(c, k), T) if sizes.is_int(T) else getattr(c, k) / T
            for k in ("mults", "adds", "comparisons", "macs", "transcendentals")}


@dataclass(frozen=True)
class WaveNet(Layer, example="--seq-len 16000 --residual-channels 32 --skip-channels 256 --layers-per-block 10 --blocks 3"):
    """A WaveNet stack of gated, dilated causal convolutions with residual and skip connections."""

    residual_channels: Any
    skip_channels: Any
    layers_per_block: Any
    blocks: Any = 1
    dilation_channels: Any = None
    kernel_size: Any = 2
    output_classes: Any = 256
    input_channels: Any = None
    bias: bool = True

    INPUT = "C,T"
    OPTIONS = (SEQ_LEN, RESIDUAL_CH, DILATION_CH, SKIP_CH, LAYERS_PER_BLOCK, BLOCKS, WN_KERNEL, WN_CLASSES, INPUT_CH, BIAS)

    def __post_init__(self) -> None:
        if self.dilation_channels is None:
            object.__setattr__(self, "dilation_channels", self.residual_channels)
        if self.input_channels is None:
            object.__setattr__(self, "input_channels", self.output_classes)
        self.normalize(
            scalars={"residual_channels": 1, "skip_channels": 1, "layers_per_block": 1, "blocks": 1,
                     "dilation_channels": 1, "kernel_size": 2, "output_classes": 1, "input_channels": 1}
        )  # fmt: skip

    @classmethod
    def input_from_options(cls, options: dict) -> tuple | None:
        t = options.get("seq_len")
        if t is None:
            return None
        require(t, "seq_len", minimum=1)
        channels = options.get("input_channels") or options.get("output_classes") or 256
        return (channels, t)

    INFERRED = {"input_channels": 0}

    def check_input(self, shape: tuple) -> None:
        expect_rank(self, shape, 2)
        expect_channels(shape, self.input_channels, "input_channels")

    def output_shape(self, shape: tuple) -> tuple:
        return (self.output_classes, shape[1])

    def counts(self, shape: tuple, out: tuple) -> Counts:
        T = shape[1]
        r, dc, s, k = self.residual_channels, self.dilation_channels, self.skip_channels, self.kernel_size
        L, B, classes = self.layers_per_block, self.blocks, self.output_classes
        layers = L * B
        bias = self.bias

        def conv(cin: Any, cout: Any, kernel: Any, dilation: Any) -> Counts:
            layer = CausalConv1d(cin, cout, kernel, dilation=dilation, bias=bias) if kernel != 1 else Conv1d(cin, cout, 1, bias=bias)
            return layer.counts((cin, T), (cout, T))

        first = conv(self.input_channels, r, k, 1)
        # the filter and gate convolutions of one layer, for a given dilation (their mults do not
        # depend on it; the connections at the sequence's start do)
        dilated = lambda d: conv(r, 2 * dc, k, d)  # noqa: E731
        gate = Counts(mults=dc * T, transcendentals=2 * dc * T)
        residual = conv(dc, r, 1, 1)
        residual_add = Counts(adds=r * T)
        skip = conv(dc, s, 1, 1)
        layer_fixed = [(gate, 1), (residual, 1), (residual_add, 1), (skip, 1)]
        output = [
            (Counts(adds=(layers - 1) * s * T), 1),  # the sum of the skips
            (Counts(comparisons=s * T), 1),  # ReLU
            (conv(s, s, 1, 1), 1),
            (Counts(comparisons=s * T), 1),  # ReLU
            (conv(s, classes, 1, 1), 1),
            (Counts(transcendentals=classes * T, adds=(classes - 1) * T, mults=classes * T), 1),  # softmax
        ]
        base = dilated(1)
        # connections of the dilated convolutions summed over the dilation pattern
        if sizes.is_int(L):
            pattern_conn = sum((dilated(2**i).connections for i in range(L)), start=0)
        else:
            pattern_conn = sizes.summation(lambda i: dilated(2**i).connections, 0, L - 1)
        totals = _sum_counts([(first, 1), (base, layers)] + [(p, layers * t) for p, t in layer_fixed] + output)
        totals["connections"] = totals["connections"] - layers * base.connections + B * pattern_conn
        dil_sum = B * (2**L - 1)
        field = 1 + (k - 1) * (1 + dil_sum)
        depth = 2 * layers + 3
        per_sample = {key: totals[key] for key in ("mults", "adds", "comparisons", "macs", "transcendentals")}
        per_sample = {key: sizes.exact_div(v, T) if sizes.is_int(T) and sizes.is_int(v) else v / T for key, v in per_sample.items()}
        work = {"training_pass": {key: totals[key] for key in per_sample}, "per_generated_sample_cached": per_sample}
        uncached = self._uncached(first, base, layer_fixed, output, T, dil_sum)
        notes = [
            f"receptive field: 1 + (k - 1) * (1 + sum of dilations) = {sizes.to_text(sizes.normalize(field))} samples "
            "(the initial causal convolution counted as dilation 1)",
            f"training: one pass over all {sizes.to_text(T)} samples, {sizes.to_text(sizes.normalize(depth))} convolutions deep "
            "(initial, then a dilated and a 1x1 per layer, then the two output 1x1s)",
            f"sampling: one pass per sample, {sizes.to_text(T)} passes of that depth, one after another",
            "per generated sample, cached: each layer computes one new position from queued activations; "
            "uncached: each layer recomputes every position the next layers still need",
        ]
        if uncached is not None:
            work["per_generated_sample_uncached"] = uncached
        else:
            notes.append("uncached work per sample: give numbers for --layers-per-block and --blocks")
        return Counts(
            **totals,
            sequential_steps=depth,
            sequential_steps_backward=depth,
            per_step=per_sample,
            step_unit="sample",
            regimes={"training_pass": depth, "sampling_passes": T, "sampling": T * depth},
            receptive_field={"samples": field, "dilation_sum": dil_sum + 1},
            work=work,
            notes=tuple(notes),
        )

    def _uncached(self, first, base, layer_fixed, output, T, dil_sum) -> dict | None:
        """Work for one new sample without caching: layer j computes the n_j = 1 + (k - 1) *
        (dilations of the layers after it) positions the rest of the stack needs; skips, the
        output stack and the softmax run for the one new position."""
        L, B, k = sizes.known_int(self.layers_per_block), sizes.known_int(self.blocks), self.kernel_size
        if L is None or B is None or L * B > 100_000:
            return None
        dilations = [2**i for _ in range(B) for i in range(L)]
        after = sum(dilations)
        total: dict = {}

        def add(part: Counts, positions: Any) -> None:
            for key, v in _per_position(part, T).items():
                total[key] = total.get(key, 0) + v * positions

        add(first, 1 + (k - 1) * after)
        gate, residual, residual_add, skip = (p for p, _ in layer_fixed)
        for d in dilations:
            after -= d
            n = 1 + (k - 1) * after
            for part in (base, gate, residual, residual_add):
                add(part, n)
            add(skip, 1)
        for part, _ in output:
            add(part, 1)
        return {key: sizes.normalize(v) for key, v in total.items()}

