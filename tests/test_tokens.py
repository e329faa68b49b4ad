"""The token and position layers of issue 13 (convcalc/layers/tokens.py) against PyTorch's recording
(tests/golden/make_tokens_golden.py), by hand-derived formulas compared as SymPy expressions and by
enumeration, symbolic == numeric substituted, bad input one line."""

from __future__ import annotations

import itertools
import math

import pytest
import sympy as sp

from _family_golden import (assert_cli_one_line, assert_matches_golden, assert_numeric_queries_skip_sympy, assert_refused,
                           case_id, cases)
from convcalc import LAYERS, ConvcalcError, Network
from convcalc.expr import parse_shape
from convcalc.layers.training import Training
from convcalc.sizes import substitute

BRUTE_FORCE = {"permute", "transpose", "rmsnorm", "classtoken", "positionembedding", "selecttoken", "tokentypeembedding"}
CASES = cases("tokens")


def test_golden_covers_every_layer_and_refusals():
    assert {c["layer"] for c in CASES} == BRUTE_FORCE
    assert {c["layer"] for c in CASES if c["refused"]} == {"permute", "transpose", "rmsnorm", "positionembedding", "selecttoken",
                                                               "tokentypeembedding"}


@pytest.mark.parametrize("case", [c for c in CASES if c["refused"]], ids=case_id)
def test_refused_as_pytorch_refuses(case):
    assert_refused(case)


@pytest.mark.parametrize("case", [c for c in CASES if not c["refused"]], ids=case_id)
def test_matches_pytorch(case):
    _, runs = assert_matches_golden(case)
    assert all(run["forward_flops"] == 0 and run["backward_flops"] == 0 for run, _ in runs)  # no matrix products


# -- by hand and by enumeration -------------------------------------------------------------------

def _rms_ops(shape, m, affine):
    """PyTorch's composite forward, op by op over every element: (mults, adds, transcendentals)."""
    mults = adds = trans = 0
    rows = math.prod(shape) // m
    for _ in range(rows):
        mults += m  # x.pow(2)
        adds += m - 1  # the row's sum
        mults += 1  # / m
        adds += 1  # + eps
        trans += 1  # rsqrt
        mults += m  # x * r
        if affine:
            mults += m  # * weight
    return mults, adds, trans


@pytest.mark.parametrize("shape,k,affine", [((5,), 1, True), ((3, 4), 1, False), ((2, 3, 4), 2, True), ((6, 2), 2, False)])
def test_rmsnorm_forward_by_enumeration(shape, k, affine):
    layer = LAYERS["rmsnorm"].build(shape, {"normalized_shape": shape[-k:], "elementwise_affine": affine})
    r = layer.report(shape)
    assert (r.mults, r.adds, r.transcendentals) == _rms_ops(shape, math.prod(shape[-k:]), affine)


def test_rmsnorm_backward_closed_form():
    """dL/dx 6N + 4R mults and 2N - R adds; dL/dw N mults and N - m adds (N = B*rows*m, R = B*rows)."""
    B, T, D = sp.symbols("B T D", positive=True, integer=True)
    shape = parse_shape("T,D")
    r = LAYERS["rmsnorm"].build(shape, {}).report(shape, batch=B, training=Training())
    N, R = B * T * D, B * T
    assert sp.simplify(r.backward["grad_input"]["mults"] - (6 * N + 4 * R)) == 0
    assert sp.simplify(r.backward["grad_input"]["adds"] - (2 * N - R)) == 0
    assert sp.simplify(r.backward["grad_weight"]["mults"] - N) == 0
    assert sp.simplify(r.backward["grad_weight"]["adds"] - (N - D)) == 0


@pytest.mark.parametrize("layer,options", [("classtoken", {}), ("positionembedding", {}), ("positionembedding", {"indexed": True})])
def test_parameter_gradient_sums_over_the_batch_by_enumeration(layer, options):
    """The table's (or token's) gradient: each element sums B terms of dL/dy, B - 1 adds each."""
    B, T, D = 3, 4, 5
    r = LAYERS[layer].build((T, D), options).report((T, D), batch=B, training=Training())
    elements = D if layer == "classtoken" else T * D
    terms = {e: 0 for e in range(elements)}
    for _, e in itertools.product(range(B), range(elements)):
        terms[e] += 1
    assert r.backward["grad_weight"]["adds"] == sum(n - 1 for n in terms.values())
    assert r.adds == (0 if layer == "classtoken" else B * T * D)  # the forward add, whole batch


