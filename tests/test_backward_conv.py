"""The backward of convolutions and linear layers, against brute force.

The brute force walks every product the backward computes, as a framework computes it:
dL/dx of a convolution sends each product w*dL/dy to the (possibly padded) input element its
tap read and sums each element's terms (n terms, n - 1 adds; terms on zero padding are computed
and dropped; an explicitly padded input — 'reflect', 'circular', odd 'same' — keeps them and
adds each padded element's gradient back to its source); dL/dW sums x*dL/dy over the batch and
the output positions, dL/db sums dL/dy.
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings, strategies as st

from convcalc import ConvcalcError, sizes
from convcalc.expr import symbol
from convcalc.layers.registry import get
from convcalc.layers.training import Training

#: the layers whose backward this file counts by brute force (read by test_registry_backward)
BRUTE_FORCE = {"conv1d", "conv2d", "conv3d", "convtranspose1d", "convtranspose2d", "convtranspose3d", "linear"}


def brute_conv(layer, shape, batch):
    out = layer.output_shape(shape)
    n = layer.NDIM
    g = layer.groups
    cin_g, cout_g = layer.in_channels // g, layer.out_channels // g
    pads = layer.pads()
    mode = layer.padding_mode
    if mode != "zeros":
        lengths = [L + lo + hi for L, (lo, hi) in zip(shape[1:], pads)]
        offsets = [0] * n
    else:
        lengths = [L + max(0, hi - lo) for L, (lo, hi) in zip(shape[1:], pads)]
        offsets = [lo for lo, _ in pads]
    terms: dict = {}
    products = 0
    for o in itertools.product(*(range(v) for v in out[1:])):
        for t in itertools.product(*(range(k) for k in layer.kernel_size)):
            # coordinate in the input tensor the backward writes to
            idx = tuple(oi * s + ti * d - off for oi, ti, s, d, off in zip(o, t, layer.stride, layer.dilation, offsets))
            inside = all(0 <= i < L for i, L in zip(idx, lengths))
            for co in range(layer.out_channels):
                for j in range(cin_g):
                    products += 1
                    if inside:
                        ci = (co // cout_g) * cin_g + j
                        terms[(ci,) + idx] = terms.get((ci,) + idx, 0) + 1
    adds = sum(v - 1 for v in terms.values())
    if mode != "zeros":
        adds += layer.in_channels * (sizes.prod(lengths) - sizes.prod(shape[1:]))
    positions = sizes.prod(out[1:])
    weights = layer.out_channels * cin_g * sizes.prod(layer.kernel_size)
    grad_weight_adds = weights * (batch * positions - 1) + (layer.out_channels * (batch * positions - 1) if layer.bias else 0)
    return {"mults": products * batch, "adds": adds * batch}, {"mults": products * batch, "adds": grad_weight_adds}


def conv_cases(count: int = 60):
    rng = random.Random(11)
    for i in range(count):
        n = (1, 2, 2, 3)[i % 4]
        g = rng.choice([1, 1, 2])
        kw = dict(in_channels=g * rng.randint(1, 2), out_channels=g * rng.randint(1, 2), kernel_size=tuple(rng.randint(1, 4) for _ in range(n)),
                  dilation=tuple(rng.randint(1, 2) for _ in range(n)), groups=g, bias=rng.random() < 0.5)
        mode = rng.choice(["zeros", "zeros", "zeros", "reflect", "circular", "same"])
        if mode == "same":
            kw["padding"] = "same"
        else:
            kw["stride"] = tuple(rng.randint(1, 3) for _ in range(n))
            kw["padding"] = tuple(rng.randint(0, 2) for _ in range(n))
            kw["padding_mode"] = mode
        spatial = tuple(rng.randint(3, 8 if n < 3 else 5) for _ in range(n))
        try:  # a configuration PyTorch refuses (reflect padding as large as the input) is no case
            get(f"conv{n}d")(**kw).report((kw["in_channels"],) + spatial)
        except ConvcalcError:
            continue
        yield n, kw, (kw["in_channels"],) + spatial, rng.choice([1, 2, 3])


@pytest.mark.parametrize("n, kw, shape, batch", list(conv_cases()))
def test_conv_backward_matches_brute_force(n, kw, shape, batch):
    layer = get(f"conv{n}d")(**kw)
    report = layer.report(shape, batch=batch, training=Training())
    grad_input, grad_weight = brute_conv(layer, shape, batch)
    bw = report.backward
    assert bw["grad_input"]["mults"] == grad_input["mults"]
    assert bw["grad_input"]["adds"] == grad_input["adds"]
    assert bw["grad_weight"]["mults"] == grad_weight["mults"]
    assert bw["grad_weight"]["adds"] == grad_weight["adds"]
    assert bw["grad_input"]["macs"] + bw["grad_weight"]["macs"] == 2 * report.macs


def brute_transposed(layer, shape, batch):
    """dL/dx of a transposed convolution: each input element reads C_out/g * prod(k) products
    (taps outside the output read zeros); dL/dW sums over the batch and the input positions."""
    cin_g = layer.in_channels // layer.groups
    cout_g = layer.out_channels // layer.groups
    positions = sizes.prod(shape[1:])
    terms = cout_g * sizes.prod(layer.kernel_size)
    products = 0
    adds = 0
    for _ in itertools.product(range(layer.in_channels), *(range(v) for v in shape[1:])):
        products += terms
        adds += terms - 1
    out = layer.output_shape(shape)
    weights = layer.in_channels * cout_g * sizes.prod(layer.kernel_size)
    del cin_g
    bias = layer.out_channels * (batch * sizes.prod(out[1:]) - 1) if layer.bias else 0
    return ({"mults": products * batch, "adds": adds * batch},
            {"mults": products * batch, "adds": weights * (batch * positions - 1) + bias})


@pytest.mark.parametrize("seed", range(18))
def test_transposed_backward_matches_brute_force(seed):
    rng = random.Random(seed)
    g = rng.choice([1, 2])
    n = seed % 3 + 1
    layer = get(f"convtranspose{n}d")(in_channels=2 * g, out_channels=g * rng.randint(1, 2), kernel_size=tuple(rng.randint(1, 3) for _ in range(n)),
                                      stride=tuple(rng.randint(1, 3) for _ in range(n)), padding=tuple(rng.randint(0, 1) for _ in range(n)),
                                      groups=g, bias=seed % 2 == 0)
    shape, batch = (2 * g,) + tuple(rng.randint(2, 4) for _ in range(n)), rng.randint(1, 3)
    report = layer.report(shape, batch=batch, training=Training())
    grad_input, grad_weight = brute_transposed(layer, shape, batch)
    assert {k: report.backward["grad_input"][k] for k in grad_input} == grad_input
    assert {k: report.backward["grad_weight"][k] for k in grad_weight} == grad_weight


@pytest.mark.parametrize("lead, n_in, n_out, bias, batch", [((), 5, 3, True, 1), ((4,), 2, 6, False, 3), ((2, 3), 4, 4, True, 2)])
def test_linear_backward_matches_brute_force(lead, n_in, n_out, bias, batch):
    layer = get("linear")(in_features=n_in, out_features=n_out, bias=bias)
    report = layer.report(lead + (n_in,), batch=batch, training=Training())
    rows = batch * sizes.prod(lead)
    # dL/dx[r, i] = sum_o dL/dy[r, o] W[o, i]; dL/dW[o, i] = sum_r dL/dy[r, o] x[r, i]; dL/db[o] = sum_r dL/dy[r, o]
    gi_terms = [n_out for _ in range(rows * n_in)]
    gw_terms = [rows for _ in range(n_in * n_out)] + ([rows] * n_out if bias else [])
    assert report.backward["grad_input"]["mults"] == sum(gi_terms)
    assert report.backward["grad_input"]["adds"] == sum(t - 1 for t in gi_terms)
    assert report.backward["grad_weight"]["mults"] == rows * n_in * n_out
    assert report.backward["grad_weight"]["adds"] == sum(t - 1 for t in gw_terms)


@pytest.mark.parametrize("values", [{"H": 9, "W": 12}, {"H": 16, "W": 7}, {"H": 31, "W": 31}])
def test_symbolic_backward_substitutes_to_numeric(values):
    """Conv2d's backward over a symbolic input, with sizes put in, equals the numeric one."""
    H, W = symbol("H"), symbol("W")
    layer = get("conv2d")(in_channels=3, out_channels=4, kernel_size=3, stride=2, padding=1)
    general = layer.report((3, H, W), batch=2, training=Training(optimizer="adam"))
    numeric = layer.report((3, values["H"], values["W"]), batch=2, training=Training(optimizer="adam"))
    subs = values
    for part in ("grad_input", "grad_weight"):
        for key, v in numeric.backward[part].items():
            assert sizes.substitute(general.backward[part][key], subs) == v, (part, key)
    for key in ("saved_bytes", "grad_bytes", "optimizer_bytes", "training_peak_bytes", "training_flops"):
        assert sizes.substitute(getattr(general, key), subs) == getattr(numeric, key), key


