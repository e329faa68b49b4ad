"""Symbolic networks whose joins (residual adds, concats) hold only for some inputs: the
conditions are reported (checked here by substituting numbers and running the numeric network),
and joins that can never hold are refused, as PyTorch would refuse every input."""

import json
from pathlib import Path

import pytest

from convcalc import ConvcalcError, Network
from convcalc.cli import main
from convcalc.network import evaluate
from convcalc.sizes import substitute

UNET = Path(__file__).parent.parent / "examples" / "unet_small.yaml"


def _rows(report):
    return [(r["path"], tuple(r["output_shape"])) for r in report.rows]


def _substituted(report, values):
    return [(path, tuple(substitute(v, values) for v in shape)) for path, shape in _rows(report)]


def _check_by_substitution(net, symbolic_input, valid, values_range, other):
    """For each value: the numeric network runs iff `valid` (derived by hand), and then gives
    the symbolic rows with the value substituted."""
    sym = net.report(symbolic_input)
    for h in values_range:
        values = {"H": h, "W": other}
        numeric_input = symbolic_input.replace("H", str(h)).replace("W", str(other))
        if valid(h):
            assert _rows(net.report(numeric_input)) == _substituted(sym, values), h
        else:
            with pytest.raises(ConvcalcError, match="concat joins|the add joins"):
                net.report(numeric_input)
    return sym


def test_unet_joins_hold_for_sizes_divisible_by_four():
    net = Network.from_yaml(UNET)
    # two stride-2 pools down and two stride-2 transposed convolutions up: H -> floor(H/2) ->
    # floor(H/4) -> 2*floor(H/4), joined with floor(H/2) (H % 4 in {0, 1}); then 2*floor(H/2)
    # joined with H (H even): together H divisible by 4
    sym = _check_by_substitution(net, "1,H,W", lambda h: h % 4 == 0, range(4, 41), 8)
    assert sym.domain == ("H divisible by 4", "W divisible by 4")
    assert sym.output_shape[1:] == tuple(__import__("sympy").symbols("H W", integer=True, positive=True))
    assert any(n.startswith("valid for H divisible by 4 and W divisible by 4") for n in sym.notes)
    with pytest.raises(ConvcalcError, match=r"unet_small.yaml:15: layers\[2\].concat.branches\[1\]\[3\]: concat joins branches of shapes 16x15x15"):
        net.report("1,30,30")
    assert net.report("1,32,32").domain == ()


ODD = """
input: 4,H,W
layers:
  - concat:
      branches:
        - []
        - [maxpool2d: {kernel_size: 2}, convtranspose2d: {out_channels: 4, kernel_size: 3, stride: 2}]
"""


def test_odd_sizes_only():
    # floor(H/2) -> (floor(H/2) - 1)*2 + 3 = 2*floor(H/2) + 1, equal to H for odd H
    net = Network.from_yaml(ODD)
    sym = _check_by_substitution(net, "4,H,9", lambda h: h % 2 == 1, range(2, 30), 9)
    assert sym.domain == ("H % 2 == 1",)


@pytest.mark.parametrize(
    "text",
    [
        # H + 1 against H
        "input: 4,H,W\nlayers:\n  - residual: {body: [conv2d: {out_channels: 4, kernel_size: 2, padding: 1}]}\n",
        # 2*floor(H/2) + 1 against 2*floor(H/2)
        "input: 4,H,W\nlayers:\n  - maxpool2d: {kernel_size: 2}\n  - concat:\n      branches:\n"
        "        - [maxpool2d: {kernel_size: 2}, convtranspose2d: {out_channels: 4, kernel_size: 2, stride: 2}]\n"
        "        - [maxpool2d: {kernel_size: 2}, convtranspose2d: {out_channels: 4, kernel_size: 3, stride: 2}]\n",
        # even at the concat, odd at the add: together never
        "input: 4,H,W\nlayers:\n  - concat:\n      branches:\n        - []\n"
        "        - [maxpool2d: {kernel_size: 2}, convtranspose2d: {out_channels: 4, kernel_size: 2, stride: 2}]\n"
        "  - residual:\n      body: [maxpool2d: {kernel_size: 2}, convtranspose2d: {out_channels: 8, kernel_size: 3, stride: 2}]\n",
    ],
    ids=["H+1 vs H", "even vs odd", "contradicting joins"],
)
def test_joins_that_never_hold_are_refused(tmp_path, text):
    p = tmp_path / "net.yaml"
    p.write_text(text)
    with pytest.raises(ConvcalcError, match="equal for no input"):
        evaluate(p)
    for h in range(2, 20):  # and indeed no numeric input passes
        with pytest.raises(ConvcalcError, match="joins"):
            evaluate(p, input_shape=f"4,{h},{h}")


def test_a_join_with_a_fixed_size_states_the_equation(tmp_path):
    p = tmp_path / "net.yaml"
    p.write_text("input: 4,H,W\nlayers:\n  - residual: {body: [adaptiveavgpool2d: {output_size: 6}]}\n")
    r = evaluate(p)
    assert r.domain == ("H == 6", "W == 6")
    assert evaluate(p, input_shape="4,6,6").output_shape == (4, 6, 6)
    with pytest.raises(ConvcalcError):
        evaluate(p, input_shape="4,7,6")


def test_cli_shows_the_domain(capsys):
    assert main(["net", str(UNET), "--input", "1,H,W", "-f", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert any("valid for H divisible by 4 and W divisible by 4" in n for n in data["notes"])
    assert main(["net", str(UNET), "--input", "1,H,W"]) == 0
    assert "valid for H divisible by 4" in capsys.readouterr().out


def test_symbolic_parameters_at_a_join(tmp_path):
    p = tmp_path / "net.yaml"
    p.write_text("input: 4,H,W\nlayers:\n  - residual: {body: [conv2d: {out_channels: 4, kernel_size: K, padding: p}]}\n")
    r = evaluate(p)
    assert r.domain == ("2*p + 1 == K",)  # H + 2p - K + 1 == H, written without the terms that cancel
    for k, pad in [(3, 1), (5, 2), (7, 3)]:
        q = tmp_path / "n.yaml"
        q.write_text(p.read_text().replace("K", str(k)).replace("padding: p", f"padding: {pad}").replace("H,W", "9,9"))
        assert evaluate(q).output_shape == (4, 9, 9)
    q.write_text(p.read_text().replace("K", "3").replace("padding: p", "padding: 0").replace("H,W", "9,9"))
    with pytest.raises(ConvcalcError, match="the add joins"):
        evaluate(q)


def test_a_count_a_layer_cannot_give_leaves_the_total_unknown_not_a_crash(tmp_path):
    # a transposed convolution with a symbolic kernel gives no adds (yet): the block and the
    # network total are None, not a TypeError
    p = tmp_path / "net.yaml"
    p.write_text("input: 4,H,W\nlayers:\n  - residual: {body: [maxpool2d: {kernel_size: s}, convtranspose2d: {out_channels: 4, kernel_size: s, stride: s}]}\n")
    r = evaluate(p, by_op=True)
    assert r.domain == ("s*floor(H/s) == H", "s*floor(W/s) == W")
    assert r.total["params"] is not None
