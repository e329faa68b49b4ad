"""Derivations: the general formula with the values substituted equals the number, for every
layer; expected-output files in each format (regenerate with CONVCALC_REGEN=1); LaTeX and
markdown checks; solve's inequalities."""

import functools
import os
import re
from pathlib import Path

import pytest

from conftest import example_layer
from hypothesis import given, settings
from hypothesis import strategies as st

from convcalc import LAYERS, sizes
from convcalc.expr import symbol
from convcalc.cli import main
from convcalc.explain import check, explain_layer

from convcalc.layers.conv import Conv1d, Conv2d
from convcalc.layers.pool import MaxPool2d

EXPECTED = Path(__file__).parent / "golden" / "explain"


def example(name):
    return example_layer(name)


NUMERIC_EXAMPLES = [n for n in LAYERS if all(sizes.is_int(v) for v in example(n)[1])
                    and not any(isinstance(v, object) and not isinstance(v, (int, bool, str, tuple, float, type(None)))
                                for v in example(n)[0].config().values())]


#: numeric configurations for the layers whose own examples are symbolic
NUMERIC = {
    "rnn": lambda: (LAYERS["rnn"](10, 20, nonlinearity="relu", num_layers=2), (7, 10)),
    "gated-rnn": lambda: (LAYERS["gated-rnn"](5, 4), (6, 5)),
    "attention-rnn": lambda: (LAYERS["attention-rnn"](5, 4, k=2), (6, 5)),
    "mdrnn": lambda: (LAYERS["mdrnn"](3, 4, num_layers=2, directions=2, cell="lstm"), (3, 5, 6)),
    "causalconv1d": lambda: (LAYERS["causalconv1d"](4, 4, 2, dilation=2), (4, 12)),
    "pixelcnn": lambda: (LAYERS["pixelcnn"](1, 8, 3, kernel_size=3, first_kernel_size=5), (1, 12, 12)),
    "wavenet": lambda: (LAYERS["wavenet"](4, 6, 3, blocks=2, output_classes=8), (8, 40)),
}


@pytest.mark.parametrize("name", sorted(set(NUMERIC_EXAMPLES) | set(NUMERIC)))
def test_formula_with_values_equals_the_number(name):
    layer, shape = NUMERIC[name]() if name in NUMERIC else example(name)
    expl = explain_layer(layer, shape, batch=2)
    assert expl.steps and check(expl)
    assert not expl.sheet


@settings(max_examples=8, deadline=None)  # each builds and substitutes a symbolic twin: ~0.7 s
@given(k=st.integers(1, 5), s=st.integers(1, 3), p=st.integers(0, 2), d=st.integers(1, 2), h=st.integers(6, 20), w=st.integers(6, 20), g=st.sampled_from([1, 2]))
def test_conv_derivations_hold(k, s, p, d, h, w, g):
    if d * (k - 1) + 1 > min(h, w) + 2 * p:
        return
    assert check(explain_layer(Conv2d(2 * g, 2 * g, k, stride=s, padding=p, dilation=d, groups=g), (2 * g, h, w)))


