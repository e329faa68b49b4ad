"""Record tests/golden/tokens_backward_golden.json from PyTorch: the token and position layers of
issue 13 (permute, transpose, rmsnorm, classtoken, positionembedding, selecttoken) in random
configurations, refused ones included.

    /tmp/torchvenv/bin/python tests/golden/make_tokens_golden.py

torch 2.13.0 CPU, float32, train() mode, oneDNN off, measured by make_backward_golden.measure
(FlopCounterMode around the forward and around loss.backward(), loss = y.sum(); the tensors autograd
saves, by storage). The modules other than nn.RMSNorm are written here as torchvision and GPT-2 write
them: torch.permute and torch.transpose as modules; ViT's class token (cat of an expanded (1, 1, D)
parameter) and position embedding (x + a (1, T, D) parameter, or its first T rows when P > T); GPT-2's
wpe (x + nn.Embedding(P, D)(arange(T))); x[:, index]. Per case: "layer", "kwargs" (as convcalc spells
them), "input" (no batch), "batch", "refused" (with PyTorch's reason) or output_shape, params
{name: shape}, buffers, and per run (input_grad true, and false for layers with parameters)
forward_flops, backward_flops, saved_activation_bytes, saved storages.
"""

from __future__ import annotations

import json
import random
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from make_backward_golden import described, layer_runs  # noqa: E402
from transformer_models import ClassToken, Permute, SelectToken  # noqa: E402  (torchvision's, as the examples use them)

OUT = HERE / "tokens_backward_golden.json"
rng = random.Random(20261123 + 130)
torch.backends.mkldnn.enabled = False
warnings.filterwarnings("ignore")


class Transpose(nn.Module):
    def __init__(self, dim0=1, dim1=2):
        super().__init__()
        self.dim0, self.dim1 = dim0, dim1

    def forward(self, x):
        return torch.transpose(x, self.dim0, self.dim1)


class PositionEmbedding(nn.Module):
    def __init__(self, rows, dim, indexed=False):
        super().__init__()
        self.indexed = indexed
        if indexed:
            self.wpe = nn.Embedding(rows, dim)
        else:
            self.pos_embedding = nn.Parameter(torch.randn(1, rows, dim))

    def forward(self, x):
        t = x.shape[1]
        if self.indexed:
            return x + self.wpe(torch.arange(t).unsqueeze(0))
        return x + self.pos_embedding[:, :t]


class BufferedPositions(nn.Module):
    """HF BERT's position (or token type) embedding: nn.Embedding(P, D) read at a registered int64 buffer
    (position_ids: arange; token_type_ids: zeros), sliced to T (and expanded to the batch for token types)."""

    def __init__(self, rows, dim, ids_length, zeros=False):
        super().__init__()
        self.table, self.zeros = nn.Embedding(rows, dim), zeros
        ids = torch.zeros(1, ids_length, dtype=torch.long) if zeros else torch.arange(ids_length).unsqueeze(0)
        self.register_buffer("ids", ids, persistent=False)

    def forward(self, x):
        b, t = x.shape[:2]
        ids = self.ids[:, :t]
        return x + self.table(ids.expand(b, t) if self.zeros else ids)


def build(layer: str, kw: dict, shape: list) -> nn.Module:
    if layer == "permute":
        return Permute(kw["dims"])
    if layer == "transpose":
        return Transpose(kw["dim0"], kw["dim1"])
    if layer == "rmsnorm":
        ns = kw.get("normalized_shape") or [shape[-1]]
        return nn.RMSNorm(ns, eps=kw.get("eps"), elementwise_affine=kw.get("elementwise_affine", True))
    if layer == "classtoken":
        return ClassToken(shape[-1])
    if layer == "positionembedding" and kw.get("ids") == "buffer":
        return BufferedPositions(kw["num_positions"], shape[-1], kw["num_positions"])
    if layer == "tokentypeembedding":
        return BufferedPositions(kw.get("num_token_types", 2), shape[-1], kw.get("max_positions", 512), zeros=True)
    if layer == "positionembedding":
        return PositionEmbedding(kw.get("num_positions") or shape[0], shape[-1], kw.get("indexed", False))
    return SelectToken(kw.get("index", 0))


