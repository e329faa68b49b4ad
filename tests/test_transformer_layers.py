"""transformerencoderlayer, transformerdecoderlayer, transformerencoder (issue 13): PyTorch's record,
closed forms in T derived by hand, the expansion written out as a network, symbolic == numeric,
refusals and the command line.

PyTorch's record: tests/golden/transformer_layers_backward_golden.json (make_transformer_layers_golden.py:
torch 2.13.0 CPU, oneDNN off, the math attention kernel forced, MHA fast path off; shapes, parameters
by name, refusals, FlopCounterMode forward and backward, saved bytes by storage, input_grad true/false).
"""


import pytest
import sympy as sp

from convcalc import LAYERS, ConvcalcError
from _family_golden import (assert_cli_one_line, assert_matches_golden, assert_numeric_queries_skip_sympy, assert_refused,
                           case_id, cases)
from convcalc.expr import parse_shape
from convcalc.layers.training import Training
from convcalc.network import Network
from convcalc.sizes import substitute

BRUTE_FORCE = {"transformerencoderlayer", "transformerdecoderlayer", "transformerencoder"}

CASES = cases("transformer_layers")
ENC, DEC, STACK = LAYERS["transformerencoderlayer"], LAYERS["transformerdecoderlayer"], LAYERS["transformerencoder"]
T, E, F, h, S, B = sp.symbols("T E F h S B", positive=True, integer=True)


# -- PyTorch's record ---------------------------------------------------------------------------


def test_golden_covers_every_path():
    done = [c for c in CASES if not c["refused"]]
    assert {c["layer"] for c in done} == BRUTE_FORCE
    kws = [c["kwargs"] for c in done]
    assert any(k.get("norm_first") for k in kws) and any(not k.get("norm_first") for k in kws)
    assert any(k.get("activation") == "gelu" for k in kws) and any(k.get("bias") is False for k in kws)
    assert any(k["dropout"] == 0 for k in kws) and any(k["dropout"] > 0 for k in kws)
    assert any(k.get("causal") for k in kws) and any("memory_len" in k for k in kws)
    assert any(c["layer"] == "transformerdecoderlayer" and "memory_len" not in c["kwargs"] for c in done)
    assert any(k.get("norm") for k in kws) and any(k.get("num_layers", 1) > 1 for k in kws)
    refused = [c for c in CASES if c["refused"]]
    assert {c["layer"] for c in refused} == BRUTE_FORCE and all("divisible" in c["reason"] for c in refused)


@pytest.mark.parametrize("case", [c for c in CASES if c["refused"]], ids=case_id)
def test_refused_as_pytorch_refuses(case):
    assert_refused(case)


@pytest.mark.parametrize("case", [c for c in CASES if not c["refused"]], ids=case_id)
def test_matches_pytorch(case):
    layer, _ = assert_matches_golden(case)
    assert {k: list(v) for k, v in layer.params().items()} == case["params"]
    assert list(layer.params()) == list(case["params"])  # PyTorch's order too
    assert case["buffers"] == {}


# -- closed forms in T, derived by hand --------------------------------------------------------------
# Per sample, h heads, d = E/h, from the parts' documented rules (attention.py, samplenorm.py, linear.py):
# multi-head self-attention over T keys: macs 3TE^2 (q, k, v) + T^2 E (scores) + T^2 E (weights x V) + TE^2
# (out); mults = macs + 2TE (q and k scaled) + hT^2 (softmax divisions); adds = 3TE^2 + TE^2 (sums and
# bias adds) + T^2 E - hT^2 + hT(T - 1) + TE(T - 1); comparisons hT^2 (the -inf test), exps hT^2.
# linear E->F: TEF macs and mults, TEF adds (TF(E - 1) sums + TF biases); relu: TF comparisons.
# layernorm of T rows of E: 3TE + 2T mults, 4TE - T adds, T rsqrt. residual: TE adds.

MHA_MACS = 4 * T * E**2 + 2 * T**2 * E
MHA_MULTS = MHA_MACS + 2 * T * E + h * T**2
MHA_ADDS = 4 * T * E**2 + T**2 * E - h * T**2 + h * T * (T - 1) + T * E * (T - 1)
LN = {"mults": 3 * T * E + 2 * T, "adds": 4 * T * E - T, "transcendentals": T}
ENCODER = {
    "macs": T * (4 * E**2 + 2 * E * F) + 2 * E * T**2,
    "mults": MHA_MULTS + 2 * T * E * F + 2 * LN["mults"],
    "adds": MHA_ADDS + 2 * T * E * F + 2 * T * E + 2 * LN["adds"],
    "comparisons": h * T**2 + T * F,
    "transcendentals": h * T**2 + 2 * T,
    "params": (3 * E * E + 3 * E) + (E * E + E) + (F * E + F) + (E * F + E) + 4 * E,
}


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_closed_forms(norm_first):
    r = ENC.build((T, E), {"nhead": h, "dim_feedforward": F, "norm_first": norm_first}).report((T, E))
    for key, want in ENCODER.items():
        assert sp.expand(getattr(r, key) - want) == 0, key


