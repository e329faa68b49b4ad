"""Backpropagation through time: the backward of every recurrent layer, in one place.

rnn, gru, lstm are counted as PyTorch's CPU implementation runs them (aten/src/ATen/native/RNN.cpp,
autograd formulas of derivatives.yaml); gated-rnn, attention-rnn and mdrnn, which have no PyTorch
module, as the same recipe written for their cells. Every count is for the whole batch B, as plain
arithmetic on ints and symbols. R = T*B rows.

The forward as PyTorch's CPU path runs it, per layer and direction:
- one matmul over all steps: xw = x[R, I] W_ih^T (+ b_ih), split into T steps;
- per step: gates = h[t-1] W_hh^T (+ b_hh) + xw[t], then the cell on chunks of that one gates
  tensor (in place: sigmoid_, tanh_); lstm's projection h = hy W_hr^T; h[-1] = 0 (the module's zeros,
  which need no gradient);
- between layers (training): dropout, input * noise with noise = bernoulli(1 - p) / (1 - p);
- a bidirectional layer runs the reverse direction the same way and concatenates.

Its backward (autograd), per layer and direction:
- matrix products (macs; FlopCounterMode's mm): dW_hh = sum_t delta_t^T h[t-1] (T*B*G*H*P: the zero
  h[-1] too), dL/dh[t-1] = delta_t W_hh (t >= 1: (T - 1)*B*P*G*H), dW_ih = delta^T x over all R
  rows (R*G*H*I), dL/dx = delta W_ih (R*I*G*H; the first layer's only when the input needs a
  gradient), lstm projection dW_hr (R*P*H) and dL/dhy = g W_hr (R*H*P);
- a product over n terms per output element costs n - 1 adds; a parameter used T times sums T
  gradients (T - 1 adds per element): dW_hh and b_hh take G*H*P*(R - 1) and G*H*(R - 1) adds in
  all, as one sum over R rows would;
- a tensor that several ops read receives several gradients: n of them cost n - 1 adds per element
  (h[t] feeds the output and step t + 1; both directions read the layer input);
- the cells' elementwise derivatives from the saved outputs (sigmoid' = g*(1 - y)*y, tanh' =
  g*(1 - y*y): 2 mults and 1 add each; relu's mask: a comparison); no transcendental is evaluated
  again; a sign flip (the backward of a - b) counts as a mult.
grad_input holds the first layer's dL/dx products and the directions' sum (what autograd skips when
the input needs no gradient); grad_weight the products and sums of dW and db; shared the gradient
through time, which either needs (Backward.shared: counted with dL/dW when the weights train, else
with dL/dx). Saved tensors say which gradient needs them (Saved.needed_for): what only a weight's
product reads (x, h[t-1] for dW_hh, the zero h[-1]) is not kept for a frozen layer; the cell's
tensors are kept when any gradient is wanted.
"""

from __future__ import annotations

from typing import Any

from .. import sizes
from .training import Backward, Saved

KEYS = ("mults", "adds", "comparisons", "macs", "transcendentals")


def _c(**kw: Any) -> dict:
    return {k: kw.get(k, 0) for k in KEYS}


def _sum(*dicts: dict) -> dict:
    return {k: sum((d.get(k, 0) for d in dicts), start=0) for k in KEYS}


def _times(d: dict, f: Any) -> dict:
    return {k: v * f for k, v in d.items()}


def _mm(m: Any, k: Any, n: Any) -> dict:
    """An [m, k] x [k, n] product: m*n*k multiply-accumulates, m*n*(k - 1) adds."""
    return _c(mults=m * k * n, macs=m * k * n, adds=m * n * (k - 1))


def _text(counts: dict) -> str:
    """A count dict as text (a symbolic count multiplied out and factored: SymPy is loaded only
    when the counts are already symbolic)."""
    def tidy(v: Any) -> Any:
        if sizes.is_int(v):
            return v
        import sympy

        return sizes.normalize(sympy.factor(sympy.expand(v)))
    return ", ".join(f"{k} {sizes.to_text(tidy(v))}" for k, v in counts.items() if sizes.compare(v, 0) != 0) or "none"


