"""Benchmark of the modern example networks (issue 12): each shipped file's table, numeric and
with a symbolic input, as a fresh process (start-up included), beside `python -c pass` and the
numeric ResNet-50 measured in the same run.

    python tests/benchmarks/bench_modern.py [--runs 5]

Targets: every numeric table under 0.2 s; symbolic EfficientNet-B0 and DenseNet-121 printed
beside numeric ResNet-50 and symbolic ResNet-50 (the symbolic-speed issue sets their budgets).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from timing import convcalc_command, median_wall as wall

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ["efficientnet_b0", "mobilenetv3_small", "shufflenetv2", "regnety_400mf", "densenet121", "unet_bilinear", "resnet50_fpn"]
SYMBOLIC = ["efficientnet_b0", "densenet121"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    entry = convcalc_command()
    python = wall([sys.executable, "-c", "pass"], args.runs)
    print(f"python -c pass:                       {python:.3f} s")
    base = wall(entry + ["net", str(ROOT / "examples" / "resnet50.yaml")], args.runs)
    print(f"resnet50, numeric table:              {base:.3f} s")
    worst = 0.0
    for name in EXAMPLES:
        path = ROOT / "examples" / f"{name}.yaml"
        if not path.exists():
            print(f"{name}: not shipped")
            continue
        t = wall(entry + ["net", str(path)], args.runs)
        worst = max(worst, t)
        print(f"{name + ', numeric table:':<38}{t:.3f} s ({t / base:.2f}x resnet50)")
    print(f"slowest numeric table: {worst:.3f} s (target < 0.2 s): {'met' if worst < 0.2 else 'NOT met'}")
    sym = wall(entry + ["net", str(ROOT / "examples" / "resnet50.yaml"), "--input", "3,H,W"], max(1, args.runs // 2))
    print(f"resnet50, --input 3,H,W:              {sym:.3f} s ({sym / base:.1f}x its numeric run)")
    for name in SYMBOLIC:
        path = ROOT / "examples" / f"{name}.yaml"
        if path.exists():
            t = wall(entry + ["net", str(path), "--input", "3,H,W"], max(1, args.runs // 2))
            print(f"{name + ', --input 3,H,W:':<38}{t:.3f} s ({t / sym:.2f}x symbolic resnet50)")


if __name__ == "__main__":
    main()