def test_token_type_gradient_sums_every_token_into_row_zero_by_enumeration():
    """Every one of the B*T ids is 0: row 0's gradient sums B*T rows of dL/dy, (B*T - 1)*D adds."""
    B, T, D = 3, 5, 4
    r = LAYERS["tokentypeembedding"].build((T, D), {}).report((T, D), batch=B, training=Training())
    hits = {}
    for _ in itertools.product(range(B), range(T)):
        hits[0] = hits.get(0, 0) + 1
    assert r.backward["grad_weight"]["adds"] == sum(n - 1 for n in hits.values()) * D
    assert r.buffers == 512 and r.params == 2 * D


@pytest.mark.parametrize("dims", list(itertools.permutations([1, 2, 3])))
def test_permute_moves_sizes_as_torch_permute(dims):
    shape = (2, 3, 5)
    out = LAYERS["permute"].build(shape, {"dims": (0, *dims)}).report(shape).output_shape
    assert out == tuple(shape[d - 1] for d in dims)


def test_symbolic_equals_numeric():
    for name, options, text in [("rmsnorm", {}, "T,D"), ("classtoken", {}, "T,D"), ("positionembedding", {"num_positions": "P"}, "T,D"),
                                ("positionembedding", {"indexed": True}, "T,D"), ("selecttoken", {}, "T,D"),
                                ("transpose", {}, "C,L"), ("permute", {"dims": (0, 2, 1)}, "C,L")]:
        shape = parse_shape(text)
        symbolic = LAYERS[name].build(shape, dict(options)).report(shape, batch=parse_shape("B")[0], training=Training())
        values = {"T": 7, "D": 6, "P": 9, "C": 3, "L": 5, "B": 2}
        numeric_shape = tuple(substitute(v, values) for v in shape)
        num_options = {k: (substitute(parse_shape(v)[0], values) if isinstance(v, str) else v) for k, v in options.items()}
        numeric = LAYERS[name].build(numeric_shape, num_options).report(numeric_shape, batch=2, training=Training())
        for key in ("params", "mults", "adds", "transcendentals", "saved_bytes", "training_flops"):
            assert substitute(getattr(symbolic, key), values) == getattr(numeric, key), (name, key)


def test_a_vit_patch_embedding_as_a_network():
    """conv 16x16/16 -> flatten -> transpose -> class token -> positions -> layernorm -> token 0 -> linear."""
    text = """
input: 3,32,32
layers:
  - conv2d: {out_channels: 8, kernel_size: 16, stride: 16}
  - flatten: {start_dim: 2}
  - transpose: {dim0: 1, dim1: 2}
  - classtoken
  - positionembedding
  - layernorm
  - selecttoken
  - linear: {out_features: 10}
"""
    r = Network.from_yaml(text, label="vit").report(batch=2, training=Training())
    assert [tuple(row["output_shape"]) for row in r.rows] == [(8, 2, 2), (8, 4), (4, 8), (5, 8), (5, 8), (5, 8), (8,), (10,)]
    assert r.total["params"] == 3 * 8 * 256 + 8 + 8 + 5 * 8 + 16 + 8 * 10 + 10


def test_numeric_query_does_not_import_sympy():
    assert_numeric_queries_skip_sympy([["rmsnorm", "--input", "8,16"], ["positionembedding", "--input", "8,16", "--indexed"],
                                       ["permute", "--input", "8,16", "--dims", "0,2,1"]])


BAD = [
    ("permute", {"dims": (1, 0, 2)}, (3, 4), "dims", "batch dimension 0"),
    ("permute", {"dims": (0, 1)}, (3, 4), "dims", "number of dims"),
    ("transpose", {"dim0": 0, "dim1": 1}, (3, 4), "dim0", "batch dimension"),
    ("rmsnorm", {"normalized_shape": (5,)}, (3, 4), "input", "not normalized_shape"),
    ("positionembedding", {"num_positions": 2}, (4, 3), "input", "the table has 2 rows"),
    ("selecttoken", {"index": 5}, (3, 4), "index", "out of bounds"),
    ("classtoken", {}, (3,), "input", "expects 2 entries"),
]


@pytest.mark.parametrize("name,options,shape,option,message", BAD, ids=[b[0] + "-" + b[4] for b in BAD])
def test_bad_input_is_one_error(name, options, shape, option, message):
    with pytest.raises(ConvcalcError, match=message) as info:
        LAYERS[name].build(shape, dict(options)).report(shape)
    assert info.value.option == option


@pytest.mark.parametrize("args,prefix", [
    (["permute", "--input", "3,4", "--dims", "1,0,2"], "convcalc permute: --dims:"),
    (["selecttoken", "--input", "3,4", "--index", "9"], "convcalc selecttoken: --index:"),
    (["positionembedding", "--input", "4,3", "--num-positions", "2"], "convcalc positionembedding: --input:"),
])
def test_cli_bad_input_one_line_exit_2(args, prefix):
    assert_cli_one_line(args, prefix)
