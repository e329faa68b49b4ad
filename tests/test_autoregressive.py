"""Masked convolutions, PixelCNN and WaveNet: brute-force counts, symbolic formulas, the course's
connections answer, schedules and bad input."""

import itertools

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from convcalc import ConvcalcError
from convcalc.expr import symbol
from convcalc.layers.pixelcnn import MaskedConv2d, PixelCNN, field_summary, vanilla_field
from convcalc.layers.wavenet import CausalConv1d, WaveNet
from convcalc.report import Quantity
from convcalc.sizes import substitute


def brute_masked(cin, cout, kh, kw, mask, groups, H, W):
    """Enumerate every weight and every (output pixel, tap) pair of a masked convolution."""
    ch, cw = kh // 2, kw // 2
    gi, go = cin // groups, cout // groups

    def used(o, i, a, b):
        if a < ch or (a == ch and b < cw):
            return True
        if a == ch and b == cw:
            return i // gi < o // go or (mask == "B" and i // gi == o // go)
        return False

    effective = sum(used(o, i, a, b) for o, i, a, b in itertools.product(range(cout), range(cin), range(kh), range(kw)))
    conn = 0
    for y, x, o, i, a, b in itertools.product(range(H), range(W), range(cout), range(cin), range(kh), range(kw)):
        yy, xx = y + a - ch, x + b - cw
        if used(o, i, a, b) and 0 <= yy < H and 0 <= xx < W:
            conn += 1
    return effective, conn


@settings(max_examples=120, deadline=None)
@given(g=st.sampled_from([1, 3]), ci=st.integers(1, 2), co=st.integers(1, 2), kh=st.sampled_from([1, 3, 5]),
       kw=st.sampled_from([1, 3, 5, 7]), mask=st.sampled_from("AB"), H=st.integers(1, 6), W=st.integers(1, 6))
def test_masked_conv_by_enumeration(g, ci, co, kh, kw, mask, H, W):
    cin, cout = g * ci, g * co
    r = MaskedConv2d(cin, cout, (kh, kw), mask=mask, colour_groups=g, bias=False).report((cin, H, W))
    effective, conn = brute_masked(cin, cout, kh, kw, mask, g, H, W)
    assert r.effective_params == effective
    assert r.effective_mults == effective * H * W
    assert r.connections == conn
    assert r.params == cin * cout * kh * kw and r.mults == r.params * H * W


@settings(max_examples=40, deadline=None)
@given(k=st.sampled_from([1, 3, 5, 7]), mask=st.sampled_from("AB"), H=st.integers(4, 20), W=st.integers(4, 20))
def test_masked_conv_symbolic_equals_numeric(k, mask, H, W):
    Hs, Ws = symbol("H"), symbol("W")
    if k // 2 >= min(H, W):
        return
    sym = MaskedConv2d(3, 6, k, mask=mask, colour_groups=3).report((3, Hs, Ws))
    num = MaskedConv2d(3, 6, k, mask=mask, colour_groups=3).report((3, H, W))
    for q in (Quantity.EFFECTIVE_PARAMS, Quantity.EFFECTIVE_MULTS, Quantity.CONNECTIONS, Quantity.MULTS, Quantity.ADDS):
        assert substitute(sym.get(q), {"H": H, "W": W}) == num.get(q), q


def test_mask_a_and_b_effective_params():
    k, c = symbol("k"), symbol("c")
    a = MaskedConv2d(c, c, k, mask="A", bias=False).report((c, 9, 9))
    b = MaskedConv2d(c, c, k, mask="B", bias=False).report((c, 9, 9))
    assert sp.simplify(a.effective_params - c**2 * (k**2 - 1) / 2) == 0
    assert sp.simplify(b.effective_params - c**2 * (k**2 + 1) / 2) == 0
    rgb = MaskedConv2d(3, 96, 7, mask="A", colour_groups=3, bias=False).report((3, 32, 32))
    # 24 taps before the centre x 3 x 96, and at the centre R->G, R->B, G->B: 3 pairs of 1 x 32
    assert rgb.effective_params == 24 * 3 * 96 + 3 * 32


def test_course_connections_leading_term():
    """001, 2.2.1: a PixelCNN of d layers has O(d k^2 H W) connections."""
    d, k, h, H, W = (sp.sympify(symbol(n)) for n in "d k h H W".split())  # SymPy's symbols for sp.Poly
    r = PixelCNN(1, h, d, kernel_size=k, first_kernel_size=7).report((1, H, W))
    image = sp.Poly(sp.expand(r.connections), H, W)
    assert image.degree(H) == 1 and image.degree(W) == 1  # linear in the image area
    per_pixel = sp.Poly(image.coeff_monomial(H * W), d, k)
    assert per_pixel.degree(d) == 1 and per_pixel.degree(k) == 2
    # d mask-B layers of (k^2 + 1)/2 taps: the d*k^2*H*W term, with h^2/2 channel pairs
    assert sp.simplify(per_pixel.coeff_monomial(d * k**2) - h**2 / 2) == 0
    assert sp.expand(r.sequential_steps - (d + 3)) == 0
    assert sp.expand(r.sequential_regimes["sampling_passes"] - H * W) == 0


def test_stack_totals_are_the_sum_of_its_layers():
    r = PixelCNN(3, 30, 4, colour_groups=3).report((3, 8, 8), batch=2)
    for key in ("mults", "adds", "macs", "flops", "transcendentals"):
        assert sum(row["per_sequence"][key] for row in r.per_layer) == r.get(Quantity(key))
    assert sum(row["params"] for row in r.per_layer) == r.params
    assert sum(row["connections"] for row in r.per_layer) == r.connections
    assert r.sequential_regimes["sampling_passes"] == 8 * 8 * 3


