"""The backward of pooling, batch normalisation and the weightless layers.

Three independent checks: PyTorch's golden record (saved bytes by storage, FlopCounterMode's
backward total, gradient shapes); brute force (the windows enumerated, the backward kernels run
on counting numbers, the gradients they compute checked against finite differences); symbolic
== numeric once substituted.
"""

import functools
import json
import math
import operator
import random
from pathlib import Path

import pytest
import sympy as sp

from convcalc import LAYERS, ConvcalcError
from convcalc.expr import symbol
from convcalc.layers.training import Training
from convcalc.sizes import substitute

GOLDEN = Path(__file__).parent / "golden" / "torch_backward_golden.json"
MINE = ("pool", "batchnorm", "relu", "relu6", "leakyrelu", "sigmoid", "tanh", "gelu", "silu", "softmax", "dropout", "flatten",
        "crossentropy")
ALL = [c for c in json.loads(GOLDEN.read_text())["cases"] if any(c["layer"].startswith(m) for m in MINE) or "pool" in c["layer"]]


def _on_batch(case):
    """softmax over PyTorch's dim 0, the batch: convcalc refuses it (--input has no batch)."""
    return case["layer"] == "softmax" and case["kwargs"]["dim"] in (0, -len(case["input"]) - 1)


CASES = [c for c in ALL if not _on_batch(c)]
TRAIN = Training(input_grad=True)

#: the layers whose backward this file checks by brute force or by hand (read by test_registry_backward)
BRUTE_FORCE = {"relu", "relu6", "leakyrelu", "sigmoid", "tanh", "gelu", "silu", "dropout", "flatten"}


def _layer(case):
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in case["kwargs"].items()}
    return LAYERS[case["layer"]](**kwargs)


def _id(case):
    return f"{case['layer']}-{json.dumps(case['kwargs'], sort_keys=True)}-{case['input']}-{case['batch']}"


# -- PyTorch's record ---------------------------------------------------------------------------


def test_golden_covers_every_family_here():
    families = {c["layer"] for c in CASES}
    # lppool and fractional max pooling (issue 12) have their own golden, read by tests/test_lppool.py
    names = {n for n in LAYERS if ("pool" in n and not n.startswith(("lppool", "fractionalmaxpool"))) or n.startswith("batchnorm")}
    names |= {"relu", "relu6", "leakyrelu", "sigmoid", "tanh", "gelu", "silu", "softmax", "dropout", "flatten", "crossentropy"}
    assert names <= families
    assert len(CASES) > 300


@pytest.mark.parametrize("case", [c for c in ALL if _on_batch(c)], ids=_id)
def test_softmax_over_the_batch_is_refused(case):
    with pytest.raises(ConvcalcError, match="batch dimension"):
        _layer(case).report(tuple(case["input"]), batch=case["batch"], training=TRAIN)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_saved_bytes_and_flops_match_pytorch(case):
    layer = _layer(case)
    for run in case["runs"]:
        r = layer.report(tuple(case["input"]), batch=case["batch"], training=Training(input_grad=run["input_grad"]))
        # FlopCounterMode counts no flops for any of these backward ops: no matrix products
        assert run["backward_flops"] == 0
        assert r.backward["total"]["macs"] == run["backward_flops"] // 2
        # everything autograd saves but parameters and buffers, one storage counted once
        assert r.saved_bytes == run["saved_activation_bytes"]
        shapes = run["grad_shapes"]
        for name, shape in shapes.items():
            if name == "input":
                assert (shape is not None) == run["input_grad"]
                if shape is not None:
                    assert list(r.gradients["input"]) == shape[1:]
            else:
                assert list(r.gradients[name]) == shape


def test_saved_dtypes_are_pytorchs():
    def kinds(case):
        return sorted((e[1], e[3]) for e in case["runs"][0]["saved"] if e[3] not in ("param", "buffer"))

    for case in CASES:
        r = _layer(case).report(tuple(case["input"]), batch=case["batch"], training=TRAIN)
        ours = sorted(("int64" if s["dtype"] == "int64" else "float32") for s in r.saved)
        assert ours == sorted(d for d, _ in kinds(case)), _id(case)


# -- counting numbers ---------------------------------------------------------------------------


