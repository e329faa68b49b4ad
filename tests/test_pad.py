"""Padding layers (zero, constant, reflection, replication, circular; 1d/2d/3d): against
PyTorch's recording (tests/golden/make_rearrange_golden.py), the backward's adds by enumerating
every output position's source in pure Python, symbolic == numeric substituted, bad input."""

import itertools
import random

import pytest

from _golden_rearrange import CASES, case_id, check, convcalc_refuses, report
from convcalc import LAYERS, ConvcalcError, sizes
from convcalc.cli import main
from convcalc.expr import parse_shape
from convcalc.layers.training import Training

KINDS = ("zero", "constant", "reflection", "replication", "circular")
BRUTE_FORCE = {f"{kind}pad{n}d" for kind in KINDS for n in (1, 2, 3)}
MINE = [c for c in CASES if c["layer"] in BRUTE_FORCE]


def test_the_recording_covers_every_layer_accepted_and_refused():
    for name in BRUTE_FORCE:
        assert any(c["layer"] == name and not convcalc_refuses(c) for c in MINE), name
    for kind in KINDS:
        assert any(c["layer"].startswith(kind) and c["refused"] for c in MINE), kind
    assert any(c.get("inconsistent") for c in MINE) and any(c["batch_involved"] for c in MINE)


@pytest.mark.parametrize("case", [c for c in MINE if convcalc_refuses(c)], ids=case_id)
def test_refused_like_pytorch(case):
    with pytest.raises(ConvcalcError):
        report(case)


@pytest.mark.parametrize("case", [c for c in MINE if not convcalc_refuses(c)], ids=case_id)
def test_matches_pytorch(case):
    check(case)


# -- enumeration ---------------------------------------------------------------------------


def source(kind, L, l, r, o):
    """The input position output o of one dimension copies (None: the fill value)."""
    i = o - l
    if kind in ("zero", "constant"):
        return i if 0 <= i < L else None
    if kind == "reflection":
        while not 0 <= i < L:  # one reflection suffices when |pad| < L
            i = -i if i < 0 else 2 * (L - 1) - i
        return i
    if kind == "replication":
        return min(max(i, 0), L - 1)
    # circular: crop by the negative entries, then wrap the cropped part
    start, cropped = max(-l, 0), L + min(l, 0) + min(r, 0)
    return start + (o - max(l, 0)) % cropped


def enumerated_adds(kind, shape, pads):
    """One sample's dL/dx adds: every output position's source counted, r - 1 per source read r times."""
    m = len(pads) // 2
    pairs = [(pads[2 * j], pads[2 * j + 1]) for j in range(m)][::-1]
    head, tail = shape[: len(shape) - m], shape[len(shape) - m:]
    out = [L + l + r for L, (l, r) in zip(tail, pairs)]
    reads = {}
    for pos in itertools.product(*(range(n) for n in out)):
        src = tuple(source(kind, L, l, r, o) for L, (l, r), o in zip(tail, pairs, pos))
        if None not in src:
            reads[src] = reads.get(src, 0) + 1
    return sizes.prod(head) * sum(n - 1 for n in reads.values()), tuple(head) + tuple(out)


def _valid(kind, shape, pads):
    m = len(pads) // 2
    pairs = [(pads[2 * j], pads[2 * j + 1]) for j in range(m)][::-1]
    for L, (l, r) in zip(shape[len(shape) - m:], pairs):
        cropped = L + min(l, 0) + min(r, 0)
        if L + l + r < 1 or cropped < 0:
            return False
        if kind == "reflection" and not (l < L and r < L):
            return False
        if kind == "circular" and not (l <= cropped and r <= cropped and cropped >= 1):
            return False
    return True


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", (1, 2, 3))
def test_backward_adds_by_enumeration(kind, n):
    rng = random.Random(f"{kind}{n}")
    checked = 0
    while checked < 40:
        shape = tuple(rng.randint(1, 6) for _ in range(n + 1))
        pads = [rng.randint(-3, 4) for _ in range(2 * n)]
        if not _valid(kind, shape, pads):
            continue
        adds, out = enumerated_adds(kind, shape, pads)
        cls = LAYERS[f"{kind}pad{n}d"]
        layer = cls(pads, 1.5) if kind == "constant" else cls(pads)
        batch = rng.randint(1, 3)
        r = layer.report(shape, batch=batch, training=Training())
        assert r.output_shape == out
        assert r.flops == 0
        assert r.backward["grad_input"]["adds"] == batch * adds, (kind, shape, pads)
        if kind in ("zero", "constant"):
            assert adds == 0
        checked += 1


def test_a_short_tuple_pads_the_trailing_dimensions_only():
    assert LAYERS["zeropad2d"]((1, 2)).report((3, 4, 5)).output_shape == (3, 4, 8)
    assert LAYERS["reflectionpad2d"]((1, 2)).report((4, 5)).output_shape == (4, 8)
    assert LAYERS["zeropad1d"]((1, 1, 2, 2)).report((3, 4, 5)).output_shape == (3, 8, 7)


