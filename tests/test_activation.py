"""Activations of issue 12 (hardswish, hardsigmoid, hardtanh, mish, elu, selu, celu, softplus,
prelu, glu, logsoftmax, softmax2d, identity).

PyTorch's record (tests/golden/activation_backward_golden.json: shapes, parameters, refusals,
FlopCounterMode, saved bytes by storage); symbolic == numeric substituted; bad input -> one
ConvcalcError, one line on stderr and exit status 2. The counts by enumeration (each kernel
written out in Python over every element, its operations tallied) are in
tests/test_activation_counting.py.
"""


import pytest
import sympy as sp

from convcalc import LAYERS, ConvcalcError, Network
from _family_golden import (assert_cli_one_line, assert_matches_golden, assert_numeric_queries_skip_sympy, assert_refused,
                           case_id, cases)
from convcalc.expr import parse_shape
from convcalc.layers.training import Training
from convcalc.sizes import substitute

CASES = cases("activation")
NAMES = ("hardswish", "hardsigmoid", "hardtanh", "mish", "elu", "selu", "celu", "softplus", "prelu", "glu",
         "logsoftmax", "softmax2d", "identity")



# -- PyTorch's record ---------------------------------------------------------------------------


def test_golden_covers_every_layer_and_refusals():
    assert {c["layer"] for c in CASES} == set(NAMES)
    assert {c["layer"] for c in CASES if c["refused"]} >= {"hardtanh", "elu", "celu", "prelu", "glu", "logsoftmax",
                                                              "softmax2d"}
    assert all(c["layer"] in LAYERS for c in CASES)


@pytest.mark.parametrize("case", [c for c in CASES if c["refused"]], ids=case_id)
def test_refused_as_pytorch_refuses(case):
    assert_refused(case)


@pytest.mark.parametrize("case", [c for c in CASES if not c["refused"]], ids=case_id)
def test_matches_pytorch(case):
    _, runs = assert_matches_golden(case, gradients=True)
    assert case["buffers"] == {}
    assert all(run["forward_flops"] == 0 and run["backward_flops"] == 0 for run, _ in runs)  # no matrix products


# what autograd saves, by storage (make_activation_golden.py's probe): out of place the input
# (logsoftmax, softmax2d: the output); in place elu_/selu_/celu_ their result, the others a copy
SAVES = [("hardswish", {}, "input"), ("hardswish", {"inplace": True}, ""), ("hardsigmoid", {"inplace": True}, ""),
         ("hardtanh", {"inplace": True}, ""), ("mish", {"inplace": True}, ""), ("elu", {}, "input"),
         ("elu", {"inplace": True}, "output"), ("selu", {"inplace": True}, "output"), ("celu", {"inplace": True}, "output"),
         ("softplus", {}, "input"), ("prelu", {}, "input"), ("glu", {}, "input"), ("logsoftmax", {}, "output"),
         ("softmax2d", {}, "output")]


@pytest.mark.parametrize("name,options,tensor", SAVES, ids=[f"{n}-{o}" for n, o, _ in SAVES])
def test_saves_what_pytorch_saves(name, options, tensor):
    r = LAYERS[name].build((2, 4, 4), options).report((2, 4, 4), batch=3, training=Training())
    assert [s["tensor"] for s in r.saved] == [tensor]
    assert r.saved_bytes == 4 * 3 * 32


def test_identity_saves_and_counts_nothing():
    r = LAYERS["identity"]().report((3, 5, 5), batch=2, training=Training(optimizer="adam"))
    assert r.flops == r.transcendentals == r.saved_bytes == r.training_flops == 0
    assert r.output_shape == (3, 5, 5)


def test_identity_in_a_network_file_takes_no_arguments():
    """torch.nn.Identity(*args, **kwargs) ignores its arguments; convcalc takes none (an unknown
    argument is refused, as for every layer), so a network file writes a bare ``identity``."""
    r = Network.from_yaml("input: 4,6\nlayers:\n  - identity\n  - prelu: {num_parameters: 4}\n").report(batch=2)
    assert r.output_shape == (4, 6) and r.total["params"] == 4
    with pytest.raises(ConvcalcError, match="identity has no parameter 'unused'"):
        Network.from_yaml("input: 4,6\nlayers:\n  - identity: {unused: 0.1}\n").report()
    with pytest.raises(ConvcalcError, match="unused"):
        LAYERS["identity"](unused=0.1)


