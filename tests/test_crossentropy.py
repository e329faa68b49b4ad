"""Softmax's backward and the crossentropy layer: the kernels run on counting numbers and checked
against finite differences, the K x K Jacobian route beside the fused gradient, symbolic hand
formulas, and bad input."""

import json
import math
import random
import subprocess
import sys

import pytest
import sympy as sp

from convcalc import LAYERS, ConvcalcError
from convcalc.expr import symbol
from convcalc.layers.training import Training

from test_backward_simple import Tally, book, fd, total

TRAIN = Training(input_grad=True)

#: the layers whose backward this file checks by brute force or by hand (read by test_registry_backward)
BRUTE_FORCE = {"crossentropy", "softmax"}
FUSED = "dL/dx = (p - p*)*g/M (fused with cross-entropy, M rows)"
JACOBIAN_ROUTE = "dL/dx = J^T dL/dp (unfused)"


def _jacobian_name(work):
    return next(name for name in work if name.startswith("softmax Jacobian"))


def softmax(xs):
    e = [math.exp(v) for v in xs]
    s = sum(e)
    return [v / s for v in e]


@pytest.mark.parametrize("shape,dim,batch", [((5,), -1, 2), ((3, 4), 1, 1), ((3, 4), -1, 3), ((2, 3, 2), 2, 2)])
def test_softmax_backward_by_counting(shape, dim, batch):
    layer = LAYERS["softmax"](dim=dim)
    r = layer.report(shape, batch=batch, training=TRAIN)
    i = layer.axis(shape)
    n, rows = shape[i], batch * math.prod(shape) // shape[i]
    rng = random.Random(str(shape))
    fused, jac, build = book(), book(), book()
    for _ in range(rows):
        xs = [rng.uniform(-2, 2) for _ in range(n)]
        gs = [rng.uniform(-1, 1) for _ in range(n)]
        y = softmax(xs)
        # PyTorch's: y*(g - sum(g*y))
        yt, gt = [Tally(v, fused) for v in y], [Tally(v, fused) for v in gs]
        dot = total([a * b for a, b in zip(gt, yt)])
        dx = [yy * (gg - dot) for yy, gg in zip(yt, gt)]
        # the Jacobian route: J = diag(y) - y y^T built, then J^T g
        yj = [Tally(v, build) for v in y]
        products = [[yj[a] * yj[b] for b in range(n)] for a in range(n)]
        # diagonal y_a - y_a^2 (an add); off the diagonal -y_a*y_b (a sign, not counted)
        J = [[(yj[a] - products[a][b]) if a == b else Tally(-products[a][b].v, build) for b in range(n)] for a in range(n)]
        J = [[Tally(v.v, jac) for v in row] for row in J]
        gj = [Tally(v, jac) for v in gs]
        jt = [total([J[a][b] * gj[a] for a in range(n)]) for b in range(n)]
        for b in range(n):
            want = sum(gs[a] * fd(lambda v, a=a: softmax(v)[a], xs, b) for a in range(n))
            assert dx[b].v == pytest.approx(want, abs=1e-6)
            assert jt[b].v == pytest.approx(want, abs=1e-6)
    got = r.backward["grad_input"]
    assert (got["mults"], got["adds"], got["transcendentals"]) == (fused["mults"], fused["adds"], 0)
    assert [s["name"] for s in r.saved] == ["output"] and r.saved[0]["tensor"] == "output"
    work = r.work
    assert (work[JACOBIAN_ROUTE]["mults"], work[JACOBIAN_ROUTE]["adds"]) == (jac["mults"], jac["adds"])
    # building J: the n^2 products y_a*y_b, and the n diagonal subtractions
    assert (work[_jacobian_name(work)]["mults"], work[_jacobian_name(work)]["adds"]) == (rows * n * n, rows * n)
    assert build["mults"] == rows * n * n and build["adds"] == rows * n
    assert r.gradients["dy/dx"] == tuple(shape) + tuple(shape)


def test_softmax_work_only_with_training():
    assert LAYERS["softmax"]().report((10,)).work is None
    assert "Work" not in _cli("softmax", "--input", "10").stdout
    out = _cli("softmax", "--input", "10", "--training").stdout
    assert "Work" in out and "Jacobian" in out


def cross_entropy(flat, K, targets):
    rows = [flat[i * K:(i + 1) * K] for i in range(len(targets))]
    return -sum(math.log(softmax(r)[t]) for r, t in zip(rows, targets)) / len(targets)


