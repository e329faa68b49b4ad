"""convcalc.from_torch (issue 16): a torch.nn module exported with torch's ONNX exporter and imported,
against the shipped network files, with symbols. Runs where torch and torchvision are installed (not
convcalc's own test environment: `pip install "convcalc[torch]" torchvision pytest`, or the peers'
venv of tests/golden/make_peers_golden.py); skipped elsewhere."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
sys.path.insert(0, str(Path(__file__).parent / "golden"))
from make_peers_golden import import_torchvision  # noqa: E402  (torchvision's CUDA wheel beside a CPU torch)

import convcalc  # noqa: E402
from convcalc.errors import ConvcalcError  # noqa: E402
from convcalc.network import Network, evaluate  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
COUNTS = ("params", "mults", "adds", "comparisons", "macs", "flops", "transcendentals")
BUILDERS = {"resnet18": "resnet18", "resnet50": "resnet50", "mobilenetv2": "mobilenet_v2", "densenet121": "densenet121",
            "efficientnet_b0": "efficientnet_b0", "mobilenetv3_small": "mobilenet_v3_small", "shufflenetv2": "shufflenet_v2_x1_0",
            "regnety_400mf": "regnet_y_400mf"}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_torchvision_model_equals_its_network_file_with_symbols(name):
    tv = import_torchvision()
    got = convcalc.from_torch(getattr(tv.models, BUILDERS[name])(), input="3,H,W")
    want = evaluate(EXAMPLES / f"{name}.yaml", input_shape="3,H,W")
    assert [str(v) for v in got.input_shape] == ["3", "H", "W"]
    assert all(got.total[k] == want.total[k] for k in COUNTS)


def test_vit_equals_its_network_file():
    tv = import_torchvision()
    got = convcalc.from_torch(tv.models.vit_b_16(), input="3,224,224")
    want = evaluate(EXAMPLES / "vit_b_16.yaml")
    assert all(got.total[k] == want.total[k] for k in COUNTS)


def test_to_yaml_reads_back():
    from convcalc.importing.torch_module import to_yaml

    tv = import_torchvision()
    text = to_yaml(tv.models.resnet18(), "3,224,224")
    assert Network.from_yaml(text).report().total["macs"] == evaluate(EXAMPLES / "resnet18.yaml").total["macs"]


def test_refusals():
    with pytest.raises(ConvcalcError, match="expected a torch.nn.Module"):
        convcalc.from_torch(object(), input="3,8,8")

    class Odd(torch.nn.Module):
        def forward(self, x):
            return torch.cos(x)

    with pytest.raises(ConvcalcError, match=r"cannot map: .*\(Cos\)"):
        convcalc.from_torch(Odd(), input="3,8,8")
