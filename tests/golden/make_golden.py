"""Regenerate tests/golden/torch_golden.json from PyTorch (the ground truth).

    pip install torch==2.13.0 numpy
    python tests/golden/make_golden.py

For several hundred random layer configurations (seeded, so the file is reproducible) it records
what PyTorch says: the output shape, sum(p.numel()) of parameters and buffers, their bytes in
float32, FlopCounterMode's total, and, by running the layer on ones with all-ones weights, the
number of connections (taps on real input) and of output positions a transposed convolution
reaches. Configurations PyTorch refuses are recorded too, with refused: true, so the tests check
that convcalc refuses them as well.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

OUT = Path(__file__).with_name("torch_golden.json")
rng = random.Random(20261122)


def flops_of(module, x) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(x)
    return int(counter.get_total_flops())


def pick_tuple(n, lo, hi):
    return [rng.randint(lo, hi) for _ in range(n)]


def one_or_tuple(values):
    return values[0] if len(set(values)) == 1 and rng.random() < 0.5 else values


def conv_case(n: int, transposed: bool) -> dict:
    groups = rng.choice([1, 1, 1, 2, 3, 4])
    cin = groups * rng.randint(1, 4)
    cout = groups * rng.randint(1, 4)
    k = pick_tuple(n, 1, 5)
    s = pick_tuple(n, 1, 3)
    d = pick_tuple(n, 1, 3) if rng.random() < 0.4 else [1] * n
    spatial = pick_tuple(n, 1, 14 if n < 3 else 7)
    kw = {"in_channels": cin, "out_channels": cout, "kernel_size": one_or_tuple(k), "stride": one_or_tuple(s),
          "dilation": one_or_tuple(d), "groups": groups, "bias": rng.random() < 0.6}
    if transposed:
        kw["padding"] = one_or_tuple(pick_tuple(n, 0, 3))
        ops = [rng.randint(0, max(si, di) - 1) if rng.random() < 0.5 else 0 for si, di in zip(s, d)]
        if rng.random() < 0.05:
            ops = [max(si, di) for si, di in zip(s, d)]  # refused
        kw["output_padding"] = one_or_tuple(ops)
    else:
        r = rng.random()
        if r < 0.15:
            kw["padding"] = "same"
            if rng.random() < 0.7:
                kw["stride"] = 1
        elif r < 0.2:
            kw["padding"] = "valid"
        else:
            kw["padding"] = one_or_tuple(pick_tuple(n, 0, 3))
        kw["padding_mode"] = rng.choice(["zeros", "zeros", "zeros", "reflect", "replicate", "circular"])
    return {"layer": f"conv{'transpose' if transposed else ''}{n}d", "kwargs": kw, "input": [cin] + spatial,
            "batch": rng.choice([1, 2, 3])}


def run_conv(case: dict) -> dict:
    n = int(case["layer"][-2])
    transposed = "transpose" in case["layer"]
    cls = getattr(nn, f"ConvTranspose{n}d" if transposed else f"Conv{n}d")
    kw = case["kwargs"]
    m = cls(**kw)
    x = torch.ones([case["batch"]] + case["input"])
    y = m(x)
    rec = record_module(m, x, y)
    with torch.no_grad():
        ones = cls(**{**kw, "bias": False, "padding_mode": "zeros"} if not transposed else {**kw, "bias": False})
        ones.weight.fill_(1.0)
        z = ones(torch.ones([1] + case["input"]))
        rec["connections"] = int(round(z.double().sum().item()))
        if transposed:
            rec["reached_per_channel"] = int((z[0, 0] != 0).sum().item())
    return rec


def record_module(m, x, y) -> dict:
    params = sum(p.numel() for p in m.parameters())
    buffers = sum(b.numel() for b in m.buffers())
    return {
        "output_shape": list(y.shape[1:]),
        "params": params,
        "buffers": buffers,
        "param_bytes": sum(p.numel() * p.element_size() for p in m.parameters()),
        "buffer_bytes": sum(b.numel() * b.element_size() for b in m.buffers()),
        "torch_flops": flops_of(m, x),
    }


def pool_case(kind: str, n: int) -> dict:
    spatial = pick_tuple(n, 1, 16 if n < 3 else 8)
    c = rng.randint(1, 4)
    if kind.startswith("adaptive"):
        kw = {"output_size": one_or_tuple(pick_tuple(n, 1, 9))}
    else:
        k = pick_tuple(n, 1, 5)
        kw = {"kernel_size": one_or_tuple(k), "ceil_mode": rng.random() < 0.5,
              "padding": one_or_tuple([rng.randint(0, ki // 2) if rng.random() < 0.95 else ki // 2 + 1 for ki in k])}
        if rng.random() < 0.7:
            kw["stride"] = one_or_tuple(pick_tuple(n, 1, 4))
        if kind == "maxpool" and rng.random() < 0.4:
            kw["dilation"] = one_or_tuple(pick_tuple(n, 1, 3))
        if kind == "avgpool":
            kw["count_include_pad"] = rng.random() < 0.5
    return {"layer": f"{kind}{n}d", "kwargs": kw, "input": [c] + spatial, "batch": rng.choice([1, 2])}


def run_pool(case: dict) -> dict:
    kind, n = case["layer"][:-2], int(case["layer"][-2])
    names = {"maxpool": "MaxPool", "avgpool": "AvgPool", "adaptiveavgpool": "AdaptiveAvgPool", "adaptivemaxpool": "AdaptiveMaxPool"}
    m = getattr(nn, f"{names[kind]}{n}d")(**case["kwargs"])
    x = torch.ones([case["batch"]] + case["input"])
    y = m(x)
    rec = record_module(m, x, y)
    if kind in ("maxpool", "avgpool"):
        kw = case["kwargs"]
        tup = lambda v: list(v) if isinstance(v, (list, tuple)) else [v] * n  # noqa: E731
        k, p = tup(kw["kernel_size"]), tup(kw.get("padding", 0))
        s = tup(kw.get("stride", kw["kernel_size"]))
        d = tup(kw.get("dilation", 1))
        out = list(y.shape[2:])
        # taps on real input: a depthwise all-ones convolution over the zero-padded input, padded
        # on the right far enough to hold the ceil_mode windows, cropped to the pooled size
        pad = []
        for i in reversed(range(n)):
            right = max(0, (out[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 - (case["input"][i + 1] + p[i]))
            pad += [p[i], right]
        xi = F.pad(torch.ones([1] + case["input"]), pad)
        c = case["input"][0]
        w = torch.ones([c, 1] + k)
        conv = getattr(F, f"conv{n}d")
        z = conv(xi, w, stride=s, dilation=d, groups=c)
        z = z[(slice(None), slice(None)) + tuple(slice(0, o) for o in out)]
        rec["connections"] = int(round(z.double().sum().item()))
    return rec


def linear_case() -> dict:
    lead = pick_tuple(rng.randint(0, 2), 1, 6)
    fin, fout = rng.randint(1, 64), rng.randint(1, 64)
    return {"layer": "linear", "kwargs": {"in_features": fin, "out_features": fout, "bias": rng.random() < 0.6},
            "input": lead + [fin], "batch": rng.choice([1, 2, 4])}


def run_module_case(case: dict, cls) -> dict:
    m = cls(**case["kwargs"])
    x = torch.ones([case["batch"]] + case["input"])
    return record_module(m, x, m(x))


def bn_case(n: int) -> dict:
    c = rng.randint(1, 16)
    spatial = {1: pick_tuple(rng.randint(0, 1), 1, 10), 2: pick_tuple(2, 1, 8), 3: pick_tuple(3, 1, 5)}[n]
    return {"layer": f"batchnorm{n}d", "kwargs": {"num_features": c, "affine": rng.random() < 0.7,
            "track_running_stats": rng.random() < 0.7}, "input": [c] + spatial, "batch": 2}


def rnn_case(kind: str) -> dict:
    kw = {"input_size": rng.randint(1, 12), "hidden_size": rng.randint(1, 12), "num_layers": rng.randint(1, 3),
          "bias": rng.random() < 0.7, "bidirectional": rng.random() < 0.4}
    if kind == "rnn":
        kw["nonlinearity"] = rng.choice(["tanh", "relu"])
    if kind == "lstm" and rng.random() < 0.4:
        kw["proj_size"] = rng.randint(0, kw["hidden_size"])  # == hidden_size is refused
    return {"layer": kind, "kwargs": kw, "input": [rng.randint(1, 6), kw["input_size"]], "batch": rng.choice([1, 2, 3])}


def run_rnn(case: dict) -> dict:
    m = getattr(nn, case["layer"].upper())(**case["kwargs"])
    t, d = case["input"]
    x = torch.ones(t, case["batch"], d)  # (T, batch, features): PyTorch's default layout
    # on CPU a fused oneDNN LSTM/GRU kernel hides its matmuls from FlopCounterMode
    with torch.backends.mkldnn.flags(enabled=False):
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            y, _ = m(x)
    return {
        "output_shape": [y.shape[0], y.shape[2]],
        "params": sum(p.numel() for p in m.parameters()),
        "buffers": 0,
        "param_bytes": sum(p.numel() * p.element_size() for p in m.parameters()),
        "buffer_bytes": 0,
        "torch_flops": int(counter.get_total_flops()),
    }


def pixel_mask(cout, cin, kh, kw, kind, groups):
    """The PixelCNN mask, built the usual way: zero below the centre row and right of the centre
    (the centre too for mask A), then the centre tap by colour group (i < j for A, i <= j for B)."""
    mask = torch.ones(cout, cin, kh, kw)
    ch, cw = kh // 2, kw // 2
    mask[:, :, ch, cw:] = 0
    mask[:, :, ch + 1:, :] = 0
    gi, go = cin // groups, cout // groups
    for j in range(groups):
        for i in range(groups):
            if i < j or (kind == "B" and i == j):
                mask[j * go:(j + 1) * go, i * gi:(i + 1) * gi, ch, cw] = 1
    return mask


def masked_case() -> dict:
    groups = rng.choice([1, 1, 3])
    kh, kw = rng.choice([1, 3, 5, 7]), rng.choice([1, 3, 5, 7])
    return {"layer": "maskedconv2d", "kwargs": {"in_channels": groups * rng.randint(1, 3), "out_channels": groups * rng.randint(1, 3),
            "kernel_size": [kh, kw], "mask": rng.choice("AB"), "colour_groups": groups, "bias": rng.random() < 0.5},
            "input_hw": [rng.randint(1, 9), rng.randint(1, 9)], "batch": rng.choice([1, 2])}


def run_masked(case: dict) -> dict:
    kw = case["kwargs"]
    kh, kwid = kw["kernel_size"]
    m = nn.Conv2d(kw["in_channels"], kw["out_channels"], (kh, kwid), padding=(kh // 2, kwid // 2), bias=kw["bias"])
    mask = pixel_mask(kw["out_channels"], kw["in_channels"], kh, kwid, kw["mask"], kw["colour_groups"])
    x = torch.ones([case["batch"], kw["in_channels"]] + case["input_hw"])
    with torch.no_grad():
        m.weight.mul_(mask)
    rec = record_module(m, x, m(x))
    with torch.no_grad():
        ones = nn.Conv2d(kw["in_channels"], kw["out_channels"], (kh, kwid), padding=(kh // 2, kwid // 2), bias=False)
        ones.weight.copy_(mask)
        rec["connections"] = int(ones(torch.ones([1, kw["in_channels"]] + case["input_hw"])).double().sum().item())
    rec["mask_nonzero"] = int(mask.sum().item())
    case["input"] = [kw["in_channels"]] + case["input_hw"]
    return rec


class TorchWaveNet(nn.Module):
    """A small WaveNet from Conv1d layers, built independently of convcalc."""

    def __init__(self, cin, r, dc, s, L, B, k, classes):
        super().__init__()
        self.k = k
        self.first = nn.Conv1d(cin, r, k)
        self.dil = [2**i for _ in range(B) for i in range(L)]
        self.filt = nn.ModuleList(nn.Conv1d(r, 2 * dc, k, dilation=d) for d in self.dil)
        self.res = nn.ModuleList(nn.Conv1d(dc, r, 1) for _ in self.dil)
        self.skip = nn.ModuleList(nn.Conv1d(dc, s, 1) for _ in self.dil)
        self.out1, self.out2 = nn.Conv1d(s, s, 1), nn.Conv1d(s, classes, 1)

    def forward(self, x):
        x = self.first(F.pad(x, (self.k - 1, 0)))
        skips = 0
        for d, f, r, s in zip(self.dil, self.filt, self.res, self.skip):
            a, b = f(F.pad(x, (d * (self.k - 1), 0))).chunk(2, dim=1)
            z = torch.tanh(a) * torch.sigmoid(b)
            x = x + r(z)
            skips = skips + s(z)
        return torch.softmax(self.out2(torch.relu(self.out1(torch.relu(skips)))), dim=1)


def wavenet_case() -> dict:
    kw = {"residual_channels": rng.randint(1, 6), "dilation_channels": rng.randint(1, 6), "skip_channels": rng.randint(1, 6),
          "layers_per_block": rng.randint(1, 4), "blocks": rng.randint(1, 2), "kernel_size": rng.choice([2, 2, 3]),
          "output_classes": rng.randint(2, 9)}
    return {"layer": "wavenet", "kwargs": kw, "input": [kw["output_classes"], rng.randint(1, 40)], "batch": 1}


def run_wavenet(case: dict) -> dict:
    kw = case["kwargs"]
    m = TorchWaveNet(kw["output_classes"], kw["residual_channels"], kw["dilation_channels"], kw["skip_channels"],
                     kw["layers_per_block"], kw["blocks"], kw["kernel_size"], kw["output_classes"])
    x = torch.ones([1] + case["input"])
    return record_module(m, x, m(x))


def field_offsets(gated: bool, k1: int, k: int, d: int) -> list:
    """Which earlier pixels reach the output at one pixel: the nonzero input gradient of a
    linear stack with random weights (float64), far from the image's borders."""
    g = torch.Generator().manual_seed(k1 * 1000 + k * 100 + d + 7 * gated)
    reach = k1 // 2 + 1 + d * (k // 2 + 1)
    size = 2 * reach + 3
    x = torch.zeros(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    w = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)  # noqa: E731
    if not gated:
        h = F.conv2d(x, w(2, 1, k1, k1) * pixel_mask(2, 1, k1, k1, "A", 1).double(), padding=k1 // 2)
        for _ in range(d):
            h = F.conv2d(h, w(2, 2, k, k) * pixel_mask(2, 2, k, k, "B", 1).double(), padding=k // 2)
    else:
        def vertical(v, kk, cin):
            c = kk // 2
            return F.conv2d(F.pad(v, (c, c, c, 0)), w(2, cin, c + 1, kk))

        def shift_down(v):
            return F.pad(v, (0, 0, 1, 0))[:, :, :-1, :]

        c1 = k1 // 2
        v = vertical(x, k1, 1)
        h = F.conv2d(F.pad(x, (c1, 0, 0, 0)), w(2, 1, 1, c1))[:, :, :, :-1] if c1 else torch.zeros_like(v)
        h = h + F.conv2d(shift_down(v), w(2, 2, 1, 1))
        for _ in range(d):
            c = k // 2
            v = vertical(v, k, 2)
            h = F.conv2d(F.pad(h, (c, 0, 0, 0)), w(2, 2, 1, c + 1)) + F.conv2d(shift_down(v), w(2, 2, 1, 1))
    i = j = size - reach - 2 if False else reach + 1
    h[0, :, i, j].sum().backward()
    grad = x.grad[0, 0]
    return sorted([int(a - i), int(b - j)] for a, b in (grad != 0).nonzero().tolist())


# -- whole networks, built from torch.nn layers as torchvision defines them ---------------------


class Residual(nn.Module):
    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        y = self.body(x)
        return y + (self.shortcut(x) if self.shortcut is not None else x)


def alexnet():
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(),
        nn.MaxPool2d(3, 2), nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(), nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2), nn.AdaptiveAvgPool2d(6), nn.Flatten(),
        nn.Dropout(), nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 1000))


