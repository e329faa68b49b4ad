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
from typing import Any, TYPE_CHECKING

from .. import sizes
from ..sizes import Size, SizeArg
from .base import ConfigError, Counts, Layer, Opt, expect_channels, expect_rank, require
from .conv import Conv1d, _ConvNd, check_work
if TYPE_CHECKING:
    from .training import Backward
from .options import BIAS, DILATION, KERNEL_SIZE, OUT_CHANNELS


class CausalConv1d(_ConvNd, ndim=1, example="--input 32,T --out-channels 32 --kernel-size 2 --dilation 4"):
    """Causal dilated 1-D convolution: left padding dilation*(kernel-1), the length is kept."""

    OPTIONS = (OUT_CHANNELS, KERNEL_SIZE, DILATION, BIAS)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "padding", "causal")

    def pads(self) -> tuple:
        return ((self.dilation[0] * (self.kernel_size[0] - 1), 0),)

    def padded(self) -> Conv1d:
        """The convolution PyTorch runs after ``F.pad(x, (d*(k - 1), 0))``: the same kernel,
        dilation and bias with padding 0, over the padded input."""
        return Conv1d(self.in_channels, self.out_channels, self.kernel_size, dilation=self.dilation,
                      groups=self.groups, bias=self.bias)

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """As PyTorch computes a causal convolution: x padded on the left by d*(k - 1) (F.pad:
        a new tensor, the one autograd saves), then a Conv1d without padding. Its backward is
        that convolution's backward over the padded length T + d*(k - 1) (the gradient of the
        padded tensor, whose first d*(k - 1) entries F.pad's backward drops, no arithmetic).
        With a symbolic length the padded positions its taps reach are, windows starting at
        0..T - 1 with taps d apart: T + (k - 1)*min(d, T) (every one while d <= T)."""
        from .training import Backward, Saved  # only a training query imports it
        T, k, d = shape[1], self.kernel_size[0], self.dilation[0]
        length = T + d * (k - 1)
        bw = self.padded().backward((self.in_channels, length), out, batch)
        grad_input = dict(bw.grad_input)
        if grad_input.get("adds") is None and sizes.compare(self.groups, 1) == 0:
            reached = T + (k - 1) * sizes.smin(d, T)
            grad_input["adds"] = batch * self.in_channels * (self.out_channels * k * T - reached)
        lead = sizes.to_text(sizes.normalize(d * (k - 1)))
        return Backward(
            grad_input=grad_input,
            grad_weight=bw.grad_weight,
            saved=(Saved(f"input padded on the left by {lead}", batch * self.in_channels * length),),
            params=bw.params,
            as_layers=tuple((g, cmd, f"{note} (over x padded on the left by {lead}"
                                     + (f"; F.pad's backward drops the first {lead} entries of dL/dx)" if g == "input" else ")"))
                            for g, cmd, note in bw.as_layers),
        )


SEQ_LEN = Opt("seq_len", "size", None, "Samples T (instead of --input C,T).", role="input")
RESIDUAL_CH = Opt("residual_channels", "size", None, "Channels of the residual stream.", required=True)
DILATION_CH = Opt("dilation_channels", "size", None, "Channels of the filter and gate convolutions (default: residual channels).")
SKIP_CH = Opt("skip_channels", "size", None, "Channels of the skip connections.", required=True)
LAYERS_PER_BLOCK = Opt("layers_per_block", "size", None, "Layers per block, L: dilations 1, 2, ..., 2^(L-1).", required=True)
BLOCKS = Opt("blocks", "size", "1", "Blocks, B: the dilation pattern repeats B times.")
WN_KERNEL = Opt("kernel_size", "size", "2", "Kernel size of the dilated convolutions.")
WN_CLASSES = Opt("output_classes", "size", "256", "Output classes (mu-law levels); also the one-hot input channels by default.")
INPUT_CH = Opt("input_channels", "size", None, "Input channels (default: one-hot over the output classes).")


# -- the backward of the pieces between convolutions (counted as PyTorch's kernels compute them) --


def gate_backward(elements: Any) -> dict:
    """z = tanh(a) * sigmoid(b), from the saved t = tanh(a) and s = sigmoid(b): dz/dt = g*s and
    dz/ds = g*t (2 mults), then tanh's and sigmoid's own backward (their layers' BACKWARD): 6 mults
    and 2 adds an element, no transcendental."""
    from .elementwise import Sigmoid, Tanh, per_element

    return plus({"mults": 2 * elements}, per_element(Tanh.BACKWARD, elements), per_element(Sigmoid.BACKWARD, elements))


def relu_backward(elements: Any) -> dict:
    """ReLU's backward from its saved output (ReLU's BACKWARD): the mask y > 0."""
    from .elementwise import ReLU, per_element

    return per_element(ReLU.BACKWARD, elements)


