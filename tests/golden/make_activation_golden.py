"""Record tests/golden/activation_backward_golden.json from PyTorch: Hardswish, Hardsigmoid,
Hardtanh, Mish, ELU, SELU, CELU, Softplus, PReLU, GLU, LogSoftmax, Softmax2d and Identity in
random configurations, refused ones included.

    /tmp/torchvenv/bin/python tests/golden/make_activation_golden.py

torch 2.13.0 CPU, float32, train() mode, measured by make_backward_golden.measure (FlopCounterMode
around the forward and around loss.backward(), loss = y.sum(); the tensors autograd saves, by
storage). Per case: the layer's name and constructor arguments ("kwargs", as convcalc spells
them), the input without the batch ("input") and the batch; "refused" with PyTorch's reason
when the constructor, the forward or the backward raises; else output_shape, params {name:
shape}, buffers {name: [shape, dtype]}, and per run (input_grad true/false; parameter-free
layers only true) forward_flops, backward_flops, saved_activation_bytes and the saved storages.
An in-place layer runs after a clone of the input (autograd refuses an in-place op on a leaf
that requires grad); the clone saves nothing.
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

OUT = HERE / "activation_backward_golden.json"
rng = random.Random(20261123 + 120)
torch.backends.mkldnn.enabled = False
warnings.filterwarnings("ignore")

CLASSES = {"hardswish": nn.Hardswish, "hardsigmoid": nn.Hardsigmoid, "hardtanh": nn.Hardtanh, "mish": nn.Mish,
           "elu": nn.ELU, "selu": nn.SELU, "celu": nn.CELU, "softplus": nn.Softplus, "prelu": nn.PReLU, "glu": nn.GLU,
           "logsoftmax": nn.LogSoftmax, "softmax2d": nn.Softmax2d, "identity": nn.Identity}


class CloneThen(nn.Module):
    """x.clone() then the in-place layer (the clone's backward saves nothing)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.clone())


def record(layer: str, kw: dict, shape: list, batch: int) -> dict:
    case = {"layer": layer, "kwargs": kw, "input": shape, "batch": batch}
    torch.manual_seed(len(shape) + batch)
    x = torch.randn([batch] + shape)
    try:
        m = CLASSES[layer](**kw)
        model = CloneThen(m) if kw.get("inplace") else m
        runs = layer_runs(model, x, m)
        out = list(model(x).shape)
    except (ValueError, RuntimeError, AssertionError, IndexError) as e:
        case.update(refused=True, reason=str(e).splitlines()[0][:200])
        return case
    case.update(refused=False, output_shape=out[1:], **described(m), runs=runs)
    return case


def shape(rank: int | None = None) -> list:
    return [rng.choice([1, 2, 3, 4, 5, 6]) for _ in range(rank or rng.choice([1, 2, 3]))]


def batch() -> int:
    return rng.choice([1, 2, 3])


def cases() -> list:
    out = []
    for layer in ("hardswish", "hardsigmoid", "mish", "selu"):
        for _ in range(8):
            out.append(record(layer, {"inplace": rng.random() < 0.4}, shape(), batch()))
    for _ in range(10):
        lo = rng.choice([-3.0, -1.0, -0.5, 0.0, 0.5])
        kw = {"min_val": lo, "max_val": lo + rng.choice([0.5, 1.0, 2.0, 6.0]), "inplace": rng.random() < 0.4}
        out.append(record("hardtanh", kw, shape(), batch()))
    out.append(record("hardtanh", {"min_val": 1.0, "max_val": 1.0}, [3], 2))  # max_val must exceed min_val
    out.append(record("hardtanh", {"min_val": 2.0, "max_val": 1.0}, [3], 2))
    for layer in ("elu", "celu"):
        for _ in range(10):
            kw = {"alpha": rng.choice([1.0, 0.5, 2.0, 0.1]), "inplace": rng.random() < 0.4}
            out.append(record(layer, kw, shape(), batch()))
        out.append(record(layer, {"alpha": -0.5, "inplace": False}, [4, 3], 2))  # fine out of place
        out.append(record(layer, {"alpha": -0.5, "inplace": True}, [4, 3], 2))  # in-place backward refused
    out.append(record("elu", {"alpha": 0.0, "inplace": True}, [4, 3], 2))
    out.append(record("celu", {"alpha": 0.0}, [4, 3], 2))  # alpha cannot be 0
    for _ in range(8):
        kw = {"beta": rng.choice([1.0, 0.5, 2.0]), "threshold": rng.choice([20.0, 1.0, 5.0])}
        out.append(record("softplus", kw, shape(), batch()))
    for _ in range(12):
        s = shape()
        kw = {"num_parameters": rng.choice([1, s[0]]), "init": rng.choice([0.25, 0.1])}
        out.append(record("prelu", kw, s, batch()))
    out.append(record("prelu", {"num_parameters": 3}, [4, 5], 2))  # neither 1 nor the channels
    out.append(record("prelu", {"num_parameters": 2}, [3], 2))
    for _ in range(12):
        s = [rng.choice([2, 4, 6]) for _ in range(rng.choice([1, 2, 3]))]
        d = rng.choice([rng.randint(1, len(s)), -rng.randint(1, len(s))])
        out.append(record("glu", {"dim": d}, s, batch()))
    out.append(record("glu", {"dim": -1}, [4, 5], 2))  # odd: refused
    out.append(record("glu", {"dim": 1}, [3, 4], 2))
    for _ in range(10):
        s = shape()
        out.append(record("logsoftmax", {"dim": rng.choice([rng.randint(1, len(s)), -rng.randint(1, len(s))])}, s, batch()))
    out.append(record("logsoftmax", {"dim": None}, [5], 2))  # legacy implicit dim: 1 of a 2-D tensor
    out.append(record("logsoftmax", {"dim": None}, [3, 4, 2], 2))  # and of a 4-D one
    out.append(record("logsoftmax", {"dim": 3}, [4, 5], 2))  # out of range
    for _ in range(6):
        out.append(record("softmax2d", {}, shape(3), batch()))
    out.append(record("softmax2d", {}, [4], 2))  # 2-D with the batch: refused
    out.append(record("softmax2d", {}, [2, 3, 4, 5], 2))  # 5-D: refused
    for _ in range(4):
        out.append(record("identity", {}, shape(), batch()))
    return out


def main() -> None:
    data = {"meta": {"torch": torch.__version__, "dtype": "float32", "mode": "train() forward, y.sum().backward()",
                     "script": "tests/golden/make_activation_golden.py"},
            "cases": cases()}
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"{len(data['cases'])} cases, {sum(c['refused'] for c in data['cases'])} refused -> {OUT}")


if __name__ == "__main__":
    main()
