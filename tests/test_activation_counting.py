"""The activations of issue 12 counted by enumeration: each PyTorch CPU kernel (forward and
backward, aten/src/ATen/native/cpu/Activation.cpp, GatedLinearUnit.cpp, SoftMax.cpp) written out
in plain Python and run on every element of a small batch of values, its operations tallied by
a number type that counts them; convcalc's counts must equal the tallies.

Values sit where every element takes the dearer branch (x = -0.5: inside hardswish's and
hardtanh's linear region, on the exponential side of elu and softplus, the weighted side of
prelu), which is the convention convcalc states: a branch is counted with its dearer side.
"""

from __future__ import annotations

import itertools
import math

import pytest

from convcalc import LAYERS
from convcalc.layers.training import Training

BRUTE_FORCE = {"hardswish", "hardsigmoid", "hardtanh", "mish", "elu", "selu", "celu", "softplus", "prelu", "glu",
               "logsoftmax", "softmax2d", "identity"}

KEYS = ("mults", "adds", "comparisons", "transcendentals")


class V:
    """A float whose arithmetic is tallied: + and - adds, * and / mults, <, <=, >, >= comparisons."""

    __slots__ = ("v", "t")

    def __init__(self, v: float, t: dict) -> None:
        self.v, self.t = v, t

    def _op(self, key: str, value: float) -> "V":
        self.t[key] += 1
        return V(value, self.t)

    @staticmethod
    def _w(o):
        return o.v if isinstance(o, V) else o

    def __add__(self, o):
        return self._op("adds", self.v + self._w(o))

    __radd__ = __add__

    def __sub__(self, o):
        return self._op("adds", self.v - self._w(o))

    def __rsub__(self, o):
        return self._op("adds", self._w(o) - self.v)

    def __mul__(self, o):
        return self._op("mults", self.v * self._w(o))

    __rmul__ = __mul__

    def __truediv__(self, o):
        return self._op("mults", self.v / self._w(o))

    def __rtruediv__(self, o):
        return self._op("mults", self._w(o) / self.v)

    def __neg__(self):
        return V(-self.v, self.t)  # a sign flip, not counted

    def _cmp(self, result: bool) -> bool:
        self.t["comparisons"] += 1
        return result

    def __lt__(self, o):
        return self._cmp(self.v < self._w(o))

    def __le__(self, o):
        return self._cmp(self.v <= self._w(o))

    def __gt__(self, o):
        return self._cmp(self.v > self._w(o))

    def __ge__(self, o):
        return self._cmp(self.v >= self._w(o))


def _fn(f):
    def g(x: V) -> V:
        return x._op("transcendentals", f(x.v))
    return g


exp, expm1, log, log1p, tanh = _fn(math.exp), _fn(math.expm1), _fn(math.log), _fn(math.log1p), _fn(math.tanh)
sigmoid = _fn(lambda v: 1 / (1 + math.exp(-v)))


def tally() -> dict:
    return {k: 0 for k in KEYS}


def total(values: list, t: dict):
    """A sum as the kernels reduce: n - 1 adds for n terms."""
    acc = values[0]
    for v in values[1:]:
        acc = acc + v
    return acc


# -- elementwise kernels: forward f(x), backward b(g, x or y) ------------------------------------

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _hardswish(x):
    y = x + 3
    y = 0 if y < 0 else y
    y = 6 if y > 6 else y
    return x * y / 6


def _hardswish_bw(g, x):
    return 0 if x <= -3 else (g * ((x / 3) + 0.5) if x < 3 else g)


def _hardsigmoid(x):
    y = x + 3
    y = 0 if y < 0 else y
    y = 6 if y > 6 else y
    return y / 6


def _hardsigmoid_bw(g, x):
    return g * (1 / 6) if (x > -3 and x < 3) else 0


def _elu(alpha, scale, input_scale):
    def f(x):
        return expm1(x * input_scale) * (alpha * scale) if x <= 0 else x * scale
    return f


def _elu_bw(alpha, scale, input_scale, is_result):
    def b(g, xy):
        if is_result:
            return g * input_scale * (xy + alpha * scale) if xy <= 0 else g * scale
        return g * input_scale * (alpha * scale) * exp(xy * input_scale) if xy <= 0 else g * scale
    return b


def _softplus(beta, threshold):
    def f(x):
        xb = x * beta
        return x if xb > threshold else log1p(exp(xb)) / beta
    return f


