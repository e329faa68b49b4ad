"""Recurrent layers: rnn, gru, lstm (PyTorch semantics); the course's gated-rnn and attention-rnn
cells are in course_rnn.py, the backward (BPTT) of all of them in recurrent_backward.py.

Counting, per layer and direction and per time step (the report sums layers and directions and
multiplies by the sequence length and the batch). G gate blocks (rnn 1, gru 3, lstm 4) of the
hidden size H; I the layer's input size; P the size of the state fed back (proj_size, else H).
- matrix products: W_ih x (G*H*I mults, G*H*(I-1) adds) and W_hh h (G*H*P mults, G*H*(P-1)
  adds); the G*H adds that combine them; bias adds: 2*G*H with PyTorch's b_ih and b_hh
  (--bias-convention torch), G*H with one bias per gate (single), none with --no-bias.
- the cell's elementwise work: lstm f*c, i*g, o*tanh(c) (3H mults) and f*c + i*g (H adds);
  gru r*(W_hn h + b_hn), z*h, (1-z)*n (3H mults), 1-z and the final sum (2H adds); rnn nothing.
- lstm projection (proj_size P): W_hr h, P*H mults and P*(H-1) adds.
- transcendentals, apart from flops: sigmoid and tanh evaluations (rnn tanh H, relu none and H
  comparisons; gru 3H; lstm 5H).
- macs = the matrix products only (input, hidden, projection): FlopCounterMode / 2.
Frameworks compute the hidden product at t = 1 with the zero initial state too; so does this count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .. import sizes
from ..sizes import Size
from .base import ConfigError, Counts, Layer, Opt, ShapeError, expect_rank, require, to_float
from .options import BIAS

INPUT_SIZE = Opt("input_size", "size", None, "Features of each input step (D).")
HIDDEN_SIZE = Opt("hidden_size", "size", None, "Hidden state size (H).", required=True)
NUM_LAYERS = Opt("num_layers", "size", "1", "Stacked recurrent layers.")
SEQ_LEN = Opt("seq_len", "size", None, "Sequence length T (with --input-size, instead of --input T,D).", role="input")
BIDIRECTIONAL = Opt("bidirectional", "flag", False, "Run a second direction backwards and concatenate.")
BIAS_CONVENTION = Opt(
    "bias_convention", "choice", "torch",
    "torch: b_ih and b_hh as PyTorch stores them; single: one bias per gate (Keras, textbooks).",
    choices=("torch", "single"),
)
NONLINEARITY = Opt("nonlinearity", "choice", "tanh", "Activation of the plain RNN.", choices=("tanh", "relu"))
BATCH_FIRST = Opt("batch_first", "flag", False, "Batched tensors are (N, T, D) (PyTorch's layout flag; --input excludes the batch, so nothing changes).")
RNN_DROPOUT = Opt("dropout", "float", "0", "Dropout probability between stacked layers, in [0, 1] (training only: not counted, as the dropout layer).")
PROJ_SIZE = Opt("proj_size", "size", "0", "LSTM projection size (PyTorch's weight_hr); 0 for none.")

#: what the rule for sequential steps says, by case
_RULE_UNI = "sequential steps: one layer needs T; unidirectional layers pipeline as a wavefront: T + L - 1 (backward the same)"
_RULE_BI = (
    "sequential steps: a bidirectional stack cannot pipeline across layers (each layer needs the previous "
    "layer's whole reverse pass): L*T (backward the same)"
)


def _lazy_backward(name: str) -> Any:
    """A layer's backward method: recurrent_backward.<name>, imported when a training query asks."""
    def backward(self: Any, shape: tuple, out: tuple, batch: Any) -> Any:
        from . import recurrent_backward

        return getattr(recurrent_backward, name)(self, shape, out, batch)

    backward.__doc__ = f"Backpropagation through time: recurrent_backward.{name}."
    return backward


def _counts(**kw: Any) -> dict:
    return {k: kw.get(k, 0) for k in ("mults", "adds", "comparisons", "macs", "transcendentals")}


def _times(counts: dict, factor: Any) -> dict:
    return {k: v * factor for k, v in counts.items()}


def _plus(a: dict, b: dict) -> dict:
    return {k: a.get(k, 0) + b.get(k, 0) for k in set(a) | set(b)}


