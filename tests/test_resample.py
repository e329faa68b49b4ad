"""upsample and interpolate: against PyTorch's recorded runs (tests/golden/resample_backward_golden.json),
by brute force (every output element's taps enumerated with PyTorch's source-index formulas, the
kernels' products and sums counted one by one), symbolic == numeric, and bad input."""

from __future__ import annotations

import itertools
import json
import math
import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from convcalc import sizes
from convcalc.cli import main
from convcalc.errors import ConvcalcError
from convcalc.expr import parse_shape
from convcalc.layers.registry import LAYERS
from convcalc.layers.training import Training

BRUTE_FORCE = {"upsample", "interpolate"}

GOLDEN = json.loads((Path(__file__).parent / "golden" / "resample_backward_golden.json").read_text())["cases"]
ARGS = ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias")
LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}


def build(case: dict):
    kwargs = {k: case[k] for k in ARGS if k in case}
    for k in ("size", "scale_factor"):
        if isinstance(kwargs.get(k), list):
            kwargs[k] = tuple(kwargs[k])
    return LAYERS[case["layer"]](**kwargs)


def report(case: dict):
    return build(case).report(tuple(case["input"]), batch=case["batch"], training=Training())


@pytest.mark.parametrize("case", GOLDEN, ids=[f"{i}-{c['layer']}-{c['mode']}" for i, c in enumerate(GOLDEN)])
def test_against_pytorch(case):
    if case.get("mode") == "area" or (case.get("antialias") and not case["refused"]):
        # PyTorch runs these; convcalc refuses them on purpose (area is adaptive average pooling,
        # antialias's taps are not counted)
        with pytest.raises(ConvcalcError, match="adaptiveavgpool|antialias"):
            report(case)
        return
    if case["refused"]:
        with pytest.raises(ConvcalcError):
            report(case)
        return
    r = report(case)
    assert list(r.output_shape) == case["output_shape"]
    assert r.params == case["params"] == 0 and r.buffers == case["buffers"]
    assert r.macs * 2 == case["forward_flops"]
    assert r.backward["total"]["macs"] * 2 == case["backward_flops"]
    assert r.saved_bytes == case["saved_activation_bytes"]
    # the input elements dL/dy reaches: C*prod(r) = taps*C*prod(out) - adds (batch 1)
    layer, shape = build(case), tuple(case["input"])
    bw = layer.backward(shape, tuple(case["output_shape"]), 1)
    taps = layer.taps_per_dim ** (len(shape) - 1)
    reached = taps * math.prod(case["output_shape"]) - bw.grad_input["adds"]
    if case["mode"] in ("nearest", "nearest-exact"):
        assert reached == case["grad_nonzero"]  # every read element gets dL/dy = 1 exactly
    else:
        assert reached >= case["grad_nonzero"]  # a tap may carry weight 0


def test_golden_covers_every_mode_and_refusal():
    accepted = {c["mode"] for c in GOLDEN if not c["refused"]}
    assert {"nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear"} <= accepted
    assert sum(c["refused"] for c in GOLDEN) >= 40
    # cases where some input element is never read (scale 1.2 on 9 inputs; downsampling)
    assert any(not c["refused"] and c["grad_nonzero"] < math.prod(c["input"]) for c in GOLDEN if c["mode"] == "nearest")


# -- brute force: PyTorch's index formulas (UpSample.h, float32 as the CPU kernels compute them) --


def f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def scales_value(scale, L, n):
    return f32(1.0 / scale) if scale is not None and scale > 0 else f32(f32(L) / f32(n))


