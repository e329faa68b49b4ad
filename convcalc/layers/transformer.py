"""Transformer layers: torch.nn.TransformerEncoderLayer, TransformerDecoderLayer and
TransformerEncoder (issue 13), counted as the small networks of existing layers they are.

Each layer writes its expansion as a network mapping (as ``convcalc transformer`` writes its
stacks, convcalc/network/stacks.py) and evaluates it with the network code, so that its counts,
its backward and its saved tensors are exactly those of the layers it is made of, summed (nothing
here is a formula of its own). Input ``T,E`` (E = d_model; PyTorch's batch_first only changes
the layout). With dropout p (0 leaves the dropouts out: PyTorch then multiplies by a mask of ones,
which convcalc does not count) and F = dim_feedforward:

- encoder layer, post-norm (PyTorch's default): residual[multiheadattention(nhead, dropout=p),
  dropout], layernorm, residual[linear(F), relu|gelu, dropout, linear(E), dropout], layernorm;
  norm_first: residual[layernorm, multiheadattention, dropout], residual[layernorm, linear(F),
  activation, dropout, linear(E), dropout]. ``bias`` is the linears', the attention's and the
  layer norms' (PyTorch passes it to all of them).
- decoder layer: the same with a cross-attention block between the two, a multiheadattention
  over a memory of ``memory_len`` S positions of width E (default S = T; key and value are that
  one tensor, as nn.TransformerDecoderLayer passes it). ``causal`` (PyTorch's tgt_mask of
  nn.Transformer.generate_square_subsequent_mask with tgt_is_causal) masks the self-attention:
  all T x T scores are still computed (the framework's count). The memory is taken to require grad
  (an encoder's output in training): its gradient through the key/value projection is counted.
- encoder: ``num_layers`` copies of the encoder layer, then with ``norm`` a final LayerNorm
  (nn.TransformerEncoder(encoder_layer, num_layers, norm)); that norm is nn.LayerNorm(d_model,
  eps=layer_norm_eps), with its bias whatever the layers' ``bias`` (the module the user passes).

Counted per element and per product as the parts count them (convcalc/layers/attention.py,
samplenorm.py, linear.py, elementwise.py): forward = the network's totals; the backward's
dL/dx, dL/dW and the work both need, and the saved tensors, from the network's training
reports with and without dL/dx wanted and with frozen weights. The block's saved tensors are
counted together (a few entries, by which gradient needs them), not one per part; the layer's
input is its own entry (tensor "input"), so that a network holding the layer counts it once with
a neighbour that saves it too, exactly as the network written out does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Optional, TYPE_CHECKING

from .. import sizes
from ..sizes import Size
from ..errors import ConfigError, ConvcalcError
from .base import Counts, Layer, Opt, expect_rank, to_float, to_value, require

if TYPE_CHECKING:
    from .training import Backward


_LAYER_OPTIONS = (
    Opt("nhead", "size", None, "Number of attention heads (must divide d_model).", required=True),
    Opt("dim_feedforward", "size", "2048", "Width F of the feedforward network."),
    Opt("dropout", "float", "0.1", "Dropout probability (identity in the forward count; the backward counts training mode)."),
    Opt("activation", "choice", "relu", "The feedforward network's activation.", choices=("relu", "gelu")),
    Opt("layer_norm_eps", "float", "1e-05", "The layer norms' eps (no effect on counts)."),
    Opt("batch_first", "flag", False, "PyTorch's layout flag (batch, seq, feature): no effect on counts."),
    Opt("norm_first", "flag", False, "Pre-norm: each block's layer norm before its attention or feedforward network."),
    Opt("bias", "flag", True, "Biases of the linears, the attention and the layer norms."),
)


@dataclass(frozen=True)
class _TransformerLayer(Layer):
    d_model: Size
    nhead: Size
    dim_feedforward: Size = 2048
    dropout: float = 0.1
    activation: str = "relu"
    layer_norm_eps: float = 1e-5
    batch_first: bool = False
    norm_first: bool = False
    bias: bool = True

    INPUT = "T,E"
    INPUT_SYMBOLS = ("T", "E")
    INFERRED = {"d_model": -1}

    def __post_init__(self) -> None:
        self.normalize(scalars={"d_model": 1, "nhead": 1, "dim_feedforward": 1})
        object.__setattr__(self, "dropout", to_float(self.dropout, "dropout", low=0, high=1))
        object.__setattr__(self, "layer_norm_eps", to_float(self.layer_norm_eps, "layer_norm_eps", low=0))
        if self.activation not in ("relu", "gelu"):
            raise ConfigError(f"{self.activation!r} is not one of relu, gelu", option="activation")
        E, h = sizes.known_int(self.d_model), sizes.known_int(self.nhead)
        if E is not None and h is not None and E % h:
            raise ConfigError(f"d_model {E} not divisible by nhead {h} (PyTorch: embed_dim must be divisible by num_heads)",
                              option="nhead")

    def check_input(self, shape: tuple) -> None:
        expect_rank(self, shape, 2)

    def output_shape(self, shape: tuple) -> tuple:
        return tuple(shape)

    # -- the expansion -------------------------------------------------------------------------
    def _drop(self) -> list:
        return [{"dropout": self.dropout}] if self.dropout else []

    def _norm(self) -> dict:
        return {"layernorm": {"eps": self.layer_norm_eps, "bias": self.bias}}

    def _attention(self, **extra: Any) -> dict:
        return {"multiheadattention": {"num_heads": self.nhead, "dropout": self.dropout, "bias": self.bias,
                                       "batch_first": self.batch_first, **extra}}

    def _ffn(self) -> list:
        return [{"linear": {"out_features": self.dim_feedforward, "bias": self.bias}}, self.activation, *self._drop(),
                {"linear": {"out_features": self.d_model, "bias": self.bias}}, *self._drop()]

    def _blocks(self, T: Any) -> list:
        """The blocks in order (input length T), each a list of layers (its body), the attention blocks first."""
        return [[self._attention()], [*self._ffn()]]

    def block(self, T: Any) -> list:
        """The layer as a network's items, for an input of length T."""
        items = []
        blocks = self._blocks(T)
        for i, body in enumerate(blocks):
            body = list(body) + (self._drop() if i < len(blocks) - 1 else [])
            if self.norm_first:
                items.append({"residual": {"body": [self._norm(), *body], "shortcut": []}})
            else:
                items += [{"residual": {"body": body, "shortcut": []}}, self._norm()]
        return items

    def items(self, T: Any) -> list:
        return self.block(T)

    def network(self, shape: tuple) -> dict:
        """The layer as a network file's mapping, for an input T,E."""
        return {"name": self.NAME, "input": ",".join(sizes.to_text(v) for v in shape), "layers": self.items(shape[0])}

    # -- parameters, PyTorch's names -------------------------------------------------------------
    def _attention_params(self, prefix: str) -> dict:
        E = self.d_model
        out = {f"{prefix}.in_proj_weight": (3 * E, E)}
        if self.bias:
            out[f"{prefix}.in_proj_bias"] = (3 * E,)
        out[f"{prefix}.out_proj.weight"] = (E, E)
        if self.bias:
            out[f"{prefix}.out_proj.bias"] = (E,)
        return out

    def _norm_params(self, name: str) -> dict:
        return {f"{name}.weight": (self.d_model,), **({f"{name}.bias": (self.d_model,)} if self.bias else {})}

    def layer_params(self) -> dict:
        """One layer's parameters: PyTorch's name -> shape, in its named_parameters() order."""
        E, F = self.d_model, self.dim_feedforward
        out = dict(self._attention_params("self_attn"))
        out.update(self._cross_params())
        out["linear1.weight"] = (F, E)
        if self.bias:
            out["linear1.bias"] = (F,)
        out["linear2.weight"] = (E, F)
        if self.bias:
            out["linear2.bias"] = (E,)
        for i in range(1, len(self._blocks(1)) + 1):
            out.update(self._norm_params(f"norm{i}"))
        return out

    def _cross_params(self) -> dict:
        return {}

    def params(self) -> dict:
        return self.layer_params()

    # -- counts ----------------------------------------------------------------------------------
    def counts(self, shape: tuple, out: tuple) -> Counts:
        total = _totals(self, tuple(shape), 1, "float32", None)
        weights = biases = 0
        for name, s in self.params().items():
            if name.endswith("bias"):
                biases = biases + sizes.prod(s)
            else:
                weights = weights + sizes.prod(s)
        return Counts(weights=sizes.normalize(weights), biases=sizes.normalize(biases), buffers=total["buffers"],
                      mults=total["mults"], adds=total["adds"], comparisons=total["comparisons"], macs=total["macs"],
                      transcendentals=total["transcendentals"], sequential_steps=total["sequential_depth"],
                      sequential_steps_backward=total["sequential_depth"],
                      notes=(f"counted as its expansion, a network of {sizes.to_text(total['layers'])} layers (multiheadattention, "
                             "dropout, layernorm, linear, relu or gelu in residual blocks; a network file of them gives the same numbers)",))

    def backward(self, shape: tuple, out: tuple, batch: Any) -> "Backward":
        """The expansion's backward, from three training reports of the network (batch B):
        A (dL/dx wanted, weights training), W (no dL/dx), I (frozen weights, dL/dx wanted).
        Counts: grad_input = A - W (what only dL/dx needs: the first part's dL/dx), grad_weight =
        A - I (what only dL/dW needs), shared = W + I - A (the gradient through the inner parts,
        which either needs); so a report gets A, W or I exactly. Saved tensors likewise: kept for
        dL/dx only A - W, for dL/dW only A - I, for either W + I - A; each split into elements in
        the activation dtype and fixed-width bytes (bool masks, int64) by evaluating at float32
        and float64 (the difference is 4 bytes per activation element); the fixed bytes are given
        as bool elements (one byte each). The block's saved tensors are counted together, except
        the layer's input (when a part saves it): its own entry, tensor "input", found as the bytes
        a tanh before the block (saving its output, the same tensor) no longer adds."""
        from .training import Backward, Saved, Training

        shape = tuple(shape)
        modes = (("A", True, False), ("W", False, False), ("I", True, True))
        runs = {key: _totals(self, shape, batch, "float32", Training(input_grad=ig, frozen=fr)) for key, ig, fr in modes}
        wide = {key: _totals(self, shape, batch, "float64", Training(input_grad=ig, frozen=fr)) for key, ig, fr in modes}
        A, W, I = (runs[k]["backward"]["total"] for k in ("A", "W", "I"))
        keys = ("mults", "adds", "comparisons", "macs", "transcendentals")

        def comb(f: Any) -> dict:
            return {k: sizes.normalize(f(A[k], W[k], I[k])) for k in keys}

        # the block's input, when a part saves it (tensor "input": a network counts it once with a
        # neighbour that saves the same tensor): its bytes are those a tanh before the block (which
        # saves its output, this input) no longer adds; only weights need it (post-norm: the input
        # projection's input) or either gradient does (pre-norm: the first layernorm's input)
        x = batch * sizes.prod(shape)
        shared = {k: sizes.normalize(4 * x + runs[k]["saved_bytes"] - _totals(self, shape, batch, "float32", t, True)["saved_bytes"])
                  for k, t in (("A", Training()), ("I", Training(frozen=True)))}
        tagged = None
        if shared["A"] == 4 * x and shared["I"] in (0, 4 * x):
            tagged = "weight" if shared["I"] == 0 else "any"
        saved = [Saved("the layer's input", x, tensor="input", needed_for=tagged)] if tagged else []
        parts = (("kept for dL/dx only", "input", lambda a, w, i: a - w), ("kept for dL/dW only", "weight", lambda a, w, i: a - i),
                 ("kept for either gradient", "any", lambda a, w, i: w + i - a))
        s32 = {k: runs[k]["saved_bytes"] for k in runs}
        s64 = {k: wide[k]["saved_bytes"] for k in wide}
        for what, needed, f in parts:
            b32, b64 = sizes.normalize(f(s32["A"], s32["W"], s32["I"])), sizes.normalize(f(s64["A"], s64["W"], s64["I"]))
            act = sizes.normalize(sizes.exact_div(sizes.normalize(b64 - b32), 4) - (x if needed == tagged else 0))
            fixed = sizes.normalize(2 * b32 - b64)
            if act != 0:
                saved.append(Saved(f"the block's other activations, {what}", act, needed_for=needed))
            if fixed != 0:
                saved.append(Saved(f"the block's masks and indices (bytes), {what}", fixed, dtype="bool", needed_for=needed))
        return Backward(grad_input=comb(lambda a, w, i: a - w), grad_weight=comb(lambda a, w, i: a - i),
                        shared=comb(lambda a, w, i: w + i - a), saved=tuple(saved), params=self.params(),
                        notes=("the backward of the layer's expansion (its parts' own backwards, summed)",))


