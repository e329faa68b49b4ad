"""The backward of the autoregressive layers: maskedconv2d, causalconv1d, pixelcnn, wavenet.

- Golden: PyTorch's FlopCounterMode backward total / 2 and the saved activation bytes (by
  storage) of the golden masked convolutions and WaveNets, with and without input grad.
- PyTorch ground truth for PixelCNN stacks (plain, residual, gated), recorded by
  golden/make_pixelcnn_backward_golden.py.
- Brute force: each stack is built as a graph of operations (the module PyTorch runs); a
  generic reverse pass finds which operations a gradient reaches (a result nothing reads gets
  none), which inputs need one, where gradients of a tensor read twice are summed, and which
  tensors are saved, and adds up per-operation costs (each convolution's by enumerating its
  products, test_backward_conv.brute_conv). dL/dx is what the pass costs more with the
  input requiring grad.
- Symbolic == numeric substituted.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from convcalc import sizes
from convcalc.expr import symbol
from convcalc.layers.registry import get
from convcalc.layers.training import Training
from test_backward_conv import brute_conv

#: the layers whose backward this file checks by brute force or by hand (read by test_registry_backward)
BRUTE_FORCE = {"maskedconv2d", "causalconv1d", "pixelcnn", "wavenet"}

HERE = Path(__file__).parent / "golden"
KEYS = ("mults", "adds", "comparisons", "macs")


def golden_cases(layer):
    data = json.loads((HERE / "torch_backward_golden.json").read_text())
    return [c for c in data["cases"] if c["layer"] == layer]


# -- golden: PyTorch ----------------------------------------------------------------------------


@pytest.mark.parametrize("layer", ["maskedconv2d", "wavenet"])
def test_backward_macs_and_saved_bytes_match_pytorch(layer):
    cases = golden_cases(layer)
    assert len(cases) >= 20
    for case in cases:
        conv = get(layer)(**case["kwargs"])
        for run in case["runs"]:
            r = conv.report(tuple(case["input"]), batch=case["batch"], training=Training(input_grad=run["input_grad"]))
            assert 2 * r.backward["total"]["macs"] == run["backward_flops"], (case["kwargs"], run["input_grad"])
            assert r.saved_bytes == run["saved_activation_bytes"], (case["kwargs"], run["input_grad"])


def test_gradient_shapes_match_pytorch():
    """Every parameter's gradient shape, by PyTorch's name (one index per layer written i)."""
    import re

    for layer, prefix in (("maskedconv2d", "conv."), ("wavenet", "")):
        for case in golden_cases(layer)[:10]:
            r = get(layer)(**case["kwargs"]).report(tuple(case["input"]), batch=case["batch"], training=Training())
            torch_shapes = case["runs"][0]["grad_shapes"]
            assert list(r.gradients["input"]) == torch_shapes["input"][1:]
            ours = {name: list(shape) for name, shape in r.gradients.items() if name not in ("input", "output") and "/" not in name}
            theirs = {re.sub(r"\.\d+\.", ".i.", name[len(prefix):]): shape for name, shape in torch_shapes.items()
                      if name != "input" and shape is not None}
            assert ours == theirs
            # the one parameter without a gradient: the last residual convolution's, whose output is unused
            last = case["kwargs"].get("layers_per_block", 0) * case["kwargs"].get("blocks", 1) - 1
            assert {name for name, shape in torch_shapes.items() if shape is None} == (
                {f"res.{last}.weight", f"res.{last}.bias"} if layer == "wavenet" else set())


def test_pixelcnn_backward_matches_pytorch():
    cases = json.loads((HERE / "pixelcnn_backward_golden.json").read_text())["cases"]
    assert {(c["kwargs"]["gated"], c["kwargs"]["residual"]) for c in cases} == {(False, False), (False, True), (True, False)}
    for case in cases:
        layer = get("pixelcnn")(**case["kwargs"])
        for run in case["runs"]:
            r = layer.report(tuple(case["input"]), batch=case["batch"], training=Training(input_grad=run["input_grad"]))
            assert 2 * r.backward["total"]["macs"] == run["backward_flops"], (case["kwargs"], run["input_grad"])
            assert r.saved_bytes == run["saved_activation_bytes"], (case["kwargs"], run["input_grad"])
            if run["input_grad"]:
                assert list(r.gradients["input"]) == run["grad_shapes"]["input"][1:]
            else:
                assert "input" not in r.gradients and run["grad_shapes"]["input"] is None


# -- brute force: the graph of operations and a generic reverse pass ----------------------------


class Tensor:
    def __init__(self, numel, requires_grad, storage=None):
        self.numel = numel
        self.requires_grad = requires_grad
        self.storage = storage or self  # a view shares its base's storage
        self.consumers = []


class Graph:
    """Operations in forward order: (inputs, outputs, cost(need) -> counts, saved tensors,
    has parameters). cost gets, per input, whether it needs a gradient."""

    def __init__(self):
        self.ops = []

    def op(self, inputs, numels, cost=lambda need: {}, saves=(), params=False, view=False, saves_output=False):
        rg = params or any(t.requires_grad for t in inputs)
        outs = [Tensor(n, rg, storage=inputs[0].storage if view else None) for n in numels]
        op = (inputs, outs, cost, list(saves) + (outs if saves_output else []), params)
        for t in inputs:
            t.consumers.append(op)
        self.ops.append(op)
        return outs if len(outs) > 1 else outs[0]

    def backward(self, loss):
        """Counts of the reverse pass from loss, and the saved elements (by storage)."""
        live = {id(loss)}
        total = dict.fromkeys(KEYS, 0)
        reached = []
        for inputs, outs, cost, saves, params in reversed(self.ops):
            if not any(id(o) in live for o in outs):
                continue  # no gradient reaches it
            reached.append(id(inputs))
            need = [t.requires_grad for t in inputs]
            for key, v in cost(need).items():
                total[key] += v
            for t in inputs:
                if t.requires_grad:
                    live.add(id(t))
        # a tensor whose gradient comes from several operations sums them: one add an element each
        for inputs, outs, *_ in self.ops:
            for t in outs + inputs:
                users = [op for op in t.consumers if any(id(o) in live for o in op[1])] if t.requires_grad else []
                if len(users) > 1 and not getattr(t, "_counted", False):
                    total["adds"] += (len(users) - 1) * t.numel
                    t._counted = True
        storages = {id(s.storage): s.storage.numel for op in self.ops for s in op[3]}
        return total, sum(storages.values())


def conv(g, x, layer, shape, batch):
    """A convolution: saves its input; dL/dx when the input needs it, dL/dW (and dL/db) always."""
    out = layer.output_shape(shape)
    gi, gw = brute_conv(layer, shape, batch)

    def cost(need):
        parts = [gw] + ([gi] if need[0] else [])
        return {"mults": sum(p["mults"] for p in parts), "adds": sum(p["adds"] for p in parts),
                "macs": sum(p["mults"] for p in parts)}

    return g.op([x], [batch * sizes.prod(out)], cost, saves=[x], params=True)


def pad(g, x, numel):
    return g.op([x], [numel])  # F.pad: a new tensor; its backward is a slice


def split(g, x):
    return g.op([x], [x.numel // 2, x.numel // 2], view=True)


def tanh_or_sigmoid(g, x):
    """Backward from the saved output y: g*(1 - y*y) or g*(1 - y)*y: 2 mults, 1 add an element."""
    return g.op([x], [x.numel], lambda need: {"mults": 2 * x.numel, "adds": x.numel} if need[0] else {}, saves_output=True)


def mul(g, a, b):
    return g.op([a, b], [a.numel], lambda need: {"mults": a.numel * sum(need)}, saves=[a, b])


def add(g, a, b):
    return g.op([a, b], [a.numel])


def relu(g, x):
    return g.op([x], [x.numel], lambda need: {"comparisons": x.numel} if need[0] else {}, saves_output=True)


def softmax(g, x, classes):
    groups = x.numel // classes
    return g.op([x], [x.numel], lambda need: {"mults": 2 * x.numel, "adds": groups * (2 * classes - 1)} if need[0] else {},
                saves_output=True)


def gate(g, x):
    a, b = split(g, x)
    return mul(g, tanh_or_sigmoid(g, a), tanh_or_sigmoid(g, b))


def wavenet_graph(kw, T, batch, input_grad):
    """make_golden.TorchWaveNet."""
    Conv1d = get("conv1d")
    r, dc, s, L, B, k, classes = (kw[n] for n in ("residual_channels", "dilation_channels", "skip_channels",
                                                   "layers_per_block", "blocks", "kernel_size", "output_classes"))
    C, bias = kw.get("input_channels", classes), kw.get("bias", True)
    g = Graph()
    x = Tensor(batch * C * T, input_grad)

    def causal(x, cin, cout, d):
        length = T + d * (k - 1)
        return conv(g, pad(g, x, batch * cin * length), Conv1d(cin, cout, k, dilation=d, bias=bias), (cin, length), batch)

    h = causal(x, C, r, 1)
    skips = None
    for d in [2**i for _ in range(B) for i in range(L)]:
        z = gate(g, causal(h, r, 2 * dc, d))
        h = add(g, h, conv(g, z, Conv1d(dc, r, 1, bias=bias), (dc, T), batch))
        skip = conv(g, z, Conv1d(dc, s, 1, bias=bias), (dc, T), batch)
        skips = skip if skips is None else add(g, skips, skip)
    y = relu(g, conv(g, relu(g, skips), Conv1d(s, s, 1, bias=bias), (s, T), batch))
    y = softmax(g, conv(g, y, Conv1d(s, classes, 1, bias=bias), (s, T), batch), classes)
    return g.backward(y)


def pixelcnn_graph(kw, shape, batch, input_grad):
    """The PyTorch modules of golden/make_pixelcnn_backward_golden.py."""
    Conv2d = get("conv2d")
    C, H, W = shape
    P = H * W
    h, d, k, k1, n_out, classes = (kw[n] for n in ("channels", "layers", "kernel_size", "first_kernel_size",
                                                    "output_layers", "output_classes"))
    bias = kw.get("bias", True)
    g = Graph()
    x = Tensor(batch * C * P, input_grad)

    def masked(x, cin, cout, kk):
        return conv(g, x, Conv2d(cin, cout, kk, padding=kk // 2, bias=bias), (cin, H, W), batch)

    def padded(x, cin, cout, kh, kw_, top, left, right):
        rows, cols = H + top, W + left + right
        return conv(g, pad(g, x, batch * cin * rows * cols), Conv2d(cin, cout, (kh, kw_), bias=bias), (cin, rows, cols), batch)

    if kw.get("gated"):
        v = hz = x
        for i in range(d + 1):
            kk, cin = (k1, C) if i == 0 else (k, h)
            c = kk // 2
            vp = padded(v, cin, 2 * h, c + 1, kk, c, c, c)
            link = conv(g, pad(g, vp, batch * 2 * h * P), Conv2d(2 * h, 2 * h, 1, bias=bias), (2 * h, H, W), batch)
            if i == 0 and c == 0:
                hp = link
            else:
                conv_h = padded(hz, cin, 2 * h, 1, c if i == 0 else c + 1, 0, c, -1 if i == 0 else 0)
                hp = add(g, conv_h, link)
            v = gate(g, vp)
            out = conv(g, gate(g, hp), Conv2d(h, h, 1, bias=bias), (h, H, W), batch)
            hz = out if i == 0 else add(g, out, hz)
        y = hz
    else:
        y = masked(x, C, h, k1)
        for _ in range(d):
            if kw.get("residual"):
                half = h // 2
                block = masked(relu(g, masked(relu(g, masked(relu(g, y), h, half, 1)), half, half, k)), half, h, 1)
                y = add(g, y, block)
            else:
                y = masked(relu(g, y), h, h, k)
    for _ in range(n_out - 1):
        y = masked(relu(g, y), h, h, 1)
    y = softmax(g, masked(relu(g, y), h, C * classes, 1), classes)
    return g.backward(y)


def check_against_brute_force(layer, shape, batch, graph):
    with_x, saved = graph(True)
    without_x, _ = graph(False)
    r = layer.report(shape, batch=batch, training=Training())
    for key in KEYS:
        assert r.backward["grad_weight"][key] == without_x[key], key
        assert r.backward["grad_input"][key] == with_x[key] - without_x[key], key
        assert r.backward["grad_weight"]["transcendentals"] == r.backward["grad_input"]["transcendentals"] == 0
    assert sum(s["elements"] for s in r.saved) == saved


def wavenet_cases(count=14):
    rng = random.Random(3)
    for _ in range(count):
        classes = rng.randint(2, 4)
        kw = {"residual_channels": rng.randint(1, 3), "dilation_channels": rng.randint(1, 3), "skip_channels": rng.randint(1, 3),
              "layers_per_block": rng.randint(1, 3), "blocks": rng.randint(1, 2), "kernel_size": rng.choice([2, 3]),
              "output_classes": classes, "input_channels": rng.randint(1, 3), "bias": rng.random() < 0.6}
        yield kw, rng.randint(1, 9), rng.randint(1, 2)


@pytest.mark.parametrize("kw, T, batch", list(wavenet_cases()))
def test_wavenet_backward_matches_brute_force(kw, T, batch):
    check_against_brute_force(get("wavenet")(**kw), (kw["input_channels"], T), batch,
                              lambda input_grad: wavenet_graph(kw, T, batch, input_grad))


def pixelcnn_cases(count=18):
    rng = random.Random(4)
    for i in range(count):
        kind = ("plain", "residual", "gated")[i % 3]
        C = rng.choice([1, 2, 3])
        groups = C if kind != "gated" and C == 3 and rng.random() < 0.5 else 1
        kw = {"in_channels": C, "channels": groups * 2 * rng.randint(1, 2), "layers": rng.randint(1, 3),
              "kernel_size": rng.choice([1, 3, 5]), "first_kernel_size": rng.choice([1, 3, 5]), "colour_groups": groups,
              "residual": kind == "residual", "gated": kind == "gated", "output_layers": rng.randint(1, 3),
              "output_classes": rng.randint(2, 4), "bias": rng.random() < 0.6}
        yield kw, (C, rng.randint(1, 5), rng.randint(1, 5)), rng.randint(1, 2)


@pytest.mark.parametrize("kw, shape, batch", list(pixelcnn_cases()))
def test_pixelcnn_backward_matches_brute_force(kw, shape, batch):
    check_against_brute_force(get("pixelcnn")(**kw), shape, batch, lambda input_grad: pixelcnn_graph(kw, shape, batch, input_grad))


@pytest.mark.parametrize("kw, shape, batch", [
    ({"in_channels": 2, "out_channels": 3, "kernel_size": 3, "dilation": 2}, (2, 5), 2),
    ({"in_channels": 1, "out_channels": 2, "kernel_size": 4, "dilation": 3, "bias": False}, (1, 2), 1),  # taps skip padded positions
    ({"in_channels": 3, "out_channels": 1, "kernel_size": 1}, (3, 4), 3),
])
def test_causal_conv_backward_is_the_padded_convolutions(kw, shape, batch):
    """F.pad then Conv1d: the gradient of the padded input (its padded entries too), which is saved."""
    layer = get("causalconv1d")(**kw)
    g = Graph()
    k, d = kw["kernel_size"], kw.get("dilation", 1)
    length = shape[1] + d * (k - 1)
    for input_grad in (True, False):
        g = Graph()
        x = Tensor(batch * sizes.prod(shape), input_grad)
        y = conv(g, pad(g, x, batch * shape[0] * length), get("conv1d")(**kw | {"dilation": d}), (shape[0], length), batch)
        counts, saved = g.backward(y)
        r = layer.report(shape, batch=batch, training=Training(input_grad=input_grad))
        for key in KEYS:
            assert r.backward["total"][key] == counts[key], key
        assert sum(s["elements"] for s in r.saved) == saved == batch * shape[0] * length


# -- the reverse pass's own checks: it can tell a dead branch and a tensor read twice ----------


def test_brute_force_pass_drops_unused_results_and_sums_fanout():
    g = Graph()
    x = Tensor(10, True)
    a = relu(g, x)
    b = relu(g, x)  # x read twice: 10 adds
    relu(g, a)  # unused: no gradient
    y = add(g, a, b)
    counts, saved = g.backward(y)
    assert counts == {"mults": 0, "adds": 10, "comparisons": 20, "macs": 0}
    assert saved == 30  # three ReLU outputs, the unused one too


def test_the_last_wavenet_residual_convolution_gets_no_gradient():
    """Its output feeds nothing, so its backward is skipped: with one layer, the backward has
    exactly its convolution's share less than the same stack computed in full."""
    kw = {"residual_channels": 2, "dilation_channels": 3, "skip_channels": 2, "layers_per_block": 1, "output_classes": 2,
          "input_channels": 2, "kernel_size": 2, "bias": False}
    r = get("wavenet")(**kw).report((2, 6), training=Training())
    res_gi, res_gw = brute_conv(get("conv1d")(3, 2, 1, bias=False), (3, 6), 1)
    full = get("wavenet")(**kw).report((2, 6)).macs  # forward: every convolution, the residual one too
    assert r.backward["total"]["macs"] == 2 * full - res_gi["mults"] - res_gw["mults"]


