"""Every layer command's own --help example renders in every format, numeric and symbolic,
with and without --human; symbolic values keep their parentheses; --human stays readable on
enormous values; symbolic byte values carry a unit that cannot be read as a symbol."""

from functools import lru_cache
import re

import pytest

from conftest import example_layer

from convcalc import LAYERS, sizes
from convcalc.errors import ConvcalcError
from convcalc.expr import symbol
from convcalc.render import Format, render

FORMATS = list(Format)
_SPATIAL = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def _symbolic_shape(name: str, shape: tuple) -> tuple:
    """The example's input with its sizes replaced by symbols: the spatial sizes of a C,...
    input, the sequence length of a T,... input, the size of a one-entry input."""
    first = LAYERS[name].INPUT.split(",")[0]
    if first == "T":
        return (symbol("T"),) + shape[1:]
    if len(shape) == 1:
        return (symbol("N"),)
    return shape[:1] + tuple(symbol(n) for n in _SPATIAL.get(len(shape) - 1, [f"S_{i}" for i in range(len(shape) - 1)]))


@lru_cache(maxsize=None)
def _report(name: str, symbolic: bool):
    layer, shape = example_layer(name)
    if symbolic:
        shape = _symbolic_shape(name, shape)
    return layer.report(shape)


@pytest.mark.parametrize("human", [False, True], ids=["exact", "human"])
@pytest.mark.parametrize("symbolic", [False, True], ids=["numeric", "symbolic"])
@pytest.mark.parametrize("fmt", FORMATS, ids=[f.value for f in FORMATS])
@pytest.mark.parametrize("name", list(LAYERS))
def test_every_example_renders_in_every_format(name, fmt, symbolic, human):
    report = _report(name, symbolic)
    out = render(fmt, report, human=human)
    assert out.strip()
    assert name in out or fmt is Format.csv and out.startswith("layer,")


def test_dropout_help_example_renders():
    """The reported crash: a float argument (p=0.5) reached the symbolic printer."""
    layer, shape = example_layer("dropout")
    for fmt in (Format.table, Format.markdown, Format.latex):
        assert "p=0.5" in render(fmt, layer.report(shape))


@pytest.mark.parametrize("value, text", [
    (None, "None"), (True, "True"), ("zeros", "zeros"), (0.5, "0.5"), (1e-05, "1e-05"), ((0.5, 2, None), "0.5x2xNone"),
])
def test_config_values_of_every_kind(value, text):
    from convcalc.render.format import config_text

    class R:
        config = {"x": value}

    assert config_text(R) == f"x={text}"


H, W = symbol("H"), symbol("W")


def _conv_report(**kw):
    from convcalc.layers.conv import Conv2d

    return Conv2d(3, 8, 3, stride=2).report((3, H, W), **kw)


def test_csv_brackets_compound_shape_entries():
    out = render(Format.csv, _conv_report())
    row = out.splitlines()[1]
    assert "8x(floor((H - 3)/2) + 1)x(floor((W - 3)/2) + 1)" in row
    assert "x floor(" not in row and "xfloor(" not in row


@pytest.mark.parametrize("v, text", [
    (10**21, "1.00e+21"), (1234 * 10**30, "1.23e+33"), (10**400 + 7, "1.00e+400"), (999 * 10**18, "999.00 E"),
    (1_500_000, "1.50 M"), (12, "12"),
])
def test_human_counts_switch_to_scientific_beyond_exa(v, text):
    from convcalc.render.format import human_number
    from convcalc.report import Unit

    assert human_number(v, Unit.COUNT) == text


@pytest.mark.parametrize("v, text", [
    (2**70, "1.18e+21 B"), (3 * 2**60, "3.00 EiB"), (10**40, "1.00e+40 B"), (2048, "2.00 KiB"), (5, "5 B"),
])
def test_human_bytes_switch_to_scientific_beyond_exbi(v, text):
    from convcalc.render.format import human_number
    from convcalc.report import Unit

    assert human_number(v, Unit.BYTES) == text


