"""multiheadattention counted by enumeration and by hand (issue 13).

- Attention pairs of causal and windowed masks enumerated over small T, S, W and appended keys,
  against ``effective_pairs``; their closed forms in T derived by hand, compared as SymPy
  expressions.
- The forward written out in plain Python on numbers that tally their operations (projections,
  the sqrt(scale) factors, scores, the float mask, _safe_softmax, attention times V, the output
  projection), once as the framework computes it (all T x S' scores) and once over the
  effective pairs only: convcalc's counts and its Work table must equal the tallies.
- PyTorch's own ops: the aten ops dispatched in each recorded forward and backward
  (tests/golden/attention_backward_golden.json, "forward_trace"/"backward_trace") counted by
  per-op rules written here (mm: M*K*N products, K - 1 adds per output; add: one per element;
  _safe_softmax: an exp, a division and an -inf test per element, n - 1 adds a row; ...):
  convcalc's forward and backward (mults, adds, comparisons, macs, transcendentals) must equal
  them, which checks every elementwise count the FLOP counter does not see.
- Total MACs and backward MACs of self-attention as closed forms in T, E, by hand.
"""

from __future__ import annotations

import itertools
import math

import pytest
import sympy as sp

from convcalc import LAYERS
from _family_golden import build, case_id, cases
from convcalc.layers.attention import attention_counts, attention_params, attention_work, effective_pairs
from convcalc.layers.training import Training

BRUTE_FORCE = {"multiheadattention"}

MHA = LAYERS["multiheadattention"]
KEYS = ("mults", "adds", "comparisons", "macs", "transcendentals")


# -- attention pairs ----------------------------------------------------------------------------


def pairs_by_enumeration(T: int, S: int, causal: bool, window, extra: int) -> int:
    """Query t (0-based) sees key s < S when s <= t and (window) s > t - W; appended keys always."""
    n = 0
    for t in range(T):
        for s in range(S):
            if (not causal and window is None) or (s <= t and (window is None or s > t - window)):
                n += 1
        n += extra
    return n


@pytest.mark.parametrize("T,S,window,extra", list(itertools.product(range(1, 8), range(1, 9), (None, 1, 2, 3, 5), (0, 1, 2))))
def test_effective_pairs_by_enumeration(T, S, window, extra):
    for causal in (False, True):
        if not causal and window is not None:
            causal = True  # a window implies causal
        got, notes = effective_pairs(T, S, causal, window, extra)
        assert got == pairs_by_enumeration(T, S, causal, window, extra) and notes == ()


def test_pair_closed_forms_in_T_by_hand():
    T, W, S = sp.symbols("T W S", positive=True, integer=True)
    causal, notes = effective_pairs(T, T, True)
    assert sp.simplify(causal - T * (T + 1) / 2) == 0 and notes == ()
    # a window W <= T: the first W queries see 1..W keys, the other T - W see W each
    windowed, notes = effective_pairs(T, T, True, W)
    assert sp.simplify(windowed - (W * (W + 1) / 2 + (T - W) * W)) == 0
    assert notes and "assume" in notes[0]  # T >= W is assumed and said
    for t in (5, 9, 12):  # and it is the enumeration at W = 4 <= T
        assert windowed.subs({T: t, W: 4}) == pairs_by_enumeration(t, t, True, 4, 0)
    # cross-attention with S >= T keys is causal self-attention's count; S unknown: assumed and said
    longer, notes = effective_pairs(T, T + 3, True)
    assert sp.simplify(longer - T * (T + 1) / 2) == 0 and notes == ()
    _, notes = effective_pairs(T, S, True)
    assert notes and "kv_len" in notes[0]


# -- the forward, tallied ------------------------------------------------------------------------


class N:
    """A number whose arithmetic is tallied in a shared dict: + adds, * and / mults, == comparisons, exp transcendentals."""

    __slots__ = ("v", "t")

    def __init__(self, v, t):
        self.v, self.t = v, t

    def _w(self, o):
        return o.v if isinstance(o, N) else o

    def __add__(self, o):
        self.t["adds"] += 1
        return N(self.v + self._w(o), self.t)

    def __mul__(self, o):
        self.t["mults"] += 1
        return N(self.v * self._w(o), self.t)

    def __truediv__(self, o):
        self.t["mults"] += 1
        return N(self.v / self._w(o) if self._w(o) else 0.0, self.t)  # a fully masked row: 0/0 -> 0 (_safe_softmax)

    def is_neg_inf(self):
        self.t["comparisons"] += 1
        return self.v == -math.inf

    def exp(self):
        self.t["transcendentals"] += 1
        return N(math.exp(self.v) if self.v != -math.inf else 0.0, self.t)


