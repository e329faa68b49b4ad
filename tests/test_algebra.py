"""convcalc's own algebra (convcalc/algebra/) against brute force and SymPy.

Random expressions in two size symbols are built once as Python ints (the brute force, at many
values) and once in the algebra; they must agree at every value, through SymPy and back, and the
algebra's sign decisions must hold at every value tried. Printing is checked by reading the
printed text back with SymPy (a test may; convcalc never hands user text to SymPy).
"""

from __future__ import annotations

import itertools

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from convcalc import algebra, sizes
from convcalc._symbolic import from_sympy, to_sympy
from convcalc.algebra import Poly

H, W = Poly.symbol("H"), Poly.symbol("W")
VALUES = [{"H": h, "W": w} for h, w in itertools.product(range(1, 41), (1, 2, 3, 7, 16, 33))]


def _leaf():
    return st.one_of(st.sampled_from(["H", "W"]), st.integers(-7, 9))


def _tree(depth: int):
    if depth == 0:
        return _leaf()
    sub = _tree(depth - 1)
    return st.one_of(
        _leaf(),
        st.tuples(st.sampled_from(["+", "-", "*"]), sub, sub),
        st.tuples(st.just("//"), sub, st.integers(1, 9)),
        st.tuples(st.sampled_from(["max", "min"]), sub, sub),
    )


def _build(tree, leaf):
    if not isinstance(tree, tuple):
        return leaf(tree)
    op, a, b = tree
    x = _build(a, leaf)
    if op == "//":
        return x // b
    y = _build(b, leaf)
    if op == "max":
        return sizes.smax(x, y)
    if op == "min":
        return sizes.smin(x, y)
    return {"+": x + y, "-": x - y, "*": x * y}[op]


def _symbolic(tree):
    return _build(tree, lambda t: {"H": H, "W": W}[t] if isinstance(t, str) else t)


def _numeric(tree, values):
    return _build(tree, lambda t: values[t] if isinstance(t, str) else t)


@settings(max_examples=300, deadline=None)
@given(_tree(4))
def test_every_value_agrees_with_brute_force(tree):
    p = _symbolic(tree)
    for values in VALUES:
        assert sizes.substitute(p, values) == _numeric(tree, values)


@settings(max_examples=150, deadline=None)
@given(_tree(3))
def test_sympy_round_trip_and_printing(tree):
    p = _symbolic(tree)
    if sizes.is_int(p):
        return
    e = to_sympy(p)
    back = from_sympy(e)
    printed = sp.sympify(sizes.to_text(p), locals={"H": sp.Symbol("H", integer=True, positive=True),
                                                   "W": sp.Symbol("W", integer=True, positive=True)})
    for values in VALUES[::7]:
        want = _numeric(tree, values)
        subs = {sp.Symbol(k, integer=True, positive=True): v for k, v in values.items()}
        assert e.xreplace(subs) == want
        assert sizes.substitute(back, values) == want
        assert printed.xreplace(subs) == want


@settings(max_examples=300, deadline=None)
@given(_tree(3), _tree(2))
def test_comparisons_hold_at_every_value(a, b):
    x, y = _symbolic(a), _symbolic(b)
    decided = sizes.compare(x, y)
    if decided is None:
        return
    for values in VALUES:
        u, v = _numeric(a, values), _numeric(b, values)
        assert (u > v) - (u < v) == decided, (values, u, v)


