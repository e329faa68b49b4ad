"""Where two symbolic sizes meet (a residual add, a concat), are they equal?

Sizes built from floors, such as H and 2*floor(H/2) after a stride-2 pool and a stride-2
transposed convolution, are equal only for some inputs. ``condition`` decides, for two sizes:
always equal (None), never equal (NeverEqual), or equal under a condition that it states in
words ("H divisible by 2", "H % 4 is 0 or 1") or, failing a closed form, as the equation.
A difference of floors of one symbol is periodic plus linear in it, so one period decides it
exactly; several symbols are decided by substituting values 1..N for each (bounded in total).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .. import sizes

#: at most this many substitutions decide whether an equation in several symbols can hold
MAX_TRIALS = 1024
#: the longest period (lcm of the floors' divisors) examined residue by residue
MAX_PERIOD = 256


class NeverEqual(Exception):
    """The two sizes differ for every value of the symbols (tested)."""


@dataclass(frozen=True)
class Residues:
    """symbol % period is one of residues."""

    symbol: str
    period: int
    residues: frozenset

    def text(self) -> str:
        return _residue_text(self.symbol, self.period, sorted(self.residues))

    def meet(self, other: "Residues") -> "Residues":
        """Both conditions at once (on the same symbol), over the lcm of the periods."""
        period = math.lcm(self.period, other.period)
        if period > MAX_PERIOD:
            raise OverflowError
        keep = frozenset(r for r in range(period) if r % self.period in self.residues and r % other.period in other.residues)
        return _reduce(Residues(self.symbol, period, keep))


def _reduce(c: Residues) -> Residues:
    """The same condition over the smallest period that describes it."""
    for p in range(1, c.period + 1):
        if c.period % p == 0 and all((r % p in {x % p for x in c.residues}) == (r in c.residues) for r in range(c.period)):
            return Residues(c.symbol, p, frozenset(r % p for r in c.residues))
    return c


def _period(d: Any, symbol: Any) -> int | None:
    import sympy as sp

    period = 1
    for f in d.atoms(sp.floor):
        coeff = f.args[0].expand().coeff(symbol)
        if not coeff.is_Rational:
            return None
        if coeff != 0:
            period = math.lcm(period, int(coeff.q))
        if period > MAX_PERIOD:
            return None
    return period


def _value_at(d: Any, values: dict) -> int | None:
    return sizes.known_int(sizes.substitute(d, values))


def _residue_text(name: str, period: int, residues: list[int]) -> str:
    if len(residues) == 1:
        r = residues[0]
        return f"{name} divisible by {period}" if r == 0 else f"{name} % {period} == {r}"
    # all multiples of a divisor m of the period: "divisible by m"
    for m in range(1, period + 1):
        if period % m == 0 and residues == [r for r in range(period) if r % m == 0]:
            return f"{name} divisible by {m}"
    return f"{name} % {period} is " + ", ".join(map(str, residues[:-1])) + f" or {residues[-1]}"


def condition(a: Any, b: Any) -> Residues | str | None:
    """None when a == b for every value of the symbols; the condition (Residues for one symbol,
    else the equation as text) when they are equal only for some; NeverEqual when no value
    makes them equal."""
    if sizes.all_int(a, b):
        if a != b:
            raise NeverEqual()
        return None
    if sizes.is_light(a) and sizes.is_light(b) and a == b:
        return None  # the algebra's canonical forms agree
    d = sizes.normalize(sizes.as_expr(a) - sizes.as_expr(b))
    if sizes.is_int(d):
        if d != 0:
            raise NeverEqual()
        return None
    symbols = sorted(d.free_symbols, key=lambda s: s.name)
    equation = _equation(d)
    if len(symbols) == 1:
        decided = _one_symbol(d, symbols[0], equation)
        if decided is not _UNDECIDED:
            return decided
    if not any(True for _ in d.atoms(_floor())):
        return equation  # a polynomial: not refused by trial, only stated
    # several symbols with floors: substitute values over a bounded grid
    per = max(2, int(MAX_TRIALS ** (1 / len(symbols))))
    hits = total = 0
    for combo in _grid(len(symbols), per):
        total += 1
        if _value_at(d, {s.name: v for s, v in zip(symbols, combo)}) == 0:
            hits += 1
    if hits == 0:
        raise NeverEqual()
    return None if hits == total else equation


_UNDECIDED = object()


def _floor():
    import sympy as sp

    return sp.floor


def _one_symbol(d: Any, s: Any, equation: str) -> Any:
    """Exact for a difference of floors of one symbol: d(h + P) = d(h) + step for every integer
    h, P the lcm of the floors' divisors, so one period of values decides every h >= 1."""
    period = _period(d, s)
    if period is None:
        return _UNDECIDED
    start = period + 1
    values = [_value_at(d, {s.name: start + r}) for r in range(period + 1)]
    if None in values:
        return _UNDECIDED
    step = values[period] - values[0]
    if step == 0:
        zeros = frozenset((start + r) % period for r in range(period) if values[r] == 0)
        if not zeros:
            raise NeverEqual()
        return None if len(zeros) == period else _reduce(Residues(s.name, period, zeros))
    # d(start + r + k*P) = values[r] + k*step: at most one zero per residue
    solutions = sorted(
        start + r - (values[r] // step) * period
        for r in range(period)
        if values[r] % step == 0 and start + r - (values[r] // step) * period >= 1
    )
    if not solutions:
        raise NeverEqual()
    return f"{s.name} == {solutions[0]}" if len(solutions) == 1 else f"{s.name} is one of {', '.join(map(str, solutions))} ({equation})"


def _equation(d: Any) -> str:
    """d == 0 written with the terms that cancel gone: the positive terms == the negative ones."""
    import sympy as sp

    left, right = [], []
    for term in sp.Add.make_args(sp.expand(d)):
        (left if term.as_coeff_Mul()[0] > 0 else right).append(term)
    lhs = sizes.normalize(sp.Add(*left))
    rhs = sizes.normalize(-sp.Add(*right))
    return f"{sizes.to_text(lhs)} == {sizes.to_text(rhs)}"


def _grid(n: int, per: int):
    if n == 0:
        yield ()
        return
    for first in range(1, per + 1):
        for rest in _grid(n - 1, per):
            yield (first,) + rest


def same(a: tuple, b: tuple, ctx: Any, where: str) -> bool:
    """Whether the shapes can agree; conditions under which they do go into ctx.domain (those on
    one symbol combined, so that a join that contradicts an earlier one is refused). ctx: the
    network's evaluation (its residues, domain and joins are updated)."""
    if len(a) != len(b):
        return False
    found = []
    for x, y in zip(a, b):
        try:
            c = condition(x, y)
        except NeverEqual:
            return False
        except (TypeError, ValueError, ArithmeticError):  # a form the decision does not know: stated, not decided
            c = f"{sizes.to_text(x)} == {sizes.to_text(y)}"
        if c is not None:
            found.append(c)
    merged = dict(ctx.residues)
    for c in found:
        if isinstance(c, Residues):
            old = merged.get(c.symbol)
            try:
                merged[c.symbol] = c if old is None else old.meet(c)
            except OverflowError:
                ctx.domain.append(c.text())
                continue
            if not merged[c.symbol].residues:
                return False
        elif c not in ctx.domain:
            ctx.domain.append(c)
    ctx.residues = merged
    if found:
        ctx.joins.append(where)
    return True
