"""A safe parser for size expressions and shapes typed by users.

Nothing here evaluates Python: a hand-written tokenizer accepts only integers, names, the
operators ``+ - * // % ** ^`` and parentheses, and says which character it refused; a small
precedence-climbing parser builds a tree; the tree is evaluated through a callback that keeps
numbers as Python ints and turns names into SymPy symbols (positive integers). SymPy is
imported only when a name occurs, so numeric queries never load it. Nesting depth, length,
exponents and the size of numbers are capped; every error quotes the original text.
"""

from __future__ import annotations

import operator
from typing import Any

from .errors import ExpressionError

MAX_LENGTH = 1000
MAX_DEPTH = 50
MAX_EXPONENT = 1000
MAX_DIGITS = 100  # any intermediate number larger than 10**100 is refused

# operator -> (precedence, right-associative)
_BINARY = {
    "+": (1, False),
    "-": (1, False),
    "*": (2, False),
    "//": (2, False),
    "%": (2, False),
    "**": (4, True),
    "^": (4, True),
}
_UNARY_PRECEDENCE = 3  # binds tighter than * but looser than **: -2**2 == -4
_LIMIT = 10**MAX_DIGITS

_ALLOWED = "integers, names, + - * // % ** ^ and parentheses"


class _Token:
    __slots__ = ("kind", "text", "pos")

    def __init__(self, kind: str, text: str, pos: int):
        self.kind, self.text, self.pos = kind, text, pos


def _error(source: str, reason: str) -> ExpressionError:
    return ExpressionError(f"malformed expression {source!r}: {reason}")


def tokenize(source: str) -> list[_Token]:
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    tokens: list[_Token] = []
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if c in " \t":
            i += 1
        elif c.isascii() and c.isdigit():
            j = i
            while j < n and source[j].isascii() and source[j].isdigit():
                j += 1
            tokens.append(_Token("num", source[i:j], i))
            i = j
        elif c.isascii() and c.isalpha():
            j = i
            while j < n and source[j].isascii() and (source[j].isalnum() or source[j] == "_"):
                j += 1
            tokens.append(_Token("name", source[i:j], i))
            i = j
        elif source.startswith("**", i) or source.startswith("//", i):
            tokens.append(_Token("op", source[i : i + 2], i))
            i += 2
        elif c == "/":
            raise _error(source, "'/' is not allowed: sizes are integers, use // for floor division")
        elif c in "+-*%^":
            tokens.append(_Token("op", c, i))
            i += 1
        elif c in "()":
            tokens.append(_Token(c, c, i))
            i += 1
        else:
            raise _error(source, f"character {c!r} at position {i + 1} is not allowed (use {_ALLOWED})")
    return tokens


class _Parser:
    def __init__(self, source: str):
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0
        self.depth = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def fail(self, reason: str) -> ExpressionError:
        return _error(self.source, reason)

    def parse(self):
        if not self.tokens:
            raise self.fail("it is empty")
        tree = self.expression(0)
        tok = self.peek()
        if tok is not None:
            raise self.fail(f"unexpected {tok.text!r} at position {tok.pos + 1}")
        return tree

    def expression(self, min_prec: int):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"nested deeper than {MAX_DEPTH} levels")
        left = self.unary()
        while True:
            tok = self.peek()
            if tok is None or tok.kind != "op":
                if tok is not None and tok.kind in ("num", "name", "("):
                    raise self.fail(f"expected an operator before {tok.text!r} at position {tok.pos + 1}")
                break
            prec, right_assoc = _BINARY[tok.text]
            if prec < min_prec:
                break
            self.i += 1
            right = self.expression(prec if right_assoc else prec + 1)
            left = ("bin", tok.text, left, right)
        self.depth -= 1
        return left

    def unary(self):
        tok = self.peek()
        if tok is not None and tok.kind == "op" and tok.text in "+-":
            self.i += 1
            operand = self.expression(_UNARY_PRECEDENCE)
            return ("neg", operand) if tok.text == "-" else operand
        return self.atom()

    def atom(self):
        tok = self.peek()
        if tok is None:
            raise self.fail("it ends where a number or a name was expected")
        self.i += 1
        if tok.kind == "num":
            if len(tok.text) > MAX_DIGITS:
                raise self.fail(f"number with more than {MAX_DIGITS} digits")
            return ("num", int(tok.text))
        if tok.kind == "name":
            nxt = self.peek()
            if nxt is not None and nxt.kind == "(":
                raise self.fail(f"{tok.text!r} is followed by '(': function calls are not allowed")
            return ("name", tok.text)
        if tok.kind == "(":
            inner = self.expression(0)
            close = self.peek()
            if close is None or close.kind != ")":
                raise self.fail(f"'(' at position {tok.pos + 1} is never closed")
            self.i += 1
            return inner
        raise self.fail(f"unexpected {tok.text!r} at position {tok.pos + 1}")


def _has_names(tree) -> bool:
    kind = tree[0]
    if kind == "name":
        return True
    if kind == "num":
        return False
    if kind == "neg":
        return _has_names(tree[1])
    return _has_names(tree[2]) or _has_names(tree[3])


def symbol(name: str):
    """The symbol convcalc uses for a size name: a positive integer (a value of convcalc's own
    algebra, which SymPy reads as Symbol(name, integer=True, positive=True))."""
    from .algebra import SYMPY_FORMS, Poly

    if SYMPY_FORMS[0]:
        import sympy

        return sympy.Symbol(name, integer=True, positive=True)
    return Poly.symbol(name)


