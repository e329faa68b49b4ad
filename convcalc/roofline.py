"""Roofline lower bounds for a layer on a device (issue 15): the least memory traffic, the
arithmetic intensity, and the time no implementation can beat.

A pass must at least read its inputs and weights once and write its outputs once:

    bytes   = inputs x act_bytes + (params + buffers) x weight_bytes + outputs x act_bytes
    time   >= max(flops / peak(dtype), bytes / bandwidth)

and it is compute-bound when flops / bytes (the arithmetic intensity) reaches the device's ridge
point peak / bandwidth, memory-bound below it. The backward (with --training) reads dL/dy, the
tensors the forward saved and the weights, and writes dL/dx (when wanted) and dL/dW:

    bytes_backward = outputs x act + saved + params x weight + [inputs x act] + params x weight

A lookup table (an embedding) reads only the rows one sample looks up; inputs are counted in the
activations' dtype (an embedding's int64 indices too, which keeps the bound a bound).

These are lower bounds, not measurements: caches, kernel launches, occupancy and fusion are
outside them. Counts are the layer's own (flops = mults + adds + comparisons); transcendentals
are not in the peak's FLOPs and are left out. Symbolic sizes give symbolic bytes and an intensity
as a fraction; the times need numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import sizes
from .errors import ConfigError
from .report import DTYPE_BYTES


@dataclass(frozen=True)
class Pass:
    """One pass (forward or backward) on one device: its least traffic and its time bound."""

    flops: Any
    bytes_read: Any
    bytes_written: Any
    intensity: Any  # flops per byte: a float for numbers, a fraction of expressions for symbols
    compute_seconds: float | None
    memory_seconds: float | None

    @property
    def bytes(self) -> Any:
        return sizes.normalize(self.bytes_read + self.bytes_written)

    @property
    def seconds(self) -> float | None:
        if self.compute_seconds is None or self.memory_seconds is None:
            return None
        return max(self.compute_seconds, self.memory_seconds)

    @property
    def bound(self) -> str | None:
        if self.seconds is None:
            return None
        return "compute" if self.compute_seconds >= self.memory_seconds else "memory"


@dataclass(frozen=True)
class Sequential(Pass):
    """A layer's passes that must run one after another (``passes`` of them, each this Pass): an
    autoregressive layer's sampling (a PixelCNN, a WaveNet: no pass starts before the one before
    has sampled its value), or a recurrent layer's time steps (h_t needs h_{t-1})."""

    passes: Any = 1
    label: str = "sampling"  # "sampling" or "time steps"
    what: str = ""  # what one pass computes and reads

    @property
    def total_seconds(self) -> float | None:
        return None if self.seconds is None or not sizes.is_int(self.passes) else self.passes * self.seconds


@dataclass(frozen=True)
class Roofline:
    """A roofline on a device: the forward pass, and the backward with a training step; for a
    layer each a Pass, for a network each a Total over its layers."""

    device: str
    dtype: str  # the compute dtype (the activations')
    weight_dtype: str
    peak_flops: float
    bandwidth: float
    forward: Any
    backward: Any = None
    sequential: Any = None  # a Sequential: an autoregressive layer's sampling or a recurrent layer's steps, else None

    @property
    def ridge(self) -> float:
        return self.peak_flops / self.bandwidth


def dtype_bytes(name: str, option: str) -> int:
    if name not in DTYPE_BYTES:
        raise ConfigError(f"{name!r} is not one of {', '.join(DTYPE_BYTES)}", option=option)
    return DTYPE_BYTES[name]


def _intensity(flops: Any, total: Any) -> Any:
    """FLOPs per byte: a float for numbers, a fraction of the algebra's values for symbols."""
    if sizes.all_int(flops, total):
        return flops / total if total else None
    from .algebra import quotient

    return quotient(flops, total) if sizes.is_light(flops) and sizes.is_light(total) else None


def _pass(flops: Any, read: Any, written: Any, peak: float, bandwidth: float) -> Pass:
    read, written = sizes.normalize(read), sizes.normalize(written)
    total = sizes.normalize(read + written)
    if sizes.all_int(flops, total):
        return Pass(flops, read, written, _intensity(flops, total), flops / peak, total / bandwidth)
    return Pass(flops, read, written, _intensity(flops, total), None, None)