def test_plain_stack_by_parts():
    h, d = 16, 3
    r = PixelCNN(1, h, d, kernel_size=3, first_kernel_size=7, output_layers=2, output_classes=256).report((1, 10, 12))
    parts = [MaskedConv2d(1, h, 7, mask="A")] + [MaskedConv2d(h, h, 3, mask="B")] * d + [MaskedConv2d(h, h, 1), MaskedConv2d(h, 256, 1)]
    reports = [p.report((p.in_channels, 10, 12)) for p in parts]
    assert r.params == sum(x.params for x in reports)
    assert r.macs == sum(x.macs for x in reports)
    # ReLUs before every convolution after the first; softmax: 256 exps, 255 adds, 256 divisions per pixel
    assert r.comparisons == (d + 2) * h * 120
    assert r.adds == sum(x.adds for x in reports) + 255 * 120
    assert r.transcendentals == 256 * 120


def test_vanilla_blind_spot_and_gated_none():
    r = PixelCNN(1, 8, 3, kernel_size=3, first_kernel_size=3).report((1, 16, 16))
    rf = r.receptive_field
    # k = 3 everywhere, 4 layers: rows above 4, blind spot the triangle right of the diagonal
    assert (rf["rows_above"], rf["columns_right"]) == (4, 4)
    # the upper-right triangle: row -j (j = 1..4) misses the 4 - j columns right of reach j
    assert rf["blind_spot"] == sum(4 - j for j in range(1, 5))
    g = PixelCNN(1, 8, 3, kernel_size=3, first_kernel_size=3, gated=True).report((1, 16, 16))
    assert g.receptive_field["blind_spot"] == 0 and g.receptive_field["pixels_seen"] > rf["pixels_seen"]


def test_field_summary_counts_blind_pixels():
    field = vanilla_field((3, 3), (3, 3), 2)
    s = field_summary(field)
    top, left, right = -s["rows_above"], -s["columns_left"], s["columns_right"]
    earlier = [(y, x) for y in range(top, 1) for x in range(left, right + 1) if y < 0 or x < 0]
    assert s["blind_spot"] == sum(p not in field for p in earlier)
    assert s["pixels_seen"] == len(field)
    assert sum(row.count("blind") for row in s["map"]) == s["blind_spot"]


def test_causal_conv_keeps_the_length():
    T = symbol("T")
    r = CausalConv1d(32, 32, 2, dilation=4).report((32, T))
    assert r.output_shape == (32, T)
    assert sp.expand(r.macs - 2048 * T) == 0
    n = CausalConv1d(2, 3, 3, dilation=2).report((2, 10))
    # taps t = 0, 1, 2 read inputs t*2 - 4 .. : real for 10, 8, 6 outputs
    assert n.connections == 2 * 3 * (10 + 8 + 6)


def test_wavenet_receptive_field_and_schedules():
    L, B, T = symbol("L"), symbol("B"), symbol("T")
    r = WaveNet(32, 256, L, blocks=B).report((256, T))
    assert sp.expand(r.receptive_field["samples"] - (B * (2**L - 1) + 2)) == 0
    assert sp.expand(r.sequential_steps - (2 * B * L + 3)) == 0
    assert sp.expand(r.sequential_regimes["sampling"] - T * (2 * B * L + 3)) == 0
    n = WaveNet(32, 256, 10, blocks=3).report((256, 16000))
    assert n.receptive_field["samples"] == 3071


def test_wavenet_uncached_sampling_recomputes_the_field():
    n = WaveNet(4, 4, 3, blocks=1, kernel_size=2, output_classes=8).report((8, 50))
    cached = n.work["per_generated_sample_cached"]
    uncached = n.work["per_generated_sample_uncached"]
    # dilations 1, 2, 4: the first conv and the layers recompute 1 + (dilations after them) positions
    first = 2 * 8 * 4  # kernel 2, 8 -> 4 channels, per position
    layer = 2 * 4 * 8 + 4 + 4 * 4  # filter+gate products, gate mult, residual 1x1 (the skip runs once)
    skip = 4 * 4
    out = 4 * 4 + 4 * 8 + 8  # two 1x1s, softmax divisions
    assert uncached["mults"] == first * 8 + layer * (7 + 5 + 1) + skip * 3 + out
    assert cached["macs"] * 50 == n.macs


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: MaskedConv2d(3, 6, 4), "kernel_size: 4 is even"),
        (lambda: MaskedConv2d(4, 6, 3, colour_groups=3), "colour_groups: 3 colour groups do not divide in_channels 4"),
        (lambda: MaskedConv2d(3, 6, 3, mask="C"), "mask: 'C' is not one of A, B"),
        (lambda: PixelCNN(1, 8, 0), "layers: must be positive"),
        (lambda: PixelCNN(3, 32, 2, colour_groups=3), "channels: 3 colour groups do not divide 32 channels"),
        (lambda: PixelCNN(1, 8, 3, first_kernel_size=6), "first_kernel_size: 6 is even"),
        (lambda: PixelCNN(1, 8, 3, gated=True, residual=True), "gated"),
        (lambda: WaveNet(8, 8, 0), "layers_per_block: must be positive"),
        (lambda: WaveNet(8, 8, 3, kernel_size=1), "kernel_size: must be at least 2"),
    ],
)
def test_bad_autoregressive_config(make, message):
    with pytest.raises(ConvcalcError, match=message):
        make()