# -- rnn, gru, lstm ----------------------------------------------------------------------------------


def cell_backward(layer: Any, T: Any, B: Any) -> tuple[dict, Any, Any]:
    """One layer and direction of an rnn/gru/lstm cell, the whole sequence and batch: the
    elementwise work of the cell's derivatives (matrix products apart), the activation elements
    its derivatives need (saved whenever any gradient is wanted), and those saved only for dW
    (read by a matrix product whose weight needs a gradient); layer input and h[-1] apart.

    rnn: h = act(a): tanh' 2 mults + 1 add, relu a comparison per element; saves every h[t]
    (the nonlinearity's output, also read by step t + 1's W_hh product).
    gru (r, z, n gates; hn = W_hn h + b_hn): hn*r -> g*r, g*hn (2); d = h - n, the sign flip of
    -g for n (1); d*z in place -> g*z, g*d (2); sigmoid' r, z (4 mults, 2 adds), tanh' n (2, 1); n
    takes two gradients (1 add): 11 mults, 4 adds per hidden element and step; h[t] takes three
    gradients (output, h - n and W_hh of step t + 1): 2 adds for t < T - 1. Saves per step the
    gates tensor (3H), the clone of hn (in-place mul_), n, the clone of h - n; for dW_hh h[t],
    t < T - 1.
    lstm: o*tanh(c) (2), tanh'(c) (2, 1), f*c[t-1] (grad_f; grad_c[t-1] for t >= 1), i*g (2),
    sigmoid' i, f, o (6, 3), tanh' g (2, 1): 15 mults, 5 adds, + 1 mult for t >= 1; c[t] takes two
    gradients for t < T - 1 (1 add). Saves per step the gates tensor (4H), tanh(c), c[t] for
    t < T - 1; for dW: h[t] for t < T - 1 (read by step t + 1's W_hh product) and, with
    proj_size, the unprojected h (read by W_hr's).
    """
    H, P = layer.hidden_size, layer.out_size
    R = T * B
    name = type(layer).__name__
    if name == "GRU":
        return _c(mults=11 * R * H, adds=4 * R * H + 2 * (T - 1) * B * H), R * 6 * H, (T - 1) * B * H
    if name == "LSTM":
        work = _c(mults=15 * R * H + (T - 1) * B * H, adds=5 * R * H + (T - 1) * B * H + (T - 1) * B * P)
        return work, R * 5 * H + (T - 1) * B * H, (T - 1) * B * P + (R * H if layer.has_proj else 0)
    if layer.nonlinearity == "relu":
        work = _c(comparisons=R * H)
    else:
        work = _c(mults=2 * R * H, adds=R * H)
    return _sum(work, _c(adds=(T - 1) * B * H)), R * H, 0


def _direction(layer: Any, I: Any, T: Any, B: Any) -> tuple[dict, dict, dict, Any, Any]:
    """One layer and direction: (dL/dx of its input, dW and db, the gradient through time,
    saved elements for the cell's derivatives, saved elements for dW only)."""
    G, H, P = layer.GATES, layer.hidden_size, layer.out_size
    GH, R = G * H, T * B
    weights = _sum(_mm(GH, R, I), _mm(GH, R, P))  # dW_ih, dW_hh (summed over the T steps)
    through_time = _mm((T - 1) * B, GH, P)  # dL/dh[t-1] = delta_t W_hh, t >= 1
    if layer.bias:
        weights = _sum(weights, _c(adds=(2 if layer.bias_convention == "torch" else 1) * GH * (R - 1)))
    if getattr(layer, "has_proj", False):
        weights = _sum(weights, _mm(P, R, H))  # dW_hr
        through_time = _sum(through_time, _mm(R, P, H))  # dL/dhy = g W_hr
    cell, saved, for_weights = cell_backward(layer, T, B)
    return _mm(R, GH, I), weights, _sum(through_time, cell), saved, for_weights


