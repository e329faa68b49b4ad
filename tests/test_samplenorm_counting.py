"""Per-sample normalisation counted by enumeration: the forward convention (samplenorm's
docstring) and PyTorch's backward kernels (native_group_norm_backward, native_layer_norm_backward,
batch_norm's backward under instance_norm, autograd through local_response_norm's ops)
transcribed as loops over the elements on counting numbers; the gradients they compute are
checked against finite differences, so the loops are the real computation."""

import functools
import math
import operator
import random

import pytest

from convcalc import LAYERS
from convcalc.layers.training import Training

#: the layers whose forward and backward counts this file checks by enumeration (read by test_registry_backward)
BRUTE_FORCE = {"groupnorm", "layernorm", "instancenorm1d", "instancenorm2d", "instancenorm3d", "localresponsenorm"}


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


# InstanceNorm: at::instance_norm = batch_norm on (1, B*C, S), its CPU backward as loops

def instancenorm_forward(x, B, C, S, w, bias, bk, running=None):
    y = []
    for bc in range(B * C):
        xs = [Tally(v, bk) for v in x[bc * S:(bc + 1) * S]]
        if running is None:
            xh, _, _ = moments(xs)
        else:  # eval() with running statistics: (x - mean)*invstd, invstd per channel not counted
            mean, inv = running
            xh = [(v - mean[bc % C]) * inv[bc % C] for v in xs]
        c = bc % C
        y += [v * w[c] + bias[c] for v in xh] if w is not None else xh
    return y


def instancenorm_backward(dy, x, B, C, S, w, eps, bk):
    T = lambda v: Tally(v, bk)  # noqa: E731
    dx, dw_rep, db_rep = [], [], []
    for bc in range(B * C):
        xs, g = x[bc * S:(bc + 1) * S], [T(v) for v in dy[bc * S:(bc + 1) * S]]
        mean = sum(xs) / S
        inv = 1 / math.sqrt(sum((v - mean) ** 2 for v in xs) / S + eps)
        s = total(g)
        dotp = total([(T(v) - mean) * gi for v, gi in zip(xs, g)])
        k = dotp * inv * inv / S
        grad_mean = s / S
        for v, gi in zip(xs, g):
            e = (gi - grad_mean - (T(v) - mean) * k) * inv
            dx.append(e * w[bc % C] if w is not None else e)
        dw_rep.append((dotp, inv))
        db_rep.append(s)
    gi = dict(bk)
    for key in bk:
        bk[key] = 0
    if w is not None:
        dweight = [d * inv for d, inv in dw_rep]
        for c in range(C):  # repeat's backward: the B copies summed
            total([dweight[b * C + c] for b in range(B)])
            total([db_rep[b * C + c] for b in range(B)])
    return dx, gi, dict(bk)


@pytest.mark.parametrize("name,shape,B,affine", [("instancenorm1d", (3, 4), 2, True), ("instancenorm2d", (2, 2, 3), 3, False),
                                                   ("instancenorm3d", (2, 2, 1, 2), 1, True)])
def test_instancenorm_by_counting(name, shape, B, affine):
    C, S = shape[0], math.prod(shape[1:])
    x = _rand(B * C * S, 9)
    w = _rand(C, 10) if affine else None
    bias = _rand(C, 11) if affine else None
    r = LAYERS[name](C, affine=affine).report(shape, batch=B, training=Training())
    bk = book()
    instancenorm_forward(x, B, C, S, w, bias, bk)
    assert bk == {"mults": r.mults, "adds": r.adds, "transcendentals": r.transcendentals}
    tracked = LAYERS[name](C, affine=affine, track_running_stats=True).report(shape, batch=B)
    bk = book()
    instancenorm_forward(x, B, C, S, w, bias, bk, running=(_rand(C, 12), [1.5] * C))
    assert bk == {"mults": tracked.mults, "adds": tracked.adds, "transcendentals": tracked.transcendentals}
    assert tracked.buffers == 2 * C + 1 and tracked.buffer_bytes == 8 * C + 8
    dy = _rand(B * C * S, 13)
    dx, gi, gw = instancenorm_backward(dy, x, B, C, S, w, 1e-5, book())
    assert gi == _counts(r.backward["grad_input"])
    assert gw == _counts(r.backward["grad_weight"])

    def loss(xs):
        return sum(val(a) * b for a, b in zip(instancenorm_forward(xs, B, C, S, w, bias, book()), dy))

    for i in (0, len(x) - 1):
        assert dx[i].v == pytest.approx(fd(loss, x, i), rel=1e-4, abs=1e-6)


