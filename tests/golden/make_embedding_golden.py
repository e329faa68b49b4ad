"""Record tests/golden/embedding_backward_golden.json from PyTorch: Embedding, EmbeddingBag,
LPPool1d/2d/3d, FractionalMaxPool2d/3d and adaptive pools with None in output_size, in random
configurations, refused ones included.

    /tmp/torchvenv/bin/python tests/golden/make_embedding_golden.py

torch 2.13.0 CPU, float32, train() mode, measured by make_backward_golden.measure (FlopCounterMode
around the forward and around loss.backward(), loss = y.sum(); the tensors autograd saves, by
storage). Per case: the layer's name and constructor arguments ("kwargs", as convcalc spells
them), the input without the batch ("input") and the batch; "refused" with PyTorch's reason when
the constructor or the forward raises; else output_shape (without the batch), params {name:
shape}, buffers, and per run forward_flops, backward_flops, saved_activation_bytes and the saved
storages.

Embedding and EmbeddingBag take int64 indices (random in [0, num_embeddings)): they cannot
require a gradient, so their one run has input_grad false (measure() calls x.requires_grad_(False),
which an integer tensor accepts). EmbeddingBag's input is PyTorch's 2-D (bags, bag length) form
without offsets: convcalc's --input is the bag length and its batch the number of bags. The other
layers have no parameters: one run, input_grad true.
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

OUT = HERE / "embedding_backward_golden.json"
rng = random.Random(20261123 + 1212)
torch.backends.mkldnn.enabled = False
warnings.filterwarnings("ignore")


def build(layer: str, kw: dict) -> nn.Module:
    kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in kw.items()}
    if layer == "embedding":
        return nn.Embedding(**kw)
    if layer == "embeddingbag":
        return nn.EmbeddingBag(**kw)
    if layer.startswith("lppool"):
        return getattr(nn, f"LPPool{layer[-2:]}")(**kw)
    if layer.startswith("fractionalmaxpool"):
        return getattr(nn, f"FractionalMaxPool{layer[-2:]}")(**kw)
    kind = "AdaptiveAvgPool" if layer.startswith("adaptiveavg") else "AdaptiveMaxPool"
    return getattr(nn, f"{kind}{layer[-2:]}")(**kw)


def record(layer: str, kw: dict, shape: list, batch: int) -> dict:
    case = {"layer": layer, "kwargs": kw, "input": shape, "batch": batch}
    torch.manual_seed(len(shape) + batch + 7)
    indices = layer.startswith("embedding")
    try:
        m = build(layer, kw)
        if indices:
            x = torch.randint(0, max(1, kw["num_embeddings"]), [batch] + shape, dtype=torch.int64)
        else:
            x = torch.randn([batch] + shape)
        r = measure(m, x, lambda y: y.sum(), input_grad=not indices)
        keep = ("input_grad", "forward_flops", "backward_flops", "backward_ops", "saved_activation_bytes", "saved")
        run = {k: r[k] for k in keep}
        out = list(m(x).shape)
    except (ValueError, RuntimeError, ZeroDivisionError, AssertionError, IndexError, TypeError) as e:
        case.update(refused=True, reason=f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
        return case
    case.update(refused=False, output_shape=out[1:],
                params={n: list(p.shape) for n, p in m.named_parameters()},
                buffers={n: [list(b.shape), str(b.dtype).replace("torch.", "")] for n, b in m.named_buffers()},
                runs=[run])
    return case


def cases() -> list:
    out = []
    for _ in range(30):  # embedding
        e, d = rng.randint(1, 12), rng.randint(1, 6)
        kw = {"num_embeddings": e, "embedding_dim": d}
        r = rng.random()
        if r < 0.4:
            kw["padding_idx"] = rng.randint(-e, e - 1)
        elif r < 0.45:
            kw["padding_idx"] = rng.choice([e, -e - 1])
        kw["scale_grad_by_freq"] = rng.random() < 0.3
        kw["sparse"] = rng.random() < 0.2
        out.append(record("embedding", kw, [rng.randint(1, 6) for _ in range(rng.randint(1, 3))], rng.randint(1, 3)))
    out.append(record("embedding", {"num_embeddings": 10, "embedding_dim": 3, "max_norm": 1.0}, [4], 2))
    out.append(record("embedding", {"num_embeddings": 0, "embedding_dim": 3}, [4], 2))
    for _ in range(30):  # embeddingbag
        e, d = rng.randint(1, 12), rng.randint(1, 6)
        kw = {"num_embeddings": e, "embedding_dim": d, "mode": rng.choice(["sum", "mean", "max"])}
        if rng.random() < 0.35:
            kw["padding_idx"] = rng.randint(-e, e - 1)
        kw["scale_grad_by_freq"] = rng.random() < 0.25
        kw["sparse"] = rng.random() < 0.2
        kw["include_last_offset"] = rng.random() < 0.2
        out.append(record("embeddingbag", kw, [rng.randint(1, 6)], rng.randint(1, 4)))
    out.append(record("embeddingbag", {"num_embeddings": 5, "embedding_dim": 3, "mode": "max", "sparse": True}, [3], 2))
    out.append(record("embeddingbag", {"num_embeddings": 5, "embedding_dim": 3, "mode": "sum", "sparse": True,
                                       "scale_grad_by_freq": True}, [3], 2))
    out.append(record("embeddingbag", {"num_embeddings": 5, "embedding_dim": 3, "mode": "mean", "sparse": True}, [4], 3))
    out.append(record("embeddingbag", {"num_embeddings": 5, "embedding_dim": 3, "padding_idx": 5}, [4], 3))
    out.append(record("embeddingbag", {"num_embeddings": 8, "embedding_dim": 2, "max_norm": 1.0}, [4], 3))
    out.append(record("embeddingbag", {"num_embeddings": 5, "embedding_dim": 3, "mode": "max", "scale_grad_by_freq": True}, [3], 2))
    for _ in range(45):  # lppool
        n = rng.choice([1, 2, 3])
        k = [rng.randint(1, 3) for _ in range(n)]
        kw = {"norm_type": rng.choice([1, 2, 3, 4, 0.5, 1.5, -1, 2.5]), "kernel_size": k if rng.random() < 0.7 else k[0]}
        if rng.random() < 0.6:
            kw["stride"] = [rng.randint(1, 3) for _ in range(n)]
        kw["ceil_mode"] = rng.random() < 0.3
        shape = [rng.randint(1, 3)] + [rng.randint(1, 7) for _ in range(n)]
        if n == 1 and isinstance(kw["kernel_size"], list):
            kw["kernel_size"] = kw["kernel_size"][0]
        out.append(record(f"lppool{n}d", kw, shape, rng.randint(1, 2)))
    out.append(record("lppool2d", {"norm_type": 0, "kernel_size": 2}, [2, 4, 4], 1))
    out.append(record("lppool1d", {"norm_type": 2, "kernel_size": 5}, [2, 4], 1))
    for _ in range(30):  # fractional max pooling
        n = rng.choice([2, 3])
        k = [rng.randint(1, 3) for _ in range(n)]
        shape = [rng.randint(1, 3)] + [rng.randint(2, 9) for _ in range(n)]
        kw = {"kernel_size": k if rng.random() < 0.7 else k[0]}
        if rng.random() < 0.5:
            kw["output_size"] = [rng.randint(1, 6) for _ in range(n)]
        else:
            kw["output_ratio"] = [rng.choice([0.3, 0.5, 0.7, 0.9]) for _ in range(n)]
        out.append(record(f"fractionalmaxpool{n}d", kw, shape, rng.randint(1, 2)))
    out.append(record("fractionalmaxpool2d", {"kernel_size": 2}, [2, 5, 5], 1))
    out.append(record("fractionalmaxpool2d", {"kernel_size": 2, "output_size": 3, "output_ratio": 0.5}, [2, 5, 5], 1))
    out.append(record("fractionalmaxpool2d", {"kernel_size": 2, "output_ratio": 1.5}, [2, 5, 5], 1))
    for _ in range(24):  # adaptive pools with None
        n = rng.choice([1, 2, 3])
        kind = rng.choice(["adaptiveavgpool", "adaptivemaxpool"])
        size = [rng.choice([None, 1, 2, 3, 5]) for _ in range(n)]
        shape = [rng.randint(1, 3)] + [rng.randint(1, 7) for _ in range(n)]
        out.append(record(f"{kind}{n}d", {"output_size": size if n > 1 else size[0]}, shape, rng.randint(1, 2)))
    return out


def main() -> None:
    data = {"meta": {"torch": torch.__version__, "dtype": "float32", "mode": "train() forward, y.sum().backward()",
                     "script": "tests/golden/make_embedding_golden.py"},
            "cases": cases()}
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"{len(data['cases'])} cases, {sum(c['refused'] for c in data['cases'])} refused -> {OUT}")


if __name__ == "__main__":
    main()
