"""The network API: convcalc.Network.from_yaml(text or path).report(...), the same code as
evaluate(); every bad value is a ConvcalcError; importing convcalc stays cheap."""

import inspect
import json
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convcalc
from convcalc import ConvcalcError, Network
from convcalc.network import NetworkReport, evaluate

EXAMPLES = Path(__file__).parent.parent / "examples"
TEXT = "name: tiny\ninput: 3,32,32\nlayers:\n  - conv2d: {out_channels: 8, kernel_size: 3, stride: 2}\n  - relu\n"


def test_from_text_path_and_str_path_agree(tmp_path):
    p = tmp_path / "tiny.yaml"
    p.write_text(TEXT)
    a = Network.from_yaml(TEXT).report()
    b = Network.from_yaml(p).report()
    c = Network.from_yaml(str(p)).report()
    d = evaluate(p)
    assert a.output_shape == b.output_shape == c.output_shape == d.output_shape == (8, 15, 15)
    assert a.rows == b.rows == c.rows == d.rows
    assert a.network == "tiny" and isinstance(a, NetworkReport)
    assert Network.from_yaml("layers: [relu]").report("3,4,4").output_shape == (3, 4, 4)  # one line of text


def test_report_arguments():
    net = Network.from_yaml(EXAMPLES / "resnet18.yaml")
    r = net.report("3,H,W", batch="B", dtype="float16", depth=1, by_op=True)
    assert str(r.output_shape[0]) == "1000" and r.batch.free_symbols and r.dtype == "float16"
    assert max(row["depth"] for row in r.rows) == 1 and "conv2d" in r.by_op
    numeric = net.report((3, 224, 224), batch=2)
    assert numeric.total["macs"] == 2 * evaluate(EXAMPLES / "resnet18.yaml").total["macs"]
    assert net.name == "ResNet-18 (torchvision)" and net.input is not None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input": "3,H"}, "conv2d"),
        ({"input": (3, 224.5, 224)}, "input: 224.5 is not a size"),
        ({"input": True}, "input"),
        ({"input": {"c": 3}}, "input"),
        ({"input": "3,0,224"}, "input"),
        ({"input": "3;224;224"}, "input"),
        ({"input": (3, 10**1000, 224)}, "input: a size exceeds"),
        ({"batch": 0}, "batch"),
        ({"batch": True}, "batch"),
        ({"batch": 1.5}, "batch"),
        ({"batch": "B +"}, "batch"),
        ({"dtype": "float99"}, "dtype"),
        ({"dtype": None}, "dtype"),
        ({"depth": -1}, "depth"),
        ({"depth": True}, "depth"),
        ({"depth": "1"}, "depth"),
    ],
)
def test_bad_report_arguments_are_convcalc_errors(kwargs, message):
    net = Network.from_yaml(EXAMPLES / "resnet18.yaml")
    with pytest.raises(ConvcalcError, match=message):
        net.report(**kwargs)


@pytest.mark.parametrize(
    "source, message",
    [
        (b"layers: [relu]\n", "not bytes"),
        (None, "expected YAML text or a path"),
        (42, "expected YAML text or a path"),
        ("no/such/file.yaml", "cannot read: No such file"),
        ("name: only", "no 'layers' list"),
        ("layers: [relu", "not valid YAML"),
        ("", "cannot read|empty"),
    ],
)
def test_bad_sources_are_convcalc_errors(source, message):
    with pytest.raises(ConvcalcError, match=message):
        Network.from_yaml(source)


def test_repr_markdown():
    md = Network.from_yaml(TEXT).report()._repr_markdown_()
    assert "tiny" in md and "| conv2d" in md.replace("|conv2d", "| conv2d") and md.count("\n") > 5


def test_exported_lazily():
    assert "Network" in convcalc.__all__ and convcalc.Network is Network
    code = "import sys, convcalc; print('yaml' in sys.modules, 'convcalc.network' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_type_hints_and_docstrings():
    for fn in (Network.from_yaml, Network.report, evaluate):
        hints = typing.get_type_hints(fn)
        assert hints and all(h is not typing.Any for k, h in hints.items() if k != "batch"), fn
    for name in inspect.signature(Network.report).parameters:
        if name != "self":
            assert f"{name}:" in Network.report.__doc__
    assert "source:" in Network.from_yaml.__doc__ and "Raises" in Network.from_yaml.__doc__


VALUES = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6), st.integers(min_value=10**90, max_value=10**200),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.text(alphabet="HWk+-*/()_0123456789 .,x", max_size=12),
    st.lists(st.one_of(st.integers(-5, 40), st.text(alphabet="Hk12", max_size=3)), max_size=4),
)
LAYERS = ["conv2d", "maxpool2d", "convtranspose2d", "linear", "batchnorm2d", "dropout", "flatten", "lstm", "avgpool2d", "relu"]
NAMES = ["out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias", "output_padding",
         "out_features", "hidden_size", "num_layers", "ceil_mode", "p", "start_dim", "output_size"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer=st.sampled_from(LAYERS), params=st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=4),
       shape=st.sampled_from(["3,16,16", "3,H,W", "16", "5,8"]))
def test_any_parameter_values_give_a_report_or_a_convcalc_error(layer, params, shape):
    text = json.dumps({"input": shape, "layers": [{layer: params}]}, allow_nan=True)
    try:
        Network.from_yaml(text.replace("NaN", ".nan").replace("-Infinity", "-.inf").replace("Infinity", ".inf")).report()
    except ConvcalcError as e:
        assert "\n" not in str(e)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="[]{}:,-&*<!? \n\tabcrelu0123456789'\"#|>%@`", max_size=80))
def test_any_text_gives_a_report_or_a_convcalc_error(text):
    try:
        Network.from_yaml("layers:\n" + text).report("3,8,8")
    except ConvcalcError as e:
        assert "\n" not in str(e)


def test_docstring_examples():
    import doctest

    import convcalc.network

    assert doctest.testmod(convcalc.network).failed == 0
    assert doctest.testmod(convcalc).failed == 0