def rnn_backward(layer: Any, shape: tuple, out: tuple, batch: Any) -> Backward:
    """BPTT of rnn/gru/lstm (see the module's docstring and cell_backward), whole batch:
    per layer and direction, dW_ih, dW_hh, the biases, dL/dh through time, the cell's derivatives;
    dL/dx of each layer's input (the first layer's is grad_input), the directions' gradients of
    the shared input summed ((nd - 1)*R*I adds), dropout's g*noise between layers; saved: the input,
    the zero initial state(s) (one tensor of L*nd*B*P, lstm also L*nd*B*H), each layer's cell
    tensors, each later layer's input and, with dropout, its noise."""
    T, B, L, nd = shape[0], batch, layer.num_layers, layer.directions
    R, P, H = T * B, layer.out_size, layer.hidden_size
    first_dx, first_dw, first_bptt, first_saved, first_w = _direction(layer, layer.layer_input(0), T, B)
    up_dx, up_dw, up_bptt, up_saved, up_w = _direction(layer, layer.layer_input(1), T, B)
    upper_in = nd * P
    grad_input = _sum(_times(first_dx, nd), _c(adds=(nd - 1) * R * layer.input_size))
    dropout = layer.dropout != 0
    between = _sum(_times(up_dx, nd), _c(adds=(nd - 1) * R * upper_in), _c(mults=R * upper_in if dropout else 0))
    grad_weight = _sum(_times(first_dw, nd), _times(up_dw, nd * (L - 1)))
    shared = _sum(_times(first_bptt, nd), _times(up_bptt, nd * (L - 1)), _times(between, L - 1))
    # what only dW needs is saved only when the weights need gradients (a frozen layer keeps the rest)
    saved = [Saved("input", R * layer.input_size, tensor="input", needed_for="weight"),
             Saved("h0 (zeros, every layer and direction)", L * nd * B * P, needed_for="weight")]
    if type(layer).__name__ == "LSTM":
        saved.append(Saved("c0 (zeros, every layer and direction)", L * nd * B * H, needed_for="any"))
    saved.append(Saved("cell tensors per step (gates, states)", nd * (first_saved + (L - 1) * up_saved), needed_for="any"))
    if sizes.compare(nd * (first_w + (L - 1) * up_w), 0) != 0:
        saved.append(Saved("states read by W_hh (and W_hr) products, for dW", nd * (first_w + (L - 1) * up_w), needed_for="weight"))
    if sizes.compare(L, 1) != 0:
        saved.append(Saved("inputs of layers 2..L", (L - 1) * R * upper_in, needed_for="weight"))
        if dropout:
            noise = (L - 1) * (1 if layer.dropout == 1 else R * upper_in)
            saved.append(Saved("dropout noise between layers", noise, needed_for="any"))
    steps = L * T if layer.bidirectional else T + L - 1
    notes = (
        "backward (BPTT): dL/dh[t] gathers the output's gradient and step t+1's (W_hh^T delta_t+1); "
        "dW_ih, dW_hh, dW_hr, the biases sum over every step and sample; h[-1] = 0 needs no gradient but "
        "enters dW_hh's products (T of them)",
        "backward per time step (what one more step adds to the first layer, one direction, whole batch; "
        "its share of dW_ih and dL/dx included): " + _text(_step(layer, B)),
        f"sequential steps of the backward: {sizes.to_text(sizes.normalize(steps))} "
        + ("(a bidirectional stack: layer by layer, L*T)" if layer.bidirectional else "(wavefront, T + L - 1, as the forward)"),
    )
    return Backward(grad_input=grad_input, grad_weight=grad_weight, shared=shared, saved=tuple(saved),
                    params=_rnn_params(layer), notes=notes, sequential_steps=steps)


def _gh(layer: Any) -> Any:
    return layer.GATES * layer.hidden_size


def _step(layer: Any, B: Any) -> dict:
    """What one more time step adds to one layer and direction (every count is linear in T): an
    interior step's dW_hh, dL/dh[t-1], cell derivatives, projection, and its share of the input
    projection's dW_ih and dL/dx."""
    return _delta(lambda t: _direction(layer, layer.layer_input(0), t, B)[:3])


