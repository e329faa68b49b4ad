"""Regenerate tests/golden/transformer_golden.json: the four transformer examples of issue 13 measured by PyTorch.

    /tmp/torchvenv/bin/python tests/golden/make_transformer_golden.py     (torch==2.13.0 CPU, as make_backward_golden.py)

The models are written from torch.nn in transformer_models.py (what differs from torchvision 0.28 / HuggingFace
and why is said there): ViT-B/16 at 224, a BERT-base encoder of nn.TransformerEncoderLayer (with the pooler),
GPT-2 small (tied lm_head) with a KV cache, a small LLaMA (RMSNorm, SwiGLU, RoPE, GQA).

How: CPU float32, torch.backends.mkldnn.flags(enabled=False), the math attention kernel forced
(torch.nn.attention.sdpa_kernel(SDPBackend.MATH)), and the fast path of nn.MultiheadAttention /
nn.TransformerEncoderLayer off (torch.backends.mha.set_fastpath_enabled(False)): under no_grad in eval mode
PyTorch otherwise runs the fused torch._native_multi_head_attention / _transformer_encoder_layer_fwd, of which
FlopCounterMode sees nothing ("reference" records those default readings).

A "row" is a module without children, or an nn.MultiheadAttention (a row of its own: its parameters are
in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias; its out_proj submodule never runs its forward).
Per example, sequence length T and batch ("runs": [...]):
- params (each parameter once: GPT-2's lm_head.weight is wte.weight), buffers (numel), buffers_bytes;
- eval_forward_flops and eval_forward_ops (FlopCounterMode around the eval forward under no_grad);
- "rows": every row module in the order it ran: [type = lowercase class name, input shape (the first argument),
  output shape (both without the batch), its own parameters' numel (a parameter already counted for an earlier
  row counts 0: the tied lm_head), the eval FLOPs FlopCounterMode counted while it ran];
- attention_core_flops: per attention row (nn.MultiheadAttention, ScaledDotProductAttention), its bmm FLOPs
  (q k^T and the weighted sum of v, what the math kernel computes; the projections are addmm/mm);
- "blocks": the same five entries per block (EncoderBlock, nn.TransformerEncoderLayer, GPT2Block, LlamaBlock);
- make_backward_golden.measure(model, x, loss, input_grad=False, detail=False, leaves=True) with the rows as its
  leaves: train-mode forward_flops, backward_flops, backward_ops, saved_activation_bytes, saved_by_kind_dtype,
  unattributed_bytes (saved by an op between rows: residual adds, the SwiGLU product, the embedding sums),
  grad_bytes, "layers" [type, input shape, output shape, storages saved]; loss = y.sum() (BERT: pooled.sum() +
  last hidden state.sum()); x = token ids (int64, not requiring grad) or the image;
- output_shape.
"kv_cache": {"gpt2_small": ..., "llama_small": ...} (eval, no_grad): "prefill": T tokens into an empty cache: flops
(logits for all T tokens, as HF's forward), cache_bytes (the cached k and v tensors' numel x 4), cache_storage_bytes
(the storages they keep alive: after GPT-2's prefill k and v are views of c_attn's fused (T, 3 x 768) output, as in
HF, so q's third too; after a decode step torch.cat made them fresh) and the k cache's shape (LLaMA: keys after RoPE,
2 kv heads, before repeat_kv); "decode": ONE new token per sequence at context length t (GPT-2: t = 2 ... 1024, its
n_positions; LLaMA: up to 128, its RoPE table; batch 1, and 2 at t = 64, 65), i.e. with a cache of t - 1 past keys
and values filled by an uncounted prefill: flops, ops, attention_core_flops, cache_bytes after the step
(2 * layers * batch * t * kv_heads * head_dim * 4) and the logits' largest difference from the full forward's last
position (the cache is exact).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parent))
from make_backward_golden import dump, measure  # noqa: E402
from transformer_models import (LLAMA_CONFIG, Bert, EncoderBlock, GPT2Block, LlamaBlock,  # noqa: E402
                                ScaledDotProductAttention, bert_base, gpt2_small, llama_small, vit_b_16)

warnings.filterwarnings("ignore", message=".*TF32 acceleration.*")
OUT = Path(__file__).with_name("transformer_golden.json")
BLOCKS = (EncoderBlock, nn.TransformerEncoderLayer, GPT2Block, LlamaBlock)
ATTENTION = (nn.MultiheadAttention, ScaledDotProductAttention)
CORE_OPS = ("aten.bmm", "aten.baddbmm")

# example -> (builder, vocabulary (token ids) or None (an image), documented parameter count)
MODELS = {
    "vit_b_16": (vit_b_16, None, 86_567_656),        # torchvision's num_params
    "bert_base": (bert_base, 30522, 109_482_240),    # HF bert-base-uncased BertModel (with the pooler)
    "gpt2_small": (gpt2_small, 50257, 124_439_808),  # HF gpt2, lm_head tied
    "llama_small": (llama_small, 1000, 3_283_200),   # by hand in tests/test_transformer_golden.py
}
PLAN = [("vit_b_16", 197, 1), ("vit_b_16", 197, 2), ("bert_base", 16, 1), ("bert_base", 64, 1), ("bert_base", 16, 2),
        ("gpt2_small", 16, 1), ("gpt2_small", 64, 1), ("gpt2_small", 128, 1), ("gpt2_small", 16, 2),
        ("llama_small", 16, 1), ("llama_small", 64, 1), ("llama_small", 16, 2)]
# (context length t, batch) of the decode steps; LLaMA's RoPE tables hold 128 positions
DECODE = {"gpt2_small": [(2, 1), (16, 1), (17, 1), (32, 1), (64, 1), (65, 1), (128, 1), (256, 1), (1024, 1), (64, 2),
                         (65, 2)],
          "llama_small": [(2, 1), (16, 1), (17, 1), (64, 1), (65, 1), (128, 1), (64, 2), (65, 2)]}


def row_modules(model: nn.Module) -> list:
    """Modules without children and nn.MultiheadAttention, none inside an nn.MultiheadAttention."""
    inside = {id(c) for m in model.modules() if isinstance(m, nn.MultiheadAttention) for c in m.modules() if c is not m}
    return [m for m in model.modules()
            if id(m) not in inside and (isinstance(m, nn.MultiheadAttention) or not list(m.children()))]


class _Shaped(tuple):
    """nn.MultiheadAttention's (output, weights) with the output's .shape, so that measure()'s hook can read it."""
    shape = None


