"""PyTorch constructor arguments that change no count are accepted (Python API, command-line
text, network files) and leave every number as it was; those that change shapes (flatten's
start_dim/end_dim, softmax's dim, gelu's approximate) are computed; out-of-range values refused."""

import dataclasses
import math

import pytest

from convcalc import LAYERS, ConvcalcError
from convcalc.network import evaluate

# (layer, input shape, base arguments, argument, Python value, command-line text)
NO_OP = [
    ("relu", (4, 5), {}, "inplace", True, True),
    ("relu6", (4, 5), {}, "inplace", True, True),
    ("leakyrelu", (4, 5), {}, "inplace", True, True),
    ("leakyrelu", (4, 5), {}, "negative_slope", 0.2, "0.2"),
    ("silu", (4, 5), {}, "inplace", True, True),
    ("dropout", (4, 5), {}, "inplace", True, True),
    ("dropout", (4, 5), {}, "p", 0.1, "0.1"),
    ("dropout", (4, 5), {}, "p", 1, "1"),
    ("batchnorm2d", (8, 5, 5), {}, "eps", 1e-3, "1e-3"),
    ("batchnorm2d", (8, 5, 5), {}, "momentum", 0.3, "0.3"),
    ("batchnorm1d", (8, 5), {}, "momentum", None, "none"),
    ("batchnorm3d", (8, 2, 5, 5), {}, "eps", 0.5, ".5"),
    ("rnn", (7, 10), {"hidden_size": 20}, "batch_first", True, True),
    ("gru", (7, 10), {"hidden_size": 20, "num_layers": 2}, "dropout", 0.25, "0.25"),
    ("lstm", (7, 10), {"hidden_size": 20, "num_layers": 3}, "dropout", 0.5, "5e-1"),
    ("lstm", (7, 10), {"hidden_size": 20}, "batch_first", True, True),
    ("maxpool2d", (3, 9, 9), {"kernel_size": 3}, "return_indices", True, True),
    ("maxpool1d", (3, 9), {"kernel_size": 3}, "return_indices", True, True),
    ("adaptivemaxpool2d", (3, 9, 9), {"output_size": 3}, "return_indices", True, True),
    ("avgpool2d", (3, 9, 9), {"kernel_size": 3}, "divisor_override", 2, "2"),
    ("softmax", (4, 5), {}, "dim", -1, "-1"),
    ("softmax", (4, 5), {}, "dim", 2, "2"),
    ("flatten", (4, 5, 6), {}, "start_dim", 1, "1"),
    ("flatten", (4, 5, 6), {}, "end_dim", 3, "3"),
]


def numbers(report):
    return {f.name: getattr(report, f.name) for f in dataclasses.fields(report) if f.name not in ("config", "notes")}


def inferred(name, shape):
    return LAYERS[name].inferred(shape)


@pytest.mark.parametrize("name,shape,base,arg,value,text", NO_OP)
def test_argument_changes_no_count(name, shape, base, arg, value, text, tmp_path):
    cls = LAYERS[name]
    plain = cls(**inferred(name, shape), **base).report(shape)
    with_arg = cls(**inferred(name, shape), **base, **{arg: value})
    assert getattr(with_arg, arg) == value
    assert numbers(with_arg.report(shape)) == numbers(plain)
    # command-line text through the option specs
    from_cli = cls.build(shape, {**{k: str(v) for k, v in base.items()}, arg: text})
    assert getattr(from_cli, arg) == value
    assert numbers(from_cli.report(shape)) == numbers(plain)
    # a network file
    body = ", ".join(f"{k}: {v}" for k, v in {**base, arg: "null" if value is None else value}.items())
    net = tmp_path / "net.yaml"
    net.write_text(f"input: [{', '.join(map(str, shape))}]\nlayers:\n  - {name}: {{{body}}}\n")
    plain_net = tmp_path / "plain.yaml"
    plain_body = ", ".join(f"{k}: {v}" for k, v in base.items())
    plain_net.write_text(f"input: [{', '.join(map(str, shape))}]\nlayers:\n  - {name}: {{{plain_body}}}\n")
    assert evaluate(net).total == evaluate(plain_net).total


BAD = [
    ("dropout", {}, "p", 1.5, "between 0 and 1"),
    ("dropout", {}, "p", -0.1, "between 0 and 1"),
    ("dropout", {}, "p", "nan", "finite"),
    ("dropout", {}, "p", "0.5)", "not a number"),
    ("dropout", {}, "p", "__import__('os')", "not a number"),
    ("dropout", {}, "inplace", "yes", "True or False"),
    ("leakyrelu", {}, "negative_slope", "inf", "finite"),
    ("leakyrelu", {}, "negative_slope", 10**400, "too large"),
    ("batchnorm2d", {"num_features": 8}, "eps", -1.0, "at least 0"),
    ("batchnorm2d", {"num_features": 8}, "momentum", 2, "between 0 and 1"),
    ("batchnorm2d", {"num_features": 8}, "momentum", True, "a number"),
    ("lstm", {"input_size": 10, "hidden_size": 20}, "dropout", 1.5, "between 0 and 1"),
    ("lstm", {"input_size": 10, "hidden_size": 20}, "dropout", True, "a number"),
    ("gru", {"input_size": 10, "hidden_size": 20}, "batch_first", 1, "True or False"),
    ("maxpool2d", {"kernel_size": 3}, "return_indices", "no", "True or False"),
    ("avgpool1d", {"kernel_size": 3}, "divisor_override", 2, "no divisor_override"),
    ("avgpool2d", {"kernel_size": 3}, "divisor_override", 0, "positive"),
    ("gelu", {}, "approximate", "fast", "none, tanh"),
    ("softmax", {}, "dim", 1.0, "integer"),
    ("softmax", {}, "dim", "d", "must be a number"),
    ("flatten", {}, "start_dim", "x", "must be a number"),
]


