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


def _divide(p: Poly, g: Fraction, common: tuple) -> Any:
    cd = dict(common)
    terms = {}
    for m, c in p.terms.items():
        rest = tuple((a, e - cd.get(a, 0)) for a, e in m if e - cd.get(a, 0))
        terms[rest] = _coeff(Fraction(c) / g)
    return _make(terms)


class _Text:
    """Plain text, as Python and SymPy write it: 216*floor((H + 1)/2)*floor((W + 1)/2)."""

    times = "*"

    def symbol(self, name: str) -> str:
        return name

    def power(self, base: str, e: int) -> str:
        return f"{base}**{e}"

    def paren(self, t: str) -> str:
        return f"({t})"

    def over(self, t: str, den: int, compound: bool) -> str:
        """t divided by an int (compound: t is a sum or product, bracketed in text)."""
        return f"({t})/{den}" if compound else f"{t}/{den}"

    def floor(self, t: str) -> str:
        return f"floor({t})"

    def extremum(self, largest: bool, args: list) -> str:
        return ("Max(" if largest else "Min(") + ", ".join(args) + ")"

    def quotient(self, num: str, den: str, compound: bool) -> str:
        """num over a polynomial den (compound: den is a sum, bracketed in text)."""
        return f"{num}/({den})" if compound else f"{num}/{den}"


class _Latex(_Text):
    """LaTeX, as SymPy's printer writes it: 216 \\left\\lfloor{\\frac{H + 1}{2}}\\right\\rfloor ..."""

    times = " "

    def symbol(self, name: str) -> str:
        head, _, sub = name.partition("_")
        return f"{head}_{{{sub}}}" if sub else name

    def power(self, base: str, e: int) -> str:
        return f"{base}^{{{e}}}"

    def paren(self, t: str) -> str:
        return r"\left(" + t + r"\right)"

    def over(self, t: str, den: int, compound: bool) -> str:
        return r"\frac{%s}{%d}" % (t, den)

    def floor(self, t: str) -> str:
        return r"\left\lfloor{%s}\right\rfloor" % t

    def extremum(self, largest: bool, args: list) -> str:
        return (r"\max\left(" if largest else r"\min\left(") + ", ".join(args) + r"\right)"

    def quotient(self, num: str, den: str, compound: bool) -> str:
        return r"\frac{%s}{%s}" % (num, den)


TEXT, LATEX = _Text(), _Latex()


def _atom(a, f: _Text) -> str:
    if isinstance(a, Var):
        return f.symbol(a.name)
    if isinstance(a, Floor):
        return f.floor(_fraction(a.num, a.den, f))
    return f.extremum(a.largest, [_value_text(x, f) for x in a.args])


def _atom_power(a, e: int, f: _Text) -> str:
    base = _atom(a, f)
    if e == 1:
        return base
    return f.power(base, e)


def _fraction(num: Poly, den: int, f: _Text) -> str:
    t = _sum(num, f, factor=False)
    return t if den == 1 else f.over(t, den, len(num.terms) > 1)


def _mono(m: tuple, f: _Text) -> str:
    return f.times.join(_atom_power(a, e, f) for a, e in m)


def _number(c: Fraction, f: _Text) -> str:
    return str(c.numerator) if c.denominator == 1 else f.over(str(c.numerator), c.denominator, False)


def _term(m: tuple, c: Any, f: _Text) -> tuple:
    """(negative, text) of one term c*m: 2*H, H/2 (LaTeX: 2 H, \\frac{H}{2})."""
    neg = c < 0
    c = abs(Fraction(c))
    if not m:
        return neg, _number(c, f)
    body = _mono(m, f)
    if c.numerator != 1:
        body = f"{c.numerator}{f.times}{body}"
    if c.denominator != 1:
        body = f.over(body, c.denominator, False)
    return neg, body


