"""Record tests/golden/attention_backward_golden.json from PyTorch: nn.MultiheadAttention (and a
grouped-query attention module written from torch.nn) in random configurations, refused ones
included.

    /tmp/torchvenv/bin/python tests/golden/make_attention_golden.py

torch 2.13.0 CPU, float32, oneDNN off, the math attention kernel forced
(torch.nn.attention.sdpa_kernel(SDPBackend.MATH)), train() mode, measured by
make_backward_golden.measure (FlopCounterMode around the forward and around loss.backward(),
loss = y.sum(); the tensors autograd saves, by storage).

The module called is nn.MultiheadAttention(batch_first=True) with need_weights=False (as
nn.TransformerEncoderLayer calls it): self-attention mha(x, x, x); with kv_len, or kdim/vdim
other than embed_dim, cross-attention over a memory held by the wrapper (one tensor as key and
value when kdim == vdim, else two), which requires grad exactly when the input does (its
saved storages are recorded as "other": part of saved_activation_bytes). need_weights as the case's kwargs say
(default False). causal: attn_mask =
nn.Transformer.generate_square_subsequent_mask(T) (the float -inf mask, padded by PyTorch for
appended keys) with is_causal=False (so that the mask is what convcalc counts whatever the
appended keys), or, in cases marked "is_causal", with is_causal=True (PyTorch then drops the
mask and the math kernel builds its own T x S' mask); window W: the float mask with -inf outside keys t-W+1..t. kv_heads: the GQA
module below (q/k/v projections from separate weights, F.scaled_dot_product_attention with
enable_gqa=True, whose math kernel repeats k and v to num_heads heads).

Per case: "layer", "kwargs" (as convcalc spells them), "input" [T, E], "batch"; "refused" with
PyTorch's reason, else output_shape, params {name: shape}, buffers, and per run (input_grad
true/false) forward_flops, backward_flops, saved_activation_bytes and the saved storages, and
the aten ops dispatched in a second identical forward and its backward ("forward_trace",
"backward_trace": [op.overload, [argument shapes], result shape]; the loss's own sum excluded
from the forward; ops that only make views left out) for tests/test_attention_counting.py to count by per-op rules.
"""

from __future__ import annotations

import json
import random
import re
import sys
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from make_backward_golden import measure  # noqa: E402

OUT = HERE / "attention_backward_golden.json"
rng = random.Random(20261123 + 130)
torch.backends.mkldnn.enabled = False
warnings.filterwarnings("ignore")


def mask_of(T: int, S: int, causal: bool, window: int | None) -> torch.Tensor | None:
    """The float mask (0 attend, -inf not) of query t over keys s: s <= t, and s > t - W."""
    if not causal and window is None:
        return None
    t = torch.arange(T)[:, None]
    s = torch.arange(S)[None, :]
    ok = s <= t
    if window is not None:
        ok &= s > t - window
    return torch.zeros(T, S).masked_fill(~ok, float("-inf"))


#: ops that only make views (no computation, no new storage): left out of the traces
VIEWS = {"view", "_unsafe_view", "transpose", "t", "permute", "expand", "unsqueeze", "squeeze", "select", "slice",
         "split", "split_with_sizes", "detach", "alias"}