def layer(report: Any, device: Any, *, weight_dtype: str | None = None) -> Roofline:
    """The roofline of a LayerReport on a devices.Device: the report's dtype is the activations'
    (and the compute's); weight_dtype that of the parameters and buffers (the same by default)."""
    act_dtype = report.dtype
    weight_dtype = weight_dtype or act_dtype
    act, weight = dtype_bytes(act_dtype, "dtype"), dtype_bytes(weight_dtype, "weight-dtype")
    peak = device.peak(act_dtype)
    inputs = sizes.prod(report.input_shape) * report.batch
    outputs = sizes.prod(report.output_shape) * report.batch
    params = report.params if report.params is not None else 0
    read_params = params
    from .layers.registry import LAYERS

    if report.layer in LAYERS and LAYERS[report.layer].READS == "rows":  # a lookup reads the rows it looks up
        read_params = sizes.smin(params, sizes.prod(report.output_shape))
    state = sizes.normalize(read_params + report.buffers)
    forward = _pass(report.flops, inputs * act + state * weight, outputs * act, peak, device.bandwidth)
    backward = None
    if report.backward is not None:
        wants_input = bool((report.training or {}).get("input_grad", True))
        trains = not (report.training or {}).get("frozen", False)
        read = outputs * act + (report.saved_bytes or 0) + params * weight
        written = (inputs * act if wants_input else 0) + (params * weight if trains else 0)
        backward = _pass(report.backward["total"]["flops"], read, written, peak, device.bandwidth)
    sequential = _sequential(report, forward, state * weight, act, peak, device.bandwidth)
    return Roofline(device.id, act_dtype, weight_dtype, peak, device.bandwidth, forward, backward, sequential)


def _sequential(report: Any, forward: Pass, weights: Any, act: int, peak: float, bandwidth: float) -> Sequential | None:
    """The passes a layer must run one after another, each reading every weight once (a separate
    step of the usual implementation; a kernel that keeps the weights on chip beats it):

    - sampling an autoregressive layer, one pass per pixel or sample: a layer that counts a cached
      step (WaveNet's per generated sample: one new position per layer from queued activations)
      does that step and reads one sample in and out; otherwise each pass is the whole forward
      pass again (PixelCNN: the image rerun for each pixel), its traffic the forward's;
    - a recurrent layer's T time steps (every layer of the step), when each step counts the same:
      x_t read, h_t written (the state carried over is left out)."""
    per = report.batch * act
    passes = (report.sequential_regimes or {}).get("sampling_passes")
    if passes is not None:
        step = (report.work or {}).get("per_generated_sample_cached")
        if step is None:
            p, what = forward, "rerunning the whole forward pass on the input so far"
        else:
            p = _pass(step["flops"], weights + report.input_shape[0] * per, report.output_shape[0] * per, peak, bandwidth)
            what = "computing one new position per layer from the cached activations (every weight read once, one sample in and out)"
        label = "sampling"
    elif report.per_step is not None and report.step_unit == "time step" and len(report.input_shape) == 2:
        passes, step = report.input_shape[0], report.per_step
        if sizes.normalize(passes * step["flops"] - report.flops) != 0:  # steps that differ (attention over the past)
            return None
        p = _pass(step["flops"], weights + report.input_shape[1] * per, report.output_shape[-1] * per, peak, bandwidth)
        label, what = "time steps", "computing every layer's step (every weight read once, x_t in and h_t out)"
    else:
        return None
    return Sequential(p.flops, p.bytes_read, p.bytes_written, p.intensity, p.compute_seconds, p.memory_seconds, passes, label, what)


def join(flops: Any, operands: list, output: Any, batch: Any, device: Any, dtype: str) -> Roofline:
    """An add or multiply where branches meet (a network's join): it reads every operand and
    writes the output once (shapes without the batch)."""
    act = dtype_bytes(dtype, "dtype")
    read = sum((sizes.prod(s) for s in operands), start=0) * batch * act
    written = sizes.prod(output) * batch * act
    return Roofline(device.id, dtype, dtype, device.peak(dtype), device.bandwidth,
                    _pass(flops, read, written, device.peak(dtype), device.bandwidth))


@dataclass(frozen=True)
class Total:
    """A network's pass: the sums over its layers, and their time bounds summed (the layers run
    one after another; a layer cannot start before the one it reads has ended)."""

    flops: Any
    bytes_read: Any
    bytes_written: Any
    seconds: float | None  # the sum of the layers' bounds (None with symbolic sizes)
    compute_bound: int  # layers whose bound is their compute time
    memory_bound: int

    @property
    def bytes(self) -> Any:
        return sizes.normalize(self.bytes_read + self.bytes_written)

    @property
    def intensity(self) -> Any:
        return _intensity(self.flops, self.bytes)


def _total(passes: list) -> Total:
    seconds = None if any(p.seconds is None for p in passes) else sum(p.seconds for p in passes)
    return Total(sizes.normalize(sum((p.flops for p in passes), start=0)), sizes.normalize(sum((p.bytes_read for p in passes), start=0)),
                 sizes.normalize(sum((p.bytes_written for p in passes), start=0)), seconds,
                 sum(p.bound == "compute" for p in passes), sum(p.bound == "memory" for p in passes))


def network(layers: list, device: Any, dtype: str, weight_dtype: str | None = None) -> Roofline:
    """A network's roofline from its layers' and joins' (in the order they ran)."""
    forward = _total([r.forward for r in layers])
    backs = [r.backward for r in layers if r.backward is not None]
    backward = _total(backs) if backs else None
    return Roofline(device.id, dtype, weight_dtype or dtype, device.peak(dtype), device.bandwidth, forward, backward)