# -- symbolic == numeric ------------------------------------------------------------------------


SYMBOLIC = [
    ("wavenet", {"residual_channels": "R", "skip_channels": "S", "layers_per_block": 3, "blocks": 2, "kernel_size": 2,
                 "output_classes": 5}, ("5", "T"), {"R": 3, "S": 2, "T": 7}),
    ("wavenet", {"residual_channels": 2, "dilation_channels": "D", "skip_channels": 3, "layers_per_block": 2, "blocks": "B",
                 "kernel_size": 3, "output_classes": 4}, ("4", "T"), {"D": 2, "B": 3, "T": 2}),
    ("wavenet", {"residual_channels": 2, "skip_channels": 2, "layers_per_block": "L", "kernel_size": 2,
                 "output_classes": 3}, ("3", "T"), {"L": 3, "T": 3}),  # dilations 1, 2, 4 against T = 3: min(2**i, T)
    ("causalconv1d", {"in_channels": "C", "out_channels": 2, "kernel_size": 3, "dilation": "d"}, ("C", "T"),
     {"C": 2, "d": 4, "T": 3}),
    ("causalconv1d", {"in_channels": 2, "out_channels": 2, "kernel_size": 2, "dilation": "d"}, ("2", "T"),
     {"d": 2, "T": 9}),
    ("maskedconv2d", {"in_channels": "C", "out_channels": 4, "kernel_size": 5, "mask": "A"}, ("C", "H", "W"),
     {"C": 2, "H": 3, "W": 7}),
    ("pixelcnn", {"in_channels": 3, "channels": "h", "layers": "d", "kernel_size": 3, "first_kernel_size": 5},
     ("3", "H", "W"), {"h": 4, "d": 2, "H": 4, "W": 6}),
    ("pixelcnn", {"in_channels": 1, "channels": 4, "layers": "d", "residual": True, "output_layers": "n"},
     ("1", "H", "W"), {"d": 3, "n": 2, "H": 5, "W": 2}),
    ("pixelcnn", {"in_channels": "C", "channels": "h", "layers": "d", "kernel_size": "k", "gated": True, "first_kernel_size": 3},
     ("C", "H", "W"), {"C": 2, "h": 3, "d": 2, "k": 5, "H": 4, "W": 3}),
]


