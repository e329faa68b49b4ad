"""Printing symbolic sizes as a textbook writes them: one fraction per floor, named summation
indices, Python-style piecewise; and printing a formula with numbers in place of its symbols,
unevaluated or with its floors worked out (the derivations' middle columns)."""

from __future__ import annotations

from functools import lru_cache

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from ._symbolic import readable

def _as_fraction(arg):
    """(numerator, denominator) of a floor's argument: (H - 1)/2 rather than H/2 - 1/2, and
    (H + 2*p - d*(k - 1) - 1)/s with the numerator as written."""
    num, den = sp.fraction(sp.together(arg))
    if den != 1:
        return num, den
    return sp.fraction(sp.together(sp.expand(arg)))


#: names given to summation indices when printed (a Dummy prints as _t otherwise)
_INDEX_NAMES = ("t", "u", "v", "i", "j", "m")


class _Named:
    """Summation indices and other dummies printed as plain letters, each its own."""

    def doprint(self, expr):
        taken = {str(x) for x in getattr(expr, "free_symbols", ())}
        self._names = {}
        self._free = [n for n in _INDEX_NAMES + tuple(f"t_{i}" for i in range(1, 50)) if n not in taken]
        return super().doprint(expr)

    def _as_ordered_terms(self, expr, order=None):
        """A sum in textbook order: the positive terms with symbols, then the negative ones,
        then the constant: (H + 2*p - d*(k - 1) - 1)/s."""
        terms = super()._as_ordered_terms(expr, order=order)
        if not expr.is_Add:
            return terms

        def rank(t):
            if t.is_number:
                return 2
            return 1 if t.could_extract_minus_sign() else 0

        return sorted(terms, key=rank)  # stable: SymPy's order within each group

    def _dummy_name(self, expr) -> str:
        names = self.__dict__.setdefault("_names", {})
        if expr not in names:
            free = self.__dict__.setdefault("_free", list(_INDEX_NAMES))
            names[expr] = free.pop(0) if free else f"t_{len(names)}"
        return names[expr]


class _TextPrinter(_Named, StrPrinter):
    def _print_Dummy(self, expr):
        return self._dummy_name(expr)

    def _print_Sum(self, expr):
        """``sum(f(t), t = 0..k - 1)``: the index named, its range inclusive."""
        text = self._print(expr.function)
        for var, lo, hi in expr.limits:
            text = f"sum({text}, {self._print(var)} = {self._print(lo)}..{self._print(hi)})"
        return text

    def _print_Piecewise(self, expr):
        """``(a if k == 1 else b)``, as Python writes a choice."""
        *cases, (last, cond) = expr.args
        text = self._print(last) if cond == True else f"{self._print(last)} if {self._print(cond)} else undefined"  # noqa: E712
        for value, cond in reversed(cases):
            text = f"{self._print(value)} if {self._print(cond)} else {text}"
        return f"({text})"

    def _print_Equality(self, expr):
        return f"{self._print(expr.lhs)} == {self._print(expr.rhs)}"

    def _frac(self, arg) -> str:
        num, den = _as_fraction(arg)
        text = self._print(num)
        if den == 1:
            return text
        if num.is_Add:
            text = f"({text})"
        den_text = self._print(den)
        return f"{text}/{den_text}" if den.is_Atom else f"{text}/({den_text})"

    def _print_floor(self, expr):
        return "floor(%s)" % self._frac(expr.args[0])

    def _print_ceiling(self, expr):
        return "ceiling(%s)" % self._frac(expr.args[0])


class _LatexPrinter(_Named, LatexPrinter):
    def _print_Dummy(self, expr):
        return self._dummy_name(expr)

    def _frac(self, arg) -> str:
        num, den = _as_fraction(arg)
        if den == 1:
            return self._print(num)
        return r"\frac{%s}{%s}" % (self._print(num), self._print(den))

    def _print_floor(self, expr, exp=None):
        tex = r"\left\lfloor{%s}\right\rfloor" % self._frac(expr.args[0])
        return tex if exp is None else r"%s^{%s}" % (tex, exp)

    def _print_ceiling(self, expr, exp=None):
        tex = r"\left\lceil{%s}\right\rceil" % self._frac(expr.args[0])
        return tex if exp is None else r"%s^{%s}" % (tex, exp)


