"""Regenerate tests/golden/rnn_backward_ops.json: every aten op PyTorch's backward runs for the
recurrent cases of torch_backward_golden.json (rnn, gru, lstm; input_grad true and false).

    /tmp/torchvenv/bin/python tests/golden/make_rnn_backward_ops.py

(torch as in make_backward_golden.py: CPU float32, train(), mkldnn off.) A TorchDispatchMode around
loss.backward() (loss = output.sum()) records, per op name, the elements of its outputs; for mm its
m*k*n and m*n summed; for sum the elements in and out. No counting convention is applied here: the
test (tests/test_backward_recurrent.py) turns the ops into mults, adds and comparisons.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

HERE = Path(__file__).parent


class Record(TorchDispatchMode):
    """Every aten op run under it: calls, output elements, and for matrix products the m*k*n
    products and m*n outputs (bmm per batch), for sums their inputs, for softmax's backward its
    rows, for add/sub with a scale the scaled elements."""

    def __init__(self):
        super().__init__()
        self.ops: dict = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = str(func.overloadpacket.__name__)
        e = self.ops.setdefault(name, {"calls": 0, "elements": 0})
        e["calls"] += 1
        outs = out if isinstance(out, (tuple, list)) else [out]
        e["elements"] += sum(t.numel() for t in outs if isinstance(t, torch.Tensor))
        if name in ("mm", "addmm", "bmm"):
            a, b = (args[1], args[2]) if name == "addmm" else (args[0], args[1])
            batch = a.shape[0] if name == "bmm" else 1
            m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
            e["mkn"] = e.get("mkn", 0) + batch * m * k * n
            e["mn"] = e.get("mn", 0) + batch * m * n
        if name == "sum":
            e["in"] = e.get("in", 0) + args[0].numel()
        if name == "_softmax_backward_data":
            e["rows"] = e.get("rows", 0) + out.numel() // out.shape[args[2]]
        if name in ("add", "add_", "sub", "sub_") and len(args) > 2 and args[2] != 1:
            e["scaled"] = e.get("scaled", 0) + out.numel()
        return out


def main() -> None:
    torch.backends.mkldnn.enabled = False
    golden = json.loads((HERE / "torch_backward_golden.json").read_text())
    out = []
    for case in golden["cases"]:
        if case["layer"] not in ("rnn", "gru", "lstm"):
            continue
        torch.manual_seed(case["seed"])
        module = getattr(nn, case["layer"].upper())(**case["kwargs"])
        module.train()
        t, d = case["input"]
        x0 = torch.randn(t, case["batch"], d)
        runs = []
        for input_grad in (True, False):
            torch.manual_seed(case["seed"] + 1)
            x = x0.clone().requires_grad_(input_grad)
            loss = module(x)[0].sum()
            rec = Record()
            with rec:
                loss.backward()
            runs.append({"input_grad": input_grad, "ops": rec.ops})
            module.zero_grad(set_to_none=True)
        out.append({k: case[k] for k in ("layer", "kwargs", "input", "batch")} | {"runs": runs})
    meta = {"torch": torch.__version__, "how": __doc__.split("\n\n")[2].strip()}
    text = json.dumps({"meta": meta, "cases": out}, separators=(",", ":"))
    (HERE / "rnn_backward_ops.json").write_text(text.replace('{"layer"', '\n{"layer"') + "\n")


if __name__ == "__main__":
    main()