@pytest.mark.parametrize("name, kw, shape, values", SYMBOLIC)
@pytest.mark.parametrize("input_grad", [True, False])
def test_symbolic_backward_substitutes_to_numeric(name, kw, shape, values, input_grad):
    cls = get(name)
    training = Training(input_grad=input_grad)
    subs = values | {"N": 2}

    def general_value(v):
        return symbol(v) if v in subs else int(v) if isinstance(v, str) and v.isdigit() else v

    def numeric_value(v):
        return subs.get(v, int(v) if isinstance(v, str) and v.isdigit() else v) if isinstance(v, str) else v

    general = cls(**{k: general_value(v) for k, v in kw.items()}).report(
        tuple(general_value(v) for v in shape), batch=symbol("N"), training=training)
    numeric = cls(**{k: numeric_value(v) for k, v in kw.items()}).report(
        tuple(numeric_value(v) for v in shape), batch=2, training=training)
    for part in ("grad_input", "grad_weight"):
        for key, value in numeric.backward[part].items():
            assert general.backward[part][key] is not None, (part, key)
            assert sizes.substitute(general.backward[part][key], subs) == value, (part, key)
    assert sizes.substitute(general.saved_bytes, subs) == numeric.saved_bytes


@pytest.mark.parametrize("name, kw, shape", [
    ("pixelcnn", {"in_channels": 1, "channels": 4, "layers": 2, "gated": True}, (1, 6, 5)),  # was refused: symbolic colour groups
    ("pixelcnn", {"in_channels": 3, "channels": 6, "layers": 2, "residual": True, "colour_groups": 3}, (3, 5, 4)),
    ("wavenet", {"residual_channels": 3, "skip_channels": 2, "layers_per_block": 2, "output_classes": 4}, (4, 9)),
    ("causalconv1d", {"in_channels": 2, "out_channels": 3, "kernel_size": 2, "dilation": 3}, (2, 7)),
    ("maskedconv2d", {"in_channels": 3, "out_channels": 3, "kernel_size": 3, "colour_groups": 3}, (3, 4, 4)),
])
def test_explain_derives_the_backward(name, kw, shape):
    from convcalc.explain import check, explain_layer

    expl = explain_layer(get(name)(**kw), shape, batch=2, training=Training())
    steps = [s for s in expl.steps if s.quantity.startswith("backward")]
    assert {s.quantity for s in steps} >= {"backward mults (dL/dx)", "backward mults (dL/dW)"}
    assert check(expl)
