"""Network files: the shipped examples against PyTorch row by row, symbolic inputs, blocks,
folding, and the errors a user meets (file, line, layer path, reason)."""

import json
from pathlib import Path

import pytest

from convcalc import ConvcalcError
from convcalc.cli import main
from convcalc.network import MAX_LAYERS, evaluate
from conftest import GOLDEN

EXAMPLES = Path(__file__).parent.parent / "examples"
NETWORKS = json.loads(GOLDEN.read_text())["networks"]


@pytest.mark.parametrize("golden", NETWORKS, ids=lambda g: g["example"])
def test_example_matches_pytorch_row_by_row(golden):
    r = evaluate(EXAMPLES / f"{golden['example']}.yaml")
    assert r.total["params"] == golden["params"]
    assert 2 * r.total["macs"] == golden["torch_flops"]
    leaves = [(row["type"], list(row["output_shape"]), row["params"]) for row in r.rows if not row["block"] and row["type"] != "add"]
    assert leaves == [tuple(g) for g in golden["rows"]]


@pytest.mark.parametrize(
    "example, params",
    [("alexnet", 61_100_840), ("vgg16", 138_357_544), ("resnet18", 11_689_512), ("resnet50", 25_557_032), ("mobilenetv2", 3_504_872)],
)
def test_torchvision_parameter_counts(example, params):
    assert evaluate(EXAMPLES / f"{example}.yaml").total["params"] == params


def test_other_examples_run():
    lm = evaluate(EXAMPLES / "lstm_lm.yaml")
    assert lm.output_shape == (35, 10000) and lm.total["transcendentals"] > 0
    px = evaluate(EXAMPLES / "pixelcnn.yaml")
    assert px.output_shape == (1, 28, 28)
    wn = evaluate(EXAMPLES / "wavenet.yaml")
    assert wn.output_shape == (256, 16000)


def test_symbolic_resnet50_has_one_floor_per_dimension():
    r = evaluate(EXAMPLES / "resnet50.yaml", input_shape="3,H,W")
    from convcalc.sizes import to_text

    last_spatial = [row for row in r.rows if row["type"] == "conv2d"][-1]["output_shape"]
    assert [to_text(v) for v in last_spatial[1:]] == ["floor((H + 31)/32)", "floor((W + 31)/32)"]
    assert r.output_shape == (1000,)


def test_blocks_add_up_and_depth_folds(tmp_path):
    r = evaluate(EXAMPLES / "resnet18.yaml")
    rows = list(r.rows)
    for i, row in enumerate(rows):
        if row["block"]:
            children = []
            for later in rows[i + 1 :]:
                if later["depth"] <= row["depth"]:
                    break
                if not later["block"]:
                    children.append(later)
            assert row["macs"] == sum(c["macs"] for c in children)
            assert row["params"] == sum(c["params"] for c in children)
    folded = evaluate(EXAMPLES / "resnet18.yaml", depth=0)
    assert all(row["depth"] == 0 for row in folded.rows)
    assert sum(row["macs"] for row in folded.rows) == r.total["macs"]


def write(tmp_path, text):
    p = tmp_path / "net.yaml"
    p.write_text(text)
    return p


def test_receptive_field_and_concat(tmp_path):
    p = write(tmp_path, """
input: 8,32,32
layers:
  - conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
  - concat:
      branches:
        - [conv2d: {out_channels: 4, kernel_size: 1}]
        - [conv2d: {out_channels: 6, kernel_size: 5, padding: 2}]
  - maxpool2d: {kernel_size: 2}
""")
    r = evaluate(p)
    assert r.output_shape == (10, 16, 16)
    assert r.total["receptive_field"] == [8, 8]  # 3, then max(3, 7), then + 1 * 1 from the 2x2 pool
    assert r.total["jump"] == [2, 2]


