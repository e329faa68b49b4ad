"""Regenerate tests/golden/rearrange_backward_golden.json from PyTorch: the rearranging and padding layers.

    /tmp/torchvenv/bin/python tests/golden/make_rearrange_golden.py

(torch 2.13.0 CPU, see make_backward_golden.py.) Random configurations of pixelshuffle,
pixelunshuffle, channelshuffle, unflatten, unfold, fold and the padding layers (zero, constant,
reflection, replication, circular; 1d/2d/3d), including ones PyTorch refuses. Per case:

- "layer", "kwargs" (the constructor arguments, PyTorch's names), "input" (batch excluded), "batch";
- "refused" and "reason" (PyTorch's exception) when the forward fails;
- otherwise measure() of make_backward_golden.py (input_grad true): "output_shape" (batch
  excluded), "output_batch" (y.shape[0]), "params", "buffers", "forward_flops", "backward_flops"
  (FlopCounterMode), "saved_activation_bytes", "saved";
- "forward_adds": for fold, sum(r - 1) over the outputs that r >= 1 entries land on, read off
  fold(ones) (r per output element); 0 for the others (they copy);
- "grad_adds": read off x.grad of y.sum() (r = how many outputs copy input element i):
  sum(r - 1) over the elements with r >= 1, the adds of dL/dx counted as n - 1 per sum of n;
- "batch_involved": the configuration reaches PyTorch's batch dimension (an input with too few
  entries that PyTorch takes unbatched, unflatten of dim 0, a constant pad of the batch), which
  convcalc refuses (its --input excludes the batch);
- "inconsistent" (circular padding): the output or the gradient differs from the crop-then-wrap
  reference's: PyTorch's slice copies read positions they had not written yet (uninitialised
  memory, or an overlapping copy whose gradient autograd routes to the unwritten values);
  convcalc refuses those.
"""

from __future__ import annotations

import json
import random
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from make_backward_golden import measure  # noqa: E402

warnings.filterwarnings("ignore")
OUT = Path(__file__).parent / "rearrange_backward_golden.json"
rng = random.Random(20261212)
PADS = {f"{kind.lower()}pad{n}d": (getattr(nn, f"{kind}Pad{n}d"), kind.lower(), n)
        for kind in ("Zero", "Constant", "Reflection", "Replication", "Circular") for n in (1, 2, 3)}


def module(layer: str, kw: dict) -> nn.Module:
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}
    if layer in PADS:
        cls, kind, _ = PADS[layer]
        return cls(args["padding"], args["value"]) if kind == "constant" else cls(args["padding"])
    return {"pixelshuffle": nn.PixelShuffle, "pixelunshuffle": nn.PixelUnshuffle, "channelshuffle": nn.ChannelShuffle,
            "unflatten": nn.Unflatten, "unfold": nn.Unfold, "fold": nn.Fold}[layer](**args)


def shape(rank: int, lo: int = 1, hi: int = 6) -> list:
    return [rng.randint(lo, hi) for _ in range(rank)]


def either(v: int, n: int = 2):
    """An int, or a list of n values around it."""
    return v if rng.random() < 0.5 else [max(v + rng.randint(-1, 1), rng.choice([0, 1])) for _ in range(n)]


