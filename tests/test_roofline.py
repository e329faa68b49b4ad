"""Roofline lower bounds (convcalc/roofline.py) checked by hand-worked figures and as SymPy
expressions: least bytes = inputs + weights + outputs (each once), intensity = FLOPs / bytes,
time >= max(FLOPs / peak, bytes / bandwidth)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

from convcalc import Conv2d, Linear, parse_shape
from convcalc.devices import custom, device
from convcalc.layers.training import Training
from convcalc import roofline
from convcalc.roofline import layer

ROOT = Path(__file__).resolve().parents[1]


def test_a_conv_forward_and_backward_by_hand():
    # conv2d 64 -> 64, 3x3, padding 1, on 64x56x56, float32, on an A100 SXM
    r = Conv2d(64, 64, 3, padding=1).report((64, 56, 56), training=Training())
    a100 = device("a100-sxm")
    roof = layer(r, a100)
    x = y = 64 * 56 * 56  # input and output elements
    w = 64 * 64 * 9 + 64
    f = roof.forward
    assert (f.bytes_read, f.bytes_written) == (4 * (x + w), 4 * y)
    assert f.flops == r.flops == 2 * (64 * 9) * y  # per output: C_in*k*k mults, C_in*k*k - 1 adds and the bias
    assert f.intensity == pytest.approx(r.flops / (4 * (x + w + y)))
    assert f.compute_seconds == pytest.approx(r.flops / 19.5e12) and f.memory_seconds == pytest.approx(4 * (x + w + y) / 2.039e12)
    assert f.seconds == f.compute_seconds and f.bound == "compute"
    b = roof.backward  # reads dL/dy, the saved input and W; writes dL/dx and dL/dW
    assert (b.bytes_read, b.bytes_written) == (4 * y + r.saved_bytes + 4 * w, 4 * x + 4 * w)
    assert b.flops == r.backward["total"]["flops"]


def test_without_input_grad_the_backward_writes_only_the_weight_gradient():
    r = Linear(512, 256).report((512,), batch=8, training=Training(input_grad=False))
    roof = layer(r, custom(1e12, 1e11, "float32"))
    assert roof.backward.bytes_written == 4 * (512 * 256 + 256)
    assert roof.backward.bytes_read == 4 * 8 * 256 + r.saved_bytes + 4 * (512 * 256 + 256)


def test_an_elementwise_layer_is_memory_bound_and_int8_weights_shrink_the_traffic():
    from convcalc import LAYERS

    relu = LAYERS["relu"]().report((64, 56, 56), dtype="bfloat16")
    roof = layer(relu, device("h100-sxm"))
    assert roof.forward.intensity == 0.25 and roof.forward.bound == "memory"
    assert roof.forward.seconds == pytest.approx(2 * 2 * 64 * 56 * 56 / 3.35e12)
    lin = Linear(4096, 4096).report((4096,), dtype="bfloat16")
    full, small = layer(lin, device("h100-sxm")), layer(lin, device("h100-sxm"), weight_dtype="int8")
    assert full.forward.bytes_read - small.forward.bytes_read == (4096 * 4096 + 4096) * (2 - 1)


def test_symbolic_bytes_and_intensity_are_the_hand_derived_expressions():
    r = Conv2d(3, 8, 3).report(parse_shape("3,H,W"))
    roof = layer(r, device("a100-sxm"))
    H, W = sp.symbols("H W", integer=True, positive=True)
    read = 4 * (3 * H * W + 8 * 27 + 8)
    written = 4 * 8 * (H - 2) * (W - 2)
    assert sp.expand(sp.sympify(roof.forward.bytes_read) - read) == 0
    assert sp.expand(sp.sympify(roof.forward.bytes_written) - written) == 0
    flops = 2 * 8 * 27 * (H - 2) * (W - 2)  # 27 mults and 26 adds per output, plus the bias
    assert sp.simplify(sp.sympify(roof.forward.intensity) - flops / (read + written)) == 0
    assert roof.forward.seconds is None and roof.forward.bound is None  # times need numbers


def _cli(*args: str):
    return subprocess.run([sys.executable, "-m", "convcalc", *args], capture_output=True, text=True, cwd=ROOT)


def test_cli_json_carries_the_roofline_beside_the_unchanged_keys():
    out = _cli("conv2d", "--input", "3,32,32", "--out-channels", "16", "--kernel-size", "3", "--device", "l4", "-f", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    plain = json.loads(_cli("conv2d", "--input", "3,32,32", "--out-channels", "16", "--kernel-size", "3", "-f", "json").stdout)
    assert {k: v for k, v in data.items() if k != "roofline"} == plain
    roof = data["roofline"]
    assert roof["device"] == "l4" and roof["forward"]["bytes"] == roof["forward"]["bytes_read"] + roof["forward"]["bytes_written"]
    assert roof["forward"]["seconds"] == max(roof["forward"]["compute_seconds"], roof["forward"]["memory_seconds"])


@pytest.mark.parametrize("args, message", [
    (["--device", "a100"], "--device: no device named 'a100'; did you mean a100-sxm"),
    (["--peak-flops", "1e12"], "--bandwidth: missing"),
    (["--device", "l4", "--bandwidth", "1e9"], "--device: give --device or --peak-flops and --bandwidth, not both"),
    (["--weight-dtype", "int8"], "--weight-dtype: the weights' dtype is for the roofline"),
    (["--device", "m2-max", "--dtype", "bfloat16"], "--device: m2-max lists no peak for bfloat16"),
    (["--peak-flops", "1e12", "--bandwidth", "-3"], "--bandwidth: must be a positive number"),
    (["--device", "l4", "--explain"], "--device: a derivation has no roofline"),
])
def test_cli_refusals_are_one_line_exit_2(args, message):
    out = _cli("conv2d", "--input", "3,8,8", "--out-channels", "8", "--kernel-size", "3", *args)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith("convcalc conv2d: " + message), out.stderr


NET = """name: tiny residual
input: 3,8,8
layers:
  - residual:
      body:
        - conv2d: {out_channels: 3, kernel_size: 3, padding: 1}
      shortcut: []
  - relu
