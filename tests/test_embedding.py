"""Embeddings (embedding, embeddingbag) and adaptive pools with None in output_size.

PyTorch's record (tests/golden/embedding_backward_golden.json: shapes, parameters, refusals,
FlopCounterMode, saved bytes by storage); counts by enumeration (every assignment of indices to
rows, every bag's terms); symbolic == numeric substituted; bad input -> one ConvcalcError, one
line on stderr and exit status 2. LPPool and fractional max pooling: tests/test_lppool.py.
"""

import itertools

import pytest
import sympy as sp

from convcalc import LAYERS, ConvcalcError
from _family_golden import (assert_cli_one_line, assert_matches_golden, assert_numeric_queries_skip_sympy, assert_refused,
                           build, case_id, cases)
from convcalc.expr import parse_shape
from convcalc.layers.training import Training
from convcalc.sizes import substitute

BRUTE_FORCE = {"embedding", "embeddingbag"}

ALL = cases("embedding")
NAMES = ("embedding", "embeddingbag", "adaptiveavgpool1d", "adaptiveavgpool2d", "adaptiveavgpool3d",
         "adaptivemaxpool1d", "adaptivemaxpool2d", "adaptivemaxpool3d")
CASES = [c for c in ALL if c["layer"] in NAMES]
#: PyTorch runs max_norm (it renormalises rows in place, as the indices decide); convcalc refuses it
CONVCALC_REFUSES = [c for c in CASES if not c["refused"] and c["kwargs"].get("max_norm") is not None]



# -- PyTorch's record ---------------------------------------------------------------------------


def test_golden_covers_every_layer_refusals_and_none():
    assert {c["layer"] for c in CASES} == set(NAMES)
    assert {c["layer"] for c in CASES if c["refused"]} >= {"embedding", "embeddingbag"}
    nones = [c for c in CASES if c["layer"].startswith("adaptive") and isinstance(c["kwargs"]["output_size"], list)
             and None in c["kwargs"]["output_size"] and not c["refused"]]
    assert len(nones) >= 5


@pytest.mark.parametrize("case", [c for c in CASES if c["refused"]], ids=case_id)
def test_refused_as_pytorch_refuses(case):
    assert_refused(case)


@pytest.mark.parametrize("case", CONVCALC_REFUSES, ids=case_id)
def test_max_norm_is_refused_with_a_reason(case):
    with pytest.raises(ConvcalcError, match="does not count max_norm") as info:
        build(case)
    assert info.value.option == "max_norm"


@pytest.mark.parametrize("case", [c for c in CASES if not c["refused"] and c not in CONVCALC_REFUSES], ids=case_id)
def test_matches_pytorch(case):
    _, runs = assert_matches_golden(case, gradients=True)
    assert not case["buffers"]
    assert all(run["forward_flops"] == 0 and run["backward_flops"] == 0 for run, _ in runs)  # no matrix products


def test_indices_take_no_gradient_even_when_asked():
    r = LAYERS["embedding"](10, 4).report((5,), batch=2, training=Training(input_grad=True))
    assert r.training["input_grad"] is False and "input" not in r.gradients
    assert r.working_bytes == 2 * 5 * 4 * 4  # dL/dy only


# -- counting by enumeration -------------------------------------------------------------------


def _scatter_adds(rows_hit, d):
    """Adds of summing contributions into a table: r - 1 at each (row, column) hit r times."""
    hits = {}
    for row, col in rows_hit:
        hits[(row, col)] = hits.get((row, col), 0) + 1
    return sum(r - 1 for r in hits.values())


