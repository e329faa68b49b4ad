"""The SymPy side of the size algebra, imported only when a value is symbolic."""

from __future__ import annotations

from functools import lru_cache

import sympy as sp


class IntGcd(sp.Function):
    """gcd of two positive integers, left unevaluated while an argument is a symbol."""

    is_integer = True
    is_positive = True

    @classmethod
    def eval(cls, a, b):
        if a.is_Integer and b.is_Integer:
            return sp.Integer(sp.igcd(int(a), int(b)))
        if a == b:
            return a
        if a.is_Integer and abs(int(a)) == 1 or b.is_Integer and abs(int(b)) == 1:
            return sp.Integer(1)
        return None

    def _sympystr(self, printer):
        return "gcd(%s, %s)" % (printer._print(self.args[0]), printer._print(self.args[1]))

    def _latex(self, printer):
        return r"\gcd\left(%s, %s\right)" % (printer._print(self.args[0]), printer._print(self.args[1]))


def _split(arg):
    """arg as (numerator, positive integer denominator) when it has that form, else None."""
    num, den = sp.fraction(sp.together(arg))
    if den.is_Integer and den > 0 and num.is_integer:
        return sp.expand(num), den
    return None


@lru_cache(maxsize=8192)
def _canon_floor(arg):
    """floor(arg) with floor((floor(y/a) + c)/b) rewritten as floor((y + c*a)/(a*b)).

    The identity holds for integer y and c and positive integers a and b; it is applied while a
    nested floor sits alone (coefficient 1) in the numerator of an integer-denominator argument.
    """
    split = _split(arg)
    if split is not None:
        num, b = split
        for inner in sorted(num.atoms(sp.floor), key=sp.default_sort_key):
            if num.coeff(inner) != 1:
                continue
            rest = sp.expand(num - inner)
            if rest.has(inner) or not rest.is_integer:
                continue
            inner_split = _split(inner.args[0])
            if inner_split is None:
                continue
            y, a = inner_split
            return _canon_floor((y + rest * a) / (a * b))
    return sp.floor(arg)


def canon(expr):
    """Nested floors folded into one (floor((floor(y/a) + c)/b) -> floor((y + c*a)/(a*b))), and
    sums of a constant written as a product. Cheap enough to run on every value of every layer;
    the cosmetic factoring is left to printing (readable)."""
    if not isinstance(expr, sp.Basic):
        return expr
    if expr.has(sp.floor):
        expr = expr.replace(sp.floor, _canon_floor)
    if expr.has(sp.Sum):
        expr = expr.replace(lambda e: isinstance(e, sp.Sum) and not e.function.has(e.limits[0][0]), _constant_sum)
    return expr


def _pull(e):
    content, rest = e.primitive()
    return content * rest if content != 1 else e


@lru_cache(maxsize=8192)
def readable(expr):
    """Common factors pulled out of every sum, for printing: 4*(64*f + 64) -> 256*(f + 1),
    2*H*(8*D + 8) -> 16*H*(D + 1), 8*D*H + 8*H**2 -> 8*H*(D + H). Large expressions (a whole
    network's totals) get only the numeric factors, which is fast."""
    if sp.count_ops(expr) <= 30:
        return sp.factor_terms(expr.replace(lambda e: e.is_Add, sp.factor_terms))
    return expr.replace(lambda e: e.is_Add, _pull)


def _constant_sum(s):
    (_var, lo, hi), = s.limits
    return s.function * (hi - lo + 1)


def _expand_sum(s):
    """A Sum with integer bounds written out term by term (SymPy's own summation of floors
    can be wrong: Sum(floor(-t/3) + 3, (t, 0, 0)).doit() gives 2)."""
    (var, lo, hi), = s.limits
    if not (lo.is_Integer and hi.is_Integer):
        return s
    from .sizes import MAX_TERMS

    if int(hi) - int(lo) + 1 > MAX_TERMS:
        from .errors import ConvcalcError

        raise ConvcalcError(f"a sum of {int(hi) - int(lo) + 1} terms is too long to write out (the limit is {MAX_TERMS})")
    return sp.Add(*[s.function.xreplace({var: sp.Integer(i)}) for i in range(int(lo), int(hi) + 1)])


