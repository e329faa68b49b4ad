"""The connections (taps on real input) in closed form, held against brute-force enumeration."""

from hypothesis import given, settings
from hypothesis import strategies as st

from convcalc import sizes
from convcalc.expr import symbol
from convcalc.layers.window import conv_map, taps_inside

k_, L_ = symbol("k"), symbol("L")


def brute(k, s, d, lo, hi, L):
    n = (L + lo + hi - d * (k - 1) - 1) // s + 1
    return sum(1 for o in range(n) for t in range(k) if 0 <= o * s - lo + t * d <= L - 1)


def closed(k, s, d, lo, hi, L, *, symbolic_k=True, symbolic_L=False):
    kk = k_ if symbolic_k else k
    LL = L_ if symbolic_L else L
    m = conv_map(kk, s, d, lo, hi)
    n = m.forward(LL)
    value = taps_inside(n, kk, s, d, lo, LL, size_map=m)
    text = sizes.to_text(value)
    assert "Sum" not in text and "_t" not in text and "Max(0, -Max" not in text, text
    return sizes.substitute(value, {"k": k, "L": L})


@settings(max_examples=50, deadline=None)
@given(k=st.integers(1, 7), s=st.integers(1, 4), d=st.integers(1, 3), lo=st.integers(0, 4), hi=st.integers(0, 4),
       extra=st.integers(0, 12), symbolic_L=st.booleans())
def test_taps_with_a_symbolic_kernel_match_enumeration(k, s, d, lo, hi, extra, symbolic_L):
    L = max(1, d * (k - 1) + 1 - lo - hi) + extra  # at least one window
    assert closed(k, s, d, lo, hi, L, symbolic_L=symbolic_L) == brute(k, s, d, lo, hi, L)


@settings(max_examples=25, deadline=None)
@given(k=st.integers(1, 6), s=st.integers(1, 3), d=st.integers(1, 3), L=st.integers(1, 30))
def test_no_padding_gives_positions_times_taps(k, s, d, L):
    if d * (k - 1) + 1 > L:
        return
    s_, d_ = symbol("s"), symbol("d")
    m = conv_map(k_, s_, d_, 0, 0)
    value = taps_inside(m.forward(L_), k_, s_, d_, 0, L_, size_map=m)
    assert sizes.to_text(value) == "k*(floor((L - d*(k - 1) - 1)/s) + 1)" or "Sum" not in sizes.to_text(value)
    assert sizes.substitute(value, {"k": k, "s": s, "d": d, "L": L}) == brute(k, s, d, 0, 0, L) == k * ((L - d * (k - 1) - 1) // s + 1)


@settings(max_examples=30, deadline=None)
@given(k=st.integers(1, 6), d=st.integers(1, 5), L=st.integers(1, 40))
def test_causal_window_in_closed_form(k, d, L):
    d_ = symbol("d")
    lo = d_ * (k_ - 1)
    m = conv_map(k_, 1, d_, lo, 0)
    value = taps_inside(m.forward(L_), k_, 1, d_, lo, L_, size_map=m)
    text = sizes.to_text(value)
    assert "Sum" not in text and "Max(0, -Max" not in text, text
    assert sizes.substitute(value, {"k": k, "d": d, "L": L}) == brute(k, 1, d, d * (k - 1), 0, L)
