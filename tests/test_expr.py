"""The safe expression parser: what it accepts, and a message for each thing it refuses."""

import pytest
import sympy as sp

from convcalc import ExpressionError
from convcalc.expr import parse_expr, parse_shape, symbol

n, H = symbol("n"), symbol("H")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("7", 7),
        (" 2 + 3*4 ", 14),
        ("-2**2", -4),
        ("2**3**2", 512),
        ("2^10", 1024),
        ("17 // 5", 3),
        ("17 % 5", 2),
        ("(1 + 2) * 3", 9),
        ("10**30", 10**30),
        ("2*n+1", 2 * n + 1),
        ("(H - 1)//2", sp.floor((H - 1) / 2)),
        ("n - n + 4", 4),
    ],
)
def test_accepts(text, expected):
    value = parse_expr(text)
    assert value == expected
    if isinstance(expected, int):
        assert type(value) is int


@pytest.mark.parametrize(
    "text, reason",
    [
        ("__import__('os').system('touch x')", "character '_' at position 1"),
        ("os.system", r"character '\.'"),
        ("3/2", "use // for floor division"),
        ("2H", "expected an operator before 'H'"),
        ("f(3)", "function calls are not allowed"),
        ("1 +", "ends where a number or a name was expected"),
        ("((1)", "never closed"),
        ("1)", r"unexpected '\)'"),
        ("", "empty"),
        ("2**-1", "non-negative integer"),
        ("2**5000", "exponent above"),
        ("10**101", "exceeds 10\\*\\*100"),
        ("5 // 0", "division by zero"),
        ("3.5", r"character '\.'"),
        ("1e3", "expected an operator before 'e3'"),
        ("(" * 60 + "1" + ")" * 60, "nested deeper"),
        ("x" * 1001, "longer than"),
        ("lambda: 1", "character ':'"),
    ],
)
def test_refuses(text, reason):
    with pytest.raises(ExpressionError, match=reason):
        parse_expr(text)


def test_error_quotes_the_original_text():
    with pytest.raises(ExpressionError, match="'3 ; 4'"):
        parse_expr("3 ; 4")


@pytest.mark.parametrize(
    "text, shape",
    [
        ("3,224,224", (3, 224, 224)),
        ("3x224x224", (3, 224, 224)),
        ("3, H, W", (3, H, symbol("W"))),
        ("3xHxW", (3, H, symbol("W"))),
        ("C,2*n+1", (symbol("C"), 2 * n + 1)),
        ("7", (7,)),
    ],
)
def test_shapes(text, shape):
    assert parse_shape(text) == shape


@pytest.mark.parametrize("text, reason", [("3,,4", "entry 2 is empty"), ("3,0,4", "entry 2 is 0"), ("3,-4", "entry 2 is -4"), ("", "empty")])
def test_bad_shapes(text, reason):
    with pytest.raises(ExpressionError, match=reason):
        parse_shape(text)
