"""Record PyTorch's ground truth for the network constructs of issue 12 (scale, multiply and add
joins with broadcasting, chunk/split + join, concat along any dim, save/from), as the networks
in tests/test_network_constructs.py write them: parameters, output shape, FlopCounterMode's
forward and backward, the activation bytes autograd saves (every storage once) and the
gradients' bytes, with and without the input requiring grad, at batch 1 and 3.

Run with torch 2.13.0 (CPU): python tests/golden/make_constructs_golden.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from make_backward_golden import measure  # noqa: E402

OUT = Path(__file__).with_name("constructs_golden.json")


class SE(nn.Module):
    """conv, then x * sigmoid(conv(relu(conv(avgpool(x))))) (torchvision's SqueezeExcitation)."""

    def __init__(self, c=16, s=4, act=nn.Sigmoid):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.relu, self.fc2, self.gate = nn.Conv2d(c, s, 1), nn.ReLU(), nn.Conv2d(s, c, 1), act()

    def forward(self, x):
        x = self.conv(x)
        return x * self.gate(self.fc2(self.relu(self.fc1(self.pool(x)))))


class Shuffle(nn.Module):
    """A ShuffleNetV2-like unit: chunk 2 along the channels, one half through 1x1 conv + relu,
    concat (no shuffle: that is a layer of its own)."""

    def __init__(self, c=16):
        super().__init__()
        self.conv0 = nn.Conv2d(c, c, 3, padding=1)
        self.conv, self.relu = nn.Conv2d(c // 2, c // 2, 1), nn.ReLU()

    def forward(self, x):
        x = self.conv0(x)
        a, b = x.chunk(2, dim=1)
        return torch.cat((a, self.relu(self.conv(b))), dim=1)


class Gate(nn.Module):
    """split [4, 12] along the channels, a conv on each part, the parts joined by multiply (a
    gate), then the conv0 output read again (save/from) through a 1x1 conv and added."""

    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(3, 16, 3, padding=1)
        self.a, self.b = nn.Conv2d(4, 8, 1), nn.Conv2d(12, 8, 1)
        self.sig = nn.Sigmoid()
        self.up = nn.Conv2d(16, 8, 1)

    def forward(self, x):
        x = self.conv0(x)
        p, q = torch.split(x, [4, 12], dim=1)
        y = self.a(p) * self.sig(self.b(q))
        return y + self.up(x)


class Spatial(nn.Module):
    """concat along the height, and a broadcast add of a 1-row branch."""

    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.MaxPool2d((2, 1))
        self.rows = nn.AvgPool2d((6, 1))
        self.conv1 = nn.Conv2d(8, 8, 1)

    def forward(self, x):
        x = self.conv0(x)
        x = torch.cat((x, self.pool(x)), dim=2)
        return x + self.conv1(self.rows(x))


class Tied(nn.Module):
    """Tied input and output embeddings (issue 13's ``tie:``): Embedding(100, 16), LayerNorm, and a
    Linear(16, 100, bias=False) whose weight IS the embedding's (GPT-2's lm_head and wte)."""

    def __init__(self):
        super().__init__()
        self.wte, self.norm, self.head = nn.Embedding(100, 16), nn.LayerNorm(16), nn.Linear(16, 100, bias=False)
        self.head.weight = self.wte.weight

    def forward(self, x):
        return self.head(self.norm(self.wte(x)))


NETWORKS = {"se": (SE, (16, 8, 8)), "shuffle": (Shuffle, (16, 6, 6)), "gate": (Gate, (3, 6, 5)), "spatial": (Spatial, (3, 4, 6)),
            "tied": (Tied, (12,))}


def main() -> None:
    torch.manual_seed(0)
    records = []
    for name, (cls, shape) in NETWORKS.items():
        for batch in (1, 3):
            for input_grad in (False, True) if cls is not Tied else (False,):  # indices take no gradient
                model = cls()
                x = torch.randn(batch, *shape) if cls is not Tied else torch.randint(0, 100, (batch, *shape))
                rec = measure(model, x, lambda y: y.sum(), input_grad, detail=False, leaves=True)
                rec.update(network=name, batch=batch, input=list(shape), params=sum(p.numel() for p in model.parameters()))  # a tied Parameter once
                records.append(rec)
    meta = {"torch": torch.__version__, "python": sys.version.split()[0]}
    OUT.write_text(json.dumps({"meta": meta, "networks": records}, indent=1) + "\n")
    print(f"wrote {OUT} ({len(records)} records)")


if __name__ == "__main__":
    main()
