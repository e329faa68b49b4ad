"""The PyTorch recording of issue 13's transformer examples (tests/golden/transformer_golden.json, written by
tests/golden/make_transformer_golden.py from tests/golden/transformer_models.py) checked against itself and
against hand derivations, before any convcalc transformer layer exists: documented parameter counts, per-row
FLOPs summing to the totals, every matmul row's FLOPs from its shapes, attention's T^2 term, the backward's
two matmuls per forward matmul, the KV cache's bytes 2 * L * b * t * d * 4 and decode FLOPs linear in t.
"""

from __future__ import annotations

import json
from math import prod
from pathlib import Path

import pytest

GOLDEN = json.loads((Path(__file__).parent / "golden" / "transformer_golden.json").read_text())
RUNS = GOLDEN["runs"]
CACHE = GOLDEN["kv_cache"]
SEQUENCE_MODELS = ("bert_base", "gpt2_small", "llama_small")

# d_model, layers, heads, head_dim, kv heads, FFN width
CONFIG = {"vit_b_16": (768, 12, 12, 64, 12, 3072), "bert_base": (768, 12, 12, 64, 12, 3072),
          "gpt2_small": (768, 12, 12, 64, 12, 3072), "llama_small": (256, 4, 8, 32, 2, 688)}


def _id(run):
    return f"{run['example']}-T{run['seq_len']}-b{run['batch']}"


def _layer_norm(d):
    return 2 * d


def _linear(i, o, bias=True):
    return i * o + (o if bias else 0)