@pytest.mark.parametrize("e,d,m,padding_idx", [(1, 2, 3, None), (3, 2, 3, None), (2, 3, 4, 0), (4, 1, 4, -1), (1, 3, 2, 0), (5, 2, 1, None)])
def test_embedding_backward_adds_are_the_most_over_every_index_assignment(e, d, m, padding_idx):
    pad = None if padding_idx is None else padding_idx % e
    most = 0
    for idx in itertools.product(range(e), repeat=m):
        contributions = [(k, col) for k in idx if k != pad for col in range(d)]
        most = max(most, _scatter_adds(contributions, d))
    layer = LAYERS["embedding"](e, d, padding_idx=padding_idx)
    bw = layer.backward((m,), (m, d), 1)
    assert bw.grad_weight["adds"] == most
    assert bw.grad_weight["mults"] == 0
    scaled = LAYERS["embedding"](e, d, padding_idx=padding_idx, scale_grad_by_freq=True).backward((m,), (m, d), 1)
    assert scaled.grad_weight["mults"] == m + m * d  # 1/count per index, then d products per index


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("e,d,n,b", [(2, 2, 2, 2), (3, 1, 3, 2), (2, 3, 1, 3), (1, 2, 3, 1)])
def test_embeddingbag_counts_by_enumeration(mode, e, d, n, b):
    layer = LAYERS["embeddingbag"](e, d, mode=mode)
    r = layer.report((n,), batch=b, training=Training())
    # forward: every bag, every column, a reduction of n terms
    terms = [(bag, col, i) for bag in range(b) for col in range(d) for i in range(n)]
    reductions = len(terms) - b * d
    assert (r.comparisons if mode == "max" else r.adds) == reductions
    assert r.mults == (b * d if mode == "mean" else 0)
    # backward: the most adds over every index assignment (max: every argmax assignment)
    most = 0
    if mode == "max":
        for rows in itertools.product(range(e), repeat=b * d):  # the argmax row of each (bag, column)
            most = max(most, _scatter_adds([(rows[bag * d + col], col) for bag in range(b) for col in range(d)], d))
    else:
        for idx in itertools.product(range(e), repeat=b * n):
            most = max(most, _scatter_adds([(k, col) for k in idx for col in range(d)], d))
    assert r.backward["grad_weight"]["adds"] == most
    assert r.backward["grad_weight"]["mults"] == (b * n + b * n * d if mode == "mean" else 0)
    assert r.backward["grad_input"]["flops"] == 0


# -- symbolic == numeric -----------------------------------------------------------------------

SYMBOLIC = [
    ("embedding", {"num_embeddings": "V", "embedding_dim": "D"}, "T", {"V": 50, "D": 8, "T": 7}),
    ("embedding", {"num_embeddings": 100, "embedding_dim": "D", "scale_grad_by_freq": True}, "S,T", {"D": 4, "S": 3, "T": 5}),
    ("embeddingbag", {"num_embeddings": "V", "embedding_dim": "D", "mode": "mean"}, "N", {"V": 20, "D": 3, "N": 6}),
    ("embeddingbag", {"num_embeddings": "V", "embedding_dim": "D", "mode": "max"}, "N", {"V": 20, "D": 3, "N": 6}),
    ("embeddingbag", {"num_embeddings": 9, "embedding_dim": "D", "mode": "sum", "sparse": True}, "N", {"D": 3, "N": 4}),
    ("adaptiveavgpool2d", {"output_size": "None,3"}, "C,H,W", {"C": 3, "H": 5, "W": 7}),
    ("adaptivemaxpool3d", {"output_size": "1,None,None"}, "C,D,H,W", {"C": 2, "D": 5, "H": 4, "W": 3}),
]


@pytest.mark.parametrize("name,options,text,values", SYMBOLIC, ids=[s[0] + s[2] for s in SYMBOLIC])
def test_symbolic_equals_numeric(name, options, text, values):
    cls = LAYERS[name]
    shape = parse_shape(text)
    symbolic = cls.build(shape, dict(options)).report(shape, batch=sp.Symbol("B"), training=Training(optimizer="adam"))
    numeric_shape = tuple(substitute(v, values) for v in shape)
    opts = {k: (str(values[v]) if isinstance(v, str) and v in values else v) for k, v in options.items()}
    numeric = cls.build(numeric_shape, opts).report(numeric_shape, batch=2, training=Training(optimizer="adam"))
    env = dict(values, B=2)
    assert tuple(substitute(v, env) for v in symbolic.output_shape) == numeric.output_shape
    for key in ("params", "mults", "adds", "comparisons", "flops", "saved_bytes", "training_flops", "training_peak_bytes"):
        assert substitute(getattr(symbolic, key), env) == getattr(numeric, key), key
    for part in ("grad_input", "grad_weight"):
        for key, v in symbolic.backward[part].items():
            assert substitute(v, env) == numeric.backward[part][key], (part, key)


def test_numeric_query_does_not_import_sympy():
    assert_numeric_queries_skip_sympy([
        ["embedding", "--input", "4,16", "--num-embeddings", "100", "--embedding-dim", "8"],
        ["embeddingbag", "--input", "5", "--num-embeddings", "100", "--embedding-dim", "8", "--mode", "max"],
        ["adaptiveavgpool2d", "--input", "3,8,8", "--output-size", "None,2"]])