class Tally:
    """A float that counts the operations done on it (constants alone are folded, uncounted)."""

    def __init__(self, v, book):
        self.v, self.book = float(v), book

    def _op(self, kind, other, fn):
        self.book[kind] += 1
        o = other.v if isinstance(other, Tally) else other
        return Tally(fn(self.v, o), self.book)

    def __add__(self, o): return self._op("adds", o, operator.add)
    def __radd__(self, o): return self._op("adds", o, lambda a, b: b + a)
    def __sub__(self, o): return self._op("adds", o, operator.sub)
    def __rsub__(self, o): return self._op("adds", o, lambda a, b: b - a)
    def __mul__(self, o): return self._op("mults", o, operator.mul)
    def __rmul__(self, o): return self._op("mults", o, lambda a, b: b * a)
    def __truediv__(self, o): return self._op("mults", o, operator.truediv)
    def __rtruediv__(self, o): return self._op("mults", o, lambda a, b: b / a)

    def le(self, o):
        self.book["comparisons"] += 1
        return self.v <= (o.v if isinstance(o, Tally) else o)

    def f(self, fn):
        self.book["transcendentals"] += 1
        return Tally(fn(self.v), self.book)


def book():
    return {"mults": 0, "adds": 0, "comparisons": 0, "transcendentals": 0}


def total(xs):
    """A sum of n terms: n - 1 adds."""
    return functools.reduce(operator.add, xs)


def fd(f, xs, i, h=1e-6):
    a, b = list(xs), list(xs)
    a[i] += h
    b[i] -= h
    return (f(a) - f(b)) / (2 * h)


def _sig(x):
    return 1 / (1 + math.exp(-x))


# forward function of one element, and the backward kernel on (g, x, y) with Tally arithmetic
ELEMENTWISE = {
    "relu": (lambda x: max(0.0, x), lambda g, x, y: 0.0 if y.le(0) else g, {}),
    "leakyrelu": (lambda x: x if x > 0 else 0.1 * x, lambda g, x, y: (lambda s: g if not x.le(0) else s)(g * 0.1),
                  {"negative_slope": 0.1}),
    "sigmoid": (_sig, lambda g, x, y: g * (1 - y) * y, {}),
    "tanh": (math.tanh, lambda g, x, y: g * (1 - y * y), {}),
    "silu": (lambda x: x * _sig(x), lambda g, x, y: (lambda s: g * s * (1 + x * (1 - s)))(x.f(_sig)), {}),
    "gelu": (lambda x: 0.5 * x * (1 + math.erf(x / math.sqrt(2))),
             lambda g, x, y: g * (0.5 * (1 + (x * math.sqrt(0.5)).f(math.erf)) + x * (math.sqrt(2 / math.pi) * 0.5 * (x * x * -0.5).f(math.exp))),
             {"approximate": "none"}),
}


def _gelu_tanh_backward(g, x, y):
    beta, kappa = math.sqrt(2) * (2 / math.sqrt(math.pi)) * 0.5, 0.044715
    x_sq = x * x
    x_cube = x_sq * x
    inner = beta * (x + kappa * x_cube)
    t = inner.f(math.tanh)
    left = 0.5 * x
    right = 1 + t
    left_d = 0.5 * right
    tanh_d = 1 - t * t
    inner_d = beta * (1 + (3 * kappa) * x_sq)
    right_d = left * tanh_d * inner_d
    return g * (left_d + right_d)


ELEMENTWISE["gelu-tanh"] = (lambda x: 0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
                            _gelu_tanh_backward, {"approximate": "tanh"})


def _relu6_backward(g, x, y):
    low, high = x.le(0), (not x.le(6)) or x.v == 6  # x <= 0, x >= 6: two comparisons
    return 0.0 if low or high else g


ELEMENTWISE["relu6"] = (lambda x: min(max(0.0, x), 6.0), _relu6_backward, {})


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_backward_by_counting(name):
    forward, kernel, kwargs = ELEMENTWISE[name]
    layer = LAYERS[name.split("-")[0]](**kwargs)
    rng = random.Random(name)
    shape, batch = (2, 3), 2
    xs = [rng.uniform(-3, 8) for _ in range(2 * 3 * batch)]
    gs = [rng.uniform(-1, 1) for _ in xs]
    tally = book()
    for i, (x, g) in enumerate(zip(xs, gs)):
        dx = kernel(Tally(g, tally), Tally(x, tally), Tally(forward(x), tally))
        dx = dx.v if isinstance(dx, Tally) else dx
        # the kernel computes the derivative: d(sum g*y)/dx_i
        assert dx == pytest.approx(g * fd(lambda v: forward(v[0]), [x], 0), rel=1e-5, abs=1e-7)
    got = layer.report(shape, batch=batch, training=TRAIN).backward["grad_input"]
    assert {k: got[k] for k in tally} == tally
    assert got["macs"] == 0


