"""Recurrent layers: counts checked against step-by-step reference implementations that count
every scalar operation, hand-derived symbolic formulas, and numeric == symbolic."""

import itertools

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from convcalc import ConvcalcError
from convcalc.expr import symbol
from convcalc.layers.mdrnn import MDRNN
from convcalc.layers.recurrent import GRU, LSTM, RNN, AttentionRNN, GatedRNN
from convcalc.report import Quantity
from convcalc.sizes import substitute


class Ops:
    """Counts scalar operations as a reference implementation performs them."""

    def __init__(self):
        self.mults = self.adds = self.macs = self.transcendentals = self.comparisons = 0

    def dot(self, n, times=1):
        """times inner products of n terms: n mults, n - 1 adds each (matrix products: macs)."""
        self.mults += n * times
        self.adds += (n - 1) * times
        self.macs += n * times

    def mul(self, k=1):
        self.mults += k

    def add(self, k=1):
        self.adds += k

    def f(self, k=1):
        self.transcendentals += k

    def as_tuple(self):
        return (self.mults, self.adds, self.macs, self.transcendentals, self.comparisons)


def report_tuple(r):
    return (r.mults, r.adds, r.macs, r.transcendentals, r.comparisons)


def ref_rnn(kind, I, H, L, T, bidir, bias, conv="torch", nonlin="tanh", P=0):
    """Walk every time step, layer, direction, gate and unit of PyTorch's equations."""
    ops = Ops()
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[kind]
    out = P or H
    nd = 2 if bidir else 1
    nbias = 0 if not bias else (2 if conv == "torch" else 1)
    for _t, layer, _d in itertools.product(range(T), range(L), range(nd)):
        inp = I if layer == 0 else nd * out
        for _gate, _unit in itertools.product(range(gates), range(H)):
            ops.dot(inp)  # W_ih row . x
            ops.dot(out)  # W_hh row . h
            ops.add(1 + nbias)  # combine the two, and the biases
        if kind == "rnn":
            if nonlin == "tanh":
                ops.f(H)
            else:
                ops.comparisons += H
        elif kind == "gru":
            ops.f(2 * H)  # r, z
            ops.mul(H)  # r * (W_hn h + b_hn)
            ops.f(H)  # n = tanh(...)
            ops.add(H)  # 1 - z
            ops.mul(2 * H)  # (1 - z) * n, z * h
            ops.add(H)  # the sum
        else:
            ops.f(4 * H)  # i, f, o sigmoid; g tanh
            ops.mul(2 * H)  # f*c, i*g
            ops.add(H)  # f*c + i*g
            ops.f(H)  # tanh(c)
            ops.mul(H)  # o * tanh(c)
            if P:
                ops.dot(H, times=P)  # W_hr h
    return ops.as_tuple()


rnn_configs = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["rnn", "gru", "lstm"]),
        "I": st.integers(1, 4),
        "H": st.integers(1, 4),
        "L": st.integers(1, 3),
        "T": st.integers(1, 3),
        "bidir": st.booleans(),
        "bias": st.booleans(),
        "conv": st.sampled_from(["torch", "single"]),
        "nonlin": st.sampled_from(["tanh", "relu"]),
        "proj": st.booleans(),
    }
)


def build(c):
    kw = dict(num_layers=c["L"], bias=c["bias"], bidirectional=c["bidir"], bias_convention=c["conv"])
    if c["kind"] == "rnn":
        return RNN(c["I"], c["H"], nonlinearity=c["nonlin"], **kw), 0
    if c["kind"] == "gru":
        return GRU(c["I"], c["H"], **kw), 0
    p = c["H"] - 1 if c["proj"] and c["H"] > 1 else 0
    return LSTM(c["I"], c["H"], proj_size=p, **kw), p


@settings(max_examples=150, deadline=None)
@given(c=rnn_configs, batch=st.integers(1, 3))
def test_rnn_counts_by_enumeration(c, batch):
    layer, p = build(c)
    r = layer.report((c["T"], c["I"]), batch=batch)
    want = ref_rnn(c["kind"], c["I"], c["H"], c["L"], c["T"], c["bidir"], c["bias"], c["conv"], c["nonlin"], p)
    assert report_tuple(r) == tuple(batch * w for w in want)
    assert r.flops == r.mults + r.adds + r.comparisons
    assert sum(row["per_sequence"]["mults"] for row in r.per_layer) == r.mults


