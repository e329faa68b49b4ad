"""Record tests/golden/samplenorm_backward_golden.json from PyTorch: GroupNorm, LayerNorm,
InstanceNorm1d/2d/3d and LocalResponseNorm in random configurations, refused ones included.

    /tmp/torchvenv/bin/python tests/golden/make_samplenorm_golden.py

torch 2.13.0 CPU, float32, train() mode, measured by make_backward_golden.measure (FlopCounterMode
around the forward and around loss.backward(), loss = y.sum(); the tensors autograd saves, by
storage). Per case: the layer's name and constructor arguments ("kwargs", as convcalc spells
them), the input without the batch ("input") and the batch; "refused" with PyTorch's reason
when the constructor or the forward raises; else output_shape, params {name: shape}, buffers
{name: [shape, dtype]}, and per run (input_grad true/false; parameter-free layers only true)
forward_flops, backward_flops, saved_activation_bytes and the saved storages. "unbatched": the
input was given to PyTorch without a batch (InstanceNorm1d's C,L), which convcalc counts as batch 1.
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
from make_backward_golden import measure  # noqa: E402

OUT = HERE / "samplenorm_backward_golden.json"
rng = random.Random(20261123 + 12)
torch.backends.mkldnn.enabled = False
warnings.filterwarnings("ignore")


def build(layer: str, kw: dict, channels: int) -> nn.Module:
    if layer == "groupnorm":
        return nn.GroupNorm(kw["num_groups"], channels, **{k: v for k, v in kw.items() if k != "num_groups"})
    if layer == "layernorm":
        return nn.LayerNorm(**kw)
    if layer.startswith("instancenorm"):
        cls = {"1d": nn.InstanceNorm1d, "2d": nn.InstanceNorm2d, "3d": nn.InstanceNorm3d}[layer[-2:]]
        return cls(kw.get("num_features", channels), **{k: v for k, v in kw.items() if k != "num_features"})
    return nn.LocalResponseNorm(**kw)


def record(layer: str, kw: dict, shape: list, batch: int, unbatched: bool = False) -> dict:
    case = {"layer": layer, "kwargs": kw, "input": shape, "batch": batch, "unbatched": unbatched}
    torch.manual_seed(len(shape) + batch)
    x = torch.randn(shape if unbatched else [batch] + shape)
    try:
        m = build(layer, kw, shape[0])
        runs = []
        for input_grad in (True, False):
            if not input_grad and not list(m.parameters()):
                continue
            m.zero_grad(set_to_none=True)
            r = measure(m, x, lambda y: y.sum(), input_grad)
            keep = ("input_grad", "forward_flops", "backward_flops", "backward_ops", "saved_activation_bytes", "saved")
            runs.append({k: r[k] for k in keep})
            out = list(m(x).shape)
        m.eval()
        with torch.no_grad():
            m(x)  # eval() mode must run too (InstanceNorm with running statistics)
    except (ValueError, RuntimeError, ZeroDivisionError) as e:
        case.update(refused=True, reason=str(e).splitlines()[0][:200])
        return case
    case.update(refused=False, output_shape=out if unbatched else out[1:],
                params={n: list(p.shape) for n, p in m.named_parameters()},
                buffers={n: [list(b.shape), str(b.dtype).replace("torch.", "")] for n, b in m.named_buffers()},
                runs=runs)
    return case


def spatial(rank: int) -> list:
    return [rng.choice([1, 2, 3, 4, 5, 7]) for _ in range(rank)]


def cases() -> list:
    out = []
    for _ in range(40):  # groupnorm
        g = rng.choice([1, 2, 3, 4, 6])
        c = g * rng.choice([1, 2, 3]) if rng.random() < 0.85 else rng.choice([5, 7, 9])
        kw = {"num_groups": g, "eps": 1e-5, "affine": rng.random() < 0.7}
        out.append(record("groupnorm", kw, [c] + spatial(rng.choice([0, 1, 2, 3])), rng.choice([1, 1, 2, 3])))
    out.append(record("groupnorm", {"num_groups": 3, "affine": True}, [3], 1))  # one value per group: refused
    out.append(record("groupnorm", {"num_groups": 3, "affine": True}, [3], 2))
    out.append(record("groupnorm", {"num_groups": 0, "affine": True}, [3, 4], 2))
    for _ in range(40):  # layernorm
        shape = [rng.choice([1, 2, 3, 5, 6]) for _ in range(rng.choice([1, 2, 3, 4]))]
        k = rng.randint(1, len(shape))
        ns = shape[len(shape) - k:]
        if rng.random() < 0.15:
            ns = [d + 1 for d in ns]
        kw = {"normalized_shape": ns if len(ns) > 1 or rng.random() < 0.5 else ns[0],
              "elementwise_affine": rng.random() < 0.7, "bias": rng.random() < 0.7}
        out.append(record("layernorm", kw, shape, rng.choice([1, 2, 3])))
    for _ in range(45):  # instancenorm
        d = rng.choice([1, 2, 3])
        c = rng.choice([1, 2, 3, 4])
        kw = {"affine": rng.random() < 0.5, "track_running_stats": rng.random() < 0.4}
        if rng.random() < 0.1:
            kw["num_features"] = c + 1
        out.append(record(f"instancenorm{d}d", kw, [c] + spatial(d), rng.choice([1, 2, 3])))
    out.append(record("instancenorm1d", {"affine": True}, [3, 5], 1, unbatched=True))
    out.append(record("instancenorm1d", {}, [4, 6], 1, unbatched=True))
    out.append(record("instancenorm2d", {}, [3, 1, 1], 2))  # one spatial element: refused in train()
    out.append(record("instancenorm2d", {"track_running_stats": True}, [3, 1, 1], 2))
    for _ in range(30):  # localresponsenorm
        size = rng.choice([1, 2, 3, 4, 5])
        kw = {"size": size, "alpha": 1e-4, "beta": rng.choice([0.75, 0.5, 1.0, 2.0, 0.0, 1.5]), "k": rng.choice([1.0, 2.0])}
        shape = [rng.choice([1, 2, 3, 6])] + spatial(rng.choice([1, 2, 3]))
        out.append(record("localresponsenorm", kw, shape, rng.choice([1, 2, 3])))
    out.append(record("localresponsenorm", {"size": 3}, [4], 2))  # 2-D with the batch: refused
    out.append(record("localresponsenorm", {"size": 0}, [4, 3], 2))
    return out


def main() -> None:
    data = {"meta": {"torch": torch.__version__, "dtype": "float32", "mode": "train() forward, y.sum().backward()",
                     "script": "tests/golden/make_samplenorm_golden.py"},
            "cases": cases()}
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"{len(data['cases'])} cases, {sum(c['refused'] for c in data['cases'])} refused -> {OUT}")


if __name__ == "__main__":
    main()