class _SeqInput:
    """Mixin for layers fed a sequence: --input T,D or --seq-len T with --input-size D."""

    INPUT = "T,input_size"

    @classmethod
    def input_from_options(cls, options: dict) -> tuple | None:
        t, d = options.get("seq_len"), options.get("input_size")
        if t is None or d is None:
            return None
        require(t, "seq_len", minimum=1)
        require(d, "input_size", minimum=1)
        return (t, d)

    INFERRED = {"input_size": -1}

    def check_input(self, shape: tuple) -> None:
        expect_rank(self, shape, 2)
        if sizes.compare(shape[1], self.input_size) not in (0, None):
            raise ShapeError(
                f"has {sizes.to_text(shape[1])} features per step but input_size is {sizes.to_text(self.input_size)}",
                option="input",
            )


@dataclass(frozen=True)
class _RNNBase(_SeqInput, Layer):
    input_size: Size
    hidden_size: Size
    num_layers: Size = 1
    bias: bool = True
    bidirectional: bool = False
    bias_convention: str = "torch"
    batch_first: bool = False
    dropout: Size = 0.0

    GATES: ClassVar[int] = 1
    MODE: ClassVar[str] = "rnn"

    def __post_init__(self) -> None:
        self.normalize(scalars={"input_size": 1, "hidden_size": 1, "num_layers": 1})
        if self.bias_convention not in BIAS_CONVENTION.choices:
            raise ConfigError(f"{self.bias_convention!r} is not one of torch, single", option="bias_convention")
        object.__setattr__(self, "dropout", to_float(self.dropout, "dropout", low=0, high=1))

    # the hooks a cell type fills in -----------------------------------------------------------
    @property
    def out_size(self) -> Any:
        """Size of the state fed back and of each direction's output (proj_size if set)."""
        return self.hidden_size

    def cell_counts(self) -> dict:
        """Elementwise work of one cell update and its transcendentals (per direction)."""
        return _counts()

    def cell_stored(self) -> Any:
        """Elements one step keeps for the backward pass beyond its input and gates."""
        return self.out_size

    def state_size(self) -> Any:
        return self.out_size

    def extra_weights(self) -> Any:
        return 0

    # shared -------------------------------------------------------------------------------------
    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def layer_input(self, layer: int) -> Any:
        return self.input_size if layer == 0 else self.directions * self.out_size

    def bias_per_direction(self) -> Any:
        if not self.bias:
            return 0
        per_gate = self.GATES * self.hidden_size
        return 2 * per_gate if self.bias_convention == "torch" else per_gate

    def step_counts(self, inputs: Any) -> dict:
        """One direction of one layer, one time step."""
        gh, h, p = self.GATES * self.hidden_size, self.hidden_size, self.out_size
        products = gh * inputs + gh * p
        matmul = _counts(mults=products, adds=gh * (inputs - 1) + gh * (p - 1), macs=products)
        combine = _counts(adds=gh + self.bias_per_direction())
        step = _plus(_plus(matmul, combine), self.cell_counts())
        if self.extra_weights():
            step = _plus(step, _counts(mults=p * h, adds=p * (h - 1), macs=p * h))
        return step

    def output_shape(self, shape: tuple) -> tuple:
        return (shape[0], self.directions * self.out_size)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        T, L, nd = shape[0], self.num_layers, self.directions
        gh = self.GATES * self.hidden_size
        # every layer above the first sees the same input size, so two kinds of layer suffice
        first_in, rest_in = self.layer_input(0), self.layer_input(1)
        w_first = gh * first_in + gh * self.out_size + self.extra_weights()
        w_rest = gh * rest_in + gh * self.out_size + self.extra_weights()
        step_first, step_rest = self.step_counts(first_in), self.step_counts(rest_in)
        per_step = _plus(_times(step_first, nd), _times(step_rest, nd * (L - 1)))
        kept_first = first_in + gh + self.cell_stored()
        kept_rest = rest_in + gh + self.cell_stored()
        rows = None
        if sizes.is_int(L) and L <= 64:
            rows = [
                {
                    "layer": i + 1,
                    "input_size": self.layer_input(i),
                    "params": nd * ((w_first if i == 0 else w_rest) + self.bias_per_direction()),
                    "per_step": _times(step_first if i == 0 else step_rest, nd),
                    "per_sequence": _times(step_first if i == 0 else step_rest, nd * T),
                }
                for i in range(L)
            ]
        steps = L * T if self.bidirectional else T + L - 1
        regimes = {"layer_by_layer": L * T} if self.bidirectional else {"layer_by_layer": L * T, "wavefront_pipelined": T + L - 1}
        seq = _times(per_step, T)
        return Counts(
            weights=nd * (w_first + (L - 1) * w_rest),
            biases=nd * L * self.bias_per_direction(),
            **seq,
            connections=seq["macs"],
            sequential_steps=steps,
            sequential_steps_backward=steps,
            state=nd * L * self.state_size(),
            bptt=T * nd * (kept_first + (L - 1) * kept_rest),
            per_step=per_step,
            per_layer=rows,
            regimes=regimes,
            notes=(
                _RULE_BI if self.bidirectional else _RULE_UNI,
                "connections: the weighted edges of the matrix products over the sequence",
                "BPTT memory: per step and direction the layer input, the gate activations, "
                + self.STORED_TEXT
                + ", for --dtype",
            )
            + (("dropout between layers: training only, the identity at inference; not counted (as the dropout layer)",)
               if self.dropout else ()),
        )

    STORED_TEXT: ClassVar[str] = "the hidden state"
    backward = _lazy_backward("rnn_backward")  # BPTT, as PyTorch's CPU implementation runs it: recurrent_backward.py


