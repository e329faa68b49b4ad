"""Polynomials in the atoms (Poly), their arithmetic and canonical floors (floor_div), exact
quotients (divide_exact, Quotient) and values at numbers (value)."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from .atoms import Floor, Var, _floor_atom

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


def _accumulate(terms: dict, m: tuple, c: Any) -> None:
    """terms[m] += c, the monomial dropped when its coefficient becomes 0."""
    v = terms.get(m, 0) + c
    if v:
        terms[m] = _coeff(v)
    else:
        terms.pop(m, None)


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
            from .._symbolic import from_sympy

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
        from .printing import text

        return text(self)

    __str__ = __repr__

    # ----- arithmetic ---------------------------------------------------------------------
    def __add__(self, other):
        if isinstance(other, Poly):
            terms = dict(self.terms)
            for m, c in other.terms.items():
                _accumulate(terms, m, c)
            return _make(terms)
        if isinstance(other, (int, Fraction)) and not isinstance(other, bool):
            if not other:
                return self
            terms = dict(self.terms)
            _accumulate(terms, (), other)
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
                    _accumulate(terms, _mono_mul(m1, m2), c1 * c2)
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
        from .order import sign

        s = sign(self - other)
        if s is None:
            raise TypeError(f"cannot determine truth value of {self!r} {op} {other}")
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
        raise TypeError(f"{self!r} depends on symbols")


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
        from .order import sign

        s = sign(self)
        return None if s is None else s > 0

    @property
    def is_negative(self):
        from .order import sign

        s = sign(self)
        return None if s is None else s < 0

    @property
    def is_nonnegative(self):
        from .order import nonneg, sign

        return True if nonneg(self) else (False if sign(self) == -1 else None)

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
        from .._symbolic import to_sympy

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
        return None if not q else (p / q if isinstance(p, Poly) else _coeff(Fraction(p) / q))
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
def _at(p: Any, atom_value) -> Any:
    """p with each atom replaced by atom_value(atom)."""
    if not isinstance(p, Poly):
        return p
    total: Any = 0
    for m, c in p.terms.items():
        t = c
        for a, e in m:
            t *= atom_value(a) ** e
        total += t
    return _coeff(total) if isinstance(total, Fraction) else total


def _low(p: Any) -> Any:
    """p with every symbol at 1 (its least value when p is non-decreasing)."""
    return _at(p, lambda a: a.low())


def _value(p: Any, values: dict) -> Any:
    return _at(p, lambda a: a.value(values))


def value(p: Any, values: dict) -> Any:
    """p with its symbols (by name) replaced by ints; a Poly again if some are missing."""
    if not isinstance(p, Poly):
        return p
    if p.names() <= values.keys():
        return _value(p, values)
    from .._symbolic import from_sympy, subs_int

    return from_sympy(subs_int(p._sympy_(), values))


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
        from .._symbolic import to_sympy

        return to_sympy(self.num) / to_sympy(self.den)

    def __repr__(self) -> str:
        from .printing import text

        return text(self)


def quotient(p: Any, q: Any) -> Any:
    """p / q: exact when q divides p term by term, else a Quotient."""
    exact = divide_exact(p, q)
    return exact if exact is not None else Quotient(p, q)