def test_reflection_and_replication_save_the_input_the_others_nothing():
    shape = (3, 5, 6)
    for name, saved in [("reflectionpad2d", 2 * 90 * 4), ("replicationpad2d", 2 * 90 * 4), ("circularpad2d", 0),
                        ("zeropad2d", 0)]:
        assert LAYERS[name](1).report(shape, batch=2, training=Training()).saved_bytes == saved


# -- symbols -------------------------------------------------------------------------------

SYMBOLIC = [
    ("zeropad2d", (1, 2, -1, 3), "C,H,W", {"C": 3, "H": 4, "W": 5}),
    ("constantpad1d", 2, "C,L", {"C": 3, "L": 7}),
    ("reflectionpad2d", (1, 2, 3, 0), "C,H,W", {"C": 2, "H": 5, "W": 6}),
    ("reflectionpad1d", 3, "C,L", {"C": 2, "L": 4}),
    ("replicationpad2d", (1, 2, -1, 3), "C,H,W", {"C": 2, "H": 5, "W": 6}),
    ("replicationpad3d", 1, "C,D,H,W", {"C": 2, "D": 3, "H": 5, "W": 2}),
    ("circularpad2d", (1, 2, 2, 0), "C,H,W", {"C": 2, "H": 5, "W": 6}),
    ("circularpad1d", (-1, 1), "C,L", {"C": 2, "L": 5}),
]


@pytest.mark.parametrize("name,padding,shape,values", SYMBOLIC, ids=[f"{s[0]}-{s[1]}" for s in SYMBOLIC])
def test_symbolic_equals_numeric_substituted(name, padding, shape, values):
    cls = LAYERS[name]
    layer = cls(padding, 0.5) if name.startswith("constant") else cls(padding)
    general = layer.report(parse_shape(shape), batch=2, training=Training())
    numeric = layer.report(tuple(values[v] for v in shape.split(",")), batch=2, training=Training())
    sub = lambda x: sizes.substitute(x, values)  # noqa: E731
    assert tuple(sub(v) for v in general.output_shape) == numeric.output_shape
    for key in ("adds", "flops", "activation_bytes", "saved_bytes", "training_flops"):
        assert sub(getattr(general, key)) == getattr(numeric, key), key
    assert sub(general.backward["grad_input"]["adds"]) == numeric.backward["grad_input"]["adds"]


def test_symbolic_conditions_are_stated():
    r = LAYERS["reflectionpad1d"](3).report(parse_shape("C,L"))
    assert any("3 < L" in n for n in r.notes)
    r = LAYERS["zeropad1d"]((-2, 1)).report(parse_shape("C,L"))
    assert any("2 <= L" in n for n in r.notes)
    assert not LAYERS["zeropad1d"]((-1, 1)).report(parse_shape("C,L")).notes  # 1 <= L always


# -- bad input -----------------------------------------------------------------------------

BAD = [
    ("zeropad2d", (1, 2, 3), (3, 4, 4), "divisible by 2"),
    ("zeropad2d", 1, (5,), "pads 2 dimensions but the input has 1"),
    ("zeropad1d", (-5, 0), (3, 4), "crops more than the input"),
    ("zeropad1d", (-4, 0), (3, 4), "output size 0 .* not positive"),
    ("reflectionpad2d", 4, (3, 4, 5), "less than the corresponding input dimension"),
    ("reflectionpad1d", (-5, 1), (3, 4), "not positive"),
    ("reflectionpad2d", 2, (2, 3, 4, 5), "padding size 4 is not supported for 5D input"),
    ("replicationpad1d", 1, (1, 3, 3, 4), "padding size 2 is not supported for 5D input"),
    ("circularpad1d", 5, (3, 4), "wrapping around more than once"),
    ("circularpad2d", 1, (2, 3, 4, 4), "expected 3D or 4D input"),
    ("circularpad1d", (-3, 4), (3, 4), "uninitialised memory"),
    ("circularpad1d", (-5, 4), (3, 4), "crops more than the input"),
]


@pytest.mark.parametrize("name,padding,shape,match", BAD, ids=[f"{b[0]}-{b[1]}-{b[2]}" for b in BAD])
def test_bad_input_refused(name, padding, shape, match):
    with pytest.raises(ConvcalcError, match=match):
        LAYERS[name](padding).report(shape)


@pytest.mark.parametrize("value", ["nan", "abc(", "1,2"])
def test_bad_constant_value(value):
    with pytest.raises(ConvcalcError, match="value"):
        LAYERS["constantpad1d"](1, value)


@pytest.mark.parametrize("args,option", [
    (["reflectionpad2d", "--input", "3,4,5", "--padding", "4"], "--padding"),
    (["zeropad2d", "--input", "3,4,5", "--padding", "1,2,3"], "--padding"),
    (["zeropad2d", "--input", "3,4,5", "--padding", "__import__('os')"], "--padding"),
    (["constantpad1d", "--input", "3,4", "--padding", "1", "--value", "x"], "--value"),
    (["circularpad2d", "--input", "2,3,4,4", "--padding", "1"], "--input"),
])
def test_cli_one_line_exit_2(capsys, args, option):
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"convcalc {args[0]}: {option}: ")