def test_human_on_enormous_exact_values_reads_scientific():
    from convcalc.layers.conv import Conv2d

    report = Conv2d(3, 64, 3).report((3, 10**15, 10**15))
    for fmt in (Format.table, Format.markdown, Format.latex):
        out = render(fmt, report, human=True)
        assert ("1.73 \\times 10^{33}" if fmt is Format.latex else "1.73e+33") in out  # 1.728e33 mults
        assert not any(len(tok) > 25 and tok.replace(".", "").replace(",", "").isdigit() for tok in out.split())


B = symbol("B")


@pytest.mark.parametrize("fmt, unit", [(Format.table, " bytes"), (Format.markdown, " bytes"), (Format.latex, r"\,\mathrm{bytes}")])
def test_symbolic_bytes_carry_a_word_unit(fmt, unit):
    from convcalc.layers.conv import Conv2d

    out = render(fmt, Conv2d(3, 64, 3).report((3, 32, 32), batch=B))
    assert "230400*B" + ("`" if fmt is Format.markdown else "") + unit in out or r"230400 B" + unit in out
    assert "7,168 B" in out or r"7{,}168\,B" in out  # numeric bytes keep the unit B


def test_explained_symbolic_bytes_carry_a_word_unit():
    from convcalc.explain import explain_layer
    from convcalc.layers.conv import Conv2d

    expl = explain_layer(Conv2d(3, 64, 3), (3, 32, 32), batch=B)
    assert "230400*B bytes" in render(Format.table, expl)
    assert r"\,\mathrm{bytes}" in render(Format.latex, expl)


EXAMPLES = __import__("pathlib").Path(__file__).parent.parent / "examples"


@lru_cache(maxsize=None)
def _network(name="resnet18", **kw):
    from convcalc.network import evaluate

    return evaluate(EXAMPLES / f"{name}.yaml", **kw)


def test_unknown_column_names_the_valid_ones():
    report = _network()
    with pytest.raises(ConvcalcError, match="valid.*macs"):
        render(Format.table, report, columns=["bogus"])


def test_is_int_helper_unchanged():
    assert sizes.is_int(3) and not sizes.is_int(True)


def _cell_numbers(report) -> set:
    """Every digit group any cell of the network's sections holds, whole (118,013,952)."""
    import re

    from convcalc.render.network import sections

    return {n for section in sections(report) for row in section.rows for c in row for n in re.findall(r"\d[\d,.]*\d|\d", c.text)}


@pytest.mark.parametrize("width", [40, 60, 80, 100, 120])
@pytest.mark.parametrize("color", [False, True])
def test_network_table_never_splits_a_number(width, color):
    """The table's rows hold only whole numbers (at 80 columns today: 118,01 / 3,952)."""
    import re

    report = _network()
    out = re.sub(r"\x1b\[[0-9;]*m", "", render(Format.table, report, width=width, color=color))
    whole = _cell_numbers(report)
    body = re.split(r"\n\s*\n", out)[1]  # the layer table: header, rule and rows
    for line in body.splitlines():
        for num in re.findall(r"\d[\d,.]*\d|\d", line.replace("[", " ").replace("]", " ")):
            assert num in whole or num.strip(",") in whole, (num, line)
        assert len(line) <= max(width, 80 if width < 80 else width)
    assert "118,013,952" in body  # the MACs column is the last to go


def test_narrow_table_says_what_it_left_out():
    out = render(Format.table, _network(), width=80)
    assert "left out to fit 80 columns: MACs share, RF" in out.replace("\n", " ")
    assert "118,013,952" in out and "115,605,504" in out


@pytest.mark.parametrize("columns, header", [
    (["macs"], ["Layer", "MACs"]),
    (["params", "share"], ["Layer", "Params", "MACs share"]),
    (["Type", " output ", "rf"], ["Layer", "Type", "Output", "RF"]),
    (["num_params", "mult_adds", "output_size"], ["Layer", "Params", "MACs", "Output"]),  # torchinfo's names
])
def test_columns_choose_the_network_columns(columns, header):
    out = render(Format.markdown, _network(), columns=columns)
    first = next(line for line in out.splitlines() if line.startswith("| Layer"))
    assert [c.strip() for c in first.strip("|").split("|")] == header


