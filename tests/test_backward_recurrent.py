"""Backpropagation through time: rnn/gru/lstm against PyTorch's backward (FlopCounterMode and the
tensors autograd saves, tests/golden/torch_backward_golden.json), the exact mults/adds against a
brute-force BPTT that computes the gradients element by element (checked against finite
differences) and counts every product and sum, symbolic == numeric substituted."""

import json
import math
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convcalc import LAYERS
from convcalc.expr import symbol
from convcalc.layers.mdrnn import MDRNN
from convcalc.layers.recurrent import GRU, LSTM, RNN, AttentionRNN, GatedRNN
from convcalc.layers.recurrent_backward import attention_pairs
from convcalc.layers.training import Training
from convcalc.sizes import substitute

#: the layers whose backward this file checks by brute force or by hand (read by test_registry_backward)
BRUTE_FORCE = {"rnn", "gru", "lstm", "gated-rnn", "attention-rnn", "mdrnn"}

BACKWARD_GOLDEN = Path(__file__).parent / "golden" / "torch_backward_golden.json"
CASES = [c for c in json.loads(BACKWARD_GOLDEN.read_text())["cases"] if c["layer"] in ("rnn", "gru", "lstm")]
RUNS = [(c, run) for c in CASES for run in c["runs"]]


def _id(item):
    c, run = item
    return f"{c['layer']}-{json.dumps(c['kwargs'], sort_keys=True)}-{c['input']}-b{c['batch']}-grad{run['input_grad']}"


def _report(case, input_grad):
    return LAYERS[case["layer"]](**case["kwargs"]).report(tuple(case["input"]), batch=case["batch"],
                                                          training=Training(input_grad=input_grad))


def test_golden_covers_every_recurrent_option():
    kinds = {c["layer"] for c in CASES}
    assert kinds == {"rnn", "gru", "lstm"}
    kw = [c["kwargs"] for c in CASES]
    assert any(k.get("dropout") for k in kw) and any(k.get("proj_size") for k in kw)
    assert any(k["bidirectional"] for k in kw) and any(not k["bias"] for k in kw)
    assert any(k["num_layers"] > 1 for k in kw) and any(k.get("nonlinearity") == "relu" for k in kw)
    assert {run["input_grad"] for _, run in RUNS} == {True, False}


@pytest.mark.parametrize("item", RUNS, ids=_id)
def test_backward_matches_pytorch(item):
    """FlopCounterMode counts 2 flops per multiply-accumulate of the backward's mm; saved bytes
    are everything autograd saved except parameters, by distinct storage."""
    case, run = item
    r = _report(case, run["input_grad"])
    assert 2 * r.backward["total"]["macs"] == run["backward_flops"]
    assert r.saved_bytes == run["saved_activation_bytes"]
    # PyTorch's parameter names and gradient shapes
    grads = {k: tuple(v) for k, v in run["grad_shapes"].items() if k != "input"}
    assert {k: tuple(v) for k, v in r.gradients.items() if k in grads} == grads
    assert not [k for k in r.gradients if k.startswith(("weight_", "bias_")) and k not in grads]


# -- PyTorch's backward op by op (tests/golden/make_rnn_backward_ops.py) ------------------------------

OPS = json.loads((Path(__file__).parent / "golden" / "rnn_backward_ops.json").read_text())["cases"]
#: ops that move, view or create tensors without arithmetic
FREE = {"cat", "detach", "expand", "ones_like", "select", "slice", "stack", "t", "view", "zeros", "new_zeros", "copy_",
        "clone", "as_strided", "unbind", "squeeze", "unsqueeze", "zero_", "new_empty_strided", "_unsafe_view", "permute",
        "transpose"}