class Trace(TorchDispatchMode):
    """Every aten op dispatched: [name, [shapes of the tensor arguments], shape of the result]."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func.overloadpacket.__name__ in VIEWS:
            return out
        shapes = [list(a.shape) for a in args if isinstance(a, torch.Tensor)]
        first = out[0] if isinstance(out, (tuple, list)) else out
        self.ops.append([str(func.overloadpacket.__name__) + "." + func._overloadname, shapes,
                         list(first.shape) if isinstance(first, torch.Tensor) else None])
        return out


def trace(model, x, input_grad):
    """The ops of one train-mode forward (the loss y.sum() excluded) and of its backward."""
    x = x.detach().requires_grad_(input_grad)
    model.zero_grad(set_to_none=True)
    with Trace() as forward:
        y = model(x)
    loss = y.sum()
    with Trace() as backward:
        loss.backward()
    return forward.ops, backward.ops


class GQA(nn.Module):
    """Grouped-query attention from torch.nn: parameters as convcalc lays them out."""

    def __init__(self, E, heads, kv_heads, kdim, vdim, bias):
        super().__init__()
        d = E // heads
        self.heads, self.kv_heads, self.d = heads, kv_heads, d
        self.q_proj_weight = nn.Parameter(torch.randn(E, E) * 0.1)
        self.k_proj_weight = nn.Parameter(torch.randn(kv_heads * d, kdim) * 0.1)
        self.v_proj_weight = nn.Parameter(torch.randn(kv_heads * d, vdim) * 0.1)
        self.in_proj_bias = nn.Parameter(torch.zeros(E + 2 * kv_heads * d)) if bias else None
        self.out_proj = nn.Linear(E, E, bias=bias)

    def forward(self, q, k, v, attn_mask=None):
        B, T, E = q.shape
        S = k.shape[1]
        bq = bk = bv = None
        if self.in_proj_bias is not None:
            bq, bk, bv = self.in_proj_bias.split([E, self.kv_heads * self.d, self.kv_heads * self.d])
        q = F.linear(q, self.q_proj_weight, bq).view(B, T, self.heads, self.d).transpose(1, 2)
        k = F.linear(k, self.k_proj_weight, bk).view(B, S, self.kv_heads, self.d).transpose(1, 2)
        v = F.linear(v, self.v_proj_weight, bv).view(B, S, self.kv_heads, self.d).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, enable_gqa=True)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, E))


class Wrapper(nn.Module):
    """y = attention(x, memory): the memory (key/value) requires grad exactly when x does."""

    def __init__(self, inner, key, value, mask, gqa, need_weights=False, is_causal=False):
        super().__init__()
        self.inner, self.key, self.value, self.mask, self.gqa = inner, key, value, mask, gqa
        self.need_weights, self.is_causal = need_weights, is_causal

    def forward(self, x):
        if self.key is None:
            k = v = x
        else:
            k = self.key.detach().requires_grad_(x.requires_grad)
            v = k if self.value is None else self.value.detach().requires_grad_(x.requires_grad)
        if self.gqa:
            return self.inner(x, k, v, attn_mask=self.mask)
        return self.inner(x, k, v, need_weights=self.need_weights, attn_mask=self.mask, is_causal=self.is_causal)[0]


def record(kw: dict, shape: list, batch: int, is_causal: bool = False) -> dict:
    kw = {**kw, "batch_first": True}
    case = {"layer": "multiheadattention", "kwargs": kw, "input": shape, "batch": batch}
    if is_causal:
        case["is_causal"] = True
    torch.manual_seed(sum(shape) + batch)
    T, E = shape
    heads = kw["num_heads"]
    kdim, vdim = kw.get("kdim") or E, kw.get("vdim") or E
    S = kw.get("kv_len") or T
    x = torch.randn(batch, T, E)
    try:
        kvh = kw.get("kv_heads")
        if kvh is not None and kvh != heads:
            inner, gqa = GQA(E, heads, kvh, kdim, vdim, kw.get("bias", True)), True
        else:
            args = {k: kw[k] for k in ("batch_first", "bias", "add_bias_kv", "add_zero_attn", "kdim", "vdim", "dropout") if k in kw}
            inner, gqa = nn.MultiheadAttention(E, heads, **args), False
        self_attn = kw.get("kv_len") is None and kdim == E and vdim == E
        key = value = None
        if not self_attn:
            key = torch.randn(batch, S, kdim)
            value = None if kdim == vdim else torch.randn(batch, S, vdim)
        model = Wrapper(inner, key, value, mask_of(T, S, kw.get("causal", False), kw.get("window")), gqa,
                        kw.get("need_weights", False), is_causal)
        runs = []
        with sdpa_kernel(SDPBackend.MATH):
            for input_grad in (True, False):
                model.zero_grad(set_to_none=True)
                r = measure(model, x, lambda y: y.sum(), input_grad)
                keep = ("input_grad", "forward_flops", "backward_flops", "backward_ops", "saved_activation_bytes", "saved")
                runs.append({k: r[k] for k in keep})
                runs[-1]["forward_trace"], runs[-1]["backward_trace"] = trace(model, x, input_grad)
            out = list(model(x).shape)
    except (ValueError, RuntimeError, AssertionError, IndexError, ZeroDivisionError) as e:
        case.update(refused=True, reason=str(e).splitlines()[0][:200])
        return case
    case.update(refused=False, output_shape=out[1:],
                params={n.removeprefix("inner."): list(p.shape) for n, p in model.named_parameters()},
                buffers={n: [list(b.shape), str(b.dtype).replace("torch.", "")] for n, b in model.named_buffers()},
                runs=runs)
    return case


def config() -> tuple[dict, list, int]:
    heads = rng.choice([1, 2, 3, 4])
    E = heads * rng.choice([1, 2, 3, 4])
    T = rng.choice([1, 2, 3, 5, 7])
    kw: dict = {"num_heads": heads}
    if rng.random() < 0.3:
        kw["bias"] = False
    if rng.random() < 0.35:
        kw["kv_len"] = rng.choice([1, 2, 4, 6, T])
    if rng.random() < 0.4:
        kw["causal"] = True
        if rng.random() < 0.5:
            kw["window"] = rng.choice([1, 2, 3])
    if rng.random() < 0.3:
        kw["kv_heads"] = rng.choice([k for k in range(1, heads + 1) if heads % k == 0])
    grouped = kw.get("kv_heads", heads) != heads
    if rng.random() < 0.3:
        kw["kdim"] = rng.choice([2, 3, 5, E])
        kw["vdim"] = rng.choice([2, 4, 5, kw["kdim"]])
    if not grouped:
        if rng.random() < 0.3:
            kw["add_bias_kv"] = True
        if rng.random() < 0.3:
            kw["add_zero_attn"] = True
        if rng.random() < 0.15:
            kw["dropout"] = 0.25
        if rng.random() < 0.2:
            kw["need_weights"] = True
    return kw, [T, E], rng.choice([1, 2, 3])


def cases() -> list:
    out = [record(*config()) for _ in range(70)]
    # hand-picked: every path at least once
    out.append(record({"num_heads": 2}, [4, 6], 2))
    out.append(record({"num_heads": 2, "causal": True}, [5, 4], 3))
    out.append(record({"num_heads": 2, "causal": True, "window": 2}, [6, 4], 2))
    out.append(record({"num_heads": 2, "kv_len": 3}, [4, 6], 2))
    out.append(record({"num_heads": 2, "kv_len": 3, "causal": True}, [5, 6], 1))
    out.append(record({"num_heads": 2, "kdim": 3, "vdim": 5}, [4, 6], 2))
    out.append(record({"num_heads": 2, "kdim": 3, "vdim": 3, "kv_len": 2}, [4, 6], 2))
    out.append(record({"num_heads": 2, "kdim": 3, "vdim": 3, "kv_len": 2}, [4, 6], 1))  # batch 1: no transposed copies
    out.append(record({"num_heads": 2, "add_bias_kv": True, "add_zero_attn": True, "causal": True}, [4, 6], 2))
    out.append(record({"num_heads": 2, "bias": False, "add_bias_kv": True}, [3, 4], 3))
    out.append(record({"num_heads": 4, "kv_heads": 2}, [5, 8], 2))
    out.append(record({"num_heads": 4, "kv_heads": 1, "causal": True}, [5, 8], 2))
    out.append(record({"num_heads": 4, "kv_heads": 2, "kv_len": 3, "kdim": 5, "vdim": 5}, [4, 8], 3))
    out.append(record({"num_heads": 4, "kv_heads": 4}, [3, 8], 2))
    out.append(record({"num_heads": 2, "dropout": 0.25}, [4, 4], 2))
    out.append(record({"num_heads": 2, "need_weights": True}, [4, 6], 2))
    out.append(record({"num_heads": 2, "need_weights": True, "causal": True, "dropout": 0.25}, [4, 6], 2))
    out.append(record({"num_heads": 2, "need_weights": True, "kv_len": 3}, [4, 6], 3))
    out.append(record({"num_heads": 3, "need_weights": True, "kdim": 2, "vdim": 4, "add_bias_kv": True}, [4, 6], 2))
    # causal through PyTorch's is_causal hint (the mask built inside the math kernel): the same counts
    out.append(record({"num_heads": 2, "causal": True}, [5, 4], 3, is_causal=True))
    out.append(record({"num_heads": 2, "causal": True, "kv_len": 7}, [5, 4], 2, is_causal=True))
    # refused by PyTorch
    out.append(record({"num_heads": 4}, [3, 6], 2))  # embed_dim not divisible by num_heads
    out.append(record({"num_heads": 3}, [2, 8], 1))
    out.append(record({"num_heads": 4, "kv_heads": 3}, [3, 8], 2))  # kv_heads does not divide num_heads
    out.append(record({"num_heads": 6, "kv_heads": 4}, [3, 12], 1))
    return out


def main() -> None:
    data = {"meta": {"torch": torch.__version__, "dtype": "float32", "mode": "train() forward, y.sum().backward()",
                     "attention_kernel": "math (torch.nn.attention.sdpa_kernel(SDPBackend.MATH))", "onednn": "off",
                     "call": "nn.MultiheadAttention(batch_first=True)(x, k, v, need_weights=False, attn_mask=float mask)",
                     "gqa": "q/k/v projections from torch.nn, F.scaled_dot_product_attention(enable_gqa=True)",
                     "script": "tests/golden/make_attention_golden.py"},
            "cases": cases()}
    compact = []  # the traces and saved storages one line each: the file stays readable
    for case in data["cases"]:
        for run in case.get("runs", []):
            for key in ("forward_trace", "backward_trace", "saved"):
                compact.append(json.dumps(run[key]))
                run[key] = f"@@{len(compact) - 1}@@"
    text = re.sub(r'"@@(\d+)@@"', lambda m: compact[int(m.group(1))], json.dumps(data, indent=1))
    OUT.write_text(text + "\n")
    print(f"{len(data['cases'])} cases, {sum(c['refused'] for c in data['cases'])} refused -> {OUT}")


if __name__ == "__main__":
    main()
