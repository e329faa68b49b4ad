"""The SymPy side of the size algebra, imported only when a value is symbolic."""

from __future__ import annotations

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter


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
    if not isinstance(expr, sp.Basic):
        return expr
    return expr.replace(sp.floor, _canon_floor)


class _TextPrinter(StrPrinter):
    def _print_floor(self, expr):
        return "floor(%s)" % self._print(sp.together(expr.args[0]))

    def _print_ceiling(self, expr):
        return "ceiling(%s)" % self._print(sp.together(expr.args[0]))


class _LatexPrinter(LatexPrinter):
    def _print_floor(self, expr, exp=None):
        tex = r"\left\lfloor{%s}\right\rfloor" % self._print(sp.together(expr.args[0]))
        return tex if exp is None else r"%s^{%s}" % (tex, exp)

    def _print_ceiling(self, expr, exp=None):
        tex = r"\left\lceil{%s}\right\rceil" % self._print(sp.together(expr.args[0]))
        return tex if exp is None else r"%s^{%s}" % (tex, exp)


def text(expr) -> str:
    return _TextPrinter().doprint(expr)


def latex(expr) -> str:
    return _LatexPrinter().doprint(expr)


def _expand_sum(s):
    """A Sum with integer bounds written out term by term (SymPy's own summation of floors
    can be wrong: Sum(floor(-t/3) + 3, (t, 0, 0)).doit() gives 2)."""
    (var, lo, hi), = s.limits
    if not (lo.is_Integer and hi.is_Integer):
        return s
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
