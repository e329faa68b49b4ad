"""Regenerate tests/golden/course_rnn_backward.json: the course's recurrent cells (gated-rnn,
attention-rnn, mdrnn), which have no PyTorch module, written in PyTorch the way its own recurrent
layers run on the CPU (aten/src/ATen/native/RNN.cpp), and their backward recorded op by op.

    /tmp/torchvenv/bin/python tests/golden/make_course_rnn_backward.py

The recipes (what convcalc's recurrent_backward.py counts):
- every input projection is one matmul over all steps (positions) and samples, split into steps with
  unbind; the zero state before the start (or at the grid's edge) is a zeros tensor that goes
  through the recurrent products;
- gated-rnn: c = sigmoid(h W_h^T + A[t]), h = c*h + (1 - c)*U[t], A = x W_c^T (+ b_c), U = x W_x^T (+ b_x);
- attention-rnn(k): [q_0, k_0, v_0] from one matmul of x, [q_i, k_i, v_i] = h[t-i] M_i^T per step
  (torch.split into q, k, v), Q, K, V stacked over the terms, w = bmm(q, k), a = softmax(w),
  h = bmm(a, V); k = inf: step t reads every earlier state;
- mdrnn: per scan (a corner of the grid) its own projection of the layer input; the zero states
  of every layer and scan one tensor (for h; another for c), as PyTorch's hx; per position
  z = X[p] + sum_d h[p - e_d] W_d^T; tanh, or MD-LSTM: the gates i, o, g, f_1..f_n as in-place
  sigmoid_/tanh_ on chunks of z, c = i*g + sum_d f_d*c[p - e_d], h = o*tanh(c); the scans'
  outputs concatenated are the next layer's input.
loss = the sum of every output. Per run (input_grad true/false; frozen: parameters without
requires_grad, input_grad true) it records the backward's ops (TorchDispatchMode: per op name the
elements of its outputs, m*k*n and m*n of mm/bmm, elements into sum, softmax rows) and the activation
elements autograd saved (saved_tensors_hooks, by storage, parameters apart).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import torch

from make_rnn_backward_ops import Record  # every aten op run, counted

HERE = Path(__file__).parent




def measure(build, params, x_shape, input_grad, frozen):
    for p in params:
        p.requires_grad_(not frozen)
    x = torch.randn(*x_shape, requires_grad=input_grad)
    own = {p.untyped_storage().data_ptr() for p in params}
    storages = {}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in own:
            storages[(s.data_ptr(), s.nbytes())] = t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = build(x)
    rec = Record()
    if loss.requires_grad:
        with rec:
            loss.backward()
    return {"input_grad": input_grad, "frozen": frozen, "ops": rec.ops,
            "saved_elements": sum(k[1] // size for k, size in storages.items())}


def gated(T, B, n, m, bias):
    Wc, Wx, Wh = torch.randn(m, n), torch.randn(m, n), torch.randn(m, m)
    bc, bx = torch.randn(m), torch.randn(m)

    def build(x):
        xr = x.view(T * B, n)
        A = (torch.addmm(bc, xr, Wc.t()) if bias else xr.mm(Wc.t())).view(T, B, m).unbind(0)
        U = (torch.addmm(bx, xr, Wx.t()) if bias else xr.mm(Wx.t())).view(T, B, m).unbind(0)
        h, outs = torch.zeros(B, m), []
        for t in range(T):
            c = torch.sigmoid(h.mm(Wh.t()) + A[t])
            h = c * h + (1 - c) * U[t]
            outs.append(h)
        return torch.stack(outs).sum()
    return build, [Wc, Wx, Wh] + ([bc, bx] if bias else []), (T, B, n)


def attention(T, B, n, m, dk, k):
    width, lags = 2 * dk + m, (T - 1 if k == "inf" else k)
    M = [torch.randn(width, n)] + [torch.randn(width, m) for _ in range(lags)]

    def build(x):
        P0 = x.view(T * B, n).mm(M[0].t()).view(T, B, width).unbind(0)
        zero, hs = torch.zeros(B, m), []
        for t in range(T):
            j = t if k == "inf" else k
            srcs = [P0[t]] + [(hs[t - i] if t - i >= 0 else zero).mm(M[i].t()) for i in range(1, j + 1)]
            parts = [torch.split(p, [dk, dk, m], dim=1) for p in srcs]
            Q, K, V = (torch.stack([p[i] for p in parts], 1) for i in range(3))
            terms = j + 1
            w = torch.bmm(Q.reshape(B * terms, 1, dk), K.reshape(B * terms, dk, 1)).view(B, terms)
            hs.append(torch.bmm(torch.softmax(w, dim=1).unsqueeze(1), V).squeeze(1))
        return torch.stack(hs).sum()
    return build, M, (T, B, n)


def mdrnn(grid, B, D, H, cell, scans, layers, bias):
    n = len(grid)
    b = 3 + n if cell == "lstm" else 1
    corners = list(itertools.product((1, -1), repeat=n))[:scans]
    Ws = [[(torch.randn(b * H, D if layer == 0 else scans * H), [torch.randn(b * H, H) for _ in range(n)], torch.randn(b * H))
           for _ in range(scans)] for layer in range(layers)]
    positions = list(itertools.product(*(range(s) for s in grid)))
    P = len(positions)

    def build(x):
        inp = x.permute(*range(2, 2 + n), 0, 1).reshape(P * B, D)
        # the zero states of every layer and scan: one tensor each for h and c, as PyTorch's hx
        zeros_h, zeros_c = torch.zeros(layers * scans, B, H), torch.zeros(layers * scans, B, H)
        for layer in range(layers):
            outs = []
            for s, ((Win, Wd, bb), signs) in enumerate(zip(Ws[layer], corners)):
                X = (torch.addmm(bb, inp, Win.t()) if bias else inp.mm(Win.t())).view(P, B, b * H).unbind(0)
                zh, zc, h, c = zeros_h[layer * scans + s], zeros_c[layer * scans + s], {}, {}
                order = sorted(positions, key=lambda p: tuple(v * s for v, s in zip(p, signs)))
                for p in order:
                    preds = [tuple(v - (s if d == e else 0) for e, (v, s) in enumerate(zip(p, signs))) for d in range(n)]
                    z = X[positions.index(p)]
                    for d, q in enumerate(preds):
                        z = z + h.get(q, zh).mm(Wd[d].t())
                    if cell == "tanh":
                        h[p] = torch.tanh(z)
                    else:
                        ch = z.unsafe_chunk(b, 1)
                        i_, o_, g_ = ch[0].sigmoid_(), ch[1].sigmoid_(), ch[2].tanh_()
                        cc = i_ * g_
                        for d, q in enumerate(preds):
                            cc = cc + ch[3 + d].sigmoid_() * c.get(q, zc)
                        c[p] = cc
                        h[p] = o_ * cc.tanh()
                outs.append(torch.stack([h[p] for p in positions]))
            inp = torch.cat(outs, -1).view(P * B, scans * H)
        return inp.sum()
    params = [t for layer in Ws for Win, Wd, bb in layer for t in [Win, *Wd] + ([bb] if bias else [])]
    return build, params, (B, D, *grid)


CASES = (
    [("gated-rnn", {"input_size": n, "hidden_size": m, "bias": bias}, T, B, lambda T=T, B=B, n=n, m=m, bias=bias: gated(T, B, n, m, bias))
     for T, B, n, m, bias in [(4, 2, 3, 2, True), (3, 1, 2, 3, False), (1, 2, 2, 2, True), (5, 3, 1, 1, False)]]
    + [("attention-rnn", {"input_size": n, "hidden_size": m, "key_size": dk, "k": k}, T, B,
        lambda T=T, B=B, n=n, m=m, dk=dk, k=k: attention(T, B, n, m, dk, k))
       for T, B, n, m, dk, k in [(5, 2, 3, 2, 2, 2), (4, 1, 2, 3, 1, 1), (3, 2, 2, 2, 3, 5), (4, 2, 2, 3, 2, "inf"),
                                 (1, 1, 2, 2, 2, "inf"), (6, 1, 1, 2, 1, 3)]]
    + [("mdrnn", {"input_size": D, "hidden_size": H, "cell": cell, "directions": scans, "num_layers": layers, "bias": bias},
        grid, B, lambda grid=grid, B=B, D=D, H=H, cell=cell, scans=scans, layers=layers, bias=bias:
        mdrnn(grid, B, D, H, cell, scans, layers, bias))
       for grid, B, D, H, cell, scans, layers, bias in [
           ((3, 4), 2, 3, 2, "tanh", 1, 1, True), ((3, 2), 1, 2, 3, "lstm", 1, 1, True), ((1, 3), 2, 2, 2, "lstm", 1, 1, False),
           ((2, 3), 1, 2, 2, "tanh", 4, 2, True), ((3, 2), 2, 1, 2, "lstm", 2, 2, True), ((4,), 2, 2, 3, "lstm", 2, 1, True),
           ((2, 2, 2), 1, 2, 2, "tanh", 2, 1, False)]]
)


def main() -> None:
    torch.manual_seed(20261122)
    out = []
    for layer, kwargs, size, batch, make in CASES:
        runs = []
        for input_grad, frozen in ((True, False), (False, False), (True, True)):
            build, params, x_shape = make()
            runs.append(measure(build, params, x_shape, input_grad, frozen))
        shape = [size, kwargs["input_size"]] if layer != "mdrnn" else [kwargs["input_size"], *size]
        out.append({"layer": layer, "kwargs": kwargs, "input": shape, "batch": batch, "runs": runs})
    meta = {"torch": torch.__version__, "dtype": "float32"}
    text = json.dumps({"meta": meta, "cases": out}, separators=(",", ":"))
    (HERE / "course_rnn_backward.json").write_text(text.replace('{"layer"', '\n{"layer"') + "\n")


if __name__ == "__main__":
    main()