def _evaluate(tree, source: str) -> Any:
    symbolic = _has_names(tree)

    def const(v: int):
        return v

    def check(v):
        if isinstance(v, int):
            if abs(v) >= _LIMIT:
                raise _error(source, f"a value exceeds 10**{MAX_DIGITS}")
        elif getattr(v, "is_Integer", False) and abs(int(v)) >= _LIMIT:
            raise _error(source, f"a value exceeds 10**{MAX_DIGITS}")
        return v

    def ev(node):
        kind = node[0]
        if kind == "num":
            return const(node[1])
        if kind == "name":
            return symbol(node[1])
        if kind == "neg":
            return check(-ev(node[1]))
        op, left, right = node[1], ev(node[2]), ev(node[3])
        if op in ("//", "%"):
            if right == 0:
                raise _error(source, "division by zero")
            if not isinstance(right, int) and not getattr(right, "is_Integer", False):
                if getattr(right, "is_positive", None) is not True:
                    raise _error(source, "a divisor must be a positive integer or a size")
        if op in ("**", "^"):
            exp_val = int(right) if (isinstance(right, int) or getattr(right, "is_Integer", False)) else None
            if exp_val is None:
                if getattr(right, "is_nonnegative", None) is not True:
                    raise _error(source, "an exponent must be a non-negative integer")
            elif exp_val < 0:
                raise _error(source, "an exponent must be a non-negative integer")
            elif exp_val > MAX_EXPONENT:
                raise _error(source, f"an exponent above {MAX_EXPONENT}")
            elif isinstance(left, int) and left not in (0, 1, -1):
                if (abs(left).bit_length() - 1) * exp_val > 3.33 * MAX_DIGITS + 8:
                    raise _error(source, f"a value exceeds 10**{MAX_DIGITS}")
            return check(operator.pow(left, right))
        fn = {"+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv, "%": operator.mod}[op]
        return check(fn(left, right))

    value = ev(tree)
    if symbolic and getattr(value, "is_Integer", False):
        return int(value)
    return value


def parse_expr(source: str) -> Any:
    """An int, or a SymPy expression when the text names symbols. Never evaluates Python."""
    if not isinstance(source, str):
        raise ExpressionError(f"expected text, got {type(source).__name__}")
    tree = _Parser(source.strip()).parse()
    return _evaluate(tree, source)


def split_entries(text: str) -> list[str]:
    """Entries of a shape or tuple: ``3,224,224`` or ``3x224x224`` (``x`` separates entries
    only when there is no comma, so a symbol named x needs commas: ``3,x,x``)."""
    text = text.strip()
    if not text:
        raise ExpressionError("empty shape")
    if "," in text:
        parts = [p.strip() for p in text.split(",")]
        if parts and parts[-1] == "" and len(parts) > 1:
            parts = parts[:-1]
    elif "x" in text and all(p.strip() for p in text.split("x")):
        parts = [p.strip() for p in text.split("x")]
    else:
        parts = [text]
    for i, p in enumerate(parts):
        if not p:
            raise ExpressionError(f"malformed shape {text!r}: entry {i + 1} is empty")
    return parts


def parse_tuple(text: str) -> tuple:
    """A tuple of ints or expressions from ``3,5``, ``3x5`` or ``k``."""
    entries = split_entries(text)
    out = []
    for part in entries:
        try:
            out.append(parse_expr(part))
        except ExpressionError as e:
            if len(entries) > 1:
                raise ExpressionError(f"in {text!r}: {e.message}") from None
            raise
    return tuple(out)


def parse_shape(text: str) -> tuple:
    """A shape (batch excluded): every entry must be a positive integer or a size expression."""
    shape = parse_tuple(text)
    for i, v in enumerate(shape):
        if isinstance(v, int) and v <= 0:
            raise ExpressionError(f"shape {text!r}: entry {i + 1} is {v}, sizes must be positive")
        if not isinstance(v, int) and getattr(v, "is_positive", None) is False:
            raise ExpressionError(f"shape {text!r}: entry {i + 1} is never positive")
    return shape


def formula(source: str, names: frozenset) -> tuple:
    """A data file's formula (a convention's count) parsed once: its tree, every name checked
    against the names it may use. Evaluated by ``apply``; never by Python."""
    if not isinstance(source, str):
        raise ExpressionError(f"expected text, got {type(source).__name__}")
    tree = _Parser(source.strip()).parse()

    def check(node) -> None:
        if node[0] == "name":
            if node[1] not in names:
                raise _error(source, f"unknown name {node[1]!r} (known: {', '.join(sorted(names))})")
        elif node[0] == "neg":
            check(node[1])
        elif node[0] == "bin":
            check(node[2])
            check(node[3])

    check(tree)
    return tree


def apply(tree: tuple, values: dict) -> Any:
    """A formula's tree with its names bound to values (ints, or the algebra's symbolic values)."""
    kind = tree[0]
    if kind == "num":
        return tree[1]
    if kind == "name":
        return values[tree[1]]
    if kind == "neg":
        return -apply(tree[1], values)
    op, left, right = tree[1], apply(tree[2], values), apply(tree[3], values)
    if op in ("**", "^"):
        return left ** right
    return {"+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv, "%": operator.mod}[op](left, right)
