"""Per-sample normalisation (groupnorm, layernorm, instancenorm1d/2d/3d, localresponsenorm).

PyTorch's record (tests/golden/samplenorm_backward_golden.json: shapes, parameters, buffers,
refusals, FlopCounterMode, saved bytes by storage); symbolic == numeric substituted; bad input ->
one ConvcalcError, one line on stderr and exit status 2. The counts by enumeration are in
tests/test_samplenorm_counting.py.
"""

import math

import pytest
import sympy as sp

from convcalc import LAYERS, ConvcalcError
from _family_golden import (assert_cli_one_line, assert_matches_golden, assert_numeric_queries_skip_sympy, assert_refused,
                           case_id, cases)
from convcalc.expr import parse_shape
from convcalc.layers.training import Training
from convcalc.sizes import substitute

CASES = cases("samplenorm")
NAMES = ("groupnorm", "layernorm", "instancenorm1d", "instancenorm2d", "instancenorm3d", "localresponsenorm")



# -- PyTorch's record ---------------------------------------------------------------------------


def test_golden_covers_every_layer_and_refusals():
    assert {c["layer"] for c in CASES} == set(NAMES)
    assert {c["layer"] for c in CASES if c["refused"]} >= {"groupnorm", "layernorm", "instancenorm1d", "localresponsenorm"}


@pytest.mark.parametrize("case", [c for c in CASES if c["refused"]], ids=case_id)
def test_refused_as_pytorch_refuses(case):
    assert_refused(case)


@pytest.mark.parametrize("case", [c for c in CASES if not c["refused"]], ids=case_id)
def test_matches_pytorch(case):
    layer, runs = assert_matches_golden(case, gradients=True)
    floats = [math.prod(s) for s, dtype in case["buffers"].values() if dtype == "float32"]
    longs = [math.prod(s) for s, dtype in case["buffers"].values() if dtype == "int64"]
    r = layer.report(tuple(case["input"]), batch=case["batch"])
    assert r.buffers == sum(floats) + sum(longs)
    assert r.buffer_bytes == 4 * sum(floats) + 8 * sum(longs)
    assert all(run["forward_flops"] == 0 and run["backward_flops"] == 0 for run, _ in runs)  # no matrix products


# -- symbolic == numeric -----------------------------------------------------------------------

SYMBOLIC = [
    ("groupnorm", {"num_groups": 4}, "C,H,W", {"C": 8, "H": 3, "W": 5}),
    ("groupnorm", {"num_groups": 2, "affine": False}, "2*C,L", {"C": 3, "L": 7}),
    ("layernorm", {}, "T,D", {"T": 5, "D": 6}),
    ("layernorm", {"normalized_shape": "H,W", "bias": False}, "C,H,W", {"C": 2, "H": 3, "W": 4}),
    ("instancenorm1d", {"affine": True}, "C,L", {"C": 3, "L": 9}),
    ("instancenorm2d", {}, "C,H,W", {"C": 4, "H": 5, "W": 6}),
    ("instancenorm3d", {"affine": True, "track_running_stats": True}, "C,D,H,W", {"C": 2, "D": 3, "H": 4, "W": 5}),
    ("localresponsenorm", {"size": 5}, "C,H,W", {"C": 7, "H": 3, "W": 2}),
]


@pytest.mark.parametrize("name,options,text,values", SYMBOLIC, ids=[s[0] + s[2] for s in SYMBOLIC])
def test_symbolic_equals_numeric(name, options, text, values):
    cls = LAYERS[name]
    shape = parse_shape(text)
    symbolic = cls.build(shape, dict(options)).report(shape, batch=sp.Symbol("B"), training=Training(optimizer="adam"))
    numeric_shape = tuple(substitute(v, values) for v in shape)
    opts = {k: (",".join(str(values[s]) for s in v.split(",")) if k == "normalized_shape" else v) for k, v in options.items()}
    numeric = cls.build(numeric_shape, opts).report(numeric_shape, batch=2, training=Training(optimizer="adam"))
    env = dict(values, B=2)
    for key in ("params", "buffers", "mults", "adds", "transcendentals", "flops", "saved_bytes", "training_flops",
                "training_peak_bytes"):
        assert substitute(getattr(symbolic, key), env) == getattr(numeric, key), key
    for part in ("grad_input", "grad_weight"):
        for key, v in symbolic.backward[part].items():
            assert substitute(v, env) == numeric.backward[part][key], (part, key)


def test_numeric_query_does_not_import_sympy():
    assert_numeric_queries_skip_sympy([[n, "--input", "8,6,6", *o] for n, o in [
        ("groupnorm", ["--num-groups", "4"]), ("layernorm", ["--normalized-shape", "6,6"]),
        ("instancenorm2d", ["--affine"]), ("localresponsenorm", ["--size", "3"])]])


