"""Regenerate tests/golden/frozen_backward_golden.json: PyTorch's backward of FROZEN layers
(every parameter requires_grad=False) whose input needs a gradient: what a frozen layer inside
a network still computes (dL/dx through it) and saves.

    python tests/golden/make_frozen_backward_golden.py   (torch==2.13.0, as make_backward_golden.py)

Each case is built by make_backward_golden.build (PixelCNN: make_pixelcnn_backward_golden's modules),
the same modules as the unfrozen golden, and
recorded by make_backward_golden.measure with input_grad=True after freezing the parameters:
FlopCounterMode around loss.backward() and the tensors autograd saves (by storage). With neither
gradient wanted PyTorch saves nothing and runs no backward, so that case needs no recording.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from make_backward_golden import build, measure  # noqa: E402
from make_pixelcnn_backward_golden import Gated, Vanilla  # noqa: E402

OUT = Path(__file__).with_name("frozen_backward_golden.json")

CASES = [
    {"layer": "rnn", "kwargs": {"input_size": 3, "hidden_size": 4, "num_layers": 2}, "input": [5, 3], "batch": 2},
    {"layer": "gru", "kwargs": {"input_size": 3, "hidden_size": 4}, "input": [5, 3], "batch": 2},
    {"layer": "lstm", "kwargs": {"input_size": 3, "hidden_size": 4, "num_layers": 2}, "input": [5, 3], "batch": 2},
    {"layer": "lstm", "kwargs": {"input_size": 3, "hidden_size": 4, "proj_size": 2}, "input": [5, 3], "batch": 2},
    {"layer": "lstm", "kwargs": {"input_size": 3, "hidden_size": 4, "num_layers": 2, "bidirectional": True, "dropout": 0.5},
     "input": [5, 3], "batch": 2},
    {"layer": "conv2d", "kwargs": {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1},
     "input": [3, 9, 8], "batch": 2},
    {"layer": "linear", "kwargs": {"in_features": 6, "out_features": 5}, "input": [4, 6], "batch": 3},
    {"layer": "batchnorm2d", "kwargs": {"num_features": 3}, "input": [3, 4, 5], "batch": 2},
    {"layer": "wavenet", "kwargs": {"residual_channels": 4, "dilation_channels": 4, "skip_channels": 1, "layers_per_block": 3,
                                    "blocks": 2, "kernel_size": 2, "output_classes": 6}, "input": [6, 18], "batch": 1},
    {"layer": "wavenet", "kwargs": {"residual_channels": 3, "dilation_channels": 2, "skip_channels": 2, "layers_per_block": 2,
                                    "blocks": 1, "kernel_size": 3, "output_classes": 4}, "input": [4, 12], "batch": 2},
    {"layer": "pixelcnn", "kwargs": {"in_channels": 3, "channels": 6, "layers": 2, "kernel_size": 3, "first_kernel_size": 5,
                                     "colour_groups": 3, "output_layers": 2, "output_classes": 4}, "input": [3, 5, 6], "batch": 2},
    {"layer": "pixelcnn", "kwargs": {"in_channels": 1, "channels": 4, "layers": 2, "kernel_size": 3, "first_kernel_size": 3,
                                     "residual": True, "output_layers": 1, "output_classes": 3, "bias": False},
     "input": [1, 4, 5], "batch": 1},
    {"layer": "pixelcnn", "kwargs": {"in_channels": 3, "channels": 4, "layers": 2, "kernel_size": 3, "first_kernel_size": 5,
                                     "gated": True, "output_layers": 2, "output_classes": 3}, "input": [3, 5, 4], "batch": 2},
]


def pixelcnn(case: dict):
    """The PixelCNN modules of make_pixelcnn_backward_golden.py for a case's arguments."""
    kw = {"colour_groups": 1, "residual": False, "gated": False, "bias": True, **case["kwargs"]}
    C, h, d, k, k1 = (kw[n] for n in ("in_channels", "channels", "layers", "kernel_size", "first_kernel_size"))
    if kw["gated"]:
        return Gated(C, h, d, k, k1, kw["output_layers"], kw["output_classes"], kw["bias"])
    return Vanilla(C, h, d, k, k1, kw["colour_groups"], kw["residual"], kw["output_layers"], kw["output_classes"], kw["bias"])


def main() -> None:
    torch.backends.mkldnn.enabled = False
    records = []
    for i, case in enumerate(CASES):
        torch.manual_seed(1000 + i)
        if case["layer"] == "pixelcnn":
            module, shape, recurrent = pixelcnn(case), [case["batch"], *case["input"]], False
        else:
            module, shape, recurrent = build(case)
        for p in module.parameters():
            p.requires_grad_(False)
        x = torch.randn(shape)
        loss_of = (lambda y: y[0].sum()) if recurrent else (lambda y: y.sum())
        torch.manual_seed(2000 + i)  # the dropout masks
        run = measure(module, x, loss_of, True, detail=False)
        records.append({**case, "frozen": True, "input_grad": True, **{k: run[k] for k in (
            "forward_flops", "backward_flops", "saved_activation_bytes", "saved_param_bytes", "grad_bytes")}})
    meta = {"torch": torch.__version__, "how": "parameters requires_grad=False, input requires_grad=True; CPU float32, "
                                               "train(), mkldnn off; loss = y.sum() (recurrent: output[0].sum())"}
    OUT.write_text(json.dumps({"meta": meta, "cases": records}, indent=1) + "\n")


if __name__ == "__main__":
    main()