def _counted(ops):
    """The counting convention applied to PyTorch's ops: a product of n terms per element costs n
    mults and n - 1 adds; sigmoid'/tanh' 2 mults and 1 add per element; a sign flip a mult; a
    relu mask a comparison; a sum of n elements n - 1 adds."""
    c = {"mults": 0, "adds": 0, "comparisons": 0, "macs": 0}
    for name, e in ops.items():
        n = e["elements"]
        if name in ("mm", "addmm"):
            c["mults"] += e["mkn"]
            c["macs"] += e["mkn"]
            c["adds"] += e["mkn"] - e["mn"] + (n if name == "addmm" else 0)
        elif name in ("mul", "mul_", "neg", "div"):
            c["mults"] += n
        elif name in ("add", "add_", "sub", "sub_"):
            c["adds"] += n
            c["mults"] += e.get("scaled", 0)
        elif name == "bmm":
            c["mults"] += e["mkn"]
            c["macs"] += e["mkn"]
            c["adds"] += e["mkn"] - e["mn"]
        elif name == "_softmax_backward_data":  # a*(g - sum(g*a)) per row of n: 2n mults, 2n - 1 adds
            c["mults"] += 2 * n
            c["adds"] += 2 * n - e["rows"]
        elif name in ("sigmoid_backward", "tanh_backward"):
            c["mults"] += 2 * n
            c["adds"] += n
        elif name == "threshold_backward":
            c["comparisons"] += n
        elif name == "sum":
            c["adds"] += e["in"] - n
        else:
            assert name in FREE, f"an op the convention does not know: {name}"
    return c


def test_op_record_covers_the_golden_cases():
    assert len(OPS) == len(CASES) and all(len(c["runs"]) == 2 for c in OPS)


@pytest.mark.parametrize("case", OPS, ids=lambda c: f"{c['layer']}-{json.dumps(c['kwargs'], sort_keys=True)}-{c['input']}-b{c['batch']}")
def test_backward_counts_equal_pytorchs_ops(case):
    """Every elementwise op and matrix product PyTorch's backward ran, counted: mults, adds,
    comparisons and macs equal convcalc's, with and without the input's gradient."""
    for run in case["runs"]:
        r = _report(case, run["input_grad"])
        assert {k: r.backward["total"][k] for k in ("mults", "adds", "comparisons", "macs")} == _counted(run["ops"])


COURSE = json.loads((Path(__file__).parent / "golden" / "course_rnn_backward.json").read_text())["cases"]


@pytest.mark.parametrize("case", COURSE, ids=lambda c: f"{c['layer']}-{json.dumps(c['kwargs'], sort_keys=True)}-{c['input']}-b{c['batch']}")
def test_course_cells_equal_their_pytorch_recipe(case):
    """gated-rnn, attention-rnn and mdrnn written in PyTorch as its recurrent layers run
    (tests/golden/make_course_rnn_backward.py): the backward's ops counted, and the activations
    autograd saved, equal convcalc's, trained, without the input's gradient, and frozen."""
    layer = LAYERS[case["layer"]](**case["kwargs"])
    for run in case["runs"]:
        training = Training(input_grad=run["input_grad"], frozen=run["frozen"])
        r = layer.report(tuple(case["input"]), batch=case["batch"], training=training)
        assert {k: r.backward["total"][k] for k in ("mults", "adds", "comparisons", "macs")} == _counted(run["ops"]), run
        assert r.saved_bytes == 4 * run["saved_elements"], run


# -- brute force: BPTT element by element, every product and sum counted ---------------------------


class Ops:
    """Counts the mults, adds and comparisons the hand-written backward performs."""

    def __init__(self):
        self.mults = self.adds = self.comparisons = 0

    def mul(self, a, b):
        self.mults += 1
        return a * b

    def add(self, a, b):
        self.adds += 1
        return a + b

    def dot(self, xs, ys):
        """A sum of n products: n mults, n - 1 adds."""
        total = None
        for x, y in zip(xs, ys):
            p = self.mul(x, y)
            total = p if total is None else self.add(total, p)
        return total

    def total(self, xs):
        xs = list(xs)
        out = xs[0]
        for x in xs[1:]:
            out = self.add(out, x)
        return out


def _sig(v):
    return 1 / (1 + math.exp(-v))


def _cell_forward(kind, z, cp):
    """PyTorch's cell on one sample's gate pre-activations z (G*H): (h, c, cache)."""
    H = len(z) // {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4}[kind]
    if kind == "rnn_tanh":
        h = [math.tanh(v) for v in z]
        return h, None, h
    if kind == "rnn_relu":
        h = [max(v, 0.0) for v in z]
        return h, None, h
    i = [_sig(v) for v in z[:H]]
    f = [_sig(v) for v in z[H:2 * H]]
    g = [math.tanh(v) for v in z[2 * H:3 * H]]
    o = [_sig(v) for v in z[3 * H:]]
    c = [f[j] * cp[j] + i[j] * g[j] for j in range(H)]
    tc = [math.tanh(v) for v in c]
    return [o[j] * tc[j] for j in range(H)], c, (i, f, g, o, tc)


