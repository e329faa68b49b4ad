"""What flows through a network while it is evaluated, and the rows it leaves behind."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import sizes
from . import receptive
from .reading import Item

ROW_COUNTS = ("params", "buffers", "mults", "adds", "comparisons", "macs", "flops", "transcendentals", "activation_bytes", "param_bytes", "buffer_bytes")


@dataclass
class _State:
    """What flows through the network while it is evaluated."""

    shape: tuple
    rf: tuple | None  # per spatial dimension (size, jump); None once the spatial chain ends
    held: Any = 0  # activation bytes kept alive by enclosing blocks
    depth_seq: Any = 0  # sequential depth so far
    tensor: int = 0  # the tensor's id in the training step (0: the network's input)


@dataclass
class _Ctx:
    file: str
    batch: Any
    dtype: str
    rows: list = field(default_factory=list)
    peak: Any = 0
    last_rf: tuple | None = None  # the receptive field before the spatial chain ended
    cache: dict = field(default_factory=dict)  # (layer, input shape, training) -> (LayerReport, its row counts)
    built: dict = field(default_factory=dict)  # (type, parameters, input shape) -> the layer (flow._leaf)
    named: dict = field(default_factory=dict)  # name -> the first row (not a block's) of that name, for tie:
    trace: list = field(default_factory=list)  # the layers as run: ("layer", layer, path, output shape) and blocks
    domain: list = field(default_factory=list)  # conditions (equations) under which the joins' sizes agree
    residues: dict = field(default_factory=dict)  # symbol -> Residues: the conditions on one symbol, combined
    joins: list = field(default_factory=list)  # where the conditions come from
    rf_cut: str | None = None  # the first transposed convolution: no receptive field after it
    step: Any = None  # the training step (a step.Step), when one is counted
    outputs: dict = field(default_factory=dict)  # save: name -> Output
    wanted: set = field(default_factory=set)  # the names some from: reads (their outputs stay alive)
    kept: Any = 0  # activation bytes of saved outputs kept alive for a later from:
    cost: Any = None  # (devices.Device, weight dtype) for a roofline (--device), else None
    roofs: list = field(default_factory=list)  # the rooflines of the layers and joins as they ran
    tally: Any = None  # a conventions.Tally (--convention): another tool's counts as the layers and joins ran


@dataclass
class Output:
    """An output remembered by ``save: NAME``."""

    state: _State
    consumed: bool  # the item after it read it too (it was not followed by a from:)
    reads: int = 0  # how many from: have read it


def _row(ctx: _Ctx, item: Item, path: str, depth: int, kind: str, shape: tuple, counts: dict, rf: tuple | None, block: bool) -> dict:
    row = {"path": path, "name": item.name, "type": kind, "depth": depth, "block": block, "output_shape": shape}
    row.update(counts)
    row["receptive_field"], row["jump"] = receptive.sizes_and_jumps(rf)
    return row


def _sum(values: list) -> Any:
    """The sum of counts; None when a layer could not give one (it is unknown, not zero)."""
    if any(v is None for v in values):
        return None
    return sizes.normalize(sum(values, start=0))


def _show(shape: tuple) -> str:
    return "x".join(sizes.to_text(v) for v in shape)