# -- symbolic == numeric -----------------------------------------------------------------------

SYMBOLIC = [
    ("hardswish", {}, "C,H,W", {"C": 8, "H": 3, "W": 5}),
    ("hardsigmoid", {"inplace": True}, "C,H,W", {"C": 8, "H": 1, "W": 1}),
    ("hardtanh", {"min_val": 0.0, "max_val": 6.0}, "C,L", {"C": 3, "L": 7}),
    ("mish", {}, "T,D", {"T": 5, "D": 6}),
    ("elu", {"alpha": 0.5, "inplace": True}, "C,H,W", {"C": 2, "H": 3, "W": 4}),
    ("selu", {}, "D", {"D": 9}),
    ("celu", {"alpha": 2.0}, "C,L", {"C": 3, "L": 9}),
    ("softplus", {"beta": 2.0}, "C,H,W", {"C": 4, "H": 5, "W": 6}),
    ("prelu", {}, "C,H,W", {"C": 7, "H": 3, "W": 2}),
    ("prelu", {"num_parameters": "C"}, "C,H,W", {"C": 7, "H": 3, "W": 2}),
    ("glu", {"dim": 1}, "2*C,H,W", {"C": 3, "H": 4, "W": 5}),
    ("glu", {}, "T,2*D", {"T": 3, "D": 4}),
    ("logsoftmax", {"dim": 1}, "C,H,W", {"C": 3, "H": 4, "W": 5}),
    ("softmax2d", {}, "C,H,W", {"C": 21, "H": 4, "W": 5}),
    ("identity", {}, "C,H,W", {"C": 2, "H": 3, "W": 4}),
]


@pytest.mark.parametrize("name,options,text,values", SYMBOLIC, ids=[s[0] + s[2] for s in SYMBOLIC])
def test_symbolic_equals_numeric(name, options, text, values):
    cls = LAYERS[name]
    shape = parse_shape(text)
    symbolic = cls.build(shape, dict(options)).report(shape, batch=sp.Symbol("B"), training=Training(optimizer="adam"))
    numeric_shape = tuple(substitute(v, values) for v in shape)
    opts = {k: (values[v] if isinstance(v, str) else v) for k, v in options.items()}
    numeric = cls.build(numeric_shape, opts).report(numeric_shape, batch=2, training=Training(optimizer="adam"))
    env = dict(values, B=2)
    assert tuple(substitute(v, env) for v in symbolic.output_shape) == numeric.output_shape
    for key in ("params", "mults", "adds", "comparisons", "transcendentals", "flops", "saved_bytes", "training_flops",
                "training_peak_bytes"):
        assert substitute(getattr(symbolic, key), env) == getattr(numeric, key), key
    for part in ("grad_input", "grad_weight"):
        for key, v in symbolic.backward[part].items():
            assert substitute(v, env) == numeric.backward[part][key], (part, key)


def test_symbolic_glu_of_unknown_parity_is_assumed_even_and_says_so():
    shape = parse_shape("C,H")
    r = LAYERS["glu"](dim=1).report(shape)
    assert any("assumes C is even" in n for n in r.notes)
    with pytest.raises(ConvcalcError, match="must be even"):  # 2*C + 1 is odd whatever C
        LAYERS["glu"](dim=1).report(parse_shape("2*C + 1,H"))
    assert not LAYERS["glu"](dim=1).report(parse_shape("2*C,H")).notes


def test_symbolic_prelu_weights_that_may_not_match_the_channels_are_assumed_to_and_noted():
    shape = parse_shape("C,H")
    r = LAYERS["prelu"].build(shape, {"num_parameters": "K"}).report(shape)
    assert r.params == parse_shape("K")[0] and any("assumes num_parameters K is 1 or the channels C" in n for n in r.notes)
    assert not LAYERS["prelu"].build(shape, {"num_parameters": "C"}).report(shape).notes
    assert not LAYERS["prelu"].build(shape, {}).report(shape).notes