@contextlib.contextmanager
def attention_as_rows(model: nn.Module):
    """measure(leaves=True) takes modules without children as its rows: for its duration every
    nn.MultiheadAttention shows no children (its out_proj never runs) and returns a tuple with a .shape."""
    model.train()  # measure() calls train() too; Module.train walks children(), so before the patch
    hooks, patched = [], []

    def shaped(mod, args, out):
        res = _Shaped(out)
        res.shape = out[0].shape
        return res
    for m in model.modules():
        if isinstance(m, nn.MultiheadAttention):
            m.children = lambda: iter(())
            patched.append(m)
            hooks.append(m.register_forward_hook(shaped))
    try:
        yield
    finally:
        for h in hooks:
            h.remove()
        for m in patched:
            del m.children


def _out(out):
    return out[0] if isinstance(out, tuple) else out


def eval_run(model: nn.Module, x: torch.Tensor, **kwargs):
    """FlopCounterMode's eval forward under no_grad: total, per op, the rows, the attention rows' bmm FLOPs, the blocks."""
    counter = FlopCounterMode(display=False)
    rows, blocks, core, hooks, seen = [], [], [], [], set()

    def flops():
        return int(counter.get_total_flops())

    def ops():
        return {str(k): int(v) for k, v in counter.get_flop_counts().get("Global", {}).items()}

    def own(mod):
        n = 0
        for p in mod.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                n += p.numel()
        return n

    def pre(target):
        def hook(mod, args):
            target.append([type(mod).__name__.lower(), list(args[0].shape[1:]), None,
                           own(mod) if target is rows else sum(p.numel() for p in mod.parameters()), -flops(), ops()])
        return hook

    def post(target):
        def hook(mod, args, out):
            row = next(r for r in reversed(target) if r[2] is None)
            row[2], row[4] = list(_out(out).shape[1:]), row[4] + flops()
            before = row.pop()
            if target is rows and isinstance(mod, ATTENTION):
                core.append(sum(v - before.get(k, 0) for k, v in ops().items() if k in CORE_OPS))
        return hook

    for m in row_modules(model):
        hooks += [m.register_forward_pre_hook(pre(rows)), m.register_forward_hook(post(rows))]
    for m in model.modules():
        if isinstance(m, BLOCKS):
            hooks += [m.register_forward_pre_hook(pre(blocks)), m.register_forward_hook(post(blocks))]
    model.eval()
    try:
        with counter, torch.no_grad():
            out = model(x, **kwargs)
    finally:
        for h in hooks:
            h.remove()
    return out, flops(), ops(), rows, core, blocks