#: the network totals a layer reads
_TOTALS = ("buffers", "mults", "adds", "comparisons", "macs", "transcendentals", "sequential_depth", "layers", "saved_bytes",
           "backward")


def _totals(layer: "_TransformerLayer", shape: tuple, batch: Any, dtype: str, training: Any, after_tanh: bool = False) -> dict:
    """The totals of the layer's expansion. A stack of a symbolic number N of layers: every total
    is affine in N (each layer after the first adds the same, its input requiring grad), so it is
    v(1) + (N - 1) * (v(2) - v(1)), from the stacks of one and two layers."""
    n = getattr(layer, "num_layers", 1)
    if sizes.known_int(n) is not None:
        return _evaluate(layer, shape, batch, dtype, training, after_tanh)
    one, two = (_evaluate(replace(layer, num_layers=k), shape, batch, dtype, training, after_tanh) for k in (1, 2))
    return _affine(one, two, n)


def _affine(one: Any, two: Any, n: Any) -> Any:
    if isinstance(one, dict):
        return {k: _affine(one[k], two[k], n) for k in one}
    value = sizes.normalize(one + (n - 1) * (two - one))
    return value if sizes.is_int(value) else sizes.normalize(value.expand())


@lru_cache(maxsize=64)
def _evaluate(layer: "_TransformerLayer", shape: tuple, batch: Any, dtype: str, training: Any, after_tanh: bool = False) -> dict:
    """The totals of the network of the layer's expansion (after_tanh: with a tanh before it). The
    network code is imported here: it is not needed until a transformer layer is counted."""
    from ..network import Network
    from ..network.writing import to_yaml

    network = layer.network(shape)
    if after_tanh:
        network["layers"] = ["tanh", *network["layers"]]
    try:
        total = Network.from_yaml(to_yaml(network), label=layer.NAME).report(batch=batch, dtype=dtype,
                                                                                         training=training).total
        return {k: total[k] for k in _TOTALS if k in total}
    except ConvcalcError as e:
        raise ConfigError(str(e).split(": ", 1)[-1] if ": " in str(e) else str(e)) from None


