"""The worked numbers of the course material, and cross-checks that hold for every layer."""

import pytest

from conftest import example_layer
import sympy as sp

from convcalc import Conv1d, Conv2d, LAYERS
from convcalc.layers.training import Training
from convcalc.report import Quantity


@pytest.mark.parametrize(
    "layer, shape, out",
    [
        (Conv2d(1, 1, 5, stride=3, padding=2), (1, 78, 84), (1, 26, 28)),
        (Conv2d(1, 1, (3, 5), stride=2, padding=0), (1, 64, 64), (1, 31, 30)),
        (Conv1d(7, 1, 3, stride=2, bias=False), (7, 11), (1, 5)),
        (Conv2d(32, 64, 7, stride=3, bias=False), (32, 19, 19), (64, 5, 5)),
        (Conv2d(512, 128, 1, padding=2, bias=False), (512, 25, 25), (128, 29, 29)),
        (Conv2d(3, 64, 7, stride=2, padding=3, bias=False), (3, 224, 224), (64, 112, 112)),
    ],
)
def test_course_output_shapes(layer, shape, out):
    assert layer.report(shape).output_shape == out


def test_course_conv1d_parameters():
    assert Conv1d(7, 1, 3, stride=2, bias=False).report((7, 11)).params == 21


def test_course_conv2d_mults_and_adds():
    r = Conv2d(32, 64, 7, stride=3, bias=False).report((32, 19, 19))
    assert (r.params, r.mults, r.adds) == (100_352, 2_508_800, 2_507_200)


def test_course_pointwise_parameters():
    assert Conv2d(512, 128, 1, padding=2, bias=False).report((512, 25, 25)).params == 65_536


def test_resnet_stem():
    r = Conv2d(3, 64, 7, stride=2, padding=3, bias=False).report((3, 224, 224))
    assert (r.params, r.macs) == (9_408, 118_013_952)