@pytest.mark.parametrize(
    "text, message",
    [
        ("input: 3,8,8\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: 3}\n  - conv9d: {}\n", "net.yaml:4: layers[1]: unknown layer 'conv9d'"),
        ("input: 3,8,8\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: 3, strid: 2}\n", "net.yaml:3: layers[0]: conv2d has no parameter 'strid'"),
        ("input: 3,8,8\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: 9}\n", "net.yaml:3: layers[0]: conv2d: kernel_size: kernel 9 is larger than the padded input 8"),
        ("input: 3,8,8\nlayers:\n  - residual:\n      body:\n        - conv2d: {out_channels: 4, kernel_size: 3}\n",
         "net.yaml:3: layers[0]: the add joins shapes 4x6x6 (body) and 3x8x8 (shortcut)"),
        ("input: 3,8,8\nlayers:\n  - residual:\n      body:\n        - relu\n        - conv2d: {out_channels: 4, kernel_size: 3, padding: 1}\n      shortcut: []\n",
         "net.yaml:3: layers[0]: the add joins shapes 4x8x8 (body) and 3x8x8 (shortcut)"),
        ("input: 3,8,8\nlayers:\n  - sequential:\n      repeat: 1000000\n      layers: [relu]\n", f"expands to more than {MAX_LAYERS} layers"),
        ("input: 3,8,8\nlayers: [relu\n", "not valid YAML"),
        ("input: 3,8,8\n", "no 'layers' list"),
        ("input: 3,8,8\nlayers:\n  - sequential:\n      repeat: 0\n      layers: [relu]\n", "repeat must be a positive whole number"),
        ("input: 3,8,8\nlayers:\n  - !!python/object/apply:os.system ['touch x']\n", "expected a layer name or a mapping"),
        ("input: 3,8,8\nlayers:\n  - !!python/name:os.system\n", "not valid YAML: could not determine a constructor"),
    ],
)
def test_network_errors(tmp_path, text, message):
    with pytest.raises(ConvcalcError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        evaluate(write(tmp_path, text))


def test_symbolic_input_layer_cap(tmp_path):
    from convcalc.network import MAX_SYMBOLIC_LAYERS

    p = write(tmp_path, f"input: 3,8,8\nlayers:\n  - sequential:\n      repeat: {MAX_SYMBOLIC_LAYERS + 1}\n      layers: [relu]\n")
    assert evaluate(p).total["layers"] == MAX_SYMBOLIC_LAYERS + 1
    with pytest.raises(ConvcalcError, match="with a symbolic input is more than"):
        evaluate(p, input_shape="3,H,W")


def test_cli_net(tmp_path, capsys):
    code = main(["net", str(EXAMPLES / "resnet18.yaml"), "-f", "json"])
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert code == 0 and err == ""
    assert set(data) >= {"network", "input_shape", "output_shape", "layers", "total"}
    assert data["layers"][0]["path"] == "layers[0]" and data["total"]["params"] == 11_689_512
    code = main(["net", str(write(tmp_path, "input: 3,8,8\nlayers:\n  - conv9d\n"))])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1 and "unknown layer 'conv9d'" in err


def test_cli_net_formats(capsys):
    for fmt in ("table", "markdown", "csv", "latex"):
        code = main(["net", str(EXAMPLES / "alexnet.yaml"), "-f", fmt, "--by-op"])
        out, _ = capsys.readouterr()
        assert code == 0 and "conv2d" in out
    main(["net", str(EXAMPLES / "alexnet.yaml"), "--input", "3,H,W", "-f", "csv"])
    out, _ = capsys.readouterr()
    assert "floor(" in out


def _spatial_output(example, size):
    """Brute force: run the network on a size x size input; the last spatial row's output."""
    try:
        r = evaluate(EXAMPLES / f"{example}.yaml", input_shape=f"3,{size},{size}")
    except ConvcalcError:
        return None
    spatial = [row for row in r.rows if not row["block"] and len(row["output_shape"]) == 3 and row["type"] not in ("adaptiveavgpool2d",)]
    return spatial[-1]["output_shape"]


@pytest.mark.parametrize("example, target", [("resnet50", (2048, 7, 7)), ("resnet18", (512, 4, 4)), ("vgg16", (512, 3, 3)), ("mobilenetv2", (1280, 5, 5))])
def test_network_solve_by_brute_force(example, target):
    from convcalc.network import solve_network

    r = solve_network(EXAMPLES / f"{example}.yaml", target)
    lo, hi = r.input_ranges[0]
    assert r.input_ranges[0] == r.input_ranges[1]
    for size in range(max(1, lo - 3), hi + 4):
        inside = lo <= size <= hi
        assert (_spatial_output(example, size) == target) == inside, size


def test_resnet50_inputs_for_seven_by_seven():
    from convcalc.network import solve_network

    assert solve_network(EXAMPLES / "resnet50.yaml", (2048, 7, 7)).input_ranges == ((193, 224), (193, 224))


def test_cli_solve_net(capsys):
    code = main(["solve", "net", str(EXAMPLES / "resnet50.yaml"), "--target", "2048,n,n", "-f", "json"])
    out, _ = capsys.readouterr()
    data = json.loads(out)
    assert code == 0 and data["network"] == "ResNet-50 (torchvision)"
    assert data["input_ranges"] == [["32*n - 31", "32*n"], ["32*n - 31", "32*n"]]
    code = main(["solve", "net", str(EXAMPLES / "resnet50.yaml"), "--target", "1024,7,7"])
    _, err = capsys.readouterr()
    assert code == 2 and "--target: has 1024 channels" in err