@lru_cache(maxsize=8192)
def text(expr) -> str:
    return _TextPrinter().doprint(readable(expr))


@lru_cache(maxsize=8192)
def latex(expr) -> str:
    return _LatexPrinter().doprint(readable(expr))


class _SubstitutingText(_TextPrinter):
    """Prints an expression with numbers in place of its symbols, nothing evaluated."""

    def __init__(self, values: dict):
        super().__init__()
        self.values = values

    def _print_Symbol(self, expr):
        if expr in self.values:
            return str(self.values[expr])
        return super()._print_Symbol(expr)


def _branch(expr, values: dict):
    """The branch of a Piecewise the values choose, or None while symbols leave it open."""
    for value, cond in expr.args:
        decided = cond.xreplace({x: sp.Integer(values[x]) for x in cond.free_symbols if x in values})
        if decided == True:  # noqa: E712 - SymPy's true
            return value
        if decided != False:  # noqa: E712
            return None
    return None


def _chosen(general, bracket: str = "({})"):
    def print_piecewise(self, expr, *args):
        """With the values in, a piecewise formula shows the branch they choose (bracketed
        where it is a sum: it stands where the whole piecewise stood)."""
        chosen = _branch(expr, self.values)
        if chosen is None:
            return general(self, expr, *args)
        return bracket.format(self._print(chosen)) if chosen.is_Add else self._print(chosen)

    return print_piecewise


_SubstitutingText._print_Piecewise = _chosen(_TextPrinter._print_Piecewise)


class _SubstitutingLatex(_LatexPrinter):
    def __init__(self, values: dict):
        super().__init__({"symbol_names": {k: str(v) for k, v in values.items()}, "mul_symbol": "dot"})
        self.values = values

    _print_Piecewise = _chosen(LatexPrinter._print_Piecewise, "{}")  # LaTeX brackets it already


def text_with(expr, values: dict) -> str:
    return _SubstitutingText(values).doprint(readable(expr))


def latex_with(expr, values: dict) -> str:
    return _SubstitutingLatex(values).doprint(readable(expr))


def _reduced(arg, values: dict):
    """(numerator, denominator) of a floor's argument with the values in, as ints, or None."""
    if not all(x in values for x in arg.free_symbols):
        return None
    num, den = _as_fraction(arg)
    mapping = {x: sp.Integer(values[x]) for x in arg.free_symbols}
    num, den = num.xreplace(mapping), den.xreplace(mapping)
    if num.is_Integer and den.is_Integer:
        return int(num), int(den)
    return None


class _ArithmeticText(_SubstitutingText):
    """The formula with the values in and each floor's argument worked out: floor(12/3) + 1."""

    def _rounded(self, name: str, expr) -> str:
        nd = _reduced(expr.args[0], self.values)
        if nd is None:
            return getattr(super(), f"_print_{name}")(expr)
        num, den = nd
        return f"{name}({num}/{den})" if den != 1 else f"{name}({num})"

    def _print_floor(self, expr):
        return self._rounded("floor", expr)

    def _print_ceiling(self, expr):
        return self._rounded("ceiling", expr)


class _ArithmeticLatex(_SubstitutingLatex):
    def _rounded(self, left: str, right: str, expr, exp=None):
        nd = _reduced(expr.args[0], self.values)
        if nd is None:
            return None
        num, den = nd
        tex = left + (r"\frac{%d}{%d}" % (num, den) if den != 1 else str(num)) + right
        return tex if exp is None else r"%s^{%s}" % (tex, exp)

    def _print_floor(self, expr, exp=None):
        return self._rounded(r"\left\lfloor{", r"}\right\rfloor", expr, exp) or super()._print_floor(expr, exp)

    def _print_ceiling(self, expr, exp=None):
        return self._rounded(r"\left\lceil{", r"}\right\rceil", expr, exp) or super()._print_ceiling(expr, exp)


def text_arithmetic(expr, values: dict) -> str:
    return _ArithmeticText(values).doprint(readable(expr))


def latex_arithmetic(expr, values: dict) -> str:
    return _ArithmeticLatex(values).doprint(readable(expr))
