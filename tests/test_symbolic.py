"""Symbolic results: readable, canonical, and equal to the numeric results once substituted."""

import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from convcalc import Conv1d, Conv2d, ConvTranspose1d, MaxPool1d, MaxPool2d, AdaptiveAvgPool1d, AvgPool1d, Linear
from convcalc.expr import parse_expr, symbol
from convcalc.report import Quantity
from convcalc.sizes import substitute, to_text

H, W = symbol("H"), symbol("W")
NUMERIC = [q for q in Quantity if q.unit.value in ("count", "bytes", "shape", "gemm")]


def test_readable_floor():
    r = Conv2d(3, 8, 3, stride=2, padding=0).report((3, H, W))
    assert to_text(r.output_shape[1]) == "floor((H - 3)/2) + 1"


def test_two_stride_two_layers_print_one_floor():
    a = Conv2d(3, 8, 3, stride=2, padding=1).report((3, H, W))
    b = Conv2d(8, 8, 3, stride=2, padding=1).report(a.output_shape)
    h = b.output_shape[1]
    assert to_text(h) == "floor((H + 3)/4)"
    assert sum(1 for _ in sp.preorder_traversal(sp.sympify(h)) if isinstance(_, sp.floor)) == 1


def test_same_padding_keeps_symbols():
    r = Conv2d(3, 64, 3, padding="same").report((3, H, W))
    assert r.output_shape == (64, H, W)
    assert sp.expand(r.params - 1792) == 0


def test_general_formula_from_all_symbols():
    C, O, k, s, p = (symbol(n) for n in ("C", "O", "k", "s", "p"))
    r = Conv1d(C, O, k, stride=s, padding=p, bias=False).report((C, H))
    assert sp.simplify(r.output_shape[1] - (sp.floor((H + 2 * p - k) / s) + 1)) == 0
    assert sp.simplify(r.params - O * C * k) == 0


def _check_substitution(layer_fn, sym_shape, num_shape, values):
    sym = layer_fn().report(sym_shape)
    num = layer_fn().report(num_shape)
    for q in NUMERIC:
        a, b = sym.get(q), num.get(q)
        if isinstance(a, tuple):
            assert tuple(substitute(x, values) for x in a) == b, q
        elif a is not None:
            assert substitute(a, values) == b, q


@settings(max_examples=40, deadline=None)
@given(h=st.integers(7, 30), w=st.integers(7, 30), k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2), d=st.integers(1, 2))
def test_conv2d_symbolic_equals_numeric(h, w, k, s, p, d):
    _check_substitution(lambda: Conv2d(2, 3, k, stride=s, padding=p, dilation=d), (2, H, W), (2, h, w), {"H": h, "W": w})


@settings(max_examples=40, deadline=None)
@given(h=st.integers(9, 30), k=st.integers(2, 5), s=st.integers(1, 3), data=st.data(), ceil=st.booleans())
def test_maxpool_symbolic_equals_numeric(h, k, s, data, ceil):
    p = data.draw(st.integers(0, k // 2))
    _check_substitution(lambda: MaxPool1d(k, stride=s, padding=p, ceil_mode=ceil), (2, H), (2, h), {"H": h})


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 30), k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2), d=st.integers(1, 2))
def test_transposed_symbolic_equals_numeric(h, k, s, p, d):
    out = (h - 1) * s - 2 * p + d * (k - 1) + 1
    if out < 1:
        return
    _check_substitution(lambda: ConvTranspose1d(2, 3, k, stride=s, padding=p, dilation=d), (2, H), (2, h), {"H": h})


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 40), n=st.integers(1, 12))
def test_adaptive_symbolic_equals_numeric(h, n):
    _check_substitution(lambda: AdaptiveAvgPool1d(n), (3, H), (3, h), {"H": h})


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 20), w=st.integers(1, 20), k=st.integers(1, 3), s=st.integers(1, 3), o=st.integers(1, 9))
def test_all_symbol_layer_matches_numbers(h, w, k, s, o):
    """Every argument a symbol: the general formula substituted equals the numeric report."""
    if h < k:
        return
    K, S, Ob = symbol("K"), symbol("S"), symbol("Ob")
    sym = Conv1d(2, Ob, K, stride=S, bias=True).report((2, H))
    num = Conv1d(2, o, k, stride=s, bias=True).report((2, h))
    values = {"H": h, "K": k, "S": s, "Ob": o}
    for q in (Quantity.OUTPUT_SHAPE, Quantity.PARAMS, Quantity.MULTS, Quantity.ADDS, Quantity.CONNECTIONS, Quantity.GEMM):
        a, b = sym.get(q), num.get(q)
        if isinstance(a, tuple):
            assert tuple(substitute(x, values) for x in a) == b, q
        else:
            assert substitute(a, values) == b, q


def test_symbolic_linear_and_avgpool():
    r = Linear(parse_expr("n"), 10).report((H, parse_expr("n")))
    assert to_text(r.macs) == "10*H*n"
    a = AvgPool1d(2).report((3, H))
    assert to_text(a.output_shape[1]) == "floor(H/2)"


def test_connections_without_padding_equal_mults():
    r = Conv2d(3, 8, 3, stride=2).report((3, H, W))
    assert sp.expand(r.connections - r.mults) == 0
    assert "Max" not in to_text(r.connections) and "Min" not in to_text(r.connections)


def test_ceil_mode_simplifies():
    r = MaxPool2d(3, stride=2, ceil_mode=True).report((3, H, W))
    assert to_text(r.output_shape[1]) == "floor(H/2)"


def test_padded_connections_have_no_min_max():
    r = Conv2d(3, 8, 3, stride=2, padding=1).report((3, H, W))
    text = to_text(r.connections)
    assert "Max" not in text and "Min" not in text
    assert substitute(r.connections, {"H": 4, "W": 4}) == 24 * 5 * 5


@settings(max_examples=60, deadline=None)
@given(L=st.integers(1, 9), M=st.integers(1, 9), k=st.integers(1, 7), s=st.integers(1, 4), groups=st.sampled_from([1, 2]))
def test_transposed_symbolic_kernel_and_input_adds_equal_the_numbers(L, M, k, s, groups):
    """No padding: adds, flops and connections with the kernel and the input symbolic are formulas
    that give the numeric counts (which the golden set checks against PyTorch) for every value."""
    from convcalc import ConvTranspose2d
    from convcalc.expr import symbol
    from convcalc.sizes import substitute

    H, W, kk = symbol("H"), symbol("W"), symbol("k")
    sym = ConvTranspose2d(4, 6, kk, stride=s, groups=groups).report((4, H, W))
    num = ConvTranspose2d(4, 6, k, stride=s, groups=groups).report((4, L, M))
    for q in ("adds", "flops", "connections"):
        assert getattr(sym, q) is not None, q
        assert substitute(getattr(sym, q), {"H": L, "W": M, "k": k}) == getattr(num, q), q