def _bptt(kind, T, B, D, H, seed, ops=None, params=None, x=None):
    """loss = sum of every output h[t]; returns (loss, grads) and counts every op in `ops`."""
    rnd = random.Random(seed)
    G = {"lstm": 4, "gru": 3}.get(kind, 1)
    if params is None:
        params = {"Wih": [[rnd.uniform(-1, 1) for _ in range(D)] for _ in range(G * H)],
                  "Whh": [[rnd.uniform(-1, 1) for _ in range(H)] for _ in range(G * H)],
                  "bih": [rnd.uniform(-1, 1) for _ in range(G * H)], "bhh": [rnd.uniform(-1, 1) for _ in range(G * H)]}
        x = [[[rnd.uniform(-1, 1) for _ in range(D)] for _ in range(B)] for _ in range(T)]
    Wih, Whh, bih, bhh = params["Wih"], params["Whh"], params["bih"], params["bhh"]
    zero = [0.0] * H
    hs, cs, caches = {}, {}, {}
    loss = 0.0
    for b in range(B):
        hp, cp = zero, zero
        for t in range(T):
            zi = [sum(Wih[r][i] * x[t][b][i] for i in range(D)) + bih[r] for r in range(G * H)]
            zh = [sum(Whh[r][k] * hp[k] for k in range(H)) + bhh[r] for r in range(G * H)]
            if kind == "gru":  # PyTorch's r, z, n; h' = (h - n)*z + n
                rg = [_sig(zi[j] + zh[j]) for j in range(H)]
                zg = [_sig(zi[H + j] + zh[H + j]) for j in range(H)]
                n = [math.tanh(zi[2 * H + j] + rg[j] * zh[2 * H + j]) for j in range(H)]
                h, c, cache = [(hp[j] - n[j]) * zg[j] + n[j] for j in range(H)], None, (rg, zg, n, zh[2 * H:], hp)
            else:
                h, c, cache = _cell_forward(kind, [a + v for a, v in zip(zi, zh)], cp)
            hs[t, b], cs[t, b], caches[t, b] = h, c, cache
            loss += sum(h)
            hp, cp = h, c
    if ops is None:
        return loss, None
    # the backward, step by step from the last; dz[t, b] are the gate gradients
    dz, dzh = {}, {}
    for b in range(B):
        dh_next, dc_next = None, None
        for t in reversed(range(T)):
            gh = [1.0] * H  # d(sum)/dh[t]
            if dh_next is not None:  # and step t + 1's W_hh^T delta: a second gradient
                gh = [ops.add(a, v) for a, v in zip(gh, dh_next)]
            if kind == "rnn_tanh":
                y = caches[t, b]
                d = [ops.mul(g, ops.add(1, -ops.mul(v, v))) for g, v in zip(gh, y)]
            elif kind == "rnn_relu":
                d = []
                for g, v in zip(gh, caches[t, b]):
                    ops.comparisons += 1
                    d.append(g if v > 0 else 0.0)
            elif kind == "gru":
                rg, zg, n, hn, hp = caches[t, b]
                dd = [ops.mul(a, v) for a, v in zip(gh, zg)]  # d(h - n)
                gz = [ops.mul(a, hp[j] - n[j]) for j, a in enumerate(gh)]  # d (the saved clone of h - n)
                gn = [ops.add(a, ops.mul(-1, v)) for a, v in zip(gh, dd)]  # from + n and from h - n
                gpre = [ops.mul(a, ops.add(1, -ops.mul(v, v))) for a, v in zip(gn, n)]
                ghn = [ops.mul(a, v) for a, v in zip(gpre, rg)]
                gr = [ops.mul(a, v) for a, v in zip(gpre, hn)]
                sig = lambda gr_, y: [ops.mul(ops.mul(a, ops.add(1, -v)), v) for a, v in zip(gr_, y)]  # noqa: E731
                dr, dzz = sig(gr, rg), sig(gz, zg)
                d = dr + dzz + gpre
                dzh[t, b] = dr + dzz + ghn
                direct = dd
            else:
                i, f, g, o, tc = caches[t, b]
                cp = cs[t - 1, b] if t else zero
                go = [ops.mul(a, v) for a, v in zip(gh, tc)]
                gtc = [ops.mul(a, v) for a, v in zip(gh, o)]
                gc = [ops.mul(a, ops.add(1, -ops.mul(v, v))) for a, v in zip(gtc, tc)]
                if dc_next is not None:
                    gc = [ops.add(a, v) for a, v in zip(gc, dc_next)]
                gf = [ops.mul(a, v) for a, v in zip(gc, cp)]
                dc_next = [ops.mul(a, v) for a, v in zip(gc, f)] if t else None
                gi = [ops.mul(a, v) for a, v in zip(gc, g)]
                gg = [ops.mul(a, v) for a, v in zip(gc, i)]
                sig = lambda gr, y: [ops.mul(ops.mul(a, ops.add(1, -v)), v) for a, v in zip(gr, y)]  # noqa: E731
                d = sig(gi, i) + sig(gf, f) + [ops.mul(a, ops.add(1, -ops.mul(v, v))) for a, v in zip(gg, g)] + sig(go, o)
            dz[t, b] = d
            dh = dzh.get((t, b), d)
            # dL/dh[t-1] = delta W_hh (h[-1] = 0 needs none); gru: plus d(h - n)
            dh_next = [ops.dot([dh[r] for r in range(G * H)], [Whh[r][k] for r in range(G * H)]) for k in range(H)] if t else None
            if kind == "gru" and t:
                dh_next = [ops.add(a, v) for a, v in zip(dh_next, direct)]
    rows = [(t, b) for t in range(T) for b in range(B)]
    ops.through_time = (ops.mults, ops.adds, ops.comparisons)  # what either gradient needs
    hprev = {(t, b): (hs[t - 1, b] if t else zero) for t, b in rows}
    grads = {
        "Whh": [[ops.dot([dzh.get(tb, dz[tb])[r] for tb in rows], [hprev[tb][k] for tb in rows]) for k in range(H)]
                for r in range(G * H)],
        "Wih": [[ops.dot([dz[tb][r] for tb in rows], [x[tb[0]][tb[1]][i] for tb in rows]) for i in range(D)] for r in range(G * H)],
        "bih": [ops.total(dz[tb][r] for tb in rows) for r in range(G * H)],
        "bhh": [ops.total(dzh.get(tb, dz[tb])[r] for tb in rows) for r in range(G * H)],
    }
    weight_ops = (ops.mults, ops.adds, ops.comparisons)
    grads["x"] = [[[ops.dot([dz[t, b][r] for r in range(G * H)], [Wih[r][i] for r in range(G * H)]) for i in range(D)]
                   for b in range(B)] for t in range(T)]
    return loss, grads, weight_ops, params, x