def _size(p: Poly, f: _Text) -> str | None:
    """A size floor(N/c) + d with d < 0 as a textbook writes it, floor((N + (d - 1)*c)/c) + 1
    (an output size (H - k)/s + 1), when N has a constant term; None for other values."""
    if len(p.terms) != 2 or () not in p.terms:
        return None
    d = p.terms[()]
    ((m, c),) = [kv for kv in p.terms.items() if kv[0]]
    if c != 1 or len(m) != 1 or m[0][1] != 1 or not isinstance(m[0][0], Floor) or not isinstance(d, int) or d > 0:
        return None
    fl = m[0][0]
    if () not in fl.num.terms:
        return None
    num = fl.num + (d - 1) * fl.den
    if not isinstance(num, Poly):
        return None
    return f"{f.floor(_fraction(num, fl.den, f))} + 1"


def _scaled(number: Fraction, parts: list, f: _Text) -> str:
    """number times the parts (already text): 24*(x - 1)*(y - 1), -H*(H + 1)/2."""
    lead = "-" if number < 0 else ""
    num, den = abs(number.numerator), number.denominator
    body = f.times.join(([str(num)] if num != 1 or not parts else []) + parts)
    return lead + (body if den == 1 else f.over(body, den, False))  # a product: H*(H - 1)/2


def _sum(p: Poly, f: _Text, factor: bool = True) -> str:
    size = _size(p, f)
    if size is not None:
        return size
    if factor and len(p.terms) > 1:
        factors = _factors(p)
        if len(factors) > 1:
            return _product(factors, f)
        g, common = _content(p)
        if g != 1 or common:
            inner = _divide(p, g, common)
            body = _sum(inner, f, factor=False) if isinstance(inner, Poly) else str(inner)
            if not common and abs(g.numerator) == 1:  # (H + 2*W)/2
                return ("-" if g < 0 else "") + f.over(body, g.denominator, True)
            parts = ([_mono(common, f)] if common else []) + [f.paren(body)]
            return _scaled(g, parts, f)
    out = ""
    for i, (m, c) in enumerate(_ordered(p)):
        neg, t = _term(m, c, f)
        if i == 0:
            out = ("-" if neg else "") + t
        else:
            out += (" - " if neg else " + ") + t
    return out


def _product(factors: list, f: _Text) -> str:
    """A product of factors: numbers and their common factors first, sums bracketed."""
    number: Any = 1
    parts = []
    for x in factors:
        if not isinstance(x, Poly):
            number *= x
            continue
        if len(x.terms) > 1:
            g, _ = _content(x)
            if g > 0 and min(x.terms.items(), key=_term_key)[1] < 0:
                g = -g  # the leading term positive: (x - 1), not (-x + 1)
            x = _divide(x, g, ())
            number *= g
            if isinstance(x, Poly) and len(x.terms) > 1:
                parts.append(f.paren(_sum(x, f)))
                continue
        if isinstance(x, Poly):
            (m, c), = x.terms.items()
            number *= c
            parts.append(_mono(m, f))
        else:
            number *= x
    return _scaled(Fraction(number), parts, f)


def _value_text(p: Any, f: _Text) -> str:
    if isinstance(p, Quotient):
        return f.quotient(_value_text(p.num, f), _value_text(p.den, f), isinstance(p.den, Poly) and len(p.den.terms) > 1)
    if isinstance(p, Fraction):
        return ("-" if p < 0 else "") + _number(abs(p), f)
    if not isinstance(p, Poly):
        return str(p)
    return _sum(p, f)


@lru_cache(maxsize=65536)
def text(p: Any) -> str:
    """Text of an int or algebra value: floor((H + 1)/2), 216*floor((H + 1)/2)*floor((W + 1)/2),
    H*(H - 1)/2, floor((H - 3)/2) + 1."""
    return _value_text(p, TEXT)


@lru_cache(maxsize=65536)
def latex(p: Any) -> str:
    """The same in LaTeX: \\left\\lfloor{\\frac{H + 1}{2}}\\right\\rfloor."""
    return _value_text(p, LATEX)


@lru_cache(maxsize=65536)
def text_atom(a) -> str:
    return _atom(a, TEXT)