def test_dropout_backward_multiplies_by_the_saved_mask():
    r = LAYERS["dropout"](p=0.25).report((3, 4), batch=5, training=TRAIN)
    assert r.backward["grad_input"]["mults"] == 60 and r.backward["grad_input"]["flops"] == 60
    assert [(s["name"], s["elements"]) for s in r.saved] == [("mask", 60)]
    assert LAYERS["dropout"](p=0.0).report((3, 4), training=TRAIN).saved_bytes == 0
    assert LAYERS["dropout"](p=1.0).report((3, 4), training=TRAIN).saved_bytes == 4


def test_flatten_backward_is_free():
    r = LAYERS["flatten"]().report((3, 4, 5), batch=2, training=TRAIN)
    assert r.backward["total"]["flops"] == 0 and r.saved_bytes == 0


# -- every layer here, symbolic shapes, mixed precision --------------------------------------------

FAMILY = sorted(n for n in LAYERS if "pool" in n or n.startswith("batchnorm")) + [
    "relu", "relu6", "leakyrelu", "sigmoid", "tanh", "gelu", "silu", "softmax", "dropout", "flatten", "crossentropy"]


@pytest.mark.parametrize("name", FAMILY)
def test_every_layer_here_has_a_backward(name):
    from conftest import example_layer

    layer, shape = example_layer(name)
    r = layer.report(shape, batch=2, training=TRAIN)
    assert r.backward["total"]["macs"] == 0  # no matrix products: FlopCounterMode's 0
    assert r.training_flops == r.flops + r.backward["total"]["flops"] + r.optimizer_flops


ELEMENTWISE_HAND = {  # backward per element (mults, adds, comparisons, transcendentals), by hand above
    "relu": (0, 0, 1, 0), "relu6": (0, 0, 2, 0), "leakyrelu": (1, 0, 1, 0), "sigmoid": (2, 1, 0, 0), "tanh": (2, 1, 0, 0),
    "silu": (3, 2, 0, 1), "gelu": (7, 2, 0, 2), "dropout": (1, 0, 0, 0), "flatten": (0, 0, 0, 0)}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE_HAND))
def test_elementwise_symbolic(name):
    B, C, H, W = (symbol(n) for n in "BCHW")
    r = LAYERS[name]().report((C, H, W), batch=B, training=TRAIN)
    n = B * C * H * W
    got = r.backward["grad_input"]
    for key, per in zip(("mults", "adds", "comparisons", "transcendentals"), ELEMENTWISE_HAND[name]):
        assert sp.expand(got[key] - per * n) == 0, key
    numeric = LAYERS[name]().report((3, 4, 5), batch=2, training=TRAIN)
    assert substitute(r.saved_bytes, {"B": 2, "C": 3, "H": 4, "W": 5}) == numeric.saved_bytes
    assert numeric.saved_bytes == (0 if name == "flatten" else 4 * 120)


def test_mixed_precision_halves_activations_not_statistics_or_indices():
    half = Training(mixed_precision="float16")
    bn = LAYERS["batchnorm2d"](8).report((8, 4, 4), batch=2, training=half)
    assert bn.saved_bytes == 2 * 256 + 2 * 8 * 4  # input in float16, save_mean/save_invstd float32
    mp = LAYERS["maxpool2d"](2).report((8, 4, 4), batch=2, training=half)
    assert mp.saved_bytes == 2 * 256 + 8 * 64  # input in float16, indices int64


@pytest.mark.parametrize("name,inplace,tensor", [
    # what PyTorch saves (saved_tensors_hooks, compared by storage): in place, relu and leaky_relu_
    # keep their output, hardtanh_ (relu6) and silu_ a copy of the input
    ("relu", False, "output"), ("relu", True, "output"), ("leakyrelu", False, "input"), ("leakyrelu", True, "output"),
    ("relu6", False, "input"), ("relu6", True, ""), ("silu", False, "input"), ("silu", True, ""), ("dropout", True, "")])
def test_in_place_layers_save_what_pytorch_saves(name, inplace, tensor):
    r = LAYERS[name](inplace=inplace).report((3, 4), batch=2, training=TRAIN)
    assert [s["tensor"] for s in r.saved] == [tensor]
    assert r.saved_bytes == 96
