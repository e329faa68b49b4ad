"""Regenerate tests/golden/torch_backward_golden.json from PyTorch (the ground truth of the backward pass).

    python3 -m venv /tmp/torchvenv
    /tmp/torchvenv/bin/pip install torch==2.13.0 numpy --index-url https://download.pytorch.org/whl/cpu
    /tmp/torchvenv/bin/python tests/golden/make_backward_golden.py            # layers and networks
    /tmp/torchvenv/bin/python tests/golden/make_backward_golden.py --no-big   # without vgg16, resnet50 at batch 32

torch stays out of convcalc's own environment. Everything runs on the CPU in float32, modules in
train() mode, with oneDNN (mkldnn) disabled so that recurrent layers and convolutions run PyTorch's
native kernels, whose matmuls FlopCounterMode sees. For every case it records:

- "case": the index of the same configuration in torch_golden.json's "cases" (null for the cases
  only this file has: activations, softmax, dropout, flatten, cross-entropy, recurrent layers with
  dropout between layers);
- per run (input_grad true/false: whether x requires grad; networks only false, parameter-free
  layers only true): forward_flops (FlopCounterMode around the train-mode forward),
  backward_flops (FlopCounterMode around loss.backward() only; loss = y.sum(), output[0].sum() for
  recurrent layers, the loss itself for cross-entropy) and its per-op breakdown backward_ops;
- the tensors autograd saves (torch.autograd.graph.saved_tensors_hooks during the forward),
  deduplicated by storage: "saved" is [[storage bytes, dtype, [shapes saved with], kind, times saved],
  ...] where kind is param (a module parameter's storage), buffer (running statistics), input (the
  storage of x), target (cross-entropy's class indices) or other; the totals saved_bytes_all,
  saved_param_bytes, saved_buffer_bytes, saved_input_bytes, saved_target_bytes, saved_other_bytes
  and saved_activation_bytes = everything but parameters and buffers (what convcalc reports);
- grad_shapes: x.grad's shape (with the batch) and every parameter's .grad shape.
"""

from __future__ import annotations

import json
import random
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parent))
from make_golden import (TorchWaveNet, alexnet, mobilenetv2, pixel_mask, resnet,  # noqa: E402
                         vgg16)

warnings.filterwarnings("ignore", message=".*TF32 acceleration.*")
HERE = Path(__file__).parent
OUT = HERE / "torch_backward_golden.json"
GOLDEN = HERE / "torch_golden.json"
rng = random.Random(20261123)
KINDS = ("param", "buffer", "input", "target", "other")


def storage_key(t: torch.Tensor) -> tuple:
    s = t.untyped_storage()
    return (s.data_ptr(), s.nbytes())