def _rnn_params(layer: Any) -> dict:
    """PyTorch's parameter names and shapes (weight_ih_l0, ..._reverse, weight_hr_l0)."""
    GH, P, H = _gh(layer), layer.out_size, layer.hidden_size
    L = sizes.known_int(layer.num_layers)
    layers = list(range(L)) if L is not None and L <= 64 else [0, "k"]
    out = {}
    for k in layers:
        for suffix in ("", "_reverse")[: layer.directions]:
            tag = f"l{k}{suffix}"
            out[f"weight_ih_{tag}"] = (GH, layer.layer_input(0 if k == 0 else 1))
            out[f"weight_hh_{tag}"] = (GH, P)
            if layer.bias and layer.bias_convention == "torch":
                out[f"bias_ih_{tag}"] = (GH,)
                out[f"bias_hh_{tag}"] = (GH,)
            elif layer.bias:
                out[f"bias_{tag}"] = (GH,)
            if getattr(layer, "has_proj", False):
                out[f"weight_hr_{tag}"] = (P, H)
    return out


# -- the course's gated cell ---------------------------------------------------------------------------


def _gated(layer: Any, T: Any, B: Any) -> tuple[dict, dict, dict, tuple]:
    """(dL/dx, dW and db, the gradient through time, saved) of the gated cell."""
    n, m = layer.input_size, layer.hidden_size
    R = T * B
    grad_input = _sum(_mm(R, m, n), _mm(R, m, n), _c(adds=R * n))
    grad_weight = _sum(_mm(m, R, n), _mm(m, R, n), _mm(m, R, m),  # dW_c, dW_x, dW_h
                       _c(adds=2 * m * (R - 1) if layer.bias else 0))
    shared = _sum(_mm((T - 1) * B, m, m),  # dL/dh[t-1] = delta W_h
                  _c(mults=6 * R * m + (T - 1) * B * m, adds=2 * R * m + 2 * (T - 1) * B * m))
    saved = (Saved("input", R * n, tensor="input", needed_for="weight"), Saved("h0 (zeros)", B * m, needed_for="any"),
             Saved("c_t, 1 - c_t, W_x x_t per step", 3 * R * m, needed_for="any"),
             Saved("h[t] for t < T - 1 (read by step t + 1)", (T - 1) * B * m, needed_for="any"))
    return grad_input, grad_weight, shared, saved


def gated_backward(layer: Any, shape: tuple, out: tuple, batch: Any) -> Backward:
    """BPTT of c_t = sigmoid(W_c x_t + W_h h[t-1] (+ b_c)), h_t = c_t*h[t-1] + (1 - c_t)*u_t,
    u_t = W_x x_t (+ b_x), written as PyTorch's recipe for its cells: A = x W_c^T and U = x W_x^T one
    matmul each over all R = T*B rows, per step h[t-1] W_h^T + A[t], sigmoid, the two products.
    Backward per step: g*u_t and g*(1 - c_t) (2 mults), the sign flip of 1 - c (1), g*h[t-1] and,
    for t >= 1, g*c_t (2), c's two gradients summed (1 add), sigmoid' (2 mults, 1 add); dW_h over
    every step (the zero h[-1] too), dL/dh[t-1] = delta W_h for t >= 1; h[t] takes three gradients
    for t < T - 1 (output, c_{t+1}*h[t], W_h): 2 adds. dW_c, dW_x: one product each over R rows;
    dL/dx = delta_c W_c + delta_u W_x (grad_input: two products and their sum). Saved: x, the zero
    h[-1], per step c_t, 1 - c_t, u_t (all of U) and h[t] for t < T - 1."""
    T, m = shape[0], layer.hidden_size
    grad_input, grad_weight, shared, saved = _gated(layer, T, batch)
    params = {"W_c": (m, layer.input_size), "W_h": (m, m), "W_x": (m, layer.input_size)}
    if layer.bias:
        params.update({"b_c": (m,), "b_x": (m,)})
    notes = ("backward (BPTT): dL/dh[t] gathers the output's gradient and step t+1's two (through c_{t+1}*h[t] and W_h); "
             "sequential steps of the backward: T",
             "backward per time step (what one more step adds, whole batch, dL/dx included): "
             + _text(_delta(lambda t: _gated(layer, t, batch)[:3])))
    return Backward(grad_input=grad_input, grad_weight=grad_weight, shared=shared, saved=saved, params=params, notes=notes,
                    sequential_steps=T)