def test_enormous_sizes_are_exact():
    r = Conv1d(1, 1, 3, stride=2).report((1, 10**30))
    assert r.output_shape == (1, (10**30 - 3) // 2 + 1)
    assert isinstance(r.mults, int) and r.mults == 3 * ((10**30 - 3) // 2 + 1)


def test_batch_scales_counts_not_params():
    one = Conv2d(3, 8, 3).report((3, 16, 16))
    four = Conv2d(3, 8, 3).report((3, 16, 16), batch=4)
    for q in (Quantity.MULTS, Quantity.ADDS, Quantity.MACS, Quantity.FLOPS, Quantity.ACTIVATION_BYTES):
        assert four.get(q) == 4 * one.get(q)
    for q in (Quantity.PARAMS, Quantity.CONNECTIONS, Quantity.OUTPUT_SHAPE):
        assert four.get(q) == one.get(q)


def _example_layer(name):
    return example_layer(name)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_totals_add_up(name):
    """For every layer's own example: params = weights + biases, flops = mults + adds +
    comparisons, and the GEMM (when there is one) multiplies out to the MACs."""
    layer, shape = _example_layer(name)
    r = layer.report(shape, batch=2)

    def same(a, b):
        return sp.expand(a - b) == 0

    assert same(r.params, r.weights + r.biases)
    assert same(r.flops, r.mults + r.adds + r.comparisons)
    if r.gemm is not None:
        m, k, n = r.gemm
        assert same(r.gemm_groups * m * k * n, r.macs)
    if r.per_layer:
        for key in ("mults", "adds", "macs", "flops", "transcendentals"):
            assert same(sum(row["per_sequence"][key] for row in r.per_layer), r.get(Quantity(key)))
        assert same(sum(row["params"] for row in r.per_layer), r.params)


# -- the backward pass (issue 11) ---------------------------------------------------------------


def test_course_strided_conv_gradients():
    """000 1.2.1: a 1-D stride-2 convolution of a 7x11 input with one 1x7x3 kernel: dL/dW is
    1x7x3 and each entry sums over all 5 outputs (the solution's slip summed over 2)."""
    layer = Conv1d(7, 1, 3, stride=2, bias=False)
    report = layer.report((7, 11), training=Training(gradients=True))
    assert report.output_shape == (1, 5)
    assert report.gradients["weight"] == (1, 7, 3)
    assert report.gradients["input"] == (7, 11)
    assert report.gradients["dy/dweight"] == (1, 5, 1, 7, 3)
    # each of the 21 weights: 5 products (one per output) and 4 adds
    assert report.backward["grad_weight"]["mults"] == 21 * 5
    assert report.backward["grad_weight"]["adds"] == 21 * 4
    commands = dict((g, c) for g, c, _ in report.gradient_layers)
    assert "--stride 2" in commands["input"] and "convtranspose1d --input 1,5" in commands["input"]
    assert "--dilation 2" in commands["weight"] and "--kernel-size 5" in commands["weight"]
    # dy/dx of 000 1.1(c)(iii): entry [n, k, i] is W[1, k, i - 2(n - 1)] for 2(n - 1) < i <= 2(n - 1) + 3: 5*7*3
    # nonzero entries, every (output, tap, channel) triple reading the input: the connections
    assert report.connections == 5 * 7 * 3


def test_course_strided_conv_gradients_in_one_command():
    """The same answer from the command line, one command."""
    import json

    from typer.testing import CliRunner

    from convcalc.cli import app, _ensure_commands

    _ensure_commands(["conv1d"])
    result = CliRunner().invoke(app, ["conv1d", "--input", "7,11", "--out-channels", "1", "--kernel-size", "3", "--stride", "2",
                                      "--no-bias", "--gradients", "-f", "json"])
    data = json.loads(result.stdout)
    assert data["gradients"]["weight"] == [1, 7, 3] and data["gradients"]["input"] == [7, 11]
    assert data["backward"]["grad_weight"]["adds"] == 21 * 4


def test_course_attention_rnn_gradient_sources():
    """000 1.2.2(e): for AttentionRNN(k), dL/dh[T] collects the steps T < t <= T + k (the
    solution's slip: every t > T). Enumerated for k = 2 over 5 steps."""
    T, k = 5, 2
    expected = "; ".join(
        f"h[{t}] <- " + (", ".join(str(u) for u in range(t + 1, min(t + k, T) + 1)) or "none") for t in range(1, T + 1)
    )
    report = LAYERS["attention-rnn"](3, 4, k=k).report((T, 3), training=Training())
    assert f"later steps feeding dL/dh[t]: {expected}" in report.notes


def test_course_gated_cell_gradient_shapes():
    """000 1.2.1(d): dL/dW_x of the gated cell h_t = c_t * h_{t-1} + (1 - c_t) * W_x x_t has
    W_x's shape m x n (hidden x input), summed over the K steps."""
    report = LAYERS["gated-rnn"](3, 4).report((6, 3), training=Training(gradients=True))
    assert report.gradients["W_x"] == (4, 3) and report.gradients["W_h"] == (4, 4) and report.gradients["W_c"] == (4, 3)


def test_course_lstm_bptt_weight_gradient_sums_over_every_step():
    """003 Problem 2: the gradient of w_ix sums over t = 1..T; PyTorch's layout stacks the four
    gates' input weights in weight_ih_l0 (4H x D), computed as one product over all T*B rows."""
    D, H, T, B = 3, 4, 7, 2
    report = LAYERS["lstm"](input_size=D, hidden_size=H, bias=False).report((T, D), batch=B, training=Training(gradients=True))
    assert report.gradients["weight_ih_l0"] == (4 * H, D)
    # dW_ih = delta^T x: (4H x T*B) times (T*B x D); dW_hh = sum_t delta_t^T h[t-1]: T*B*4H*H; and
    # the gradient through time dL/dh[t-1] = delta_t W_hh for t >= 2 (T - 1 steps), which dL/dW needs
    assert report.backward["grad_weight"]["macs"] == T * B * 4 * H * D + T * B * 4 * H * H + (T - 1) * B * 4 * H * H


def test_course_softmax_cross_entropy_gradient():
    """004 4: e = crossEntropy(p*, softmax(x)) for K classes: de/dx = p - p*; the K x K Jacobian
    route costs K^2 products to build and K^2 + 2 to apply, the fused gradient K + 1 (the p - p*
    subtraction touches one element; g/M scales all K)."""
    K = 10
    report = LAYERS["crossentropy"]().report((K,), training=Training(gradients=True))
    assert report.gradients["input"] == (K,)
    fused = report.backward["grad_input"]
    assert (fused["mults"], fused["adds"]) == (K + 1, 1)
    jacobian = [v for name, v in report.work.items() if name.startswith("softmax Jacobian")][0]
    assert jacobian["mults"] == K * K


def test_course_residual_block_backward(tmp_path):
    """004 5-6: y = x + relu(H x + v), K = 4: de/dx = de/dy + H^T I{0,1} de/dy. Per sample: H^T
    times a vector (K*K products, K*(K-1) adds), the ReLU's mask (K comparisons), the sum at the
    fork (K adds); de/dH = (I de/dy) x^T (K*K products, summed over the batch) and de/dv; the
    forward saves x (for de/dH) and the ReLU's output (its mask)."""
    from convcalc import Network

    K = 4
    text = f"input: {K}\nlayers:\n  - residual:\n      body:\n        - linear: {{out_features: {K}}}\n        - relu\n"
    r = Network.from_yaml(text).report(training=Training(input_grad=True))
    total = r.total["backward"]
    assert total["grad_input"]["macs"] == K * K
    assert total["grad_input"]["comparisons"] == K
    assert total["grad_input"]["adds"] == K * (K - 1) + K
    assert total["grad_weight"]["macs"] == K * K
    assert r.total["saved_bytes"] == (K + K) * 4
