"""multiheadattention (issue 13): PyTorch's record, refusals, the command line, symbolic sizes.

PyTorch's record: tests/golden/attention_backward_golden.json (make_attention_golden.py: torch
2.13.0 CPU, oneDNN off, the math attention kernel forced; shapes, parameters, refusals,
FlopCounterMode forward and backward, saved bytes by storage). The counts by enumeration
(attention pairs of causal and windowed masks, a tallied pure-Python forward, closed forms in T)
are in tests/test_attention_counting.py.
"""


import pytest
import sympy as sp

from convcalc import LAYERS, ConvcalcError
from _family_golden import (assert_cli_one_line, assert_matches_golden, assert_numeric_queries_skip_sympy, assert_refused,
                           case_id, cases)
from convcalc.expr import parse_shape
from convcalc.layers.training import Training
from convcalc.sizes import substitute

CASES = cases("attention")
MHA = LAYERS["multiheadattention"]


# -- PyTorch's record ---------------------------------------------------------------------------


def test_golden_covers_every_path():
    kws = [c["kwargs"] for c in CASES if not c["refused"]]
    assert any("kv_len" in k for k in kws) and any(k.get("causal") for k in kws) and any(k.get("window") for k in kws)
    assert any(k.get("kv_heads", k["num_heads"]) != k["num_heads"] for k in kws)
    assert any(k.get("add_bias_kv") for k in kws) and any(k.get("add_zero_attn") for k in kws)
    assert any(k.get("kdim") not in (None,) for k in kws) and any(k.get("bias") is False for k in kws)
    assert any(k.get("dropout") for k in kws) and any(k.get("need_weights") for k in kws)
    assert any(c.get("is_causal") for c in CASES)  # PyTorch's is_causal hint: the same counts
    assert {c["batch"] for c in CASES} == {1, 2, 3}
    refused = [c for c in CASES if c["refused"]]
    assert any("divisible" in c["reason"] for c in refused) and any("must divide" in c["reason"] for c in refused)


@pytest.mark.parametrize("case", [c for c in CASES if c["refused"]], ids=case_id)
def test_refused_as_pytorch_refuses(case):
    assert_refused(case)


@pytest.mark.parametrize("case", [c for c in CASES if not c["refused"]], ids=case_id)
def test_matches_pytorch(case):
    layer, _ = assert_matches_golden(case, gradients=True)
    assert {k: list(v) for k, v in layer.params().items()} == case["params"]
    assert case["buffers"] == {}


def test_masks_change_no_matrix_product_but_add_one_add_per_score():
    """The framework computes every score of a causal or windowed mask: the same MACs, and one
    add per score (the float mask), h*T*T of them for self-attention."""
    plain = MHA.build((6, 8), {"num_heads": 2}).report((6, 8))
    for opts in ({"causal": True}, {"window": 2}, {"causal": True, "window": 3}):
        masked = MHA.build((6, 8), {"num_heads": 2, **opts}).report((6, 8))
        assert masked.macs == plain.macs and masked.mults == plain.mults
        assert masked.adds - plain.adds == 2 * 6 * 6
        assert masked.work["computed"]["macs"] == plain.macs
        assert masked.work["effective"]["macs"] < plain.macs
    assert plain.work is None and plain.effective_mults is None


