"""What a layer computes to: the quantities and nothing else (no formatting, no glyphs)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1, "float64": 8}


class Unit(str, Enum):
    SHAPE = "shape"
    COUNT = "count"
    BYTES = "bytes"
    TEXT = "text"
    GEMM = "gemm"


class Quantity(str, Enum):
    """The report's quantities, in display order; the value is the JSON key (a public contract)."""

    LAYER = "layer"
    INPUT_SHAPE = "input_shape"
    OUTPUT_SHAPE = "output_shape"
    PARAMS = "params"
    EFFECTIVE_PARAMS = "effective_params"
    WEIGHTS = "weights"
    BIASES = "biases"
    BUFFERS = "buffers"
    MULTS = "mults"
    EFFECTIVE_MULTS = "effective_mults"
    ADDS = "adds"
    COMPARISONS = "comparisons"
    MACS = "macs"
    FLOPS = "flops"
    TRANSCENDENTALS = "transcendentals"
    CONNECTIONS = "connections"
    ACTIVATION_BYTES = "activation_bytes"
    PARAM_BYTES = "param_bytes"
    BUFFER_BYTES = "buffer_bytes"
    GEMM = "gemm"
    GEMM_GROUPS = "gemm_groups"
    SEQUENTIAL_STEPS = "sequential_steps"
    SEQUENTIAL_STEPS_BACKWARD = "sequential_steps_backward"
    STATE_BYTES = "state_bytes"
    BPTT_ACTIVATION_BYTES = "bptt_activation_bytes"
    OPTIMIZER_FLOPS = "optimizer_flops"
    TRAINING_FLOPS = "training_flops"
    SAVED_BYTES = "saved_bytes"
    GRAD_BYTES = "grad_bytes"
    OPTIMIZER_BYTES = "optimizer_bytes"
    TRAINING_PEAK_BYTES = "training_peak_bytes"
    BATCH = "batch"
    DTYPE = "dtype"

    @property
    def unit(self) -> Unit:
        return _UNITS.get(self, Unit.COUNT)


_UNITS = {
    Quantity.LAYER: Unit.TEXT,
    Quantity.DTYPE: Unit.TEXT,
    Quantity.INPUT_SHAPE: Unit.SHAPE,
    Quantity.OUTPUT_SHAPE: Unit.SHAPE,
    Quantity.GEMM: Unit.GEMM,
    Quantity.ACTIVATION_BYTES: Unit.BYTES,
    Quantity.PARAM_BYTES: Unit.BYTES,
    Quantity.BUFFER_BYTES: Unit.BYTES,
    Quantity.STATE_BYTES: Unit.BYTES,
    Quantity.BPTT_ACTIVATION_BYTES: Unit.BYTES,
    Quantity.SAVED_BYTES: Unit.BYTES,
    Quantity.GRAD_BYTES: Unit.BYTES,
    Quantity.OPTIMIZER_BYTES: Unit.BYTES,
    Quantity.TRAINING_PEAK_BYTES: Unit.BYTES,
}

#: the training step's quantities: reported (and in JSON) only when a training step is asked for
TRAINING_QUANTITIES = frozenset({Quantity.OPTIMIZER_FLOPS, Quantity.TRAINING_FLOPS, Quantity.SAVED_BYTES, Quantity.GRAD_BYTES,
                                 Quantity.OPTIMIZER_BYTES, Quantity.TRAINING_PEAK_BYTES})

#: the operation counts that scale with the batch (flops = mults + adds + comparisons)
COUNT_KEYS = ("mults", "adds", "comparisons", "macs", "flops", "transcendentals")


class Printable:
    """What every report (layer, network, solve, derivation) prints as: the command line's plain
    table for str(), markdown in a notebook."""

    def __str__(self) -> str:
        from .render import Format, render

        return render(Format.table, self)

    def _repr_markdown_(self) -> str:
        from .render import Format, render

        return render(Format.markdown, self)