def test_numeric_query_does_not_import_sympy():
    assert_numeric_queries_skip_sympy([[n, "--input", "8,6,6", *o] for n, o in [
        ("hardswish", ["--inplace"]), ("elu", ["--alpha", "0.5"]), ("prelu", ["--num-parameters", "8"]),
        ("glu", ["--dim", "1"]), ("logsoftmax", ["--dim", "1"]), ("softmax2d", []), ("identity", [])]])


# -- bad input ---------------------------------------------------------------------------------

BAD = [
    ("hardtanh", {"min_val": 1.0, "max_val": 1.0}, (3, 4), "max_val", "must be greater than min_val"),
    ("celu", {"alpha": 0.0}, (3, 4), "alpha", "cannot be 0"),
    ("prelu", {"num_parameters": 3}, (4, 5), "num_parameters", "input has 4 channels"),
    ("prelu", {"num_parameters": 0}, (4, 5), "num_parameters", "positive"),
    ("glu", {"dim": -1}, (4, 5), "input", "must be even"),
    ("glu", {"dim": 0}, (4, 6), "dim", "batch dimension"),
    ("glu", {"dim": 3}, (4, 6), "dim", "out of range"),
    ("logsoftmax", {"dim": 3}, (4, 5), "dim", "out of range"),
    ("softmax2d", {}, (4, 5), "input", "expects 3 entries"),
    ("softmax2d", {}, (2, 3, 4, 5), "input", "expects 3 entries"),
    ("softplus", {"beta": "nan"}, (4,), "beta", "finite|number"),
]


@pytest.mark.parametrize("name,options,shape,option,message", BAD, ids=[f"{b[0]}-{b[4]}" for b in BAD])
def test_bad_input_is_one_error(name, options, shape, option, message):
    with pytest.raises(ConvcalcError, match=message) as info:
        LAYERS[name].build(shape, options).report(shape)
    assert info.value.option == option


@pytest.mark.parametrize("name", ["elu", "celu"])
def test_in_place_with_negative_alpha_is_refused_in_training_only(name):
    layer = LAYERS[name](alpha=-0.5, inplace=True)
    assert layer.report((4, 3), batch=2).transcendentals == 24  # the forward runs in PyTorch too
    with pytest.raises(ConvcalcError, match="negative alpha") as info:
        layer.report((4, 3), batch=2, training=Training())
    assert info.value.option == "alpha"
    assert LAYERS[name](alpha=-0.5).report((4, 3), batch=2, training=Training()).saved_bytes == 96


CLI_BAD = [
    (["hardtanh", "--input", "6,4", "--min-val", "2", "--max-val", "1"], "convcalc hardtanh: --max-val:"),
    (["celu", "--input", "6,4", "--alpha", "0"], "convcalc celu: --alpha:"),
    (["elu", "--input", "6,4", "--alpha", "-1", "--inplace", "--training"], "convcalc elu: --alpha:"),
    (["prelu", "--input", "6,4", "--num-parameters", "4"], "convcalc prelu: --num-parameters:"),
    (["glu", "--input", "5,4", "--dim", "1"], "convcalc glu: --input:"),
    (["glu", "--input", "6,4", "--dim", "abc("], "convcalc glu: --dim:"),
    (["logsoftmax", "--input", "6,4", "--dim", "7"], "convcalc logsoftmax: --dim:"),
    (["softmax2d", "--input", "6,4"], "convcalc softmax2d: --input:"),
    (["softplus", "--input", "6", "--threshold", "inf"], "convcalc softplus: --threshold:"),
]


@pytest.mark.parametrize("args,prefix", CLI_BAD, ids=[" ".join(a[:1] + a[-2:]) for a, _ in CLI_BAD])
def test_cli_bad_input_one_line_exit_2(args, prefix):
    assert_cli_one_line(args, prefix)