# -- bad input ---------------------------------------------------------------------------------

BAD = [
    (("groupnorm", 4, 6), (6, 3), "num_groups", "divisible by num_groups 4"),
    (("groupnorm", 0, 6), (6, 3), "num_groups", "positive"),
    (("groupnorm", 3, 6), (5, 3), "input", "has 5 channels but num_channels is 6"),
    (("layernorm", (5,)), (3, 4), "input", "ending in normalized_shape 5"),
    (("layernorm", (2, 3, 4)), (3, 4), "input", "has 3 entries but the input only 2"),
    (("layernorm", ()), (3, 4), "normalized_shape", "at least one size"),
    (("instancenorm2d", 4), (4, 5), "input", "expects 3 entries"),
    (("instancenorm2d", 4), (4, 1, 1), "input", "more than 1 spatial element"),
    (("localresponsenorm", 0), (4, 3), "size", "positive"),
    (("localresponsenorm", 3), (4,), "input", "at least 2 entries"),
]


@pytest.mark.parametrize("args,shape,option,message", BAD, ids=[f"{b[0][0]}-{b[3]}" for b in BAD])
def test_bad_input_is_one_error(args, shape, option, message):
    name, *rest = args
    with pytest.raises(ConvcalcError, match=message) as info:
        LAYERS[name](*rest).report(shape)
    assert info.value.option == option


def test_affine_instancenorm_refuses_other_channels_but_plain_one_only_notes_them():
    with pytest.raises(ConvcalcError, match="channels but num_features is 4"):
        LAYERS["instancenorm2d"](4, affine=True).report((3, 5, 5))
    r = LAYERS["instancenorm2d"](4).report((3, 5, 5))  # PyTorch warns and normalises the 3 channels
    assert r.params == 0 and any("only warns" in n for n in r.notes)


def test_groupnorm_one_value_per_group_is_refused_only_for_a_batch_of_one():
    with pytest.raises(ConvcalcError, match="more than 1 value per group"):
        LAYERS["groupnorm"](6, 6).report((6,), batch=1)
    assert LAYERS["groupnorm"](6, 6).report((6,), batch=2).params == 12


def test_tracked_instancenorm_with_one_spatial_element_runs_in_eval_but_not_in_training():
    layer = LAYERS["instancenorm2d"](3, track_running_stats=True)
    assert layer.report((3, 1, 1), batch=2).mults == 6  # (x - running_mean)*invstd, 6 elements
    with pytest.raises(ConvcalcError, match="more than 1 spatial element when training"):
        layer.report((3, 1, 1), batch=2, training=Training())


def test_symbolic_groupnorm_assumes_divisibility_and_says_so():
    r = LAYERS["groupnorm"].build(parse_shape("C,H,W"), {"num_groups": 32}).report(parse_shape("C,H,W"))
    assert any("assumes num_groups 32 divides" in n for n in r.notes)
    r = LAYERS["groupnorm"].build(parse_shape("3*C,H"), {"num_groups": 2}).report(parse_shape("3*C,H"))  # odd or even: open
    assert any("assumes num_groups 2 divides" in n for n in r.notes)
    with pytest.raises(ConvcalcError, match="divisible"):  # 2*C + 1 is odd whatever C
        LAYERS["groupnorm"].build(parse_shape("2*C + 1,H"), {"num_groups": 2})
    # 2*C is even: known to divide, no note
    r = LAYERS["groupnorm"].build(parse_shape("2*C,H"), {"num_groups": 2}).report(parse_shape("2*C,H"))
    assert not r.notes


CLI_BAD = [
    (["groupnorm", "--input", "6,4", "--num-groups", "4"], "convcalc groupnorm: --num-groups:"),
    (["groupnorm", "--input", "6,4"], "convcalc groupnorm: --num-groups:"),
    (["layernorm", "--input", "3,4", "--normalized-shape", "5"], "convcalc layernorm: --input:"),
    (["layernorm", "--input", "3,4", "--normalized-shape", "abc("], "convcalc layernorm: --normalized-shape:"),
    (["instancenorm1d", "--input", "4,1"], "convcalc instancenorm1d: --input:"),
    (["localresponsenorm", "--input", "4,3", "--size", "0"], "convcalc localresponsenorm: --size:"),
    (["localresponsenorm", "--input", "4,3", "--size", "3", "--beta", "nan"], "convcalc localresponsenorm: --beta:"),
]


@pytest.mark.parametrize("args,prefix", CLI_BAD, ids=[" ".join(a[:1] + a[-2:]) for a, _ in CLI_BAD])
def test_cli_bad_input_one_line_exit_2(args, prefix):
    assert_cli_one_line(args, prefix)