@pytest.mark.parametrize("shape,batch", [((5,), 3), ((4,), 1), ((3, 2), 2), ((2, 2, 3), 2)])
def test_crossentropy_forward_and_fused_backward_by_counting(shape, batch):
    K, rows = shape[0], batch * math.prod(shape[1:])
    rng = random.Random(str(shape))
    xs = [rng.uniform(-2, 2) for _ in range(rows * K)]
    targets = [rng.randrange(K) for _ in range(rows)]
    fwd, bwd = book(), book()
    picked, logps = [], []
    for m in range(rows):
        x = [Tally(v, fwd) for v in xs[m * K:(m + 1) * K]]
        lse = total([v.f(math.exp) for v in x]).f(math.log)
        logp = [v - lse for v in x]
        logps.append([v.v for v in logp])
        picked.append(logp[targets[m]])
    loss = total(picked) / -rows
    assert loss.v == pytest.approx(cross_entropy(xs, K, targets))
    g = Tally(1.0, bwd)
    scale = g / rows
    grads = []
    for m in range(rows):
        p = [Tally(v, bwd).f(math.exp) for v in logps[m]]
        p[targets[m]] = p[targets[m]] - 1
        grads += [v * scale for v in p]
    for i in range(0, len(xs), 2):
        assert grads[i].v == pytest.approx(fd(lambda v: cross_entropy(v, K, targets), xs, i), abs=1e-6)
    r = LAYERS["crossentropy"]().report(shape, batch=batch, training=TRAIN)
    assert (r.mults, r.adds, r.transcendentals) == (fwd["mults"], fwd["adds"], fwd["transcendentals"])
    assert r.flops == fwd["mults"] + fwd["adds"]
    got = r.backward["grad_input"]
    assert (got["mults"], got["adds"], got["transcendentals"]) == (bwd["mults"], bwd["adds"], bwd["transcendentals"])
    assert r.work[FUSED]["flops"] == got["flops"]
    assert r.training_counts["forward"]["adds"] == r.adds and r.training_counts["forward"]["mults"] == r.mults
    assert r.training_flops == r.flops + got["flops"]
    assert r.output_shape == () and r.activation_bytes == 4


def test_crossentropy_symbolic_hand_formulas():
    K, B, H = symbol("K"), symbol("B"), symbol("H")
    r = LAYERS["crossentropy"]().report((K, H), batch=B, training=TRAIN)
    M = B * H
    assert sp.expand(r.adds - (2 * K * M - 1)) == 0 and r.mults == 1
    assert sp.expand(r.transcendentals - M * (K + 1)) == 0
    bw = r.backward["grad_input"]
    assert sp.expand(bw["mults"] - (K * M + 1)) == 0 and sp.expand(bw["adds"] - M) == 0
    # the K x K Jacobian route costs K^2 per row where the fused gradient costs K
    assert sp.expand(r.work[JACOBIAN_ROUTE]["mults"] - (K**2 * M + M + 1)) == 0
    assert sp.expand(r.work[_jacobian_name(r.work)]["mults"] - K**2 * M) == 0
    assert sp.expand(r.saved_bytes - (4 * K * M + 8 * M + 4)) == 0
    for k, b, h in ((10, 4, 1), (3, 2, 5)):
        n = LAYERS["crossentropy"]().report((k, h), batch=b, training=TRAIN)
        assert n.adds == r.adds.subs({K: k, B: b, H: h}) and n.saved_bytes == r.saved_bytes.subs({K: k, B: b, H: h})


def test_the_fused_gradient_is_cheaper_than_the_jacobian_route():
    r = LAYERS["crossentropy"]().report((1000,), batch=32, training=TRAIN)
    assert r.work[FUSED]["flops"] * 100 < r.work[JACOBIAN_ROUTE]["flops"]


@pytest.mark.parametrize("kwargs,shape,match", [
    ({"reduction": "sum"}, (10,), "reduction='mean' only"),
    ({"reduction": "none"}, (10,), "reduction='mean' only"),
    ({"label_smoothing": 0.1}, (10,), "unknown argument"),
    ({}, (), "is empty"),
    ({}, (0,), "must be positive"),
])
def test_bad_crossentropy_input(kwargs, shape, match):
    with pytest.raises(ConvcalcError, match=match):
        LAYERS["crossentropy"](**kwargs).report(shape)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "convcalc", *args], capture_output=True, text=True, timeout=60)


def test_crossentropy_cli():
    ok = _cli("crossentropy", "--input", "10", "--batch", "4", "--training", "-f", "json")
    assert ok.returncode == 0
    data = json.loads(ok.stdout)
    assert data["output_shape"] == [] and data["backward"]["grad_input"]["mults"] == 41 and data["saved_bytes"] == 196
    assert data["work"][FUSED]["flops"] == 45 and data["work"][JACOBIAN_ROUTE]["flops"] == 765
    bad = _cli("crossentropy", "--input", "10", "--reduction", "sum")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().startswith("convcalc crossentropy: --reduction:") and len(bad.stderr.strip().splitlines()) == 1