def record(layer: str, kw: dict, shape: list, batch: int) -> dict:
    case = {"layer": layer, "kwargs": kw, "input": shape, "batch": batch}
    torch.manual_seed(len(shape) + batch)
    x = torch.randn([batch] + shape)
    try:
        m = build(layer, kw, shape)
        if layer == "tokentypeembedding" and shape[0] > kw.get("max_positions", 512):
            raise IndexError("more tokens than the ids buffer holds")
        if layer == "positionembedding" and shape[0] > (kw.get("num_positions") or shape[0]):
            raise IndexError("index out of range in self: more positions than the table's rows")
        runs = layer_runs(m, x, m)
        out = list(m(x).shape)
    except (ValueError, RuntimeError, AssertionError, IndexError) as e:
        case.update(refused=True, reason=str(e).splitlines()[0][:200])
        return case
    case.update(refused=False, output_shape=out[1:], **described(m), runs=runs)
    return case


def shape(rank: int) -> list:
    return [rng.choice([1, 2, 3, 4, 5, 6]) for _ in range(rank)]


def cases() -> list:
    out = []
    for _ in range(8):
        s = shape(rng.choice([2, 3]))
        rest = list(range(1, len(s) + 1))
        rng.shuffle(rest)
        out.append(record("permute", {"dims": [0] + rest}, s, rng.choice([1, 2, 3])))
    out.append(record("permute", {"dims": [0, 1]}, [3, 4], 2))  # too few dims: refused
    out.append(record("permute", {"dims": [0, 1, 1]}, [3, 4], 2))  # repeated: refused
    for _ in range(6):
        s = shape(rng.choice([2, 3]))
        a, b = rng.sample(range(1, len(s) + 1), 2)
        out.append(record("transpose", {"dim0": a, "dim1": b}, s, rng.choice([1, 2, 3])))
    out.append(record("transpose", {"dim0": 1, "dim1": 5}, [3, 4], 2))  # out of range: refused
    for _ in range(10):
        s = shape(rng.choice([1, 2, 3]))
        k = rng.choice([1, 1, 2]) if len(s) > 1 else 1
        kw = {"normalized_shape": s[-k:], "elementwise_affine": rng.random() < 0.7}
        if rng.random() < 0.5:
            kw["eps"] = 1e-6
        out.append(record("rmsnorm", kw, s, rng.choice([1, 2, 3])))
    out.append(record("rmsnorm", {"normalized_shape": [5]}, [3, 4], 2))  # does not match: refused
    for _ in range(5):
        out.append(record("classtoken", {}, shape(2), rng.choice([1, 2, 3])))
    for _ in range(8):
        s = shape(2)
        kw = {"indexed": rng.random() < 0.5}
        if rng.random() < 0.6:
            kw["num_positions"] = s[0] + rng.choice([0, 1, 5])
        out.append(record("positionembedding", kw, s, rng.choice([1, 2, 3])))
    out.append(record("positionembedding", {"num_positions": 2, "indexed": True}, [4, 3], 2))  # T > P: refused
    for _ in range(4):
        s = shape(2)
        out.append(record("positionembedding", {"num_positions": s[0] + rng.choice([0, 3]), "indexed": True, "ids": "buffer"}, s,
                          rng.choice([1, 2, 3])))
    for _ in range(5):
        s = shape(2)
        out.append(record("tokentypeembedding", {"num_token_types": rng.choice([1, 2, 3]), "max_positions": s[0] + rng.choice([0, 4])},
                          s, rng.choice([1, 2, 3])))
    out.append(record("tokentypeembedding", {"max_positions": 3}, [4, 3], 2))  # more tokens than ids: refused
    for _ in range(5):
        s = shape(2)
        out.append(record("selecttoken", {"index": rng.randint(-s[0], s[0] - 1)}, s, rng.choice([1, 2, 3])))
    out.append(record("selecttoken", {"index": 7}, [3, 4], 2))  # out of bounds: refused
    return out


def main() -> None:
    torch.set_num_threads(1)
    data = {"meta": {"torch": torch.__version__, "how": "train() mode, float32, oneDNN off, make_backward_golden.measure, "
                     "loss = y.sum()"}, "cases": cases()}
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {OUT}: {len(data['cases'])} cases, {sum(c['refused'] for c in data['cases'])} refused")


if __name__ == "__main__":
    main()
