"""Inverse solving, checked against brute force: every size in a solved interval maps to the
target and the sizes just outside do not; every solved parameter value reproduces the target and
no other value up to a bound does."""

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convcalc import ConvcalcError
from convcalc.cli import main
from convcalc.expr import parse_shape, symbol
from convcalc.layers.conv import Conv1d, Conv2d, ConvTranspose1d
from convcalc.layers.pool import AdaptiveAvgPool1d, AvgPool1d, MaxPool1d
from convcalc.solve import solve_input, solve_params


def out_len(layer, L):
    """The layer's output length for input L, or None where PyTorch refuses the input."""
    shape = (layer.in_channels if hasattr(layer, "in_channels") else 2, L)
    try:
        return layer.report(shape).output_shape[1]
    except ConvcalcError:
        return None


def brute_inputs(layer, target, limit):
    return [L for L in range(1, limit) if out_len(layer, L) == target]


layers_1d = st.one_of(
    st.builds(lambda k, s, p, d: Conv1d(2, 3, k, stride=s, padding=p, dilation=d),
              st.integers(1, 6), st.integers(1, 4), st.integers(0, 3), st.integers(1, 3)),
    st.builds(lambda k, s, d, ceil, data: MaxPool1d(k, stride=s, padding=data % (k // 2 + 1), dilation=d, ceil_mode=ceil),
              st.integers(1, 6), st.integers(1, 4), st.integers(1, 3), st.booleans(), st.integers(0, 10)),
    st.builds(lambda k, s, ceil, data: AvgPool1d(k, stride=s, padding=data % (k // 2 + 1), ceil_mode=ceil),
              st.integers(1, 6), st.integers(1, 4), st.booleans(), st.integers(0, 10)),
    st.builds(lambda k, s, p, d, op: ConvTranspose1d(2, 3, k, stride=s, padding=p, dilation=d, output_padding=op % max(s, d)),
              st.integers(1, 5), st.integers(1, 4), st.integers(0, 3), st.integers(1, 3), st.integers(0, 3)),
)


@settings(max_examples=300, deadline=None)
@given(layer=layers_1d, target=st.integers(1, 30))
def test_input_interval_is_exact(layer, target):
    channels = layer.in_channels if hasattr(layer, "in_channels") else 2
    out_channels = layer.out_channels if hasattr(layer, "out_channels") else 2
    report = solve_input(layer, (out_channels, target), channels)
    expected = brute_inputs(layer, target, 200)
    rng = report.input_ranges[0]
    if not expected:
        assert rng is None
        return
    assert rng is not None
    lo, hi = rng
    assert expected == list(range(lo, hi + 1))


def test_adaptive_pool_takes_every_size():
    r = solve_input(AdaptiveAvgPool1d(7), (4, 7), 4)
    assert r.input_ranges == ((1, None),)
    assert solve_input(AdaptiveAvgPool1d(7), (4, 6), 4).input_ranges == (None,)


@pytest.mark.parametrize(
    "layer, target, channels, expected",
    [
        (Conv1d(7, 1, 9, stride=3, padding=1), (1, 16), 7, ((52, 54),)),
        (Conv1d(7, 1, 9, stride=3, padding=1), (1, 10**18), 7, ((3 * 10**18 + 4, 3 * 10**18 + 6),)),
    ],
)
def test_worked_inputs(layer, target, channels, expected):
    assert solve_input(layer, target, channels).input_ranges == expected


def test_symbolic_target():
    n = symbol("n")
    r = solve_input(Conv2d(3, 64, 3, stride=2, padding=1), parse_shape("64,n,n"), 3)
    assert r.input_ranges == ((2 * n - 1, 2 * n), (2 * n - 1, 2 * n))
    for value in range(1, 30):
        lo, hi = (int(e.subs(n, value)) for e in r.input_ranges[0])
        assert brute_inputs(Conv1d(3, 64, 3, stride=2, padding=1), value, 100) == list(range(lo, hi + 1))


PARAMS = {
    "padding": lambda s, k, d, v: Conv1d(2, 2, k, stride=s, padding=v, dilation=d),
    "kernel_size": lambda s, p, d, v: Conv1d(2, 2, v, stride=s, padding=p, dilation=d),
    "stride": lambda k, p, d, v: Conv1d(2, 2, k, stride=v, padding=p, dilation=d),
    "dilation": lambda s, k, p, v: Conv1d(2, 2, k, stride=s, padding=p, dilation=v),
}


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(sorted(PARAMS)), a=st.integers(1, 3), b=st.integers(1, 4), c=st.integers(1, 2),
       L=st.integers(1, 40), target=st.integers(1, 40))
def test_parameter_values_are_exact(name, a, b, c, L, target):
    make = PARAMS[name]
    base = make(a, b, c, 1 if name != "padding" else 0)
    report = solve_params(base, (2, L), (2, target), (name,))
    found = report.values[name][0]
    start = 0 if name == "padding" else 1
    bound = 300
    brute = [v for v in range(start, bound) if out_len(make(a, b, c, v), L) == target]
    if found is None:
        assert brute == []
    else:
        hi = found["max"] if found["max"] is not None else bound - 1
        assert brute == list(range(found["min"], min(hi, bound - 1) + 1))


def test_padding_for_resnet_stem():
    r = solve_params(Conv2d(3, 64, 7, stride=2), (3, 224, 224), (64, 112, 112), ("padding",))
    assert r.values["padding"] == [{"min": 3, "max": 3}, {"min": 3, "max": 3}]


def test_no_solution_gives_nearest_outputs():
    r = solve_params(Conv1d(1, 1, 3, stride=1), (1, 10), (1, 40), ("padding",))
    assert r.values["padding"] == [{"min": 16, "max": 16}]  # 10 + 2p - 2 = 40
    r = solve_params(Conv1d(1, 1, 3, stride=2), (1, 10), (1, 8), ("stride",))
    assert r.values["stride"] == [{"min": 1, "max": 1}]
    r = solve_params(Conv1d(1, 1, 3, stride=2), (1, 10), (1, 9), ("stride",))  # stride 1 gives 8 at most
    assert r.values["stride"] == [None] and r.nearest == ((1, 8, None),)
    r = solve_params(Conv1d(1, 1, 4, stride=2), (1, 10), (1, 50), ("stride",))
    assert r.values["stride"] == [None] and r.nearest == ((1, 7, None),)


def test_two_unknowns():
    r = solve_params(ConvTranspose1d(64, 32, 4), (64, 16), (32, 32), ("stride", "padding"))
    pairs = r.values["stride,padding"][0]["pairs"]
    assert pairs[0] == {"stride": 2, "padding": {"min": 1, "max": 1}}
    for pair in pairs:  # (16 - 1) * s - 2p + 3 + 1 = 32
        assert 15 * pair["stride"] - 2 * pair["padding"]["min"] + 4 == 32


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_worked_example(capsys):
    code, out, _ = run(capsys, "solve", "conv1d", "--target", "1,16", "--in-channels", "7", "--kernel-size", "9", "--stride", "3", "--padding", "1", "-f", "json")
    data = json.loads(out)
    assert code == 0 and data["input_ranges"] == [[52, 54]] and data["unknown"] == ["input"]
    code, out, _ = run(capsys, "solve", "conv2d", "--input", "3,224,224", "--target", "64,112,112", "--kernel-size", "7", "--stride", "2", "--for", "padding", "-f", "json")
    assert json.loads(out)["values"] == {"padding": [{"min": 3, "max": 3}, {"min": 3, "max": 3}]}
    code, out, _ = run(capsys, "solve", "conv2d", "--target", "64,n,n", "--in-channels", "3", "--kernel-size", "3", "--stride", "2", "--padding", "1")
    assert "2*n - 1 <= H, W <= 2*n" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["solve", "conv2d", "--target", "32,112,112", "--in-channels", "3", "--out-channels", "64", "--kernel-size", "7"], "--target: has 32 channels but the layer gives 64"),
        (["solve", "conv2d", "--input", "3,224,224", "--target", "64,112,112", "--kernel-size", "7", "--for", "groups"], "--for: 'groups' is not a parameter"),
        (["solve", "lstm", "--target", "5,8"], "lstm has no inverse"),
        (["solve", "conv2d", "--target", "64,112", "--in-channels", "3", "--kernel-size", "7"], "--target: has 2 entries"),
        (["solve", "conv2d", "--target", "64,112,112", "--kernel-size", "7"], "--in-channels: give --in-channels or --input"),
        (["solve", "conv2d", "--target", "64,112,112", "--in-channels", "3", "--kernel-size", "7", "--for", "padding"], "--input: solving for a parameter needs the input shape"),
    ],
)
def test_solve_bad_input(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert message in err


def test_huge_target_is_fast():
    code = ("import time; from convcalc.solve import solve_input; from convcalc.layers.conv import Conv1d; "
            "t = time.perf_counter(); r = solve_input(Conv1d(7, 1, 9, stride=3, padding=1), (1, 10**18), 7); "
            "print(r.input_ranges, time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.startswith("((3000000000000000004, 3000000000000000006),)")


def test_domain_of_symbolic_arguments():
    k, p = symbol("k"), symbol("p")
    r = solve_input(MaxPool1d(k, stride=2, padding=p), (3, 10), 3)
    assert "2*p <= k" in r.domain
    lo, hi = r.input_ranges[0]
    for kv, pv in ((3, 1), (4, 2), (5, 2), (2, 0)):
        a, b = (int(e.subs({k: kv, p: pv})) if not isinstance(e, int) else e for e in (lo, hi))
        assert brute_inputs(MaxPool1d(kv, stride=2, padding=pv), 10, 200) == list(range(max(a, 1), b + 1))