@pytest.mark.parametrize("name,base,arg,value,match", BAD)
def test_out_of_range_refused(name, base, arg, value, match):
    with pytest.raises(ConvcalcError, match=match) as info:
        LAYERS[name](**base, **{arg: value})
    assert info.value.option == arg


def test_cli_text_float_is_never_evaluated():
    cls = LAYERS["dropout"]
    for text in ("1/2", "0.5+0", "__import__('os').getpid()", "nan", "1e999", ""):
        with pytest.raises(ConvcalcError, match="--p|p"):
            cls.build((4,), {"p": text})


@pytest.mark.parametrize(
    "shape,dim,n",
    [((4, 5, 6), -1, 6), ((4, 5, 6), 3, 6), ((4, 5, 6), 1, 4), ((4, 5, 6), -3, 4), ((4, 5, 6), 2, 5), ((7,), 1, 7),
     ((3, 8, 8), None, 3), ((10, 20), None, 20)],  # None: PyTorch's legacy rule, 4-D -> dim 1, 3-D -> dim 0 (the batch) ... see below
)
def test_softmax_dim_reduces_that_entry(shape, dim, n):
    if dim is None and len(shape) + 1 == 3:
        with pytest.raises(ConvcalcError, match="batch"):
            LAYERS["softmax"](dim=None).report(shape)
        return
    r = LAYERS["softmax"](dim=dim).report(shape)
    numel = math.prod(shape)
    rows = numel // n
    assert (r.transcendentals, r.mults, r.adds) == (numel, numel, rows * (n - 1))
    assert r.output_shape == shape


@pytest.mark.parametrize("shape,dim", [((4, 5, 6), 4), ((4, 5, 6), -5), ((4, 5, 6), 0), ((4, 5, 6), -4), ((7,), 2)])
def test_softmax_dim_out_of_range_or_batch_refused(shape, dim):
    with pytest.raises(ConvcalcError, match="dim"):
        LAYERS["softmax"](dim=dim).report(shape)


@pytest.mark.parametrize(
    "shape,start,end,out",
    [
        ((4, 5, 6), 1, -1, (120,)),
        ((4, 5, 6), 2, -1, (4, 30)),
        ((4, 5, 6), 1, 2, (20, 6)),
        ((4, 5, 6), 2, 2, (4, 5, 6)),
        ((4, 5, 6), -2, -1, (4, 30)),
        ((4, 5, 6), 3, 3, (4, 5, 6)),
        ((4, 5, 6, 7), 2, 3, (4, 30, 7)),
    ],
)
def test_flatten_start_and_end_dim(shape, start, end, out):
    # torch.nn.Flatten(start, end)(torch.zeros(1, *shape)).shape[1:], worked out by hand
    assert LAYERS["flatten"](start, end).report(shape).output_shape == out


@pytest.mark.parametrize("start,end,match", [(0, -1, "batch"), (-4, -1, "batch"), (3, 2, "after"), (1, 4, "range"), (-5, -1, "range")])
def test_flatten_bad_dims_refused(start, end, match):
    with pytest.raises(ConvcalcError, match=match):
        LAYERS["flatten"](start, end).report((4, 5, 6))


def test_gelu_tanh_approximation_counts():
    # 0.5*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x**3))): x*x*x (2), 0.044715*, sqrt(2/pi)*, 0.5*x, *(1 + t): 6 mults,
    # x + ..., 1 + tanh: 2 adds, one tanh
    r = LAYERS["gelu"](approximate="tanh").report((10, 3))
    assert (r.mults, r.adds, r.transcendentals) == (180, 60, 30)
    r = LAYERS["gelu"]("none").report((10, 3))
    assert (r.mults, r.adds, r.transcendentals) == (90, 30, 30)


@pytest.mark.parametrize("name,body,params", [
    ("dropout", 0.1, {"p": 0.1}), ("leakyrelu", 0.2, {"negative_slope": 0.2}), ("softmax", 1, {"dim": 1}),
    ("flatten", 2, {"start_dim": 2}), ("gelu", "tanh", {"approximate": "tanh"}), ("relu", None, {}),
    ("conv2d", {"out_channels": 3}, {"out_channels": 3}),
])
def test_scalar_body_of_a_network_item(name, body, params):
    """network.py's _item turns a layer's body into parameters with params_from_body."""
    assert LAYERS[name].params_from_body(body) == params