@dataclass(frozen=True)
class LayerReport(Printable):
    """The quantities of one layer for one input shape, batch and dtype.

    Counts (mults, adds, comparisons, macs, flops, transcendentals, activation and state bytes)
    are for the whole batch; params, buffers and connections describe the layer and one sample.
    Transcendentals (sigmoid, tanh, exp evaluations) are counted apart from flops, as XLA's cost
    analysis does. Recurrent layers add per-step counts, a per-layer breakdown, the sequential
    steps of each schedule and notes stating the rules used; other layers leave them empty.
    """

    layer: str
    input_shape: tuple
    output_shape: tuple
    params: Any
    weights: Any
    biases: Any
    buffers: Any
    mults: Any
    adds: Any
    comparisons: Any
    macs: Any
    flops: Any
    connections: Any
    activation_bytes: Any
    param_bytes: Any
    buffer_bytes: Any
    gemm: tuple | None
    gemm_groups: Any
    sequential_steps: Any
    batch: Any
    dtype: str
    transcendentals: Any = 0
    sequential_steps_backward: Any = 1
    state_bytes: Any = None
    bptt_activation_bytes: Any = None
    per_step: dict | None = None
    per_layer: tuple | None = None
    sequential_regimes: dict | None = None
    notes: tuple = ()
    step_unit: str = "time step"
    effective_params: Any = None
    effective_mults: Any = None
    receptive_field: dict | None = None
    work: dict | None = None
    config: dict = field(default_factory=dict)
    # the training step (None unless asked for): see convcalc/layers/training.py
    training: dict | None = None  # the options it was counted with
    backward: dict | None = None  # {"grad_input": counts, "grad_weight": counts, "total": counts}
    training_counts: dict | None = None  # forward, grad_input, grad_weight, backward, optimizer, step
    optimizer_flops: Any = None
    training_flops: Any = None
    saved: tuple | None = None  # the tensors autograd saves: name, tensor, dtype, elements, bytes
    saved_bytes: Any = None
    grad_bytes: Any = None
    optimizer_bytes: Any = None
    working_bytes: Any = None  # dL/dy and dL/dx of the backward, alive at once
    training_peak_bytes: Any = None
    gradients: dict | None = None  # name -> shape (batch excluded), Jacobians dy/dx, dy/dW too
    gradient_layers: tuple | None = None  # the backward as layers: (gradient, command, note)
    roofline: Any = None  # a roofline.Roofline on a device (--device): least traffic and time bound
    convention: Any = None  # a conventions.Counted (--convention): the number another counter prints

    def get(self, q: Quantity) -> Any:
        return getattr(self, q.value)

    def __repr__(self) -> str:
        """The headline quantities, symbolic ones in the command line's readable form."""
        return _short_repr(self, ("layer", "input_shape", "output_shape", "params", "macs", "flops", "activation_bytes"))


    def quantities(self) -> list:
        """The quantities this report has, in display order: the training step's only when
        it was asked for."""
        return [q for q in Quantity if self.training is not None or q not in TRAINING_QUANTITIES]

    def items(self):
        """(Quantity, value) pairs in display order."""
        return [(q, self.get(q)) for q in self.quantities()]

    @property
    def is_symbolic(self) -> bool:
        from .sizes import is_int

        def sym(v):
            if isinstance(v, tuple):
                return any(sym(x) for x in v)
            return not (v is None or isinstance(v, (str, bool)) or is_int(v))

        plain = ("config", "per_step", "per_layer", "sequential_regimes", "notes", "step_unit", "receptive_field", "work",
                 "training", "backward", "training_counts", "saved", "gradients", "gradient_layers", "roofline", "convention")
        return any(sym(getattr(self, f.name)) for f in fields(self) if f.name not in plain)


def _short_repr(report: Any, keys: tuple) -> str:
    """``Name(key=value, ...)`` with symbolic values and shapes printed as the CLI prints them."""
    from .sizes import is_int, to_text

    def text(v: Any) -> str:
        if isinstance(v, tuple):
            return "(" + ", ".join(text(x) for x in v) + ("," if len(v) == 1 else "") + ")"
        if v is None or isinstance(v, (str, bool, float)) or is_int(v):
            return repr(v)
        return to_text(v)

    return f"{type(report).__name__}(" + ", ".join(f"{k}={text(getattr(report, k))}" for k in keys) + ")"
