"""Regenerate tests/golden/resample_backward_golden.json: PyTorch's upsample / interpolate.

    /tmp/torchvenv/bin/python tests/golden/make_resample_golden.py   (torch==2.13.0 CPU, as make_backward_golden.py)

Random configurations of torch.nn.Upsample and of torch.nn.functional.interpolate (wrapped in a
module), PyTorch's refusals included (recorded as refused with the exception's first line): every
mode on every input rank, size or scale_factor (one number or one per dimension, of the right or
the wrong length, floats, zero and negative ones), align_corners and recompute_scale_factor None,
True or False, antialias. Each accepted case is measured with make_backward_golden.measure (the
output shape, FlopCounterMode forward and backward flops, the tensors autograd saves), and
``grad_nonzero``: how many input elements get a non-zero gradient from dL/dy = 1 (for nearest
modes, exactly the input elements some output reads; for interpolating modes at most that, as a
tap can have weight 0).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from make_backward_golden import measure  # noqa: E402

OUT = Path(__file__).with_name("resample_backward_golden.json")
rng = random.Random(20261124)
MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear")
NEEDS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


class Interp(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.kw = kw

    def forward(self, x):
        return F.interpolate(x, **self.kw)


def scale_value():
    return rng.choice([2, 3, 2.0, 1.5, 0.5, 2.5, 0.7, 1.25, 1.0, 0.3, 3.7, 0.25, 4])


def random_case(i: int) -> dict:
    layer = rng.choice(["upsample", "interpolate"])
    mode = rng.choice(MODES)
    d = NEEDS.get(mode, rng.randint(1, 3))
    if rng.random() < 0.08:  # a rank the mode does not take
        d = rng.choice([x for x in (1, 2, 3) if x != d] or [d])
    shape = [rng.randint(1, 4)] + [rng.randint(1, 9) for _ in range(d)]
    args: dict = {"mode": mode}
    pick = rng.random()
    if pick < 0.4:
        args["scale_factor"] = scale_value() if rng.random() < 0.6 else [scale_value() for _ in range(d)]
    elif pick < 0.8:
        args["size"] = rng.randint(1, 12) if rng.random() < 0.5 else [rng.randint(1, 12) for _ in range(d)]
    else:  # refusals: both, neither, a wrong length, zero or negative
        r = rng.random()
        if r < 0.2:
            args["size"], args["scale_factor"] = 4, 2.0
        elif r < 0.3:
            pass
        elif r < 0.55:
            args["scale_factor"] = [2.0] * (d + 1)
        elif r < 0.7:
            args["size"] = [4] * (d + 1)
        elif r < 0.85:
            args["scale_factor"] = rng.choice([0.0, -2.0, 0.05])
        else:
            args["size"] = rng.choice([0, -3])
    if rng.random() < 0.5:
        args["align_corners"] = rng.choice([True, False])
    if rng.random() < 0.3:
        args["recompute_scale_factor"] = rng.choice([True, False])
    if layer == "interpolate" and rng.random() < 0.1:
        args["antialias"] = True
    return {"layer": layer, **args, "input": shape, "batch": rng.randint(1, 2)}


def run(case: dict) -> dict:
    kw = {k: case[k] for k in ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias") if k in case}
    try:
        if case["layer"] == "upsample":
            # nn.Upsample takes a tuple of scale factors (a list is refused by float(list)): what
            # convcalc's one-per-dimension value means
            if isinstance(kw.get("scale_factor"), list):
                kw["scale_factor"] = tuple(kw["scale_factor"])
            model = nn.Upsample(**kw)
        else:
            model = Interp(**kw)
        x = torch.randn(case["batch"], *case["input"])
        rec = measure(model, x, lambda y: y.sum(), True)
        # which input elements dL/dy = 1 reaches (with a non-zero weight)
        x2 = torch.zeros(case["batch"], *case["input"], dtype=torch.float64, requires_grad=True)
        model(x2).backward(torch.ones(case["batch"], *rec["output_shape"], dtype=torch.float64))
        grad_nonzero = int((x2.grad[0] != 0).sum())
    except Exception as e:  # noqa: BLE001 - PyTorch's refusal is the record
        return {**case, "refused": True, "reason": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    return {**case, "refused": False, "output_shape": rec["output_shape"], "params": 0,
            "buffers": sum(b.numel() for b in model.buffers()), "forward_flops": rec["forward_flops"],
            "backward_flops": rec["backward_flops"], "saved_activation_bytes": rec["saved_activation_bytes"],
            "saved_storages": rec["saved_storages"], "grad_nonzero": grad_nonzero}


def main() -> None:
    torch.manual_seed(0)
    cases = [run(random_case(i)) for i in range(220)]
    # fixed cases: the classic U-Net / FPN upsamplings and float-product edge cases
    fixed = [
        {"layer": "upsample", "scale_factor": 2, "mode": "bilinear", "align_corners": True, "input": [8, 7, 5], "batch": 2},
        {"layer": "upsample", "scale_factor": 2, "mode": "nearest", "input": [4, 6, 6], "batch": 1},
        {"layer": "upsample", "scale_factor": 1.2, "mode": "nearest", "input": [2, 9], "batch": 1},
        {"layer": "upsample", "scale_factor": 0.7, "mode": "nearest", "input": [2, 10], "batch": 1},
        {"layer": "interpolate", "scale_factor": 0.7, "mode": "linear", "recompute_scale_factor": True, "input": [2, 10], "batch": 1},
        {"layer": "interpolate", "size": [5, 3, 4], "mode": "trilinear", "input": [2, 3, 4, 5], "batch": 2},
        {"layer": "interpolate", "scale_factor": [1.5, 2.5], "mode": "bicubic", "input": [1, 5, 3], "batch": 1},
        {"layer": "upsample", "scale_factor": 0.0, "size": 4, "mode": "nearest", "input": [1, 3], "batch": 1},
        {"layer": "upsample", "scale_factor": 2, "mode": "area", "input": [1, 3], "batch": 1},
        {"layer": "interpolate", "mode": "nearest", "input": [1, 3], "batch": 1},
        {"layer": "interpolate", "scale_factor": 0.0, "mode": "nearest", "input": [1, 3], "batch": 1},
        {"layer": "interpolate", "size": 6, "mode": "bilinear", "antialias": True, "input": [1, 4, 4], "batch": 1},
        {"layer": "interpolate", "size": 6, "mode": "bicubic", "align_corners": True, "input": [1, 4, 4, 4], "batch": 1},
        {"layer": "upsample", "size": 16, "mode": "bicubic", "align_corners": False, "input": [2, 3, 5], "batch": 1},
        {"layer": "upsample", "scale_factor": 3, "mode": "nearest-exact", "input": [2, 2, 3, 4], "batch": 1},
    ]
    cases += [run(c) for c in fixed]
    meta = {"torch": torch.__version__, "script": "tests/golden/make_resample_golden.py",
            "note": "saved_activation_bytes: bytes of tensors autograd saved (none for upsampling); "
                    "grad_nonzero: input elements of sample 0 with a non-zero gradient from dL/dy = 1"}
    OUT.write_text(json.dumps({"meta": meta, "cases": cases}, indent=1) + "\n")
    print(f"{len(cases)} cases ({sum(c['refused'] for c in cases)} refused) -> {OUT}")


if __name__ == "__main__":
    main()
