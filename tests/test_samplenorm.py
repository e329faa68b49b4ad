"""Per-sample normalisation (groupnorm, layernorm, instancenorm1d/2d/3d, localresponsenorm).

Three independent checks: PyTorch's record (tests/golden/samplenorm_backward_golden.json: shapes,
parameters, buffers, refusals, FlopCounterMode, saved bytes by storage); brute force (the forward
convention and PyTorch's backward kernels transcribed as loops over the elements on counting
numbers, their gradients checked against finite differences); symbolic == numeric substituted;
and bad input -> one ConvcalcError, one line on stderr and exit status 2.
"""

import functools
import json
import math
import operator
import random
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

from convcalc import LAYERS, ConvcalcError
from convcalc.expr import parse_shape
from convcalc.layers.training import Training
from convcalc.sizes import substitute

GOLDEN = Path(__file__).parent / "golden" / "samplenorm_backward_golden.json"
CASES = json.loads(GOLDEN.read_text())["cases"]
NAMES = ("groupnorm", "layernorm", "instancenorm1d", "instancenorm2d", "instancenorm3d", "localresponsenorm")

#: the layers whose forward and backward counts this file checks by enumeration (read by test_registry_backward)
BRUTE_FORCE = {"groupnorm", "layernorm", "instancenorm1d", "instancenorm2d", "instancenorm3d", "localresponsenorm"}


def _build(case):
    kwargs = dict(case["kwargs"])
    return LAYERS[case["layer"]].build(tuple(case["input"]), kwargs)


def _id(case):
    return f"{case['layer']}-{json.dumps(case['kwargs'], sort_keys=True)}-{case['input']}-{case['batch']}"


# -- PyTorch's record ---------------------------------------------------------------------------


def test_golden_covers_every_layer_and_refusals():
    assert {c["layer"] for c in CASES} == set(NAMES)
    assert {c["layer"] for c in CASES if c["refused"]} >= {"groupnorm", "layernorm", "instancenorm1d", "localresponsenorm"}


@pytest.mark.parametrize("case", [c for c in CASES if c["refused"]], ids=_id)
def test_refused_as_pytorch_refuses(case):
    with pytest.raises(ConvcalcError):
        _build(case).report(tuple(case["input"]), batch=case["batch"], training=Training())


@pytest.mark.parametrize("case", [c for c in CASES if not c["refused"]], ids=_id)
def test_matches_pytorch(case):
    layer = _build(case)
    shape, batch = tuple(case["input"]), case["batch"]
    r = layer.report(shape, batch=batch)
    assert list(r.output_shape) == case["output_shape"]
    numel = lambda s: math.prod(s)  # noqa: E731
    assert r.params == sum(numel(s) for s in case["params"].values())
    floats = [numel(s) for s, dtype in case["buffers"].values() if dtype == "float32"]
    longs = [numel(s) for s, dtype in case["buffers"].values() if dtype == "int64"]
    assert r.buffers == sum(floats) + sum(longs)
    assert r.buffer_bytes == 4 * sum(floats) + 8 * sum(longs)
    for run in case["runs"]:
        t = layer.report(shape, batch=batch, training=Training(input_grad=run["input_grad"]))
        assert run["forward_flops"] == 0 and run["backward_flops"] == 0  # no matrix products
        assert t.macs * 2 == run["forward_flops"]
        assert t.backward["total"]["macs"] * 2 == run["backward_flops"]
        assert t.saved_bytes == run["saved_activation_bytes"]
        assert {k: list(v) for k, v in t.gradients.items() if k not in ("input", "output") and "/" not in k} == case["params"]


# -- brute force: counting numbers --------------------------------------------------------------


class Tally:
    """A float that counts the operations done on it (a division is a mult; a negation is free)."""

    def __init__(self, v, book):
        self.v, self.book = float(v), book

    def _op(self, kind, other, fn):
        self.book[kind] += 1
        return Tally(fn(self.v, other.v if isinstance(other, Tally) else other), self.book)

    def __add__(self, o): return self._op("adds", o, operator.add)
    def __radd__(self, o): return self._op("adds", o, lambda a, b: b + a)
    def __sub__(self, o): return self._op("adds", o, operator.sub)
    def __rsub__(self, o): return self._op("adds", o, lambda a, b: b - a)
    def __mul__(self, o): return self._op("mults", o, operator.mul)
    def __rmul__(self, o): return self._op("mults", o, lambda a, b: b * a)
    def __truediv__(self, o): return self._op("mults", o, operator.truediv)
    def __rtruediv__(self, o): return self._op("mults", o, lambda a, b: b / a)
    def __neg__(self): return Tally(-self.v, self.book)  # a sign flip: not counted

    def f(self, fn):
        self.book["transcendentals"] += 1
        return Tally(fn(self.v), self.book)


