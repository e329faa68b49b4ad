"""pixelshuffle, pixelunshuffle, channelshuffle, unflatten, unfold, fold: against PyTorch's
recording (tests/golden/make_rearrange_golden.py), by enumeration of the positions in pure
Python, symbolic == numeric substituted, and bad input refused in one line."""

import itertools
import random

import pytest

from _golden_rearrange import CASES, case_id, check, convcalc_refuses, report
from convcalc import LAYERS, ConvcalcError, sizes
from convcalc.cli import main
from convcalc.expr import parse_shape
from convcalc.layers.training import Training

BRUTE_FORCE = {"pixelshuffle", "pixelunshuffle", "channelshuffle", "unflatten", "unfold", "fold"}
MINE = [c for c in CASES if c["layer"] in BRUTE_FORCE]


def test_the_recording_covers_every_layer_accepted_and_refused():
    for name in BRUTE_FORCE:
        assert any(c["layer"] == name and not convcalc_refuses(c) for c in MINE), name
        assert any(c["layer"] == name and c["refused"] for c in MINE), name


@pytest.mark.parametrize("case", [c for c in MINE if convcalc_refuses(c)], ids=case_id)
def test_refused_like_pytorch(case):
    with pytest.raises(ConvcalcError):
        report(case)


@pytest.mark.parametrize("case", [c for c in MINE if not convcalc_refuses(c)], ids=case_id)
def test_matches_pytorch(case):
    check(case)


# -- enumeration ---------------------------------------------------------------------------


def _sliding(size, k, d, p, s):
    """Per block start o and tap t the input position o*s - p + t*d (possibly on the padding)."""
    n = (size + 2 * p - d * (k - 1) - 1) // s + 1
    return n, [[o * s - p + t * d for t in range(k)] for o in range(n)]


def _im2col_reads(C, H, W, k, d, p, s):
    """How many patch entries read each real input position (c, h, w): a dict."""
    nh, rows = _sliding(H, k[0], d[0], p[0], s[0])
    nw, cols = _sliding(W, k[1], d[1], p[1], s[1])
    reads = {}
    for c, bh, bw in itertools.product(range(C), range(nh), range(nw)):
        for th, tw in itertools.product(range(k[0]), range(k[1])):
            h, w = rows[bh][th], cols[bw][tw]
            if 0 <= h < H and 0 <= w < W:
                reads[c, h, w] = reads.get((c, h, w), 0) + 1
    return nh * nw, reads


def _random_window(rng):
    return ([rng.randint(1, 4) for _ in range(2)], [rng.randint(1, 3) for _ in range(2)],
            [rng.randint(0, 2) for _ in range(2)], [rng.randint(1, 3) for _ in range(2)])