def _finite_difference_check(kind, T, B, D, H, seed, grads, params, x):
    eps = 1e-6

    def loss_with(name, idx, delta):
        p = json.loads(json.dumps(params))
        xx = json.loads(json.dumps(x))
        target = xx if name == "x" else p[name]
        for i in idx[:-1]:
            target = target[i]
        target[idx[-1]] += delta
        return _bptt(kind, T, B, D, H, seed, params=p, x=xx)[0]

    for name, idx in (("Whh", (0, H - 1)), ("Whh", (len(params["Whh"]) - 1, 0)), ("Wih", (H - 1, 0)), ("bhh", (0,)), ("x", (0, B - 1, D - 1))):
        numeric = (loss_with(name, idx, eps) - loss_with(name, idx, -eps)) / (2 * eps)
        g = grads[name]
        for i in idx:
            g = g[i]
        assert abs(numeric - g) < 1e-4, (name, numeric, g)


@pytest.mark.parametrize("kind", ["rnn_tanh", "rnn_relu", "gru", "lstm"])
@pytest.mark.parametrize("T,B,D,H", [(1, 1, 2, 2), (2, 1, 2, 3), (3, 2, 3, 2), (3, 1, 1, 1), (2, 3, 2, 2)])
def test_bptt_counts_equal_brute_force(kind, T, B, D, H):
    """A 1-layer cell's backward written out element by element (its gradients checked against
    finite differences) performs exactly the mults, adds and comparisons convcalc reports."""
    ops = Ops()
    _, grads, weight_ops, params, x = _bptt(kind, T, B, D, H, seed=T * 100 + B * 10 + D + H, ops=ops)
    _finite_difference_check(kind, T, B, D, H, T * 100 + B * 10 + D + H, grads, params, x)
    layer = {"lstm": LSTM(D, H), "gru": GRU(D, H)}.get(kind) or RNN(D, H, nonlinearity=kind[4:])
    bw = layer.report((T, D), batch=B, training=Training()).backward
    assert (bw["grad_weight"]["mults"], bw["grad_weight"]["adds"], bw["grad_weight"]["comparisons"]) == weight_ops
    dx = (ops.mults - weight_ops[0], ops.adds - weight_ops[1], ops.comparisons - weight_ops[2])
    assert (bw["grad_input"]["mults"], bw["grad_input"]["adds"], bw["grad_input"]["comparisons"]) == dx
    # without the input's gradient: exactly dL/dx less; a frozen layer: exactly dW and db less
    no_dx = layer.report((T, D), batch=B, training=Training(input_grad=False)).backward["total"]
    assert (no_dx["mults"], no_dx["adds"], no_dx["comparisons"]) == weight_ops
    frozen = layer.report((T, D), batch=B, training=Training(frozen=True)).backward["total"]
    assert (frozen["mults"], frozen["adds"], frozen["comparisons"]) == tuple(
        a + b for a, b in zip(ops.through_time, dx))