def softmax_backward(groups: Any, size: Any) -> dict:
    """Softmax's backward over groups of K (the softmax layer's own count)."""
    from .elementwise import softmax_backward

    return softmax_backward(groups, size)


def plus(*parts: Any) -> dict:
    """The sum of count dicts, each given as a dict or as (dict, times)."""
    total: dict = {}
    for part in parts:
        counts, times = part if isinstance(part, tuple) else (part, 1)
        for key, value in counts.items():
            if value is None or total.get(key, 0) is None:
                total[key] = None
            else:
                total[key] = total.get(key, 0) + value * times
    return total


def _sum_counts(parts: list[tuple[Counts, Any]]) -> dict:
    total = Counts()
    for part, times in parts:
        total.add(part, times)
    return {key: getattr(total, key) for key in Counts.ADDITIVE}


def _per_position(c: Counts, T: Any) -> dict:
    """A layer's operation counts for one output position (it computes T of them)."""
    return {k: sizes.exact_div(getattr(c, k), T) if sizes.is_int(T) else getattr(c, k) / T
            for k in ("mults", "adds", "comparisons", "macs", "transcendentals")}


#: layers per block: the last dilation 2**(L - 1) must fit PyTorch's int64 dilation
MAX_LAYERS_PER_BLOCK = 63
#: with a symbolic length each distinct dilated convolution sums its k taps symbolically (about
#: 4 ms a tap): layers_per_block * kernel_size above this is refused
MAX_SYMBOLIC_TAPS = 256