def measure(model: nn.Module, x: torch.Tensor, loss_of, input_grad: bool, target=None, detail: bool = True,
            leaves: bool = False) -> dict:
    """One train-mode forward (saved tensors and forward FLOPs recorded), then loss.backward()
    under FlopCounterMode."""
    model.train()
    x = x.detach().requires_grad_(input_grad)
    kind_of = {}
    for p in model.parameters():
        kind_of[storage_key(p)] = "param"
    for b in model.buffers():
        kind_of[storage_key(b)] = "buffer"
    kind_of[storage_key(x)] = "input"
    if target is not None:
        kind_of[storage_key(target)] = "target"
    saved, owner, rows, hooks = [], [], [], []

    def pack(t):
        saved.append(t)
        owner.append(current[0])
        return t

    current = [-1]
    if leaves:  # which leaf module saved what (-1: an op between leaves, e.g. a residual add)
        for m in (m for m in model.modules() if not list(m.children())):
            def pre(mod, args):
                current[0] = len(rows)
                rows.append([type(mod).__name__.lower(), list(args[0].shape[1:]), None, []])

            def post(mod, args, out):
                rows[current[0]][2] = list(out.shape[1:])
                current[0] = -1
            hooks += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]

    fwd = FlopCounterMode(display=False)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), fwd:
        out = model(x)
        loss = loss_of(out)
    for h in hooks:
        h.remove()
    # every saved tensor is still referenced by `saved`, so no storage was freed and reused
    storages: dict = {}
    for t, who in zip(saved, owner):
        key = storage_key(t)
        entry = storages.setdefault(key, {"bytes": key[1], "dtype": str(t.dtype).replace("torch.", ""),
                                          "shapes": [], "kind": kind_of.get(key, "other"), "n": 0, "first": who})
        if leaves and who >= 0 and key not in [tuple(r[:2]) for r in rows[who][3]]:
            rows[who][3].append([key[0], key[1], entry["dtype"], entry["kind"], entry["first"]])
        entry["n"] += 1
        if list(t.shape) not in entry["shapes"]:
            entry["shapes"].append(list(t.shape))
    y = out[0] if isinstance(out, tuple) else out
    rec = {"input_grad": input_grad, "output_shape": [y.shape[0], y.shape[2]] if isinstance(out, tuple) else list(y.shape[1:]),
           "forward_flops": int(fwd.get_total_flops())}
    bwd = FlopCounterMode(display=False)
    with bwd:
        loss.backward()
    rec["backward_flops"] = int(bwd.get_total_flops())
    rec["backward_ops"] = {str(op): int(v) for op, v in bwd.get_flop_counts().get("Global", {}).items()}
    totals = {k: 0 for k in KINDS}
    for e in storages.values():
        totals[e["kind"]] += e["bytes"]
    rec["saved_bytes_all"] = sum(totals.values())
    for k in KINDS:
        rec[f"saved_{k}_bytes"] = totals[k]
    rec["saved_activation_bytes"] = totals["input"] + totals["target"] + totals["other"]
    rec["saved_storages"] = len(storages)
    if detail:
        rec["saved"] = [[e["bytes"], e["dtype"], e["shapes"], e["kind"], e["n"]] for e in storages.values()]
        shapes = {"input": list(x.grad.shape) if x.grad is not None else None}
        shapes.update({name: list(p.grad.shape) if p.grad is not None else None for name, p in model.named_parameters()})
        rec["grad_shapes"] = shapes
    else:
        by = {}
        for e in storages.values():
            by.setdefault(e["kind"], {}).setdefault(e["dtype"], 0)
            by[e["kind"]][e["dtype"]] += e["bytes"]
        rec["saved_by_kind_dtype"] = by
        rec["grad_bytes"] = sum(p.grad.numel() * p.grad.element_size() for p in model.parameters() if p.grad is not None)
    if leaves:
        # per leaf module in forward order: [type, input shape, output shape (both without the batch),
        # [[storage bytes, dtype, kind, index of the first leaf that saved this storage], ...]]
        rec["unattributed_bytes"] = sum(e["bytes"] for e in storages.values() if e["first"] < 0)
        rec["layers"] = [[r[0], r[1], r[2], [e[1:] for e in r[3]]] for r in rows]
    return rec


# -- building the golden configurations again ------------------------------------------------