def _gradient_commands(layer, shape) -> dict:
    """The backward as layers the report prints: gradient -> command."""
    report = layer.report(shape, training=Training(gradients=True))
    return {g: c for g, c, _ in report.gradient_layers}


def _run(command: str) -> dict:
    """A printed `convcalc ...` command run through the CLI; its JSON report."""
    import contextlib
    import io
    import json
    import shlex

    from convcalc.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(shlex.split(command)[1:] + ["-f", "json"]) == 0
    return json.loads(buf.getvalue())


@pytest.mark.parametrize("n, kw, shape", [
    (1, dict(in_channels=7, out_channels=1, kernel_size=3, stride=2, bias=False), (7, 11)),
    (2, dict(in_channels=3, out_channels=4, kernel_size=(3, 2), stride=(2, 3), padding=(1, 0), dilation=(1, 2)), (3, 9, 10)),
    (2, dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, groups=2), (4, 8, 7)),
    (1, dict(in_channels=2, out_channels=3, kernel_size=4, stride=3, padding=2), (2, 13)),
])
def test_backward_as_layers_give_the_gradient_shapes(n, kw, shape):
    """The commands printed for dL/dx and dL/dW, run through convcalc, give dL/dx's shape and
    (their first kernel_size outputs) dL/dW's."""
    layer = get(f"conv{n}d")(**kw)
    commands = _gradient_commands(layer, shape)
    grad_x = _run(commands["input"])
    assert tuple(grad_x["output_shape"]) == shape
    grad_w = _run(commands["weight"])
    assert grad_w["output_shape"][0] == kw["out_channels"]
    assert all(got >= k for got, k in zip(grad_w["output_shape"][1:], layer.kernel_size))



