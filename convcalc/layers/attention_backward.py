"""The backward of multi-head attention (convcalc/layers/attention.py), as PyTorch 2.13's
autograd runs it through F.multi_head_attention_forward (need_weights=False) and the math
kernel of scaled_dot_product_attention. ``backward`` has the derivation."""

from __future__ import annotations

from typing import Any

from .. import sizes
from .attention import _plus, tidy
from .elementwise import softmax_backward


def linear_backward(rows: Any, n_in: Any, n_out: Any, bias: bool) -> tuple[dict, dict]:
    """(dL/dx, dL/dW and dL/db) of a linear map of rows x n_in to n_out: dL/dx = g W (rows*n_in
    outputs of n_out products each), dL/dW = g^T x (n_out*n_in outputs of rows products),
    dL/db = g summed over the rows."""
    products = rows * n_in * n_out
    grad_input = {"macs": products, "mults": products, "adds": rows * n_in * (n_out - 1)}
    grad_weight = {"macs": products, "mults": products,
                   "adds": n_out * n_in * (rows - 1) + (n_out * (rows - 1) if bias else 0)}
    return grad_input, grad_weight


def interior(batch: Any, T: Any, keys: Any, heads: Any, head_dim: Any, dropout: bool, need_weights: bool = False) -> dict:
    """The backward through scores, softmax and attention times V of the whole batch (BH =
    batch*heads matrices): dL/dA = g V^T and dL/dV = A^T g (bmm), the dropout mask multiplied
    in, _softmax_backward_data over rows of S' keys, dL/dQ = gS K and dL/dK = gS^T Q (bmm), and
    the two sqrt(scale) factors multiplied into dL/dq and dL/dk (need_weights: one scale, of q)."""
    bh, d, n = batch * heads, head_dim, T * keys
    products = 4 * bh * n * d
    adds = (bh * n * (d - 1) + bh * keys * d * (T - 1)  # dL/dA, dL/dV
            + bh * T * d * (keys - 1) + bh * d * keys * (T - 1))  # dL/dQ, dL/dK
    soft = softmax_backward(bh * T, keys)
    scale = bh * T * d + (0 if need_weights else bh * keys * d)
    return {"macs": products, "mults": products + soft["mults"] + (bh * n if dropout else 0) + scale,
            "adds": adds + soft["adds"]}


