"""`convcalc transformer`: the stack presets (convcalc/data/transformers.json) built as networks and their
Transformer section, against PyTorch's recording of GPT-2 small and the small LLaMA
(tests/golden/transformer_golden.json: forward FLOPs, decode FLOPs with a KV cache at each context
length, the cache's bytes), hand-derived closed forms in T (SymPy), and brute force over the tokens of a
generation; bad input one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sympy as sp

from _family_golden import assert_cli_one_line
from convcalc import Network
from convcalc.cli_queries import transformer_query
from convcalc.expr import parse_expr
from convcalc.network.stacks import Stack, _evaluate, summary, to_yaml
from convcalc.sizes import substitute

GOLDEN = json.loads((Path(__file__).parent / "golden" / "transformer_golden.json").read_text())
LLAMA = {"d_model": 256, "heads": 8, "kv_heads": 2, "layers": 4, "ffn": 688, "vocab": 1000, "positions": 128, "norm_eps": 1e-5}
STACKS = {"gpt2_small": Stack.preset("gpt2"), "llama_small": Stack.preset("llama", **LLAMA)}
#: every preset at the size of a recorded model: the forward and the parameters must be PyTorch's
PRESETS = {**STACKS, "bert_base": Stack.preset("bert"), "vit_b_16": Stack.preset("vit")}


def _summary(stack, T):
    return {key: value for key, _, value, _ in summary(stack, T)}


def test_gpt2_small_parameters_tied_once():
    assert _summary(STACKS["gpt2_small"], 16)["params"] == 124_439_808


def test_llama_presets_parameters():
    """LLaMA-7B's published 6,738,415,616; the small model of the golden 3,283,200."""
    assert _summary(Stack.preset("llama"), 16)["params"] == 6_738_415_616
    assert _summary(STACKS["llama_small"], 16)["params"] == 3_283_200


@pytest.mark.parametrize("run", GOLDEN["runs"], ids=lambda r: f"{r['example']}-T{r['seq_len']}-b{r['batch']}")
def test_forward_against_pytorch(run):
    report = _evaluate(PRESETS[run["example"]], run["seq_len"], batch=run["batch"])
    assert report.total["params"] == run["params"]
    rope = 2 * 128 * 32 if run["example"] == "llama_small" else 0  # the PyTorch model's cos and sin tables
    assert report.total["buffers"] == run["buffers"] - rope
    assert 2 * report.total["macs"] == run["eval_forward_flops"]


@pytest.mark.parametrize("example", list(STACKS))
def test_decode_and_cache_against_pytorch(example):
    """One new token at context t (t - 1 cached): 2 x decode MACs == FlopCounterMode's, and the cache of t tokens."""
    record = GOLDEN["kv_cache"][example]
    for d in record["decode"]:
        if d["batch"] != 1:
            continue
        s = _summary(STACKS[example], d["context"])
        assert 2 * s["decode_macs"] == d["flops"], d["context"]
        assert s["kv_cache_bytes"] == d["cache_bytes"]
    for p in record["prefill"]:
        if p["batch"] == 1:
            s = _summary(STACKS[example], p["seq_len"])
            assert 2 * s["prefill_macs"] == p["flops"] and s["kv_cache_bytes"] == p["cache_bytes"]


def test_generation_sums_by_brute_force():
    """Generating T tokens: with the cache, the sum of each step's decode; without, each step reruns the prefix."""
    stack = STACKS["gpt2_small"]
    T = 6
    s = _summary(stack, T)
    cached = sum(_evaluate(stack, 1, past=t).total["macs"] for t in range(T))
    uncached = sum(_evaluate(stack, t).total["macs"] for t in range(1, T + 1))
    assert s["generate_macs_cached"] == cached
    assert s["generate_macs_uncached"] == uncached


def test_gpt2_closed_forms_in_T_by_hand():
    """Per token: L(4d^2 + 2 d f) projections and MLP, d V the tied head; per layer 2 d T^2 attention
    (the framework computes all T x T scores and their weighted sum); 6N with N the non-embedding params."""
    L, d, f, V = 12, 768, 3072, 50257
    T = sp.Symbol("T", positive=True, integer=True)
    s = _summary(STACKS["gpt2_small"], parse_expr("T"))
    macs = T * (L * (4 * d * d + 2 * d * f) + d * V) + L * 2 * d * T**2
    assert sp.expand(sp.sympify(str(s["forward_macs"])).subs("T", T) - macs) == 0
    n = L * (4 * d * d + 4 * d + 2 * d * f + f + d + 4 * d) + 2 * d
    assert s["non_embedding_params"] == n and s["six_n"] == 6 * n
    decode = (L * (4 * d * d + 2 * d * f) + d * V) + L * 2 * d * T
    assert sp.expand(sp.sympify(str(s["decode_macs"])).subs("T", T) - decode) == 0
    assert substitute(s["kv_cache_bytes"], {"T": 1024}) == 2 * L * 1024 * d * 4


def test_print_yaml_is_the_network_the_command_counts():
    text = to_yaml(STACKS["gpt2_small"].network(32))
    net = Network.from_yaml(text, label="printed").report()
    report, *_ = transformer_query({"arch": "gpt2", "seq_len": "32", "format": None, "batch": "1", "dtype": "float32"})
    assert net.total["macs"] == report.total["macs"] and net.total["params"] == report.total["params"]


def test_print_yaml_writes_a_network_file(tmp_path):
    """--print-yaml -o FILE.yaml writes the network file (whatever its extension), which `net` reads back."""
    from convcalc.cli import main

    out = tmp_path / "gpt2.yaml"
    assert main(["transformer", "--arch", "gpt2", "--seq-len", "16", "--print-yaml", "-o", str(out)]) == 0
    assert Network.from_yaml(out).report().total["params"] == 124_439_808


def test_an_image_the_patch_does_not_divide():
    """ViT at 230x230 with 16x16 patches: the convolution's floor(230/16) = 14 positions a side, 197 tokens
    (this was an internal error: the patch count was divided exactly)."""
    report, *_ = transformer_query({"arch": "vit", "image_size": "230", "format": None, "batch": "1", "dtype": "float32"})
    at_224, *_ = transformer_query({"arch": "vit", "format": None, "batch": "1", "dtype": "float32"})
    assert report.total["macs"] == at_224.total["macs"]
    assert dict((k, v) for k, _, v, _ in report.summary)["forward_macs"] == at_224.total["macs"]


@pytest.mark.parametrize("args,prefix", [
    (["transformer", "--arch", "gpt5", "--seq-len", "8"], "convcalc transformer: --arch:"),
    (["transformer", "--arch", "gpt2"], "convcalc transformer: --seq-len:"),
    (["transformer", "--arch", "gpt2", "--seq-len", "8", "--heads", "5"], "convcalc transformer:"),
    (["transformer", "--arch", "llama", "--seq-len", "8", "--kv-heads", "5"], "convcalc transformer:"),
    (["transformer", "--arch", "gpt2", "--seq-len", "0"], "convcalc transformer: --seq-len:"),
    (["transformer", "--arch", "gpt2", "--seq-len", "2000"], "convcalc transformer:"),
])
def test_bad_input_one_line(args, prefix):
    assert_cli_one_line(args, prefix)