def taps_of(mode, L, n, o, align, scale):
    """One dimension: the input positions output o reads (nearest_idx / nearest_exact_idx /
    compute_source_index_and_lambda / the cubic floor with its 4 clamped taps)."""
    if mode == "nearest":
        if n == L:
            return [o]
        if n == 2 * L:
            return [o // 2]
        return [min(math.floor(f32(f32(o) * scales_value(scale, L, n))), L - 1)]
    if mode == "nearest-exact":
        return [min(math.floor(f32((o + 0.5) * scales_value(scale, L, n))), L - 1)]
    if align:
        ratio = f32(f32(L - 1) / f32(n - 1)) if n > 1 else 0.0
        src = f32(ratio * o)  # area_pixel_compute_source_index, align_corners
    else:
        ratio = scales_value(scale, L, n)
        src = f32(f32(ratio * f32(o + 0.5)) - 0.5)
    if mode == "bicubic":  # cubic: no clamp of the source index, taps clamped to the border
        i = math.floor(src)
        return [min(max(i - 1 + j, 0), L - 1) for j in range(4)]
    if n == L:
        return [o, o]
    src = max(src, 0.0)
    i0 = min(math.floor(src), L - 1)
    return [i0, i0 + 1 if i0 < L - 1 else i0]


def interpolate_ops(d: int, k: int) -> tuple[int, int]:
    """Interpolate<d>::eval walked: (mults, adds) of one output element."""
    if d == 0:
        return 0, 0
    m, a = 0, 0
    for j in range(k):
        im, ia = interpolate_ops(d - 1, k)
        m, a = m + im + 1, a + ia + (1 if j else 0)  # t * wts; output += (after the first)
    return m, a


def brute(mode, shape, out, align, scales):
    """Forward and backward counts of one sample by enumeration of every output element."""
    C, d = shape[0], len(shape) - 1
    k = 1 if mode.startswith("nearest") else 4 if mode == "bicubic" else 2
    per_dim = [[taps_of(mode, L, n, o, align, s) for o in range(n)] for L, n, s in zip(shape[1:], out[1:], scales)]
    fm = fa = conn = bm = 0
    hits: Counter = Counter()
    for c in range(C):
        for pos in itertools.product(*(range(n) for n in out[1:])):
            taps = list(itertools.product(*(per_dim[i][o] for i, o in enumerate(pos))))
            conn += len(taps)
            if k > 1:
                m, a = interpolate_ops(d, k)
                fm, fa = fm + m, fa + a
            for t in taps:
                hits[(c,) + t] += 1
                bm += 0 if k == 1 else 2 if k == 4 else d  # l_1*...*l_d*g, or g*wy*wx
    badds = sum(v - 1 for v in hits.values())
    return {"mults": fm, "adds": fa, "connections": conn, "bmults": bm, "badds": badds}


BRUTE_CASES = [
    ("upsample", {"scale_factor": 2.0, "mode": "nearest"}, (2, 5)),
    ("upsample", {"scale_factor": 1.2, "mode": "nearest"}, (2, 9)),
    ("upsample", {"scale_factor": 0.7, "mode": "nearest"}, (1, 10, 3)),
    ("upsample", {"size": (4, 7), "mode": "nearest-exact"}, (3, 6, 3)),
    ("upsample", {"scale_factor": (1.5, 2.0, 0.5), "mode": "nearest"}, (1, 3, 4, 6)),
    ("upsample", {"scale_factor": 2.0, "mode": "linear"}, (2, 5)),
    ("upsample", {"scale_factor": 0.4, "mode": "linear", "align_corners": True}, (2, 11)),
    ("upsample", {"size": 7, "mode": "linear"}, (1, 7)),
    ("upsample", {"scale_factor": 2.0, "mode": "bilinear", "align_corners": True}, (2, 3, 4)),
    ("interpolate", {"scale_factor": (1.5, 0.5), "mode": "bilinear"}, (2, 5, 6)),
    ("interpolate", {"scale_factor": 0.5, "mode": "bilinear", "recompute_scale_factor": True}, (1, 9, 7)),
    ("interpolate", {"size": (3, 4, 2), "mode": "trilinear"}, (2, 2, 3, 5)),
    ("interpolate", {"scale_factor": 2.0, "mode": "trilinear", "align_corners": True}, (1, 2, 2, 3)),
    ("upsample", {"scale_factor": 2.0, "mode": "bicubic"}, (2, 3, 4)),
    ("upsample", {"size": (2, 9), "mode": "bicubic", "align_corners": True}, (1, 6, 4)),
    ("interpolate", {"scale_factor": 0.3, "mode": "bicubic"}, (1, 10, 7)),
    ("interpolate", {"size": 1, "mode": "bicubic", "align_corners": True}, (1, 4, 4)),
]


@pytest.mark.parametrize("name,kwargs,shape", BRUTE_CASES)
def test_counts_by_brute_force(name, kwargs, shape):
    layer = LAYERS[name](**kwargs)
    r = layer.report(shape, batch=3, training=Training())
    d = len(shape) - 1
    scales = layer.kernel_scales(d)
    want = brute(kwargs["mode"], shape, r.output_shape, bool(kwargs.get("align_corners")), scales)
    assert (r.mults, r.adds, r.connections) == (3 * want["mults"], 3 * want["adds"], want["connections"])
    assert r.backward["grad_input"]["mults"] == 3 * want["bmults"]
    assert r.backward["grad_input"]["adds"] == 3 * want["badds"]
    assert r.saved_bytes == 0 and r.macs == 0


@pytest.mark.parametrize("d,k,mults,adds", [(1, 2, 2, 1), (2, 2, 6, 3), (3, 2, 14, 7), (2, 4, 20, 15)])
def test_per_element_counts_by_hand(d, k, mults, adds):
    """linear 2 mults 1 add; bilinear (2 + 2) + 2 = 6 and 3; trilinear 2*6 + 2 = 14 and 2*3 + 1 = 7;
    bicubic 4*4 + 4 = 20 and 4*3 + 3 = 15."""
    assert interpolate_ops(d, k) == (mults, adds)
    mode = {(1, 2): "linear", (2, 2): "bilinear", (3, 2): "trilinear", (2, 4): "bicubic"}[(d, k)]
    r = LAYERS["upsample"](scale_factor=2, mode=mode).report((5,) + (3,) * d)
    assert r.mults == 5 * 6**d * mults and r.adds == 5 * 6**d * adds


# -- output sizes ---------------------------------------------------------------------------


@pytest.mark.parametrize("L,s,n", [
    (10, 0.7, 7),  # double: 10*0.7 == 7.0 (the float 0.7 is a little below 0.7)
    (9, 1.2, 10), (7, 0.5, 3), (1, 0.5, None), (3, 2.5, 7), (5, 1.0, 5), (3, 1e-3, None), (4, -2.0, None),
])
def test_output_size_is_the_double_product(L, s, n):
    layer = LAYERS["interpolate"](scale_factor=s)
    if n is None:
        with pytest.raises(ConvcalcError, match="greater than 0"):
            layer.report((2, L))
    else:
        assert layer.report((2, L)).output_shape == (2, n) == (2, int(float(L) * s))


@pytest.mark.parametrize("s,rational", [(2.0, (2, 1)), (1.5, (3, 2)), (0.7, (7, 10)), (2.25, (9, 4)), (0.1, (1, 10))])
def test_symbolic_output_size_uses_the_decimal_as_written(s, rational):
    r = LAYERS["upsample"](scale_factor=s).report(parse_shape("C,H,W"))
    p, q = rational
    for H in (1, 7, 10, 33):
        assert sizes.substitute(r.output_shape[1], {"H": H}) == H * p // q


@pytest.mark.parametrize("mode,scale", [("nearest", 2), ("bilinear", 3), ("bicubic", 2), ("nearest-exact", 4), ("bilinear", 1.5)])
@pytest.mark.parametrize("align", [None, True])
def test_symbolic_equals_numeric(mode, scale, align):
    if align and mode.startswith("nearest"):
        align = None
    kw = {"scale_factor": scale, "mode": mode, "align_corners": align}
    layer = LAYERS["upsample"](**kw)
    sym = layer.report(parse_shape("C,H,W"), batch="B", training=Training())
    for C, H, W, B in ((3, 5, 7, 2), (1, 8, 8, 1)):
        num = layer.report((C, H, W), batch=B, training=Training())
        subs = {"C": C, "H": H, "W": W, "B": B}
        assert tuple(sizes.substitute(v, subs) for v in sym.output_shape) == num.output_shape
        for key in ("mults", "adds", "connections", "saved_bytes"):
            assert sizes.substitute(getattr(sym, key), subs) == getattr(num, key), key
        got = sym.backward["grad_input"]
        assert sizes.substitute(got["mults"], subs) == num.backward["grad_input"]["mults"]
        if float(scale).is_integer():  # every input position is read: r = L
            assert sizes.substitute(got["adds"], subs) == num.backward["grad_input"]["adds"]
        else:
            assert got["adds"] is None  # unknown for a symbolic size and a fractional scale


def test_explicit_size_with_symbolic_input():
    r = LAYERS["interpolate"](size=(16, 12), mode="bilinear").report(parse_shape("C,H,W"))
    assert r.output_shape[1:] == (16, 12)
    assert sizes.substitute(r.mults, {"C": 2}) == 2 * 16 * 12 * 6


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("name,kwargs,shape,match", [
    ("upsample", {"scale_factor": 2, "mode": "bilinear"}, (3, 8), "needs C,H,W"),
    ("upsample", {"scale_factor": 2, "mode": "trilinear"}, (3, 8, 8), "needs C,D,H,W"),
    ("upsample", {"scale_factor": 2, "mode": "linear"}, (3, 8, 8, 8), "needs C,L"),
    ("upsample", {"scale_factor": 2, "mode": "bicubic"}, (3, 4, 8, 8), "needs C,H,W"),
    ("upsample", {"scale_factor": 2}, (3,), "3-D, 4-D and 5-D"),
    ("upsample", {"scale_factor": (2, 2)}, (3, 8), "2 entries but the input has 1"),
    ("interpolate", {"size": (4,)}, (3, 8, 8), "1 entries but the input has 2"),
    ("upsample", {"scale_factor": 2, "size": 4}, (3, 8), "only one of size or scale_factor"),
    ("upsample", {"mode": "nearest"}, (3, 8), "either size or scale_factor"),
    ("upsample", {"scale_factor": 0}, (3, 8), "either size or scale_factor"),  # nn.Upsample: 0 is None
    ("interpolate", {"scale_factor": 0}, (3, 8), "greater than 0"),
    ("upsample", {"scale_factor": 2, "align_corners": False}, (3, 8), "interpolating modes"),
    ("upsample", {"size": 4, "recompute_scale_factor": True}, (3, 8), "not meaningful with an explicit size"),
    ("upsample", {"size": 0}, (3, 8), "must be positive"),
    ("upsample", {"scale_factor": 2, "mode": "area"}, (3, 8), "adaptiveavgpool"),
    ("upsample", {"scale_factor": 2, "mode": "cubic"}, (3, 8), "not one of"),
    ("upsample", {"scale_factor": float("nan")}, (3, 8), "finite"),
    ("upsample", {"scale_factor": "2"}, (3, 8), "expected a number, got text"),
    ("upsample", {"scale_factor": 2, "align_corners": "yes"}, (3, 8), "True, False or None"),
    ("interpolate", {"size": 8, "mode": "bilinear", "antialias": True}, (3, 8, 8), "not counted"),
    ("interpolate", {"size": 8, "mode": "nearest", "antialias": True}, (3, 8, 8), "restricted to bilinear and bicubic"),
    ("upsample", {"scale_factor": 1e300}, (3, 8), "beyond int64"),
])
def test_bad_input_is_refused(name, kwargs, shape, match):
    with pytest.raises(ConvcalcError, match=match):
        LAYERS[name](**kwargs).report(shape)


@pytest.mark.parametrize("args,option", [
    (["upsample", "--input", "3,8", "--scale-factor", "2", "--mode", "bilinear"], "--input"),
    (["upsample", "--input", "3,8", "--scale-factor", "two"], "--scale-factor"),
    (["upsample", "--input", "3,8", "--scale-factor", "2", "--align-corners", "maybe"], "--align-corners"),
    (["interpolate", "--input", "3,8,8", "--size", "8", "--mode", "bilinear", "--antialias"], "--antialias"),
    (["upsample", "--input", "3,8", "--size", "0"], "--size"),
])
def test_cli_one_line_exit_2(capsys, args, option):
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"convcalc {args[0]}: {option}:") and "Traceback" not in err