def test_lstm_symbolic_formulas():
    D, H, T = symbol("D"), symbol("H"), symbol("T")
    r = LSTM(D, H).report((T, D))
    assert sp.expand(r.params - (4 * H * (D + H) + 8 * H)) == 0
    assert sp.expand(r.macs - 4 * H * (D + H) * T) == 0
    assert sp.expand(r.mults - T * (4 * H * (D + H) + 3 * H)) == 0
    # 4H(D-1) + 4H(H-1) to finish the products, 4H to combine them, 8H biases, H for f*c + i*g
    assert sp.expand(r.adds - T * (4 * H * (D + H) + 5 * H)) == 0
    assert sp.expand(r.transcendentals - 5 * H * T) == 0
    assert r.sequential_steps == T and r.sequential_steps_backward == T


def test_gru_and_rnn_symbolic_formulas():
    D, H, T = symbol("D"), symbol("H"), symbol("T")
    g = GRU(D, H, bias_convention="single").report((T, D))
    assert sp.expand(g.params - (3 * H * (D + H) + 3 * H)) == 0
    assert sp.expand(g.mults - T * (3 * H * (D + H) + 3 * H)) == 0
    # 3H(D-1) + 3H(H-1) to finish the products, 3H to combine, 3H biases (one per gate), 2H cell
    assert sp.expand(g.adds - T * (3 * H * (D + H) + 2 * H)) == 0
    r = RNN(D, H, bias=False).report((T, D))
    assert sp.expand(r.params - H * (D + H)) == 0
    assert sp.expand(r.adds - T * H * (D + H - 1)) == 0


def test_stacked_sequential_steps():
    T, L = symbol("T"), 3
    uni = LSTM(8, 8, num_layers=L).report((T, 8))
    assert sp.expand(uni.sequential_steps - (T + L - 1)) == 0
    assert uni.sequential_regimes["wavefront_pipelined"] == uni.sequential_steps
    bi = LSTM(8, 8, num_layers=L, bidirectional=True).report((T, 8))
    assert sp.expand(bi.sequential_steps - L * T) == 0
    assert bi.output_shape == (T, 16)


def test_lstm_projection_shapes_and_params():
    r = LSTM(10, 20, proj_size=5, num_layers=2, bidirectional=True).report((7, 10))
    assert r.output_shape == (7, 10)
    # per direction: W_ih 80x10 (then 80x10 again: input 2*5), W_hh 80x5, W_hr 5x20, biases 160
    assert r.params == 2 * (80 * 10 + 80 * 5 + 100 + 160) * 2


def test_memory():
    r = LSTM(4, 3, num_layers=2).report((5, 4), batch=2, dtype="float16")
    assert r.state_bytes == 2 * 2 * (3 + 3) * 2  # layers, batch, (h + c), bytes
    # per step and layer: input + 4 gates + c + h
    assert r.bptt_activation_bytes == 5 * ((4 + 12 + 3 + 3) + (3 + 12 + 3 + 3)) * 2 * 2


# -- MDRNN --------------------------------------------------------------------------------------


def ref_mdrnn(D, H, grid, L, d, cell, bias):
    """Walk every layer, scan, position, block and unit."""
    ops, n = Ops(), len(grid)
    edges = 0
    blocks = 3 + n if cell == "lstm" else 1
    for layer in range(L):
        inp = D if layer == 0 else d * H
        for _scan in range(d):
            for pos in itertools.product(*[range(s) for s in grid]):
                preds = sum(1 for k in range(n) if pos[k] > 0)
                for _b, _u in itertools.product(range(blocks), range(H)):
                    ops.dot(inp)
                    ops.dot(H, times=n)  # one recurrent product per dimension (zero state at the edge too)
                    ops.add(n + (1 if bias else 0))
                    ops.f()
                    edges += inp + H * preds
                if cell == "lstm":
                    ops.mul((n + 1) * H)  # i*g and f_k * c_k
                    ops.add(n * H)
                    ops.f(H)
                    ops.mul(H)
    return ops.as_tuple(), edges


@settings(max_examples=60, deadline=None)
@given(
    D=st.integers(1, 3), H=st.integers(1, 3), grid=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    L=st.integers(1, 2), cell=st.sampled_from(["tanh", "lstm"]), bias=st.booleans(), data=st.data(),
)
def test_mdrnn_counts_by_enumeration(D, H, grid, L, cell, bias, data):
    d = data.draw(st.sampled_from([2**i for i in range(len(grid) + 1)]))
    r = MDRNN(D, H, num_layers=L, directions=d, cell=cell, bias=bias).report((D, *grid))
    want, edges = ref_mdrnn(D, H, grid, L, d, cell, bias)
    assert report_tuple(r) == want
    assert r.connections == edges
    n = len(grid)
    wave = sum(s - 1 for s in grid) + 1
    assert r.sequential_regimes["raster"] == L * sp.prod(grid)
    assert r.sequential_regimes["wavefront"] == L * wave
    assert r.sequential_steps == (wave + L - 1 if d == 1 else L * wave)
    assert r.output_shape == (d * H, *grid)
    assert n >= 1