def vgg16():
    layers, c = [], 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU()]
            c = v
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(7), nn.Flatten(), nn.Linear(25088, 4096), nn.ReLU(), nn.Dropout(),
                         nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 1000))


def resnet(bottleneck: bool, blocks: list):
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for stage, (w, n) in enumerate(zip((64, 128, 256, 512), blocks)):
        for b in range(n):
            s = 2 if stage > 0 and b == 0 else 1
            cout = 4 * w if bottleneck else w
            if bottleneck:
                body = nn.Sequential(nn.Conv2d(cin, w, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
                                     nn.Conv2d(w, w, 3, s, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
                                     nn.Conv2d(w, cout, 1, bias=False), nn.BatchNorm2d(cout))
            else:
                body = nn.Sequential(nn.Conv2d(cin, w, 3, s, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
                                     nn.Conv2d(w, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w))
            short = nn.Sequential(nn.Conv2d(cin, cout, 1, s, bias=False), nn.BatchNorm2d(cout)) if (s != 1 or cin != cout) else None
            layers += [Residual(body, short), nn.ReLU()]
            cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000))


def mobilenetv2():
    layers = [nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6()]
    cin = 32
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            stride, hidden = (s if i == 0 else 1), cin * t
            body = []
            if t != 1:
                body += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
            body += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
                     nn.Conv2d(hidden, c, 1, bias=False), nn.BatchNorm2d(c)]
            block = nn.Sequential(*body)
            layers.append(Residual(block) if stride == 1 and cin == c else block)
            cin = c
    return nn.Sequential(*layers, nn.Conv2d(320, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(1280, 1000))


def network_record(name: str, model: nn.Module) -> dict:
    rows = []
    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(lambda mod, _in, out: rows.append(
        [type(mod).__name__.lower(), list(out.shape[1:]), sum(p.numel() for p in mod.parameters())])) for m in leaves]
    model.eval()
    x = torch.zeros(1, 3, 224, 224)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return {"example": name, "params": sum(p.numel() for p in model.parameters()),
            "torch_flops": int(counter.get_total_flops()), "rows": rows}