# -- adaptive pools with None ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["adaptiveavgpool2d", "adaptivemaxpool2d"])
def test_none_keeps_the_input_size_and_counts_as_that_size(name):
    cls = LAYERS[name]
    with_none = cls([None, 3]).report((4, 6, 7), batch=2, training=Training())
    explicit = cls([6, 3]).report((4, 6, 7), batch=2, training=Training())
    assert with_none.output_shape == (4, 6, 3)
    for key in ("mults", "adds", "comparisons", "saved_bytes", "training_flops"):
        assert getattr(with_none, key) == getattr(explicit, key), key
    assert cls.parse_options({"output_size": "None,3"})["output_size"] == (None, 3)
    assert cls.parse_options({"output_size": "none, 2*H"})["output_size"][0] is None


def test_none_in_a_network_file(tmp_path):
    from convcalc.network import evaluate

    net = tmp_path / "net.yaml"
    net.write_text("input: 3,10,12\nlayers:\n  - adaptiveavgpool2d: {output_size: [null, 4]}\n"
                   "  - adaptivemaxpool2d: {output_size: [2, null]}\n")
    rows = evaluate(net).rows
    assert [tuple(r["output_shape"]) for r in rows[-2:]] == [(3, 10, 4), (3, 2, 4)]


# -- bad input ---------------------------------------------------------------------------------

BAD = [
    (("embedding", 10, 4), {"padding_idx": 10}, (5,), "padding_idx", "not within num_embeddings"),
    (("embedding", 10, 4), {"padding_idx": -11}, (5,), "padding_idx", "not within num_embeddings"),
    (("embedding", 0, 4), {}, (5,), "num_embeddings", "positive"),
    (("embedding", 10, 4), {"scale_grad_by_freq": True, "sparse": True}, (5,), "scale_grad_by_freq", "sparse"),
    (("embedding", 10, 4), {"max_norm": 1.0}, (5,), "max_norm", "max_norm"),
    (("embeddingbag", 10, 4), {"mode": "max", "sparse": True}, (5,), "sparse", "max mode"),
    (("embeddingbag", 10, 4), {"mode": "max", "scale_grad_by_freq": True}, (5,), "scale_grad_by_freq", "max mode"),
    (("embeddingbag", 10, 4), {"mode": "median"}, (5,), "mode", "not one of"),
    (("embeddingbag", 10, 4), {}, (5, 3), "input", "expects 1 entry"),
    (("adaptiveavgpool2d", [None, None, 3]), {}, (3, 5, 5), "output_size", "expected 2 values"),
    (("adaptivemaxpool2d", [None, 0]), {}, (3, 5, 5), "output_size", "positive"),
]


@pytest.mark.parametrize("args,kwargs,shape,option,message", BAD, ids=[f"{b[0][0]}-{b[4]}" for b in BAD])
def test_bad_input_is_one_error(args, kwargs, shape, option, message):
    name, *rest = args
    with pytest.raises(ConvcalcError, match=message) as info:
        LAYERS[name](*rest, **kwargs).report(shape)
    assert info.value.option == option


CLI_BAD = [
    (["embedding", "--input", "5", "--num-embeddings", "10", "--embedding-dim", "4", "--padding-idx", "12"],
     "convcalc embedding: --padding-idx:"),
    (["embedding", "--input", "5", "--num-embeddings", "10"], "convcalc embedding: --embedding-dim:"),
    (["embedding", "--input", "5", "--num-embeddings", "10", "--embedding-dim", "4", "--max-norm", "2"],
     "convcalc embedding: --max-norm:"),
    (["embeddingbag", "--input", "5,2", "--num-embeddings", "10", "--embedding-dim", "4"], "convcalc embeddingbag: --input:"),
    (["embeddingbag", "--input", "5", "--num-embeddings", "10", "--embedding-dim", "4", "--mode", "max", "--sparse"],
     "convcalc embeddingbag: --sparse:"),
    (["adaptiveavgpool2d", "--input", "3,8,8", "--output-size", "None,x("], "convcalc adaptiveavgpool2d: --output-size:"),
    (["adaptivemaxpool3d", "--input", "3,8,8,8", "--output-size", "None,2"], "convcalc adaptivemaxpool3d: --output-size:"),
]


@pytest.mark.parametrize("args,prefix", CLI_BAD, ids=[" ".join(a[:1] + a[-2:]) for a, _ in CLI_BAD])
def test_cli_bad_input_one_line_exit_2(args, prefix):
    assert_cli_one_line(args, prefix)
