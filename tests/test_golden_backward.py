"""The backward pass against PyTorch (tests/golden/make_backward_golden.py): FlopCounterMode
around `loss.backward()` and the tensors autograd saves (saved_tensors_hooks, by storage), with
and without the input requiring grad, for every convolution and linear golden case.

FlopCounterMode counts a grouped convolution's weight gradient as if it were not grouped: its
formula for dL/dW (torch/utils/flop_counter.py, conv_backward_flop) takes all C_in channels of x
against every output channel, g times the products of the g per-group convolutions the backward
computes. convcalc counts the products computed; the test states PyTorch's formula exactly
(ours + (g - 1) x dL/dW's), so that with groups = 1 the totals are equal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convcalc import LAYERS
from convcalc.layers.training import Training

GOLDEN = Path(__file__).parent / "golden" / "torch_backward_golden.json"
DATA = json.loads(GOLDEN.read_text())
FAMILIES = ("conv1d", "conv2d", "conv3d", "convtranspose1d", "convtranspose2d", "convtranspose3d", "linear")
RUNS = [(c, run) for c in DATA["cases"] if c["layer"] in FAMILIES for run in c["runs"]]


def _id(item):
    case, run = item
    return f"{case['layer']}-{case['case']}-{'dx' if run['input_grad'] else 'nodx'}"


def _report(case, run):
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in case["kwargs"].items()}
    layer = LAYERS[case["layer"]](**kwargs)
    return layer.report(tuple(case["input"]), batch=case["batch"], training=Training(input_grad=run["input_grad"]))


def test_golden_backward_covers_every_family_both_ways():
    for family in FAMILIES:
        runs = [run["input_grad"] for case, run in RUNS if case["layer"] == family]
        assert len(runs) >= 20 and set(runs) == {True, False}, family


@pytest.mark.parametrize("item", RUNS, ids=[_id(x) for x in RUNS])
def test_backward_macs_and_saved_bytes_match_pytorch(item):
    case, run = item
    r = _report(case, run)
    groups = case["kwargs"].get("groups", 1)
    gi, gw = r.backward["grad_input"]["macs"], r.backward["grad_weight"]["macs"]
    assert 2 * r.macs == run["forward_flops"]
    if groups == 1:
        assert 2 * r.backward["total"]["macs"] == run["backward_flops"]
    assert 2 * (gi + groups * gw) == run["backward_flops"]
    assert (gi == 0) == (not run["input_grad"])
    assert r.saved_bytes == run["saved_activation_bytes"]


@pytest.mark.parametrize("item", RUNS[::7], ids=[_id(x) for x in RUNS[::7]])
def test_gradient_shapes_match_pytorch(item):
    case, run = item
    r = _report(case, run)
    for name, shape in run["grad_shapes"].items():
        if name == "input":
            assert (shape is None) == ("input" not in r.gradients)
            if shape is not None:
                assert [case["batch"], *r.gradients["input"]] == shape
        else:
            assert list(r.gradients[name]) == shape, name


WAVENET = [(c, run) for c in DATA["cases"] if c["layer"] == "wavenet" for run in c["runs"]]


@pytest.mark.parametrize("item", WAVENET, ids=[_id(x) for x in WAVENET])
def test_wavenet_gradient_memory_is_the_gradients_pytorch_allocates(item):
    """PyTorch gives the last residual convolution (its output unused) no .grad: gradient memory
    (and the optimizer's state and work) covers the parameters a gradient reaches."""
    case, run = item
    r = _report(case, run)
    reached = sum(_numel(shape) for name, shape in run["grad_shapes"].items() if name != "input" and shape is not None)
    assert r.grad_bytes == 4 * reached
    assert r.training_counts["optimizer"]["mults"] == reached  # sgd: one mult per updated parameter


def _numel(shape):
    n = 1
    for v in shape:
        n *= v
    return n


FROZEN = json.loads((Path(__file__).parent / "golden" / "frozen_backward_golden.json").read_text())["cases"]


@pytest.mark.parametrize("case", FROZEN, ids=[f"{c['layer']}-{i}" for i, c in enumerate(FROZEN)])
def test_frozen_layer_with_input_grad_matches_pytorch(case):
    """A frozen layer (no dL/dW) inside a network still computes dL/dx through itself
    (make_frozen_backward_golden.py): the backward's products and the saved tensors as PyTorch's."""
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in case["kwargs"].items()}
    layer = LAYERS[case["layer"]](**kwargs)
    r = layer.report(tuple(case["input"]), batch=case["batch"], training=Training(frozen=True, input_grad=True))
    assert 2 * r.backward["total"]["macs"] == case["backward_flops"]
    assert r.backward["grad_weight"]["macs"] == 0 and r.grad_bytes == case["grad_bytes"] == 0
    assert r.saved_bytes == case["saved_activation_bytes"]
    # with neither gradient wanted, PyTorch saves nothing and runs no backward
    idle = layer.report(tuple(case["input"]), batch=case["batch"], training=Training(frozen=True, input_grad=False))
    assert idle.saved_bytes == 0 and idle.backward["total"]["flops"] == 0