def test_encoder_layer_backward_macs_by_hand():
    """Each matrix product X W (or Q K^T) costs as many macs again for each operand's gradient:
    backward macs = 2 x forward macs; without dL/dx the post-norm layer skips dL/dx of the input
    projection (3TE^2), the pre-norm one only the first layernorm's dL/dx (no macs)."""
    for norm_first, skipped in ((False, 3 * T * E**2), (True, 0)):
        layer = ENC.build((T, E), {"nhead": h, "dim_feedforward": F, "norm_first": norm_first})
        for input_grad, less in ((True, 0), (False, skipped)):
            r = layer.report((T, E), batch=B, training=Training(input_grad=input_grad))
            assert sp.expand(r.backward["total"]["macs"] - B * (2 * ENCODER["macs"] - less)) == 0


def test_decoder_layer_macs_by_hand():
    """Self-attention (T keys, causal or not: all T x T scores), cross-attention (q and out T E^2, k and
    v S E^2, scores and weights x V T S E), the feedforward network 2TEF; the memory requires grad, so
    backward = 2 x forward, less the self-attention's input projection without dL/dx."""
    fwd = MHA_MACS + 2 * T * E**2 + 2 * S * E**2 + 2 * T * S * E + 2 * T * E * F
    for causal in (False, True):
        layer = DEC.build((T, E), {"nhead": h, "dim_feedforward": F, "memory_len": S, "causal": causal})
        r = layer.report((T, E), training=Training())
        assert sp.expand(r.macs - fwd) == 0
        assert sp.expand(r.backward["total"]["macs"] - 2 * fwd) == 0
        r = layer.report((T, E), training=Training(input_grad=False))
        assert sp.expand(r.backward["total"]["macs"] - (2 * fwd - 3 * T * E**2)) == 0
        # two attentions (4E^2 + 4E each), linear1 and linear2 (2EF + F + E), three norms (2E each)
        assert sp.expand(r.params - (2 * (4 * E**2 + 4 * E) + 2 * E * F + F + E + 6 * E)) == 0
    # the memory's length defaults to T
    r = DEC.build((T, E), {"nhead": h, "dim_feedforward": F}).report((T, E))
    assert sp.expand(r.macs - fwd.subs(S, T)) == 0


def test_encoder_stack_is_its_layers_and_norm():
    one = ENC.build((T, E), {"nhead": h, "dim_feedforward": F}).report((T, E))
    for n in (1, 3):
        for norm in (False, True):
            r = STACK.build((T, E), {"nhead": h, "dim_feedforward": F, "num_layers": n, "norm": norm}).report((T, E))
            for key in ("macs", "mults", "adds", "comparisons", "transcendentals", "params"):
                extra = {"mults": LN["mults"], "adds": LN["adds"], "transcendentals": T, "params": 2 * E}.get(key, 0)
                assert sp.expand(getattr(r, key) - (n * getattr(one, key) + (extra if norm else 0))) == 0, key


# -- the layer is its expansion, as a network file writes it --------------------------------------------

BLOCK = """
name: one encoder layer written out
input: 7,12
layers:
  - residual:
      body:
        - layernorm: {eps: 1.0e-6}
        - multiheadattention: {num_heads: 3, dropout: 0.1}
        - dropout: 0.1
      shortcut: []
  - residual:
      body:
        - layernorm: {eps: 1.0e-6}
        - linear: {out_features: 10}
        - gelu
        - dropout: 0.1
        - linear: {out_features: 12}
        - dropout: 0.1
      shortcut: []
"""


@pytest.mark.parametrize("input_grad", [True, False])
def test_layer_equals_its_network_written_by_hand(input_grad):
    layer = ENC.build((7, 12), {"nhead": 3, "dim_feedforward": 10, "activation": "gelu", "norm_first": True,
                                "layer_norm_eps": 1e-6})
    r = layer.report((7, 12), batch=3, training=Training(input_grad=input_grad))
    net = Network.from_yaml(BLOCK).report(batch=3, training=Training(input_grad=input_grad)).total
    for key in ("params", "mults", "adds", "comparisons", "macs", "transcendentals", "saved_bytes", "training_flops"):
        assert getattr(r, key) == net[key], key
    assert r.backward["total"] == net["backward"]["total"]