def example_input(name: str, seq: int, batch: int) -> torch.Tensor:
    vocab = MODELS[name][1]
    return torch.randn(batch, 3, 224, 224) if vocab is None else torch.randint(1, vocab, (batch, seq))


def loss_of(model: nn.Module):
    if isinstance(model, Bert):
        return lambda y: y.sum() + model.hidden.sum()
    return lambda y: y.sum()


def run(name: str, seq: int, batch: int) -> dict:
    build, vocab, documented = MODELS[name]
    torch.manual_seed(7)
    model = build()
    params = sum(p.numel() for p in model.parameters())
    assert params == documented, (name, params, documented)
    x = example_input(name, seq, batch)
    t0 = time.time()
    out, eval_flops, eval_ops, rows, core, blocks = eval_run(model, x)
    rec = {"example": name, "seq_len": seq, "batch": batch, "input": list(x.shape[1:]), "input_dtype": str(x.dtype)[6:],
           "params": params, "buffers": sum(b.numel() for b in model.buffers()),
           "buffers_bytes": sum(b.numel() * b.element_size() for b in model.buffers()),
           "eval_forward_flops": eval_flops, "eval_forward_ops": eval_ops,
           "attention_core_flops": core, "blocks": blocks, "rows": rows}
    torch.manual_seed(8)  # the dropout masks
    with attention_as_rows(model):
        rec.update(measure(model, x, loss_of(model), False, detail=False, leaves=True))
    assert rec["output_shape"] == list(out.shape[1:])
    assert sum(r[4] for r in rows) == eval_flops and sum(r[3] for r in rows) == params, name
    assert [r[:3] for r in rec["layers"]] == [r[:3] for r in rows], name
    assert rec["forward_flops"] == eval_flops, (name, rec["forward_flops"], eval_flops)
    print(name, seq, batch, f"{time.time() - t0:.1f} s", flush=True)
    return rec


def cache_bytes(cache: list) -> dict:
    """The cached k and v tensors' bytes, the bytes of the storages they keep alive, the k cache's shape."""
    storages, logical = {}, 0
    for layer in cache:
        for t in (layer["k"], layer["v"]):
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            logical += t.numel() * t.element_size()
    return {"cache_bytes": logical, "cache_storage_bytes": sum(storages.values()), "cache_k_shape": list(cache[0]["k"].shape)}


def kv_cache(name: str, decode_steps: list) -> dict:
    torch.manual_seed(7)
    model = MODELS[name][0]().eval()
    vocab = MODELS[name][1]
    blocks = model.h if name == "gpt2_small" else model.layers
    prefill, decode = [], []
    for seq, batch in ((16, 1), (64, 1), (16, 2)):
        ids = torch.randint(1, vocab, (batch, seq))
        cache = [{} for _ in blocks]
        _, flops, _, _, core, _ = eval_run(model, ids, cache=cache)
        prefill.append({"seq_len": seq, "batch": batch, "flops": flops, "attention_core_flops": sum(core),
                        **cache_bytes(cache)})
    torch.manual_seed(9)
    all_ids = torch.randint(1, vocab, (2, max(t for t, _ in decode_steps)))
    for t, batch in decode_steps:
        ids = all_ids[:batch]
        cache = [{} for _ in blocks]
        with torch.no_grad():
            model(ids[:, :t - 1], cache=cache)
            full = model(ids[:, :t])[:, -1]
        logits, flops, ops, _, core, _ = eval_run(model, ids[:, t - 1:t], cache=cache)
        diff = float((logits[:, -1] - full).abs().max())
        assert diff < 1e-3, (t, diff)
        decode.append({"context": t, "batch": batch, "flops": flops, "ops": ops, "attention_core_flops": sum(core),
                       **cache_bytes(cache), "max_abs_logit_diff_vs_full": diff})
    print(name, "kv cache done", flush=True)
    kv_heads, head_dim = (12, 64) if name == "gpt2_small" else (LLAMA_CONFIG["kv_heads"], LLAMA_CONFIG["head_dim"])
    return {"num_layers": len(blocks), "kv_heads": kv_heads, "head_dim": head_dim, "element_size": 4,
            "cache_bytes_formula": "2 * layers * batch * t * kv_heads * head_dim * element_size (k and v, every layer)",
            "prefill": prefill, "decode": decode}