def test_mdrnn_course_numbers():
    D, H, G = symbol("D"), symbol("H"), symbol("G")
    r = MDRNN(D, H, bias=False).report((D, G, G))
    assert sp.expand(r.weights - (D * H + 2 * H**2)) == 0
    assert sp.expand(r.mults - G**2 * (D * H + 2 * H**2)) == 0
    assert sp.expand(r.sequential_steps - (2 * G - 1)) == 0
    assert sp.expand(r.sequential_regimes["raster"] - G**2) == 0
    pipelined = MDRNN(D, H, num_layers=3).report((D, G, G))
    assert sp.expand(pipelined.sequential_steps - (2 * G + 3 - 2)) == 0


# -- course cells -------------------------------------------------------------------------------


def test_gated_rnn_formulas():
    n, m, T = symbol("n"), symbol("m"), symbol("T")
    r = GatedRNN(n, m).report((T, n))
    assert sp.expand(r.params - (2 * m * n + m**2)) == 0
    ops = Ops()
    ops.dot(n, times=m)  # W_c x
    ops.dot(m, times=m)  # W_h h
    ops.add(m)  # combine
    ops.f(m)  # sigmoid
    ops.dot(n, times=m)  # W_x x
    ops.mul(m)  # c * h
    ops.add(m)  # 1 - c
    ops.mul(m)  # (1 - c) * W_x x
    ops.add(m)  # sum
    ref = tuple(sp.expand(v) for v in ops.as_tuple())
    assert tuple(sp.expand(v - T * w) for v, w in zip(report_tuple(r), ref)) == (0,) * 5
    assert sp.expand(r.mults - T * (2 * m * n + m**2 + 2 * m)) == 0
    assert r.sequential_steps == T


def ref_attention(n, m, dk, k, T):
    ops = Ops()
    for t in range(1, T + 1):
        j = t - 1 if k == "inf" else k
        ops.dot(n, times=2 * dk + m)  # q_0, k_0, v_0 from x[t]
        ops.dot(m, times=(2 * dk + m) * j)  # q_i, k_i, v_i from h[t-i]
        ops.dot(dk, times=j + 1)  # scores
        ops.f(j + 1)  # exp
        ops.add(j)  # softmax denominator
        ops.mul(j + 1)  # division
        ops.macs += m * (j + 1)  # weighted sum of values: m inner products of j + 1 terms
        ops.mults += m * (j + 1)
        ops.adds += m * j
    return ops.as_tuple()


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 4), m=st.integers(1, 4), dk=st.integers(1, 4), k=st.one_of(st.integers(1, 3), st.just("inf")), T=st.integers(1, 6))
def test_attention_rnn_by_enumeration(n, m, dk, k, T):
    r = AttentionRNN(n, m, k=k, key_size=dk).report((T, n))
    assert report_tuple(r) == ref_attention(n, m, dk, k, T)
    lags = T - 1 if k == "inf" else k
    assert r.params == (2 * dk + m) * n + lags * (2 * dk + m) * m


def test_attention_inf_is_a_closed_form_in_T():
    n, m, T = symbol("n"), symbol("m"), symbol("T")
    r = AttentionRNN(n, m, k="inf").report((T, n))
    assert "Sum" not in str(r.mults)
    assert sp.expand(r.transcendentals - T * (T + 1) / 2) == 0
    for t in range(1, 7):
        assert substitute(r.mults, {"n": 2, "m": 3, "T": t}) == AttentionRNN(2, 3, k="inf").report((t, 2)).mults