@pytest.mark.parametrize("name,body", [("conv2d", 3), ("relu", 1), ("dropout", [0.1])])
def test_scalar_body_refused_where_meaningless(name, body):
    with pytest.raises(ConvcalcError, match="mapping"):
        LAYERS[name].params_from_body(body)


def test_rnn_dropout_note():
    r = LAYERS["lstm"](10, 20, num_layers=2, dropout=0.3).report((5, 10))
    assert any("dropout between layers" in n for n in r.notes)


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown", "latex"])
@pytest.mark.parametrize("args", [
    ["dropout", "--input", "4096", "--p", "0.1", "--inplace"],
    ["batchnorm2d", "--input", "8,4,4", "--eps", "1e-3", "--momentum", "none"],
    ["leakyrelu", "--input", "4,5", "--negative-slope", "0.2"],
    ["lstm", "--input", "5,10", "--hidden-size", "4", "--num-layers", "2", "--dropout", "0.2", "--batch-first"],
    ["softmax", "--input", "4,5", "--dim", "-2"],
    ["flatten", "--input", "4,5,6", "--start-dim", "2", "--end-dim", "3"],
])
def test_float_arguments_print_in_every_format(capsys, args, fmt):
    from convcalc.cli import main

    code = main(args + ["--format", fmt])
    out, err = capsys.readouterr()
    assert code == 0 and err == "" and out


# -- a symbolic kernel size in a transposed convolution ---------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from convcalc.expr import symbol  # noqa: E402
from convcalc.sizes import substitute  # noqa: E402


def brute_transposed(shape, cout, kernel, stride, padding, output_padding, dilation, bias):
    """(adds, connections) of a transposed convolution by placing every product: input i, tap t
    land on o = i*s - p + t*d; an output element with n products landing costs n - 1 adds (+ bias)."""
    import itertools

    cin, spatial = shape[0], shape[1:]
    out = [(n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, k, s, p, op, d in zip(spatial, kernel, stride, padding, output_padding, dilation)]
    landing = {}
    for i in itertools.product(*(range(n) for n in spatial)):
        for t in itertools.product(*(range(k) for k in kernel)):
            o = tuple(a * s - p + b * d for a, b, s, p, d in zip(i, t, stride, padding, dilation))
            if all(0 <= x < n for x, n in zip(o, out)):
                landing[o] = landing.get(o, 0) + 1
    per_channel = sum(n - 1 for n in landing.values()) * cin + (cin - 1) * len(landing)
    outputs = math.prod(out)
    return cout * per_channel + (cout * outputs if bias else 0), cout * cin * sum(landing.values())


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 5), s=st.integers(1, 3), d=st.integers(1, 3), p=st.integers(0, 4), op=st.integers(0, 2),
    bias=st.booleans(), ks=st.lists(st.integers(1, 9), min_size=3, max_size=3),
)
def test_convtranspose_symbolic_kernel_counts_equal_the_numbers(n, s, d, p, op, bias, ks):
    op = op % max(s, d)
    k = symbol("k")
    layer = LAYERS["convtranspose1d"](2, 3, k, stride=s, padding=p, output_padding=op, dilation=d, bias=bias)
    try:
        r = layer.report((2, n))
    except ConvcalcError:
        return  # no kernel size gives a positive output here
    assert r.adds is not None and r.flops is not None and r.connections is not None
    for kv in ks:
        if (n - 1) * s - 2 * p + d * (kv - 1) + op + 1 < 1:
            continue
        adds, connections = brute_transposed((2, n), 3, (kv,), (s,), (p,), (op,), (d,), bias)
        assert substitute(r.adds, {"k": kv}) == adds, kv
        assert substitute(r.connections, {"k": kv}) == connections, kv


def test_convtranspose2d_symbolic_kernel_issue_example():
    # convcalc convtranspose2d --input 16,8,8 --out-channels 8 --kernel-size k: stride 1, padding 0,
    # every product lands inside: 8 x 16 x 64 x k^2 products; outputs 8 x (k + 7)^2, each one bias add
    r = LAYERS["convtranspose2d"](16, 8, "k").report((16, 8, 8))
    for kv in (1, 2, 3, 5):
        adds, _ = brute_transposed((16, 8, 8), 8, (kv, kv), (1, 1), (0, 0), (0, 0), (1, 1), True)
        assert substitute(r.adds, {"k": kv}) == adds == 8 * 16 * 64 * kv**2
        assert substitute(r.flops, {"k": kv}) == 2 * adds


def test_convtranspose2d_symbolic_kernel_with_stride_and_padding():
    r = LAYERS["convtranspose2d"](4, 2, ("k", 3), stride=2, padding=1, output_padding=1).report((4, 5, 6))
    for kv in (1, 2, 3, 4, 7):
        adds, connections = brute_transposed((4, 5, 6), 2, (kv, 3), (2, 2), (1, 1), (1, 1), (1, 1), True)
        assert substitute(r.adds, {"k": kv}) == adds
        assert substitute(r.connections, {"k": kv}) == connections