def dot(xs, ys, t, macs=True):
    """sum of products, left to right: len products, len - 1 adds (matrix products count MACs)."""
    acc = None
    for x, y in zip(xs, ys):
        p = x * y
        if macs:
            t["macs"] += 1
        acc = p if acc is None else acc + p
    return acc


def linear(rows, weight, bias, t):
    """rows x W^T (+ b): each output a dot product, then its bias add."""
    out = []
    for r in rows:
        o = [dot(r, w, t) for w in weight]
        out.append([oi + bi for oi, bi in zip(o, bias)] if bias is not None else o)
    return out


def tallied_forward(T, E, h, S=None, kdim=None, vdim=None, kv_heads=None, bias=True, causal=False, window=None,
                    extra=0, effective=False):
    """One sample of multi-head attention in plain Python, every operation tallied: what the math
    path computes (all T x S' scores, the mask added, _safe_softmax's -inf test), or only the
    effective pairs (effective=True)."""
    t = {k: 0 for k in KEYS}
    S = T if S is None else S
    kdim, vdim = kdim or E, vdim or E
    d = E // h
    hk = kv_heads or h
    kvd = hk * d
    v = lambda x: N(x, t)  # noqa: E731
    x = [[v(0.1 * (i + j)) for j in range(E)] for i in range(T)]
    key = [[v(0.2 * (i - j)) for j in range(kdim)] for i in range(S)]
    val = [[v(0.3 * (i + 2 * j)) for j in range(vdim)] for i in range(S)]
    W = lambda rows, cols: [[v(0.01 * (r - c)) for c in range(cols)] for r in range(rows)]  # noqa: E731
    B = lambda n: [v(0.02 * i) for i in range(n)] if bias else None  # noqa: E731
    q = linear(x, W(E, E), B(E), t)
    k = linear(key, W(kvd, kdim), B(kvd), t)
    vv = linear(val, W(kvd, vdim), B(kvd), t)
    # appended key positions: copies (bias_k/bias_v or zeros), nothing computed
    k += [[v(0.5) for _ in range(kvd)] for _ in range(extra)]
    vv += [[v(0.5) for _ in range(kvd)] for _ in range(extra)]
    keys = S + extra
    root = (1 / math.sqrt(d)) ** 0.5
    out = [[None] * E for _ in range(T)]
    for head in range(h):
        g = head // (h // hk)  # the key/value head this query head reads (repeated: a copy)
        qh = [[q[i][head * d + j] * root for j in range(d)] for i in range(T)]  # the math kernel scales q and k
        kh = [[k[s][g * d + j] * root for j in range(d)] for s in range(keys)]
        vh = [[vv[s][g * d + j] for j in range(d)] for s in range(keys)]
        for i in range(T):
            def seen(s):
                if s >= S:
                    return True
                return (not causal and window is None) or (s <= i and (window is None or s > i - window))
            cols = [s for s in range(keys) if seen(s)] if effective else list(range(keys))
            if not cols:  # a query that sees no key: nothing to compute (its output is the zero vector)
                for j in range(d):
                    out[i][head * d + j] = v(0.0)
                continue
            scores = [dot(qh[i], kh[s], t) for s in cols]
            if not effective and (causal or window is not None):
                scores = [sc + (0.0 if seen(s) else -math.inf) for sc, s in zip(scores, cols)]
            if not effective:
                [sc.is_neg_inf() for sc in scores]  # _safe_softmax's test of a fully masked row
            exps = [sc.exp() for sc in scores]
            total = exps[0]
            for e in exps[1:]:
                total = total + e
            probs = [e / total for e in exps]
            for j in range(d):
                out[i][head * d + j] = dot(probs, [vh[s][j] for s in cols], t)
    linear(out, W(E, E), B(E), t)
    return t


TALLIED = [
    dict(T=4, E=4, h=2),
    dict(T=5, E=6, h=3, causal=True),
    dict(T=6, E=4, h=2, window=2),
    dict(T=6, E=4, h=1, causal=True, window=4, bias=False),
    dict(T=3, E=4, h=2, S=5, kdim=3, vdim=2),
    dict(T=5, E=4, h=2, S=3, causal=True),
    dict(T=4, E=4, h=2, causal=True, extra=2),
    dict(T=4, E=8, h=4, kv_heads=2, causal=True),
    dict(T=3, E=8, h=4, kv_heads=1, S=4, kdim=5, vdim=5),
    dict(T=6, E=4, h=2, S=2, window=2),  # queries 3..5 see no key: no softmax sum, no weighted sum for them
]