@settings(max_examples=8, deadline=None)
@given(k=st.integers(1, 5), s=st.integers(1, 3), ceil=st.booleans(), L=st.integers(6, 30), data=st.data())
def test_pool_derivations_hold(k, s, ceil, L, data):
    p = data.draw(st.integers(0, k // 2))
    assert check(explain_layer(MaxPool2d(k, stride=s, padding=p, ceil_mode=ceil), (3, L, L + 1)))


CASES = {
    "conv2d_course": ["conv2d", "--input", "32,19,19", "--out-channels", "64", "--kernel-size", "7", "--stride", "3", "--no-bias", "--explain"],
    "conv2d_sheet": ["conv2d", "--explain"],
    "lstm_sheet": ["lstm", "--input-size", "D", "--hidden-size", "H", "--seq-len", "T", "--explain"],
    "solve_conv1d": ["solve", "conv1d", "--target", "1,16", "--in-channels", "7", "--kernel-size", "9", "--stride", "3", "--padding", "1", "--explain"],
}
FORMATS = {"table": "txt", "markdown": "md", "json": "json", "latex": "tex", "csv": "csv"}


def render(capsys, args, fmt):
    code = main(args + ["-f", fmt])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_expected_output(capsys, case, fmt):
    out = render(capsys, CASES[case], fmt)
    path = EXPECTED / f"{case}.{FORMATS[fmt]}"
    if os.environ.get("CONVCALC_REGEN"):
        path.write_text(out)
    assert out == path.read_text()


@pytest.mark.parametrize("case", sorted(CASES))
def test_latex_is_well_formed(capsys, case):
    out = render(capsys, CASES[case], "latex")
    for env in re.findall(r"\\begin\{(\w+\*?)\}", out):
        assert out.count(f"\\begin{{{env}}}") == out.count(f"\\end{{{env}}}")
    assert out.count("{") == out.count("}")
    for python_repr in ("Symbol(", "Integer(", "**", "Sum(_"):
        assert python_repr not in out
    if not case.startswith("solve"):  # solve's steps are text; formulas are LaTeX
        assert "floor(" not in out


@pytest.mark.parametrize("case", sorted(CASES))
def test_markdown_tables_render(capsys, case):
    out = render(capsys, CASES[case], "markdown")
    block = []
    for line in out.splitlines() + [""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if block:
            cols = block[0].count("|")
            assert re.fullmatch(r"\|(-+:?\|)+", block[1])
            assert all(row.count("|") - row.count(r"\|") == cols for row in block)
            for row in block[2:]:
                for cell in row.split("|")[1:-1]:
                    assert cell.count("$") % 2 == 0
            block = []


def test_course_derivation_numbers(capsys):
    out = render(capsys, CASES["conv2d_course"], "json")
    assert '"result": [64, 5, 5]' in out and '"result": 2508800' in out and '"result": 2507200' in out
    solve = render(capsys, CASES["solve_conv1d"], "table")
    assert "floor((L - 7)/3) + 1 = 16" in solve and "45 <= L - 7 <= 47" in solve and "52 <= L <= 54" in solve


def test_sheet_has_no_values(capsys):
    out = render(capsys, CASES["conv2d_sheet"], "table")
    assert "formula sheet" in out and "With the values" not in out
    assert "floor((H + 2*p - d*(k - 1) - 1)/s) + 1" in out  # textbook order


def test_every_layer_is_covered():
    assert set(NUMERIC_EXAMPLES) | set(NUMERIC) == set(LAYERS)


def test_recurrent_derivation_shows_steps_and_words():
    from convcalc.layers.recurrent import LSTM

    expl = explain_layer(LSTM(8, 16, num_layers=2), (10, 8))
    keys = [s.quantity for s in expl.steps]
    assert "mults per time step" in keys and "sequential_steps" in keys
    assert any("wavefront" in n for n in expl.notes)


def test_conv1d_derivation_symbols():
    expl = explain_layer(Conv1d(7, 1, 3, stride=2, bias=False), (7, 11))
    names = {name for name, _m, _v in expl.legend}
    assert {"C_in", "C_out", "k", "s", "L_in"} <= names


INTERNALS = ("Sum(", "Dummy", "Max(0, -")
DUMMY = re.compile(r"(?<![A-Za-z0-9])_t")  # SymPy's summation index (x_t in a note is a word)


def _all_examples():
    for name in sorted(LAYERS):
        yield name, "example", example
        if name in NUMERIC:
            yield name, "numeric", lambda n: NUMERIC[n]()


@functools.lru_cache(maxsize=None)
def _explained(name, kind):
    layer, shape = NUMERIC[name]() if kind == "numeric" else example(name)
    return explain_layer(layer, shape)


@pytest.mark.parametrize("name, kind", [(n, k) for n, k, _ in _all_examples()])
def test_no_sympy_internals_in_any_derivation(name, kind):
    from convcalc.render import Format, render as render_report

    expl = _explained(name, kind)
    for fmt, human in [(f, h) for f in Format for h in (False, True)]:
        out = render_report(fmt, expl, human=human)
        for bad in INTERNALS:
            assert bad not in out, (fmt.value, bad, out[max(0, out.find(bad) - 200): out.find(bad) + 200])
        assert not DUMMY.search(out), (fmt.value, out)


@pytest.mark.parametrize("args, expected", [
    (["conv2d", "--input", "3,H,W", "--out-channels", "8", "--kernel-size", "3", "--stride", "2"],
     "8 x (floor((H - 3)/2) + 1) x (floor((W - 3)/2) + 1)"),
])
@pytest.mark.parametrize("fmt", ["table", "csv", "json"])  # markdown and LaTeX write formulas as LaTeX
def test_symbolic_results_keep_their_parentheses(capsys, args, expected, fmt):
    out = render(capsys, args + ["--explain"], fmt)
    if fmt == "json":
        assert '"result": [8, "floor((H - 3)/2) + 1", "floor((W - 3)/2) + 1"]' in out
    else:
        assert expected in out.replace("\n", " ").replace("     ", " ") or expected in out
    assert "8 x floor(" not in out


def test_intermediate_arithmetic_is_shown(capsys):
    out = render(capsys, CASES["conv2d_course"], "json")
    assert '"arithmetic": "64 x (floor(12/3) + 1) x (floor(12/3) + 1)"' in out
    tex = render(capsys, CASES["conv2d_course"], "latex")
    assert r"\left\lfloor{\frac{12}{3}}\right\rfloor" in tex


def test_textbook_order_and_padding_note(capsys):
    out = render(capsys, CASES["conv2d_course"], "json")
    assert "floor((H + 2*p - d*(k - 1) - 1)/s) + 1" in out
    assert "floor((size + 2*padding - dilated kernel) / stride) + 1" in out


def test_connections_equal_the_mults_without_padding():
    expl = explain_layer(Conv2d(32, 64, 7, stride=3, bias=False), (32, 19, 19))
    steps = {s.quantity: s for s in expl.steps}
    p = next(sym for sym in steps["mults"].substituted if str(sym) == "p")
    assert (steps["mults"].general.xreplace({p: 0}) - steps["connections"].general).expand() == 0
    assert "Sum" not in sizes.to_text(steps["connections"].general)
    assert any("with padding 0" in n for n in expl.notes)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_one_meaning_per_symbol(name):
    from convcalc.explain import FIELD_SYMBOLS, MEANINGS

    expl = _explained(name, "numeric" if name in NUMERIC else "example")
    names = [n for n, _m, _v in expl.legend]
    assert len(names) == len(set(names))
    for n, meaning, _v in expl.legend:
        assert meaning and "(or " not in meaning, (n, meaning)
    # a symbol stands for one argument or one input size across every layer
    by_symbol = {}
    for field, sym in FIELD_SYMBOLS.items():
        by_symbol.setdefault(sym, set()).add(MEANINGS[sym])
    assert all(len(m) == 1 for m in by_symbol.values())
    assert not set(FIELD_SYMBOLS.values()) & {"H", "W", "D", "L_in", "B"}  # sizes and the batch are not arguments


def _evaluate(text):
    """A printed formula with the values in, evaluated as Python arithmetic (our own output)."""
    import math
    from fractions import Fraction

    names = {"floor": math.floor, "ceiling": math.ceil, "Max": max, "Min": min, "gcd": math.gcd}
    return eval(re.sub(r"(\d+)", r"Fraction(\1)", text), {"__builtins__": {}, "Fraction": Fraction, **names})  # noqa: S307


@pytest.mark.parametrize("layer, shape", [
    (Conv1d(3, 4, 9, stride=1, padding=3), (3, 20)),
    (Conv1d(3, 4, 5, stride=2, padding=2, dilation=2), (3, 17)),
    (Conv2d(2, 4, 3, stride=2, padding=1), (2, 9, 8)),
    (MaxPool2d(3, stride=2, padding=1), (3, 11, 12)),
    (Conv1d(3, 4, 70, padding=5), (3, 100)),  # a kernel above KEEP_AT_MOST: piecewise in k
])
def test_printed_with_values_and_arithmetic_evaluate_to_the_result(layer, shape):
    from convcalc.render.explained import _arithmetic, _formula

    expl = explain_layer(layer, shape)
    for step in expl.steps:
        if isinstance(step.result, tuple) or not sizes.is_int(step.result):
            continue
        text = _formula(step.general, latex=False, values=step.substituted)
        assert "if" not in text  # the values choose the branch of a piecewise formula
        assert _evaluate(text) == step.result, (step.quantity, text)
        arithmetic = _arithmetic(step, latex=False)
        if arithmetic is not None:
            assert _evaluate(arithmetic) == step.result, (step.quantity, arithmetic)


@pytest.mark.parametrize("layer, shape", [
    (Conv1d(3, 4, 5000, padding=7), (3, 100_000)),  # a kernel too long to close tap by tap
    (LAYERS["wavenet"](4, 4, 63, blocks=200, output_classes=8), (8, 100)),  # too many layers to write out
])
def test_huge_derivations_finish_quickly(layer, shape):
    import time

    from convcalc.render import Format, render as render_report

    start = time.perf_counter()
    expl = explain_layer(layer, shape)
    text = "".join(render_report(fmt, expl) for fmt in Format)
    assert time.perf_counter() - start < 20
    assert "Sum(" not in text and not DUMMY.search(text)


def test_writing_out_a_huge_sum_is_refused():
    import sympy

    from convcalc.errors import ConvcalcError

    t = sympy.Dummy("t", integer=True)
    with pytest.raises(ConvcalcError, match="too long to write out"):
        sizes.substitute(sympy.Sum(t, (t, 0, symbol("n"))), {"n": 10**9})
