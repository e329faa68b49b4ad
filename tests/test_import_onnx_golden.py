"""ONNX files exported from the torch.nn models the examples describe (tests/golden/onnx/, written by
tests/golden/make_onnx_golden.py with torch's exporter, weights stripped, dynamic axes kept) against
the shipped network files row by row (every layer that counts, in order, its type, shape and counts) and in
total, numerically
and with the dynamic axes as symbols; the refusal fixtures refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnx")

from convcalc.algebra import value  # noqa: E402
from convcalc.network import evaluate  # noqa: E402
from convcalc.network.source import NetworkError  # noqa: E402

HERE = Path(__file__).parent
ONNX = HERE / "golden" / "onnx"
EXAMPLES = HERE.parent / "examples"
MANIFEST = json.loads((ONNX / "manifest.json").read_text())
COUNTS = ("params", "mults", "adds", "comparisons", "macs", "flops", "transcendentals")
CNNS = ["resnet18", "resnet50", "vgg16", "alexnet", "mobilenetv2", "densenet121", "efficientnet_b0", "mobilenetv3_small",
        "shufflenetv2", "regnety_400mf"]
#: the transformers: file -> (example, the input to compare at: their dynamic axes kept where the export has them)
TRANSFORMERS = {"vit_b_16": ("vit_b_16", "3,224,224"), "gpt2_small_nofold": ("gpt2_small", None), "bert_base": ("bert_base", "16")}


#: torch's exporter writes an nn.AdaptiveAvgPool2d whose output is not 1 as an AveragePool of the traced
#: size (VGG's and AlexNet's 7x7 and 6x6 pools, at 224 a window of 1): the same counts, another type
SAME_TYPE = {"avgpool2d": "adaptiveavgpool2d"}


def _rows(report):
    """Every layer that counts something, in order: its type, output shape and counts (a dropout, a
    flatten, an identity count nothing, and ONNX drops some of them)."""
    return [(SAME_TYPE.get(r["type"], r["type"]), tuple(r["output_shape"])) + tuple(r[k] for k in COUNTS)
            for r in report.rows if not r["block"] and any(r[k] != 0 for k in COUNTS)]


@pytest.mark.parametrize("name", CNNS)
def test_cnn_equals_its_network_file(name):
    entry = MANIFEST["files"][f"{name}.onnx"]
    assert entry["example"] == f"examples/{name}.yaml"
    got = evaluate(ONNX / f"{name}.onnx", input_shape="3,224,224")
    want = evaluate(EXAMPLES / f"{name}.yaml", input_shape="3,224,224")
    assert {k: got.total[k] for k in COUNTS} == {k: want.total[k] for k in COUNTS}
    assert _rows(got) == _rows(want)
    assert got.total["params"] == entry["torch"]["parameters"]
    assert got.output_shape == want.output_shape


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv2", "shufflenetv2"])
def test_dynamic_axes_are_symbols_and_substitute(name):
    """The export's dynamic height and width are symbols: the totals are formulas, equal to the network
    file's with the same symbols, and to the numeric run at a size the export never saw."""
    got = evaluate(ONNX / f"{name}.onnx")
    assert [str(v) for v in got.input_shape] == ["3", "height", "width"]
    want = evaluate(EXAMPLES / f"{name}.yaml", input_shape="3,height,width")
    assert all(got.total[k] == want.total[k] for k in COUNTS)
    at = evaluate(ONNX / f"{name}.onnx", input_shape="3,160,192").total["macs"]
    assert value(got.total["macs"], {"height": 160, "width": 192}) == at


