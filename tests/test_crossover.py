"""solve --for compute-bound and --for attention-mlp (issue 15): the least size at which a layer or a
network turns compute-bound on a device, or at which attention costs as many FLOPs as the MLPs.

Each answer is checked by brute force: the model counted again with numbers at the answer and at the
size before (numeric runs, not the formulas the solver substituted into), and against a hand-derived
threshold where there is one."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from convcalc import crossover
from convcalc.devices import device
from convcalc.errors import ConvcalcError
from convcalc.layers.registry import LAYERS
from convcalc.network import evaluate
from convcalc.roofline import layer as roofline_of

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "convcalc", *args], capture_output=True, text=True)


def _layer_bound(kind, args, shape, dev, dtype):
    report = LAYERS[kind].build(shape, args).report(shape, dtype=dtype)
    return roofline_of(report, dev).forward.bound


def test_linear_threshold_by_hand():
    """Linear 4096 -> 4096 on T tokens in bfloat16: FLOPs 8192 T x 4096 (a mult and an add per weight,
    the bias add included), bytes 2 x (4096 T in + (4096^2 + 4096) weights + 4096 T out); compute-bound
    from T >= ridge x 4097 / (4096 - 2 ridge)."""
    dev = device("h100-sxm")
    r = json.loads(_cli("solve", "linear", "--for", "compute-bound", "--input", "T,4096", "--out-features", "4096",
                        "--device", "h100-sxm", "--dtype", "bfloat16", "-f", "json").stdout)
    ridge = dev.peak("bfloat16") / dev.bandwidth
    assert r["value"] == math.ceil(ridge * 4097 / (4096 - 2 * ridge))
    t = r["value"]
    assert _layer_bound("linear", {"out_features": 4096}, (t, 4096), dev, "bfloat16") == "compute"
    assert _layer_bound("linear", {"out_features": 4096}, (t - 1, 4096), dev, "bfloat16") == "memory"


def test_conv_that_never_turns_compute_bound():
    """conv2d 64 -> 64, 3x3, padding 1, in bfloat16: intensity 73728 S^2 / (2 (128 S^2 + 36928)) tends to
    288 FLOP/B, below the H100's bfloat16 ridge (about 295): no size makes it compute-bound."""
    dev = device("h100-sxm")
    assert 73728 / 256 < dev.peak("bfloat16") / dev.bandwidth
    args = {"out_channels": 64, "kernel_size": 3, "padding": 1}
    shape = LAYERS["conv2d"].build((64, 8, 8), args)
    from convcalc.expr import parse_shape

    sym = parse_shape("64,S,S")
    report = LAYERS["conv2d"].build(sym, args).report(sym, dtype="bfloat16")
    got = crossover.compute_bound("conv2d", sym, roofline_of(report, dev))
    assert got.value is None and "2**40" in got.notes[-1]
    assert shape is not None and _layer_bound("conv2d", args, (64, 4096, 4096), dev, "bfloat16") == "memory"