def _delta(core: Any, at: Any = 2) -> dict:
    """What one more time step adds: the sum of the count dicts of core(at + 1) less those of
    core(at), every count being linear in T from T = at on."""
    a, b = _sum(*core(at + 1)), _sum(*core(at))
    return {k: sizes.normalize(a[k] - b[k]) for k in KEYS}


# -- AttentionRNN(k) --------------------------------------------------------------------------------


def attention_pairs(layer: Any, T: Any) -> tuple:
    """(S, NP, NM, E): the terms attended over the sequence, the lag projections computed (zero
    states before the start included), the lag matrices, and E = the pairs (t, t') with
    t < t' <= t + k (t' <= T): step t' reads h[t], so dL/dh[t] gathers E gradients in all."""
    if layer.unbounded:
        pairs = sizes.exact_div(T * (T - 1), 2)
        return sizes.exact_div(T * (T + 1), 2), pairs, T - 1, pairs
    k = layer.k
    q = sizes.smin(k, T - 1)  # lags with a real state for the last steps
    return T * (k + 1), T * k, k, q * T - sizes.exact_div(q * (q + 1), 2)


def _attention(layer: Any, T: Any, B: Any) -> tuple[dict, dict, dict, tuple]:
    n, m, dk = layer.input_size, layer.hidden_size, layer.key_size
    width, R = 2 * dk + m, T * B
    S, NP, NM, E = attention_pairs(layer, T)
    grad_input = _mm(R, width, n)  # dL/dx[t] = [dq_0, dk_0, dv_0] [Q_0; K_0; V_0]
    grad_weight = _sum(
        _mm(width, R, n),  # d[Q_0; K_0; V_0], one product over every step and sample
        _c(mults=width * m * B * NP, macs=width * m * B * NP, adds=width * m * (B * NP - NM)),  # d[Q_i; K_i; V_i]
    )
    shared = _sum(
        _mm(B * E, width, m),  # dL/dh[t] from step t' = t + i through [Q_i; K_i; V_i]
        _c(adds=B * E * m),  # h[t]'s gradients summed (the output's and E later steps')
        _c(mults=2 * B * S * m, macs=2 * B * S * m, adds=B * S * (m - 1)),  # h = a V: da = g V^T, dV = a^T g
        _c(mults=2 * B * S, adds=B * (2 * S - T)),  # softmax': a*(g - sum(g*a))
        _c(mults=2 * B * S * dk, macs=2 * B * S * dk),  # w_i = q_i . k_i: dq_i = dw_i k_i, dk_i = dw_i q_i
    )
    saved = [Saved("input", R * n, tensor="input", needed_for="weight"),
             Saved("q_i, k_i, v_i of every term", B * S * width, needed_for="any"),
             Saved("attention weights a (softmax output)", B * S, needed_for="any"),
             Saved("h[t] for t < T (read by later steps' projections, for dW)", (T - 1) * B * m, needed_for="weight")]
    if not layer.unbounded:
        saved.append(Saved("the zero state before the start", B * m, needed_for="weight"))
    return grad_input, grad_weight, shared, tuple(saved)


