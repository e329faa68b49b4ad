"""Signs decided for every positive value of the symbols: a polynomial whose atoms are all
non-negative and non-decreasing and whose non-constant coefficients are non-negative takes its
least value at symbols = 1; a sum of floors of one symbol is periodic plus linear, so one
period decides it exactly. What neither decides is left open (None), never guessed."""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from typing import Any

from .atoms import Floor, Var
from .poly import Poly, _low, _value

@lru_cache(maxsize=65536)
def _nonneg(p: Any) -> bool:
    """p >= 0 certain: every atom is non-negative and non-decreasing, so a polynomial whose
    non-constant coefficients are all non-negative takes its least value at symbols = 1."""
    if not isinstance(p, Poly):
        return p >= 0
    if p.monotone() and all(c >= 0 for m, c in p.terms.items() if m) and _low(p) >= 0:
        return True
    return _periodic_nonneg(p)


#: the longest period (lcm of the floors' divisors) examined value by value
MAX_PERIOD = 4096


def _periodic_nonneg(p: Poly) -> bool:
    """Exact for a sum of one symbol h and floors of a*h + b (each to the first power): with P the
    lcm of the divisors, p(h + P) = p(h) + step for every h, so p >= 0 for every h >= 1 exactly
    when step >= 0 and p >= 0 on h = 1..P."""
    names = p.names()
    if len(names) != 1:
        return False
    (name,) = names
    period = 1
    for m in p.terms:
        if len(m) > 1 or (m and m[0][1] != 1):
            return False
        if m:
            a = m[0][0]
            if isinstance(a, Floor):
                if any(len(k) > 1 or (k and (k[0][1] != 1 or not isinstance(k[0][0], Var))) for k in a.num.terms):
                    return False
                period = math.lcm(period, a.den)
            elif not isinstance(a, Var):
                return False
    for m, c in p.terms.items():
        if isinstance(c, Fraction):
            period = math.lcm(period, c.denominator)
    if period > MAX_PERIOD:
        return False
    first = _value(p, {name: 1})
    if _value(p, {name: 1 + period}) < first:
        return False
    return all(_value(p, {name: h}) >= 0 for h in range(1, period + 1))


def nonneg(p: Any) -> bool:
    """p >= 0 certain for every positive value of the symbols (False: not shown)."""
    return _nonneg(p)


def sign(p: Any) -> int | None:
    """1, 0 or -1 when p > 0, p == 0 or p < 0 for every positive value of the symbols; None
    when the algebra cannot tell (the caller may ask SymPy). Values are integers, so p > 0
    is p - 1 >= 0."""
    if not isinstance(p, Poly):
        return (p > 0) - (p < 0)
    if _nonneg(p - 1):
        return 1
    if _nonneg(-p - 1):
        return -1
    return None
