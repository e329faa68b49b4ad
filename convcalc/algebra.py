"""convcalc's own small exact algebra for symbolic sizes and counts.

A size in a network is almost always floor((a*H + b)/c) + d of one symbol per dimension, and a
count is a polynomial in such sizes. ``Poly`` holds a polynomial with integer (or, for an exact
quotient such as T*(T - 1)/2, rational) coefficients in *atoms*: positive-integer symbols (``Var``)
and floors of a polynomial over a positive integer (``Floor``). Every operation keeps a canonical
form, so equal sizes compare equal and totals cancel and collect as plain dict merges:

- a floor's numerator has its coefficients reduced modulo the denominator (the multiples are
  integers and move outside: floor((H - 1)/2) + 1 is floor((H + 1)/2)), common factors out;
- a floor alone in a floor's numerator folds in: floor((floor(y/a) + n)/b) = floor((y + n*a)/(a*b));
- results that are whole numbers are Python ints.

It never imports SymPy. Whatever falls outside (a quotient by a symbol, a max the algebra cannot
decide, a sum with a symbolic bound, a gcd) is handed to SymPy by converting (``_sympy_``), and
SymPy's results stay SymPy; printing (``text``) works from the structure: one fraction per floor,
common factors out, terms in textbook order.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from typing import Any

#: while true (a derivation), symbols and results stay SymPy's, so that formulas print as written
#: (d*(k - 1), not d*k - d); see sizes.sympy_forms
SYMPY_FORMS = [False]

_VARS: dict = {}
_FLOORS: dict = {}
_EXTREMA: dict = {}


class Var:
    """A positive-integer symbol (a size name), interned by name."""

    __slots__ = ("name", "key", "__weakref__")
    #: non-negative and non-decreasing in every symbol
    monotone = True

    def __new__(cls, name: str):
        v = _VARS.get(name)
        if v is None:
            v = object.__new__(cls)
            v.name = name
            v.key = (0, name)
            _VARS[name] = v
        return v

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self):
        return (Var, (self.name,))

    def low(self) -> int:
        return 1

    def value(self, values: dict) -> int:
        return values[self.name]

    def names(self) -> set:
        return {self.name}


class Floor:
    """floor(num/den): num a Poly with integer coefficients in [0, den) (so num >= 0 and the
    floor is non-negative and non-decreasing in every symbol), den an int > 1. Interned."""

    __slots__ = ("num", "den", "key", "_hash", "monotone", "__weakref__")

    def __repr__(self) -> str:
        return f"floor(({self.num!r})/{self.den})"

    def __reduce__(self):
        return (_floor_atom, (self.num, self.den))

    def __hash__(self):
        return self._hash

    def low(self) -> int:
        return _low(self.num) // self.den

    def value(self, values: dict) -> int:
        return _value(self.num, values) // self.den

    def names(self) -> set:
        return self.num.names()


def _floor_atom(num: "Poly", den: int) -> Floor:
    k = (num, den)
    f = _FLOORS.get(k)
    if f is None:
        f = object.__new__(Floor)
        f.num, f.den = num, den
        f.key = (1, den, num.sort_key())
        f._hash = hash(k)
        f.monotone = num.monotone()
        _FLOORS[k] = f
    return f


class Extremum:
    """Max or Min of values the algebra cannot order (SymPy's Max(0, floor(H/2) - 1)), kept as
    an atom so that the sums around it stay in the algebra. Interned."""

    __slots__ = ("largest", "args", "key", "_hash", "monotone", "__weakref__")

    def __repr__(self) -> str:
        return text_atom(self)

    def __reduce__(self):
        return (extremum_atom, (self.args, self.largest))

    def __hash__(self):
        return self._hash

    def low(self) -> Any:
        lows = [_low(a) for a in self.args]
        return max(lows) if self.largest else min(lows)

    def value(self, values: dict) -> Any:
        vals = [_value(a, values) for a in self.args]
        return max(vals) if self.largest else min(vals)

    def names(self) -> set:
        out: set = set()
        for a in self.args:
            if isinstance(a, Poly):
                out |= a.names()
        return out


def _arg_key(a: Any) -> tuple:
    return a.sort_key() if isinstance(a, Poly) else ((((), str(a)),))


def extremum_atom(args: tuple, largest: bool) -> Any:
    """The Max (largest) or Min of args as an algebra value (an atom of coefficient 1)."""
    args = tuple(sorted(dict.fromkeys(args), key=_arg_key))
    k = (args, largest)
    x = _EXTREMA.get(k)
    if x is None:
        x = object.__new__(Extremum)
        x.largest, x.args = largest, args
        x.key = (2, largest, tuple(_arg_key(a) for a in args))
        x._hash = hash(k)
        rising = all(not isinstance(a, Poly) or (a.monotone() and all(c >= 0 for m, c in a.terms.items() if m)) for a in args)
        x.monotone = rising and x.low() >= 0
        _EXTREMA[k] = x
    return _make({((x, 1),): 1})


def _mono_mul(a: tuple, b: tuple) -> tuple:
    if not a:
        return b
    if not b:
        return a
    d = dict(a)
    for atom, e in b:
        d[atom] = d.get(atom, 0) + e
    return tuple(sorted(d.items(), key=lambda ae: ae[0].key))


def _make(terms: dict) -> Any:
    """A Poly, or an int when terms hold only an integer constant."""
    if not terms:
        return 0
    if len(terms) == 1 and () in terms:
        c = terms[()]
        if isinstance(c, int) or c.denominator == 1:
            return int(c)
    p = object.__new__(Poly)
    p.terms = terms
    p._hash = None
    return p


def _coeff(c: Any) -> Any:
    return int(c) if isinstance(c, Fraction) and c.denominator == 1 else c


class Poly:
    """A polynomial in Var and Floor atoms: {monomial: coefficient}, a monomial being a tuple of
    (atom, exponent) sorted by the atom's key; () is the constant. Immutable."""

    __slots__ = ("terms", "_hash", "__weakref__")
    # what SymPy-minded code asks of a symbolic size, answered without SymPy
    is_Integer = False
    is_integer = True
    is_number = False
    is_zero = False
    is_Boolean = False

    # ----- construction -------------------------------------------------------------------
    @staticmethod
    def symbol(name: str) -> "Poly":
        return _make({((Var(name), 1),): 1})

    def __reduce__(self):
        return (_make, (self.terms,))

    # ----- identity -----------------------------------------------------------------------
    def __hash__(self):
        if self._hash is None:
            self._hash = hash(frozenset(self.terms.items()))
        return self._hash

    def __eq__(self, other):
        if isinstance(other, Poly):
            return self.terms == other.terms
        if isinstance(other, (int, Fraction)) and not isinstance(other, bool):
            return False  # a Poly is never a constant integer (those are ints)
        if hasattr(other, "free_symbols") and hasattr(other, "atoms"):  # a SymPy expression
            from ._symbolic import from_sympy

            mine = from_sympy(other)
            if isinstance(mine, Poly):
                return self.terms == mine.terms
            return self._sympy_() == other
        return NotImplemented

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def sort_key(self) -> tuple:
        return tuple((tuple((a.key, e) for a, e in m), str(c)) for m, c in sorted(self.terms.items(), key=_term_key))

    def __repr__(self) -> str:
        return text(self)

    __str__ = __repr__

    # ----- arithmetic ---------------------------------------------------------------------
    def __add__(self, other):
        if isinstance(other, Poly):
            terms = dict(self.terms)
            for m, c in other.terms.items():
                v = terms.get(m, 0) + c
                if v:
                    terms[m] = _coeff(v)
                else:
                    terms.pop(m, None)
            return _make(terms)
        if isinstance(other, (int, Fraction)) and not isinstance(other, bool):
            if not other:
                return self
            terms = dict(self.terms)
            v = terms.get((), 0) + other
            if v:
                terms[()] = _coeff(v)
            else:
                terms.pop((), None)
            return _make(terms)
        return _defer(self, other, "__add__")

    __radd__ = __add__

    def __neg__(self):
        return _make({m: -c for m, c in self.terms.items()})

    def __pos__(self):
        return self

    def __sub__(self, other):
        if isinstance(other, (Poly, int, Fraction)) and not isinstance(other, bool):
            return self + (-other)
        return _defer(self, other, "__sub__")

    def __rsub__(self, other):
        if isinstance(other, (int, Fraction)) and not isinstance(other, bool):
            return (-self) + other
        return _defer(self, other, "__rsub__")

    def __mul__(self, other):
        if isinstance(other, Poly):
            terms: dict = {}
            for m1, c1 in self.terms.items():
                for m2, c2 in other.terms.items():
                    m = _mono_mul(m1, m2)
                    v = terms.get(m, 0) + c1 * c2
                    if v:
                        terms[m] = _coeff(v)
                    else:
                        terms.pop(m, None)
            return _make(terms)
        if isinstance(other, (int, Fraction)) and not isinstance(other, bool):
            if other == 1:
                return self
            if not other:
                return 0
            return _make({m: _coeff(c * other) for m, c in self.terms.items()})
        return _defer(self, other, "__mul__")

    __rmul__ = __mul__

    def __pow__(self, n):
        if isinstance(n, int) and not isinstance(n, bool) and n >= 0:
            out: Any = 1
            base: Any = self
            while n:
                if n & 1:
                    out = base * out
                n >>= 1
                if n:
                    base = base * base
            return out
        return _defer(self, n, "__pow__")

    def __rpow__(self, other):
        return _defer(self, other, "__rpow__")

    def __floordiv__(self, other):
        if isinstance(other, int) and not isinstance(other, bool) and other > 0:
            return floor_div(self, other)
        return _defer(self, other, "__floordiv__")

    def __rfloordiv__(self, other):
        return _defer(self, other, "__rfloordiv__")

    def __mod__(self, other):
        if isinstance(other, int) and not isinstance(other, bool) and other > 0:
            return self - other * floor_div(self, other)
        return _defer(self, other, "__mod__")

    def __rmod__(self, other):
        return _defer(self, other, "__rmod__")

    def __truediv__(self, other):
        if isinstance(other, int) and not isinstance(other, bool) and other:
            return self * Fraction(1, other)
        return _defer(self, other, "__truediv__")

    def __rtruediv__(self, other):
        return _defer(self, other, "__rtruediv__")

    # ----- order (decided for every positive value of the symbols, else a TypeError as SymPy) --
    def _cmp(self, other, op: str):
        if not isinstance(other, (Poly, int, Fraction)) or isinstance(other, bool):
            return getattr(self._sympy_(), op)(other)
        s = sign(self - other)
        if s is None:
            raise TypeError(f"cannot determine truth value of {text(self)} {op} {other}")
        return {"__lt__": s < 0, "__le__": s <= 0, "__gt__": s > 0, "__ge__": s >= 0}[op]

    def __lt__(self, other):
        return self._cmp(other, "__lt__")

    def __le__(self, other):
        return self._cmp(other, "__le__")

    def __gt__(self, other):
        return self._cmp(other, "__gt__")

    def __ge__(self, other):
        return self._cmp(other, "__ge__")

    def __bool__(self):
        return True  # never zero: zero is the int 0

    def __int__(self):
        raise TypeError(f"{text(self)} depends on symbols")


    # ----- what SymPy-minded code asks ------------------------------------------------------
    def expand(self, *args, **kwargs):
        return self

    @property
    def name(self) -> str:
        """A lone symbol's name (as SymPy's Symbol.name); other values have none."""
        if len(self.terms) == 1:
            (m, c), = self.terms.items()
            if c == 1 and len(m) == 1 and m[0][1] == 1 and isinstance(m[0][0], Var):
                return m[0][0].name
        raise AttributeError("name")

    @property
    def is_Symbol(self) -> bool:
        try:
            self.name
        except AttributeError:
            return False
        return True

    @property
    def is_Atom(self):
        """A lone symbol or floor (printed without brackets in a shape)."""
        if len(self.terms) != 1:
            return False
        (m, c), = self.terms.items()
        return c == 1 and len(m) == 1 and m[0][1] == 1

    @property
    def is_positive(self):
        s = sign(self)
        return None if s is None else s > 0

    @property
    def is_negative(self):
        s = sign(self)
        return None if s is None else s < 0

    @property
    def is_nonnegative(self):
        return True if _nonneg(self) else (False if sign(self) == -1 else None)

    def names(self) -> set:
        out: set = set()
        for m in self.terms:
            for a, _ in m:
                out |= a.names()
        return out

    def monotone(self) -> bool:
        """Every atom non-negative and non-decreasing."""
        return all(a.monotone for m in self.terms for a, _ in m)

    def _sympy_(self):
        from ._symbolic import to_sympy

        return to_sympy(self)

    def __getattr__(self, name):
        """Anything else SymPy offers (free_symbols, subs, atoms, has, ...): on the SymPy form."""
        if name.startswith("_") or name in Poly.__dict__:  # a property that declined (name)
            raise AttributeError(name)
        return getattr(self._sympy_(), name)


def _defer(p: Poly, other: Any, op: str):
    """An operation the algebra does not hold: done by SymPy on the converted value."""
    if isinstance(other, bool) or other is None or isinstance(other, (str, float)):
        return NotImplemented
    return getattr(p._sympy_(), op)(other)


def _term_key(mc):
    """Textbook order: higher degree first, then by atoms; the constant last."""
    m, _ = mc
    return (-sum(e for _, e in m), tuple((a.key, -e) for a, e in m))


def divide_exact(p: Any, q: Any) -> Any:
    """p / q when q is a number or one term (c*B) dividing every term of p; else None."""
    if isinstance(q, (int, Fraction)) and not isinstance(q, bool):
        return None if not q else (p * Fraction(1, 1) / q if isinstance(p, Poly) else _coeff(Fraction(p) / q))
    if not isinstance(q, Poly) or len(q.terms) != 1:
        return None
    (qm, qc), = q.terms.items()
    qd = dict(qm)
    if not isinstance(p, Poly):
        return None
    terms = {}
    for m, c in p.terms.items():
        d = dict(m)
        if any(d.get(a, 0) < e for a, e in qd.items()):
            return None
        rest = tuple((a, e - qd.get(a, 0)) for a, e in m if e - qd.get(a, 0))
        terms[rest] = _coeff(Fraction(c) / qc)
    return _make(terms)


# ----- floors -------------------------------------------------------------------------------
def floor_div(p: Any, c: int) -> Any:
    """floor(p/c) for a Poly (or int) p with integer values and an int c > 0, canonical."""
    if isinstance(p, int):
        return p // c
    if c == 1:
        return p
    terms = p.terms
    scale = 1
    for v in terms.values():
        if isinstance(v, Fraction):
            scale = math.lcm(scale, v.denominator)
    if scale != 1:
        terms = {m: int(v * scale) for m, v in terms.items()}
        c *= scale
    outside: dict = {}
    inside: dict = {}
    for m, v in terms.items():
        q, r = divmod(v, c)
        if q:
            outside[m] = q
        if r:
            inside[m] = r
    if not inside or list(inside) == [()]:
        return _make(outside)  # floor(r/c) = 0 for 0 <= r < c
    g = math.gcd(c, *inside.values())
    if g != 1:
        c //= g
        inside = {m: v // g for m, v in inside.items()}
    # a floor alone (coefficient 1) in the numerator folds in:
    # floor((floor(y/a) + n)/c) = floor((y + n*a)/(a*c)) for integer n
    for m, v in inside.items():
        if v == 1 and len(m) == 1 and m[0][1] == 1 and isinstance(m[0][0], Floor):
            inner = m[0][0]
            rest = dict(inside)
            del rest[m]
            folded = inner.num + _make(rest) * inner.den
            return _make(outside) + floor_div(folded, inner.den * c)
    atom = _floor_atom(_make(inside), c)
    outside[((atom, 1),)] = outside.get(((atom, 1),), 0) + 1
    return _make(outside)


# ----- values and signs ---------------------------------------------------------------------
def _low(p: Any) -> Any:
    """p with every symbol at 1 (its least value when p is non-decreasing)."""
    if not isinstance(p, Poly):
        return p
    total: Any = 0
    for m, c in p.terms.items():
        t = c
        for a, e in m:
            t *= a.low() ** e
        total += t
    return total


def _value(p: Any, values: dict) -> Any:
    if not isinstance(p, Poly):
        return p
    total: Any = 0
    for m, c in p.terms.items():
        t = c
        for a, e in m:
            t *= a.value(values) ** e
        total += t
    return _coeff(total) if isinstance(total, Fraction) else total


def value(p: Any, values: dict) -> Any:
    """p with its symbols (by name) replaced by ints; a Poly again if some are missing."""
    if not isinstance(p, Poly):
        return p
    if p.names() <= values.keys():
        return _value(p, values)
    from ._symbolic import from_sympy, subs_int

    return from_sympy(subs_int(p._sympy_(), values))


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


class Quotient:
    """num / den for polynomials den does not divide (a count per token, over T tokens): kept as
    the two parts, printed as one fraction; SymPy reads it as num/den."""

    __slots__ = ("num", "den")
    is_Integer = False
    is_integer = False
    is_number = False
    is_Atom = False

    def __init__(self, num: Any, den: Any):
        self.num, self.den = num, den

    def __eq__(self, other):
        if isinstance(other, Quotient):
            return self.num * other.den == other.num * self.den
        return NotImplemented

    def __hash__(self):
        return hash((self.num, self.den))

    def _sympy_(self):
        from ._symbolic import to_sympy

        return to_sympy(self.num) / to_sympy(self.den)

    def __repr__(self) -> str:
        return text(self)


def quotient(p: Any, q: Any) -> Any:
    """p / q: exact when q divides p term by term, else a Quotient."""
    exact = divide_exact(p, q)
    return exact if exact is not None else Quotient(p, q)