def test_unfold_and_fold_by_enumeration():
    """unfold's dL/dx and fold's forward sum the entries landing on one position: r - 1 adds
    where r land; the entries on real positions are the connections."""
    rng = random.Random(7)
    checked = 0
    for _ in range(300):
        k, d, p, s = _random_window(rng)
        C, H, W = rng.randint(1, 3), rng.randint(1, 9), rng.randint(1, 9)
        nh = (H + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
        nw = (W + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
        if nh < 1 or nw < 1:
            continue
        blocks, reads = _im2col_reads(C, H, W, k, d, p, s)
        adds = sum(r - 1 for r in reads.values())
        connections = sum(reads.values())
        batch = rng.randint(1, 3)
        unfold = LAYERS["unfold"](k, dilation=d, padding=p, stride=s).report((C, H, W), batch=batch, training=Training())
        assert unfold.output_shape == (C * k[0] * k[1], blocks)
        assert unfold.flops == 0 and unfold.connections == connections
        assert unfold.backward["grad_input"]["adds"] == batch * adds
        fold = LAYERS["fold"]((H, W), k, dilation=d, padding=p, stride=s).report((C * k[0] * k[1], blocks), batch=batch,
                                                                                 training=Training())
        assert fold.output_shape == (C, H, W)
        assert fold.adds == batch * adds and fold.flops == batch * adds and fold.connections == connections
        assert fold.backward["total"]["flops"] == 0
        checked += 1
    assert checked > 150


def test_pixel_shuffles_and_channel_shuffle_are_permutations():
    """Every output element reads exactly one input element and every input element is read
    once (PyTorch's index formulas enumerated): nothing to add, forward or backward."""
    for r, (C, H, W) in itertools.product((1, 2, 3), [(1, 1, 1), (2, 3, 4)]):
        cin = C * r * r
        read = [(c * r * r + (h % r) * r + (w % r), h // r, w // r) for c in range(C) for h in range(H * r) for w in range(W * r)]
        assert sorted(read) == sorted(itertools.product(range(cin), range(H), range(W)))
        up = LAYERS["pixelshuffle"](r).report((cin, H, W), batch=2, training=Training())
        assert up.output_shape == (C, H * r, W * r) and up.flops == 0 and up.backward["total"]["flops"] == 0
        down = LAYERS["pixelunshuffle"](r).report((C, H * r, W * r), batch=2, training=Training())
        assert down.output_shape == (cin, H, W) and down.flops == 0 and down.backward["total"]["flops"] == 0
    for g, per in itertools.product((1, 2, 3), (1, 2, 4)):
        C = g * per
        read = [(c % g) * per + c // g for c in range(C)]  # output channel c reads input channel ...
        assert sorted(read) == list(range(C))
        shuffled = LAYERS["channelshuffle"](g).report((C, 3), training=Training())
        assert shuffled.output_shape == (C, 3) and shuffled.flops == 0 and shuffled.saved_bytes == 0


def test_unflatten_keeps_every_element():
    for sizes_, n, expected in [((3, -1), 48, (3, 16)), ((-1, 4), 48, (12, 4)), ((2, 3, 8), 48, (2, 3, 8)), ((48,), 48, (48,))]:
        r = LAYERS["unflatten"](1, sizes_).report((n, 7), training=Training())
        assert r.output_shape == expected + (7,)
        assert sizes.prod(r.output_shape) == n * 7 and r.flops == 0 and r.saved_bytes == 0
    assert LAYERS["unflatten"](-1, (-1, 7)).report((5, 14)).output_shape == (5, 2, 7)


# -- symbols -------------------------------------------------------------------------------

SYMBOLIC = [
    ("pixelshuffle", {"upscale_factor": 2}, "C,H,W", {"C": 12, "H": 5, "W": 3}),
    ("pixelshuffle", {"upscale_factor": 3}, "18,H,W", {"H": 2, "W": 7}),
    ("pixelunshuffle", {"downscale_factor": 2}, "C,H,W", {"C": 3, "H": 8, "W": 6}),
    ("channelshuffle", {"groups": 4}, "C,H,W", {"C": 8, "H": 5, "W": 3}),
    ("unflatten", {"dim": 1, "unflattened_size": (4, -1)}, "C,L", {"C": 12, "L": 5}),
    ("unflatten", {"dim": 2, "unflattened_size": (2, 3)}, "C,L", {"C": 12, "L": 6}),
    ("unfold", {"kernel_size": 3, "padding": 1, "stride": 2}, "C,H,W", {"C": 3, "H": 9, "W": 6}),
    ("unfold", {"kernel_size": (2, 3)}, "C,H,W", {"C": 2, "H": 4, "W": 7}),
    ("fold", {"output_size": (4, 5), "kernel_size": 2}, "C,L", {"C": 8, "L": 12}),
    ("fold", {"output_size": 6, "kernel_size": 3, "stride": 2, "padding": 1}, "C,L", {"C": 18, "L": 9}),
]


@pytest.mark.parametrize("name,kwargs,shape,values", SYMBOLIC, ids=[f"{s[0]}-{s[2]}" for s in SYMBOLIC])
def test_symbolic_equals_numeric_substituted(name, kwargs, shape, values):
    layer = LAYERS[name](**kwargs)
    general = layer.report(parse_shape(shape), batch=2, training=Training())
    numeric = layer.report(tuple(values[v] if v in values else int(v) for v in shape.split(",")), batch=2, training=Training())
    sub = lambda x: sizes.substitute(x, values)  # noqa: E731
    assert tuple(sub(v) for v in general.output_shape) == numeric.output_shape
    for key in ("mults", "adds", "flops", "connections", "activation_bytes", "saved_bytes", "training_flops"):
        g = getattr(general, key)
        if g is not None:
            assert sub(g) == getattr(numeric, key), key
    assert sub(general.backward["grad_input"]["adds"]) == numeric.backward["grad_input"]["adds"]


def test_symbolic_divisibility_is_stated_not_assumed_away():
    r = LAYERS["pixelshuffle"](2).report(parse_shape("C,H,W"))
    assert sizes.to_text(r.output_shape[0]) == "C/4"
    assert any("4 divides C" in n for n in r.notes)
    r = LAYERS["fold"]((4, 4), 2).report(parse_shape("C,L"))
    assert any("L = 9" in n for n in r.notes) and any("4 divides C" in n for n in r.notes)


# -- bad input -----------------------------------------------------------------------------

BAD = [
    ("pixelshuffle", {"upscale_factor": 2}, (7, 3, 3), "divisible by upscale_factor\\*\\*2: 7 is not divisible by 4"),
    ("pixelshuffle", {"upscale_factor": 0}, None, "positive"),
    ("pixelshuffle", {"upscale_factor": 2}, (8, 3), "at least 3 entries"),
    ("pixelunshuffle", {"downscale_factor": 2}, (3, 5, 6), "height must be divisible by downscale_factor: 5"),
    ("channelshuffle", {"groups": 3}, (4, 3), "divisible by groups: 4 is not divisible by 3"),
    ("channelshuffle", {"groups": 2}, (4,), "at least 2 entries"),
    ("unflatten", {"dim": 1, "unflattened_size": (4, -1)}, (6, 6), "don't multiply up"),
    ("unflatten", {"dim": 1, "unflattened_size": (2, -1, -1)}, None, "only one dimension can be inferred"),
    ("unflatten", {"dim": 1, "unflattened_size": ()}, None, "non-empty"),
    ("unflatten", {"dim": 1, "unflattened_size": (-2, -3)}, None, "invalid shape dimension -2"),
    ("unflatten", {"dim": 0, "unflattened_size": (1, 2)}, (6, 3), "batch dimension"),
    ("unflatten", {"dim": 3, "unflattened_size": (1, 3)}, (6, 3), "out of range"),
    ("unfold", {"kernel_size": 6}, (3, 5, 5), "sliding blocks in dimension 1 are 0, but must be at least one"),
    ("unfold", {"kernel_size": 3, "padding": -1}, None, "non-negative"),
    ("unfold", {"kernel_size": (2, 3, 4)}, None, "kernel_size equals to 2"),
    ("unfold", {"kernel_size": 2}, (3, 5), "expects 3 entries"),
    ("fold", {"output_size": (4, 4), "kernel_size": 2}, (12, 8), "sliding blocks 9, but got 8"),
    ("fold", {"output_size": (4, 4), "kernel_size": 2}, (13, 9), "product of kernel_size: 13 is not divisible by 4"),
    ("fold", {"output_size": (4, 4, 4), "kernel_size": 2}, None, "output_size equals to 2"),
]


@pytest.mark.parametrize("name,kwargs,shape,match", BAD, ids=[f"{b[0]}-{b[3][:20]}" for b in BAD])
def test_bad_input_refused(name, kwargs, shape, match):
    with pytest.raises(ConvcalcError, match=match):
        LAYERS[name](**kwargs).report(shape)


@pytest.mark.parametrize("args,option", [
    (["pixelshuffle", "--input", "7,3,3", "--upscale-factor", "2"], "--input"),
    (["unfold", "--input", "3,5,5", "--kernel-size", "3", "--padding", "-1"], "--padding"),
    (["unflatten", "--input", "6,6", "--dim", "1", "--unflattened-size", "4,-1"], "--unflattened-size"),
    (["unflatten", "--input", "6,6", "--dim", "1", "--unflattened-size", "abc("], "--unflattened-size"),
    (["fold", "--input", "12,8", "--output-size", "4", "--kernel-size", "2"], "--input"),
])
def test_cli_one_line_exit_2(capsys, args, option):
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"convcalc {args[0]}: {option}: ")
