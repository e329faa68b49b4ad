"""Printing the algebra's values as a textbook writes them, from their structure (no
simplification): one fraction per floor, common factors out, a product of one factor per
dimension as that product, terms in textbook order, an output size as floor((H - 3)/2) + 1."""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from typing import Any

from .atoms import Floor, Var
from .poly import Poly, Quotient, _coeff, _make, _term_key

# ----- printing -----------------------------------------------------------------------------
def _content(p: Poly) -> tuple:
    """(number, monomial) common to every term: the factor printing pulls out."""
    coeffs = list(p.terms.values())
    nums = [abs(Fraction(c).numerator) for c in coeffs]
    dens = [Fraction(c).denominator for c in coeffs]
    g = Fraction(math.gcd(*nums), math.lcm(*dens))
    first = min(p.terms.items(), key=_term_key)[1]
    if first < 0 and all(c < 0 for c in coeffs):
        g = -g
    monos = list(p.terms)
    common = dict(monos[0])
    for m in monos[1:]:
        d = dict(m)
        common = {a: min(e, d[a]) for a, e in common.items() if a in d}
    return g, tuple(sorted(common.items(), key=lambda ae: ae[0].key))


@lru_cache(maxsize=65536)
def text_atom(a) -> str:
    if isinstance(a, Var):
        return a.name
    if isinstance(a, Floor):
        return f"floor({_fraction_text(a.num, a.den)})"
    return ("Max(" if a.largest else "Min(") + ", ".join(text(x) for x in a.args) + ")"


def _atom_text(a, e: int) -> str:
    base = text_atom(a)
    return base if e == 1 else f"{base}**{e}"


def _fraction_text(num: Poly, den: int) -> str:
    t = _sum_text(num, factor=False)
    if den == 1:
        return t
    return f"({t})/{den}" if len(num.terms) > 1 else f"{t}/{den}"


def _mono_text(m: tuple) -> str:
    return "*".join(_atom_text(a, e) for a, e in m)


def _term_text(m: tuple, c: Any) -> tuple:
    """(sign, text) of one term c*m, c's magnitude a number written as SymPy does (2*H, H/2)."""
    neg = c < 0
    c = abs(Fraction(c))
    body = _mono_text(m)
    if not m:
        t = str(c.numerator) if c.denominator == 1 else f"{c.numerator}/{c.denominator}"
        return neg, t
    if c.numerator != 1:
        body = f"{c.numerator}*{body}"
    if c.denominator != 1:
        body = f"{body}/{c.denominator}"
    return neg, body


def _ordered(p: Poly) -> list:
    """Terms in textbook order: positive terms with symbols, then negative ones, then the
    constant; within each, higher degree first."""
    items = sorted(p.terms.items(), key=_term_key)

    def rank(mc):
        m, c = mc
        return 2 if not m else (1 if c < 0 else 0)

    return sorted(items, key=rank)


def _groups(p: Poly) -> list:
    """The symbol names of p in groups that share no monomial's atom (one per dimension)."""
    groups: list = []
    for m in p.terms:
        for a, _ in m:
            names = a.names()
            touching = [g for g in groups if g & names]
            for g in touching:
                groups.remove(g)
                names = names | g
            groups.append(names)
    return groups


def _split_by(p: Poly, names: set):
    """(A, B) with p = A*B, A in the atoms over names and B in the others, or None."""
    table: dict = {}
    for m, c in p.terms.items():
        mine = tuple((a, e) for a, e in m if a.names() <= names)
        rest = tuple((a, e) for a, e in m if not a.names() <= names)
        table[(mine, rest)] = Fraction(c)
    rows = list(dict.fromkeys(k[0] for k in table))
    cols = list(dict.fromkeys(k[1] for k in table))
    if len(rows) < 2 or len(cols) < 2 or len(rows) * len(cols) != len(table):
        return None
    r0, c0 = rows[0], cols[0]
    pivot = table[(r0, c0)]
    a = {r: table[(r, c0)] for r in rows}
    b = {c: table[(r0, c)] / pivot for c in cols}
    if any(table[(r, c)] != a[r] * b[c] for r in rows for c in cols):
        return None
    return _make({r: _coeff(v) for r, v in a.items()}), _make({c: _coeff(v) for c, v in b.items()})