def _softplus_bw(beta, threshold):
    def b(g, x):
        xb = x * beta
        z = exp(xb)
        return g if xb > threshold else g * z / (z + 1)
    return b


def _mish_bw(g, x):
    s = sigmoid(x)
    t = tanh(log1p(exp(x)))
    return g * (t + x * s * (1 - t * t))


def _elementwise(name, kw):
    """(forward, backward, backward reads the output?) of an elementwise layer as its kernels."""
    inplace = kw.get("inplace", False)
    if name == "hardswish":
        return _hardswish, _hardswish_bw, False
    if name == "hardsigmoid":
        return _hardsigmoid, _hardsigmoid_bw, False
    if name == "hardtanh":
        lo, hi = kw.get("min_val", -1.0), kw.get("max_val", 1.0)
        return (lambda x: lo if x < lo else (hi if x > hi else x)), (lambda g, x: 0 if (x <= lo or x >= hi) else g), False
    if name == "mish":
        return (lambda x: x * tanh(log1p(exp(x)))), _mish_bw, False
    if name in ("elu", "selu", "celu"):
        alpha = kw.get("alpha", 1.0)
        params = {"elu": (alpha, 1.0, 1.0), "selu": (SELU_ALPHA, SELU_SCALE, 1.0), "celu": (alpha, 1.0, 1 / alpha)}[name]
        return _elu(*params), _elu_bw(*params, inplace), inplace
    if name == "softplus":
        beta, threshold = kw.get("beta", 1.0), kw.get("threshold", 20.0)
        return _softplus(beta, threshold), _softplus_bw(beta, threshold), False
    if name == "identity":
        return (lambda x: x), (lambda g, x: g), False
    raise KeyError(name)


ELEMENTWISE = [
    ("hardswish", {}), ("hardswish", {"inplace": True}), ("hardsigmoid", {}), ("hardtanh", {}),
    ("hardtanh", {"min_val": -2.0, "max_val": 3.0, "inplace": True}), ("mish", {}), ("elu", {}), ("elu", {"alpha": 0.5, "inplace": True}),
    ("selu", {}), ("selu", {"inplace": True}), ("celu", {"alpha": 2.0}), ("celu", {"alpha": 0.5, "inplace": True}),
    ("softplus", {}), ("softplus", {"beta": 2.0, "threshold": 5.0}), ("identity", {}),
]
SHAPES = [(3,), (2, 3), (2, 1, 3)]


def _report(name, kw, shape, batch, training=None):
    return LAYERS[name].build(shape, dict(kw)).report(shape, batch=batch, training=training or Training())


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name,kw", ELEMENTWISE, ids=[f"{n}-{k}" for n, k in ELEMENTWISE])
def test_elementwise_by_enumeration(name, kw, shape):
    batch = 2
    forward, backward, from_output = _elementwise(name, kw)
    fw, bw = tally(), tally()
    for _ in itertools.product(range(batch), *(range(n) for n in shape)):
        y = forward(V(-0.5, fw))
        xy = V(y.v if isinstance(y, V) else y, bw) if from_output else V(-0.5, bw)
        backward(V(1.0, bw), xy)
    r = _report(name, kw, shape, batch)
    assert {k: getattr(r, k) for k in KEYS} == fw
    assert {k: r.backward["grad_input"][k] for k in KEYS} == bw
    assert r.backward["grad_weight"]["flops"] == 0


# -- prelu: per element, then the weight's gradient summed over all but the channels ------------


@pytest.mark.parametrize("shape,p", [((3,), 1), ((3,), 3), ((2, 4), 2), ((3, 2, 2), 1), ((3, 2, 2), 3)])
def test_prelu_by_enumeration(shape, p):
    batch = 2
    fw, gi, gw, shared = tally(), tally(), tally(), tally()
    w = [0.25] * p
    per_weight = [[] for _ in range(p)]
    for idx in itertools.product(range(batch), *(range(n) for n in shape)):
        c = idx[1] if p > 1 else 0
        x = V(-0.5, fw)
        _ = x if x > 0 else w[c] * x
        mask = V(-0.5, shared) > 0
        _ = 1.0 if mask else V(1.0, gi) * w[c]
        per_weight[c].append(0.0 if mask else V(-0.5, gw) * V(1.0, gw))  # x*g (the two operands, one product)
    for terms in per_weight:
        total(terms, gw)
    r = _report("prelu", {"num_parameters": p}, shape, batch)
    assert {k: getattr(r, k) for k in KEYS} == fw and r.params == p
    gw_all = {k: gw[k] + shared[k] for k in KEYS}  # the mask serves both gradients: with dL/dW when it trains
    assert {k: r.backward["grad_input"][k] for k in KEYS} == gi
    assert {k: r.backward["grad_weight"][k] for k in KEYS} == gw_all
    frozen = _report("prelu", {"num_parameters": p}, shape, batch, Training(frozen=True))
    assert {k: frozen.backward["grad_input"][k] for k in KEYS} == {k: gi[k] + shared[k] for k in KEYS}


