"""Counts: what a layer's ``counts`` returns, per sample; the report scales them by the batch."""

from __future__ import annotations

from typing import Any, ClassVar


class Counts:
    """Per-sample counts a layer returns; the base class scales by batch and adds the totals.

    A plain class rather than a dataclass: it is built on every query and its thirty defaults
    would cost a dataclass's generated __init__ at import time on the numeric path.
    """

    _DEFAULTS: ClassVar[dict[str, Any]] = {
        "weights": 0,
        "biases": 0,
        "buffers": 0,  # stored in the layer's dtype
        "int_buffers": 0,  # stored as int64 (num_batches_tracked)
        "mults": 0,
        "adds": 0,
        "comparisons": 0,
        "macs": 0,
        "connections": 0,
        "gemm": None,  # (M, K, N) per group and per sample, N scales with batch
        "gemm_groups": None,
        "gemm_batch_axis": 2,  # which of M, K, N grows with the batch
        "transcendentals": 0,
        "sequential_steps": 1,
        "sequential_steps_backward": 1,
        "state": None,  # elements of recurrent state per sample
        "bptt": None,  # elements a backward pass through time keeps, per sample
        "per_step": None,  # per-sample counts of one step (COUNT_KEYS without flops)
        "per_layer": None,  # rows: labels, params, and "per_step"/"per_sequence" count dicts
        "regimes": None,  # schedule name -> sequential steps
        "notes": (),  # the rules used, in words
        "step_unit": "time step",  # what one entry of per_step is
        "effective_weights": None,  # weights a mask leaves in use (masked convolutions)
        "effective_mults": None,  # products by those weights
        "receptive_field": None,  # sizes, and a "map" of cell states for a drawing
        "work": None,  # named per-sample count dicts (e.g. per generated sample)
    }
    __slots__ = tuple(_DEFAULTS)

    #: the fields that add up when parts are combined into a whole
    ADDITIVE: ClassVar[tuple[str, ...]] = ("weights", "biases", "mults", "adds", "comparisons", "macs", "transcendentals", "connections")

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(self._DEFAULTS)
        if unknown:
            raise TypeError(f"unknown counts: {', '.join(sorted(unknown))}")
        for name, default in self._DEFAULTS.items():
            setattr(self, name, values.get(name, default))

    def add(self, part: "Counts", times: Any = 1) -> "Counts":
        """self += times * part, for the additive fields; where either side has effective
        (unmasked) weights or mults, the other side's plain ones stand in for its effective ones."""
        if part.effective_weights is not None or self.effective_weights is not None:
            mine = self.weights if self.effective_weights is None else self.effective_weights
            theirs = part.weights if part.effective_weights is None else part.effective_weights
            self.effective_weights = mine + theirs * times
        if part.effective_mults is not None or self.effective_mults is not None:
            mine = self.mults if self.effective_mults is None else self.effective_mults
            theirs = part.mults if part.effective_mults is None else part.effective_mults
            self.effective_mults = mine + theirs * times
        for key in self.ADDITIVE:
            setattr(self, key, getattr(self, key) + getattr(part, key) * times)
        if part.notes:
            self.notes = tuple(dict.fromkeys(tuple(self.notes) + tuple(part.notes)))
        return self
