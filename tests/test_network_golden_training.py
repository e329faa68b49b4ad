"""The training step of the shipped networks against PyTorch (tests/golden/make_backward_golden.py,
BACKWARD_NOTES.md): forward and backward FLOPs from FlopCounterMode around the train-mode forward
and ``loss.backward()`` (loss = y.sum(), the input not requiring grad), the activation bytes
autograd saves (saved_tensors_hooks, by storage, parameters and buffers left out), in total and
per leaf module, and the gradients' bytes.

FlopCounterMode counts a grouped convolution's dL/dW as if it were not grouped (groups times the
products computed; BACKWARD_NOTES.md); the test adds (groups - 1) x each grouped convolution's
forward FLOPs to convcalc's exact count to reach its total, which only MobileNetV2 (depthwise
convolutions) needs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convcalc import sizes
from convcalc.layers.training import Training
from convcalc.network import evaluate, read
from convcalc.network.solving import _trace

HERE = Path(__file__).parent
EXAMPLES = HERE.parent / "examples"
DATA = json.loads((HERE / "golden" / "torch_backward_golden.json").read_text())
NETWORKS = DATA["networks"]


def _id(n):
    return f"{n['example']}-b{n['batch']}"


def _layers(trace):
    """The layers of a trace in the order they ran (residual: body, then shortcut)."""
    for node in trace:
        if node[0] == "layer":
            yield node[1], node[2]
        elif node[0] == "residual":
            yield from _layers(node[1])
            yield from _layers(node[2])
        else:
            for branch in node[1]:
                yield from _layers(branch)


def _report(n):
    shape = ",".join(map(str, n["input"]))
    return evaluate(EXAMPLES / f"{n['example']}.yaml", input_shape=shape, batch=n["batch"], training=Training(input_grad=n["input_grad"]))


def test_every_shipped_golden_network_is_checked():
    assert {n["example"] for n in NETWORKS} >= {"alexnet", "vgg16", "resnet18", "resnet50", "mobilenetv2"}
    assert {n["batch"] for n in NETWORKS if n["example"] == "resnet50"} >= {1, 32}


@pytest.mark.parametrize("n", NETWORKS, ids=_id)
def test_network_forward_backward_saved_against_pytorch(n):
    r = _report(n)
    t = r.total
    assert 2 * t["macs"] == n["forward_flops"]
    assert t["saved_bytes"] == n["saved_activation_bytes"]
    assert t["grad_bytes"] == n["grad_bytes"]
    assert t["params"] == n["params"]
    # FlopCounterMode's grouped dL/dW: (groups - 1) x the forward of each grouped convolution more
    macs = {row["path"]: row["macs"] for row in r.rows if not row["block"]}
    extra = sum((layer.groups - 1) * 2 * macs[path] for layer, path in _layers(_trace(read(EXAMPLES / f"{n['example']}.yaml"),
                                                                                          tuple(n["input"])))
                if hasattr(layer, "groups") and layer.groups > 1)
    if n["example"] != "mobilenetv2":
        assert extra == 0
    assert 2 * t["backward"]["total"]["macs"] + extra == n["backward_flops"]


@pytest.mark.parametrize("n", NETWORKS, ids=_id)
def test_saved_bytes_per_leaf_module(n):
    """Each leaf's activation bytes that no earlier leaf saved (a storage counted on the first
    leaf that saves it), in the order the modules ran: convcalc's rows without the residual adds
    (which save nothing, and are no module in PyTorch)."""
    rows = [row for row in _report(n).rows if not row["block"] and row["type"] != "add"]
    leaves = n["layers"]
    assert [row["type"] for row in rows] == [leaf[0] for leaf in leaves]
    first = [0] * len(leaves)
    for i, leaf in enumerate(leaves):
        for nbytes, _dtype, kind, owner in leaf[3]:
            if kind not in ("param", "buffer") and owner == i:
                first[i] += nbytes
    assert [row["saved_bytes"] for row in rows] == first
    assert n["unattributed_bytes"] == 0


def test_symbolic_resnet18_substituted_equals_pytorch():
    """ResNet-18 on a 3xHxW input at batch B: the expressions at H = W = 224, B = 1 give
    PyTorch's backward FLOPs and saved bytes."""
    n = next(n for n in NETWORKS if n["example"] == "resnet18" and n["batch"] == 1)
    t = evaluate(EXAMPLES / "resnet18.yaml", input_shape="3,H,W", batch="B", training=Training(input_grad=False)).total
    at = {"H": 224, "W": 224, "B": 1}
    assert 2 * sizes.substitute(t["backward"]["total"]["macs"], at) == n["backward_flops"]
    assert sizes.substitute(t["saved_bytes"], at) == n["saved_activation_bytes"]
    assert sizes.substitute(t["grad_bytes"], at) == n["grad_bytes"]