def _options(cfg: dict) -> dict:
    opts = {"num_heads": cfg["h"]}
    for ours, theirs in (("S", "kv_len"), ("kdim", "kdim"), ("vdim", "vdim"), ("kv_heads", "kv_heads"), ("bias", "bias"),
                         ("causal", "causal"), ("window", "window")):
        if ours in cfg:
            opts[theirs] = cfg[ours]
    if cfg.get("extra", 0) >= 1:
        opts["add_bias_kv"] = True
    if cfg.get("extra", 0) == 2:
        opts["add_zero_attn"] = True
    return opts


@pytest.mark.parametrize("cfg", TALLIED, ids=[str(c) for c in TALLIED])
def test_forward_equals_the_tallied_python_forward(cfg):
    layer = MHA.build((cfg["T"], cfg["E"]), _options(cfg))
    r = layer.report((cfg["T"], cfg["E"]))
    computed = tallied_forward(**cfg)
    assert {k: getattr(r, k) for k in KEYS} == computed
    masked = cfg.get("causal") or cfg.get("window")
    if masked:
        assert {k: r.work["computed"][k] for k in KEYS} == computed
        assert {k: r.work["effective"][k] for k in KEYS} == tallied_forward(**cfg, effective=True)
        assert r.effective_mults == r.work["effective"]["mults"]
    else:
        assert r.work is None


def test_the_plain_functions_are_the_layers_forward():
    """attention_work, attention_counts and attention_params (for the transformer layers) are what the layer reports."""
    fc = attention_work(7, 5, 12, 3, kv_heads=1, kdim=4, vdim=6, bias=False, causal=True, window=2)
    r = MHA.build((7, 12), {"num_heads": 3, "kv_heads": 1, "kdim": 4, "vdim": 6, "bias": False, "kv_len": 5,
                            "window": 2}).report((7, 12))
    assert fc["computed"] == {k: getattr(r, k) for k in KEYS}
    assert fc["pairs"] == pairs_by_enumeration(7, 5, True, 2, 0)
    c = attention_counts(6, 4, 8, 2, causal=True, add_bias_kv=True, add_zero_attn=True)
    r = MHA.build((6, 8), {"num_heads": 2, "kv_len": 4, "causal": True, "add_bias_kv": True,
                           "add_zero_attn": True}).report((6, 8))
    assert {k: getattr(c, k) for k in KEYS} == {k: getattr(r, k) for k in KEYS}
    assert c.weights + c.biases == r.params == sum(math.prod(s) for s in attention_params(8, 2, add_bias_kv=True).values())
    assert c.effective_mults == r.effective_mults and c.work == {k: {q: v[q] for q in KEYS} for k, v in r.work.items()}


# -- PyTorch's dispatched ops, counted by rule ---------------------------------------------------


def numel(shape) -> int:
    return math.prod(shape)


#: ops that compute nothing convcalc counts: copies, fills, random fills, the loss's ones
FREE = {"clone.default", "copy_.default", "cat.default", "constant_pad_nd.default", "repeat.default", "zeros.default",
        "empty_like.default", "new_empty_strided.default", "ones_like.default", "select_backward.default",
        "bernoulli_.float", "sum.default"}


#: ops the math kernel runs to build its own T x S' causal mask (is_causal): once per call, not
#: per sample or head, and not counted by convcalc (said in its module docstring)
MASK_BUILD = {"ones.default", "tril.default", "scalar_tensor.default", "where.self"}


def count_ops(ops: list, mask_size: int | None = None) -> dict:
    """Counts of a trace by per-op rules (an unknown op fails: the rules must cover the trace)."""
    c = {k: 0 for k in KEYS}
    for name, shapes, out in ops:
        if name in FREE:
            continue
        if name in MASK_BUILD:
            assert out is not None and numel(out) in (1, mask_size), (name, out)
            continue
        if name in ("mm.default", "addmm.default"):
            (M, K), (_, Nn) = shapes[-2], shapes[-1]
            c["macs"] += M * K * Nn
            c["mults"] += M * K * Nn
            c["adds"] += M * Nn * (K - 1) + (M * Nn if name == "addmm.default" else 0)
        elif name in ("bmm.default", "baddbmm.default"):
            (Bt, M, K), (_, _, Nn) = shapes[-2], shapes[-1]
            c["macs"] += Bt * M * K * Nn
            c["mults"] += Bt * M * K * Nn
            c["adds"] += Bt * M * Nn * (K - 1) + (Bt * M * Nn if name == "baddbmm.default" else 0)
        elif name == "mean.dim":
            c["adds"] += numel(shapes[0]) - numel(out)
            c["mults"] += numel(out)
        elif name == "_softmax.default":
            n, size = shapes[0][-1], numel(shapes[0])
            c["transcendentals"] += size
            c["mults"] += size
            c["adds"] += size // n * (n - 1)
        elif name == "add.Tensor":
            c["adds"] += numel(out)
        elif name in ("mul.Scalar", "mul.Tensor", "div_.Scalar"):
            c["mults"] += numel(out)
        elif name == "sum.dim_IntList":
            c["adds"] += numel(shapes[0]) - numel(out)
        elif name == "_safe_softmax.default":
            n, size = shapes[0][-1], numel(shapes[0])
            c["transcendentals"] += size
            c["mults"] += size
            c["comparisons"] += size
            c["adds"] += size // n * (n - 1)
        elif name == "_softmax_backward_data.default":
            n, size = shapes[0][-1], numel(shapes[0])
            c["mults"] += 2 * size
            c["adds"] += size // n * (2 * n - 1)
        else:
            raise AssertionError(f"no counting rule for {name}")
    return c