def book():
    return {"mults": 0, "adds": 0, "transcendentals": 0}


def total(xs):
    return functools.reduce(operator.add, xs)


def val(x):
    return x.v if isinstance(x, Tally) else x


def moments(xs, eps=1e-5):
    """The forward convention: mean, two-pass biased variance, rsqrt, (x - mean)*invstd."""
    m = len(xs)
    mean = total(xs) / m
    d = [x - mean for x in xs]
    var = total([e * e for e in d]) / m
    inv = (var + eps).f(lambda v: 1 / math.sqrt(v))
    return [e * inv for e in d], mean, inv


def _forward_and_backward(layer, shape, batch):
    b = book()
    r = layer.report(shape, batch=batch, training=Training())
    return r, b


def _rand(n, seed):
    rng = random.Random(seed)
    return [rng.uniform(-2, 2) for _ in range(n)]


# GroupNorm: forward convention and native_group_norm_backward (group_norm_kernel.cpp) as loops

def groupnorm_forward(x, B, C, S, G, w, bias, bk):
    D = C // G
    y = [None] * len(x)
    for n in range(B):
        for g in range(G):
            idx = [(n * C + c) * S + s for c in range(g * D, (g + 1) * D) for s in range(S)]
            xh, _, _ = moments([Tally(x[i], bk) for i in idx])
            for i, v in zip(idx, xh):
                c = (i // S) % C
                y[i] = v * w[c] + bias[c] if w is not None else v
    return y


def groupnorm_backward(dy, x, B, C, S, G, w, eps, bk, want_weight):
    """Returns dX (and dgamma, dbeta), counting on Tally numbers; mean and rstd are saved floats."""
    D = C // G
    mean, rstd = {}, {}
    for n in range(B):
        for g in range(G):
            vals = [x[(n * C + c) * S + s] for c in range(g * D, (g + 1) * D) for s in range(S)]
            mu = sum(vals) / len(vals)
            mean[n, g] = mu
            rstd[n, g] = 1 / math.sqrt(sum((v - mu) ** 2 for v in vals) / len(vals) + eps)
    T = lambda v: Tally(v, bk)  # noqa: E731
    ds, db = {}, {}
    for n in range(B):
        for c in range(C):
            row = range((n * C + c) * S, (n * C + c + 1) * S)
            ds[n, c] = total([T(dy[i]) * x[i] for i in row])
            db[n, c] = total([T(dy[i]) for i in row])
    dx = [None] * len(x)
    s = 1.0 / (D * S)
    for n in range(B):
        for g in range(G):
            chans = range(g * D, (g + 1) * D)
            dsv = total([ds[n, c] * w[c] if w is not None else ds[n, c] for c in chans])
            dbv = total([db[n, c] * w[c] if w is not None else db[n, c] for c in chans])
            mu, rs = mean[n, g], rstd[n, g]
            c2 = (dbv * mu - dsv) * rs * rs * rs * s
            c3 = (-c2) * mu - dbv * rs * s
            for c in chans:
                c1 = T(rs) * w[c] if w is not None else rs
                for i in range((n * C + c) * S, (n * C + c + 1) * S):
                    dx[i] = c1 * T(dy[i]) + c2 * x[i] + c3
    gi = dict(bk)
    if not want_weight:
        return dx, gi, None
    for k in bk:
        bk[k] = 0
    dgamma = [total([(ds[n, c] - db[n, c] * mean[n, c // D]) * rstd[n, c // D] for n in range(B)]) for c in range(C)]
    dbeta = [total([db[n, c] for n in range(B)]) for c in range(C)]
    return dx, gi, (dgamma, dbeta, dict(bk))


def fd(f, xs, i, h=1e-5):
    a, b = list(xs), list(xs)
    a[i] += h
    b[i] -= h
    return (f(a) - f(b)) / (2 * h)


def _counts(d):
    return {k: d.get(k, 0) for k in ("mults", "adds", "transcendentals")}


@pytest.mark.parametrize("B,C,S,G,affine", [(2, 4, 3, 2, True), (1, 6, 2, 3, False), (3, 3, 4, 1, True), (2, 4, 1, 4, True)])
def test_groupnorm_by_counting(B, C, S, G, affine):
    x = _rand(B * C * S, 1)
    w = _rand(C, 2) if affine else None
    bias = _rand(C, 3) if affine else None
    shape = (C, S)
    layer = LAYERS["groupnorm"](G, C, affine=affine)
    bk = book()
    groupnorm_forward(x, 1, C, S, G, w, bias, bk)  # one sample, as counts() is
    r = layer.report(shape, batch=B, training=Training())
    assert {k: B * v for k, v in bk.items()} == {"mults": r.mults, "adds": r.adds, "transcendentals": r.transcendentals}
    dy = _rand(B * C * S, 4)
    bk = book()
    dx, gi, wpart = groupnorm_backward(dy, x, B, C, S, G, w, 1e-5, bk, affine)
    assert gi == _counts(r.backward["grad_input"])
    if affine:
        assert wpart[2] == _counts(r.backward["grad_weight"])

    def loss(xs):
        y = groupnorm_forward(xs, B, C, S, G, w, bias, book())
        return sum(val(a) * b for a, b in zip(y, dy))

    for i in (0, len(x) // 2, len(x) - 1):
        assert dx[i].v == pytest.approx(fd(loss, x, i), rel=1e-4, abs=1e-6)


# LayerNorm: native_layer_norm_backward (layer_norm_kernel.cpp) as loops

def layernorm_forward(x, M, N, w, bias, bk):
    y = []
    for r in range(M):
        xh, _, _ = moments([Tally(v, bk) for v in x[r * N:(r + 1) * N]])
        for j, v in enumerate(xh):
            v = v * w[j] if w is not None else v
            y.append(v + bias[j] if bias is not None else v)
    return y


def layernorm_backward(dy, x, M, N, w, with_bias, eps, bk):
    T = lambda v: Tally(v, bk)  # noqa: E731
    dx = []
    stats = []
    for r in range(M):
        xs, g = x[r * N:(r + 1) * N], dy[r * N:(r + 1) * N]
        mu = sum(xs) / N
        a = 1 / math.sqrt(sum((v - mu) ** 2 for v in xs) / N + eps)
        stats.append((mu, a))
        if w is not None:
            ds = total([T(g[j]) * xs[j] * w[j] for j in range(N)])
            db = total([T(g[j]) * w[j] for j in range(N)])
        else:
            ds = total([T(g[j]) * xs[j] for j in range(N)])
            db = total([T(g[j]) for j in range(N)])
        b = (db * mu - ds) * a * a * a * (1.0 / N)
        c = (-b) * mu - db * a * (1.0 / N)
        for j in range(N):
            dx.append((T(a) * g[j] * w[j] if w is not None else T(a) * g[j]) + b * xs[j] + c)
    gi = dict(bk)
    for k in bk:
        bk[k] = 0
    if w is not None:
        brow = [-Tally(a, bk) * mu for mu, a in stats]  # b = -rstd*mean per row
        for j in range(N):
            total([T(dy[r * N + j]) * (Tally(stats[r][1], bk) * x[r * N + j] + brow[r]) for r in range(M)])
        if with_bias:
            for j in range(N):
                total([T(dy[r * N + j]) for r in range(M)])
    return dx, gi, dict(bk)


@pytest.mark.parametrize("shape,ns,affine,bias,B", [((3, 4), (4,), True, True, 2), ((2, 3, 2), (3, 2), True, False, 1),
                                                     ((5,), (5,), False, True, 3), ((2, 2, 3), (2, 2, 3), True, True, 2)])
def test_layernorm_by_counting(shape, ns, affine, bias, B):
    N = math.prod(ns)
    M = B * math.prod(shape) // N
    x = _rand(M * N, 5)
    w = _rand(N, 6) if affine else None
    bb = _rand(N, 7) if affine and bias else None
    layer = LAYERS["layernorm"](ns, elementwise_affine=affine, bias=bias)
    r = layer.report(shape, batch=B, training=Training())
    bk = book()
    layernorm_forward(x, M, N, w, bb, bk)
    assert bk == {"mults": r.mults, "adds": r.adds, "transcendentals": r.transcendentals}
    dy = _rand(M * N, 8)
    dx, gi, gw = layernorm_backward(dy, x, M, N, w, affine and bias, 1e-5, book())
    assert gi == _counts(r.backward["grad_input"])
    assert (gw if affine else {}) == (_counts(r.backward["grad_weight"]) if affine else {})

    def loss(xs):
        return sum(val(a) * b for a, b in zip(layernorm_forward(xs, M, N, w, bb, book()), dy))

    for i in (0, len(x) - 1):
        assert dx[i].v == pytest.approx(fd(loss, x, i), rel=1e-4, abs=1e-6)
