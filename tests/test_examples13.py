"""The transformer examples of issue 13 against PyTorch (tests/golden/transformer_golden.json, written by
tests/golden/make_transformer_golden.py from the torch.nn models of tests/golden/transformer_models.py,
the math attention kernel forced): ViT-B/16, BERT-base, GPT-2 small and a small LLaMA.

Per example, sequence length and batch: parameters, buffers, 2 x forward MACs == FlopCounterMode's eval
forward, 2 x backward MACs == its count around loss.backward(), saved activation bytes and gradient bytes;
ViT and BERT row by row (type, output shape, own parameters, FLOPs), GPT-2 and LLaMA block by block (their
attention is several modules in PyTorch and one multiheadattention row here). Two stated differences are
asserted exactly: the LLaMA model's RoPE tables (buffers of the PyTorch model that no row here owns) and
GPT-2's saved bytes at batch 2 (HF's q/k/v layout, see examples/gpt2_small.yaml).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convcalc.layers.training import Training
from convcalc.network import evaluate

HERE = Path(__file__).parent
EXAMPLES = HERE.parent / "examples"
GOLDEN = json.loads((HERE / "golden" / "transformer_golden.json").read_text())
RUNS = GOLDEN["runs"]
JOINS = {"add", "multiply", "concat", "chunk", "split"}
#: the PyTorch model's RoPE cos and sin tables: 2 x 128 positions x 32 (head_dim), no row here
LLAMA_ROPE_BUFFERS = 2 * 128 * 32
#: BERT's three embedding modules are nn.Embedding in PyTorch, three layer types here
RENAME = {"positionembedding": "embedding", "tokentypeembedding": "embedding"}


def _id(n):
    return f"{n['example']}-T{n['seq_len']}-b{n['batch']}"


def _report(n):
    shape = None if n["example"] == "vit_b_16" else str(n["seq_len"])
    return evaluate(EXAMPLES / f"{n['example']}.yaml", input_shape=shape, batch=n["batch"],
                    training=Training(input_grad=False))


def test_every_example_has_a_golden():
    assert {n["example"] for n in RUNS} == {"vit_b_16", "bert_base", "gpt2_small", "llama_small"}
    assert all((EXAMPLES / f"{n['example']}.yaml").is_file() for n in RUNS)


@pytest.mark.parametrize("n", RUNS, ids=_id)
def test_totals_against_pytorch(n):
    r = _report(n)
    t = r.total
    assert t["params"] == n["params"]
    assert t["buffers"] == n["buffers"] - (LLAMA_ROPE_BUFFERS if n["example"] == "llama_small" else 0)
    assert list(r.output_shape) == n["output_shape"] or n["example"] == "bert_base"  # BERT returns two tensors
    assert 2 * t["macs"] == n["eval_forward_flops"] == n["forward_flops"]
    assert 2 * t["backward"]["total"]["macs"] == n["backward_flops"]
    assert t["grad_bytes"] == n["grad_bytes"]
    extra = 0
    if n["example"] == "gpt2_small" and n["batch"] > 1:
        extra = 12 * 2 * n["batch"] * n["seq_len"] * 768 * 4  # a copy of k, not a view of the fused q/k/v
    assert t["saved_bytes"] == n["saved_activation_bytes"] + extra


def _leaves(report):
    return [r for r in report.rows if not r["block"] and r["type"] not in JOINS]


@pytest.mark.parametrize("n", [n for n in RUNS if n["example"] in ("vit_b_16", "bert_base")], ids=_id)
def test_every_row_against_the_leaf_modules(n):
    rename = RENAME if n["example"] == "bert_base" else {}
    ours = [(rename.get(r["type"], r["type"]), list(r["output_shape"]), r["params"], 2 * r["macs"]) for r in _leaves(_report(n))]
    theirs = [(row[0], row[2], row[3], row[4]) for row in n["rows"]]
    assert ours == theirs


@pytest.mark.parametrize("n", [n for n in RUNS if n["example"] in ("gpt2_small", "llama_small")], ids=_id)
def test_every_block_against_pytorch(n):
    """Each decoder block (a repeated sequential here) against the PyTorch block: parameters and FLOPs;
    the rows outside the blocks (embeddings, final norm, head) add up to the rest."""
    r = _report(n)
    name = "h" if n["example"] == "gpt2_small" else "layers"
    blocks = [row for row in r.rows if row["block"] and row["name"] == name and "." not in row["path"]]
    assert [(row["params"], 2 * row["macs"], list(row["output_shape"])) for row in blocks] == \
        [(b[3], b[4], b[2]) for b in n["blocks"]]
    assert sum(2 * row["macs"] for row in _leaves(r)) == n["eval_forward_flops"]


def test_gpt2_parameters_with_and_without_the_tie():
    r = evaluate(EXAMPLES / "gpt2_small.yaml")
    assert r.total["params"] == 124_439_808
    head = [row for row in r.rows if row["name"] == "lm_head"][0]
    assert head["params"] == 0 and head["tied_to"] == "wte"