def test_unknown_column_lists_every_valid_one():
    with pytest.raises(ConvcalcError, match="unknown column 'flop'; valid columns: type, output, params, macs, flops, activation, rf, share"):
        render(Format.csv, _network(), columns=["flop"])


def test_tree_prefixes_from_depths():
    from convcalc.render.network import tree_prefixes

    depths = [0, 1, 2, 2, 1, 2, 0, 1]
    assert tree_prefixes(depths) == ["", "├─ ", "│  ├─ ", "│  └─ ", "└─ ", "   └─ ", "", "└─ "]


def test_tree_prefixes_match_their_definition():
    """A row is its parent's last child when no row at its depth follows before a shallower
    one: checked row by row on random trees (the glyphs are made in one backward pass)."""
    import random

    from convcalc.render.network import tree_prefixes

    rng = random.Random(14)
    for _ in range(300):
        depths, d = [], 0
        for _ in range(rng.randint(0, 25)):
            d = rng.randint(0, d + 1)
            depths.append(d)
        for i, (d, prefix) in enumerate(zip(depths, tree_prefixes(depths))):
            follows = next((e for e in depths[i + 1:] if e <= d), None)
            if d:
                assert prefix.endswith("├─ " if follows == d else "└─ ")
                assert len(prefix) == 3 * d


@pytest.mark.parametrize("fmt", [Format.table, Format.markdown])
def test_nesting_is_visible_in_text_and_markdown(fmt):
    out = render(fmt, _network(), width=200)
    if fmt is Format.markdown:  # no-break spaces: markdown would strip or collapse spaces
        assert "| │\u00a0\u00a0├─\u00a0body[0] |" in out
        out = out.replace("\u00a0", " ")
    assert "├─ layers[0]" in out
    assert "│  ├─ body[0]" in out
    assert "│  └─ add" in out


def test_nesting_is_visible_in_latex():
    out = render(Format.latex, _network())
    assert r"\hspace*{2.0em}body[0] &" in out and r"\hspace*{1.0em}layers[0] &" in out
    assert "├" not in out and "│" not in out


@pytest.mark.parametrize("fmt", [Format.table, Format.markdown, Format.latex])
def test_network_legend_and_share_percentage(fmt):
    out = render(fmt, _network(), width=200).replace("\n", " ")
    assert "RF: receptive field" in out and "jump:" in out and "MACs share:" in out
    macs = _network().rows[0]["macs"] / _network().total["macs"]
    pct = f"{100 * macs:.1f}"
    assert (pct + (r"\%" if fmt is Format.latex else "%")) in out


def test_repeat_index_is_explained(tmp_path):
    from convcalc.network import evaluate

    path = tmp_path / "rep.yaml"
    path.write_text("name: rep\ninput: 4,8,8\nlayers:\n  - sequential:\n      repeat: 3\n      layers:\n        - conv2d: {out_channels: 4, kernel_size: 3, padding: 1}\n")
    report = evaluate(path)
    assert any("@" in r["path"] for r in report.rows)
    assert "name@n: the n-th copy of an item with repeat" in render(Format.table, report, width=200)


def test_network_csv_brackets_symbolic_shapes():
    report = _network(input_shape="3,H,W")
    out = render(Format.csv, report)
    # a compound entry is bracketed (x(floor((H - 3)/2) + 1)), a lone floor need not be
    assert "xfloor(" in out and not re.search(r"xfloor\(\([^()]*\)/\d+\) [-+]", out)


def test_symbolic_network_wraps_formulas_rather_than_dropping_them():
    out = render(Format.table, _network(input_shape="3,H,W", depth=1), width=80)
    header = out.splitlines()[2].split()
    assert header == ["Layer", "Output", "Params", "MACs"]
    assert "147456*floor((H +" in out  # the coefficient whole, the formula wrapped at spaces
    assert all(len(line) <= 80 for line in out.split("\n\nTotal")[0].splitlines())