def _factors(p: Poly) -> list:
    """p as a product of polynomials over disjoint symbol groups, when it is one."""
    groups = _groups(p)
    out: list = []
    rest: Any = p
    for g in groups[:-1]:
        if not isinstance(rest, Poly):
            break
        split = _split_by(rest, g)
        if split is None:
            continue
        out.append(split[0])
        rest = split[1]
    return out + [rest] if out else [p]


def _size_text(p: Poly) -> str | None:
    """A size floor(N/c) + d with d < 0 as a textbook writes it, floor((N + (d - 1)*c)/c) + 1
    (an output size (H - k)/s + 1), when N has a constant term; None for other values."""
    if len(p.terms) != 2 or () not in p.terms:
        return None
    d = p.terms[()]
    ((m, c),) = [kv for kv in p.terms.items() if kv[0]]
    if c != 1 or len(m) != 1 or m[0][1] != 1 or not isinstance(m[0][0], Floor) or not isinstance(d, int) or d > 0:
        return None
    f = m[0][0]
    if () not in f.num.terms:
        return None
    num = f.num + (d - 1) * f.den
    if not isinstance(num, Poly):
        return None
    return f"floor({_fraction_text(num, f.den)}) + 1"


def _sum_text(p: Poly, factor: bool = True) -> str:
    size = _size_text(p)
    if size is not None:
        return size
    if factor and len(p.terms) > 1:
        factors = _factors(p)
        if len(factors) > 1:
            return _product_text(factors)

        g, common = _content(p)
        if g != 1 or common:
            inner = _divide(p, g, common)
            body = _sum_text(inner, factor=False) if isinstance(inner, Poly) else str(inner)
            parts = []
            num, den = g.numerator, g.denominator
            lead = "-" if num < 0 else ""
            if abs(num) != 1:
                parts.append(str(abs(num)))
            if common:
                parts.append(_mono_text(common))
            parts.append(f"({body})")
            t = lead + "*".join(parts)
            return t if den == 1 else f"{t}/{den}"
    out = ""
    for i, (m, c) in enumerate(_ordered(p)):
        neg, t = _term_text(m, c)
        if i == 0:
            out = ("-" if neg else "") + t
        else:
            out += (" - " if neg else " + ") + t
    return out


def _product_text(factors: list) -> str:
    """A product of factors: numbers and their common factors first, sums bracketed."""
    number: Any = 1
    parts = []
    for f in factors:
        if not isinstance(f, Poly):
            number *= f
            continue
        if len(f.terms) > 1:
            g, common = _content(f)
            if g > 0 and min(f.terms.items(), key=_term_key)[1] < 0:
                g = -g  # the leading term positive: (x - 1), not (-x + 1)
            f = _divide(f, g, ())
            number *= g
            if isinstance(f, Poly) and len(f.terms) > 1:
                parts.append(f"({_sum_text(f)})")
                continue
        if isinstance(f, Poly):
            (m, c), = f.terms.items()
            number *= c
            parts.append(_mono_text(m))
        else:
            number *= f
    number = Fraction(number)
    lead = "-" if number < 0 else ""
    num, den = abs(number.numerator), number.denominator
    body = "*".join(([str(num)] if num != 1 else []) + parts)
    return lead + body + (f"/{den}" if den != 1 else "")


def _divide(p: Poly, g: Fraction, common: tuple) -> Any:
    cd = dict(common)
    terms = {}
    for m, c in p.terms.items():
        rest = tuple((a, e - cd.get(a, 0)) for a, e in m if e - cd.get(a, 0))
        terms[rest] = _coeff(Fraction(c) / g)
    return _make(terms)


@lru_cache(maxsize=65536)
def text(p: Any) -> str:
    """Text of an int or Poly: floor((H + 1)/2), 216*floor((H + 1)/2)*floor((W + 1)/2),
    T*(T - 1)/2."""
    if isinstance(p, Quotient):
        num = text(p.num)
        den = text(p.den)
        return f"{num}/({den})" if isinstance(p.den, Poly) and len(p.den.terms) > 1 else f"{num}/{den}"
    if not isinstance(p, Poly):
        return str(p)
    return _sum_text(p)
