"""Power-average pooling (lppool1d/2d/3d) and fractional max pooling (fractionalmaxpool2d/3d).

PyTorch's record (tests/golden/embedding_backward_golden.json); counts by enumerating windows and
taps in pure Python, with the per-op costs of lp_pool's ops written out by hand; the fractional
pool's backward bound checked against PyTorch's window placements for many random samples;
symbolic == numeric substituted; bad input -> one ConvcalcError, one line on stderr, exit 2.
"""

import itertools
import math
import random

import pytest
import sympy as sp

from convcalc import LAYERS, ConvcalcError
from _family_golden import (assert_cli_one_line, assert_matches_golden, assert_numeric_queries_skip_sympy, assert_refused,
                           build, case_id, cases)
from convcalc.expr import parse_shape
from convcalc.layers.training import Training
from convcalc.sizes import substitute

BRUTE_FORCE = {"lppool1d", "lppool2d", "lppool3d", "fractionalmaxpool2d", "fractionalmaxpool3d"}

CASES = [c for c in cases("embedding") if c["layer"] in BRUTE_FORCE]
#: PyTorch returns an empty output here (an output size of 0); convcalc refuses outputs below 1
EMPTY = [c for c in CASES if not c["refused"] and 0 in c["output_shape"]]



def test_golden_covers_every_layer_and_refusals():
    assert {c["layer"] for c in CASES} == BRUTE_FORCE
    assert {c["layer"] for c in CASES if c["refused"]} == BRUTE_FORCE


@pytest.mark.parametrize("case", [c for c in CASES if c["refused"]], ids=case_id)
def test_refused_as_pytorch_refuses(case):
    assert_refused(case)


@pytest.mark.parametrize("case", EMPTY, ids=case_id)
def test_an_empty_output_is_refused(case):
    with pytest.raises(ConvcalcError, match="not positive"):
        build(case).report(tuple(case["input"]), batch=case["batch"])


@pytest.mark.parametrize("case", [c for c in CASES if not c["refused"] and c not in EMPTY], ids=case_id)
def test_matches_pytorch(case):
    _, runs = assert_matches_golden(case)
    assert len(case["params"]) == 0 and not case["buffers"]
    assert all(run["forward_flops"] == 0 and run["backward_flops"] == 0 for run, _ in runs)


# -- lppool by enumeration ----------------------------------------------------------------------

#: x**e per element, by hand: (mults, transcendentals). Integer e: |e| - 1 products (and a
#: division when negative); e = 0 is ones and e = 1 a copy; anything else a transcendental.
POW = {1: (0, 0), 2: (1, 0), 3: (2, 0), 4: (3, 0), -1: (1, 0), -2: (2, 0), 0: (0, 0)}


def pow_by_hand(e):
    return POW.get(e, (0, 1)) if e == int(e) else (0, 1)