def test_layer_in_a_network_file():
    text = "name: two\ninput: 5,8\nlayers:\n  - transformerencoderlayer: {nhead: 2, dim_feedforward: 6}\n" \
           "  - transformerdecoderlayer: {nhead: 4, dim_feedforward: 6, memory_len: 3, causal: true}\n"
    total = Network.from_yaml(text).report(batch=2, training=Training()).total
    a = ENC.build((5, 8), {"nhead": 2, "dim_feedforward": 6}).report((5, 8), batch=2, training=Training())
    b = DEC.build((5, 8), {"nhead": 4, "dim_feedforward": 6, "memory_len": 3, "causal": True}).report((5, 8), batch=2,
                                                                                                     training=Training())
    for key in ("params", "macs", "mults", "adds"):
        assert total[key] == getattr(a, key) + getattr(b, key)
    assert total["backward"]["total"]["macs"] == a.backward["total"]["macs"] + b.backward["total"]["macs"]


NEIGHBOURS = [
    ("transformerencoderlayer", {"nhead": 2, "dim_feedforward": 6}),
    ("transformerencoderlayer", {"nhead": 2, "dim_feedforward": 6, "norm_first": True, "activation": "gelu"}),
    ("transformerdecoderlayer", {"nhead": 2, "dim_feedforward": 6, "memory_len": 3, "causal": True}),
    ("transformerdecoderlayer", {"nhead": 4, "dim_feedforward": 6, "norm_first": True, "dropout": 0.0}),
    ("transformerencoder", {"nhead": 2, "dim_feedforward": 6, "num_layers": 2, "norm": True}),
]


@pytest.mark.parametrize("name,options", NEIGHBOURS, ids=[f"{n}-{o}" for n, o in NEIGHBOURS])
def test_saved_tensors_shared_with_neighbours_as_written_out(name, options):
    """After a tanh (which saves its output, the layer's input), a network holding the layer saves
    exactly what the same network with the layer written out saves: the input is counted once."""
    from convcalc.network.stacks import to_yaml

    layer = LAYERS[name].build((5, 8), options)
    written = layer.network((5, 8))
    for training in (Training(), Training(input_grad=False), Training(frozen=True), Training(mixed_precision="bfloat16")):
        held = Network.from_yaml(to_yaml({"input": "5,8", "layers": ["tanh", {name: options}, "tanh"]}))
        out = Network.from_yaml(to_yaml(dict(written, layers=["tanh", *written["layers"], "tanh"])))
        a, b = (n.report(batch=2, training=training).total for n in (held, out))
        assert a["saved_bytes"] == b["saved_bytes"] and a["backward"]["total"] == b["backward"]["total"], training


def test_frozen_counts_only_the_input_gradient():
    layer = ENC.build((4, 8), {"nhead": 2, "dim_feedforward": 6})
    frozen = layer.report((4, 8), batch=2, training=Training(frozen=True))
    # frozen: no dW products; dL/dx of every product remains: the linears' dX (2TEF), the output
    # projection's (TE^2), both operands of the scores and of weights x V (4T^2 E), the input projection's (3TE^2)
    assert frozen.backward["total"]["macs"] == 2 * (4 * 4 * 8**2 + 4 * 4**2 * 8 + 2 * 4 * 8 * 6)
    assert frozen.grad_bytes == 0


# -- symbolic == numeric -------------------------------------------------------------------------------

SYMBOLIC = [
    (ENC, "T,E", {"nhead": 2, "dim_feedforward": "F"}, {"T": 5, "E": 6, "F": 7}),
    (ENC, "T,12", {"nhead": 3, "dim_feedforward": 5, "norm_first": True, "activation": "gelu", "bias": False}, {"T": 4}),
    (DEC, "T,8", {"nhead": 2, "dim_feedforward": 3, "memory_len": "S", "causal": True}, {"T": 3, "S": 6}),
    (DEC, "T,E", {"nhead": "h", "dim_feedforward": 4, "dropout": 0.0}, {"T": 2, "E": 6, "h": 3}),
    (STACK, "T,8", {"nhead": 4, "dim_feedforward": 3, "num_layers": 2, "norm": True}, {"T": 5}),
    (STACK, "T,8", {"nhead": 4, "dim_feedforward": 3, "num_layers": "N", "norm": True, "norm_first": True}, {"T": 5, "N": 3}),
    (STACK, "T,E", {"nhead": 2, "dim_feedforward": "F", "num_layers": "N"}, {"T": 2, "E": 4, "F": 3, "N": 4}),
]


