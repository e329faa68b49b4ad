"""Check the formulas of BACKWARD_NOTES.md against every recorded case of torch_backward_golden.json.

    python3 tests/golden/check_backward_notes.py

Plain Python, no torch. For every case and run it predicts, from the layer's sizes alone, the
backward FLOPs FlopCounterMode reports and the saved bytes by kind (activation = input + target +
other; param; buffer), and prints per family how many runs the formulas match. Any mismatch is
printed with the case.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from math import prod
from pathlib import Path

HERE = Path(__file__).parent
F32, I64 = 4, 8


def tup(v, n):
    return list(v) if isinstance(v, (list, tuple)) else [v] * n


def conv(case, fwd_case, run):
    """convNd / convtransposeNd / maskedconv2d."""
    layer, kw, b = case["layer"], dict(case["kwargs"]), case["batch"]
    if layer == "maskedconv2d":
        kh, kwd = kw["kernel_size"]
        kw = {"in_channels": kw["in_channels"], "out_channels": kw["out_channels"], "kernel_size": [kh, kwd],
              "padding": [kh // 2, kwd // 2], "groups": 1, "bias": kw["bias"]}
        layer = "conv2d"
    n = int(layer[-2])
    cin, cout, g = kw["in_channels"], kw["out_channels"], kw.get("groups", 1)
    spatial = case["input"][1:]
    out = run["output_shape"][1:]
    k, d = tup(kw["kernel_size"], n), tup(kw.get("dilation", 1), n)
    transposed = "transpose" in layer
    # FlopCounterMode: forward 2*B*Cout*(Cin/g)*prod(k)*prod(positions), positions = output (conv)
    # or input (transposed); backward: grad_input = the forward count, grad_weight = g * forward count
    fwd = 2 * b * cout * (cin // g) * prod(k) * prod(spatial if transposed else out)
    bwd = (fwd if run["input_grad"] else 0) + g * fwd
    # saved: the tensor the convolution reads (x, or the padded copy), and the weight (a param)
    x = b * cin * prod(spatial) * F32
    mode = kw.get("padding_mode", "zeros")
    pad = kw.get("padding", 0)
    act = x
    if not transposed:
        if pad == "same":
            total = [di * (ki - 1) for di, ki in zip(d, k)]
        else:
            total = [2 * p for p in tup(0 if pad == "valid" else pad, n)]
        if mode != "zeros":
            # the module pads a copy (F.pad, even by 0) and the convolution reads the copy;
            # reflection/replication padding keeps its input too, when dL/dx is needed
            act = b * cin * prod(i + t for i, t in zip(spatial, total)) * F32
            if mode in ("reflect", "replicate") and run["input_grad"]:
                act += x
        elif pad == "same" and any(t % 2 for t in total):
            # asymmetric "same": PyTorch pads a zero copy by the odd 1 on the right
            act = b * cin * prod(i + t % 2 for i, t in zip(spatial, total)) * F32
    weight = cout * (cin // g) * prod(k) * F32
    return fwd, bwd, act, weight, 0


def linear(case, fwd_case, run):
    kw, b = case["kwargs"], case["batch"]
    rows = b * prod(case["input"][:-1])
    fwd = 2 * rows * kw["in_features"] * kw["out_features"]
    bwd = fwd * (2 if run["input_grad"] else 1)
    # x saved (for dL/dW); W^T saved only when dL/dx is needed
    weight = kw["in_features"] * kw["out_features"] * F32 if run["input_grad"] else 0
    return fwd, bwd, rows * kw["in_features"] * F32, weight, 0


def pool(case, fwd_case, run):
    b, c = case["batch"], case["input"][0]
    x = b * prod(case["input"]) * F32
    if case["layer"].startswith("adaptiveavg") and set(tup(case["kwargs"]["output_size"], len(case["input"]) - 1)) == {1}:
        x = 0  # output size 1: PyTorch takes the mean, which saves nothing
    idx = b * c * prod(run["output_shape"][1:]) * I64 if "max" in case["layer"] else 0
    return 0, 0, x + idx, 0, 0


def batchnorm(case, fwd_case, run):
    kw, b = case["kwargs"], case["batch"]
    c = kw["num_features"]
    x = b * prod(case["input"]) * F32
    # save_mean and save_invstd: 2*C float32, whatever the batch
    return 0, 0, x + 2 * c * F32, c * F32 if kw["affine"] else 0, 2 * c * F32 if kw["track_running_stats"] else 0


def recurrent(case, fwd_case, run):
    """rnn (tanh, relu), gru, lstm (proj_size), any num_layers, bidirectional, bias, dropout."""
    layer, kw, b = case["layer"], case["kwargs"], case["batch"]
    t, d_in = case["input"]
    h, nl = kw["hidden_size"], kw["num_layers"]
    p = kw.get("proj_size", 0) or 0
    ho = p or h  # the size of h[t]
    dirs = 2 if kw.get("bidirectional") else 1
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[layer]
    dropout = kw.get("dropout", 0) > 0
    fwd = bwd = 0
    act = t * b * d_in * F32  # the input of the first layer: x, read by linear_ih
    weights = 0
    # h0 (and c0): one zero tensor (num_layers*dirs, B, ho) (and (num_layers*dirs, B, H)), saved by the first step
    act += nl * dirs * b * ho * F32 + (nl * dirs * b * h * F32 if layer == "lstm" else 0)
    for layer_i in range(nl):
        din = d_in if layer_i == 0 else dirs * ho
        need_dx = run["input_grad"] or layer_i > 0
        if layer_i > 0:
            # the previous layer's output (T, B, dirs*ho), a new tensor (stack/cat); with dropout its
            # float32 mask and the dropped-out copy instead
            act += t * b * dirs * ho * F32 * (2 if dropout else 1)
        for _ in range(dirs):
            ih = 2 * t * b * din * gates * h       # linear_ih over the whole sequence
            hh = 2 * b * ho * gates * h            # linear_hh, per step
            pr = 2 * b * h * p                     # projection, per step
            fwd += ih + t * hh + t * pr
            # dL/dW_ih once; dL/d(input) when needed; dL/dW_hh every step; dL/dh[t-1] for t >= 1
            bwd += ih * (2 if need_dx else 1) + hh * (2 * t - 1) + pr * 2 * t
            if layer == "rnn":
                per_step = b * h                       # tanh/relu output = h[t]
                act += (t * per_step) * F32
            elif layer == "gru":
                # per step: the hidden-side gates (B, 3H), saved 4x; the clone of n's hidden part
                # before mul_(r), n = tanh(...) and the clone of (h - n) before mul_(z): 3 x (B, H);
                # h[t] for the next step's matmul except the last step
                act += (t * 6 * b * h + (t - 1) * b * h) * F32
            else:
                # per step: gates (B, 4H), tanh(c[t]) (B, H), with a projection o*tanh(c[t]) (B, H);
                # c[t] and h[t] (B, ho) for the next step except the last step
                act += (t * 5 * b * h + t * b * h * (1 if p else 0) + (t - 1) * b * (h + ho)) * F32
            # weights saved: W_ih^T only when dL/dx of the layer is needed; W_hh^T from step 1 (T > 1); W_hr^T
            weights += (gates * h * din * F32 if need_dx else 0) + (gates * h * ho * F32 if t > 1 else 0) + h * p * F32
    return fwd, bwd, act, weights, 0


def wavenet(case, fwd_case, run):
    kw = case["kwargs"]
    r, dc, s = kw["residual_channels"], kw["dilation_channels"], kw["skip_channels"]
    k, cls = kw["kernel_size"], kw["output_classes"]
    t = case["input"][1]
    dil = [2**i for _ in range(kw["blocks"]) for i in range(kw["layers_per_block"])]
    first = 2 * t * cls * r * k
    fwd = first + sum(2 * t * r * 2 * dc * k + 2 * t * dc * r + 2 * t * dc * s for _ in dil) + 2 * t * s * s + 2 * t * s * cls
    # the last residual 1x1 convolution feeds nothing the loss sees: it gets no backward at all
    bwd = 2 * fwd - (0 if run["input_grad"] else first) - 2 * (2 * t * dc * r)
    # the causally padded input of every dilated convolution, tanh and sigmoid outputs and their
    # product z (read by the residual and skip 1x1 convolutions), relu(skips), relu(out1), softmax
    act = cls * (t + k - 1) + sum(r * (t + di * (k - 1)) + 3 * dc * t for di in dil) + 2 * s * t + cls * t
    weights = r * cls * k + sum(2 * dc * r * k + r * dc + s * dc for _ in dil) + s * s + cls * s
    return fwd, bwd, act * F32, weights * F32, 0  # every convolution's weight; no bias is saved


ELEMENTWISE = {"relu": "output", "relu6": "input", "leakyrelu": "input", "sigmoid": "output", "tanh": "output",
               "gelu": "input", "silu": "input", "softmax": "output", "dropout": "float32 mask", "flatten": None}


def elementwise(case, fwd_case, run):
    n = case["batch"] * prod(case["input"])
    if case["layer"] == "crossentropy":
        # log_softmax output (N, K) saved by log_softmax and nll_loss, the targets int64, total_weight scalar
        return 0, 0, n * F32 + case["batch"] * I64 + F32, 0, 0
    return 0, 0, 0 if ELEMENTWISE[case["layer"]] is None else n * F32, 0, 0


def family(layer):
    if layer.startswith("conv") or layer == "maskedconv2d":
        return conv
    if "pool" in layer:
        return pool
    if layer.startswith("batchnorm"):
        return batchnorm
    if layer in ("rnn", "gru", "lstm"):
        return recurrent
    return {"linear": linear, "wavenet": wavenet}.get(layer, elementwise)


def network_leaf(kind, b, shape_in, shape_out, first):
    """(activation bytes, param bytes, buffer bytes) one leaf of a network saves, shared storages included."""
    x, y = b * prod(shape_in) * F32, b * prod(shape_out) * F32
    c = shape_out[0]
    if kind == "conv2d":
        return x, None, 0
    if kind == "batchnorm2d":
        return x + 2 * c * F32, c * F32, 2 * c * F32
    if kind in ("relu", "relu6"):
        return y, 0, 0
    if kind == "maxpool2d":
        return x + y // F32 * I64, 0, 0
    if kind == "adaptiveavgpool2d":
        return (0 if shape_out[1:] == [1, 1] else x), 0, 0
    if kind == "flatten":
        return 0, 0, 0
    if kind == "dropout":
        return x, 0, 0
    if kind == "linear":
        return x, shape_in[0] * shape_out[0] * F32, 0
    raise ValueError(kind)


def conv_groups(cin, cout, weight_elems):
    per = weight_elems // cout  # (cin / groups) * prod(kernel)
    for k in (1, 3, 5, 7, 11):
        if per == cin * k * k:
            return 1, k
    k = int(round(per ** 0.5))
    assert k * k == per, (cin, cout, weight_elems)
    return cin, k  # depthwise


def check_networks(data) -> int:
    bad = 0
    for net in data["networks"]:
        b = net["batch"]
        leaves_ok = 0
        bwd = 0
        for i, (kind, shape_in, shape_out, storages) in enumerate(net["layers"]):
            act = sum(e[0] for e in storages if e[2] not in ("param", "buffer"))
            par = sum(e[0] for e in storages if e[2] == "param")
            buf = sum(e[0] for e in storages if e[2] == "buffer")
            want = network_leaf(kind, b, shape_in, shape_out, i == 0)
            if kind == "conv2d":
                g, k = conv_groups(shape_in[0], shape_out[0], par // F32)
                fwd = 2 * b * par // F32 * prod(shape_out[1:])
                bwd += fwd * (g + (0 if i == 0 else 1))  # the network's input needs no dL/dx
                want = (want[0], par, 0)
            elif kind == "linear":
                bwd += 2 * (2 * b * shape_in[0] * shape_out[0])
            if (act, par, buf) == want:
                leaves_ok += 1
            else:
                print("MISMATCH", net["example"], b, i, kind, shape_in, shape_out, (act, par, buf), want)
        # a storage several leaves save: a relu's output that the next layer reads as its input, or a
        # residual block's input that both the body's first conv and the shortcut conv read
        pairs = defaultdict(int)
        for i, row in enumerate(net["layers"]):
            for e in row[3]:
                if e[3] != i:
                    pairs[(net["layers"][e[3]][0], row[0])] += 1
        odd = [p for p in pairs if p[0] not in ("relu", "relu6") and p != ("conv2d", "conv2d")]
        distinct = sum(e[0] for row in net["layers"] for e in row[3] if e[2] not in ("param", "buffer")
                       and net["layers"][e[3]] is row)
        totals = distinct == net["saved_activation_bytes"] and net["unattributed_bytes"] == 0
        ok_bwd = bwd == net["backward_flops"]
        bad += (leaves_ok != len(net["layers"])) + (not totals) + (not ok_bwd) + bool(odd)
        print(f"network {net['example']} batch {b}: leaf rules {leaves_ok}/{len(net['layers'])}, "
              f"distinct storages sum to saved_activation_bytes: {totals}, backward FLOPs formula: {ok_bwd}"
              f"{', unexplained sharing ' + str(odd) if odd else ''}")
        print(f"  storages saved again by a later leaf (first saver, later saver): {dict(pairs)}")
    return bad


def main() -> int:
    data = json.loads((HERE / "torch_backward_golden.json").read_text())
    forward = json.loads((HERE / "torch_golden.json").read_text())["cases"]
    ok, total = defaultdict(int), defaultdict(int)
    bad = 0
    for case in data["cases"]:
        fwd_case = forward[case["case"]] if case["case"] is not None else {}
        name = case["layer"]
        if name in ("rnn", "gru", "lstm") and case["kwargs"].get("dropout"):
            name += " (dropout)"
        if name == "rnn":
            name += " " + case["kwargs"]["nonlinearity"]
        for run in case["runs"]:
            assert not fwd_case or fwd_case["output_shape"] == run["output_shape"], case
            fwd, bwd, act, weights, buffers = family(case["layer"])(case, fwd_case, run)
            got = (run["forward_flops"], run["backward_flops"], run["saved_activation_bytes"],
                   run["saved_param_bytes"] if weights is not None else None, run["saved_buffer_bytes"])
            want = (fwd, bwd, act, weights, buffers)
            key = f"{name} input_grad={run['input_grad']}"
            total[key] += 1
            if got == want:
                ok[key] += 1
            else:
                bad += 1
                if bad <= 30:
                    print("MISMATCH", key, case["case"], case["kwargs"], case["input"], case["batch"], "got", got, "want", want)
    for key in sorted(total):
        print(f"{key:45s} {ok[key]}/{total[key]}")
    bad += check_networks(data)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