# a frozen layer whose input needs a gradient: tests/test_golden_backward.py against PyTorch
# (tests/golden/make_frozen_backward_golden.py)


# -- AttentionRNN(k): which later steps feed dL/dh[t] -------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3, 5, "inf"])
@pytest.mark.parametrize("T", [1, 2, 3, 4, 7])
def test_attention_pairs_enumerated(k, T):
    """E = the pairs (t, t') with t < t' <= t + k, t' <= T: enumerated."""
    lag = T if k == "inf" else k
    pairs = [(t, tp) for t in range(1, T + 1) for tp in range(t + 1, min(t + lag, T) + 1)]
    layer = AttentionRNN(3, 4, k)
    S, NP, NM, E = attention_pairs(layer, T)
    assert E == len(pairs)
    steps_terms = [1 + (t - 1 if k == "inf" else k) for t in range(1, T + 1)]
    assert S == sum(steps_terms)
    r = layer.report((T, 3), training=Training())
    feeds = "t + 1 ... T" if k == "inf" else f"t + 1 ... min(t + {k}, T)"
    assert any(feeds in n and f": {len(pairs)} pairs" in n for n in r.notes)
    listing = "; ".join(f"h[{t}] <- " + (", ".join(str(u) for a, u in pairs if a == t) or "none") for t in range(1, T + 1))
    assert f"later steps feeding dL/dh[t]: {listing}" in r.notes
    # each pair routes one gradient of m = 4 elements into h[t]; the products through [Q_i; K_i; V_i]
    # are m*(2*dk + m) per pair: E more pairs, E more of those
    if T > 1:
        fewer = AttentionRNN(3, 4, k).report((T - 1, 3), training=Training()).backward["grad_weight"]
        assert r.backward["grad_weight"]["macs"] > fewer["macs"]


# -- symbolic == numeric substituted -------------------------------------------------------------------

D_, H_, T_, B_ = symbol("D"), symbol("H"), symbol("T"), symbol("B")


def _layers(d, h):
    return {
        "rnn": lambda: RNN(d, h, num_layers=2, bidirectional=True),
        "rnn_relu": lambda: RNN(d, h, nonlinearity="relu", dropout=0.3, num_layers=3),
        "gru": lambda: GRU(d, h, num_layers=2),
        "lstm": lambda: LSTM(d, h, bidirectional=True, bias=False),
        "lstm_proj": lambda: LSTM(d, h, proj_size=2, num_layers=2, dropout=0.5),
        "gated": lambda: GatedRNN(d, h, bias=True),
        "attention": lambda: AttentionRNN(d, h, 2),
        "attention_inf": lambda: AttentionRNN(d, h, "inf"),
    }


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(sorted(_layers(1, 1))), d=st.integers(1, 6), h=st.integers(3, 7), t=st.integers(1, 6),
       b=st.integers(1, 3), input_grad=st.booleans(), frozen=st.booleans())