@dataclass(frozen=True)
class WaveNet(Layer, example="--seq-len 16000 --residual-channels 32 --skip-channels 256 --layers-per-block 10 --blocks 3"):
    """A WaveNet stack of gated, dilated causal convolutions with residual and skip connections."""

    residual_channels: Size
    skip_channels: Size
    layers_per_block: Size
    blocks: Size = 1
    dilation_channels: Size = None
    kernel_size: SizeArg = 2
    output_classes: Size = 256
    input_channels: Size = None
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
        if sizes.compare(self.layers_per_block, MAX_LAYERS_PER_BLOCK) == 1:
            raise ConfigError(
                f"{sizes.to_text(self.layers_per_block)} is more than the {MAX_LAYERS_PER_BLOCK} PyTorch can build "
                f"(the dilation 2**(L - 1) overflows int64); refused",
                option="layers_per_block",
            )

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
        check_work(shape, (self.kernel_size,))
        L, k = sizes.known_int(self.layers_per_block), sizes.known_int(self.kernel_size)
        if not sizes.is_int(shape[1]) and L is not None and k is not None and L * k > MAX_SYMBOLIC_TAPS:
            raise ConfigError(
                f"{L} layers per block of {k} taps with a symbolic length is more than the {MAX_SYMBOLIC_TAPS} "
                "taps that compute in seconds (give a number for the length); refused",
                option="layers_per_block",
            )

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

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """The backward of the stack as PyTorch's autograd runs it (the module of the golden set:
        causal convolutions as F.pad then Conv1d, z = tanh(a) * sigmoid(b) of the two halves of
        the filter-and-gate convolution, x + res(z), skips summed, ReLU, 1x1, ReLU, 1x1, softmax
        over the classes), for n = L*B layers:
        - dL/dx is the initial causal convolution's dL/dx; dL/dW the convolutions' weight and
          bias gradients; the gradient through the stack (each inner convolution's dL/dx, the
          gates, the ReLU masks, the softmax) is shared: counted with dL/dW when the weights
          train, else with dL/dx (a frozen WaveNet whose input needs a gradient);
        - the last layer's residual convolution and add feed nothing (their forward is computed,
          its result unused): no gradient reaches them;
        - a tensor read twice sums its two gradients (one add an element): z of every layer but
          the last (residual and skip convolutions), and the residual stream entering every
          layer but the last (the next filter convolution and the residual add);
        - sums pass dL/dy on unchanged, F.pad's backward is a slice: no arithmetic.
        Saved: the padded input of every causal convolution, tanh's and sigmoid's outputs and z,
        the two ReLUs' outputs (each also the next 1x1's input) and the softmax's output."""
        from .training import Backward, Saved  # only a training query imports it
        C, T = shape
        r, dc, s, k = self.residual_channels, self.dilation_channels, self.skip_channels, self.kernel_size
        L, B, classes, bias = self.layers_per_block, self.blocks, self.output_classes, self.bias
        n = L * B
        rows = batch * T  # positions of the whole batch

        def causal(cin: Any, cout: Any, d: Any) -> Backward:
            return CausalConv1d(cin, cout, k, dilation=d, bias=bias).backward((cin, T), (cout, T), batch)

        def pointwise(cin: Any, cout: Any, part: str) -> dict:
            return getattr(Conv1d(cin, cout, 1, bias=bias).backward((cin, T), (cout, T), batch), part)

        def block(part: str) -> dict:
            """One block's filter-and-gate convolutions (dilations 1, 2, ..., 2**(L - 1)): part of each."""
            one = getattr(causal(r, 2 * dc, 1), part)
            return {key: sizes.summation(lambda i, key=key: getattr(causal(r, 2 * dc, 2**i), part)[key], 0, L - 1)
                    if value is not None else None for key, value in one.items()}

        first = causal(C, r, 1)
        # the weights' own gradients
        grad_weight = plus(
            first.grad_weight,
            (block("grad_weight"), B),
            (pointwise(dc, r, "grad_weight"), n - 1),  # the last residual convolution gets no gradient
            (pointwise(dc, s, "grad_weight"), n),
            pointwise(s, s, "grad_weight"),
            pointwise(s, classes, "grad_weight"),
        )
        # the gradient through the stack, which every weight but the output's and dL/dx need
        through = plus(
            (block("grad_input"), B),
            (gate_backward(dc * rows), n),
            (pointwise(dc, r, "grad_input"), n - 1),
            (pointwise(dc, s, "grad_input"), n),
            ({"adds": (dc + r) * rows}, n - 1),  # z and the residual stream, read twice
            relu_backward(2 * s * rows),
            pointwise(s, s, "grad_input"),
            pointwise(s, classes, "grad_input"),
            softmax_backward(rows, classes),
        )
        params = {"first.weight": (r, C, k), "filt.i.weight": (2 * dc, r, k), "res.i.weight": (r, dc, 1),
                  "skip.i.weight": (s, dc, 1), "out1.weight": (s, s, 1), "out2.weight": (classes, s, 1)}
        if bias:
            params = {**{name: shape for name, shape in params.items()},
                      **{name.replace("weight", "bias"): (shape[0],) for name, shape in params.items()}}
        padded = sizes.normalize(r * (n * T + (k - 1) * B * (2**L - 1)))
        saved = (
            Saved(f"input padded on the left by {sizes.to_text(sizes.normalize(k - 1))}", batch * C * (T + k - 1)),
            Saved("residual stream padded on the left by d*(k - 1), every layer", batch * padded),
            Saved("tanh and sigmoid outputs and z, every layer", batch * 3 * n * dc * T),
            Saved("ReLU outputs (the 1x1s' inputs)", batch * 2 * s * T),
            Saved("softmax output", batch * classes * T, tensor="output"),
        )
        return Backward(
            grad_input=first.grad_input, grad_weight=grad_weight, shared=through, saved=saved, params=params,
            unreached=r * dc + (r if bias else 0),  # the last residual convolution's weight and bias
            notes=(f"i = 0 .. {sizes.to_text(sizes.normalize(n - 1))}: one filter-and-gate, residual and skip "
                   "convolution per layer (the last residual convolution gets no gradient: its output is unused)",
                   "dL/dx: the initial causal convolution's; the gradient through the stack is counted with dL/dW "
                   "(with dL/dx when the layer is frozen)"),
        )

    def _uncached(self, first, base, layer_fixed, output, T, dil_sum) -> dict | None:
        """Work for one new sample without caching: layer j computes n_j = 1 + (k - 1) * a_j
        positions, a_j the sum of the dilations of the layers after it; skips, the output stack and
        the softmax run for the one new position. In closed form: the layers' dilations are
        2**l (l = 0..L-1) in block b = 0..B-1, and the layer at index i = b*L + l is followed by
        a_i = (sum of all dilations) - (those up to i), so sum_i a_i = sum_i D_i * i
        = (2**L - 1) * L * B(B - 1)/2 + B * ((L - 2) * 2**L + 2)."""
        L, B, k = self.layers_per_block, self.blocks, self.kernel_size
        if sizes.known_int(L) is None or sizes.known_int(B) is None:
            return None
        layers = L * B
        after_sum = (2**L - 1) * L * sizes.exact_div(B * (B - 1), 2) + B * ((L - 2) * 2**L + 2)
        positions = layers + (k - 1) * after_sum  # sum of n_j over the layers
        total: dict = {}

        def add(part: Counts, times: Any) -> None:
            for key, v in _per_position(part, T).items():
                total[key] = total.get(key, 0) + v * times

        add(first, 1 + (k - 1) * dil_sum)
        gate, residual, residual_add, skip = (p for p, _ in layer_fixed)
        for part in (base, gate, residual, residual_add):
            add(part, positions)
        add(skip, layers)
        for part, _ in output:
            add(part, 1)
        return {key: sizes.normalize(v) for key, v in total.items()}