"""


def test_a_network_sums_its_layers_and_joins_by_hand():
    from convcalc import Network

    a100 = device("a100-sxm")
    report = Network.from_yaml(NET).report(batch=2, device=a100)
    roof = report.roofline
    x = 2 * 3 * 8 * 8  # every tensor here: 2 samples of 3x8x8
    w = 3 * 3 * 9 + 3
    # conv reads x and its weights, writes x; the add reads both branches, writes x; relu reads x, writes x
    assert roof.forward.bytes_read == 4 * (x + w) + 4 * 2 * x + 4 * x
    assert roof.forward.bytes_written == 4 * 3 * x
    assert roof.forward.flops == report.total["flops"]
    conv_flops = report.total["flops"] - 2 * x  # the add and the relu: one op per element each
    # the add moves 3 tensors, the relu 2; both memory-bound, as the conv is on 8x8 images
    expected = max(conv_flops / 19.5e12, 4 * (2 * x + w) / 2.039e12) + 4 * 3 * x / 2.039e12 + 4 * 2 * x / 2.039e12
    assert roof.forward.seconds == pytest.approx(expected)
    assert (roof.forward.compute_bound, roof.forward.memory_bound) == (0, 3)  # 8x8 images: every step memory-bound


def test_cli_net_roofline_totals_match_the_report(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(NET)
    out = _cli("net", str(path), "--device", "h100-sxm", "--training", "-f", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["roofline"]["forward"]["flops"] == data["total"]["flops"]
    assert data["roofline"]["backward"]["flops"] > 0
    bad = _cli("net", str(path), "--device", "h100")
    assert bad.returncode == 2 and bad.stderr.startswith("convcalc net: --device: no device named 'h100'")


def test_decoding_a_token_is_memory_bound_pass_after_pass():
    out = _cli("transformer", "--arch", "gpt2", "--seq-len", "1024", "--device", "h100-sxm", "--dtype", "bfloat16", "-f", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    t = data["transformer"]
    bw = 3.35e12
    # at batch 1 every layer of a decoding step is memory-bound: the bound is the bytes over the bandwidth
    assert t["decode_memory_bound_layers"].split(" of ")[0] == t["decode_memory_bound_layers"].split(" of ")[1]
    assert t["decode_seconds"] == pytest.approx(t["decode_bytes"] / bw)
    # it reads every weight but the token table's unused rows (the tied head reads the table whole), and the KV cache
    non_embedding = t["non_embedding_params"]
    assert t["decode_bytes"] >= 2 * non_embedding + 2 * 1023 * 12 * 2 * 768
    assert t["sampling_seconds_at_most"] == pytest.approx(1024 * t["decode_seconds"])
    assert data["roofline"]["forward"]["flops"] == data["total"]["flops"]


def test_a_lookup_reads_only_the_rows_it_looks_up():
    from convcalc import LAYERS

    r = LAYERS["embedding"](num_embeddings=50000, embedding_dim=768).report((128,))
    roof = layer(r, device("l4"))
    assert roof.forward.bytes_read == 4 * 128 + 4 * 128 * 768  # 128 rows, not 50,000 (indices in the act dtype)


def test_wavenet_sampling_is_memory_bound_step_after_step():
    """Fast WaveNet generation: each of T steps computes one new position per layer from cached
    activations (the layer's own per-sample count) and must read every weight once, one sample in
    (the one-hot input) and one out (the logits): intensity far below any ridge point."""
    from convcalc.layers.registry import LAYERS

    args = dict(residual_channels=32, skip_channels=64, layers_per_block=10, blocks=3)
    report = LAYERS["wavenet"].build((256, 16000), args).report((256, 16000))
    dev = device("a100-sxm")
    s = roofline.layer(report, dev).sequential
    assert s.passes == 16000
    assert s.flops == report.work["per_generated_sample_cached"]["flops"]
    assert s.bytes_read == 4 * report.params + 4 * 256 and s.bytes_written == 4 * 256
    assert s.bound == "memory" and s.seconds == s.bytes / dev.bandwidth
    assert s.total_seconds == 16000 * s.seconds


def test_pixelcnn_sampling_reruns_the_image_per_pixel():
    from convcalc.layers.registry import LAYERS

    report = LAYERS["pixelcnn"].build((3, 32, 32), dict(channels=64, layers=5)).report((3, 32, 32), dtype="bfloat16")
    r = roofline.layer(report, device("h100-sxm"))
    assert r.sequential.passes == 32 * 32 == report.sequential_regimes["sampling_passes"]
    assert (r.sequential.flops, r.sequential.bytes) == (r.forward.flops, r.forward.bytes)
    assert r.sequential.total_seconds == 1024 * r.forward.seconds
    assert roofline.layer(LAYERS["relu"].build((4,), {}).report((4,)), device("l4")).sequential is None


def test_act_dtype_is_dtype():
    """The issue's spelling: --act-dtype bfloat16 --weight-dtype int8 (--act-dtype is --dtype)."""
    def run(*args):
        r = subprocess.run([sys.executable, "-m", "convcalc", "linear", "--input", "64", "--out-features", "32", "--device", "h100-sxm",
                            "--weight-dtype", "int8", "-f", "json", *args], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    act, plain = run("--act-dtype", "bfloat16"), run("--dtype", "bfloat16")
    assert act == plain and act["roofline"]["forward"]["bytes_read"] == 64 * 2 + (64 * 32 + 32) * 1


def test_lstm_time_steps_one_after_another():
    """nn.LSTM(32, 64, num_layers=2) over T = 10: each time step (both layers) is the layer's per-step
    count, reads every weight and x_t, writes h_t; 10 of them one after another."""
    from convcalc.layers.registry import LAYERS

    report = LAYERS["lstm"].build((10, 32), dict(hidden_size=64, num_layers=2)).report((10, 32), batch=4)
    dev = device("a100-sxm")
    s = roofline.layer(report, dev).sequential
    assert (s.label, s.passes) == ("time steps", 10)
    assert s.flops * 10 == report.flops and s.flops == report.per_step["flops"]
    assert s.bytes_read == 4 * report.params + 4 * 4 * 32 and s.bytes_written == 4 * 4 * 64
    assert s.total_seconds == 10 * s.seconds and s.bound == "memory"
