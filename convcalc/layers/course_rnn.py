"""The course's recurrent cells: the gated cell (gated-rnn) and AttentionRNN(k) (attention-rnn).
Counting as for the recurrent layers (recurrent.py); their backward is in recurrent_backward.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import sizes
from ..sizes import Size
from .base import Counts, Layer, Opt
from .recurrent import HIDDEN_SIZE, INPUT_SIZE, SEQ_LEN, _counts, _lazy_backward, _plus, _SeqInput, _times


@dataclass(frozen=True)
class GatedRNN(_SeqInput, Layer, name="gated-rnn", example="--input-size n --hidden-size m --seq-len T"):
    """The course's gated cell: c_t = sigmoid(W_c x_t + W_h h_{t-1}), h_t = c_t*h_{t-1} + (1 - c_t)*(W_x x_t)."""

    input_size: Size
    hidden_size: Size
    bias: bool = False

    OPTIONS = (INPUT_SIZE, HIDDEN_SIZE, SEQ_LEN, Opt("bias", "flag", False, "Add b_c and b_x (the course's cell has none)."))

    def __post_init__(self) -> None:
        self.normalize(scalars={"input_size": 1, "hidden_size": 1})

    def output_shape(self, shape: tuple) -> tuple:
        return (shape[0], self.hidden_size)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        T, n, m = shape[0], self.input_size, self.hidden_size
        products = 2 * m * n + m * m  # W_c x, W_x x, W_h h
        step = _counts(
            mults=products + 2 * m,  # c*h and (1 - c)*(W_x x)
            adds=2 * m * (n - 1) + m * (m - 1) + m + m + m + (2 * m if self.bias else 0),  # products, combine, 1 - c, sum, biases
            macs=products,
            transcendentals=m,
        )
        seq = _times(step, T)
        return Counts(
            weights=products,
            biases=2 * m if self.bias else 0,
            **seq,
            connections=seq["macs"],
            sequential_steps=T,
            sequential_steps_backward=T,
            state=m,
            bptt=T * (n + 3 * m),
            per_step=step,
            notes=(
                "sequential steps: h_t needs h_{t-1}: T, forward and backward",
                "per step: W_c x, W_h h, W_x x (macs), c*h and (1 - c)*(W_x x) (mults), the combining adds, 1 - c, the final sum",
                "BPTT memory: per step x_t, c_t, W_x x_t and h_t",
            ),
        )

    backward = _lazy_backward("gated_backward")  # BPTT: recurrent_backward.py


K_OPT = Opt("k", "size_or_inf", None, "States attended to: h[t-1] ... h[t-k]; inf for every earlier state.", required=True)
KEY_SIZE = Opt("key_size", "size", None, "Size of queries and keys (default: the hidden size).")


@dataclass(frozen=True)
class AttentionRNN(_SeqInput, Layer, name="attention-rnn", example="--input-size n --hidden-size m --k 2 --seq-len T"):
    """The course's AttentionRNN(k): q_i, k_i, v_i from x[t] (i = 0) and from h[t-i] (i = 1..k);
    w_i = q_i . k_i; a = softargmax(w); h[t] = sum_i a_i v_i."""

    input_size: Size
    hidden_size: Size
    k: Size
    key_size: Size = None

    OPTIONS = (INPUT_SIZE, HIDDEN_SIZE, SEQ_LEN, K_OPT, KEY_SIZE)

    def __post_init__(self) -> None:
        self.normalize(scalars={"input_size": 1, "hidden_size": 1})
        if isinstance(self.k, str) and self.k.strip().lower() in ("inf", "infinity"):
            object.__setattr__(self, "k", "inf")
        else:
            self.normalize(scalars={"k": 1})
        if self.key_size is None:
            object.__setattr__(self, "key_size", self.hidden_size)
        self.normalize(scalars={"key_size": 1})

    @property
    def unbounded(self) -> bool:
        return self.k == "inf"

    def output_shape(self, shape: tuple) -> tuple:
        return (shape[0], self.hidden_size)

    def step_counts(self, j: Any) -> dict:
        """One step attending to x[t] and j earlier states."""
        n, m, dk = self.input_size, self.hidden_size, self.key_size
        width = 2 * dk + m  # a query, a key and a value
        terms = j + 1
        return _counts(
            mults=width * n + j * width * m + terms * dk + terms + terms * m,  # projections, scores, softmax /, sum
            adds=width * (n - 1) + j * width * (m - 1) + terms * (dk - 1) + j + j * m,
            macs=width * n + j * width * m + terms * dk + terms * m,
            transcendentals=terms,  # exp of each score
        )

    def counts(self, shape: tuple, out: tuple) -> Counts:
        T, n, m, dk = shape[0], self.input_size, self.hidden_size, self.key_size
        width = 2 * dk + m
        lags = T - 1 if self.unbounded else self.k
        weights = width * n + lags * width * m
        if self.unbounded:
            # step t attends to x[t] and h[t-1] ... h[1]: j = t - 1, and counts are linear in j
            first, slope = self.step_counts(0), _plus(self.step_counts(1), _times(self.step_counts(0), -1))
            pairs = sizes.exact_div(T * (T - 1), 2)
            seq = _plus(_times(first, T), _times(slope, pairs))
            last = self.step_counts(T - 1)
            kept = T * (n + m) + (width + 2) * sizes.exact_div(T * (T + 1), 2)
            note = "--k inf: step t attends to x[t] and the t - 1 earlier states, so per step grows with t; per_step shows the last step, t = T"
        else:
            last = self.step_counts(self.k)
            seq = _times(last, T)
            kept = T * (n + (self.k + 1) * (width + 2) + m)
            note = "states before the sequence start are zero and go through the projections, as frameworks pad them"
        return Counts(
            weights=weights,
            **seq,
            connections=seq["macs"],
            sequential_steps=T,
            sequential_steps_backward=T,
            state=lags * m,
            bptt=kept,
            per_step=last,
            notes=(
                "sequential steps: h[t] needs h[t-1]: T, forward and backward",
                "macs: the projections Q_i, K_i, V_i, the scores q_i . k_i and the weighted sum; the softmax division is a mult; exps are transcendentals",
                note,
                "BPTT memory: per step x[t], every q_i, k_i, v_i, the scores, the weights a and h[t]",
            ),
        )

    backward = _lazy_backward("attention_backward")  # BPTT: recurrent_backward.py