def test_need_weights_scales_q_only_and_averages_the_heads():
    """PyTorch's need_weights=True path: q alone scaled (k's h*S*d mults saved), a plain softmax
    (no -inf test), the weights averaged over h heads (h - 1 adds and a division per pair)."""
    T, E, h = 5, 8, 4
    a = MHA.build((T, E), {"num_heads": h}).report((T, E))
    b = MHA.build((T, E), {"num_heads": h, "need_weights": True}).report((T, E))
    assert b.macs == a.macs and b.transcendentals == a.transcendentals
    assert a.mults - b.mults == h * T * (E // h) - T * T
    assert b.adds - a.adds == T * T * (h - 1)
    assert a.comparisons == h * T * T and b.comparisons == 0


def test_window_implies_causal_pairs():
    """--window alone is the causal sliding window: the same effective pairs with or without --causal."""
    a = MHA.build((9, 4), {"num_heads": 1, "window": 3}).report((9, 4))
    b = MHA.build((9, 4), {"num_heads": 1, "window": 3, "causal": True}).report((9, 4))
    assert a.work == b.work and a.effective_mults == b.effective_mults


def test_grouped_query_parameters_and_kv_heads_equal_to_heads_is_plain_mha():
    gqa = MHA.build((5, 64), {"num_heads": 8, "kv_heads": 2})
    assert gqa.params() == {"q_proj_weight": (64, 64), "k_proj_weight": (16, 64), "v_proj_weight": (16, 64),
                            "in_proj_bias": (96,), "out_proj.weight": (64, 64), "out_proj.bias": (64,)}
    assert MHA.build((5, 64), {"num_heads": 8, "kv_heads": 8}).params() == MHA.build((5, 64), {"num_heads": 8}).params()
    mqa = MHA.build((5, 64), {"num_heads": 8, "kv_heads": 1}).report((5, 64))
    assert mqa.params == 64 * 64 * 2 + 2 * 8 * 64 + 64 + 16 + 64


def test_dropout_is_the_identity_forward_and_training_mode_backward():
    a = MHA.build((4, 8), {"num_heads": 2}).report((4, 8), batch=2, training=Training())
    b = MHA.build((4, 8), {"num_heads": 2, "dropout": 0.1}).report((4, 8), batch=2, training=Training())
    assert a.flops == b.flops
    scores = 2 * 2 * 4 * 4  # batch * heads * T * S
    assert b.backward["total"]["mults"] - a.backward["total"]["mults"] == scores
    assert b.saved_bytes - a.saved_bytes == 2 * scores * 4  # the mask and the dropped weights


# -- symbolic sizes -------------------------------------------------------------------------------

SYMBOLIC = [
    ("T,E", {"num_heads": 4}, {"T": 7, "E": 16}),
    ("T,E", {"num_heads": 4, "causal": True}, {"T": 7, "E": 16}),
    ("T,E", {"num_heads": 2, "window": 3}, {"T": 9, "E": 8}),
    ("T,E", {"num_heads": 4, "kv_heads": 2, "causal": True}, {"T": 5, "E": 8}),
    ("T,E", {"num_heads": 2, "kv_len": "S", "add_bias_kv": True, "add_zero_attn": True}, {"T": 3, "E": 4, "S": 5}),
    ("T,E", {"num_heads": "h", "kdim": "K", "vdim": "V", "kv_len": "S"}, {"T": 3, "E": 6, "h": 3, "K": 2, "V": 5, "S": 4}),
    ("T,512", {"num_heads": 8, "causal": True}, {"T": 11}),
    ("T,E", {"num_heads": 2, "need_weights": True, "dropout": 0.1, "causal": True, "kv_len": "S"}, {"T": 4, "E": 6, "S": 9}),
    ("T,E", {"num_heads": 2, "kdim": "K", "vdim": "K", "kv_len": "S"}, {"T": 4, "E": 6, "S": 3, "K": 5}),
]


@pytest.mark.parametrize("shape,options,values", SYMBOLIC, ids=[str(o) for _, o, _ in SYMBOLIC])
def test_symbolic_equals_numeric_substituted(shape, options, values):
    sym_shape = parse_shape(shape)
    sym = MHA.build(sym_shape, options).report(sym_shape, batch=sp.Symbol("B", positive=True, integer=True),
                                               training=Training())
    num_shape = tuple(substitute(v, values) for v in sym_shape)
    num_opts = {k: (values[v] if isinstance(v, str) and v in values else v) for k, v in options.items()}
    num = MHA.build(num_shape, num_opts).report(num_shape, batch=3, training=Training())
    values = {**values, "B": 3}
    for key in ("params", "mults", "adds", "comparisons", "macs", "flops", "transcendentals", "saved_bytes", "training_flops"):
        assert substitute(getattr(sym, key), values) == getattr(num, key), key
    if num.work:
        for row, counts in num.work.items():
            for key, v in counts.items():
                assert substitute(sym.work[row][key], values) == v, (row, key)


def test_symbolic_sequence_length_is_a_closed_form_in_T():
    T = sp.Symbol("T", positive=True, integer=True)
    r = MHA.build((T, 512), {"num_heads": 8, "causal": True}).report((T, 512))
    assert sp.Poly(sp.expand(r.macs), T).degree() == 2
    assert sp.expand(r.macs - (4 * T * 512 * 512 + 2 * T * T * 512)) == 0
    assert r.sequential_steps == 1


# -- bad input -------------------------------------------------------------------------------------

BAD = [
    ({"num_heads": 4}, (3, 6), "divisible"),
    ({"num_heads": 0}, (3, 6), "num_heads"),
    ({"num_heads": 4, "kv_heads": 3}, (3, 8), "kv_heads"),
    ({"num_heads": 2, "kv_heads": 1, "add_bias_kv": True}, (3, 8), "add_bias_kv"),
    ({"num_heads": 2, "window": 0}, (3, 8), "window"),
    ({"num_heads": 2, "dropout": 1.5}, (3, 8), "dropout"),
    ({"num_heads": 2, "kv_len": "0"}, (3, 8), "kv_len"),
    ({"num_heads": 4, "kv_heads": 2, "need_weights": True}, (3, 8), "need_weights"),
]


@pytest.mark.parametrize("options,shape,match", BAD, ids=[m for _, _, m in BAD])
def test_bad_options_are_one_error(options, shape, match):
    with pytest.raises(ConvcalcError, match=match):
        MHA.build(shape, options).report(shape)


def test_bad_input_shape_is_one_error():
    layer = MHA.build((3, 8), {"num_heads": 2})
    with pytest.raises(ConvcalcError, match="entries"):
        layer.report((2, 3, 8))
    with pytest.raises(ConvcalcError, match="embed_dim"):
        layer.report((3, 6))


CLI_BAD = [
    (["multiheadattention", "--input", "5,6", "--num-heads", "4"], "convcalc multiheadattention: --num-heads:"),
    (["multiheadattention", "--input", "5,8", "--num-heads", "4", "--kv-heads", "3"], "convcalc multiheadattention: --kv-heads:"),
    (["multiheadattention", "--input", "5,8", "--num-heads", "2", "--window", "0"], "convcalc multiheadattention: --window:"),
    (["multiheadattention", "--input", "5,3,8", "--num-heads", "2"], "convcalc multiheadattention: --input:"),
    (["multiheadattention", "--input", "5,8", "--num-heads", "2", "--kv-len", "__import__('os')"], "convcalc multiheadattention: --kv-len:"),
]


@pytest.mark.parametrize("args,prefix", CLI_BAD, ids=[a[-1] for a, _ in CLI_BAD])
def test_cli_bad_input_is_one_line_exit_2(args, prefix):
    assert_cli_one_line(args, prefix)


def test_numeric_queries_never_import_sympy():
    assert_numeric_queries_skip_sympy([["multiheadattention", "--input", "16,32", *o] for o in [
        ["--num-heads", "4"], ["--num-heads", "4", "--causal"], ["--num-heads", "4", "--window", "3"],
        ["--num-heads", "4", "--kv-heads", "2", "--kv-len", "9"], ["--num-heads", "2", "--kdim", "5", "--vdim", "7"],
        ["--num-heads", "4", "--add-bias-kv", "--add-zero-attn", "--dropout", "0.1"]]])


def test_formula_sheet_and_derivation_name_T_and_E(capsys):
    """--explain without --input is the formula sheet over T,E (it once asked for C,H,W and failed)."""
    from convcalc.cli import main

    assert main(["multiheadattention", "--num-heads", "4", "--explain", "-f", "json"]) == 0
    out = capsys.readouterr().out
    assert '{"quantity": "input_shape", "formula": ["T", "E"]}' in out
    assert '{"quantity": "macs", "formula": "2*E*T*(2*E + T)"}' in out  # four E x E projections, two T x T x E products
    assert main(["multiheadattention", "--input", "16,32", "--num-heads", "4", "--causal", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "sequence length" in out and "embedding size" in out and "2*E*T*(2*E + T)" in out