def test_symbolic_backward_equals_numeric(kind, d, h, t, b, input_grad, frozen):
    values = {"D": d, "H": h, "T": t, "B": b}
    training = Training(input_grad=input_grad, frozen=frozen)
    sym = _layers(D_, H_)[kind]().report((T_, D_), batch=B_, training=training)
    num = _layers(d, h)[kind]().report((t, d), batch=b, training=training)
    for part in ("grad_input", "grad_weight"):
        for key, value in num.backward[part].items():
            assert substitute(sym.backward[part][key], values) == value, (part, key)
    assert substitute(sym.saved_bytes, values) == num.saved_bytes
    assert substitute(sym.sequential_steps_backward, values) == num.sequential_steps_backward


@settings(max_examples=10, deadline=None)
@given(s1=st.integers(1, 5), s2=st.integers(1, 5), h=st.integers(1, 4), cell=st.sampled_from(["tanh", "lstm"]),
       scans=st.sampled_from([1, 2, 4]), layers=st.integers(1, 2), frozen=st.booleans())
def test_mdrnn_symbolic_backward_equals_numeric(s1, s2, h, cell, scans, layers, frozen):
    values = {"S": s1, "W": s2, "H": h}
    sym = MDRNN(3, symbol("H"), num_layers=layers, directions=scans, cell=cell).report(
        (3, symbol("S"), symbol("W")), training=Training(frozen=frozen))
    num = MDRNN(3, h, num_layers=layers, directions=scans, cell=cell).report((3, s1, s2), training=Training(frozen=frozen))
    for key, value in num.backward["total"].items():
        assert substitute(sym.backward["total"][key], values) == value, key
    assert substitute(sym.saved_bytes, values) == num.saved_bytes


def _gated_bptt(T, B, n, m, seed, ops=None, params=None, x=None):
    """The course's gated cell with biases, loss = sum of every h[t]; (loss, grads, weight ops)."""
    rnd = random.Random(seed)
    if params is None:
        mat = lambda r, c: [[rnd.uniform(-1, 1) for _ in range(c)] for _ in range(r)]  # noqa: E731
        params = {"Wc": mat(m, n), "Wx": mat(m, n), "Wh": mat(m, m), "bc": [rnd.uniform(-1, 1) for _ in range(m)],
                  "bx": [rnd.uniform(-1, 1) for _ in range(m)]}
        x = [[[rnd.uniform(-1, 1) for _ in range(n)] for _ in range(B)] for _ in range(T)]
    Wc, Wx, Wh, bc, bx = (params[k] for k in ("Wc", "Wx", "Wh", "bc", "bx"))
    zero = [0.0] * m
    cache, loss = {}, 0.0
    for b in range(B):
        hp = zero
        for t in range(T):
            u = [sum(Wx[j][i] * x[t][b][i] for i in range(n)) + bx[j] for j in range(m)]
            c = [_sig(sum(Wc[j][i] * x[t][b][i] for i in range(n)) + bc[j] + sum(Wh[j][k] * hp[k] for k in range(m))) for j in range(m)]
            h = [c[j] * hp[j] + (1 - c[j]) * u[j] for j in range(m)]
            cache[t, b] = (c, u, hp)
            loss += sum(h)
            hp = h
    if ops is None:
        return loss, None
    ga, gu = {}, {}
    for b in range(B):
        nxt = None
        for t in reversed(range(T)):
            c, u, hp = cache[t, b]
            gh = [1.0] * m if nxt is None else [ops.add(1.0, v) for v in nxt[0]]
            if nxt is not None:
                gh = [ops.add(a, v) for a, v in zip(gh, nxt[1])]
            g_omc = [ops.mul(a, v) for a, v in zip(gh, u)]
            gu[t, b] = [ops.mul(a, 1 - v) for a, v in zip(gh, c)]
            gc = [ops.add(ops.mul(a, v), ops.mul(-1, w)) for a, v, w in zip(gh, hp, g_omc)]
            ga[t, b] = [ops.mul(ops.mul(a, ops.add(1, -v)), v) for a, v in zip(gc, c)]
            nxt = ([ops.mul(a, v) for a, v in zip(gh, c)],
                   [ops.dot(ga[t, b], [Wh[j][k] for j in range(m)]) for k in range(m)]) if t else None
    rows = [(t, b) for t in range(T) for b in range(B)]
    ops.through_time = (ops.mults, ops.adds)
    grads = {"Wh": [[ops.dot([ga[r][j] for r in rows], [cache[r][2][k] for r in rows]) for k in range(m)] for j in range(m)],
             "Wc": [[ops.dot([ga[r][j] for r in rows], [x[r[0]][r[1]][i] for r in rows]) for i in range(n)] for j in range(m)],
             "Wx": [[ops.dot([gu[r][j] for r in rows], [x[r[0]][r[1]][i] for r in rows]) for i in range(n)] for j in range(m)],
             "bc": [ops.total(ga[r][j] for r in rows) for j in range(m)], "bx": [ops.total(gu[r][j] for r in rows) for j in range(m)]}
    weight_ops = (ops.mults, ops.adds)
    grads["x"] = [[[ops.add(ops.dot(ga[t, b], [Wc[j][i] for j in range(m)]), ops.dot(gu[t, b], [Wx[j][i] for j in range(m)]))
                    for i in range(n)] for b in range(B)] for t in range(T)]
    return loss, grads, weight_ops, params, x


