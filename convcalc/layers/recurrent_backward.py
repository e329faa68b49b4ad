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
the input needs no gradient); grad_weight everything else, the gradient through time included
(dW needs it). A frozen recurrent layer whose input needs a gradient still runs BPTT: that case
is not separated here.
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
    return ", ".join(f"{k} {sizes.to_text(sizes.normalize(v))}" for k, v in counts.items() if sizes.compare(v, 0) != 0) or "none"


# -- rnn, gru, lstm ----------------------------------------------------------------------------------


def cell_backward(layer: Any, T: Any, B: Any) -> tuple[dict, Any]:
    """One layer and direction of an rnn/gru/lstm cell, the whole sequence and batch: the
    elementwise work of the cell's derivatives (matrix products apart), and the activation
    elements it saves (its outputs h[t] included, layer input and h[-1] apart).

    rnn: h = act(a): tanh' 2 mults + 1 add, relu a comparison per element; saves every h[t].
    gru (r, z, n gates; hn = W_hn h + b_hn): hn*r -> g*r, g*hn (2); d = h - n, the sign flip of
    -g for n (1); d*z in place -> g*z, g*d (2); sigmoid' r, z (4 mults, 2 adds), tanh' n (2, 1); n
    takes two gradients (1 add): 11 mults, 4 adds per hidden element and step; h[t] takes three
    gradients (output, h - n and W_hh of step t + 1): 2 adds for t < T - 1. Saves per step the
    gates tensor (3H), the clone of hn (in-place mul_), n, the clone of h - n, and h[t] for t < T - 1.
    lstm: o*tanh(c) (2), tanh'(c) (2, 1), f*c[t-1] (grad_f; grad_c[t-1] for t >= 1), i*g (2),
    sigmoid' i, f, o (6, 3), tanh' g (2, 1): 15 mults, 5 adds, + 1 mult for t >= 1; c[t] takes two
    gradients for t < T - 1 (1 add). Saves per step the gates tensor (4H), tanh(c), c[t] and h[t]
    for t < T - 1 (read by step t + 1), and with proj_size the unprojected h (hy).
    """
    H, P = layer.hidden_size, layer.out_size
    R = T * B
    name = type(layer).__name__
    if name == "GRU":
        return _c(mults=11 * R * H, adds=4 * R * H + 2 * (T - 1) * B * H), R * 6 * H + (T - 1) * B * H
    if name == "LSTM":
        work = _c(mults=15 * R * H + (T - 1) * B * H, adds=5 * R * H + (T - 1) * B * H + (T - 1) * B * P)
        saved = R * 5 * H + (T - 1) * B * H + (T - 1) * B * P + (R * H if layer.has_proj else 0)
        return work, saved
    if layer.nonlinearity == "relu":
        work = _c(comparisons=R * H)
    else:
        work = _c(mults=2 * R * H, adds=R * H)
    return _sum(work, _c(adds=(T - 1) * B * H)), R * H


def _direction(layer: Any, I: Any, T: Any, B: Any) -> tuple[dict, dict, Any]:
    """One layer and direction: (dL/dx of its input, everything else, saved elements)."""
    G, H, P = layer.GATES, layer.hidden_size, layer.out_size
    GH, R = G * H, T * B
    weights = _sum(_mm(GH, R, I), _mm(GH, R, P))  # dW_ih, dW_hh (summed over the T steps)
    through_time = _mm((T - 1) * B, GH, P)  # dL/dh[t-1] = delta_t W_hh, t >= 1
    if layer.bias:
        weights = _sum(weights, _c(adds=(2 if layer.bias_convention == "torch" else 1) * GH * (R - 1)))
    if getattr(layer, "has_proj", False):
        weights = _sum(weights, _mm(P, R, H), _mm(R, P, H))  # dW_hr, dL/dhy = g W_hr
    cell, saved = cell_backward(layer, T, B)
    return _mm(R, GH, I), _sum(weights, through_time, cell), saved


def rnn_backward(layer: Any, shape: tuple, out: tuple, batch: Any) -> Backward:
    """BPTT of rnn/gru/lstm (see the module's docstring and cell_backward), whole batch:
    per layer and direction, dW_ih, dW_hh, the biases, dL/dh through time, the cell's derivatives;
    dL/dx of each layer's input (the first layer's is grad_input), the directions' gradients of
    the shared input summed ((nd - 1)*R*I adds), dropout's g*noise between layers; saved: the input,
    the zero initial state(s) (one tensor of L*nd*B*P, lstm also L*nd*B*H), each layer's cell
    tensors, each later layer's input and, with dropout, its noise."""
    T, B, L, nd = shape[0], batch, layer.num_layers, layer.directions
    R, P, H = T * B, layer.out_size, layer.hidden_size
    first_dx, first_rest, first_saved = _direction(layer, layer.layer_input(0), T, B)
    up_dx, up_rest, up_saved = _direction(layer, layer.layer_input(1), T, B)
    upper_in = nd * P
    grad_input = _sum(_times(first_dx, nd), _c(adds=(nd - 1) * R * layer.input_size))
    dropout = layer.dropout != 0
    between = _sum(_times(up_dx, nd), _c(adds=(nd - 1) * R * upper_in), _c(mults=R * upper_in if dropout else 0))
    grad_weight = _sum(_times(first_rest, nd), _times(up_rest, nd * (L - 1)), _times(between, L - 1))
    saved = [Saved("input", R * layer.input_size, tensor="input"),
             Saved("h0 (zeros, every layer and direction)", L * nd * B * P)]
    if type(layer).__name__ == "LSTM":
        saved.append(Saved("c0 (zeros, every layer and direction)", L * nd * B * H))
    saved.append(Saved("cell tensors per step (gates, states)", nd * (first_saved + (L - 1) * up_saved)))
    if sizes.compare(L, 1) != 0:
        saved.append(Saved("inputs of layers 2..L", (L - 1) * R * upper_in))
        if dropout:
            noise = (L - 1) * (1 if layer.dropout == 1 else R * upper_in)
            saved.append(Saved("dropout noise between layers", noise))
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
    return Backward(grad_input=grad_input, grad_weight=grad_weight, saved=tuple(saved), params=_rnn_params(layer),
                    notes=notes, sequential_steps=steps)


def _gh(layer: Any) -> Any:
    return layer.GATES * layer.hidden_size


def _step(layer: Any, B: Any) -> dict:
    """What one more time step adds to one layer and direction (every count is linear in T): an
    interior step's dW_hh, dL/dh[t-1], cell derivatives, projection, and its share of the input
    projection's dW_ih and dL/dx."""
    I = layer.layer_input(0)
    three, two = _direction(layer, I, 3, B), _direction(layer, I, 2, B)
    step = _sum(three[0], three[1], _times(_sum(two[0], two[1]), -1))
    return {k: sizes.normalize(v) for k, v in step.items()}


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
