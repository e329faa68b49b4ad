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
from typing import Any

from .. import sizes

#: at most this many substitutions decide whether an equation in several symbols can hold
MAX_TRIALS = 4096
#: the longest period (lcm of the floors' divisors) examined residue by residue
MAX_PERIOD = 4096


class NeverEqual(Exception):
    """The two sizes differ for every value of the symbols (tested)."""


def _period(d: Any, symbol: Any) -> int | None:
    import sympy as sp

    period = 1
    for f in d.atoms(sp.floor):
        coeff = sp.Rational(f.args[0].expand().coeff(symbol))
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


def condition(a: Any, b: Any) -> str | None:
    """None when a == b for every value of the symbols; the condition as text when they are
    equal only for some; NeverEqual when no value makes them equal."""
    if sizes.all_int(a, b):
        if a != b:
            raise NeverEqual()
        return None
    d = sizes.normalize(sizes.as_expr(a) - sizes.as_expr(b))
    if sizes.is_int(d):
        if d != 0:
            raise NeverEqual()
        return None
    symbols = sorted(d.free_symbols, key=lambda s: s.name)
    equation = f"{sizes.to_text(a)} == {sizes.to_text(b)}"
    if len(symbols) == 1:
        (s,) = symbols
        period = _period(d, s)
        if period is not None:
            # d(h + period) - d(h) is a constant (the linear part); one period of residues decides
            start = period + 1  # positive values, clear of small-value effects
            values = [_value_at(d, {s.name: start + r}) for r in range(period)]
            step = _value_at(d, {s.name: start + period}) - values[0]
            if None not in values and step == 0:
                zeros = sorted((start + r) % period for r, v in enumerate(values) if v == 0)
                if not zeros:
                    raise NeverEqual()
                if len(zeros) == period:
                    return None
                return _residue_text(s.name, period, zeros)
    # several symbols, or not periodic: substitute values over a bounded grid
    per = max(2, int(MAX_TRIALS ** (1 / len(symbols))))
    hits = 0
    total = 0
    for combo in _grid(len(symbols), per):
        total += 1
        if _value_at(d, {s.name: v for s, v in zip(symbols, combo)}) == 0:
            hits += 1
    if hits == 0:
        raise NeverEqual()
    if hits == total:
        return None  # equal wherever tried: treated as equal
    return equation


def _grid(n: int, per: int):
    if n == 0:
        yield ()
        return
    for first in range(1, per + 1):
        for rest in _grid(n - 1, per):
            yield (first,) + rest