_OPTIONS = (INPUT_SIZE, HIDDEN_SIZE, NUM_LAYERS, SEQ_LEN, BIAS, BIDIRECTIONAL, BIAS_CONVENTION, BATCH_FIRST, RNN_DROPOUT)


@dataclass(frozen=True)
class RNN(_RNNBase, example="--input-size 10 --hidden-size 20 --nonlinearity relu --seq-len T"):
    """Elman RNN, tanh or relu (torch.nn.RNN)."""

    nonlinearity: str = "tanh"

    OPTIONS = _OPTIONS + (NONLINEARITY,)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.nonlinearity not in NONLINEARITY.choices:
            raise ConfigError(f"{self.nonlinearity!r} is not one of tanh, relu", option="nonlinearity")

    def cell_counts(self) -> dict:
        if self.nonlinearity == "relu":
            return _counts(comparisons=self.hidden_size)
        return _counts(transcendentals=self.hidden_size)


class GRU(_RNNBase, example="--input-size 64 --hidden-size 64 --seq-len 50"):
    """Gated recurrent unit (torch.nn.GRU): r, z, n gates; h' = (1 - z)*n + z*h."""

    GATES = 3
    OPTIONS = _OPTIONS
    STORED_TEXT = "W_hn h + b_hn and the hidden state"

    def cell_counts(self) -> dict:
        h = self.hidden_size
        return _counts(mults=3 * h, adds=2 * h, transcendentals=3 * h)

    def cell_stored(self) -> Any:
        return 2 * self.hidden_size


@dataclass(frozen=True)
class LSTM(_RNNBase, example="--input-size 128 --hidden-size 256 --num-layers 2 --seq-len 100"):
    """Long short-term memory (torch.nn.LSTM), with PyTorch's proj_size."""

    proj_size: Size = 0

    GATES = 4
    OPTIONS = _OPTIONS + (PROJ_SIZE,)
    STORED_TEXT = "the cell state, the hidden state (and the unprojected one with proj_size)"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.normalize(scalars={"proj_size": 0})
        if sizes.compare(self.proj_size, self.hidden_size) in (0, 1):
            raise ConfigError(
                f"{sizes.to_text(self.proj_size)} must be smaller than hidden_size {sizes.to_text(self.hidden_size)}",
                option="proj_size",
            )

    @property
    def has_proj(self) -> bool:
        return sizes.compare(self.proj_size, 0) != 0

    @property
    def out_size(self) -> Any:
        return self.proj_size if self.has_proj else self.hidden_size

    def extra_weights(self) -> Any:
        return self.proj_size * self.hidden_size if self.has_proj else 0

    def cell_counts(self) -> dict:
        h = self.hidden_size
        return _counts(mults=3 * h, adds=h, transcendentals=5 * h)

    def cell_stored(self) -> Any:
        return self.hidden_size + self.out_size + (self.hidden_size if self.has_proj else 0)

    def state_size(self) -> Any:
        return self.out_size + self.hidden_size


def __getattr__(name: str) -> Any:
    """The course's cells (gated-rnn, attention-rnn) live in course_rnn.py; found here too."""
    if name in ("GatedRNN", "AttentionRNN", "K_OPT", "KEY_SIZE"):
        from . import course_rnn

        return getattr(course_rnn, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