# LocalResponseNorm: local_response_norm's ops, the average's windows enumerated

def tpow(u, e, bk):
    """u**e as PyTorch's pow kernel is counted: a transcendental, or repeated products."""
    if e != int(e):
        return u.f(lambda v: v ** e)
    e = int(e)
    if e == 0:
        return Tally(1.0, bk)  # a tensor of ones
    p = functools.reduce(operator.mul, [u] * abs(e))
    return 1.0 / p if e < 0 else p


def lrn_forward(x, C, R, size, alpha, beta, k, bk):
    """One sample, x of C*R (channel-major). Returns y and the intermediates (u, d)."""
    xs = [Tally(v, bk) for v in x]
    sq = [v * v for v in xs]
    lo = size // 2
    padded = [Tally(0.0, bk)] * lo * R + sq + [Tally(0.0, bk)] * ((size - 1) // 2) * R
    avg = [total([padded[(c + t) * R + j] for t in range(size)]) / size for c in range(C) for j in range(R)]
    u = [a * alpha + k for a in avg]
    d = [tpow(v, beta, bk) for v in u]
    return [a / b for a, b in zip(xs, d)], u, d


def lrn_backward(dy, x, C, R, size, alpha, beta, k):
    _, u, d = lrn_forward(x, C, R, size, alpha, beta, k, book())
    bk = book()
    g = [Tally(v, bk) for v in dy]
    gx1 = [gi / di.v for gi, di in zip(g, d)]
    gd = [-(gi * ((Tally(xi, bk) / di.v) / di.v)) for gi, xi, di in zip(g, x, d)]
    if beta == 0:
        gu = [Tally(0.0, bk) for _ in gd]  # pow_backward: zeros
    else:
        gu = [gdi * (beta * tpow(Tally(ui.v, bk), beta - 1, bk)) for gdi, ui in zip(gd, u)]
    gavg = [v * alpha for v in gu]
    shares = [v / size for v in gavg]
    lo = size // 2
    reach = {}
    for c in range(C):
        for t in range(size):
            for j in range(R):
                reach.setdefault((c + t) * R + j, []).append(shares[c * R + j])
    gpad = {i: total(v) for i, v in reach.items()}
    gsq = [gpad[(c + lo) * R + j] for c in range(C) for j in range(R)]
    gx2 = [s * xi + s * xi for s, xi in zip(gsq, x)]
    return [a + b for a, b in zip(gx1, gx2)], bk


@pytest.mark.parametrize("shape,size,beta", [((5, 3), 3, 0.75), ((4, 2, 2), 2, 1.0), ((3, 2), 5, 2.0), ((2, 3), 1, 0.0),
                                             ((6, 1, 2, 1), 4, -1.0), ((4, 3), 3, 1.5)])
def test_localresponsenorm_by_counting(shape, size, beta):
    C, R = shape[0], math.prod(shape[1:])
    alpha, k = 0.3, 1.5
    layer = LAYERS["localresponsenorm"](size, alpha=alpha, beta=beta, k=k)
    r = layer.report(shape, batch=1, training=Training())
    x = _rand(C * R, 14)
    bk = book()
    lrn_forward(x, C, R, size, alpha, beta, k, bk)
    assert bk == {"mults": r.mults, "adds": r.adds, "transcendentals": r.transcendentals}
    dy = _rand(C * R, 15)
    dx, bk = lrn_backward(dy, x, C, R, size, alpha, beta, k)
    assert bk == _counts(r.backward["grad_input"])

    def loss(xs):
        return sum(val(a) * b for a, b in zip(lrn_forward(xs, C, R, size, alpha, beta, k, book())[0], dy))

    for i in range(len(x)):
        assert dx[i].v == pytest.approx(fd(loss, x, i), rel=1e-4, abs=1e-6)
    two = layer.report(shape, batch=2, training=Training())  # the batch scales everything
    assert two.backward["grad_input"] == {key: 2 * v for key, v in r.backward["grad_input"].items()}