def _windows(L, k, s, ceil_mode):
    """Start of every window of one dimension (padding 0), PyTorch's output-size rule."""
    if ceil_mode:
        n = -(-(L - k) // s) + 1
        if (n - 1) * s >= L:
            n -= 1
    else:
        n = (L - k) // s + 1
    return [o * s for o in range(n)]


def lppool_by_enumeration(p, c, dims, ks, ss, ceil_mode, batch):
    """(forward, backward) dicts: every window's real taps enumerated, each op's cost by hand."""
    starts = [_windows(L, k, s, ceil_mode) for L, k, s in zip(dims, ks, ss)]
    n_in = batch * c * math.prod(dims)
    n_out = batch * c * math.prod(len(w) for w in starts)
    taps_total, hits = 0, {}
    for origin in itertools.product(*starts):
        for offs in itertools.product(*[range(k) for k in ks]):
            pos = tuple(o + t for o, t in zip(origin, offs))
            if all(q < L for q, L in zip(pos, dims)):
                taps_total += 1
                hits[pos] = hits.get(pos, 0) + 1
    taps_total *= batch * c
    pm, pt = pow_by_hand(p)
    rm, rt = pow_by_hand(1.0 / p)
    forward = {"mults": pm * n_in + n_out + 2 * n_out + rm * n_out,  # pow, the average's division, sign*relu, *k, root
               "adds": taps_total - n_out, "comparisons": 4 * n_out, "transcendentals": pt * n_in + rt * n_out}
    bm, bt = pow_by_hand(1.0 / p - 1)
    xm, xt = pow_by_hand(p - 1)
    scatter = batch * c * sum(r - 1 for r in hits.values())
    backward = {"mults": (bm + 2) * n_out + n_out + 2 * n_out + n_out + n_out + (xm + 2) * n_in,
                "adds": n_out + scatter, "comparisons": 3 * n_out, "transcendentals": bt * n_out + xt * n_in}
    return forward, backward


LP = [(p, n, seed) for p in (1, 2, 3, 4, 0.5, 1.5, -1, 2.5) for n in (1, 2, 3) for seed in range(2)]


@pytest.mark.parametrize("p,n,seed", LP)
def test_lppool_counts_by_enumeration(p, n, seed):
    rng = random.Random(hash((p, n, seed)) & 0xFFFF)
    ks = [rng.randint(1, 3) for _ in range(n)]
    ss = [rng.randint(1, 3) for _ in range(n)]
    dims = [k + rng.randint(0, 5) for k in ks]
    ceil_mode, c, batch = rng.random() < 0.5, rng.randint(1, 3), rng.randint(1, 2)
    forward, backward = lppool_by_enumeration(p, c, dims, ks, ss, ceil_mode, batch)
    layer = LAYERS[f"lppool{n}d"](p, ks, ss, ceil_mode=ceil_mode)
    r = layer.report(tuple([c] + dims), batch=batch, training=Training())
    assert {k: getattr(r, k) for k in forward} == forward
    assert {k: r.backward["grad_input"][k] for k in backward} == backward


# -- fractional max pooling by enumeration -----------------------------------------------------


def pytorch_starts(L, k, n, u):
    """PyTorch's generate_intervals: window starts of one dimension for the sample u in [0, 1)."""
    if n == 1:
        return [L - k]
    alpha = (L - k) / (n - 1)
    return [int((i + u) * alpha) - int(u * alpha) for i in range(n - 1)] + [L - k]


def fewest_points(starts, k):
    """The fewest positions meeting every window [s, s + k) (greedy on sorted right ends)."""
    count, point = 0, None
    for s in sorted(starts, key=lambda s: s + k):
        if point is None or not s <= point < s + k:
            count, point = count + 1, s + k - 1
    return count


FRACTIONAL = [(n, seed) for n in (2, 3) for seed in range(12)]


@pytest.mark.parametrize("n,seed", FRACTIONAL)
def test_fractional_counts_and_backward_bound_by_enumeration(n, seed):
    rng = random.Random(1000 * n + seed)
    ks = [rng.randint(1, 3) for _ in range(n)]
    outs = [rng.randint(1, 6) for _ in range(n)]
    dims = [o + k - 1 + (n == 3) + rng.randint(0, 6) for o, k in zip(outs, ks)]
    c, batch = rng.randint(1, 2), rng.randint(1, 2)
    layer = LAYERS[f"fractionalmaxpool{n}d"](ks, output_size=outs)
    r = layer.report(tuple([c] + dims), batch=batch, training=Training())
    bound = r.backward["grad_input"]["adds"]
    most = 0
    for u in [rng.random() for _ in range(200)] + [0.0, 0.5, 0.999999]:
        per_dim = [pytorch_starts(L, k, o, u) for L, k, o in zip(dims, ks, outs)]
        for starts, L, k in zip(per_dim, dims, ks):
            assert all(0 <= s and s + k <= L for s in starts)  # every window inside the input
        comparisons = batch * c * sum(math.prod(ks) - 1 for _ in itertools.product(*per_dim))
        assert r.comparisons == comparisons
        most = max(most, batch * c * (math.prod(outs) - math.prod(fewest_points(s, k) for s, k in zip(per_dim, ks))))
    assert most <= bound  # a bound over every sample
    assert r.backward["grad_input"]["mults"] == 0 and r.backward["grad_input"]["comparisons"] == 0


def test_fractional_output_ratio_is_pythons_float_product():
    layer = LAYERS["fractionalmaxpool2d"](2, output_ratio=(0.29, 0.5))
    assert layer.report((1, 100, 9)).output_shape == (1, int(100 * 0.29), 4) == (1, 28, 4)


# -- symbolic == numeric -----------------------------------------------------------------------

SYMBOLIC = [
    ("lppool1d", {"norm_type": 2, "kernel_size": 3, "stride": 2}, "C,L", {"C": 3, "L": 11}),
    ("lppool2d", {"norm_type": 3, "kernel_size": 2, "ceil_mode": True}, "C,H,W", {"C": 2, "H": 7, "W": 6}),
    ("lppool3d", {"norm_type": 1.5, "kernel_size": 2}, "C,D,H,W", {"C": 2, "D": 4, "H": 5, "W": 6}),
    ("fractionalmaxpool2d", {"kernel_size": 2, "output_size": "4,3"}, "C,H,W", {"C": 3, "H": 9, "W": 7}),
    ("fractionalmaxpool2d", {"kernel_size": 3, "output_ratio": "0.5"}, "C,H,W", {"C": 3, "H": 12, "W": 10}),
    ("fractionalmaxpool3d", {"kernel_size": 2, "output_size": 3}, "C,D,H,W", {"C": 2, "D": 6, "H": 5, "W": 7}),
]


@pytest.mark.parametrize("name,options,text,values", SYMBOLIC, ids=[s[0] + s[2] for s in SYMBOLIC])
def test_symbolic_equals_numeric(name, options, text, values):
    cls = LAYERS[name]
    shape = parse_shape(text)
    options = {k: (LAYERS[name].parse_options({k: v})[k] if isinstance(v, str) else v) for k, v in options.items()}
    symbolic = cls.build(shape, dict(options)).report(shape, batch=sp.Symbol("B"), training=Training(optimizer="adam"))
    numeric_shape = tuple(substitute(v, values) for v in shape)
    numeric = cls.build(numeric_shape, dict(options)).report(numeric_shape, batch=2, training=Training(optimizer="adam"))
    env = dict(values, B=2)
    assert tuple(substitute(v, env) for v in symbolic.output_shape) == numeric.output_shape
    for key in ("mults", "adds", "comparisons", "transcendentals", "flops", "saved_bytes", "training_flops"):
        assert substitute(getattr(symbolic, key), env) == getattr(numeric, key), key
    for key, v in symbolic.backward["grad_input"].items():
        assert substitute(v, env) == numeric.backward["grad_input"][key], key


def test_numeric_query_does_not_import_sympy():
    assert_numeric_queries_skip_sympy([
        ["lppool2d", "--input", "4,9,9", "--norm-type", "2", "--kernel-size", "3", "--ceil-mode"],
        ["fractionalmaxpool2d", "--input", "4,9,9", "--kernel-size", "2", "--output-ratio", "0.5,0.7"]])


# -- bad input ---------------------------------------------------------------------------------

BAD = [
    (("lppool2d", 0, 2), {}, (2, 4, 4), "norm_type", "must not be 0"),
    (("lppool2d", "inf", 2), {}, (2, 4, 4), "norm_type", "max pooling"),
    (("lppool1d", 2, 5), {}, (2, 4), "input", "not positive"),
    (("lppool3d", 2, 2), {}, (2, 4, 1, 4), "kernel_size", "larger than the input"),
    (("fractionalmaxpool2d", 2), {}, (2, 5, 5), "output_size", "either an output size, or a pooling ratio"),
    (("fractionalmaxpool2d", 2), {"output_size": 3, "output_ratio": 0.5}, (2, 5, 5), "output_ratio", "only one of"),
    (("fractionalmaxpool2d", 2), {"output_ratio": 1.5}, (2, 5, 5), "output_ratio", "between 0 and 1"),
    (("fractionalmaxpool2d", 2), {"output_size": (6, 2)}, (3, 6, 5), "kernel_size", "pool height 2 too large"),
    (("fractionalmaxpool3d", 3), {"output_size": 2}, (3, 6, 6, 3), "kernel_size", "pool width 3 too large"),
]


@pytest.mark.parametrize("args,kwargs,shape,option,message", BAD, ids=[f"{b[0][0]}-{b[4]}" for b in BAD])
def test_bad_input_is_one_error(args, kwargs, shape, option, message):
    name, *rest = args
    with pytest.raises(ConvcalcError, match=message) as info:
        LAYERS[name](*rest, **kwargs).report(shape)
    assert info.value.option == option


CLI_BAD = [
    (["lppool2d", "--input", "2,8,8", "--norm-type", "0", "--kernel-size", "2"], "convcalc lppool2d: --norm-type:"),
    (["lppool2d", "--input", "2,8,8", "--norm-type", "abc", "--kernel-size", "2"], "convcalc lppool2d: --norm-type:"),
    (["lppool1d", "--input", "2,8", "--kernel-size", "2"], "convcalc lppool1d: --norm-type:"),
    (["fractionalmaxpool2d", "--input", "2,8,8", "--kernel-size", "2"], "convcalc fractionalmaxpool2d: --output-size:"),
    (["fractionalmaxpool2d", "--input", "2,8,8", "--kernel-size", "2", "--output-ratio", "2"],
     "convcalc fractionalmaxpool2d: --output-ratio:"),
    (["fractionalmaxpool2d", "--input", "2,8,8", "--kernel-size", "2", "--output-ratio", "0.5,x"],
     "convcalc fractionalmaxpool2d: --output-ratio:"),
    (["fractionalmaxpool3d", "--input", "2,8,8,8", "--kernel-size", "4", "--output-size", "6"],
     "convcalc fractionalmaxpool3d: --kernel-size:"),
]


@pytest.mark.parametrize("args,prefix", CLI_BAD, ids=[" ".join(a[:1] + a[-2:]) for a, _ in CLI_BAD])
def test_cli_bad_input_one_line_exit_2(args, prefix):
    assert_cli_one_line(args, prefix)
