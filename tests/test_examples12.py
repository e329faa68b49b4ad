"""The example networks of issue 12 against PyTorch (tests/golden/network12_golden.json, written by
tests/golden/make_network12_golden.py from the torch.nn models of tests/golden/network12_models.py):
EfficientNet-B0, MobileNetV3-Small, ShuffleNetV2 x1.0, RegNetY-400MF, DenseNet-121, milesial's U-Net
with bilinear upsampling and a ResNet-50 FPN backbone.

Per network and batch: parameters, buffers, the forward (2 x MACs == FlopCounterMode's eval-mode and
train-mode forward), the backward (2 x backward MACs == FlopCounterMode around loss.backward(), x not
requiring grad, after taking off FlopCounterMode's overcount of grouped convolutions' dL/dW: (groups - 1)
x their forward FLOPs, BACKWARD_NOTES.md), the activation bytes autograd saves and the gradients' bytes,
and every layer row against the leaf module PyTorch ran in the same place (type and output shape),
convcalc's block rows and join rows (add, multiply, concat: operations, not modules, in PyTorch) left out.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convcalc.layers.training import Training
from convcalc.network import evaluate

HERE = Path(__file__).parent
EXAMPLES = HERE.parent / "examples"
NETWORKS = json.loads((HERE / "golden" / "network12_golden.json").read_text())["networks"]
#: rows that are operations between modules in PyTorch (joins of branches), not leaf modules
JOINS = {"add", "multiply", "concat", "chunk", "split"}
SHIPPED = {"efficientnet_b0", "mobilenetv3_small", "shufflenetv2", "regnety_400mf", "densenet121", "unet_bilinear",
           "resnet50_fpn"}


def _id(n):
    return f"{n['example']}-b{n['batch']}"


def _report(n):
    return evaluate(EXAMPLES / f"{n['example']}.yaml", input_shape=",".join(map(str, n["input"])), batch=n["batch"],
                    training=Training(input_grad=False))


def _leaf_rows(report):
    return [row for row in report.rows if not row["block"] and row["type"] not in JOINS]


def test_every_example_of_the_issue_has_a_golden():
    assert {n["example"] for n in NETWORKS} == SHIPPED
    assert all((EXAMPLES / f"{name}.yaml").is_file() for name in SHIPPED)
    assert any(n["batch"] > 1 for n in NETWORKS)


@pytest.mark.parametrize(
    "example, params",
    [("efficientnet_b0", 5_288_548), ("mobilenetv3_small", 2_542_856), ("shufflenetv2", 2_278_604),
     ("regnety_400mf", 4_344_144), ("densenet121", 7_978_856), ("unet_bilinear", 17_263_042)],
)
def test_documented_parameter_counts(example, params):
    """torchvision's documented num_params (milesial's U-Net: 17,263,042, its model summary)."""
    assert evaluate(EXAMPLES / f"{example}.yaml").total["params"] == params


@pytest.mark.parametrize("n", NETWORKS, ids=_id)
def test_params_buffers_and_forward_against_pytorch(n):
    r = _report(n)
    assert r.total["params"] == n["params"]
    assert r.total["buffers"] == n["buffers"]
    assert list(r.output_shape) == n["output_shape"]
    assert n["forward_flops"] == n["eval_forward_flops"]
    assert 2 * r.total["macs"] == n["eval_forward_flops"]


@pytest.mark.parametrize("n", NETWORKS, ids=_id)
def test_backward_flops_against_pytorch(n):
    """FlopCounterMode counts a grouped convolution's dL/dW groups times; the golden records each grouped
    convolution (leaf index, groups, forward FLOPs), and the forward FLOPs are convcalc's row too."""
    r = _report(n)
    leaves = _leaf_rows(r)
    for index, groups, flops in n["grouped_convs"]:
        assert leaves[index]["type"] == "conv2d" and 2 * leaves[index]["macs"] == flops
    extra = sum((groups - 1) * flops for _, groups, flops in n["grouped_convs"])
    assert n["backward_flops"] - extra == n["backward_flops_corrected"]
    assert 2 * r.total["backward"]["total"]["macs"] == n["backward_flops_corrected"]


@pytest.mark.parametrize("n", NETWORKS, ids=_id)
def test_saved_and_gradient_bytes_against_pytorch(n):
    t = _report(n).total
    assert t["saved_bytes"] == n["saved_activation_bytes"]
    assert t["grad_bytes"] == n["grad_bytes"]


@pytest.mark.parametrize("n", NETWORKS, ids=_id)
def test_every_row_against_the_leaf_modules(n):
    """Type and output shape of every layer row, in the order the leaf modules ran in PyTorch."""
    rows = [(row["type"], list(row["output_shape"])) for row in _leaf_rows(_report(n))]
    assert rows == [(leaf[0], leaf[2]) for leaf in n["layers"]]


@pytest.mark.parametrize("n", NETWORKS, ids=_id)
def test_every_row_counts_against_the_leaf_modules(n):
    """Per layer row: its parameters (the leaf module's own) and 2 x its MACs == the FLOPs FlopCounterMode
    counted while that leaf module ran (eval mode)."""
    rows = [(row["type"], row["params"], 2 * row["macs"]) for row in _leaf_rows(_report(n))]
    expected = [(leaf[0], params, flops) for leaf, (params, flops) in zip(n["layers"], n["leaf_params_flops"])]
    assert rows == expected


def test_fpn_levels():
    """The five maps of the FPN are the rows named '0', '1', '2', '3' and 'pool'."""
    n = next(n for n in NETWORKS if n["example"] == "resnet50_fpn")
    named = {row["name"]: list(row["output_shape"]) for row in _report(n).rows if row["name"] in n["levels"]}
    assert named == n["levels"]
    assert n["levels"] == {"0": [256, 56, 56], "1": [256, 28, 28], "2": [256, 14, 14], "3": [256, 7, 7], "pool": [256, 4, 4]}


def test_efficientnet_se_blocks_are_anchors():
    """The SE blocks that recur with the same channels are written once (a YAML anchor) and reused."""
    text = "\n".join(ln for ln in (EXAMPLES / "efficientnet_b0.yaml").read_text().splitlines() if not ln.startswith("#"))
    for channels in (144, 240, 480, 672, 1152):
        assert text.count(f"&se{channels}") == 1 and text.count(f"*se{channels}") == 1