def attention_backward(layer: Any, shape: tuple, out: tuple, batch: Any) -> Backward:
    """BPTT of AttentionRNN(k), as autograd runs the recipe: [q_0; k_0; v_0] = [Q_0; K_0; V_0] x[t]
    (one matmul over all steps), [q_i; k_i; v_i] = [Q_i; K_i; V_i] h[t-i] per step (zero states
    before the start go through them: no gradient, but in dW's products), w_i = q_i . k_i,
    a = softargmax(w), h[t] = sum_i a_i v_i. Backward per step of j + 1 terms: da = g V^T,
    dV = a^T g; softmax' a*(g - sum(g*a)): 2(j + 1) mults, 2(j + 1) - 1 adds; dq_i = dw_i k_i,
    dk_i = dw_i q_i; dW_i sums over steps and samples; dL/dh[t-i] = [Q_i; K_i; V_i]^T [dq_i; dk_i; dv_i]
    for real states. dL/dh[t] gathers the output's gradient and one from each later step
    t' = t + 1 ... min(t + k, T) (t + 1 ... T with --k inf): E pairs in all, B*m adds each.
    Saved: x, every term's q, k, v, the weights a, the states h[t] later steps read, the zero state."""
    T, n, m, dk = shape[0], layer.input_size, layer.hidden_size, layer.key_size
    grad_input, grad_weight, shared, saved = _attention(layer, T, batch)
    width = 2 * dk + m
    params = {"Q_0, K_0, V_0 (stacked)": (width, n)}
    lags = sizes.known_int(T - 1 if layer.unbounded else layer.k)
    if lags is not None and lags <= 8:
        params.update({f"Q_{i}, K_{i}, V_{i} (stacked)": (width, m) for i in range(1, lags + 1)})
    else:
        params["Q_i, K_i, V_i (stacked, each lag i)"] = (width, m)
    E = attention_pairs(layer, T)[3]
    feeds = "t + 1 ... T" if layer.unbounded else f"t + 1 ... min(t + {sizes.to_text(layer.k)}, T)"
    listing = ()
    T_int, k_int = sizes.known_int(T), (None if layer.unbounded else sizes.known_int(layer.k))
    if T_int is not None and T_int <= 12 and (layer.unbounded or k_int is not None):
        last = (lambda t: T_int) if layer.unbounded else (lambda t: min(t + k_int, T_int))
        listing = ("later steps feeding dL/dh[t]: " + "; ".join(
            f"h[{t}] <- " + (", ".join(str(u) for u in range(t + 1, last(t) + 1)) or "none")
            for t in range(1, T_int + 1)),)
    notes = listing + (
        f"backward (BPTT): dL/dh[t] gathers the output's gradient and one from each later step t' = {feeds} "
        f"(step t' reads h[t] through Q_i, K_i, V_i with i = t' - t): {sizes.to_text(sizes.normalize(E))} pairs (t, t') in all",
        "sequential steps of the backward: T (dL/dh[t] needs every later step that reads it)",
        "backward per time step past the first k (what one more step adds, whole batch, dL/dx included): "
        + (_text(_delta(lambda t: _attention(layer, t, batch)[:3], layer.k + 1)) if not layer.unbounded else "grows with t (--k inf)"),
    )
    return Backward(grad_input=grad_input, grad_weight=grad_weight, shared=shared, saved=saved, params=params, notes=notes,
                    sequential_steps=T)


# -- MDRNN / MD-LSTM ------------------------------------------------------------------------------------


def _mdrnn_scan(layer: Any, I: Any, n: int, P: Any, E: Any, B: Any) -> tuple[dict, dict, dict, Any, Any]:
    """One scan of one layer over P grid positions with E recurrent edges (position, dimension)
    whose predecessor exists: (dL/dx of its input, dW and db, the gradient through the grid,
    saved elements for the cell's derivatives, saved elements for dW only)."""
    H, b = layer.hidden_size, layer.blocks(n)
    R, bH = P * B, layer.blocks(n) * layer.hidden_size
    weights = _sum(
        _mm(bH, R, I),  # dW_in over every position and sample
        _times(_mm(bH, R, H), n),  # dW_d, d = 1..n: every position (zero states at the edge too)
        _c(adds=bH * (R - 1) if layer.bias else 0),
    )
    through = _sum(_mm(E * B, bH, H),  # dL/dh of each existing predecessor
                   _c(adds=E * B * H))  # h gathers the output's gradient and one per successor
    if layer.cell == "lstm":  # gates i, o, g, f_1..f_n; c = i*g + sum_d f_d*c_d; h = o*tanh(c)
        cell = _c(mults=(12 + 3 * n) * R * H + E * B * H, adds=(4 + n) * R * H + E * B * H)
        saved, for_weights = R * (b * H + H) + (P - 1) * B * H, (P - 1) * B * H  # gates, tanh(c), c; h read by successors
    else:
        cell = _c(mults=2 * R * H, adds=R * H)  # tanh'
        saved, for_weights = R * H, 0
    return _mm(R, bH, I), weights, _sum(through, cell), saved, for_weights


