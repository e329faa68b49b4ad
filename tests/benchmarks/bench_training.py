"""Training benchmark: `convcalc net examples/resnet50.yaml --training` against the same model's
`loss.backward()` under PyTorch's FlopCounterMode, side by side, and their counts compared.

    python tests/benchmarks/bench_training.py [--runs 5] [--torch-python /tmp/torchvenv/bin/python]

Both are fresh processes timed from start to exit, interleaved (one of each per round, so that
a busy machine slows both alike); the medians and their ratio are printed, then each side's
backward FLOPs (convcalc: backward flops of dL/dx and dL/dW; FlopCounterMode: the matrix and
convolution products it counts, 2 per multiply-accumulate) so the reader sees what was timed
agrees. The PyTorch side needs a Python with torch (2.13.0 CPU here); without one it is skipped.
A script, not a timed test: its numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from timing import convcalc_command, run_once

ROOT = Path(__file__).resolve().parents[2]
RESNET50 = ROOT / "examples" / "resnet50.yaml"

TORCH = """
import json, sys
sys.path.insert(0, {golden!r})
import torch
from torch.utils.flop_counter import FlopCounterMode
from make_golden import resnet
model = resnet(True, [3, 4, 6, 3]).train()
x = torch.randn(1, 3, 224, 224)
loss = model(x).sum()
counter = FlopCounterMode(display=False)
with counter:
    loss.backward()
print(json.dumps({{"backward_flops": counter.get_total_flops()}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--torch-python", default=sys.executable, help="a Python with torch installed")
    args = ap.parse_args()
    ours = convcalc_command() + ["net", str(RESNET50), "--training"]
    theirs = [args.torch_python, "-c", TORCH.format(golden=str(ROOT / "tests" / "golden"))]
    has_torch = subprocess.run([args.torch_python, "-c", "import torch"], capture_output=True).returncode == 0
    counted = json.loads(subprocess.run(ours + ["-f", "json"], capture_output=True, text=True, check=True).stdout)
    backward = counted["total"]["backward"]  # {grad_input, grad_weight, total}
    print(f"convcalc: backward MACs {backward['total']['macs']:,} (dL/dx {backward['grad_input']['macs']:,}, "
          f"dL/dW {backward['grad_weight']['macs']:,}), backward flops {backward['total']['flops']:,}")
    if not has_torch:
        t = statistics.median(run_once(ours) for _ in range(args.runs))
        print(f"convcalc net resnet50.yaml --training: {t:.3f} s; PyTorch not installed here (--torch-python)")
        return
    torch_counts = json.loads(subprocess.run(theirs, capture_output=True, text=True, check=True).stdout)
    print(f"FlopCounterMode: backward total {torch_counts['backward_flops']:,} = 2 x {torch_counts['backward_flops'] // 2:,} MACs")
    times: dict[str, list[float]] = {"convcalc": [], "torch": []}
    run_once(ours), run_once(theirs)  # warm the file cache
    for _ in range(args.runs):
        times["convcalc"].append(run_once(ours))
        times["torch"].append(run_once(theirs))
    ours_t, theirs_t = (statistics.median(times[k]) for k in ("convcalc", "torch"))
    print(f"convcalc net resnet50.yaml --training:        {ours_t:.3f} s (median of {args.runs})")
    print(f"PyTorch forward + loss.backward() under FlopCounterMode: {theirs_t:.3f} s (median of {args.runs})")
    print(f"convcalc is {theirs_t / ours_t:.1f}x faster")


if __name__ == "__main__":
    main()
