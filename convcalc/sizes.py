"""Size algebra: arithmetic that works on Python ints, on convcalc's own algebra and on SymPy
expressions alike.

Layer formulas are written once with ``//``, ``+``, ``*`` and the helpers below. With Python
ints every helper stays in plain integer arithmetic and SymPy is never imported (it costs about
0.3 s of start-up). Symbols from an input such as 3,H,W are values of convcalc's algebra
(convcalc/algebra/: polynomials in symbols and canonical floors), so a symbolic network is
computed, compared and printed without SymPy too; the helpers hand a value to SymPy only where
the algebra stops (a gcd, a sum over a symbolic range, a max it cannot decide between SymPy
values), and ``normalize`` reads SymPy's results back into the algebra where they fit. Inside
``sympy_forms()`` (derivations) values stay SymPy's, so formulas print as their layers write
them. ``to_text`` / ``to_latex`` print values the way a textbook writes them.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Callable, Iterable, List, Protocol, Tuple, Union

from . import algebra
from .algebra import Poly
from .errors import ConvcalcError

class Expression(Protocol):
    """A SymPy expression in positive-integer symbols (named without importing SymPy)."""

    @property
    def free_symbols(self) -> set: ...


#: one size: an int, a SymPy expression in positive-integer symbols, or expression text ("2*n + 1")
Size = Union[int, Expression, str]
#: a per-dimension argument (kernel_size, stride, ...): one size for every dimension, or one each
SizeArg = Union[Size, Tuple[Size, ...], List[Size]]
#: an input shape without the batch: sizes, or text such as "3,224,224" or "3,H,W"
Shape = Union[Tuple[Size, ...], List[Size], str]

#: the largest number of terms a numeric summation may add one by one
MAX_TERMS = 1_000_000


def is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def all_int(*xs: Any) -> bool:
    return all(is_int(x) for x in xs)


@contextmanager
def sympy_forms():
    """Within: new symbols are SymPy's and results are not read back into convcalc's algebra (a
    derivation shows each formula as its layer writes it, d*(k - 1) rather than d*k - d)."""
    old = algebra.SYMPY_FORMS[0]
    algebra.SYMPY_FORMS[0] = True
    try:
        yield
    finally:
        algebra.SYMPY_FORMS[0] = old


def is_light(x: Any) -> bool:
    """An int or a value of convcalc's own algebra (no SymPy involved)."""
    return isinstance(x, Poly) or is_int(x)


def is_symbolic(x: Any) -> bool:
    """A value that depends on symbols: the algebra's Poly or a SymPy expression."""
    return isinstance(x, (Poly, algebra.Quotient)) or (not isinstance(x, (int, str, float, bool)) and hasattr(x, "free_symbols"))


def _sympy():
    import sympy

    return sympy


def as_expr(x: Any):
    """A SymPy object for an int or an expression (internal values only, never user text)."""
    sp = _sympy()
    if isinstance(x, (Poly, algebra.Quotient)):
        return x._sympy_()
    return sp.Integer(x) if is_int(x) else x


def ceil_div(a: Any, b: Any) -> Any:
    """ceil(a / b) for integer a and positive integer b, written as floor((a + b - 1) / b) so
    that symbolic results hold floors only (which canon and the comparisons understand)."""
    return (a + b - 1) // b


def exact_div(a: Any, b: Any) -> Any:
    """a / b where b is known to divide a (T*(T - 1)/2): an int, the algebra's exact quotient
    (b a number or one term, B), or an exact SymPy quotient rather than a floor."""
    if all_int(a, b):
        q, r = divmod(a, b)
        assert r == 0, f"{a} is not divisible by {b}"
        return q
    if is_light(a) and is_light(b):
        out = algebra.divide_exact(a, b)
        if out is not None:
            return out
    return as_expr(a) / as_expr(b)


def smax(*args: Any) -> Any:
    """max(); symbolically an argument known to be dominated (for all positive symbol values)
    is dropped, so that max(0, floor((H - 3)/2) + 1) is just floor((H - 3)/2) + 1."""
    if all_int(*args):
        return max(args)
    return _extremum(args, largest=True)


def smin(*args: Any) -> Any:
    if all_int(*args):
        return min(args)
    return _extremum(args, largest=False)


def _extremum(args: tuple, largest: bool) -> Any:
    """Max or min, dropping every argument another is known to dominate: in the algebra when it
    decides, by SymPy otherwise (a Max or Min it cannot reduce stays SymPy's)."""
    if all(is_light(a) for a in args):
        keep: list = []
        for a in args:
            if any(algebra.nonneg(k - a) if largest else algebra.nonneg(a - k) for k in keep):
                continue
            keep = [k for k in keep if not (algebra.nonneg(a - k) if largest else algebra.nonneg(k - a))]
            keep.append(a)
        if len(keep) == 1:
            return keep[0]
        return algebra.extremum_atom(tuple(keep), largest)
    from ._symbolic import extremum

    return normalize(extremum([as_expr(a) for a in args], largest=largest))