# -- glu, logsoftmax, softmax2d: rows along a dim -------------------------------------------------


def _rows(shape, batch, axis):
    """The index lists of every row along ``axis`` (an index into the batched shape)."""
    full = (batch,) + tuple(shape)
    others = [range(n) if i != axis else [None] for i, n in enumerate(full)]
    for idx in itertools.product(*others):
        yield [tuple(k if i != axis else j for i, k in enumerate(idx)) for j in range(full[axis])]


@pytest.mark.parametrize("shape,dim", [((4,), -1), ((2, 6), 1), ((2, 6), 2), ((4, 3, 2), 1), ((3, 2, 4), -1)])
def test_glu_by_enumeration(shape, dim):
    batch = 2
    axis = dim if dim > 0 else dim + len(shape) + 1
    fw, bw = tally(), tally()
    for row in _rows(shape, batch, axis):
        half = len(row) // 2
        for _ in range(half):  # output element: a*sigmoid(b); dL/da = s*g, dL/db = (1 - s)*s*a*g
            _ = V(0.3, fw) * sigmoid(V(-0.5, fw))
            s = sigmoid(V(-0.5, bw))
            _ = (1 - s) * s * 0.3 * 1.0
            _ = s * 1.0
    r = _report("glu", {"dim": dim}, shape, batch)
    assert {k: getattr(r, k) for k in KEYS} == fw
    assert {k: r.backward["grad_input"][k] for k in KEYS} == bw
    assert r.saved_bytes == 4 * batch * math.prod(shape)


@pytest.mark.parametrize("shape,dim", [((5,), -1), ((3, 4), 1), ((3, 4), -1), ((2, 3, 4), 2), ((3,), None), ((2, 3, 4), None)])
def test_logsoftmax_by_enumeration(shape, dim):
    batch = 2
    axis = {None: 1}.get(dim, dim if dim is not None and dim > 0 else (dim or 0) + len(shape) + 1)
    fw, bw = tally(), tally()
    for row in _rows(shape, batch, axis):
        xs = [V(0.1 * i, fw) for i in range(len(row))]
        logs = log(total([exp(x) for x in xs], fw))
        _ = [x - logs for x in xs]
        g = [V(1.0, bw) for _ in row]
        sg = total(g, bw)
        _ = [gi - exp(V(-1.0, bw)) * sg for gi in g]
    r = _report("logsoftmax", {"dim": dim}, shape, batch)
    assert {k: getattr(r, k) for k in KEYS} == fw
    assert {k: r.backward["grad_input"][k] for k in KEYS} == bw


@pytest.mark.parametrize("shape", [(3, 2, 2), (1, 3, 1), (4, 1, 5)])
def test_softmax2d_by_enumeration(shape):
    batch = 2
    fw, bw = tally(), tally()
    for row in _rows(shape, batch, 1):  # the channels of each position
        es = [exp(V(0.1 * i, fw)) for i in range(len(row))]
        s = total(es, fw)
        _ = [e / s for e in es]
        y, g = [V(0.2, bw) for _ in row], [V(1.0, bw) for _ in row]
        dot = total([gi * yi for gi, yi in zip(g, y)], bw)
        _ = [yi * (gi - dot) for gi, yi in zip(g, y)]
    r = _report("softmax2d", {}, shape, batch)
    assert {k: getattr(r, k) for k in KEYS} == fw
    assert {k: r.backward["grad_input"][k] for k in KEYS} == bw


def test_the_tally_counts_what_it_should():
    """The counting number type itself, on a formula counted by hand: x*y + 3 > 0 and exp(x)/2."""
    t = tally()
    x, y = V(2.0, t), V(-1.0, t)
    assert (x * y + 3 > 0) is True
    _ = exp(x) / 2 - (-x)
    assert t == {"mults": 2, "adds": 2, "comparisons": 1, "transcendentals": 1}