def new_cases() -> list:
    cases = []
    for _ in range(30):
        r = rng.randint(1, 3)
        rank = rng.choice([3, 3, 3, 4, 2])
        s = shape(rank)
        s[-3 if rank >= 3 else 0] = r * r * rng.randint(1, 3) if rng.random() < 0.7 else rng.randint(1, 12)
        cases.append(("pixelshuffle", {"upscale_factor": r}, s))
        r = rng.randint(1, 3)
        s = shape(rank)
        for i in (-1, -2):
            s[i] = r * rng.randint(1, 3) if rng.random() < 0.8 else rng.randint(1, 7)
        cases.append(("pixelunshuffle", {"downscale_factor": r}, s))
        g = rng.randint(1, 4)
        s = shape(rng.choice([1, 2, 3, 3, 4]))
        s[0] = g * rng.randint(1, 3) if rng.random() < 0.7 else rng.randint(1, 9)
        cases.append(("channelshuffle", {"groups": g}, s))
        rank = rng.randint(1, 3)
        s = shape(rank, 1, 12)
        dim = rng.randint(-rank - 1, rank + 1) if rng.random() < 0.3 else rng.randint(1, rank)
        i = dim if dim >= 0 else dim + rank + 1
        n = s[i - 1] if 1 <= i <= rank else 6
        parts = [d for d in range(1, n + 1) if n % d == 0]
        a = rng.choice(parts)
        sizes_ = [a, n // a] if rng.random() < 0.7 else [a, rng.randint(1, 4)]
        if rng.random() < 0.4:
            sizes_[rng.randint(0, 1)] = -1
        if rng.random() < 0.1:
            sizes_ = [n]
        cases.append(("unflatten", {"dim": dim, "unflattened_size": sizes_}, s))
        k, d, p, st = either(rng.randint(1, 4)), either(rng.randint(1, 2)), either(rng.randint(0, 2)), either(rng.randint(1, 3))
        if rng.random() < 0.05:
            p = -1
        s = [rng.randint(1, 3)] + shape(2, 1, 8)
        if rng.random() < 0.1:
            s = s[1:] if rng.random() < 0.5 else s + [2]
        cases.append(("unfold", {"kernel_size": k, "dilation": d, "padding": p, "stride": st}, s))
        out = either(rng.randint(1, 7))
        kw = {"output_size": out, "kernel_size": either(rng.randint(1, 3)), "dilation": either(rng.randint(1, 2)),
              "padding": either(rng.randint(0, 2)), "stride": either(rng.randint(1, 3))}
        pair = lambda v: v if isinstance(v, list) else [v, v]  # noqa: E731
        blocks = 1
        for o, kk, dd, pp, ss in zip(*(pair(kw[x]) for x in ("output_size", "kernel_size", "dilation", "padding", "stride"))):
            blocks *= max((o + 2 * pp - dd * (kk - 1) - 1) // ss + 1, 0) if ss > 0 else 0
        taps = pair(kw["kernel_size"])[0] * pair(kw["kernel_size"])[1]
        c = rng.randint(1, 3) * taps if rng.random() < 0.85 else rng.randint(1, 9)
        L = blocks if rng.random() < 0.85 else max(1, blocks + rng.choice([-1, 1]))
        s = [c, max(L, 1)] if rng.random() < 0.93 else [max(L, 1)]
        cases.append(("fold", kw, s))
    for name, (cls, kind, n) in PADS.items():
        for _ in range(18):
            rank = rng.choice([n - 1, n, n, n + 1, n + 1, n + 2]) if n > 1 else rng.choice([1, 2, 2, 3])
            rank = max(rank, 1)
            s = shape(rank, 1, 6)
            if rng.random() < 0.3:
                padding = rng.randint(0, 4)
            else:
                m = n if rng.random() < 0.85 else rng.randint(1, 3)
                padding = [rng.randint(-3, 4) if rng.random() < 0.4 else rng.randint(0, 3) for _ in range(2 * m)]
                if rng.random() < 0.03:
                    padding = padding[:-1]
            kw = {"padding": padding}
            if kind == "constant":
                kw["value"] = rng.choice([0.0, 1.5, -2.0])
            cases.append((name, kw, s))
    return cases


def batch_involved(layer: str, kw: dict, s: list) -> bool:
    rank = len(s)
    if layer in ("pixelshuffle", "pixelunshuffle"):
        return rank < 3
    if layer == "unflatten":
        return kw["dim"] in (0, -(rank + 1))
    if layer == "unfold":
        return rank == 2
    if layer == "fold":
        return rank == 1
    if layer in PADS and PADS[layer][1] in ("zero", "constant"):
        pad = kw["padding"]
        m = len(pad) // 2 if isinstance(pad, list) else PADS[layer][2]
        return m > rank
    return False


def circular_reference(x: torch.Tensor, pad: list) -> torch.Tensor:
    """Crop by the negative entries, then wrap the cropped tensor (index (o - left) mod L')."""
    y = x
    m = len(pad) // 2
    for j in range(m):
        dim = x.dim() - 1 - j
        l, r = pad[2 * j], pad[2 * j + 1]
        L = y.shape[dim]
        y = y.narrow(dim, max(-l, 0), L - max(-l, 0) - max(-r, 0))
        L2 = y.shape[dim]
        out = L2 + max(l, 0) + max(r, 0)
        index = torch.tensor([(o - max(l, 0)) % L2 for o in range(out)]) if L2 else torch.zeros(0, dtype=torch.long)
        y = y.index_select(dim, index)
    return y


def run(layer: str, kw: dict, s: list, batch: int) -> dict:
    rec = {"layer": layer, "kwargs": kw, "input": s, "batch": batch, "refused": False,
           "batch_involved": batch_involved(layer, kw, s)}
    torch.manual_seed(0)
    try:
        mod = module(layer, kw)
        x = torch.randn(batch, *s)
        m = measure(mod, x, lambda y: y.sum(), True)
        y = mod(x)
    except Exception as e:  # PyTorch refuses the configuration
        rec.update(refused=True, reason=f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
        return rec
    rec.update(output_shape=m["output_shape"], output_batch=int(y.shape[0]), params=sum(p.numel() for p in mod.parameters()),
               buffers=sum(b.numel() for b in mod.buffers()), forward_flops=m["forward_flops"], backward_flops=m["backward_flops"],
               saved_activation_bytes=m["saved_activation_bytes"], saved=m["saved"])
    ones = torch.ones(batch, *s, requires_grad=True)
    out = mod(ones)
    counts = out.detach()
    rec["forward_adds"] = int(counts.sum() - (counts > 0).sum()) if layer == "fold" else 0
    out.sum().backward()
    g = ones.grad
    rec["grad_adds"] = int(g.sum() - (g > 0).sum())
    if layer in PADS and PADS[layer][1] == "circular":
        pad = kw["padding"] if isinstance(kw["padding"], list) else [kw["padding"]] * (2 * PADS[layer][2])
        ref = circular_reference(x, pad)
        ones_ref = torch.ones(batch, *s, requires_grad=True)
        circular_reference(ones_ref, pad).sum().backward()
        same = ref.shape == y.shape and torch.equal(ref, y) and torch.equal(ones_ref.grad, g)
        rec["inconsistent"] = not same
    return rec


def main() -> None:
    cases = [run(layer, kw, s, rng.randint(1, 3)) for layer, kw, s in new_cases()]
    meta = {"torch": torch.__version__, "script": "tests/golden/make_rearrange_golden.py", "seed": 20261212,
            "cases": len(cases), "refused": sum(c["refused"] for c in cases)}
    OUT.write_text(json.dumps({"meta": meta, "cases": cases}, indent=1) + "\n")
    print(f"{len(cases)} cases ({meta['refused']} refused) -> {OUT}")


if __name__ == "__main__":
    main()