class TransformerEncoderLayer(_TransformerLayer, example="--input 128,512 --nhead 8"):
    """A transformer encoder layer (torch.nn.TransformerEncoderLayer): self-attention and a feedforward network, post- or pre-norm."""

    OPTIONS = _LAYER_OPTIONS


@dataclass(frozen=True)
class TransformerDecoderLayer(_TransformerLayer, example="--input 32,512 --nhead 8 --memory-len 128 --causal"):
    """A transformer decoder layer (torch.nn.TransformerDecoderLayer): self-attention, cross-attention over a memory of --memory-len, a feedforward network."""

    memory_len: Optional[Size] = None
    causal: bool = False

    OPTIONS = _LAYER_OPTIONS + (
        Opt("memory_len", "size_or_none", None, "Length S of the memory the cross-attention reads (width d_model; default T)."),
        Opt("causal", "flag", False, "A causal tgt_mask on the self-attention (tgt_is_causal); all T x T scores are still computed."),
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.memory_len is not None:
            value = to_value(self.memory_len, "memory_len")
            require(value, "memory_len", minimum=1)
            object.__setattr__(self, "memory_len", value)

    def _blocks(self, T: Any) -> list:
        causal = {"causal": True} if self.causal else {}
        return [[self._attention(**causal)], [self._attention(kv_len=T if self.memory_len is None else self.memory_len)],
                [*self._ffn()]]

    def _cross_params(self) -> dict:
        return self._attention_params("multihead_attn")


@dataclass(frozen=True)
class TransformerEncoder(_TransformerLayer, example="--input 128,512 --nhead 8 --num-layers 6 --norm"):
    """A stack of transformer encoder layers (torch.nn.TransformerEncoder): --num-layers copies of the encoder layer, and with --norm a final LayerNorm."""

    num_layers: Size = 1
    norm: bool = False

    OPTIONS = _LAYER_OPTIONS + (
        Opt("num_layers", "size", "1", "Number of encoder layers (copies of one nn.TransformerEncoderLayer; a symbol N gives the parameters as N stacked copies)."),
        Opt("norm", "flag", False, "A final LayerNorm(d_model, eps=layer_norm_eps) after the layers (nn.TransformerEncoder's norm; with a bias)."),
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        n = to_value(self.num_layers, "num_layers")
        require(n, "num_layers", minimum=1)
        if sizes.known_int(n) is not None and n > 10_000:
            raise ConfigError(f"{n} layers is more than 10000; refused", option="num_layers")
        object.__setattr__(self, "num_layers", n)

    def items(self, T: Any) -> list:
        out = [{"sequential": {"layers": self.block(T)}, "repeat": self.num_layers, "name": "layers"}]
        if self.norm:
            out.append({"layernorm": {"eps": self.layer_norm_eps}, "name": "norm"})
        return out

    def params(self) -> dict:
        one = self.layer_params()
        n = sizes.known_int(self.num_layers)
        if n is None:  # N symbolic: one entry per parameter of a layer, N copies stacked
            N = self.num_layers
            out = {f"layers.0..{sizes.to_text(sizes.normalize(N - 1))}.{name}": (N, *s) for name, s in one.items()}
        else:
            out = {f"layers.{i}.{name}": s for i in range(n) for name, s in one.items()}
        if self.norm:
            out.update({"norm.weight": (self.d_model,), "norm.bias": (self.d_model,)})
        return out