def test_cli_lists_and_tristate():
    code = main(["interpolate", "--input", "2,5,6", "--scale-factor", "1.5,0.5", "--mode", "bilinear",
                 "--align-corners", "true", "-f", "json"])
    assert code == 0


def test_cli_json(capsys):
    assert main(["upsample", "--input", "4,5,6", "--scale-factor", "1.5,2", "--mode", "bicubic", "-f", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["output_shape"] == [4, 7, 12] and data["mults"] == 4 * 7 * 12 * 20


def test_numeric_query_does_not_import_sympy():
    code = ("import sys; from convcalc.cli import main; "
            "rc = main(['upsample', '--input', '3,32,32', '--scale-factor', '1.5', '--mode', 'bilinear', '--training', '-f', 'json']); "
            "sys.stdout.flush(); print('SYMPY' if 'sympy' in sys.modules else 'CLEAN', rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip().endswith("CLEAN 0"), proc.stdout + proc.stderr


def test_large_sizes_stay_fast_and_integer_multiples_read_every_input():
    import time

    start = time.perf_counter()
    r = LAYERS["upsample"](scale_factor=2, mode="bilinear").report((2, 300_000, 3), training=Training())
    assert time.perf_counter() - start < 1
    # r = L beyond the enumerated range: 2*(4*600000*6 - 300000*3) adds
    assert r.backward["grad_input"]["adds"] == 2 * (4 * 600_000 * 6 - 300_000 * 3)
    r = LAYERS["upsample"](size=(200_001, 3), mode="nearest").report((1, 100_000, 3), training=Training())
    assert r.backward["grad_input"]["adds"] is None  # not enumerated, not a multiple: unknown



@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_counts_by_brute_force_random(data):
    mode = data.draw(st.sampled_from(["nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear"]))
    d = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}.get(mode) or data.draw(st.integers(1, 3))
    shape = (data.draw(st.integers(1, 2)),) + tuple(data.draw(st.integers(1, 6)) for _ in range(d))
    kwargs = {"mode": mode}
    if data.draw(st.booleans()):
        kwargs["size"] = tuple(data.draw(st.integers(1, 9)) for _ in range(d))
    else:
        kwargs["scale_factor"] = tuple(data.draw(st.sampled_from([0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0])) for _ in range(d))
        kwargs["recompute_scale_factor"] = data.draw(st.sampled_from([None, True, False]))
    if mode not in ("nearest", "nearest-exact"):
        kwargs["align_corners"] = data.draw(st.sampled_from([None, True, False]))
    layer = LAYERS["interpolate"](**kwargs)
    try:
        r = layer.report(shape, training=Training())
    except ConvcalcError as e:
        assert "greater than 0" in str(e)  # a scale that leaves no output
        return
    want = brute(mode, shape, r.output_shape, bool(kwargs.get("align_corners")), layer.kernel_scales(d))
    assert (r.mults, r.adds, r.connections) == (want["mults"], want["adds"], want["connections"])
    assert (r.backward["grad_input"]["mults"], r.backward["grad_input"]["adds"]) == (want["bmults"], want["badds"])


def test_in_a_network_file(tmp_path):
    from convcalc import Network

    f = tmp_path / "unet.yaml"
    f.write_text("input: 3,H,W\nlayers:\n"
                 "  - conv2d: {out_channels: 8, kernel_size: 3, padding: 1}\n"
                 "  - maxpool2d: {kernel_size: 2}\n"
                 "  - upsample: {scale_factor: 2, mode: bilinear, align_corners: true}\n"
                 "  - interpolate: {scale_factor: [1.5, 2], mode: nearest}\n")
    r = Network.from_yaml(f).report()
    out = r.output_shape
    assert sizes.substitute(out[1], {"H": 10}) == 15 and sizes.substitute(out[2], {"W": 10}) == 20
    up = r.rows[2]
    assert up["type"] == "upsample"
    # bilinear on 8 x 5 x 5 (H = W = 10 after the pool): 8*10*10 outputs, 6 mults and 3 adds each
    assert sizes.substitute(up["mults"], {"H": 10, "W": 10}) == 8 * 10 * 10 * 6
    assert sizes.substitute(up["adds"], {"H": 10, "W": 10}) == 8 * 10 * 10 * 3