def mdrnn_backward(layer: Any, shape: tuple, out: tuple, batch: Any) -> Backward:
    """Backward of the MDRNN / MD-LSTM, the recipe of PyTorch's recurrent layers on a grid: the
    input projection one matmul over all positions, per position n recurrent products (the zero
    state at the grid's edge goes through them: in dW_d's products, no gradient), the cell.
    Backward: dW_in, dW_d over every position, dL/dh of each existing predecessor (E edges:
    (S_k - 1) * prod of the other sizes, summed over k); h gathers one gradient per successor;
    tanh' (2 mults, 1 add); MD-LSTM: o*tanh(c) (2), tanh'(c) (2, 1), f_d*c_d (n, + 1 per existing
    predecessor), i*g (2), sigmoid' of 2 + n gates (2 each, 1 add), tanh' g (2, 1), c gathers one
    gradient per successor. Scans read the same input: their dL/dx summed. Saved: the input, each
    scan's h (tanh) or gates, tanh(c), c and h read by successors (MD-LSTM), the zero states (one
    tensor of L*d*B*H for h, one for c, as PyTorch's hx), later layers' inputs. Sequential steps: the forward's schedule, run in reverse."""
    grid, L, d, H, B = shape[1:], layer.num_layers, layer.directions, layer.hidden_size, batch
    n, P = len(grid), sizes.prod(grid)
    E = sum(((s - 1) * P // s for s in grid), start=0)
    R = P * B
    first_dx, first_dw, first_through, first_saved, first_w = _mdrnn_scan(layer, layer.input_size, n, P, E, B)
    up_dx, up_dw, up_through, up_saved, up_w = _mdrnn_scan(layer, d * H, n, P, E, B)
    grad_input = _sum(_times(first_dx, d), _c(adds=(d - 1) * R * layer.input_size))
    grad_weight = _sum(_times(first_dw, d), _times(up_dw, d * (L - 1)))
    shared = _sum(_times(first_through, d), _times(up_through, d * (L - 1)),
                  _times(_sum(_times(up_dx, d), _c(adds=(d - 1) * R * d * H)), L - 1))
    lstm = layer.cell == "lstm"
    saved = [Saved("input", R * layer.input_size, tensor="input", needed_for="weight"),
             Saved("zero h at the grid's edge (every layer and scan)", L * d * B * H, needed_for="weight"),
             Saved("cell tensors per position", d * (first_saved + (L - 1) * up_saved), needed_for="any")]
    if lstm:
        saved += [Saved("zero c at the grid's edge (every layer and scan)", L * d * B * H, needed_for="any"),
                  Saved("h read by successors' products, for dW", d * (first_w + (L - 1) * up_w), needed_for="weight")]
    if sizes.compare(L, 1) != 0:
        saved.append(Saved("inputs of layers 2..L", (L - 1) * R * d * H, needed_for="weight"))
    bh = layer.blocks(n) * H
    params = {"W_in (layer 1, each scan)": (bh, layer.input_size), "W_d (each grid dimension d)": (bh, H)}
    if sizes.compare(L, 1) != 0:
        params["W_in (layers 2..L)"] = (bh, d * H)
    if layer.bias:
        params["bias"] = (bh,)
    steps = layer.counts(shape, out).sequential_steps_backward
    notes = ("backward: dL/dh at a position gathers the output's gradient and one from each successor along each grid "
             f"dimension (E = {sizes.to_text(sizes.normalize(E))} recurrent edges per scan); the backward runs the same "
             f"schedule in reverse: {sizes.to_text(sizes.normalize(steps))} sequential steps",)
    return Backward(grad_input=grad_input, grad_weight=grad_weight, shared=shared, saved=tuple(saved), params=params,
                    notes=notes, sequential_steps=steps)