def hand_params(example: str) -> int:
    """Each model's parameters from its definition, by hand."""
    d, n_layers, _, _, _, ffn = CONFIG[example]
    encoder_layer = (2 * _layer_norm(d) + (3 * d * d + 3 * d) + _linear(d, d)   # norms, in_proj, out_proj
                     + _linear(d, ffn) + _linear(ffn, d))
    if example == "vit_b_16":
        patches = (224 // 16) ** 2
        return (3 * 16 * 16 * d + d) + d + (patches + 1) * d + n_layers * encoder_layer + _layer_norm(d) + _linear(d, 1000)
    if example == "bert_base":
        embeddings = (30522 + 512 + 2) * d + _layer_norm(d)
        return embeddings + n_layers * encoder_layer + _linear(d, d)  # + the pooler
    if example == "gpt2_small":
        return (50257 + 1024) * d + n_layers * encoder_layer + _layer_norm(d)  # lm_head is wte: counted once
    # llama_small: tok_embeddings, per layer wq, wk, wv, wo (no bias), w1, w3, w2, two RMSNorm weights; norm, output
    kv = 2 * 32
    block = d * d + 2 * d * kv + d * d + 3 * d * ffn + 2 * d
    return 1000 * d + n_layers * block + d + 1000 * d


def test_the_plan():
    assert {r["example"] for r in RUNS} == set(CONFIG)
    for name in SEQUENCE_MODELS:
        runs = [r for r in RUNS if r["example"] == name]
        assert len({r["seq_len"] for r in runs}) >= 2 and any(r["batch"] == 2 for r in runs)
    meta = GOLDEN["meta"]["how"]
    assert "SDPBackend.MATH" in meta and "mkldnn.flags(enabled=False)" in meta and "set_fastpath_enabled(False)" in meta


@pytest.mark.parametrize("example, documented", [("vit_b_16", 86_567_656), ("bert_base", 109_482_240),
                                                 ("gpt2_small", 124_439_808), ("llama_small", 3_283_200)])
def test_documented_parameter_counts(example, documented):
    """torchvision's num_params for ViT-B/16, HF's counts for bert-base-uncased (with the pooler) and gpt2 (tied)."""
    assert hand_params(example) == documented
    assert {r["params"] for r in RUNS if r["example"] == example} == {documented}


@pytest.mark.parametrize("run", RUNS, ids=_id)
def test_rows_add_up(run):
    rows = run["rows"]
    assert sum(r[4] for r in rows) == run["eval_forward_flops"] == sum(run["eval_forward_ops"].values())
    assert sum(r[3] for r in rows) == run["params"]
    assert run["forward_flops"] == run["eval_forward_flops"]
    assert [r[:3] for r in run["layers"]] == [r[:3] for r in rows]  # the train-mode rows ran the same
    assert rows[-1][2] == run["output_shape"]
    assert len(run["blocks"]) == len(run["attention_core_flops"]) == CONFIG[run["example"]][1]


@pytest.mark.parametrize("run", RUNS, ids=_id)
def test_blocks_by_hand(run):
    """One encoder/decoder block: its parameters, and 2 x (T x its matmul weights) + 4 T^2 x heads x head_dim."""
    d, n_layers, heads, head_dim, kv_heads, ffn = CONFIG[run["example"]]
    t, b = run["seq_len"], run["batch"]
    if run["example"] == "llama_small":
        weights = d * heads * head_dim + 2 * d * kv_heads * head_dim + heads * head_dim * d + 3 * d * ffn
        params = weights + 2 * d
    else:
        weights = 4 * d * d + 2 * d * ffn
        params = weights + 3 * d + d + ffn + d + 2 * _layer_norm(d)
    kinds = {"vit_b_16": "encoderblock", "bert_base": "transformerencoderlayer", "gpt2_small": "gpt2block",
             "llama_small": "llamablock"}
    flops = 2 * b * t * weights + 4 * b * heads * t * t * head_dim
    assert run["blocks"] == [[kinds[run["example"]], [t, d], [t, d], params, flops]] * n_layers


def _expected_row_flops(row, batch):
    """FLOPs of one row from its shapes (FlopCounterMode: 2 per multiply-accumulate of a matmul, 0 otherwise)."""
    kind, shape_in, shape_out, params, _ = row
    if kind == "linear":
        return 2 * batch * prod(shape_in) * shape_out[-1]
    if kind == "conv2d":
        return 2 * batch * prod(shape_out) * shape_in[0] * 16 * 16
    if kind == "multiheadattention":
        t, e = shape_in
        return 2 * batch * t * e * 3 * e + 2 * batch * t * e * e + 4 * batch * t * t * e
    if kind == "scaleddotproductattention":
        t, heads, head_dim = shape_in
        return 4 * batch * heads * t * t * head_dim
    return 0


@pytest.mark.parametrize("run", RUNS, ids=_id)
def test_every_row_from_its_shapes(run):
    b = run["batch"]
    for i, row in enumerate(run["rows"]):
        assert row[4] == _expected_row_flops(row, b), (i, row)


@pytest.mark.parametrize("run", RUNS, ids=_id)
def test_attention_core_is_quadratic_in_t(run):
    """q k^T and the weighted sum of v: 2 * T * T * hd per head each, all T x T pairs even when causal."""
    d, _, heads, head_dim, _, _ = CONFIG[run["example"]]
    t, b = run["seq_len"], run["batch"]
    assert run["attention_core_flops"] == [4 * b * heads * t * t * head_dim] * len(run["attention_core_flops"])
    assert run["eval_forward_ops"]["aten.bmm"] == sum(run["attention_core_flops"])


@pytest.mark.parametrize("run", RUNS, ids=_id)
def test_backward_is_two_matmuls_per_forward_matmul(run):
    """x does not require grad: the first layer computes no input gradient (ViT's conv_proj: dL/dW only;
    the embeddings: no FLOPs); every other matmul's backward is two matmuls of its size."""
    first = run["rows"][0][4] if run["rows"][0][0] == "conv2d" else 0
    assert run["backward_flops"] == 2 * run["forward_flops"] - first
    assert run["grad_bytes"] == 4 * run["params"]


def test_buffers():
    by = {r["example"]: (r["buffers"], r["buffers_bytes"]) for r in RUNS}
    assert by == {"vit_b_16": (0, 0), "gpt2_small": (0, 0), "bert_base": (2 * 512, 2 * 512 * 8),
                  "llama_small": (2 * 128 * 32, 2 * 128 * 32 * 4)}


def test_pytorchs_default_kernels_read_lower():
    """The reason for the forced math kernel and the fast path off: PyTorch's defaults under no_grad read less."""
    math_kernel = {(r["example"], r["seq_len"]): r["eval_forward_flops"] for r in RUNS if r["batch"] == 1}
    for ref in GOLDEN["reference"]:
        assert ref["eval_forward_flops"] < math_kernel[ref["example"], ref["seq_len"]]


def _gpt2_matmul_weights():
    """Multiply-accumulates per token outside attention: c_attn, c_proj, c_fc, mlp c_proj, lm_head."""
    d, n_layers, _, _, _, ffn = CONFIG["gpt2_small"]
    return n_layers * (d * 3 * d + d * d + 2 * d * ffn) + d * 50257


@pytest.mark.parametrize("run", [r for r in RUNS if r["example"] in ("gpt2_small", "llama_small")], ids=_id)
def test_decoder_forward_closed_form(run):
    """2 x tokens x matmul weights + layers x 4 T^2 heads head_dim (the causal mask computes all T x T)."""
    _, n_layers, heads, head_dim, _, _ = CONFIG[run["example"]]
    t, b = run["seq_len"], run["batch"]
    assert run["eval_forward_flops"] == b * (2 * t * _matmul_weights(run["example"])
                                             + n_layers * 4 * t * t * heads * head_dim)


def _matmul_weights(example):
    """Multiply-accumulates per token outside the attention core (every linear layer, the output layer included)."""
    if example == "gpt2_small":
        return _gpt2_matmul_weights()
    d, n_layers, heads, head_dim, kv_heads, ffn = CONFIG[example]
    return n_layers * (2 * d * heads * head_dim + 2 * d * kv_heads * head_dim + 3 * d * ffn) + d * 1000


@pytest.mark.parametrize("example", ["gpt2_small", "llama_small"])
def test_kv_cache_bytes(example):
    """2 (k and v) * layers * batch * t * kv_heads * head_dim * 4 bytes, as the recorded tensors hold."""
    cache = CACHE[example]
    _, n_layers, _, head_dim, kv_heads, _ = CONFIG[example]
    assert (cache["num_layers"], cache["kv_heads"], cache["head_dim"], cache["element_size"]) == \
        (n_layers, kv_heads, head_dim, 4)
    for step in cache["prefill"] + cache["decode"]:
        t = step.get("context", step.get("seq_len"))
        assert step["cache_bytes"] == 2 * n_layers * step["batch"] * t * kv_heads * head_dim * 4
        assert step["cache_k_shape"] == [step["batch"], kv_heads, t, head_dim]
    assert CACHE["gpt2_small"]["prefill"][0]["cache_bytes"] == 2 * 12 * 16 * 768 * 4  # 1.5 MB for 16 tokens


def test_prefill_cache_keeps_the_fused_qkv_storage():
    """After GPT-2's prefill the cached k and v are views of c_attn's (T, 3d) output: the storage kept alive is
    3/2 of the cache's bytes (q's third too); after a decode step torch.cat made them compact. LLaMA's keys
    are RoPE's fresh output and its values a view of wv's own output: compact."""
    for step in CACHE["gpt2_small"]["prefill"]:
        assert 2 * step["cache_storage_bytes"] == 3 * step["cache_bytes"]
    for step in CACHE["gpt2_small"]["decode"] + CACHE["llama_small"]["prefill"] + CACHE["llama_small"]["decode"]:
        assert step["cache_storage_bytes"] == step["cache_bytes"]


@pytest.mark.parametrize("example", ["gpt2_small", "llama_small"])
def test_prefill_is_the_forward(example):
    forward = {(r["seq_len"], r["batch"]): r["eval_forward_flops"] for r in RUNS if r["example"] == example}
    for step in CACHE[example]["prefill"]:
        assert step["flops"] == forward[step["seq_len"], step["batch"]]


@pytest.mark.parametrize("example", ["gpt2_small", "llama_small"])
def test_decode_is_linear_in_t(example):
    """One new token at context t: the same matmuls per token as any position, plus q.k and a.v over t keys
    (every query head: GQA repeats k and v, it does not save these FLOPs): slope layers * 4 * heads * head_dim
    per key (checked by differences), intercept 2 x the per-token matmul weights."""
    _, n_layers, heads, head_dim, _, _ = CONFIG[example]
    decode = CACHE[example]["decode"]
    for b in (1, 2):
        steps = {s["context"]: s for s in decode if s["batch"] == b}
        ts = sorted(steps)
        assert len(ts) >= 2
        slope = (steps[ts[1]]["flops"] - steps[ts[0]]["flops"]) // (ts[1] - ts[0])
        assert slope == n_layers * 4 * heads * head_dim * b
        for t0, t1 in zip(ts, ts[1:]):
            assert steps[t1]["flops"] - steps[t0]["flops"] == slope * (t1 - t0)
        for t, s in steps.items():
            assert s["flops"] - slope * t == 2 * b * _matmul_weights(example)
            assert s["attention_core_flops"] == slope * t
            assert s["max_abs_logit_diff_vs_full"] < 1e-3
    assert {s["context"] for s in decode} >= {16, 17, 64, 65}
    assert max(s["context"] for s in decode) == {"gpt2_small": 1024, "llama_small": 128}[example]


@pytest.mark.parametrize("run", RUNS, ids=_id)
def test_saved_bytes_are_the_rows_plus_the_ops_between_them(run):
    """Each saved storage counted once, at the first row that saved it, plus what ops between rows saved:
    residual adds and embedding sums save nothing, the SwiGLU product saves both factors (b x T x ffn each)."""
    rows = sum(e[0] for i, row in enumerate(run["layers"]) for e in row[3]
               if e[3] == i and e[2] in ("input", "other"))
    assert rows + run["unattributed_bytes"] == run["saved_activation_bytes"]
    _, n_layers, _, _, _, ffn = CONFIG[run["example"]]
    swiglu = n_layers * 2 * run["batch"] * run["seq_len"] * ffn * 4 if run["example"] == "llama_small" else 0
    assert run["unattributed_bytes"] == swiglu
    assert run["saved_by_kind_dtype"].get("input", {}).get("int64", 0) in (0, 8 * run["batch"] * run["seq_len"])


@pytest.mark.parametrize("run", [r for r in RUNS if r["example"] in ("gpt2_small", "llama_small")], ids=_id)
def test_training_is_6n_plus_the_attention_term(run):
    """forward + backward = 6 x (matmul weights, the output layer included) x tokens, plus 3 x the attention
    core's 4 T^2 heads head_dim per layer that the 6N rule leaves out."""
    _, n_layers, heads, head_dim, _, _ = CONFIG[run["example"]]
    t, b = run["seq_len"], run["batch"]
    six_n = 6 * b * t * _matmul_weights(run["example"])
    assert run["forward_flops"] + run["backward_flops"] - six_n == 3 * n_layers * 4 * b * t * t * heads * head_dim
