"""ONNX import (issue 16), on graphs built here with onnx.helper: each import against the network file
written by hand for the same model (row by row), symbols from dynamic axes, shared initializers
counted once, any DAG through save:/from:, and every refusal one line naming the node."""

from __future__ import annotations

import subprocess
import sys

import pytest

onnx = pytest.importorskip("onnx")
import numpy as np  # noqa: E402 (onnx brings numpy)
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from convcalc.network import Network, evaluate  # noqa: E402
from convcalc.network.source import NetworkError  # noqa: E402

COUNTS = ("params", "mults", "adds", "comparisons", "macs", "flops", "transcendentals", "activation_bytes")


def _init(name, shape):
    return numpy_helper.from_array(np.zeros(shape, dtype=np.float32), name)


def _model(nodes, inits, tmp_path, name="m", dims=("batch", 3, "height", "width"), out_dims=None, opset=17):
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))],
                              [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, out_dims)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def _rows(report):
    return [tuple(r[k] for k in ("type", "output_shape", *COUNTS)) for r in report.rows if not r["block"]]


def _same(onnx_path, yaml_text, shape):
    got = evaluate(onnx_path, input_shape=shape)
    want = Network.from_yaml(yaml_text).report(shape)
    assert _rows(got) == _rows(want)
    assert {k: got.total[k] for k in COUNTS} == {k: want.total[k] for k in COUNTS}
    return got


