"""No hangs: every size that multiplies work either costs nothing (closed forms) or is refused
above a stated cap, numerically and symbolically, within seconds."""

import time

import pytest

from convcalc import LAYERS, ConvcalcError
from convcalc.expr import symbol

H, W, T, G = (symbol(n) for n in "HWTG")
BIG = 10**50


def L(name, *args, **kwargs):
    return lambda: LAYERS[name](*args, **kwargs)


CASES = [
    # (label, layer factory, input shape, expected: "ok" or a regex the refusal matches)
    ("wavenet issue example", L("wavenet", 32, 256, 1_000_000, blocks=1), (256, 16000), "layers_per_block.*63"),
    ("wavenet 63 layers", L("wavenet", 32, 256, 63, blocks=BIG), (256, 16000), "ok"),
    ("wavenet huge blocks", L("wavenet", 32, 256, 10, blocks=BIG), (256, T), "ok"),
    ("wavenet big kernel", L("wavenet", 32, 256, 63, kernel_size=100_000), (256, 10**6), "ok"),
    ("wavenet kernel too big", L("wavenet", 32, 256, 10, kernel_size=10**6), (256, 10**6), "kernel_size.*100000"),
    ("wavenet symbolic many taps", L("wavenet", 32, 256, 63, kernel_size=64), (256, T), "layers_per_block.*256"),
    ("wavenet symbolic 63 layers", L("wavenet", 32, 256, 63), (256, T), "ok"),
    ("pixelcnn many layers", L("pixelcnn", 3, 128, 10**6), (3, 32, 32), "ok"),
    ("pixelcnn huge layers", L("pixelcnn", 3, 128, BIG), (3, 32, 32), "ok"),
    ("pixelcnn huge layers symbolic", L("pixelcnn", 3, 128, BIG), (3, H, W), "ok"),
    ("pixelcnn huge image", L("pixelcnn", 3, 128, 15), (3, BIG, BIG), "ok"),
    ("pixelcnn reach 200", L("pixelcnn", 3, 16, 196, kernel_size=3), (3, 8, 8), "ok"),
    ("pixelcnn wide kernel", L("pixelcnn", 3, 16, 1, kernel_size=397, first_kernel_size=1), (3, 8, 8), "ok"),
    ("pixelcnn gated reach 200", L("pixelcnn", 3, 16, 196, gated=True), (3, 8, 8), "ok"),
    ("pixelcnn huge kernel", L("pixelcnn", 3, 16, 3, kernel_size=10**9 + 1), (3, 8, 8), "ok"),
    ("pixelcnn symbolic layers", L("pixelcnn", 3, 16, symbol("d")), (3, H, W), "ok"),
    ("pixelcnn many output layers", L("pixelcnn", 3, 16, 3, output_layers=BIG), (3, H, W), "ok"),
    ("maskedconv2d huge kernel", L("maskedconv2d", 3, 8, 10**9 + 1), (3, H, W), "ok"),
    ("mdrnn many layers", L("mdrnn", 3, 8, num_layers=BIG, directions=4), (3, 5, 5), "ok"),
    ("mdrnn 31-dimensional grid", L("mdrnn", 3, 8, directions=2**31), (3,) + (2,) * 31, "ok"),
    ("mdrnn symbolic grid", L("mdrnn", 3, 8, num_layers=BIG, directions=2**20), (3,) + (G,) * 20, "ok"),
    ("mdrnn huge directions", L("mdrnn", 3, 8, directions=2**300), (3, 5, 5), "directions"),
    ("lstm many layers", L("lstm", 10, 20, num_layers=BIG, bidirectional=True), (BIG, 10), "ok"),
    ("lstm symbolic", L("lstm", 10, 20, num_layers=BIG, proj_size=5), (T, 10), "ok"),
    ("gru long", L("gru", 10, 20, num_layers=10**6), (BIG, 10), "ok"),
    ("rnn layers 64", L("rnn", 10, 20, num_layers=64), (T, 10), "ok"),
    ("attention-rnn huge k", L("attention-rnn", 10, 20, BIG), (BIG, 10), "ok"),
    ("attention-rnn inf", L("attention-rnn", 10, 20, "inf"), (BIG, 10), "ok"),
    ("attention-rnn inf symbolic", L("attention-rnn", 10, 20, "inf"), (T, 10), "ok"),
    ("gated-rnn long", L("gated-rnn", 10, 20), (BIG, 10), "ok"),
    ("conv1d big kernel", L("conv1d", 3, 3, 100_000), (3, 10**6), "ok"),
    ("conv1d kernel too big", L("conv1d", 3, 3, 10**6), (3, 10**6), "kernel_size.*100000"),
    ("conv3d big kernel", L("conv3d", 3, 3, 100_000, padding=50_000), (3, 9, 9, 9), "ok"),
    ("convtranspose3d big kernel", L("convtranspose3d", 3, 3, 100_000), (3, 9, 9, 9), "ok"),
    ("convtranspose3d kernel too big", L("convtranspose3d", 3, 3, 10**6), (3, 9, 9, 9), "kernel_size"),
    ("conv2d symbolic kernel 64", L("conv2d", 3, 3, 64), (3, H, W), "ok"),
    ("conv2d symbolic kernel 65", L("conv2d", 3, 3, 65), (3, H, W), "kernel_size.*symbolic"),
    ("causalconv1d symbolic 64", L("causalconv1d", 3, 3, 64, dilation=3), (3, T), "ok"),
    ("causalconv1d numeric huge", L("causalconv1d", 3, 3, 100_000, dilation=BIG // 10**6), (3, 10**6), "ok"),
    ("convtranspose2d symbolic 64", L("convtranspose2d", 3, 3, 64, stride=3, padding=5), (3, H, W), "ok"),
    ("maxpool2d symbolic 64", L("maxpool2d", 64, stride=1, padding=32), (3, H, W), "ok"),
    ("maxpool3d big kernel", L("maxpool3d", 100_000, stride=1, padding=50_000, ceil_mode=True), (3, 9, 9, 9), "ok"),
    ("avgpool2d symbolic 64", L("avgpool2d", 64, stride=3, padding=32, ceil_mode=True), (3, H, W), "ok"),
    ("convtranspose3d symbolic kernel", L("convtranspose3d", 3, 3, "k", stride=2, padding=3), (3, 140, 140, 140), "ok"),
    ("convtranspose2d symbolic kernel huge padding", L("convtranspose2d", 3, 3, "k", padding=10**6), (3, 8, 8), "ok"),
    ("adaptive huge", L("adaptivemaxpool3d", BIG), (3, BIG, H, 10**99), "ok"),
    ("linear rank 32", L("linear", BIG, BIG), (BIG,) * 32, "ok"),
    ("relu rank 32 symbolic", L("relu"), (H,) * 32, "ok"),
    ("softmax huge", L("softmax"), (BIG, BIG), "ok"),
    ("flatten rank 32", L("flatten"), (10**99,) * 32, "ok"),
    ("batchnorm huge", L("batchnorm3d", BIG), (BIG, BIG, BIG, BIG), "ok"),
]


@pytest.mark.parametrize("label,make,shape,expected", CASES, ids=[c[0] for c in CASES])
def test_finishes_or_refuses_in_seconds(label, make, shape, expected):
    start = time.perf_counter()
    try:
        report = make().report(shape, batch=BIG)
    except ConvcalcError as e:
        outcome = str(e)
        assert expected != "ok", outcome
        assert pytest.importorskip("re").search(expected, outcome), outcome
        assert "refused" in outcome or "more than" in outcome or "corners" in outcome, outcome
    else:
        assert expected == "ok", f"accepted: {report.output_shape}"
        str(report.macs)  # every number prints (Python refuses ints beyond 4300 digits)
        for value in (report.params, report.flops, report.activation_bytes, report.state_bytes):
            str(value)
    took = time.perf_counter() - start
    assert took < 5, f"{label} took {took:.1f} s"


def _naive_fields(first, kernel, layers):
    """The receptive fields by composing sets of offsets (the slow, obvious way)."""
    from convcalc.layers.pixelcnn import _masked_offsets

    def compose(field, offsets):
        return {(fy + oy, fx + ox) for fy, fx in field for oy, ox in offsets}

    vanilla = _masked_offsets(*first, centre=False)
    for _ in range(layers):
        vanilla = compose(vanilla, _masked_offsets(*kernel, centre=True))

    def vertical(kh, kw):
        return {(-a, b) for a in range(0, kh // 2 + 1) for b in range(-(kw // 2), kw // 2 + 1)}

    def horizontal(kw, centre):
        return {(0, -b) for b in range(0 if centre else 1, kw // 2 + 1)}

    v = vertical(*first)
    h = horizontal(first[1], False) | {(y - 1, x) for y, x in v}
    for _ in range(layers):
        v = compose(v, vertical(*kernel))
        h = compose(h, horizontal(kernel[1], True)) | {(y - 1, x) for y, x in v}
    return vanilla, h


@pytest.mark.parametrize("first", [(1, 1), (3, 3), (7, 7), (3, 5), (5, 1)])
@pytest.mark.parametrize("kernel", [(1, 1), (3, 3), (5, 3)])
@pytest.mark.parametrize("layers", [0, 1, 3])
def test_row_mask_fields_equal_set_composition(first, kernel, layers):
    from convcalc.layers.pixelcnn import gated_field, vanilla_field

    vanilla, gated = _naive_fields(first, kernel, layers)
    assert vanilla_field(first, kernel, layers) == vanilla
    assert gated_field(first, kernel, layers) == gated
