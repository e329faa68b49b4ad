"""Pooling and batch normalisation backward by brute force: windows enumerated, argmaxes routed,
the minimum number of argmaxes found by exhaustive search, PyTorch's batch-norm kernel run on
counting numbers; and symbolic == numeric once substituted."""

import itertools
import math
import random

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from convcalc import LAYERS
from convcalc.expr import symbol
from convcalc.layers.training import Training
from convcalc.sizes import substitute

from test_backward_simple import CASES, Tally, _id, _layer, book, fd, total

#: the layers whose backward this file checks by brute force or by hand (read by test_registry_backward)
BRUTE_FORCE = {f"{kind}{n}d" for kind in ("maxpool", "avgpool", "adaptivemaxpool", "adaptiveavgpool", "batchnorm") for n in (1, 2, 3)}

TRAIN = Training(input_grad=True)


def windows_1d(L, n, k, s, d, p):
    """The real input positions of each of the n windows of one dimension."""
    return [frozenset(o * s - p + t * d for t in range(k)) & frozenset(range(L)) for o in range(n)]


def adaptive_1d(L, n):
    return [frozenset(range(i * L // n, -(-(i + 1) * L // n))) for i in range(n)]


def product(dims):
    return [frozenset(itertools.product(*ws)) for ws in itertools.product(*dims)]


def fewest(windows):
    """The fewest points meeting every window, by exhaustive search (and one such set)."""
    points = sorted(set().union(*windows))
    for size in range(1, len(windows) + 1):
        for combo in itertools.combinations(points, size):
            chosen = set(combo)
            if all(w & chosen for w in windows):
                return size, chosen
    raise AssertionError("no hitting set")


def routed_adds(windows, value):
    """dL/dx when each window's dL/dy goes to its argmax: adds = sum of (r - 1) over the inputs
    that receive r >= 1 terms."""
    hits = {}
    for w in windows:
        arg = max(w, key=lambda i: value[i])
        hits[arg] = hits.get(arg, 0) + 1
    return sum(r - 1 for r in hits.values())


def scattered_adds(windows):
    reads = {}
    for w in windows:
        for i in w:
            reads[i] = reads.get(i, 0) + 1
    return sum(r - 1 for r in reads.values())


def _dims(layer, shape, out):
    if layer.NAME.startswith("adaptive"):
        return [adaptive_1d(L, n) for L, n in zip(shape[1:], out[1:])]
    return [windows_1d(L, n, k, s, d, p)
            for L, n, k, s, d, p in zip(shape[1:], out[1:], layer.kernel_size, layer.stride, layer.dilation, layer.padding)]


MAXPOOL = [c for c in CASES if "maxpool" in c["layer"]]
AVGPOOL = [c for c in CASES if "avgpool" in c["layer"]]


@pytest.mark.parametrize("case", MAXPOOL, ids=_id)
def test_max_pool_backward_adds_are_the_most_routing_can_need(case):
    layer = _layer(case)
    shape, batch = tuple(case["input"]), case["batch"]
    r = layer.report(shape, batch=batch, training=TRAIN)
    dims = _dims(layer, shape, r.output_shape)
    taus, sets = zip(*(fewest(ws) for ws in dims))
    outputs = math.prod(len(ws) for ws in dims)
    assert r.backward["grad_input"]["adds"] == batch * shape[0] * (outputs - math.prod(taus))
    assert r.backward["grad_input"]["mults"] == r.backward["grad_input"]["comparisons"] == 0
    windows = product(dims)
    rng = random.Random(_id(case))
    # data whose maxima sit on the fewest points reaches the count; random data stays within it
    crowded = {i: rng.random() + (10 if all(x in s for x, s in zip(i, sets)) else 0) for i in set().union(*windows)}
    assert routed_adds(windows, crowded) == outputs - math.prod(taus)
    spread = {i: rng.random() for i in set().union(*windows)}
    assert routed_adds(windows, spread) <= outputs - math.prod(taus)


@pytest.mark.parametrize("seed", range(40))
def test_fewest_argmaxes_of_a_grid_is_the_product_of_its_dimensions(seed):
    """Exhaustive search over whole 2-D window sets (not one dimension at a time)."""
    rng = random.Random(seed)
    k = (rng.randint(1, 3), rng.randint(1, 3))
    layer = LAYERS["maxpool2d"](kernel_size=k, stride=(rng.randint(1, 3), rng.randint(1, 3)),
                                padding=tuple(rng.randint(0, x // 2) for x in k), dilation=(rng.randint(1, 2), rng.randint(1, 2)),
                                ceil_mode=rng.random() < 0.5)
    shape = (1, rng.randint(3, 5), rng.randint(3, 5))
    try:
        r = layer.report(shape, training=TRAIN)
    except Exception:
        return
    windows = [w for w in product(_dims(layer, shape, r.output_shape))]
    assert all(windows)
    assert r.backward["grad_input"]["adds"] == len(windows) - fewest(windows)[0]


@pytest.mark.parametrize("case", AVGPOOL, ids=_id)
def test_average_pool_backward_divides_once_and_scatters(case):
    layer = _layer(case)
    shape, batch = tuple(case["input"]), case["batch"]
    r = layer.report(shape, batch=batch, training=TRAIN)
    windows = product(_dims(layer, shape, r.output_shape))
    got = r.backward["grad_input"]
    if all(n == 1 for n in r.output_shape[1:]) and layer.NAME.startswith("adaptive"):
        # x.mean(): dL/dy expanded and divided at every input element
        assert got["mults"] == batch * math.prod(shape) and got["adds"] == 0
        return
    assert got["mults"] == batch * shape[0] * len(windows)
    assert got["adds"] == batch * shape[0] * scattered_adds(windows)


# -- batch normalisation ------------------------------------------------------------------------


def batchnorm_kernel(x, g, w, eps=1e-5):
    """PyTorch's CPU batch-norm backward (training) on Tally numbers; x, g: [b][c][j]."""
    B, C, P = len(x), len(x[0]), len(x[0][0])
    M = B * P
    dx = [[[None] * P for _ in range(C)] for _ in range(B)]
    dw = []
    for c in range(C):
        xs = [x[b][c][j] for b in range(B) for j in range(P)]
        gs = [g[b][c][j] for b in range(B) for j in range(P)]
        mean = sum(v.v for v in xs) / M
        invstd = 1 / math.sqrt(sum((v.v - mean) ** 2 for v in xs) / M + eps)
        s = total(gs)
        dotp = total([(xv - mean) * gv for xv, gv in zip(xs, gs)])
        k = dotp * invstd * invstd / M
        grad_mean = s / M
        for b in range(B):
            for j in range(P):
                d = (x[b][c][j] - mean) * k
                d = (g[b][c][j] - grad_mean - d) * invstd
                dx[b][c][j] = d * w[c] if w is not None else d
        dw.append(dotp * invstd)
    return dx, dw


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape,batch", [((2, 3), 2), ((3, 2, 2), 2), ((2,), 3), ((1, 2, 1, 3), 2)])
def test_batchnorm_backward_by_counting_pytorchs_kernel(shape, batch, affine):
    rng = random.Random(str(shape))
    C, P = shape[0], math.prod(shape[1:])
    xv = [[[rng.uniform(-2, 2) for _ in range(P)] for _ in range(C)] for _ in range(batch)]
    gv = [[[rng.uniform(-1, 1) for _ in range(P)] for _ in range(C)] for _ in range(batch)]
    wv = [rng.uniform(0.5, 2) for _ in range(C)] if affine else None
    tally = book()
    x = [[[Tally(v, tally) for v in row] for row in s] for s in xv]
    g = [[[Tally(v, tally) for v in row] for row in s] for s in gv]
    dx, dw = batchnorm_kernel(x, g, wv)
    name = f"batchnorm{len(shape) - 1 if len(shape) > 2 else 1}d"
    r = LAYERS[name](C, affine=affine).report(shape, batch=batch, training=TRAIN)
    got = r.backward
    # the tally holds dL/dW's C mults (dotp*invstd) too; its sums are dL/dx's
    assert (got["grad_input"]["mults"], got["grad_input"]["adds"]) == (tally["mults"] - C, tally["adds"])
    assert got["grad_weight"]["mults"] == (C if affine else 0) and got["grad_weight"]["adds"] == 0

    # the kernel computes the gradient of sum(g*y), y = batch_norm(x) with batch statistics
    def loss(flat):
        xs = [[[flat[(b * C + c) * P + j] for j in range(P)] for c in range(C)] for b in range(batch)]
        out = 0.0
        for c in range(C):
            vals = [xs[b][c][j] for b in range(batch) for j in range(P)]
            mean = sum(vals) / len(vals)
            inv = 1 / math.sqrt(sum((v - mean) ** 2 for v in vals) / len(vals) + 1e-5)
            for b in range(batch):
                for j in range(P):
                    out += gv[b][c][j] * (xs[b][c][j] - mean) * inv * (wv[c] if affine else 1)
        return out

    flat = [xv[b][c][j] for b in range(batch) for c in range(C) for j in range(P)]
    for i in range(0, len(flat), 3):
        b, rest = divmod(i, C * P)
        c, j = divmod(rest, P)
        assert dx[b][c][j].v == pytest.approx(fd(loss, flat, i), rel=1e-4, abs=1e-6)


def test_batchnorm_backward_symbolic_is_the_hand_formula():
    B, C, H, W = (symbol(n) for n in "BCHW")
    r = LAYERS["batchnorm2d"](C).report((C, H, W), batch=B, training=TRAIN)
    N = B * C * H * W
    assert sp.expand(r.backward["grad_input"]["mults"] - (4 * N + 4 * C)) == 0
    assert sp.expand(r.backward["grad_input"]["adds"] - (6 * N - 2 * C)) == 0
    assert sp.expand(r.backward["grad_weight"]["mults"] - C) == 0
    assert sp.expand(r.saved_bytes - (4 * N + 8 * C)) == 0
    assert r.gradients["weight"] == (C,) and r.gradients["bias"] == (C,)


# -- symbolic == numeric --------------------------------------------------------------------------

H, W = symbol("H"), symbol("W")


@settings(max_examples=40, deadline=None)
@given(k=st.integers(1, 4), s=st.integers(1, 3), d=st.integers(1, 3), pad=st.integers(0, 2), ceil=st.booleans(),
       h=st.integers(1, 30), w=st.integers(1, 30), maxpool=st.booleans())
def test_pool_backward_symbolic_equals_numeric(k, s, d, pad, ceil, h, w, maxpool):
    pad = min(pad, k // 2)
    if maxpool:
        layer = LAYERS["maxpool2d"](kernel_size=k, stride=s, padding=pad, dilation=d, ceil_mode=ceil)
    else:
        layer = LAYERS["avgpool2d"](kernel_size=k, stride=s, padding=pad, ceil_mode=ceil)
    try:
        numeric = layer.report((2, h, w), batch=3, training=TRAIN)
    except Exception:
        return
    symbolic = layer.report((2, H, W), batch=3, training=TRAIN)
    for key in ("mults", "adds"):
        value = symbolic.backward["grad_input"][key]
        if value is not None:
            assert substitute(value, {"H": h, "W": w}) == numeric.backward["grad_input"][key]
    assert substitute(symbolic.saved_bytes, {"H": h, "W": w}) == numeric.saved_bytes


@pytest.mark.parametrize("name,size", [("adaptivemaxpool2d", (3, 2)), ("adaptiveavgpool2d", (3, 2)), ("adaptivemaxpool1d", (1,)),
                                       ("adaptiveavgpool1d", (1,))])
def test_adaptive_symbolic(name, size):
    layer = LAYERS[name](output_size=size)
    shape = (2, H, W)[: len(size) + 1]
    r = layer.report(shape, batch=2, training=TRAIN)
    for h, w in ((6, 4), (7, 9), (3, 2)):
        n = layer.report((2, h, w)[: len(size) + 1], batch=2, training=TRAIN)
        for key in ("mults", "adds"):
            value = r.backward["grad_input"][key]
            if value is None:  # adaptive max with sizes that do not divide: unknown, never wrong
                assert name == "adaptivemaxpool2d" and key == "adds"
                continue
            assert substitute(value, {"H": h, "W": w}) == n.backward["grad_input"][key]
