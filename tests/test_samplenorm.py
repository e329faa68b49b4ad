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


# -- symbolic == numeric -----------------------------------------------------------------------

SYMBOLIC = [
    ("groupnorm", {"num_groups": 4}, "C,H,W", {"C": 8, "H": 3, "W": 5}),
    ("groupnorm", {"num_groups": 2, "affine": False}, "2*C,L", {"C": 3, "L": 7}),
    ("layernorm", {}, "T,D", {"T": 5, "D": 6}),
    ("layernorm", {"normalized_shape": "H,W", "bias": False}, "C,H,W", {"C": 2, "H": 3, "W": 4}),
    ("instancenorm1d", {"affine": True}, "C,L", {"C": 3, "L": 9}),
    ("instancenorm2d", {}, "C,H,W", {"C": 4, "H": 5, "W": 6}),
    ("instancenorm3d", {"affine": True, "track_running_stats": True}, "C,D,H,W", {"C": 2, "D": 3, "H": 4, "W": 5}),
    ("localresponsenorm", {"size": 5}, "C,H,W", {"C": 7, "H": 3, "W": 2}),
]


@pytest.mark.parametrize("name,options,text,values", SYMBOLIC, ids=[s[0] + s[2] for s in SYMBOLIC])
def test_symbolic_equals_numeric(name, options, text, values):
    cls = LAYERS[name]
    shape = parse_shape(text)
    symbolic = cls.build(shape, dict(options)).report(shape, batch=sp.Symbol("B"), training=Training(optimizer="adam"))
    numeric_shape = tuple(substitute(v, values) for v in shape)
    opts = {k: (",".join(str(values[s]) for s in v.split(",")) if k == "normalized_shape" else v) for k, v in options.items()}
    numeric = cls.build(numeric_shape, opts).report(numeric_shape, batch=2, training=Training(optimizer="adam"))
    env = dict(values, B=2)
    for key in ("params", "buffers", "mults", "adds", "transcendentals", "flops", "saved_bytes", "training_flops",
                "training_peak_bytes"):
        assert substitute(getattr(symbolic, key), env) == getattr(numeric, key), key
    for part in ("grad_input", "grad_weight"):
        for key, v in symbolic.backward[part].items():
            assert substitute(v, env) == numeric.backward[part][key], (part, key)


