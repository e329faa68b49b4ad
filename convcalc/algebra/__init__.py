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

It never imports SymPy. A Max or Min the algebra cannot decide is kept as an atom (Extremum);
whatever else falls outside (a quotient by a symbol, a sum with a symbolic bound, a gcd) is handed
to SymPy by converting (``_sympy_``), and SymPy's results stay SymPy. Printing (``text``) works
from the structure: one fraction per floor, common factors out, terms in textbook order.

atoms.py holds the atoms, poly.py the polynomials and their arithmetic, order.py the sign
decisions and printing.py the text.
"""

from .atoms import SYMPY_FORMS, Extremum, Floor, Var, extremum_atom
from .order import MAX_PERIOD, nonneg, sign
from .poly import Poly, Quotient, divide_exact, floor_div, quotient, value
from .printing import latex, text, text_atom

__all__ = ["SYMPY_FORMS", "Extremum", "Floor", "Var", "extremum_atom", "MAX_PERIOD", "nonneg", "sign", "Poly", "Quotient",
           "divide_exact", "floor_div", "quotient", "value", "latex", "text", "text_atom"]