@settings(max_examples=25, deadline=None)
@given(k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2), d=st.integers(1, 2), h=st.integers(8, 20),
       w=st.integers(8, 20), batch=st.integers(1, 3))
def test_symbolic_input_backward_equals_numeric_property(k, s, p, d, h, w, batch):
    """Any window: the backward over (3, H, W) with H, W put in equals the numeric backward."""
    layer = get("conv2d")(in_channels=3, out_channels=2, kernel_size=k, stride=s, padding=p, dilation=d)
    H, W = symbol("H"), symbol("W")
    training = Training(optimizer="momentum")
    try:
        numeric = layer.report((3, h, w), batch=batch, training=training)
    except Exception:  # noqa: BLE001 - the kernel does not fit this input
        return
    general = layer.report((3, H, W), batch=batch, training=training)
    for part in ("grad_input", "grad_weight"):
        for key, v in numeric.backward[part].items():
            assert sizes.substitute(general.backward[part][key], {"H": h, "W": w}) == v, (part, key)
    assert sizes.substitute(general.training_peak_bytes, {"H": h, "W": w}) == numeric.training_peak_bytes


@pytest.mark.parametrize("n, kw, shape", [
    (1, dict(in_channels=16, out_channels=8, kernel_size=4, stride=2, padding=1), (16, 50)),
    (2, dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2)), (4, 5, 6)),
    (2, dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, groups=2, dilation=2), (4, 5, 4)),
])
def test_transposed_backward_as_layers_give_the_gradient_shapes(n, kw, shape):
    """The commands printed for a transposed convolution's dL/dx (a convolution of dL/dy) and
    dL/dW, run through convcalc, give dL/dx's shape (its first input-size positions) and, in
    their first kernel_size outputs, dL/dW's."""
    layer = get(f"convtranspose{n}d")(**kw)
    commands = _gradient_commands(layer, shape)
    grad_x = _run(commands["input"])
    assert grad_x["output_shape"][0] == shape[0]
    assert all(got >= want for got, want in zip(grad_x["output_shape"][1:], shape[1:]))
    if all(op < s for op, s in zip(layer.output_padding, layer.stride)):
        assert tuple(grad_x["output_shape"]) == shape
    grad_w = _run(commands["weight"])
    assert grad_w["output_shape"][0] == kw["in_channels"]
    assert all(got >= k for got, k in zip(grad_w["output_shape"][1:], layer.kernel_size))


@pytest.mark.parametrize("lead, n_in, n_out, batch", [((), 5, 3, 1), ((4,), 6, 5, 3)])
def test_linear_backward_as_layers_give_the_gradient_shapes(lead, n_in, n_out, batch):
    """dL/dx = dL/dy W is a linear layer of dL/dy giving x's shape; dL/dW = dL/dy^T x is one of
    dL/dy^T (out x the batch's rows) giving W's shape (out x in)."""
    layer = get("linear")(in_features=n_in, out_features=n_out)
    report = layer.report(lead + (n_in,), batch=batch, training=Training(gradients=True))
    commands = {g: c for g, c, _ in report.gradient_layers}
    assert tuple(_run(commands["input"])["output_shape"]) == lead + (n_in,)
    assert tuple(_run(commands["weight"])["output_shape"]) == (n_out, n_in)