@pytest.mark.parametrize("name, dev, dtype", [("resnet18", "a100-sxm", "float32"), ("llama_small", "h100-sxm", "bfloat16")])
def test_network_compute_bound_by_brute_force(name, dev, dtype):
    shape = "3,S,S" if name == "resnet18" else "T"
    r = _cli("solve", "net", str(EXAMPLES / f"{name}.yaml"), "--for", "compute-bound", "--input", shape, "--device", dev,
             "--dtype", dtype, "-f", "json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    s = got["value"]
    d = device(dev)

    def compute_bound(v):
        numeric = shape.replace("S", str(v)).replace("T", str(v))
        f = evaluate(EXAMPLES / f"{name}.yaml", input_shape=numeric, dtype=dtype, device=d).roofline.forward
        assert f.flops == evaluate(EXAMPLES / f"{name}.yaml", input_shape=numeric, dtype=dtype).total["flops"]
        return f.flops / d.peak(dtype) >= f.bytes / d.bandwidth

    assert compute_bound(s) and not compute_bound(s - 1)
    assert got["figures"][0]["at"] == evaluate(EXAMPLES / f"{name}.yaml", input_shape=shape.replace("S", str(s)).replace("T", str(s)),
                                               dtype=dtype).total["flops"]


def test_attention_equals_mlp_by_brute_force():
    """LLaMA-style, d = 256, 2 of 8 heads for keys and values, SwiGLU 688: attention (projections
    d^2 (2 + 2 x 2/8) T MACs, scores and weighted sum 2 T^2 d / 2 with the causal mask, softmax) against the
    MLP (3 x 688 d T MACs); brute force at the answer and the size before."""
    r = _cli("solve", "net", str(EXAMPLES / "llama_small.yaml"), "--for", "attention-mlp", "--input", "T", "-f", "json")
    assert r.returncode == 0, r.stderr
    t = json.loads(r.stdout)["value"]

    def sums(v):
        rows = [x for x in evaluate(EXAMPLES / "llama_small.yaml", input_shape=str(v)).rows if not x["block"]]
        return (sum(x["flops"] for x in rows if x["type"] == "multiheadattention"),
                sum(x["flops"] for x in rows if x["type"] == "linear" and x["depth"] >= 1))

    (a0, m0), (a1, m1) = sums(t - 1), sums(t)
    assert a0 < m0 and a1 >= m1


def test_a_crossing_the_model_refuses():
    """GPT-2 small has 1024 learned positions: the formulas cross past them, and the answer says so."""
    r = _cli("solve", "net", str(EXAMPLES / "gpt2_small.yaml"), "--for", "attention-mlp", "--input", "T", "-f", "json")
    got = json.loads(r.stdout)
    assert got["value"] is None and "has 15" in got["notes"][-1] and "1024 rows" in got["notes"][-1]


def test_least_search():
    assert crossover._least(lambda s: s >= 1) == (1, True)
    assert crossover._least(lambda s: s >= 1000) == (1000, True)
    assert crossover._least(lambda s: False) == (None, False)
    value, stays = crossover._least(lambda s: s >= 10 and s != 80)
    assert value == 10 and stays is False


@pytest.mark.parametrize("args, fragment", [
    (["solve", "net", str(EXAMPLES / "resnet18.yaml"), "--for", "compute-bound", "--input", "3,S,S"], "--device: missing"),
    (["solve", "net", str(EXAMPLES / "resnet18.yaml"), "--for", "compute-bound", "--device", "a100-sxm", "--input", "3,H,W"],
     "--input: a crossover is solved for one size"),
    (["solve", "net", str(EXAMPLES / "resnet18.yaml"), "--for", "compute-bound", "--device", "a100-sxm"], "--input: a crossover"),
    (["solve", "net", str(EXAMPLES / "resnet18.yaml"), "--for", "attention-mlp", "--input", "3,S,S"], "has no attention"),
    (["solve", "net", str(EXAMPLES / "resnet18.yaml"), "--for", "batch", "--memory", "1GB", "--device", "l4"], "--device: only with"),
    (["solve", "conv2d", "--for", "compute-bound", "--input", "3,S,S", "--out-channels", "8", "--kernel-size", "3", "--device", "a100"],
     "did you mean"),
    (["solve", "conv2d", "--kernel-size", "3"], "--target: missing"),
    (["solve", "conv2d", "--target", "8,4,4", "--kernel-size", "3", "--in-channels", "3", "--device", "l4"], "--device: only with"),
])
def test_crossover_refusals(args, fragment):
    r = _cli(*args)
    assert r.returncode == 2 and fragment in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_symbol_of():
    from convcalc.expr import parse_shape

    assert crossover.symbol_of(parse_shape("3,S,S")) == "S"
    with pytest.raises(ConvcalcError, match="it names H, W"):
        crossover.symbol_of(parse_shape("3,H,W"))
    with pytest.raises(ConvcalcError, match="it has none"):
        crossover.symbol_of((3, 4, 4))
