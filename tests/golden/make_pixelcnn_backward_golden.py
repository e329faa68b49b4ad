"""Regenerate tests/golden/pixelcnn_backward_golden.json: PyTorch's backward of PixelCNN stacks.

    /tmp/torchvenv/bin/python tests/golden/make_pixelcnn_backward_golden.py   (torch==2.13.0, as make_backward_golden.py)

The modules below compute exactly the products convcalc's pixelcnn counts forward: masked
convolutions as make_golden.run_masked builds them (a Conv2d whose weight was multiplied by the
mask once), nn.ReLU-style ReLUs (they save their output), residual adds, and a softmax over the
classes of each colour channel; the gated stack (van den Oord et al. 2016) with every
convolution a Conv2d without padding over an explicitly padded input: vertical (c+1) x k over v
padded c rows on top and c columns each side, horizontal 1 x (c+1) over h padded c columns on the
left (the first layer's 1 x c over x padded by (c, -1), so that its taps end left of the pixel),
a 1x1 link from the vertical features shifted down one row, tanh * sigmoid gates, a 1x1 output
convolution and (after the first layer) a residual add. Each case is recorded with
make_backward_golden.measure (FlopCounterMode around loss.backward(), saved tensors by storage),
with and without the input requiring grad.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from make_backward_golden import measure  # noqa: E402
from make_golden import pixel_mask  # noqa: E402

OUT = Path(__file__).with_name("pixelcnn_backward_golden.json")


def mconv(cin, cout, k, mask, g, bias):
    m = nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)
    with torch.no_grad(): m.weight.mul_(pixel_mask(cout, cin, k, k, mask, g))
    return m

class Vanilla(nn.Module):
    def __init__(s, C, h, d, k, k1, g, res, n_out, classes, bias):
        super().__init__()
        s.C, s.classes, s.res = C, classes, res
        s.first = mconv(C, h, k1, "A", g, bias)
        if res:
            hf = h // 2
            s.blocks = nn.ModuleList(nn.ModuleList([mconv(h, hf, 1, "B", g, bias), mconv(hf, hf, k, "B", g, bias), mconv(hf, h, 1, "B", g, bias)]) for _ in range(d))
        else:
            s.layers = nn.ModuleList(mconv(h, h, k, "B", g, bias) for _ in range(d))
        s.outs = nn.ModuleList(mconv(h, h, 1, "B", g, bias) for _ in range(n_out - 1))
        s.logits = mconv(h, C * classes, 1, "B", g, bias)
    def forward(s, x):
        y = s.first(x)
        if s.res:
            for a, b, c in s.blocks:
                y = y + c(torch.relu(b(torch.relu(a(torch.relu(y))))))
        else:
            for l in s.layers: y = l(torch.relu(y))
        for o in s.outs: y = o(torch.relu(y))
        y = s.logits(torch.relu(y))
        B, _, H, W = y.shape
        return torch.softmax(y.view(B, s.C, s.classes, H, W), dim=2)

class Gated(nn.Module):
    def __init__(s, C, h, d, k, k1, n_out, classes, bias):
        super().__init__()
        s.C, s.classes, s.h = C, classes, h
        s.layers = nn.ModuleList()
        for i in range(d + 1):
            kk, cin = (k1, C) if i == 0 else (k, h); c = kk // 2
            mods = nn.ModuleDict({"v": nn.Conv2d(cin, 2*h, (c+1, kk), bias=bias), "link": nn.Conv2d(2*h, 2*h, 1, bias=bias), "out": nn.Conv2d(h, h, 1, bias=bias)})
            if i > 0: mods["h"] = nn.Conv2d(cin, 2*h, (1, c+1), bias=bias)
            elif c > 0: mods["h"] = nn.Conv2d(cin, 2*h, (1, c), bias=bias)
            s.layers.append(mods)
        s.ks = [k1] + [k] * d
        s.outs = nn.ModuleList(nn.Conv2d(h, h, 1, bias=bias) for _ in range(n_out - 1))
        s.logits = nn.Conv2d(h, C * classes, 1, bias=bias)
    def forward(s, x):
        v = hh = x
        for i, (m, kk) in enumerate(zip(s.layers, s.ks)):
            c = kk // 2
            vp = m["v"](F.pad(v, (c, c, c, 0)))
            link = m["link"](F.pad(vp[:, :, :-1], (0, 0, 1, 0)))
            if "h" in m:
                hp = m["h"](F.pad(hh, (c, -1) if i == 0 else (c, 0))) + link
            else:
                hp = link
            a, b = vp.chunk(2, 1); v = torch.tanh(a) * torch.sigmoid(b)
            a, b = hp.chunk(2, 1); gg = torch.tanh(a) * torch.sigmoid(b)
            hh = m["out"](gg) + (hh if i > 0 else 0)
        y = hh
        for o in s.outs: y = o(torch.relu(y))
        y = s.logits(torch.relu(y))
        B, _, H, W = y.shape
        return torch.softmax(y.view(B, s.C, s.classes, H, W), dim=2)


def main() -> None:
    rng = random.Random(20261124)
    torch.backends.mkldnn.enabled = False
    cases = []
    for i in range(36):
        kind = ("plain", "residual", "gated")[i % 3]
        C = rng.choice([1, 3])
        g = C if kind != "gated" and C == 3 and rng.random() < 0.5 else 1
        h = g * 2 * rng.randint(1, 3)
        kw = dict(in_channels=C, channels=h, layers=rng.randint(1, 3), kernel_size=rng.choice([1, 3, 5]),
                  first_kernel_size=rng.choice([1, 3, 5, 7]), colour_groups=g, residual=kind == "residual",
                  gated=kind == "gated", output_layers=rng.randint(1, 3), output_classes=rng.randint(2, 5),
                  bias=rng.random() < 0.5)
        H, W, B = rng.randint(1, 6), rng.randint(1, 6), rng.randint(1, 2)
        torch.manual_seed(i)
        if kind == "gated":
            m = Gated(C, h, kw["layers"], kw["kernel_size"], kw["first_kernel_size"], kw["output_layers"],
                      kw["output_classes"], kw["bias"])
        else:
            m = Vanilla(C, h, kw["layers"], kw["kernel_size"], kw["first_kernel_size"], g, kind == "residual",
                        kw["output_layers"], kw["output_classes"], kw["bias"])
        x = torch.randn(B, C, H, W)
        runs = []
        for input_grad in (True, False):
            m.zero_grad(set_to_none=True)
            run = measure(m, x, lambda y: y.sum(), input_grad)
            runs.append({k: run[k] for k in ("input_grad", "forward_flops", "backward_flops", "backward_ops",
                                             "saved_activation_bytes", "saved_storages", "grad_shapes")})
        cases.append({"layer": "pixelcnn", "kwargs": kw, "input": [C, H, W], "batch": B, "seed": i, "runs": runs})
    meta = {"torch": torch.__version__, "script": "tests/golden/make_pixelcnn_backward_golden.py",
            "loss": "y.sum()", "saved_activation_bytes": "saved tensors by storage, parameters excluded"}
    OUT.write_text(json.dumps({"meta": meta, "cases": cases}, indent=1) + "\n")
    print(f"{len(cases)} cases -> {OUT}")


if __name__ == "__main__":
    main()