def main() -> None:
    cases = []
    for n in (1, 2, 3):
        cases += [conv_case(n, False) for _ in range(70)]
        cases += [conv_case(n, True) for _ in range(40)]
        for kind in ("maxpool", "avgpool", "adaptiveavgpool", "adaptivemaxpool"):
            cases += [pool_case(kind, n) for _ in range(20)]
        cases += [bn_case(n) for _ in range(8)]
    cases += [linear_case() for _ in range(30)]
    for kind in ("rnn", "gru", "lstm"):
        cases += [rnn_case(kind) for _ in range(40)]
    cases += [masked_case() for _ in range(60)]
    cases += [wavenet_case() for _ in range(25)]
    records = []
    for case in cases:
        layer = case["layer"]
        try:
            if layer.startswith("conv"):
                rec = run_conv(case)
            elif "pool" in layer:
                rec = run_pool(case)
            elif layer == "maskedconv2d":
                rec = run_masked(case)
            elif layer == "wavenet":
                rec = run_wavenet(case)
            elif layer in ("rnn", "gru", "lstm"):
                rec = run_rnn(case)
            elif layer == "linear":
                rec = run_module_case(case, nn.Linear)
            else:
                rec = run_module_case(case, getattr(nn, f"BatchNorm{layer[-2]}d"))
            rec["refused"] = False
            if 0 in rec["output_shape"]:
                # some PyTorch kernels return an empty tensor where the others refuse an output
                # size below 1; convcalc refuses it everywhere
                rec = {"refused": True, "reason": "empty output (PyTorch returns it on some kernels, refuses it on others)"}
        except (RuntimeError, ValueError) as e:
            rec = {"refused": True, "reason": str(e).splitlines()[0][:200]}
        records.append({**case, **rec})
    fields = []
    for gated in (False, True):
        for k1, k, d in ((3, 3, 0), (3, 3, 1), (5, 3, 2), (7, 3, 3), (3, 5, 2), (7, 5, 1), (1, 3, 2), (5, 1, 3)):
            if gated and k1 == 1:
                continue
            fields.append({"gated": gated, "first_kernel_size": k1, "kernel_size": k, "layers": d,
                           "seen": field_offsets(gated, k1, k, d)})
    networks = [network_record(n, f()) for n, f in (("alexnet", alexnet), ("vgg16", vgg16),
                ("resnet18", lambda: resnet(False, [2, 2, 2, 2])), ("resnet50", lambda: resnet(True, [3, 4, 6, 3])),
                ("mobilenetv2", mobilenetv2))]
    meta = {"torch": torch.__version__, "python": sys.version.split()[0], "cases": len(records),
            "refused": sum(r["refused"] for r in records)}
    OUT.write_text(json.dumps({"meta": meta, "cases": records, "fields": fields, "networks": networks}, indent=1) + "\n")
    print(f"wrote {OUT} ({meta})")


if __name__ == "__main__":
    main()