@settings(max_examples=40, deadline=None)
@given(c=rnn_configs, t=st.integers(1, 5))
def test_rnn_symbolic_equals_numeric(c, t):
    layer, _ = build(c)
    T, I = symbol("T"), symbol("I")
    kw = {k: v for k, v in layer.config().items() if k != "input_size"}
    sym = type(layer)(I, **kw).report((T, I))
    num = layer.report((t, c["I"]))
    values = {"T": t, "I": c["I"]}
    for q in (Quantity.PARAMS, Quantity.MULTS, Quantity.ADDS, Quantity.MACS, Quantity.TRANSCENDENTALS,
              Quantity.SEQUENTIAL_STEPS, Quantity.BPTT_ACTIVATION_BYTES, Quantity.STATE_BYTES):
        assert substitute(sym.get(q), values) == num.get(q), q


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: LSTM(4, 8, proj_size=8), "proj_size: 8 must be smaller than hidden_size 8"),
        (lambda: LSTM(4, 0), "hidden_size: must be positive"),
        (lambda: MDRNN(3, 4, directions=3), "directions: 3 is not a power of two"),
        (lambda: MDRNN(3, 4, directions=8).report((3, 5, 5)), "directions: 8 scans but a 2-dimensional grid has 4 corners"),
        (lambda: AttentionRNN(3, 4, k=0), "k: must be positive"),
        (lambda: RNN(3, 4).report((5, 4)), "input: has 4 features per step but input_size is 3"),
        (lambda: RNN(3, 4, nonlinearity="gelu"), "nonlinearity"),
    ],
)
def test_bad_recurrent_config(make, message):
    with pytest.raises(ConvcalcError, match=message):
        make()




@settings(max_examples=30, deadline=None)
@given(D=st.integers(1, 4), H=st.integers(1, 4), g1=st.integers(1, 6), g2=st.integers(1, 6), L=st.integers(1, 3),
       d=st.sampled_from([1, 2, 4]), cell=st.sampled_from(["tanh", "lstm"]))
def test_mdrnn_symbolic_equals_numeric(D, H, g1, g2, L, d, cell):
    Ds, Hs, A, B = symbol("D"), symbol("H"), symbol("A"), symbol("B")
    sym = MDRNN(Ds, Hs, num_layers=L, directions=d, cell=cell).report((Ds, A, B))
    num = MDRNN(D, H, num_layers=L, directions=d, cell=cell).report((D, g1, g2))
    values = {"D": D, "H": H, "A": g1, "B": g2}
    for q in (Quantity.PARAMS, Quantity.MULTS, Quantity.ADDS, Quantity.MACS, Quantity.TRANSCENDENTALS,
              Quantity.CONNECTIONS, Quantity.SEQUENTIAL_STEPS, Quantity.STATE_BYTES, Quantity.BPTT_ACTIVATION_BYTES):
        assert substitute(sym.get(q), values) == num.get(q), q


def test_mdrnn_state_bytes_is_the_state_carried_between_steps():
    # raster order on a 5 x 6 grid: position (i, j) needs (i - 1, j), six positions back, so one
    # row of 6 positions is carried; MD-LSTM keeps h and c (4 + 4) per position, for 2 layers and
    # 2 scans: 2 * 2 * 6 * 8 = 192 elements a sample, x batch 2 x 4 bytes = 1536
    r = MDRNN(3, 4, num_layers=2, directions=2, cell="lstm").report((3, 5, 6), batch=2)
    assert r.state_bytes == 1536
    # the wavefront carries one anti-diagonal: at most min(5, 6) = 5 positions: 2 * 2 * 5 * 8 = 160
    assert any("raster schedule carries one row of 6 positions" in n and "anti-diagonal of 5 positions: 160 elements" in n for n in r.notes)
    # a one-dimensional grid is a sequence: the state is one h, exactly as for rnn
    seq = MDRNN(3, 4).report((3, 7))
    assert seq.state_bytes == RNN(3, 4).report((7, 3)).state_bytes == 4 * 4
    # tanh cell, 3-D grid 2 x 3 x 4: raster carries 3 * 4 = 12 positions of h (5): 60 elements;
    # the largest anti-diagonal i + j + k = 3 has 3 + 3 = 6 positions (worked out by hand): 30 elements
    r3 = MDRNN(2, 5).report((2, 2, 3, 4))
    assert r3.state_bytes == 12 * 5 * 4
    assert any("anti-diagonal of 6 positions: 30 elements" in n for n in r3.notes)


@pytest.mark.parametrize("grid", [(1,), (4,), (3, 3), (2, 7), (2, 3, 4), (3, 3, 3), (1, 5, 2, 3), (4, 1, 6)])
def test_largest_anti_diagonal_by_enumeration(grid):
    from convcalc.layers.mdrnn import largest_diagonal

    sums = [sum(p) for p in itertools.product(*(range(s) for s in grid))]
    assert largest_diagonal(grid) == max(sums.count(t) for t in set(sums))


def test_mdrnn_symbolic_state_is_one_row():
    H, W = symbol("H"), symbol("W")
    r = MDRNN(3, 4, num_layers=2, directions=2, cell="lstm").report((3, H, W), batch=2)
    assert substitute(r.state_bytes, {"H": 5, "W": 6}) == 1536