@pytest.mark.parametrize("cls,shape,options,values", SYMBOLIC, ids=[f"{c.NAME}-{o}" for c, _, o, _ in SYMBOLIC])
def test_symbolic_equals_numeric_substituted(cls, shape, options, values):
    sym_shape = parse_shape(shape)
    num_shape = tuple(substitute(v, values) for v in sym_shape)
    num_opts = {k: (values[v] if isinstance(v, str) and v in values else v) for k, v in options.items()}
    for training in (Training(), Training(input_grad=False), Training(frozen=True)):
        sym = cls.build(sym_shape, options).report(sym_shape, batch=sp.Symbol("B", positive=True, integer=True),
                                                   training=training)
        num = cls.build(num_shape, num_opts).report(num_shape, batch=3, training=training)
        at = {**values, "B": 3}
        for key in ("params", "mults", "adds", "comparisons", "macs", "flops", "transcendentals", "saved_bytes",
                    "training_flops", "sequential_steps"):
            assert substitute(getattr(sym, key), at) == getattr(num, key), key
        for part in ("grad_input", "grad_weight", "total"):
            assert {k: substitute(v, at) for k, v in sym.backward[part].items()} == num.backward[part], part


def test_symbolic_number_of_layers_stacks_the_parameters():
    layer = STACK.build((T, E), {"nhead": 2, "dim_feedforward": F, "num_layers": sp.Symbol("N", positive=True, integer=True)})
    params = layer.params()
    assert params["layers.0..N - 1.linear1.weight"][1:] == (F, E) and "norm.weight" not in params


# -- bad input -------------------------------------------------------------------------------------

BAD = [
    (ENC, {"nhead": 4}, (3, 6), "divisible"),
    (ENC, {"nhead": 0}, (3, 6), "nhead"),
    (ENC, {"nhead": 2, "activation": "tanh"}, (3, 6), "activation"),
    (ENC, {"nhead": 2, "dropout": 1.5}, (3, 6), "dropout"),
    (ENC, {"nhead": 2, "dim_feedforward": 0}, (3, 6), "dim_feedforward"),
    (DEC, {"nhead": 2, "memory_len": 0}, (3, 6), "memory_len"),
    (DEC, {"nhead": 4, "memory_len": 2}, (3, 6), "divisible"),
    (STACK, {"nhead": 2, "num_layers": 0}, (3, 6), "num_layers"),
    (STACK, {"nhead": 2, "num_layers": "20000"}, (3, 6), "num_layers"),
]


@pytest.mark.parametrize("cls,options,shape,match", BAD, ids=[f"{c.NAME}-{m}" for c, _, _, m in BAD])
def test_bad_options_are_one_error(cls, options, shape, match):
    with pytest.raises(ConvcalcError, match=match):
        cls.build(shape, cls.parse_options(options)).report(shape)


def test_bad_input_shape_is_one_error():
    layer = ENC.build((3, 8), {"nhead": 2})
    with pytest.raises(ConvcalcError, match="entries"):
        layer.report((2, 3, 8))


CLI_BAD = [
    (["transformerencoderlayer", "--input", "5,6", "--nhead", "4"], "convcalc transformerencoderlayer: --nhead:"),
    (["transformerencoderlayer", "--input", "5,8", "--nhead", "2", "--activation", "tanh"],
     "convcalc transformerencoderlayer: --activation:"),
    (["transformerencoderlayer", "--input", "5,3,8", "--nhead", "2"], "convcalc transformerencoderlayer: --input:"),
    (["transformerdecoderlayer", "--input", "5,8", "--nhead", "2", "--memory-len", "__import__('os')"],
     "convcalc transformerdecoderlayer: --memory-len:"),
    (["transformerencoder", "--input", "5,8", "--nhead", "2", "--num-layers", "0"], "convcalc transformerencoder: --num-layers:"),
]


@pytest.mark.parametrize("args,prefix", CLI_BAD, ids=[a[-1] for a, _ in CLI_BAD])
def test_cli_bad_input_is_one_line_exit_2(args, prefix):
    assert_cli_one_line(args, prefix)


def test_numeric_queries_never_import_sympy():
    assert_numeric_queries_skip_sympy([
        ["transformerencoderlayer", "--input", "16,32", "--nhead", "4"],
        ["transformerencoderlayer", "--input", "16,32", "--nhead", "4", "--norm-first", "--activation", "gelu"],
        ["transformerdecoderlayer", "--input", "16,32", "--nhead", "4", "--memory-len", "9", "--causal"],
        ["transformerencoder", "--input", "16,32", "--nhead", "4", "--num-layers", "2", "--norm"]])