def subs_int(expr, values: dict):
    mapping = {s: sp.Integer(values[s.name]) for s in expr.free_symbols if s.name in values}
    out = expr.xreplace(mapping)
    out = out.replace(lambda e: isinstance(e, sp.Sum), _expand_sum)
    if not out.is_Integer:
        out = sp.simplify(out.doit())
    if out.is_Integer:
        return int(out)
    return out


def _numeric(x) -> bool:
    return x.is_number and x.is_real is not False


def _nondecreasing(expr) -> bool:
    """True when expr is built from symbols (non-negative integers) with non-negative
    coefficients, sums, products of such terms and floors/ceilings of such terms: it then takes
    its least value where every symbol is at its least (1 for sizes, 0 for a padding)."""
    if expr.is_Symbol or _numeric(expr):
        return True
    if isinstance(expr, (sp.floor, sp.ceiling)):
        return _nondecreasing(expr.args[0])
    if expr.is_Add:
        return all(_nondecreasing(a) for a in expr.args)
    if expr.is_Mul:
        coeff, rest = expr.as_coeff_Mul()
        if coeff < 0:
            return False
        return all(_nondecreasing(a) and (a.is_nonnegative or _numeric(a)) for a in sp.Mul.make_args(rest))
    if isinstance(expr, (sp.Max, sp.Min)):
        return all(_nondecreasing(a) for a in expr.args)
    return False


def _floor_terms(expr):
    """expr as (numeric rest, {floor atom: coefficient}) when it is a constant plus floors."""
    rest, terms = sp.Integer(0), {}
    for term in sp.Add.make_args(sp.expand(expr)):
        coeff, f = term.as_coeff_Mul()
        if isinstance(f, sp.floor):
            terms[f] = terms.get(f, 0) + coeff
        elif _numeric(term):
            rest += term
        else:
            return None
    return rest, {f: c for f, c in terms.items() if c != 0}


def _refuted(d) -> bool:
    """True when d < 0 at some values its symbols' assumptions allow (a few are tried: every
    symbol at its least, at a middle value, and each large alone); a cheap way to answer what
    the proof below would only answer slowly."""
    symbols = sorted(d.free_symbols, key=str)
    if not symbols or len(symbols) > 12:
        return False
    least = {x: 1 if x.is_positive else 0 for x in symbols}
    trials = [least, {x: v + 1 for x, v in least.items()}, {x: v + 6 for x, v in least.items()}]
    trials += [{**least, x: least[x] + 40} for x in symbols]
    for values in trials:
        v = d.xreplace({x: sp.Integer(n) for x, n in values.items()})
        if v.is_number and v.is_extended_real and v < 0:
            return True
    return False


@lru_cache(maxsize=8192)
def nonnegative(d) -> bool:
    """True only when d >= 0 is certain for every positive integer value of its symbols."""
    if _refuted(d):
        return False
    d = sp.expand(d)  # also inside floors: floor((H - 3)/2) -> floor(H/2 - 3/2)
    if d.is_nonnegative:
        return True
    if d.is_negative:
        return False
    split = _floor_terms(d)
    if split is not None:
        rest, terms = split
        if not terms:
            return bool(rest >= 0)
        if len(terms) == 2 and sorted(terms.values()) == [-1, 1]:
            (f1, c1), (f2, _) = sorted(terms.items(), key=lambda kv: -kv[1])
            delta = sp.simplify(f1.args[0] - f2.args[0])
            # floor(v + delta) - floor(v) >= floor(delta)
            if _numeric(delta) and sp.floor(delta) + rest >= 0:
                return True
    if _nondecreasing(d):
        low = d.xreplace({s: sp.Integer(1 if s.is_positive else 0) for s in d.free_symbols})
        if _numeric(low) and low >= 0:
            return True
    return False