def reference() -> list:
    """The eval forward FLOPs PyTorch's defaults read (fast path on, default sdpa kernel), T = 16, batch 1."""
    res = []
    for name in MODELS:
        torch.manual_seed(7)
        model = MODELS[name][0]().eval()
        x = example_input(name, 197 if name == "vit_b_16" else 16, 1)
        counter = FlopCounterMode(display=False)
        torch.backends.mha.set_fastpath_enabled(True)
        try:
            with counter, torch.no_grad():
                model(x)
        finally:
            torch.backends.mha.set_fastpath_enabled(False)
        res.append({"example": name, "seq_len": x.shape[1] if x.dim() == 2 else 197, "batch": 1,
                    "variant": "PyTorch's defaults: MHA fast path on, default sdpa kernel, oneDNN off",
                    "eval_forward_flops": int(counter.get_total_flops())})
    return res


def dump_all(data: dict) -> str:
    """dump() puts each measure() row on one line; the same here for rows, blocks, the per-op tables and shapes."""
    compact = {}

    def token(value):
        key = f"##{len(compact)}##"
        compact[key] = json.dumps(value, separators=(",", ":"))
        return key

    def mark(obj):
        if isinstance(obj, dict):
            for k in list(obj):
                if k in ("rows", "blocks"):
                    obj[k] = [token(r) for r in obj[k]]
                elif k in ("eval_forward_ops", "ops", "attention_core_flops", "cache_k_shape", "llama_config"):
                    obj[k] = token(obj[k])
                else:
                    mark(obj[k])
        elif isinstance(obj, list):
            for v in obj:
                mark(v)
    mark(data)
    text = dump(data)
    for key, value in compact.items():
        text = text.replace(f'"{key}"', value)
    return text


def main() -> None:
    torch.set_num_threads(2)
    only = sys.argv[1:]
    torch.backends.mha.set_fastpath_enabled(False)
    runs = []
    with torch.backends.mkldnn.flags(enabled=False):
        ref = reference() if not only else []
        with sdpa_kernel(SDPBackend.MATH):
            for name, seq, batch in PLAN:
                if not only or name in only:
                    runs.append(run(name, seq, batch))
            cache = {name: kv_cache(name, steps) for name, steps in DECODE.items() if not only or name in only}
    meta = {"torch": torch.__version__, "python": sys.version.split()[0],
            "how": "models from torch.nn after torchvision 0.28 / HuggingFace (tests/golden/transformer_models.py says "
                   "what differs); CPU float32; torch.backends.mkldnn.flags(enabled=False); math attention kernel forced: "
                   "torch.nn.attention.sdpa_kernel(SDPBackend.MATH); torch.backends.mha.set_fastpath_enabled(False) "
                   "(else the fused MHA/encoder-layer kernels read 0 FLOPs under no_grad); eval_forward_flops: eval(), "
                   "no_grad; the rest by make_backward_golden.measure: train(), x not requiring grad, loss = y.sum() "
                   "(BERT: pooled.sum() + last hidden state.sum()), backward FLOPs around loss.backward() only",
            "row_definition": "modules without children, and nn.MultiheadAttention as one row (in_proj + out_proj params)",
            "llama_config": LLAMA_CONFIG}
    data = {"meta": meta, "runs": runs, "kv_cache": cache, "reference": ref}
    OUT.write_text(dump_all(data))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