RUNS = [(c, run) for c in cases("attention") if not c["refused"] for run in c["runs"]]


@pytest.mark.parametrize("case,run", RUNS, ids=[f"{case_id(c)}-{r['input_grad']}" for c, r in RUNS])
def test_counts_equal_pytorchs_dispatched_ops(case, run):
    layer = build(case)
    shape, batch = tuple(case["input"]), case["batch"]
    t = layer.report(shape, batch=batch, training=Training(input_grad=run["input_grad"]))
    forward = count_ops(run["forward_trace"], shape[0] * (layer.kv_length(shape) + layer.extra_keys))
    if layer.dropout > 0:  # training mode's mask scaling and product; convcalc's forward counts the identity
        scores = batch * layer.num_heads * shape[0] * (layer.kv_length(shape) + layer.extra_keys)
        forward["mults"] -= 2 * scores
    assert {k: getattr(t, k) for k in KEYS} == forward
    assert {k: t.backward["total"][k] for k in KEYS} == count_ops(run["backward_trace"])


# -- closed forms in T by hand --------------------------------------------------------------------


def test_macs_closed_forms_in_T_by_hand():
    """Self-attention of T positions, E features, any h: four E x E projections per position and
    two T x T x E products (scores, weights times V); causal, effectively T(T+1)/2 pairs instead
    of T^2; grouped-query with kv_heads g: k and v project to g*E/h features. The backward has
    twice the forward's MACs (each product's two gradients)."""
    T, E, h, g, B = sp.symbols("T E h g B", positive=True, integer=True)
    full = MHA.build((T, E), {"num_heads": h, "causal": True}).report((T, E), batch=B, training=Training())
    assert sp.expand(full.macs - B * (4 * T * E**2 + 2 * T**2 * E)) == 0
    assert sp.expand(full.work["effective"]["macs"] - B * (4 * T * E**2 + E * T * (T + 1))) == 0
    assert sp.expand(full.backward["total"]["macs"] - 2 * full.macs) == 0
    gqa = MHA.build((T, E), {"num_heads": h, "kv_heads": g}).report((T, E))
    assert sp.simplify(gqa.macs - (2 * T * E**2 + 2 * T * E * g * E / h + 2 * T**2 * E)) == 0
    assert sp.simplify(gqa.params - (2 * E**2 + 2 * E * g * E / h + E + 2 * g * E / h + E)) == 0


# -- random configurations, tallied ---------------------------------------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402


@st.composite
def configurations(draw):
    h = draw(st.sampled_from([1, 2, 4]))
    cfg = dict(T=draw(st.integers(1, 5)), E=h * draw(st.integers(1, 2)), h=h)
    if draw(st.booleans()):
        cfg["S"] = draw(st.integers(1, 5))
    if draw(st.booleans()):
        cfg["kdim"] = draw(st.integers(1, 4))
        cfg["vdim"] = draw(st.sampled_from([cfg["kdim"], draw(st.integers(1, 4))]))
    cfg["bias"] = draw(st.booleans())
    cfg["causal"] = draw(st.booleans())
    if draw(st.booleans()):
        cfg["window"] = draw(st.integers(1, 4))
        cfg["causal"] = True
    kv = draw(st.sampled_from([k for k in (1, 2, 4) if h % k == 0]))
    if kv != h:
        cfg["kv_heads"] = kv
    else:
        cfg["extra"] = draw(st.integers(0, 2))
    return cfg


@settings(max_examples=60, deadline=None)
@given(configurations())
def test_random_configurations_equal_the_tallied_forward(cfg):
    layer = MHA.build((cfg["T"], cfg["E"]), _options(cfg))
    r = layer.report((cfg["T"], cfg["E"]))
    assert {k: getattr(r, k) for k in KEYS} == tallied_forward(**cfg)
    if cfg["causal"]:
        assert {k: r.work["effective"][k] for k in KEYS} == tallied_forward(**cfg, effective=True)
