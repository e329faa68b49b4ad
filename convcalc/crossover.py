"""Crossover questions (issue 15): the input size or sequence length at which a layer or a network
turns compute-bound on a device, or at which its attention costs as many FLOPs as its MLP.

The input names one symbol (``--input 3,S,S``, ``--input T``). The model is counted once with
it, so its FLOPs and bytes are formulas in that symbol (convcalc's algebra, floors included);
each candidate size is then a substitution, not a new count. The answer is the least size S at
which the condition holds and does not hold at S - 1, found by doubling and bisection; it is then
checked at every doubling of S up to 2**40, and a condition that fails again there is reported
(a size can be compute-bound and a larger one not, where floors or padding change the shapes).

- compute-bound: FLOPs / peak >= bytes / bandwidth (the forward pass's roofline,
  roofline.py), i.e. arithmetic intensity >= the device's ridge point.
- attention-mlp: the FLOPs of the attention layers (multiheadattention, projections included)
  >= those of the MLPs (every linear layer inside a block: the heads and any other top-level
  linear layer are neither).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from . import sizes
from .errors import ConfigError
from .report import Printable

QUESTIONS = {
    "compute-bound": "the least size at which the forward pass is compute-bound (FLOPs / peak >= bytes / bandwidth)",
    "attention-mlp": "the least size at which attention costs as many FLOPs as the MLPs",
}
LIMIT = 2**40


@dataclass(frozen=True)
class CrossoverReport(Printable):
    """The least value of the input's symbol at which ``question`` holds (None: not up to 2**40)."""

    subject: str  # the network's name, or the layer's
    question: str
    input_shape: tuple
    symbol: str
    value: int | None
    figures: tuple  # (title, formula in the symbol, value at value - 1, value at value)
    device: str | None
    dtype: str
    notes: tuple = ()

    @property
    def unknown(self) -> tuple:
        return (self.symbol,)


def symbol_of(shape: tuple, option: str = "input") -> str:
    """The one symbol an input shape names (ConfigError otherwise)."""
    names = set().union(*(sizes.names(v) for v in shape))
    if len(names) != 1:
        found = f"it names {', '.join(sorted(names))}" if names else "it has none"
        raise ConfigError(f"a crossover is solved for one size: give an input with one symbol, e.g. 3,S,S or T ({found})",
                          option=option)
    return names.pop()


def _at(expr: Any, name: str, s: int) -> int:
    v = sizes.substitute(expr, {name: s})
    if not sizes.is_int(v):
        raise ConfigError(f"{sizes.to_text(expr)} is not a number at {name} = {s}", option="input")
    return int(v)


def _least(holds: Callable[[int], bool]) -> tuple[int | None, bool]:
    """(the least s >= 1 with holds(s) and not holds(s - 1), by doubling and bisection; None when it
    holds at no power of two up to LIMIT) and whether it holds at every doubling of s up to LIMIT."""
    if holds(1):
        lo, hi = 0, 1
    else:
        lo, hi = 1, 2
        while not holds(hi):
            if hi >= LIMIT:
                return None, False
            lo, hi = hi, hi * 2
        while hi - lo > 1:  # holds(hi), not holds(lo)
            mid = (lo + hi) // 2
            if holds(mid):
                hi = mid
            else:
                lo = mid
    stays, s = True, hi
    while s <= LIMIT:
        stays = stays and holds(s)
        s *= 2
    return hi, stays


def solve(subject: str, question: str, shape: tuple, left: tuple, right: tuple, *, ratio: float = 1.0,
          device: str | None = None, dtype: str = "float32", extra: tuple = (), refuses: Callable | None = None) -> CrossoverReport:
    """The least size at which left >= ratio x right: left and right (title, formula) pairs in the
    input's one symbol; extra: more (title, formula) figures to show at the answer. refuses(s): why
    the model refuses the input at size s (None when it takes it): the formulas know no upper limit
    (a table of 1024 positions), so the answer is checked by counting the model there."""
    name = symbol_of(shape)

    def holds(s: int) -> bool:
        return _at(left[1], name, s) >= ratio * _at(right[1], name, s)

    value, stays = _least(holds)
    refused = None if value is None or refuses is None else refuses(value)
    rows = []
    for title, expr in (left, right) + extra:
        before = None if value is None or value < 2 else _at(expr, name, value - 1)
        rows.append((title, expr, before, None if value is None else _at(expr, name, value)))
    notes = []
    if refused is not None:
        notes.append(f"the formulas cross at {name} = {value}, but the model refuses that input ({refused}): "
                     f"it does not happen at any size the model takes")
        value, rows = None, []
    if value is None and refused is None:
        notes.append(f"it does not happen at any {name} up to 2**40 tried (powers of two)")
    elif value == 1:
        notes.append(f"it holds from the smallest size, {name} = 1")
    if value is not None and not stays:
        notes.append(f"it does not hold at every larger size: some doubling of {name} = {value} fails it again")
    return CrossoverReport(subject, question, tuple(shape), name, value, tuple(rows), device, dtype, tuple(notes))


def compute_bound(subject: str, shape: tuple, roof: Any, refuses: Callable | None = None) -> CrossoverReport:
    """The least size at which a forward pass (a roofline's) turns compute-bound."""
    f = roof.forward
    ridge = roof.ridge
    r = solve(subject, "compute-bound", shape, ("FLOPs", f.flops), ("Bytes moved (least)", f.bytes), ratio=ridge,
              device=roof.device, dtype=roof.dtype, refuses=refuses)
    note = (f"compute-bound: FLOPs / bytes reaches the ridge point of {roof.device} in {roof.dtype}, {ridge:,.1f} FLOP/B "
            f"(weights {roof.weight_dtype}); for a network, its total FLOPs and bytes (a lower bound, not a measurement)")
    return dataclasses.replace(r, notes=(note,) + r.notes)


def attention_mlp(subject: str, shape: tuple, rows: tuple, refuses: Callable | None = None) -> CrossoverReport:
    """The least size at which a network's attention layers cost as many FLOPs as its MLPs."""
    leaves = [r for r in rows if not r["block"]]
    attention = [r["flops"] for r in leaves if r["type"] == "multiheadattention"]
    mlp = [r["flops"] for r in leaves if r["type"] == "linear" and r["depth"] >= 1]
    if not attention or not mlp:
        raise ConfigError(f"{subject} has {'no attention (multiheadattention)' if not attention else 'no linear layer inside a block (an MLP)'}",
                          option="for")
    a, m = sizes.normalize(sum(attention, start=0)), sizes.normalize(sum(mlp, start=0))
    return solve(subject, "attention-mlp", shape, (f"Attention FLOPs ({len(attention)} layers)", a),
                 (f"MLP FLOPs ({len(mlp)} linear layers in blocks)", m), refuses=refuses)


def refusal(run: Callable, shape: tuple) -> Callable:
    """refuses(s) for solve: run(numeric shape) counts the model; its ConvcalcError's message is why
    the model refuses the size."""
    from .errors import ConvcalcError

    name = symbol_of(shape)

    def refuses(s: int) -> str | None:
        try:
            run(tuple(_at(v, name, s) for v in shape))
        except ConvcalcError as e:
            return e.message if not getattr(e, "option", None) else f"{e.option}: {e.message}"
        return None

    return refuses