def test_a_small_residual_cnn_row_by_row(tmp_path):
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("BatchNormalization", ["c1", "s", "b", "m", "v"], ["n1"], name="bn1"),
        helper.make_node("Relu", ["n1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "r1"], ["a"], name="add"),
        helper.make_node("Sigmoid", ["a"], ["sg"], name="sig"),
        helper.make_node("Mul", ["a", "sg"], ["silu"], name="mul"),
        helper.make_node("MaxPool", ["silu"], ["mp"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["mp"], ["p"], name="gap"),
        helper.make_node("Flatten", ["p"], ["f"], name="flat", axis=1),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1),
    ]
    inits = [_init("w1", [8, 3, 3, 3]), _init("b1", [8]), *(_init(n, [8]) for n in "sbmv"), _init("w2", [8, 8, 3, 3]),
             _init("fw", [10, 8]), _init("fb", [10])]
    path = _model(nodes, inits, tmp_path)
    yaml_text = """
input: 3,32,32
layers:
  - conv2d: {out_channels: 8, kernel_size: 3, padding: 1, stride: 2}
  - batchnorm2d
  - relu
  - residual: {body: [conv2d: {out_channels: 8, kernel_size: 3, padding: 1, bias: false}], shortcut: []}
  - silu
  - maxpool2d: {kernel_size: 2}
  - adaptiveavgpool2d: {output_size: 1}
  - flatten
  - linear: {out_features: 10}
"""
    got = _same(path, yaml_text, "3,32,32")
    assert [r["name"] for r in got.rows if not r["block"]][:3] == ["conv1", "bn1", "relu1"]


def test_dynamic_axes_become_symbols(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", kernel_shape=[3, 3], strides=[2, 2])]
    path = _model(nodes, [_init("w", [4, 3, 3, 3])], tmp_path)
    report = evaluate(path)
    assert [str(v) for v in report.input_shape] == ["3", "height", "width"]
    want = Network.from_yaml("input: 3,height,width\nlayers: [conv2d: {out_channels: 4, kernel_size: 3, stride: 2, bias: false}]").report()
    assert report.total["macs"] == want.total["macs"]
    fixed = evaluate(path, input_shape="3,65,33")
    assert fixed.total["macs"] == 4 * 27 * 32 * 16


def test_a_shared_initializer_is_counted_once(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c1"], name="a", kernel_shape=[1, 1]),
             helper.make_node("Conv", ["c1", "w"], ["c2"], name="b", kernel_shape=[1, 1])]
    path = _model(nodes, [_init("w", [3, 3, 1, 1])], tmp_path)
    report = evaluate(path, input_shape="3,4,4")
    assert report.total["params"] == 9 and report.total["macs"] == 2 * 9 * 16


def test_the_input_read_again_and_a_concat(tmp_path):
    """y = concat(relu(x), x) then + x broadcast over nothing: the input saved once, read with from:."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Concat", ["r", "x"], ["c"], name="cat", axis=1),
             helper.make_node("Conv", ["c", "w"], ["k"], name="conv", kernel_shape=[1, 1]),
             helper.make_node("Add", ["x", "k"], ["y"], name="add")]
    path = _model(nodes, [_init("w", [3, 6, 1, 1])], tmp_path)
    yaml_text = """
input: 3,5,5
layers:
  - identity
    save: input
  - concat: {branches: [[relu], []]}
  - conv2d: {out_channels: 3, kernel_size: 1, bias: false}
  - add: {branches: [[from: input], []]}
"""
    _same(path, yaml_text.replace("- identity\n    save: input", "- identity: {}\n    save: input"), "3,5,5")


def test_matmul_and_its_bias_add_are_one_linear_layer(tmp_path):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"], name="proj"),
             helper.make_node("Add", ["m", "b"], ["y"], name="bias")]
    path = _model(nodes, [_init("w", [16, 32]), _init("b", [32])], tmp_path, dims=("batch", "seq", 16))
    report = evaluate(path, input_shape="7,16")
    assert [r["type"] for r in report.rows] == ["linear"] and report.total["params"] == 16 * 32 + 32
    assert report.total["macs"] == 7 * 16 * 32


def test_a_channel_shuffle_pattern(tmp_path):
    nodes = [helper.make_node("Reshape", ["x", "s1"], ["r1"], name="view"),
             helper.make_node("Transpose", ["r1"], ["t"], name="transpose", perm=[0, 2, 1, 3, 4]),
             helper.make_node("Reshape", ["t", "s2"], ["y"], name="back")]
    inits = [numpy_helper.from_array(np.array([1, 2, 4, 6, 6], dtype=np.int64), "s1"),
             numpy_helper.from_array(np.array([1, 8, 6, 6], dtype=np.int64), "s2")]
    path = _model(nodes, inits, tmp_path, dims=(1, 8, 6, 6))
    report = evaluate(path)
    assert [(r["type"], r["output_shape"]) for r in report.rows] == [("channelshuffle", (8, 6, 6))]


def _refused(path, *args, command="net"):
    r = subprocess.run([sys.executable, "-m", "convcalc", command, str(path), *args], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    return r.stderr


def test_unmapped_nodes_are_all_named(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="first"),
             helper.make_node("Erf", ["r"], ["e"], name="odd_one"),
             helper.make_node("Cos", ["e"], ["y"], name="odd_two")]
    path = _model(nodes, [], tmp_path)
    err = _refused(path)
    assert "2 node(s) convcalc cannot map: odd_one (Erf), odd_two (Cos)" in err
    with pytest.raises(NetworkError, match="odd_one"):
        evaluate(path)


def test_control_flow_is_refused(tmp_path):
    branch = helper.make_graph([helper.make_node("Identity", ["x"], ["o"])], "b", [],
                               [helper.make_tensor_value_info("o", TensorProto.FLOAT, None)])
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], name="sum", keepdims=0),
             helper.make_node("Cast", ["s"], ["c"], name="cast", to=TensorProto.BOOL),
             helper.make_node("If", ["c"], ["y"], name="choose", then_branch=branch, else_branch=branch)]
    path = _model(nodes, [], tmp_path)
    assert "node 'choose' (If): control flow" in _refused(path)


def test_damaged_files_are_refused(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", kernel_shape=[3, 3])]
    good = _model(nodes, [_init("w", [4, 3, 3, 3])], tmp_path)
    data = good.read_bytes()
    for n, cut in enumerate((10, len(data) // 2, len(data) - 3)):
        bad = tmp_path / f"cut{n}.onnx"
        bad.write_bytes(data[:cut])
        assert "not an ONNX model" in _refused(bad) or "cannot map" in _refused(bad) or "refused the graph" in _refused(bad)
    noise = tmp_path / "noise.onnx"
    noise.write_bytes(bytes(range(256)) * 20)
    assert "not an ONNX model" in _refused(noise, command="import")
    assert "convcalc imports ONNX files" in _refused(tmp_path / "model.yaml", command="import")


def test_import_writes_a_network_file_that_reads_back(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    path = _model(nodes, [_init("w", [4, 3, 3, 3])], tmp_path)
    out = tmp_path / "m.yaml"
    r = subprocess.run([sys.executable, "-m", "convcalc", "import", str(path), "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    again = Network.from_yaml(out.read_text()).report("3,10,10")
    assert again.total == evaluate(path, input_shape="3,10,10").total


def test_a_graph_of_two_inputs_is_refused(tmp_path):
    """A node reading only a second input would look like a constant and count nothing: refused."""
    graph = helper.make_graph([helper.make_node("Add", ["x", "y"], ["z"], name="add")], "two",
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 4]) for n in "xy"],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)])
    path = tmp_path / "two.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert "the graph has 2 inputs (x, y)" in _refused(path)


def test_resize_and_pad(tmp_path):
    """Resize by 2 (bilinear, align_corners) and a zero pad of 1, 2 (left/right) and 3, 0 (top/bottom),
    against nn.Upsample and nn.ZeroPad2d written by hand."""
    floats = numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales")
    pads = numpy_helper.from_array(np.array([0, 0, 3, 1, 0, 0, 0, 2], dtype=np.int64), "pads")
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["u"], name="up", mode="linear",
                              coordinate_transformation_mode="align_corners"),
             helper.make_node("Pad", ["u", "pads"], ["y"], name="pad", mode="constant")]
    path = _model(nodes, [floats, pads], tmp_path)
    yaml_text = """
input: 3,5,7
layers:
  - upsample: {scale_factor: 2, mode: bilinear, align_corners: true}
  - zeropad2d: {padding: [1, 2, 3, 0]}
"""
    got = _same(path, yaml_text, "3,5,7")
    assert got.output_shape == (3, 13, 17)
