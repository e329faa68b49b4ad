"""Counts checked by brute force: enumerate every output, tap and product on small layers."""

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from convcalc import AdaptiveAvgPool1d, AdaptiveMaxPool2d, Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, MaxPool2d
from convcalc.layers.window import adaptive_taps, pool_map


def brute_conv(shape, cout, k, s, p, d, groups, bias):
    """(output spatial sizes, mults, adds, connections) by enumeration of a direct convolution."""
    cin, spatial = shape[0], shape[1:]
    out = [(L + 2 * pi - di * (ki - 1) - 1) // si + 1 for L, ki, si, pi, di in zip(spatial, k, s, p, d)]
    cin_g = cin // groups
    mults = adds = conn = 0
    for o in itertools.product(*[range(n) for n in out]):
        terms = 0
        for t in itertools.product(*[range(ki) for ki in k]):
            pos = [oi * si - pi + ti * di for oi, si, pi, ti, di in zip(o, s, p, t, d)]
            terms += cin_g
            if all(0 <= x < L for x, L in zip(pos, spatial)):
                conn += cin_g
        mults += terms
        adds += terms - 1 + (1 if bias else 0)
    return out, cout * mults, cout * adds, cout * conn


def brute_transposed(shape, cout, k, s, p, op, d, groups, bias):
    cin, spatial = shape[0], shape[1:]
    out = [(L - 1) * si - 2 * pi + di * (ki - 1) + opi + 1 for L, ki, si, pi, opi, di in zip(spatial, k, s, p, op, d)]
    landing = {}
    products = 0
    for i in itertools.product(*[range(L) for L in spatial]):
        for t in itertools.product(*[range(ki) for ki in k]):
            products += 1
            o = tuple(ii * si - pi + ti * di for ii, si, pi, ti, di in zip(i, s, p, t, d))
            if all(0 <= x < n for x, n in zip(o, out)):
                landing[o] = landing.get(o, 0) + 1
    cin_g = cin // groups
    per_channel_adds = sum(cin_g * n - 1 for n in landing.values()) + (math.prod(out) if bias else 0)
    return out, products * cin * (cout // groups), cout * per_channel_adds, cout * cin_g * sum(landing.values())


small = st.integers(1, 4)


@settings(max_examples=150, deadline=None)
@given(
    n=st.sampled_from([1, 2]),
    data=st.data(),
    groups=st.sampled_from([1, 2]),
    bias=st.booleans(),
)
def test_conv_counts_by_enumeration(n, data, groups, bias):
    k = data.draw(st.tuples(*[small] * n))
    s = data.draw(st.tuples(*[st.integers(1, 3)] * n))
    d = data.draw(st.tuples(*[st.integers(1, 2)] * n))
    p = data.draw(st.tuples(*[st.integers(0, 3)] * n))
    spatial = tuple(data.draw(st.integers(max(1, di * (ki - 1) + 1 - 2 * pi), 9)) for ki, di, pi in zip(k, d, p))
    cin, cout = groups * data.draw(small), groups * data.draw(small)
    cls = Conv1d if n == 1 else Conv2d
    r = cls(cin, cout, k, stride=s, padding=p, dilation=d, groups=groups, bias=bias).report((cin,) + spatial)
    out, mults, adds, conn = brute_conv((cin,) + spatial, cout, k, s, p, d, groups, bias)
    assert list(r.output_shape[1:]) == out
    assert (r.mults, r.adds, r.connections) == (mults, adds, conn)


@settings(max_examples=150, deadline=None)
@given(n=st.sampled_from([1, 2]), data=st.data(), groups=st.sampled_from([1, 2]), bias=st.booleans())
def test_transposed_counts_by_enumeration(n, data, groups, bias):
    k = data.draw(st.tuples(*[small] * n))
    s = data.draw(st.tuples(*[st.integers(1, 4)] * n))
    d = data.draw(st.tuples(*[st.integers(1, 3)] * n))
    p = data.draw(st.tuples(*[st.integers(0, 2)] * n))
    op = tuple(data.draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d))
    spatial = data.draw(st.tuples(*[st.integers(1, 6)] * n))
    out = [(L - 1) * si - 2 * pi + di * (ki - 1) + oi + 1 for L, ki, si, pi, oi, di in zip(spatial, k, s, p, op, d)]
    if min(out) < 1:
        return
    cin, cout = groups * data.draw(small), groups * data.draw(small)
    cls = ConvTranspose1d if n == 1 else ConvTranspose2d
    layer = cls(cin, cout, k, stride=s, padding=p, output_padding=op, dilation=d, groups=groups, bias=bias)
    r = layer.report((cin,) + spatial)
    bout, mults, adds, conn = brute_transposed((cin,) + spatial, cout, k, s, p, op, d, groups, bias)
    assert list(r.output_shape[1:]) == bout
    assert (r.mults, r.adds, r.connections) == (mults, adds, conn)


@settings(max_examples=200, deadline=None)
@given(L=st.integers(1, 40), k=st.integers(1, 6), s=st.integers(1, 4), d=st.integers(1, 3), data=st.data(), ceil=st.booleans())
def test_pool_output_by_pytorch_rule(L, k, s, d, data, ceil):
    """The closed form against PyTorch's procedural rule (pooling_output_shape)."""
    p = data.draw(st.integers(0, k // 2))
    num = L + 2 * p - d * (k - 1) - 1
    if num < 0:
        return
    out = (num + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= L + p:
        out -= 1
    assert pool_map(k, s, d, p, ceil).forward(L) == out


@settings(max_examples=200, deadline=None)
@given(L=st.integers(1, 60), n=st.integers(1, 60))
def test_adaptive_window_total(L, n):
    total = sum(-((-(i + 1) * L) // n) - (i * L) // n for i in range(n))
    assert adaptive_taps(L, n) == total


def test_adaptive_pool_counts():
    r = AdaptiveAvgPool1d(3).report((2, 5))  # windows [0,2) [1,4) [3,5): 2 + 3 + 2 taps
    assert (r.connections, r.adds, r.mults) == (14, 8, 6)
    m = AdaptiveMaxPool2d((3, 2)).report((1, 5, 4))  # rows 7 taps, columns 4 taps
    assert (m.connections, m.comparisons) == (28, 28 - 6)


def test_maxpool_comparisons_skip_padding():
    r = MaxPool2d(3, stride=2, padding=1).report((1, 4, 4))
    # per dimension the windows cover rows {0,1}, {1,2,3}: 2 + 3 = 5 real taps
    assert r.output_shape == (1, 2, 2)
    assert r.connections == 25 and r.comparisons == 25 - 4
