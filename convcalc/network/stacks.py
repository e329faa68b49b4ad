"""Transformer stacks as network files: `convcalc transformer --arch gpt2|llama|bert|vit` writes the
stack it is asked for as a network (the same YAML a user could write, `--print-yaml` shows it)
and evaluates it with the network code, so that every count, the backward and the saved tensors
are the layers' own, summed; nothing here is a formula of its own.

The presets (sizes and structure of each family) are data: ``convcalc/data/transformers.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .. import sizes
from ..errors import ConfigError
from .writing import to_yaml  # noqa: F401 (the stacks' network files are written with it; re-exported)

PRESETS: dict = {k: v for k, v in json.loads((Path(__file__).parent.parent / "data" / "transformers.json").read_text()).items()
                 if not k.startswith("_")}
#: the structure options a preset fixes and the user may change: name -> allowed values
CHOICES = {"norm": ("layernorm", "rmsnorm"), "mlp": ("gelu", "gelu_tanh", "relu", "swiglu"),
           "position": ("learned", "rotary", "none"), "input": ("tokens", "image"), "head": ("lm", "classifier", "pooler", "none"),
           "position_ids": ("arange", "buffer")}


@dataclass(frozen=True)
class Stack:
    """One transformer stack: sizes (ints or symbol texts) and structure, as a preset gives them."""

    arch: str
    title: str
    d_model: Any
    heads: Any
    layers: Any
    ffn: Any
    kv_heads: Any = None
    vocab: Any = None
    positions: Any = None
    image_size: Any = None
    patch_size: Any = None
    num_classes: Any = None
    norm: str = "layernorm"
    norm_eps: float = 1e-5
    mlp: str = "gelu"
    bias: bool = True
    tie: bool = False
    position: str = "learned"
    norm_first: bool = True
    causal: bool = True
    final_norm: bool = True
    embed_norm: bool = False
    token_types: int = 0
    position_ids: str = "arange"
    input: str = "tokens"
    head: str = "lm"
    dropout: float = 0.0

    @classmethod
    def preset(cls, arch: str, **overrides: Any) -> "Stack":
        """The preset of that name with the options given (None: the preset's)."""
        if arch not in PRESETS:
            raise ConfigError(f"{arch!r} is not one of {', '.join(PRESETS)}", option="arch")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in PRESETS[arch].items() if k in known}
        values.update({k: v for k, v in overrides.items() if v is not None})
        stack = cls(arch=arch, **values)
        for name, allowed in CHOICES.items():
            if getattr(stack, name) not in allowed:
                raise ConfigError(f"{getattr(stack, name)!r} is not one of {', '.join(allowed)}", option=name)
        if stack.kv_heads is None:
            stack = replace(stack, kv_heads=stack.heads)
        return stack

    def sequence(self, seq_len: Any) -> Any:
        """The tokens T: --seq-len for a token model (required); an image model's patches and its
        class token, (image_size // patch_size)^2 + 1 (the patch convolution's positions)."""
        if self.input == "image":
            if seq_len is not None:
                raise ConfigError("an image model's sequence is its patches: give --image-size and --patch-size", option="seq_len")
            return sizes.normalize((self.image_size // self.patch_size) ** 2 + 1)
        if seq_len is None:
            raise ConfigError("missing: the sequence length T (a number or a symbol such as T)", option="seq_len")
        return seq_len

    def input_shape(self, seq_len: Any) -> Any:
        """The network's input: the token indices (T), or the image (3, size, size)."""
        if self.input == "image":
            return f"3,{self.image_size},{self.image_size}"
        return seq_len

    def network(self, seq_len: Any) -> dict:
        """The stack as a network file's mapping (name, input, layers)."""
        layers: list = []
        if self.input == "image":
            p = self.patch_size
            layers += [{"conv2d": {"out_channels": self.d_model, "kernel_size": p, "stride": p}, "name": "conv_proj"},
                       {"flatten": {"start_dim": 2}}, {"transpose": {"dim0": 1, "dim1": 2}},
                       {"classtoken": None, "name": "class_token"}]
        else:
            layers.append({"embedding": {"num_embeddings": self.vocab, "embedding_dim": self.d_model}, "name": "wte"})
        if self.token_types:
            layers.append({"tokentypeembedding": {"num_token_types": self.token_types, "max_positions": self.positions},
                           "name": "token_type_embeddings"})
        if self.position == "learned":
            pos = {"positionembedding": None, "name": "wpe"}
            if self.input == "tokens":
                pos["positionembedding"] = {"num_positions": self.positions, "indexed": True}
                if self.position_ids == "buffer":
                    pos["positionembedding"]["ids"] = "buffer"
            layers.append(pos)
        if self.embed_norm:
            layers.append(self._norm())
        if self.dropout:
            layers.append({"dropout": self.dropout})
        layers.append({"sequential": {"layers": self._block()}, "repeat": self.layers, "name": "h"})
        if self.final_norm:
            layers.append(dict(self._norm(), name="ln_f"))
        if self.head == "lm":
            lm = {"linear": {"out_features": self.vocab, "bias": False}, "name": "lm_head"}
            if self.tie:
                lm["tie"] = "wte"
            layers.append(lm)
        elif self.head == "pooler":
            layers += [{"selecttoken": {"index": 0}, "name": "pooler"}, {"linear": {"out_features": self.d_model}}, "tanh"]
        elif self.head == "classifier":
            layers += [{"selecttoken": {"index": 0}}, {"linear": {"out_features": self.num_classes}, "name": "head"}]
        title = f"{self.title} (d_model {self.d_model}, {self.heads} heads, {self.layers} layers)"
        return {"name": title, "input": self.input_shape(seq_len), "layers": layers}

    def _norm(self) -> dict:
        if self.norm == "rmsnorm":
            return {"rmsnorm": {"eps": self.norm_eps}}
        return {"layernorm": {"eps": self.norm_eps}}

    def _attention(self) -> dict:
        attn: dict = {"num_heads": self.heads, "bias": self.bias}
        if self.kv_heads != self.heads:
            attn["kv_heads"] = self.kv_heads
        if self.causal:
            attn["causal"] = True
        if self.position == "rotary":
            attn["rotary"] = True
        return {"multiheadattention": attn, "name": "attn"}

    def _mlp(self) -> list:
        up = {"linear": {"out_features": self.ffn, "bias": self.bias}}
        down = {"linear": {"out_features": self.d_model, "bias": self.bias}, "name": "down"}
        if self.mlp == "swiglu":
            gate = {"linear": {"out_features": self.ffn, "bias": self.bias}, "name": "gate"}
            return [{"multiply": {"branches": [[gate, "silu"], [dict(up, name="up")]]}}, down]
        act = {"gelu": "gelu", "gelu_tanh": {"gelu": {"approximate": "tanh"}}, "relu": "relu"}[self.mlp]
        return [dict(up, name="up"), act, down]

    def _block(self) -> list:
        drop = [{"dropout": self.dropout}] if self.dropout else []
        attn = [self._attention(), *drop]
        mlp = [*self._mlp(), *drop]
        if self.norm_first:
            return [{"residual": {"body": [self._norm(), *attn], "shortcut": []}},
                    {"residual": {"body": [self._norm(), *mlp], "shortcut": []}}]
        return [{"residual": {"body": attn, "shortcut": []}}, self._norm(),
                {"residual": {"body": mlp, "shortcut": []}}, self._norm()]


#: the layer types whose parameters are embeddings (not counted in the 6N rule's N)
EMBEDDINGS = ("embedding", "positionembedding", "classtoken")


def _per_token(v: Any, T: Any) -> Any:
    """v / T exactly: an integer when T divides v, else a fraction of numbers or symbols."""
    if sizes.all_int(v, T):
        return v // T if v % T == 0 else round(v / T, 1)
    if sizes.is_light(v) and sizes.is_light(T):
        from ..algebra import quotient

        return quotient(v, T)
    return sizes.normalize(sizes.as_expr(v) / sizes.as_expr(T))


def _poly_sum(values: list, T: Any) -> Any:
    """sum over t = 1..T of p(t), p the polynomial of degree len(values) - 1 through values[i] =
    p(i + 1) (exact: Newton's forward differences, sum_{t=1}^{T} C(t - 1, k) = C(T, k + 1))."""
    diffs, row = [], list(values)
    while row:
        diffs.append(row[0])
        row = [b - a for a, b in zip(row, row[1:])]
    total, binom = 0, T  # C(T, 1)
    for k, d in enumerate(diffs):
        total = total + d * binom
        binom = sizes.exact_div(binom * (T - k - 1), k + 2)  # C(T, k + 2) = C(T, k + 1) * (T - k - 1) / (k + 2)
    return sizes.normalize(total)


def _evaluate(stack: Stack, seq_len: Any, *, batch: Any = 1, dtype: str = "float32", depth: Any = None, by_op: bool = False,
              training: Any = None, past: Any = None, device: Any = None, weight_dtype: str | None = None,
              convention: str | None = None) -> Any:
    """The stack's NetworkReport at T = seq_len tokens (past: that many keys and values already
    cached, the new tokens' attention reads them too)."""
    from . import Network

    network = stack.network(seq_len)
    if past is not None:  # one new token (seq_len 1) after `past` cached ones: nothing to mask
        for item in _attention_items(network["layers"]):
            if past:
                item["multiheadattention"]["past_len"] = past
            item["multiheadattention"].pop("causal", None)
    net = Network.from_yaml(to_yaml(network), label=f"transformer --arch {stack.arch}")
    return net.report(batch=batch, dtype=dtype, depth=depth, by_op=by_op, training=training, device=device, weight_dtype=weight_dtype,
                      convention=convention)


def decode_roofline(stack: Stack, seq_len: Any, device: Any, *, batch: Any = 1, dtype: str = "float32",
                    weight_dtype: str | None = None) -> tuple:
    """Summary rows for generating token T (T - 1 cached) on a device: its least traffic (every
    weight and the KV cache read once) and its time bound, and T such passes one after another
    (each at most as long as the last: their sum is at most T times it)."""
    r = _evaluate(stack, 1, batch=batch, dtype=dtype, past=sizes.normalize(seq_len - 1), device=device, weight_dtype=weight_dtype).roofline
    f = r.forward
    rows = [
        ("decode_bytes", f"Decode of token {sizes.to_text(seq_len)} on {r.device}: bytes moved (least)", f.bytes, "bytes"),
        ("decode_intensity", "  its FLOPs per byte", f.intensity, "ratio"),
        ("decode_ridge", "  the device's ridge point", r.ridge, "ratio"),
        ("decode_seconds", "  its time, lower bound (a lower bound, not a measurement)", f.seconds, "seconds"),
        ("decode_memory_bound_layers", "  layers memory-bound of all", f"{f.memory_bound} of {f.memory_bound + f.compute_bound}", "text"),
    ]
    if f.seconds is not None and sizes.is_int(seq_len):
        rows.append(("sampling_seconds_at_most", f"Sampling {seq_len} tokens one by one: at most {seq_len} x the last token's bound "
                     "(each pass reads every weight again)", f.seconds * seq_len, "seconds"))
    return tuple(rows)


def _attention_items(items: list) -> list:
    """Every multiheadattention item of a network mapping's layers, nested blocks included."""
    found = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if "multiheadattention" in item:
            found.append(item)
        for v in item.values():
            if isinstance(v, dict):
                for key in ("layers", "body", "shortcut"):
                    found += _attention_items(v.get(key, []) or [])
                for branch in v.get("branches", []) or []:
                    found += _attention_items(branch)
    return found


def _polynomial_values(f: Any, degree: int) -> list:
    """f(1), ..., f(degree + 2), the last checked to lie on the polynomial through the others."""
    values = [f(t) for t in range(1, degree + 3)]
    row = list(values)
    for _ in range(degree + 1):
        row = [b - a for a, b in zip(row, row[1:])]
    if any(v != 0 for v in row):
        raise ConfigError(f"the cost is not a polynomial of degree {degree} in the sequence length here; refused")
    return values[:-1]


def summary(stack: Stack, seq_len: Any, dtype: str = "float32") -> tuple:
    """The stack's figures for one sequence of T = seq_len tokens (batch 1), each from networks the
    layers count: (key, title, value, unit) rows of the report's Transformer section."""
    from ..layers.attention import kv_cache_elements
    from ..layers.training import Training
    from ..report import DTYPE_BYTES

    T = seq_len
    fwd = _evaluate(stack, T, dtype=dtype)
    train = _evaluate(stack, T, dtype=dtype, training=Training(input_grad=False))
    params = fwd.total["params"]
    emb = sizes.normalize(sum((r["params"] for r in fwd.rows if not r["block"] and r["type"] in EMBEDDINGS), start=0))
    n = sizes.normalize(params - emb)
    macs = fwd.total["macs"]
    step_macs = sizes.normalize(macs + train.total["backward"]["total"]["macs"])
    per_token_train = _per_token(2 * step_macs, T)
    rows = [
        ("params", "Parameters (tied ones once)", params, "count"),
        ("embedding_params", "  of which embeddings (tokens, positions, class token)", emb, "count"),
        ("non_embedding_params", "  N, the rest", n, "count"),
        ("forward_macs", f"Forward MACs, one sequence of {sizes.to_text(T)}", macs, "count"),
        ("forward_flops_per_token", "Forward FLOPs per token (2 x MACs / T)", _per_token(2 * macs, T), "count"),
        ("training_flops_per_token", "Training FLOPs per token (2 x (forward + backward MACs) / T)", per_token_train, "count"),
        ("six_n", "6N rule (training FLOPs per token)", sizes.normalize(6 * n), "count"),
        ("attention_term", "  what 6N leaves out (attention over the context, embeddings, norms)",
         _per_token(sizes.normalize(2 * step_macs - 6 * n * T), T), "count"),
        ("training_depth", "Sequential steps, a training pass (the network's depth in layers)", fwd.total["sequential_depth"], "count"),
    ]
    if stack.causal and stack.input == "tokens":
        decode = _polynomial_values(lambda t: _evaluate(stack, 1, dtype=dtype, past=t - 1).total["macs"], 1)
        prefill = _polynomial_values(lambda t: _evaluate(stack, t, dtype=dtype).total["macs"], 2)
        attention = [r for r in fwd.rows if not r["block"] and r["type"] == "multiheadattention"]
        width = DTYPE_BYTES[dtype]
        per_token = sizes.normalize(len(attention) * kv_cache_elements(stack.d_model, stack.heads, stack.kv_heads, 1) * width)
        rows += [
            ("prefill_macs", f"Prefill MACs ({sizes.to_text(T)} tokens at once)", macs, "count"),
            ("decode_macs", f"Decode MACs of token {sizes.to_text(T)} (KV cache of the {sizes.to_text(sizes.normalize(T - 1))} before)",
             sizes.normalize(decode[0] + (decode[1] - decode[0]) * (T - 1)), "count"),
            ("generate_macs_cached", f"Generating {sizes.to_text(T)} tokens one by one, KV cache", _poly_sum(decode, T), "count"),
            ("generate_macs_uncached", f"Generating {sizes.to_text(T)} tokens one by one, no cache (each pass reruns the prefix)",
             _poly_sum(prefill, T), "count"),
            ("kv_cache_bytes_per_token", f"KV cache per token ({dtype})", per_token, "bytes"),
            ("kv_cache_bytes", f"KV cache of {sizes.to_text(T)} tokens", sizes.normalize(per_token * T), "bytes"),
            ("sampling_passes", f"Sequential steps, sampling {sizes.to_text(T)} tokens (passes of that depth)", T, "count"),
        ]
    return tuple(rows)