@pytest.mark.parametrize("T,B,n,m", [(1, 1, 1, 1), (2, 1, 2, 3), (3, 2, 2, 2), (3, 1, 3, 1)])
def test_gated_rnn_counts_equal_brute_force(T, B, n, m):
    ops = Ops()
    _, grads, weight_ops, params, x = _gated_bptt(T, B, n, m, 7, ops=ops)
    eps = 1e-6
    for name, idx in (("Wh", (m - 1, 0)), ("Wc", (0, n - 1)), ("Wx", (m - 1, 0)), ("bx", (0,)), ("x", (T - 1, 0, n - 1))):
        def shifted(delta):
            p, xx = json.loads(json.dumps(params)), json.loads(json.dumps(x))
            target = xx if name == "x" else p[name]
            for i in idx[:-1]:
                target = target[i]
            target[idx[-1]] += delta
            return _gated_bptt(T, B, n, m, 7, params=p, x=xx)[0]
        g = grads[name]
        for i in idx:
            g = g[i]
        assert abs((shifted(eps) - shifted(-eps)) / (2 * eps) - g) < 1e-4, name
    bw = GatedRNN(n, m, bias=True).report((T, n), batch=B, training=Training()).backward
    assert (bw["grad_weight"]["mults"], bw["grad_weight"]["adds"]) == weight_ops
    assert (bw["grad_input"]["mults"], bw["grad_input"]["adds"]) == (ops.mults - weight_ops[0], ops.adds - weight_ops[1])
    frozen = GatedRNN(n, m, bias=True).report((T, n), batch=B, training=Training(frozen=True)).backward["total"]
    assert (frozen["mults"], frozen["adds"]) == (ops.through_time[0] + ops.mults - weight_ops[0],
                                                 ops.through_time[1] + ops.adds - weight_ops[1])


@pytest.mark.parametrize("cell,kind", [("tanh", RNN), ("lstm", LSTM)])
@pytest.mark.parametrize("S,B,D,H", [(1, 1, 2, 2), (4, 2, 3, 2), (5, 3, 1, 4)])
def test_mdrnn_on_a_line_is_the_recurrent_layer(cell, kind, S, B, D, H):
    """A 1-D grid is a sequence: MDRNN(tanh) is an RNN, MD-LSTM an LSTM, with one bias per gate."""
    md = MDRNN(D, H, cell=cell).report((D, S), batch=B, training=Training())
    seq = kind(D, H, bias_convention="single").report((S, D), batch=B, training=Training())
    assert md.backward == seq.backward
    assert md.saved_bytes == seq.saved_bytes