@pytest.mark.parametrize("name", list(TRANSFORMERS))
def test_transformer_equals_its_network_file(name):
    """Attention written out as plain ops (projections, heads' reshapes, the scaled dot product, the
    causal mask) imports as one multiheadattention per module, GELU's formula as gelu, the tables as
    embeddings: row by row and in total equal to the example's. GPT-2's sequence length stays
    a symbol (seq_len)."""
    example, shape = TRANSFORMERS[name]
    got = evaluate(ONNX / f"{name}.onnx", input_shape=shape)
    want = evaluate(EXAMPLES / f"{example}.yaml", input_shape=shape or "seq_len")
    assert {k: got.total[k] for k in COUNTS} == {k: want.total[k] for k in COUNTS}
    assert _rows(got) == _rows(want)
    assert got.total["params"] == MANIFEST["files"][f"{name}.onnx"]["torch"]["parameters"]


def test_gpt2_folded_writes_the_tied_head_twice():
    """With constant folding torch writes the lm_head's weight (tied to wte) again, transposed, as a
    new initializer: the import counts what the file stores, wte's 50257 x 768 once more; every other
    count equals the example's."""
    got = evaluate(ONNX / "gpt2_small.onnx")
    want = evaluate(EXAMPLES / "gpt2_small.yaml", input_shape="seq_len")
    assert got.total["params"] - want.total["params"] == 50257 * 768
    assert all(got.total[k] == want.total[k] for k in COUNTS if k != "params")


def test_an_unmapped_node_is_named():
    with pytest.raises(NetworkError, match=r"1 node\(s\) convcalc cannot map: fancy \(FancyConv\)"):
        evaluate(ONNX / "refuse_custom_domain_op.onnx")


@pytest.mark.parametrize("fixture, fragment", [
    ("refuse_truncated_resnet18.onnx", "not an ONNX model"),
    ("refuse_random_bytes.onnx", "not an ONNX model"),
    ("refuse_control_flow_if.onnx", "(If): control flow"),
    ("refuse_control_flow_scripted.onnx", "control flow"),
    ("refuse_custom_domain_op.onnx", "1 node(s) convcalc cannot map: fancy (FancyConv)"),
    ("refuse_unknown_op_nms.onnx", "the graph has 2 inputs (boxes, scores)"),
])
def test_refusal_fixtures(fixture, fragment):
    for command in ("net", "import"):
        r = subprocess.run([sys.executable, "-m", "convcalc", command, str(ONNX / fixture)], capture_output=True, text=True)
        assert r.returncode == 2 and fragment in r.stderr and r.stderr.count("\n") == 1, r.stderr
        assert r.stderr.startswith(f"convcalc {command}: ")


def test_fuzzed_files_import_or_are_refused(tmp_path):
    """resnet18.onnx with bytes flipped at random (seeded) and cut at random lengths: every one imports
    or is refused with convcalc's own error, never another exception."""
    import random

    from convcalc.errors import ConvcalcError

    data = (ONNX / "resnet18.onnx").read_bytes()
    rng = random.Random(16)
    outcomes = {"imported": 0, "refused": 0}
    for n in range(200):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        if n % 3 == 0:
            damaged = damaged[: rng.randrange(len(damaged))]
        path = tmp_path / f"f{n}.onnx"
        path.write_bytes(bytes(damaged))
        try:
            evaluate(path, input_shape="3,64,64")
            outcomes["imported"] += 1
        except ConvcalcError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0 and sum(outcomes.values()) == 200


@pytest.mark.parametrize("name, blocks", [("resnet18", {"residual": 8}), ("resnet50", {"residual": 16}),
                                          ("efficientnet_b0", {"residual": 9, "scale": 16}), ("mobilenetv3_small", {"residual": 6, "scale": 9})])
def test_blocks_are_recovered(name, blocks):
    """The graph's skips read back as the network file's blocks: residual (ResNet's downsample as its
    shortcut) and scale (squeeze-and-excitation), as many as the example has."""
    got = evaluate(ONNX / f"{name}.onnx", input_shape="3,224,224")
    want = evaluate(EXAMPLES / f"{name}.yaml")
    for kind, n in blocks.items():
        assert sum(r["type"] == kind for r in got.rows) == n == sum(r["type"] == kind for r in want.rows)
    assert not any(r["type"] in ("add", "multiply") and r["depth"] == 0 for r in got.rows)