def test_numeric_query_does_not_import_sympy():
    code = ("import sys; from convcalc.cli import main; "
            "rc = [main([n, '--input', '8,6,6'] + o + ['-f', 'json', '--training']) for n, o in "
            "[('groupnorm', ['--num-groups', '4']), ('layernorm', ['--normalized-shape', '6,6']), "
            "('instancenorm2d', ['--affine']), ('localresponsenorm', ['--size', '3'])]]; "
            "sys.stdout.flush(); print('SYMPY' if 'sympy' in sys.modules else 'CLEAN', rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip().endswith("CLEAN [0, 0, 0, 0]"), proc.stderr[-500:]


# -- bad input ---------------------------------------------------------------------------------

BAD = [
    (("groupnorm", 4, 6), (6, 3), "num_groups", "divisible by num_groups 4"),
    (("groupnorm", 0, 6), (6, 3), "num_groups", "positive"),
    (("groupnorm", 3, 6), (5, 3), "input", "has 5 channels but num_channels is 6"),
    (("layernorm", (5,)), (3, 4), "input", "ending in normalized_shape 5"),
    (("layernorm", (2, 3, 4)), (3, 4), "input", "has 3 entries but the input only 2"),
    (("layernorm", ()), (3, 4), "normalized_shape", "at least one size"),
    (("instancenorm2d", 4), (4, 5), "input", "expects 3 entries"),
    (("instancenorm2d", 4), (4, 1, 1), "input", "more than 1 spatial element"),
    (("localresponsenorm", 0), (4, 3), "size", "positive"),
    (("localresponsenorm", 3), (4,), "input", "at least 2 entries"),
]


@pytest.mark.parametrize("args,shape,option,message", BAD, ids=[f"{b[0][0]}-{b[3]}" for b in BAD])
def test_bad_input_is_one_error(args, shape, option, message):
    name, *rest = args
    with pytest.raises(ConvcalcError, match=message) as info:
        LAYERS[name](*rest).report(shape)
    assert info.value.option == option


def test_affine_instancenorm_refuses_other_channels_but_plain_one_only_notes_them():
    with pytest.raises(ConvcalcError, match="channels but num_features is 4"):
        LAYERS["instancenorm2d"](4, affine=True).report((3, 5, 5))
    r = LAYERS["instancenorm2d"](4).report((3, 5, 5))  # PyTorch warns and normalises the 3 channels
    assert r.params == 0 and any("only warns" in n for n in r.notes)


def test_groupnorm_one_value_per_group_is_refused_only_for_a_batch_of_one():
    with pytest.raises(ConvcalcError, match="more than 1 value per group"):
        LAYERS["groupnorm"](6, 6).report((6,), batch=1)
    assert LAYERS["groupnorm"](6, 6).report((6,), batch=2).params == 12


def test_tracked_instancenorm_with_one_spatial_element_runs_in_eval_but_not_in_training():
    layer = LAYERS["instancenorm2d"](3, track_running_stats=True)
    assert layer.report((3, 1, 1), batch=2).mults == 6  # (x - running_mean)*invstd, 6 elements
    with pytest.raises(ConvcalcError, match="more than 1 spatial element when training"):
        layer.report((3, 1, 1), batch=2, training=Training())


def test_symbolic_groupnorm_assumes_divisibility_and_says_so():
    r = LAYERS["groupnorm"].build(parse_shape("C,H,W"), {"num_groups": 32}).report(parse_shape("C,H,W"))
    assert any("assumes num_groups 32 divides" in n for n in r.notes)
    r = LAYERS["groupnorm"].build(parse_shape("3*C,H"), {"num_groups": 2}).report(parse_shape("3*C,H"))  # odd or even: open
    assert any("assumes num_groups 2 divides" in n for n in r.notes)
    with pytest.raises(ConvcalcError, match="divisible"):  # 2*C + 1 is odd whatever C
        LAYERS["groupnorm"].build(parse_shape("2*C + 1,H"), {"num_groups": 2})
    # 2*C is even: known to divide, no note
    r = LAYERS["groupnorm"].build(parse_shape("2*C,H"), {"num_groups": 2}).report(parse_shape("2*C,H"))
    assert not r.notes


CLI_BAD = [
    (["groupnorm", "--input", "6,4", "--num-groups", "4"], "convcalc groupnorm: --num-groups:"),
    (["groupnorm", "--input", "6,4"], "convcalc groupnorm: --num-groups:"),
    (["layernorm", "--input", "3,4", "--normalized-shape", "5"], "convcalc layernorm: --input:"),
    (["layernorm", "--input", "3,4", "--normalized-shape", "abc("], "convcalc layernorm: --normalized-shape:"),
    (["instancenorm1d", "--input", "4,1"], "convcalc instancenorm1d: --input:"),
    (["localresponsenorm", "--input", "4,3", "--size", "0"], "convcalc localresponsenorm: --size:"),
    (["localresponsenorm", "--input", "4,3", "--size", "3", "--beta", "nan"], "convcalc localresponsenorm: --beta:"),
]


@pytest.mark.parametrize("args,prefix", CLI_BAD, ids=[" ".join(a[:1] + a[-2:]) for a, _ in CLI_BAD])
def test_cli_bad_input_one_line_exit_2(args, prefix):
    proc = subprocess.run([sys.executable, "-m", "convcalc", *args], capture_output=True, text=True,
                          env={"PYTHONPATH": str(Path(__file__).parent.parent), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == "" and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(prefix), proc.stderr
