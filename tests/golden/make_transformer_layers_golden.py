"""Record tests/golden/transformer_layers_backward_golden.json from PyTorch: nn.TransformerEncoderLayer,
nn.TransformerDecoderLayer and nn.TransformerEncoder in random small configurations, refused ones included.

    /tmp/torchvenv/bin/python tests/golden/make_transformer_layers_golden.py

torch 2.13.0 CPU, float32, oneDNN off, the math attention kernel forced
(torch.nn.attention.sdpa_kernel(SDPBackend.MATH)), MHA fast path off
(torch.backends.mha.set_fastpath_enabled(False)), train() mode, measured by
make_backward_golden.measure (FlopCounterMode around the forward and around loss.backward(),
loss = y.sum(); the tensors autograd saves, by storage). Modules built with batch_first=True.

The decoder layer is called as layer(x, memory, tgt_is_causal=causal, tgt_mask=causal mask): the
memory (S x d_model, S = memory_len) is a tensor held by a wrapper module that requires grad (as an
encoder's output does in training; its saved storages are "other": part of saved_activation_bytes).
nn.TransformerEncoder(layer, num_layers, norm=LayerNorm or None, enable_nested_tensor=False).

Per case: "layer", "kwargs" (as convcalc spells them), "input" [T, E], "batch"; "refused" with PyTorch's
reason, else output_shape, params {name: shape}, buffers, and per run (input_grad true/false)
forward_flops, backward_flops, saved_activation_bytes.
"""

from __future__ import annotations

import json
import random
import sys
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from make_backward_golden import measure  # noqa: E402

OUT = HERE / "transformer_layers_backward_golden.json"
rng = random.Random(20261123 + 131)
torch.backends.mkldnn.enabled = False
torch.backends.mha.set_fastpath_enabled(False)
warnings.filterwarnings("ignore")

LAYER_ARGS = ("nhead", "dim_feedforward", "dropout", "activation", "layer_norm_eps", "norm_first", "bias")


class Decoder(nn.Module):
    """y = decoder_layer(x, memory): the memory requires grad (an encoder's output)."""

    def __init__(self, inner, memory, causal):
        super().__init__()
        self.inner, self.memory, self.causal = inner, memory, causal

    def forward(self, x):
        m = self.memory.detach().requires_grad_(True)
        if self.causal:
            mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1])
            return self.inner(x, m, tgt_mask=mask, tgt_is_causal=True)
        return self.inner(x, m)


def record(layer: str, kw: dict, shape: list, batch: int) -> dict:
    case = {"layer": layer, "kwargs": dict(kw), "input": shape, "batch": batch}
    torch.manual_seed(sum(shape) + batch)
    T, E = shape
    x = torch.randn(batch, T, E)
    args = {k: kw[k] for k in LAYER_ARGS if k in kw}
    try:
        if layer == "transformerdecoderlayer":
            S = kw.get("memory_len") or T
            model = Decoder(nn.TransformerDecoderLayer(E, batch_first=True, **args), torch.randn(batch, S, E), kw.get("causal", False))
        elif layer == "transformerencoderlayer":
            model = nn.TransformerEncoderLayer(E, batch_first=True, **args)
        else:
            inner = nn.TransformerEncoderLayer(E, batch_first=True, **args)
            norm = nn.LayerNorm(E, eps=kw.get("layer_norm_eps", 1e-5)) if kw.get("norm") else None
            model = nn.TransformerEncoder(inner, kw["num_layers"], norm=norm, enable_nested_tensor=False)
        runs = []
        with sdpa_kernel(SDPBackend.MATH):
            for input_grad in (True, False):
                model.zero_grad(set_to_none=True)
                r = measure(model, x, lambda y: y.sum(), input_grad, detail=False)
                runs.append({k: r[k] for k in ("input_grad", "forward_flops", "backward_flops", "saved_activation_bytes")})
            out = list(model(x).shape)
    except (ValueError, RuntimeError, AssertionError, IndexError, ZeroDivisionError) as e:
        case.update(refused=True, reason=str(e).splitlines()[0][:200])
        return case
    case.update(refused=False, output_shape=out[1:],
                params={n.removeprefix("inner."): list(p.shape) for n, p in model.named_parameters()},
                buffers={n: [list(b.shape), str(b.dtype).replace("torch.", "")] for n, b in model.named_buffers()},
                runs=runs)
    return case


def config(layer: str) -> tuple[dict, list, int]:
    heads = rng.choice([1, 2, 3, 4])
    E = heads * rng.choice([1, 2, 3])
    T = rng.choice([1, 2, 3, 5])
    kw: dict = {"nhead": heads, "dim_feedforward": rng.choice([1, 3, 5, 8])}
    kw["dropout"] = rng.choice([0.0, 0.1])
    if rng.random() < 0.5:
        kw["activation"] = "gelu"
    if rng.random() < 0.5:
        kw["norm_first"] = True
    if rng.random() < 0.3:
        kw["bias"] = False
    if rng.random() < 0.3:
        kw["layer_norm_eps"] = 1e-6
    if layer == "transformerdecoderlayer":
        if rng.random() < 0.6:
            kw["memory_len"] = rng.choice([1, 2, 4, 6])
        if rng.random() < 0.5:
            kw["causal"] = True
    if layer == "transformerencoder":
        kw["num_layers"] = rng.choice([1, 2, 3])
        if rng.random() < 0.5:
            kw["norm"] = True
    return kw, [T, E], rng.choice([1, 2, 3])


def cases() -> list:
    out = []
    for layer, n in (("transformerencoderlayer", 14), ("transformerdecoderlayer", 14), ("transformerencoder", 8)):
        for _ in range(n):
            out.append(record(layer, *config(layer)))
    # refused by PyTorch: d_model not divisible by nhead
    out.append(record("transformerencoderlayer", {"nhead": 4, "dim_feedforward": 8}, [3, 6], 2))
    out.append(record("transformerdecoderlayer", {"nhead": 3, "dim_feedforward": 4, "memory_len": 2}, [2, 8], 1))
    out.append(record("transformerencoder", {"nhead": 5, "dim_feedforward": 4, "num_layers": 2}, [2, 8], 1))
    return out


def main() -> None:
    data = {"meta": {"torch": torch.__version__, "dtype": "float32", "mode": "train() forward, y.sum().backward()",
                     "attention_kernel": "math (torch.nn.attention.sdpa_kernel(SDPBackend.MATH))", "onednn": "off",
                     "mha_fastpath": "off", "batch_first": True,
                     "decoder_memory": "S x d_model, requires grad (an encoder's output)",
                     "script": "tests/golden/make_transformer_layers_golden.py"},
            "cases": cases()}
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"{len(data['cases'])} cases, {sum(c['refused'] for c in data['cases'])} refused -> {OUT}")


if __name__ == "__main__":
    main()