class Masked(nn.Module):
    """make_golden.run_masked's layer: a Conv2d whose weight was multiplied by the mask once."""

    def __init__(self, kw):
        super().__init__()
        kh, kwid = kw["kernel_size"]
        self.conv = nn.Conv2d(kw["in_channels"], kw["out_channels"], (kh, kwid), padding=(kh // 2, kwid // 2), bias=kw["bias"])
        with torch.no_grad():
            self.conv.weight.mul_(pixel_mask(kw["out_channels"], kw["in_channels"], kh, kwid, kw["mask"], kw["colour_groups"]))

    def forward(self, x):
        return self.conv(x)


POOLS = {"maxpool": "MaxPool", "avgpool": "AvgPool", "adaptiveavgpool": "AdaptiveAvgPool", "adaptivemaxpool": "AdaptiveMaxPool"}


#: what a layer family's golden keeps of each measure() run
RUN_KEYS = ("input_grad", "forward_flops", "backward_flops", "backward_ops", "saved_activation_bytes", "saved")


def layer_runs(model: nn.Module, x: torch.Tensor, owner: nn.Module | None = None) -> list:
    """measure() of a layer (loss = y.sum()) with the input requiring grad, and without when the
    layer (owner, default the model) has parameters: the RUN_KEYS of each run. For the layer
    families' golden scripts (make_activation_golden.py, make_tokens_golden.py, ...)."""
    runs = []
    for input_grad in (True, False):
        if not input_grad and not list((owner or model).parameters()):
            continue
        model.zero_grad(set_to_none=True)
        r = measure(model, x, lambda y: y.sum(), input_grad)
        runs.append({k: r[k] for k in RUN_KEYS})
    return runs


def described(m: nn.Module) -> dict:
    """A module's parameters {name: shape} and buffers {name: [shape, dtype]}, as the goldens record them."""
    return {"params": {n: list(p.shape) for n, p in m.named_parameters()},
            "buffers": {n: [list(b.shape), str(b.dtype).replace("torch.", "")] for n, b in m.named_buffers()}}


def build(case: dict):
    """(module, input shape with the batch, recurrent?) of a golden or new case."""
    layer, kw, b = case["layer"], case["kwargs"], case["batch"]
    shape = [b] + case["input"]
    if layer.startswith("conv"):
        n = int(layer[-2])
        return getattr(nn, f"ConvTranspose{n}d" if "transpose" in layer else f"Conv{n}d")(**kw), shape, False
    if "pool" in layer:
        return getattr(nn, f"{POOLS[layer[:-2]]}{layer[-2]}d")(**kw), shape, False
    if layer.startswith("batchnorm"):
        return getattr(nn, f"BatchNorm{layer[-2]}d")(**kw), shape, False
    if layer == "linear":
        return nn.Linear(**kw), shape, False
    if layer in ("rnn", "gru", "lstm"):
        t, d = case["input"]
        return getattr(nn, layer.upper())(**kw), [t, b, d], True
    if layer == "maskedconv2d":
        return Masked(kw), shape, False
    if layer == "wavenet":
        return TorchWaveNet(kw["output_classes"], kw["residual_channels"], kw["dilation_channels"], kw["skip_channels"],
                            kw["layers_per_block"], kw["blocks"], kw["kernel_size"], kw["output_classes"]), shape, False
    simple = {"relu": nn.ReLU, "relu6": nn.ReLU6, "leakyrelu": nn.LeakyReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
              "gelu": nn.GELU, "silu": nn.SiLU, "softmax": nn.Softmax, "dropout": nn.Dropout, "flatten": nn.Flatten,
              "crossentropy": nn.CrossEntropyLoss}
    return simple[layer](**kw), shape, False


def new_cases() -> list:
    cases = []

    def shape():
        return [rng.randint(1, 9) for _ in range(rng.randint(1, 3))]

    for layer in ("relu", "relu6", "sigmoid", "tanh", "silu"):
        cases += [{"layer": layer, "kwargs": {}, "input": shape(), "batch": rng.randint(1, 3)} for _ in range(8)]
    cases += [{"layer": "leakyrelu", "kwargs": {"negative_slope": rng.choice([0.01, 0.1, 0.2])}, "input": shape(),
               "batch": rng.randint(1, 3)} for _ in range(8)]
    cases += [{"layer": "gelu", "kwargs": {"approximate": a}, "input": shape(), "batch": rng.randint(1, 3)}
              for a in ("none", "tanh") for _ in range(4)]
    for _ in range(8):
        s = shape()
        cases.append({"layer": "softmax", "kwargs": {"dim": rng.randint(-1, len(s))}, "input": s, "batch": rng.randint(1, 3)})
    cases += [{"layer": "dropout", "kwargs": {"p": rng.choice([0.1, 0.2, 0.3, 0.4, 0.5])}, "input": shape(),
               "batch": rng.randint(1, 3)} for _ in range(8)]
    for _ in range(8):
        s = [rng.randint(1, 6) for _ in range(rng.randint(1, 3))]
        start = rng.randint(1, len(s))
        cases.append({"layer": "flatten", "kwargs": {"start_dim": start, "end_dim": rng.randint(start, len(s))},
                      "input": s, "batch": rng.randint(1, 3)})
    cases += [{"layer": "crossentropy", "kwargs": {}, "input": [rng.randint(2, 20)], "batch": rng.randint(1, 4)}
              for _ in range(8)]
    # edge cases: adaptive average pooling to size 1 (a mean), padding modes with zero padding,
    # asymmetric "same" padding
    for n in (1, 2, 3):
        cases.append({"layer": f"adaptiveavgpool{n}d", "kwargs": {"output_size": 1}, "input": [3] + [5] * n, "batch": 2})
        cases.append({"layer": f"adaptiveavgpool{n}d", "kwargs": {"output_size": [1] * (n - 1) + [2]}, "input": [2] + [4] * n,
                      "batch": 1})
        for mode in ("reflect", "replicate", "circular"):
            cases.append({"layer": f"conv{n}d", "kwargs": {"in_channels": 2, "out_channels": 3, "kernel_size": 1, "padding": 0,
                          "padding_mode": mode}, "input": [2] + [4] * n, "batch": 2})
        cases.append({"layer": f"conv{n}d", "kwargs": {"in_channels": 2, "out_channels": 2, "kernel_size": [2] * n,
                      "padding": "same"}, "input": [2] + [5] * n, "batch": 1})
    # recurrent layers with dropout between the layers (none of the forward goldens has it)
    for kind in ("rnn", "gru", "lstm"):
        for _ in range(6):
            h = rng.randint(1, 8)
            kw = {"input_size": rng.randint(1, 8), "hidden_size": h, "num_layers": rng.randint(2, 3),
                  "bias": rng.random() < 0.7, "bidirectional": rng.random() < 0.5, "dropout": rng.choice([0.2, 0.5])}
            if kind == "rnn":
                kw["nonlinearity"] = rng.choice(["tanh", "relu"])
            if kind == "lstm" and rng.random() < 0.5:
                kw["proj_size"] = rng.randint(1, h - 1) if h > 1 else 0
            cases.append({"layer": kind, "kwargs": kw, "input": [rng.randint(1, 6), kw["input_size"]],
                          "batch": rng.randint(1, 3)})
    return cases


def run_case(case: dict, index, seed: int) -> dict:
    torch.manual_seed(seed)
    module, shape, recurrent = build(case)
    x = torch.randn(shape)
    layer = case["layer"]
    rec = {"case": index, **{k: case[k] for k in ("layer", "kwargs", "input", "batch")}, "seed": seed, "runs": []}
    if recurrent:
        rec["layout"] = "(T, batch, features)"
    if layer == "crossentropy":
        target = torch.randint(0, case["input"][0], (case["batch"],))
        lossfn = module
        module = nn.Identity()
        rec["runs"].append(measure(module, x, lambda y: lossfn(y, target), True, target=target))
        return rec
    loss_of = (lambda y: y[0].sum()) if recurrent else (lambda y: y.sum())
    grads = (True,) if not list(module.parameters()) else (True, False)
    for g in grads:
        torch.manual_seed(seed + 1)  # the same dropout masks for both runs
        rec["runs"].append(measure(module, x, loss_of, g))
        module.zero_grad(set_to_none=True)
    return rec


NETWORKS = {"alexnet": alexnet, "vgg16": vgg16, "resnet18": lambda: resnet(False, [2, 2, 2, 2]),
            "resnet50": lambda: resnet(True, [3, 4, 6, 3]), "mobilenetv2": mobilenetv2}


def run_network(name: str, batch: int) -> dict:
    torch.manual_seed(7)
    model = NETWORKS[name]()
    x = torch.randn(batch, 3, 224, 224)
    t0 = time.time()
    rec = {"example": name, "batch": batch, "input": [3, 224, 224],
           "params": sum(p.numel() for p in model.parameters()),
           "buffers_bytes": sum(b.numel() * b.element_size() for b in model.buffers()),
           **measure(model, x, lambda y: y.sum(), False, detail=False, leaves=True)}
    print(name, batch, f"{time.time() - t0:.1f} s", flush=True)
    return rec


def dump(data: dict) -> str:
    """indent=1 like torch_golden.json, but each saved list, grad-shape table and op table on one line."""
    compact = {}

    def mark(obj):
        if isinstance(obj, dict):
            for k in list(obj):
                if k in ("saved", "grad_shapes", "backward_ops", "kwargs", "saved_by_kind_dtype", "input", "output_shape"):
                    token = f"@@{len(compact)}@@"
                    compact[token] = json.dumps(obj[k], separators=(",", ":"))
                    obj[k] = token
                elif k == "layers":
                    for i, row in enumerate(obj[k]):
                        token = f"@@{len(compact)}@@"
                        compact[token] = json.dumps(row, separators=(",", ":"))
                        obj[k][i] = token
                else:
                    mark(obj[k])
        elif isinstance(obj, list):
            for v in obj:
                mark(v)

    mark(data)
    text = json.dumps(data, indent=1)
    for token, value in compact.items():
        text = text.replace(f'"{token}"', value)
    return text + "\n"


def main() -> None:
    big = "--no-big" not in sys.argv
    torch.set_num_threads(2)
    golden = json.loads(GOLDEN.read_text())["cases"]
    records = []
    with torch.backends.mkldnn.flags(enabled=False):
        t0 = time.time()
        for i, case in enumerate(golden):
            if not case["refused"]:
                records.append(run_case(case, i, 1000 + 2 * i))
        print(f"{len(records)} golden cases in {time.time() - t0:.0f} s", flush=True)
        for j, case in enumerate(new_cases()):
            records.append(run_case(case, None, 100000 + 2 * j))
        print(f"{len(records)} cases", flush=True)
        plan = [("alexnet", 1), ("resnet18", 1), ("resnet50", 1), ("mobilenetv2", 1)]
        if big:
            plan += [("vgg16", 1), ("resnet50", 32)]
        networks = []
        for name, batch in plan:
            networks.append(run_network(name, batch))
    meta = {"torch": torch.__version__, "python": sys.version.split()[0], "cases": len(records),
            "how": "CPU float32, train(), torch.backends.mkldnn.flags(enabled=False); saved tensors by "
                   "saved_tensors_hooks during the forward, deduplicated by storage; backward FLOPs by "
                   "FlopCounterMode around loss.backward() only; loss = y.sum() (recurrent: output[0].sum(); "
                   "cross-entropy: the loss)"}
    OUT.write_text(dump({"meta": meta, "cases": records, "networks": networks}))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