def backward(layer: Any, shape: tuple, batch: Any) -> Any:
    """The whole batch's backward (b = batch, T queries, S keys, S' = S + appended key positions,
    h heads of d, k = kv_heads*d key/value features, E = embed_dim):

    - output projection: dL/d(its input) = g W_out (bT*E*E macs; needed by either gradient),
      dL/dW_out = g^T a (E*E*bT macs), dL/db_out g summed over the bT rows;
    - ``interior``: dL/dA, dL/dV, dropout, softmax backward, dL/dQ, dL/dK, the scalings;
    - grouped-query: dL/dk and dL/dv of the repeated heads summed back to kv_heads heads:
      (h - kv_heads)*S*d adds each, per sample;
    - packed self-attention: the three slices q, k, v of the one projection each get their
      gradient through select_backward (a zero-filled 3 x T x E tensor) and autograd adds the
      three: 2*3*bT*E adds; packed cross-attention the two slices k, v: 2*bS*E adds;
    - input projections as linear maps (``linear_backward``): dL/dx of the query (and of the
      memory, or key and value, for cross-attention) is grad_input; where one tensor feeds
      several projections (the memory as key and value, the input as q, k, v of grouped
      self-attention) autograd adds their gradients: (uses - 1) adds per element;
    - bias_k, bias_v: repeated over the batch, their gradients sum b copies: E*(b - 1) adds each.

    Saved (by storage, as autograd keeps them): the input of every projection (for dL/dW: a
    contiguous copy of the query when batch_first transposes it; with separate projection
    weights and batch_first, a memory that is key and value is copied once for each, except for
    batch 1 or S = 1, whose transpose needs no copy), q and k after scaling (b*h*T*d,
    b*h*S'*d), the softmax output (b*h*T*S'), with dropout its mask and the dropped weights (two
    more b*h*T*S'; need_weights: k unscaled, sharing its storage with v where they are slices
    of one packed projection), v for the product with A (its storage: the whole packed projection 3*bT*E
    for self-attention, the packed k, v 2*bS*E for cross-attention, the repeated heads b*h*S*d
    for grouped-query, the concatenation b*h*S'*d with appended keys, else bS*k), and the output
    projection's input (bT*E)."""
    from .training import Backward, Saved  # only a training query imports it

    T, S = shape[0], layer.kv_length(shape)
    E, h, d = layer.embed_dim, layer.num_heads, layer.head_dim
    hk = h if layer.kv_heads is None else layer.kv_heads
    kvd = hk * d
    kdim, vdim = layer.k_dim, layer.v_dim
    keys = S + layer.extra_keys
    b, bias = batch, layer.bias
    rows, kv_rows = b * T, b * S
    out_in, out_w = linear_backward(rows, E, E, bias)
    shared = _plus(out_in, interior(b, T, keys, h, d, layer.dropout > 0, layer.need_weights))
    grad_weight = dict(out_w)
    grad_input: dict = {}
    if layer.grouped:
        shared = _plus(shared, {"adds": 2 * b * (h - hk) * S * d})
    if layer.packed and layer.self_attention:
        gi, gw = linear_backward(rows, E, 3 * E, bias)
        grad_input, grad_weight = _plus(grad_input, gi), _plus(grad_weight, gw)
        shared = _plus(shared, {"adds": 2 * 3 * rows * E})
    elif layer.packed:
        for gi, gw in (linear_backward(rows, E, E, bias), linear_backward(kv_rows, E, 2 * E, bias)):
            grad_input, grad_weight = _plus(grad_input, gi), _plus(grad_weight, gw)
        shared = _plus(shared, {"adds": 2 * kv_rows * E})
    else:
        for gi, gw in (linear_backward(rows, E, E, bias), linear_backward(kv_rows, kdim, kvd, bias),
                       linear_backward(kv_rows, vdim, kvd, bias)):
            grad_input, grad_weight = _plus(grad_input, gi), _plus(grad_weight, gw)
        if layer.self_attention:
            grad_input = _plus(grad_input, {"adds": 2 * rows * E})
        elif layer.shared_kv:
            grad_input = _plus(grad_input, {"adds": kv_rows * kdim})
    if layer.add_bias_kv:
        grad_weight = _plus(grad_weight, {"adds": 2 * E * (b - 1)})

    copy = layer.batch_first and not layer.grouped
    saved = [Saved("input (a contiguous copy: batch_first)" if copy else "input", rows * E,
                   tensor="" if copy else "input", needed_for="weight")]
    if not layer.self_attention:
        if layer.shared_kv and copy and not layer.packed and sizes.compare(b, 1) != 0 and sizes.compare(S, 1) != 0:
            # k_proj and v_proj each make a contiguous copy of the transposed memory (none for batch 1 or S = 1)
            saved += [Saved("memory as key (a contiguous copy: batch_first)", kv_rows * kdim, needed_for="weight"),
                      Saved("memory as value (a contiguous copy: batch_first)", kv_rows * kdim, needed_for="weight")]
        elif layer.shared_kv:
            saved.append(Saved("memory (key and value)", kv_rows * kdim, needed_for="weight"))
        else:
            saved += [Saved("key", kv_rows * kdim, needed_for="weight"), Saved("value", kv_rows * vdim, needed_for="weight")]
    bh = b * h
    saved.append(Saved("q (scaled)", bh * T * d, needed_for="any"))
    if not layer.need_weights:
        saved.append(Saved("k (scaled)", bh * keys * d, needed_for="any"))
    elif layer.extra_keys or not layer.packed:  # k unscaled: its own storage, else the packed projection's (v's)
        saved.append(Saved("k", bh * keys * d if layer.extra_keys else kv_rows * kvd, needed_for="any"))
    saved.append(Saved("attention weights (softmax output)", bh * T * keys, needed_for="any"))
    if layer.dropout > 0:
        saved += [Saved("dropout mask", bh * T * keys, needed_for="any"),
                  Saved("attention weights after dropout", bh * T * keys, needed_for="any")]
    if layer.extra_keys:
        v = ("v with the appended keys", bh * keys * d)
    elif layer.grouped:
        v = ("v repeated to num_heads heads", bh * S * d)
    elif layer.packed and layer.self_attention:
        v = ("v (its storage: the packed q, k, v projection)", 3 * rows * E)
    elif layer.packed:
        v = ("v (its storage: the packed k, v projection)", 2 * kv_rows * E)
    else:
        v = ("v", kv_rows * kvd)
    saved += [Saved(v[0], v[1], needed_for="any"), Saved("output projection's input", rows * E, needed_for="weight")]
    path = ("q/k/v projections and F.scaled_dot_product_attention(enable_gqa=True)" if layer.grouped else
            f"F.multi_head_attention_forward with need_weights={layer.need_weights}")
    kernel = "" if layer.need_weights else ", _scaled_dot_product_attention_math"
    notes = [f"attention backward: PyTorch's math path ({path}{kernel}); the returned weights get no gradient; "
             "autograd's additions of gradients of slices and of tensors used several times are counted"]
    tidied = [{k: tidy(v) for k, v in part.items()} for part in (grad_input, grad_weight, shared)]
    saved = [s._replace(elements=tidy(s.elements)) for s in saved]
    grad_input, grad_weight, shared = tidied
    return Backward(grad_input=grad_input, grad_weight=grad_weight, shared=shared, saved=tuple(saved),
                    params=layer.params(), notes=tuple(notes))