def extremum(args, largest: bool):
    """Max or Min of args, dropping every argument another one is known to dominate."""
    return _extremum(tuple(sp.sympify(a) for a in args), largest)


@lru_cache(maxsize=8192)
def _extremum(args: tuple, largest: bool):
    keep = []
    for a in args:
        a = sp.sympify(a)
        if any(nonnegative(k - a) if largest else nonnegative(a - k) for k in keep):
            continue
        keep = [k for k in keep if not (nonnegative(a - k) if largest else nonnegative(k - a))]
        keep.append(a)
    if len(keep) == 1:
        return keep[0]
    return sp.Max(*keep) if largest else sp.Min(*keep)


# ----- convcalc's own algebra (convcalc/algebra/) and SymPy ----------------------------------------
from . import algebra as _alg  # noqa: E402


@lru_cache(maxsize=65536)
def _atom_sympy(atom):
    if isinstance(atom, _alg.Var):
        return sp.Symbol(atom.name, integer=True, positive=True)
    if isinstance(atom, _alg.Extremum):
        return (sp.Max if atom.largest else sp.Min)(*[to_sympy(a) for a in atom.args])
    return sp.floor(to_sympy(atom.num) / atom.den)


@lru_cache(maxsize=65536)
def to_sympy(p):
    """The SymPy expression of an algebra value (ints become Integers)."""
    if not isinstance(p, _alg.Poly):
        return sp.Integer(p) if isinstance(p, int) else sp.Rational(p.numerator, p.denominator)
    terms = []
    for m, c in p.terms.items():
        factors = [sp.Rational(c.numerator, c.denominator) if not isinstance(c, int) else sp.Integer(c)]
        factors += [_atom_sympy(a) ** e for a, e in m]
        terms.append(sp.Mul(*factors))
    return sp.Add(*terms)


from sympy.core.sympify import converter as _converter  # noqa: E402

_converter[_alg.Poly] = to_sympy
_converter[_alg.Quotient] = lambda q: q._sympy_()


class _Outside(Exception):
    pass


def _from(e):
    if e.is_Integer:
        return int(e)
    if e.is_Rational:
        from fractions import Fraction

        return Fraction(int(e.p), int(e.q))
    if e.is_Symbol:
        if isinstance(e, sp.Dummy) or not (e.is_integer and e.is_positive):
            raise _Outside
        return _alg.Poly.symbol(e.name)
    if e.is_Add:
        out = 0
        for a in e.args:
            out = out + _from(a)
        return out
    if e.is_Mul:
        out = 1
        for a in e.args:
            out = out * _from(a)
        return out
    if e.is_Pow and e.exp.is_Integer and int(e.exp) >= 0:
        return _from(e.base) ** int(e.exp)
    if isinstance(e, (sp.Max, sp.Min)):
        return _alg.extremum_atom(tuple(_from(a) for a in e.args), isinstance(e, sp.Max))
    if isinstance(e, sp.floor):
        num, den = sp.fraction(sp.together(e.args[0]))
        if den.is_Integer and int(den) > 0:
            n = _from(sp.expand(num))
            if _integral(n):
                return _alg.floor_div(n, int(den))
    raise _Outside


def _integral(n) -> bool:
    from fractions import Fraction

    if isinstance(n, int):
        return True
    if isinstance(n, Fraction):
        return False
    return all(isinstance(c, int) for c in n.terms.values())


@lru_cache(maxsize=65536)
def from_sympy(e):
    """An algebra value (int or Poly) for a SymPy expression in positive-integer symbols,
    floors of them over integers, sums, products and powers; otherwise e itself."""
    if not isinstance(e, sp.Basic):
        return e
    try:
        out = _from(e)
    except _Outside:
        return e
    return out
