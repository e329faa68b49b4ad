"""The atoms of convcalc's algebra: a positive-integer symbol (Var), a floor of a polynomial over
an integer (Floor) and a Max or Min the algebra cannot decide (Extremum); each interned, so that
equal atoms are the same object, and each non-negative and non-decreasing (``monotone``) where
the order decisions (order.py) rely on it."""

from __future__ import annotations

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
        from .poly import _low

        return _low(self.num) // self.den

    def value(self, values: dict) -> int:
        from .poly import _value

        return _value(self.num, values) // self.den

    def names(self) -> set:
        return self.num.names()


def _floor_atom(num: Any, den: int) -> Floor:
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
        from .printing import text_atom

        return text_atom(self)

    def __reduce__(self):
        return (extremum_atom, (self.args, self.largest))

    def __hash__(self):
        return self._hash

    def low(self) -> Any:
        from .poly import _low

        lows = [_low(a) for a in self.args]
        return max(lows) if self.largest else min(lows)

    def value(self, values: dict) -> Any:
        from .poly import _value

        vals = [_value(a, values) for a in self.args]
        return max(vals) if self.largest else min(vals)

    def names(self) -> set:
        out: set = set()
        for a in self.args:
            if hasattr(a, "names"):
                out |= a.names()
        return out


def _arg_key(a: Any) -> tuple:
    return a.sort_key() if hasattr(a, "sort_key") else ((((), str(a)),))


def extremum_atom(args: tuple, largest: bool) -> Any:
    """The Max (largest) or Min of args as an algebra value (an atom of coefficient 1)."""
    from .poly import Poly, _make

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
