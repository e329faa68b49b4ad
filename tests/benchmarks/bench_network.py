"""Network benchmark: ResNet-50's whole table, numeric and symbolic, against torchinfo; and
generated files of 1,000 and 10,000 layers to show the cost grows linearly.

    python tests/benchmarks/bench_network.py [--runs 5]

Every figure is a median wall time of a fresh process (start-up included), measured in this one
run. The torchinfo line (import torch, build the same model from torch.nn layers, summary at
224x224) runs only where torch and torchinfo import. Targets: numeric ResNet-50 under 0.6 s and
at least 10x faster than torchinfo; symbolic under 2 s; 1,000 layers under 1 s; 10,000 under 10 s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import convcalc_command, median_wall as wall

ROOT = Path(__file__).resolve().parents[2]
RESNET50 = ROOT / "examples" / "resnet50.yaml"

TORCHINFO = """
import sys
sys.path.insert(0, {golden!r})
import torch, torchinfo
from make_golden import resnet
torchinfo.summary(resnet(True, [3, 4, 6, 3]), input_size=(1, 3, 224, 224), verbose=0)
"""


def generated(n: int, folder: Path) -> Path:
    lines = ["name: generated", "input: 16,64,64", "layers:"]
    for i in range(n):
        lines.append("  - conv2d: {out_channels: 16, kernel_size: 3, padding: 1, bias: false}" if i % 2 == 0 else "  - relu")
    path = folder / f"generated_{n}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    entry = convcalc_command()
    numeric = wall(entry + ["net", str(RESNET50)], args.runs)
    print(f"ResNet-50, numeric table:   {numeric:.3f} s (target < 0.6 s)")
    symbolic = wall(entry + ["net", str(RESNET50), "--input", "3,H,W"], max(1, args.runs // 2))
    print(f"ResNet-50, --input 3,H,W:   {symbolic:.3f} s (target < 2 s)")
    probe = subprocess.run([sys.executable, "-c", "import torch, torchinfo"], capture_output=True)
    if probe.returncode == 0:
        code = TORCHINFO.format(golden=str(ROOT / "tests" / "golden"))
        ti = wall([sys.executable, "-c", code], max(1, args.runs // 2))
        print(f"torchinfo (import torch + summary): {ti:.3f} s; convcalc is {ti / numeric:.1f}x faster (target >= 10x)")
    else:
        print("torchinfo: not installed here (pip install torch==2.13.0 torchinfo to compare)")
    with tempfile.TemporaryDirectory() as folder:
        for n in (1_000, 10_000):
            t = wall(entry + ["net", str(generated(n, Path(folder))), "-f", "json"], max(1, args.runs // 2))
            print(f"generated {n:>6,} layers:     {t:.3f} s (target < {n / 1000:.0f} s)")


if __name__ == "__main__":
    main()