def gcd(a: Any, b: Any) -> Any:
    """The greatest common divisor; unevaluated ``gcd(H, n)`` while an argument is symbolic."""
    if all_int(a, b):
        return math.gcd(a, b)
    if a == b:
        return a
    if (is_int(a) and abs(a) == 1) or (is_int(b) and abs(b) == 1):
        return 1
    from ._symbolic import IntGcd

    return IntGcd(as_expr(a), as_expr(b))


def prod(xs: Iterable[Any]) -> Any:
    return math.prod(xs, start=1)


def summation(fn: Callable[[Any], Any], lo: Any, hi: Any) -> Any:
    """sum(fn(t) for t in lo..hi inclusive); a SymPy ``Sum`` when a bound is symbolic."""
    if all_int(lo, hi):
        if hi - lo + 1 > MAX_TERMS:
            raise ConvcalcError(f"a sum of {hi - lo + 1} terms is too long to add term by term")
        return sum((fn(t) for t in range(lo, hi + 1)), start=0)
    sp = _sympy()
    t = sp.Dummy("t", integer=True, nonnegative=True)
    term = as_expr(fn(t))
    if t not in term.free_symbols:
        return term * (hi - lo + 1)
    return sp.Sum(term, (t, as_expr(lo), as_expr(hi)))


def compare(a: Any, b: Any) -> int | None:
    """-1, 0 or 1 as a < b, a == b, a > b; None where symbols leave it open."""
    if all_int(a, b):
        return (a > b) - (a < b)
    if is_light(a) and is_light(b):
        d = a - b
        if is_int(d):
            return (d > 0) - (d < 0)
        return algebra.sign(d)
    d = as_expr(a) - as_expr(b)
    if d.is_zero:
        return 0
    if d.is_negative:
        return -1
    if d.is_positive:
        return 1
    return None


def is_known_lt(a: Any, b: Any) -> bool:
    """True only when a < b is certain (numbers, or symbols whose assumptions decide it)."""
    return compare(a, b) == -1


def known_int(x: Any) -> int | None:
    """The int value of x, or None while it depends on symbols."""
    if is_int(x):
        return x
    if getattr(x, "is_Integer", False):
        return int(x)
    return None


def normalize(x: Any) -> Any:
    """Ints stay ints; a SymPy expression gets its floors canonicalised, constants become ints."""
    if is_int(x) or x is None or isinstance(x, (str, bool, Poly)):
        return x
    from ._symbolic import canon, from_sympy

    y = canon(x)
    if getattr(y, "is_Integer", False):
        return int(y)
    return y if algebra.SYMPY_FORMS[0] else from_sympy(y)


def _plain_text(x: Any) -> str | None:
    """Text of a value that is not a size (a float argument such as eps, a flag, none, a word)."""
    if x is None or isinstance(x, (bool, str)):
        return str(x)
    if isinstance(x, float):
        return repr(x)
    return None


def to_text(x: Any) -> str:
    if is_int(x):
        return str(x)
    if isinstance(x, (Poly, algebra.Quotient)):
        return algebra.text(x)
    plain = _plain_text(x)
    if plain is not None:
        return plain
    from ._printing import text

    return text(x)


def to_latex(x: Any) -> str:
    if is_int(x):
        return str(x)
    if isinstance(x, (Poly, algebra.Quotient)):
        return algebra.latex(x)
    plain = _plain_text(x)
    if plain is not None:
        return plain
    from ._printing import latex

    return latex(as_expr(x))


def names(x: Any) -> set:
    """The names of the symbols a size holds (none for a number)."""
    if is_int(x):
        return set()
    if isinstance(x, Poly):
        return x.names()
    return {str(s) for s in x.free_symbols}


def substitute(x: Any, values: dict) -> Any:
    """x with symbols replaced by ints (by symbol name), evaluated; used by tests and checks."""
    if is_int(x):
        return x
    if isinstance(x, Poly):
        return algebra.value(x, values)
    from ._symbolic import subs_int

    return subs_int(x, values)


#: sizes (and batch) at or above 10**MAX_SIZE_DIGITS are refused: the same bound as the
#: expression parser's, and the products of a few of them still print (Python refuses to turn
#: ints of more than 4300 digits into text)
MAX_SIZE_DIGITS = 100
MAX_SIZE = 10**MAX_SIZE_DIGITS


def describe_int(v: int) -> str:
    """A huge int in words (its digits would be unprintable): 'a 1001-digit number'."""
    if abs(v) < 10**30:
        return str(v)
    digits = len(str(abs(v))) if v.bit_length() < 13000 else int(v.bit_length() * 0.30103) + 1
    return f"a {'negative ' if v < 0 else ''}{digits}-digit number"
