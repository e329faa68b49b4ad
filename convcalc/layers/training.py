"""The backward pass and the training step of one layer.

Each layer writes its backward beside its forward, in its own module: a ``backward(shape, out,
batch)`` method returning a ``Backward`` (the whole batch's counts of dL/dx and of dL/dW, dL/db,
and the tensors autograd saves for them), written as plain arithmetic on ints and symbols like
``counts``. This module turns that into the report's training quantities: the optimizer step
(per-element costs and state from the data file ``data/optimizers.json``), gradient and
optimizer memory, saved bytes and the peak of the step. A network only sums these.

Memory convention (stated in the README): the peak of a training step is the parameters (and,
with mixed precision, their half-precision working copy), their gradients, the optimizer state,
every tensor the forward saved for the backward, and the largest backward working set: one
layer's dL/dy and dL/dx alive at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from .. import sizes
from ..errors import ConfigError
from ..report import DTYPE_BYTES

#: the keys of a backward count dict (flops = mults + adds + comparisons is added by the report)
BACKWARD_KEYS = ("mults", "adds", "comparisons", "macs", "transcendentals")
#: bytes of saved tensors that are not in the layer's dtype
FIXED_BYTES = {"int64": 8, "bool": 1, "float32": 4}
MIXED = ("float16", "bfloat16")


@lru_cache(maxsize=1)
def optimizers() -> dict:
    """The optimizer table: name -> state tensors, per-element mults, adds, transcendentals, rule."""
    import json  # only a training query reads the table
    from pathlib import Path

    data = json.loads((Path(__file__).parent.parent / "data" / "optimizers.json").read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


class Saved(NamedTuple):
    """One tensor autograd keeps for the backward: its elements for the whole batch, stored in
    the layer's dtype ("act") or a fixed one (int64 indices, bool masks, float32 statistics).
    ``tensor`` names the layer's own input or output when it is that tensor: a network counts
    a tensor shared by neighbours once. ``needed_for``: "input" when autograd saves it only if
    dL/dx is wanted, "weight" only if dL/dW is, "any" if either is (PyTorch saves what the wanted
    gradients need)."""

    name: str
    elements: Any
    dtype: str = "act"
    tensor: str = ""
    needed_for: str = ""


class Backward:
    """What a layer's backward costs for the whole batch, and what it needs kept.

    grad_input: counts of dL/dx from dL/dy; grad_weight: of dL/dW and dL/db (both dicts over
    BACKWARD_KEYS, missing keys 0). saved: the tensors autograd saves (Saved). params: the
    trainable parameters by PyTorch's name -> shape (their gradients have these shapes).
    as_layers: the backward written as layers convcalc knows, (gradient, command, note).
    shared: counts either gradient needs (a recurrent layer's gradient through time): reported
    with grad_weight when the weights train, else with grad_input when dL/dx is wanted.
    unreached: parameter elements no gradient reaches (a WaveNet's last residual convolution,
    whose output is unused): PyTorch gives them no .grad, and the optimizer skips them.
    """

    __slots__ = ("grad_input", "grad_weight", "saved", "params", "as_layers", "notes", "sequential_steps", "shared", "unreached")

    def __init__(self, grad_input: dict | None = None, grad_weight: dict | None = None, saved: tuple = (),
                 params: dict | None = None, as_layers: tuple = (), notes: tuple = (), sequential_steps: Any = None,
                 shared: dict | None = None, unreached: Any = 0) -> None:
        self.grad_input = dict(grad_input or {})
        self.grad_weight = dict(grad_weight or {})
        self.shared = dict(shared or {})
        self.unreached = unreached
        self.saved = tuple(saved)
        self.params = dict(params or {})
        self.as_layers = tuple(as_layers)
        self.notes = tuple(notes)
        self.sequential_steps = sequential_steps


def command(layer: str, **options: Any) -> str:
    """A layer query as the command line writes it, for the backward written as layers:
    ``convcalc LAYER --option value ...`` with sizes and tuples of sizes as 3, 3,3, 2*H; True and
    False as --flag and --no-flag; None left out."""
    def value(v: Any) -> str:
        if isinstance(v, (tuple, list)):
            return ",".join(value(x) for x in v)
        return sizes.to_text(v).replace(" ", "")

    words = ["convcalc", layer]
    for name, v in options.items():
        flag = name.replace("_", "-")
        if isinstance(v, bool):
            words.append(f"--{flag}" if v else f"--no-{flag}")
        elif v is not None:
            words += [f"--{flag}", value(v)]
    return " ".join(words)


@dataclass(frozen=True)
class Training:
    """How a training step is counted: the optimizer, whether dL/dx of the input is wanted (a
    network's first layer needs none), whether the layer is frozen (no dL/dW, no optimizer
    state), and mixed precision (half-precision activations, float32 master weights)."""

    optimizer: str = "sgd"
    input_grad: bool = True
    frozen: bool = False
    mixed_precision: str | None = None
    #: show the gradients' shapes and the backward as layers (a display choice; counts are the same)
    gradients: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.optimizer, str) or self.optimizer not in optimizers():
            raise ConfigError(f"{self.optimizer!r} is not one of {', '.join(optimizers())}", option="optimizer")
        if self.mixed_precision is not None and self.mixed_precision not in MIXED:
            raise ConfigError(f"{self.mixed_precision!r} is not one of {', '.join(MIXED)} (or fp16, bf16)", option="mixed_precision")
        for name in ("input_grad", "frozen", "gradients"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError("expected True or False", option=name)

    def describe(self) -> dict:
        """The options as a report states them (its ``training`` key), with the optimizer's rule."""
        return {"optimizer": self.optimizer, "input_grad": self.input_grad, "frozen": self.frozen,
                "mixed_precision": self.mixed_precision, "optimizer_rule": optimizers()[self.optimizer]["rule"],
                "gradients": self.gradients}


def sum_known(*values: Any) -> Any:
    """The sum, or None when a term is unknown (None); a symbolic sum of polynomial parts is
    expanded so that like terms collect (8*H*T + 4*H*(T - 1) -> 12*H*T - 4*H)."""
    if any(v is None for v in values):
        return None
    total = sizes.normalize(sum(values, start=0))
    if not sizes.is_light(total) and total.is_Add and total.is_polynomial() and len(total.args) <= 64:
        total = sizes.normalize(total.expand())
    return total


def with_flops(counts: dict) -> dict:
    """A full count dict (every COUNT key) with flops = mults + adds + comparisons."""
    out = {k: sum_known(counts.get(k, 0)) for k in BACKWARD_KEYS}
    out["flops"] = sum_known(out["mults"], out["adds"], out["comparisons"])
    return {k: out[k] for k in ("mults", "adds", "comparisons", "macs", "flops", "transcendentals")}


def plus_counts(a: dict, b: dict) -> dict:
    """Two count dicts added key by key (None where either is unknown)."""
    return {k: sum_known(a[k], b[k]) for k in a}


def fields(layer: Any, shape: tuple, out: tuple, batch: Any, dtype: str, training: Training, forward: dict,
           params: Any, param_bytes: Any, buffer_bytes: Any) -> tuple[dict, tuple]:
    """The report's training fields for one layer, its Backward turned into counts and bytes,
    and the backward's notes."""
    bw = layer.backward(shape, out, batch)
    zero = with_flops({})
    grad_input = with_flops(bw.grad_input) if training.input_grad else zero
    trainable = 0 if training.frozen else params
    grad_weight = with_flops(bw.grad_weight) if trainable != 0 else zero
    if bw.shared:
        if trainable != 0:
            grad_weight = plus_counts(grad_weight, with_flops(bw.shared))
        elif training.input_grad:
            grad_input = plus_counts(grad_input, with_flops(bw.shared))
    backward = plus_counts(grad_input, grad_weight)
    updated = sizes.normalize(trainable - bw.unreached) if trainable != 0 else 0  # parameters that get a gradient
    opt = optimizers()[training.optimizer]
    optimizer = with_flops({k: opt[k] * updated for k in ("mults", "adds", "transcendentals")})
    step = plus_counts(plus_counts(forward, backward), optimizer)
    width = DTYPE_BYTES[dtype]
    mixed = training.mixed_precision is not None
    act = DTYPE_BYTES[training.mixed_precision] if mixed else width
    master = 4 if mixed else width  # float32 master weights, gradients and optimizer state
    idle = trainable == 0 and not training.input_grad  # no gradient wanted: autograd records nothing
    saved = []
    for s in () if idle else bw.saved:
        if ((s.needed_for == "input" and not training.input_grad) or (s.needed_for == "weight" and trainable == 0)
                or (s.needed_for == "any" and not training.input_grad and trainable == 0)):
            continue
        each = act if s.dtype == "act" else FIXED_BYTES.get(s.dtype, DTYPE_BYTES.get(s.dtype, width))
        stored = (training.mixed_precision or dtype) if s.dtype == "act" else s.dtype  # the dtype it is kept in
        saved.append({"name": s.name, "tensor": s.tensor, "dtype": stored, "elements": sizes.normalize(s.elements),
                      "bytes": sizes.normalize(s.elements * each)})
    saved_bytes = sum_known(*(s["bytes"] for s in saved))
    grad_bytes = sizes.normalize(updated * master)
    optimizer_bytes = sizes.normalize(opt["state"] * updated * master)
    # the backward's working set: dL/dy, and dL/dx when it is computed
    working = 0 if idle else sizes.prod(out) * batch * act + (sizes.prod(shape) * batch * act if training.input_grad else 0)
    weights = (params * master + params * act) if mixed else param_bytes
    gradients = {"output": tuple(out), **({"input": tuple(shape)} if training.input_grad else {})}
    if trainable != 0:
        gradients.update({name: tuple(s) for name, s in bw.params.items()})
    jacobians = {"dy/dx": tuple(out) + tuple(shape)}
    if trainable != 0:
        jacobians.update({f"dy/d{name}": tuple(out) + tuple(s) for name, s in bw.params.items()})
    return {
        "training": training.describe(),
        "backward": {"grad_input": grad_input, "grad_weight": grad_weight, "total": backward},
        "training_counts": {"forward": forward, "grad_input": grad_input, "grad_weight": grad_weight, "backward": backward,
                            "optimizer": optimizer, "step": step},
        "optimizer_flops": optimizer["flops"],
        "training_flops": step["flops"],
        "saved": tuple(saved),
        "saved_bytes": saved_bytes,
        "grad_bytes": grad_bytes,
        "optimizer_bytes": optimizer_bytes,
        "working_bytes": sizes.normalize(working),
        "training_peak_bytes": sum_known(weights, buffer_bytes, grad_bytes, optimizer_bytes, saved_bytes, working),
        "gradients": {**gradients, **jacobians},
        "gradient_layers": tuple(bw.as_layers),
        "sequential_steps_backward": bw.sequential_steps,
    }, tuple(bw.notes)