@pytest.mark.parametrize("built, text", [
    (lambda: (H + 2 * 1 - 3) // 2 + 1, "floor((H + 1)/2)"),                    # conv k3 s2 p1
    (lambda: ((H + 6 - 7) // 2 + 1 + 2 - 3) // 2 + 1, "floor((H + 3)/4)"),      # stem conv, then max pool
    (lambda: (H - 1) // 2 + 1 - ((H + 1) // 2), "0"),                           # equal sizes cancel
    (lambda: 216 * ((H - 1) // 2 + 1) * ((W - 1) // 2 + 1), "216*floor((H + 1)/2)*floor((W + 1)/2)"),
    (lambda: sizes.exact_div(H * (H - 1), 2), "H*(H - 1)/2"),
    (lambda: 24 * ((H // 2) + 2 * ((H + 1) // 2) - 1) * ((W // 2) + 2 * ((W + 1) // 2) - 1),
     "24*(floor(H/2) + 2*floor((H + 1)/2) - 1)*(floor(W/2) + 2*floor((W + 1)/2) - 1)"),
    (lambda: sizes.smax(0, H // 2 - 1), "Max(0, floor(H/2) - 1)"),
    (lambda: sizes.smax(0, (H + 1) // 2), "floor((H + 1)/2)"),
    (lambda: 8 * H * W + 8 * H * H, "8*H*(H + W)"),
])
def test_canonical_forms_print_as_a_textbook_writes_them(built, text):
    assert sizes.to_text(built()) == text


def test_nested_floors_fold_as_the_identity_says():
    # floor((floor(y/a) + n)/b) == floor((y + n*a)/(a*b)) for integer y, n and positive a, b
    for a, b, n in itertools.product(range(1, 6), range(1, 6), range(-4, 5)):
        p = (H // a + n) // b
        for h in range(1, 60):
            assert sizes.substitute(p, {"H": h}) == (h // a + n) // b


def test_exact_sign_of_one_symbol_floors_by_periods():
    # floor((H + 1)/2) >= floor(H/2) always; floor((H + 3)/4) >= 1 always; floor(H/2) >= 1 not for H = 1
    assert algebra.nonneg((H + 1) // 2 - H // 2)
    assert sizes.compare((H + 3) // 4, 1) is None or sizes.compare((H + 3) // 4, 1) >= 0
    assert not algebra.nonneg(H // 2 - 1)
    assert sizes.compare(2 * (H // 2), H + 1) == -1


def test_equal_to_sympy_expressions_of_the_same_value():
    h = sp.Symbol("H", integer=True, positive=True)
    assert (H - 1) // 2 + 1 == sp.floor((h - 1) / 2) + 1
    # SymPy's own == is structural: compare there after reading the algebra's value back
    assert from_sympy(sp.floor((h - 1) / 2) + 1) == (H - 1) // 2 + 1
    assert sp.simplify(sp.sympify((H + 1) // 2) - sp.floor((h + 1) / 2)) == 0


@pytest.mark.parametrize("argv", [
    ["net", "examples/resnet50.yaml", "--input", "3,H,W"],
    ["net", "examples/densenet121.yaml", "--input", "3,H,W", "-f", "json"],
    ["net", "examples/efficientnet_b0.yaml", "--input", "3,H,W", "-f", "latex"],
    ["transformer", "--arch", "vit", "--image-size", "S"],
    ["conv2d", "--input", "3,H,W", "--out-channels", "8", "--kernel-size", "3", "--stride", "2", "-f", "csv"],
])
def test_symbolic_tables_never_import_sympy(argv):
    import subprocess
    import sys
    from pathlib import Path

    code = ("import io, sys; from convcalc.cli import main\n"
            "sys.stdout = io.StringIO()\n"
            f"try: rc = main({argv!r})\n"
            "except SystemExit as e: rc = e.code\n"
            "assert not rc, rc\n"
            "assert 'sympy' not in sys.modules, 'sympy imported'\n")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]


NETWORKS = {  # example -> symbolic input, and sizes at which PyTorch accepts it (the join domain held)
    "resnet50": ("3,H,W", [(224, 224), (97, 131), (33, 64)]),
    "densenet121": ("3,H,W", [(224, 224), (71, 96)]),
    "efficientnet_b0": ("3,H,W", [(224, 224), (65, 130)]),
    "mobilenetv3_small": ("3,H,W", [(224, 224), (51, 77)]),
    "shufflenetv2": ("3,H,W", [(224, 224), (93, 64)]),
    "regnety_400mf": ("3,H,W", [(224, 224), (100, 37)]),
    "vgg16": ("3,H,W", [(224, 224), (64, 97)]),
    "alexnet": ("3,H,W", [(224, 224), (127, 100)]),
    "unet_small": ("1,H,W", [(32, 32), (64, 96)]),
    "resnet50_fpn": ("3,H,W", [(224, 224), (96, 160)]),
}
COUNTED = ("params", "buffers", "mults", "adds", "comparisons", "macs", "flops", "transcendentals", "activation_bytes", "param_bytes")


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_symbolic_networks_substituted_equal_the_numeric_runs_row_by_row(name):
    """Every row and total of a shipped network with a symbolic input, substituted, is the numeric
    run's (the numeric runs are the ones checked against PyTorch)."""
    from convcalc.network import evaluate

    root = __import__("pathlib").Path(__file__).resolve().parents[1] / "examples"
    text, sizes_at = NETWORKS[name]
    sym = evaluate(root / f"{name}.yaml", input_shape=text)
    channels = text.split(",")[0]
    for h, w in sizes_at:
        num = evaluate(root / f"{name}.yaml", input_shape=f"{channels},{h},{w}")
        values = {"H": h, "W": w}
        assert len(sym.rows) == len(num.rows)
        for srow, nrow in zip(sym.rows, num.rows):
            for key in COUNTED:
                assert sizes.substitute(srow[key], values) == nrow[key], (name, srow["path"], key, h, w)
            assert tuple(sizes.substitute(v, values) for v in srow["output_shape"]) == tuple(nrow["output_shape"])
        for key in COUNTED:
            assert sizes.substitute(sym.total[key], values) == num.total[key], (name, key)


@pytest.mark.parametrize("built, tex", [
    (lambda: (H - 3) // 2 + 1, r"\left\lfloor{\frac{H - 3}{2}}\right\rfloor + 1"),
    (lambda: 216 * ((H - 1) // 2 + 1) * ((W - 1) // 2 + 1),
     r"216 \left\lfloor{\frac{H + 1}{2}}\right\rfloor \left\lfloor{\frac{W + 1}{2}}\right\rfloor"),
    (lambda: sizes.exact_div(H * (H - 1), 2), r"\frac{H \left(H - 1\right)}{2}"),
    (lambda: sizes.smax(0, H // 2 - 1), r"\max\left(0, \left\lfloor{\frac{H}{2}}\right\rfloor - 1\right)"),
    (lambda: Poly.symbol("C_in") * H ** 2 + 3, r"C_{in} H^{2} + 3"),
])
def test_latex_has_the_text_forms_structure(built, tex):
    assert sizes.to_latex(built()) == tex
