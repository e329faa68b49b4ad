"""Benchmark of symbolic speed (issue 14): every figure and ratio of the issue's targets,
measured side by side in this one run, each a median wall time of a fresh process (start-up
included) of this checkout's code (`python -m convcalc` with this checkout first on PYTHONPATH).
The commands compared with one another run in turn, one run of each per round, so that a
change of load on the machine falls on both sides of a ratio.

    python tests/benchmarks/bench_symbolic.py [--runs 3]

What is timed, and the targets (each line says "met" or "NOT met"):

- `python -c pass` and `python -c "import sympy"`: the floors the others are compared with;
- `convcalc net examples/resnet50.yaml` (numeric) and the same with `--input 3,H,W`, as the table
  and with `-f json`: each symbolic run <= 2x the numeric run, or <= 1.2x `import sympy` (SymPy
  imported for printing); both ratios are printed;
- `convcalc net examples/densenet121.yaml --input 3,H,W`, the same for efficientnet_b0.yaml, and
  `convcalc transformer --arch vit --image-size S` (ViT-B/16, the preset's patch 16, a symbolic
  image side): each under 0.5 s;
- `convcalc conv2d --input 3,H,W --out-channels 8 --kernel-size 3 --explain` against the same
  without `--explain`: <= 1.5x;
- generated network files, written by this script into a temporary directory: a flat list of
  alternating `conv2d: {out_channels: 4, kernel_size: 3, padding: 1}` and `relu` on input 4,8,8.
  The 10,000- and 50,000-layer files are run numerically with the default output, the table (a
  row per layer: `net` has no option that limits the rows of a flat list, `--depth` only folds
  blocks), to /dev/null: 10,000 layers under 0.5 s, 50,000 under 5x the 10,000-layer run (linear).
  The 10,000-layer file with `-f json` is printed beside it, without a target. The 2,000-layer
  file with `--input 4,H,W` (the most layers a symbolic input may have): under 1 s.

The absolute targets move with the machine's load (another process on the same cores can make
every figure 1.5x slower): the lines give each figure's ratio to the numeric ResNet-50 of the same
run too. Not timed here: the test suite (the issue's "no slower than now" is a pytest run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import run_once

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
ENTRY = [sys.executable, "-m", "convcalc"]
LAYER = "  - conv2d: {out_channels: 4, kernel_size: 3, padding: 1}"


def generated(n: int, folder: Path) -> Path:
    """A flat network file of n layers, conv2d and relu alternating, on input 4,8,8."""
    lines = [f"name: generated {n}", "input: 4,8,8", "layers:"]
    lines += [LAYER if i % 2 == 0 else "  - relu" for i in range(n)]
    path = folder / f"generated_{n}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def medians(commands: list[list[str]], runs: int) -> list[float]:
    """The median wall time of each command, run in turn (one run of each per round), so that
    the ratios compare runs made under the same load. A command that fails is shown with its
    message and counts as infinitely slow."""
    times: list[list[float]] = [[] for _ in commands]
    failed: set[int] = set()
    for _ in range(runs):
        for i, cmd in enumerate(commands):
            if i in failed:
                continue
            try:
                times[i].append(run_once(cmd))
            except subprocess.CalledProcessError:
                failed.add(i)
                done = subprocess.run(cmd, capture_output=True, text=True)
                print(f"  {' '.join(cmd[2:])}: exit {done.returncode}: {(done.stderr.strip().splitlines() or [''])[-1]}")
    return [float("inf") if i in failed else statistics.median(t) for i, t in enumerate(times)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="runs per figure (the median is printed)")
    args = ap.parse_args()
    runs = max(1, args.runs)
    # this checkout's code, not whatever convcalc is installed
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

    def convcalc(*argv: str) -> list[str]:
        return ENTRY + list(argv)

    def line(what: str, seconds: float, note: str = "") -> None:
        print(f"{what:<46}{seconds:7.3f} s{'  ' + note if note else ''}")

    print(f"median of {runs} run(s) each, the commands of a group in turn; {sys.executable}, code from {ROOT}\n")
    resnet = str(EXAMPLES / "resnet50.yaml")
    python, sympy, numeric, table, json = medians([
        [sys.executable, "-c", "pass"],
        [sys.executable, "-c", "import sympy"],
        convcalc("net", resnet),
        convcalc("net", resnet, "--input", "3,H,W"),
        convcalc("net", resnet, "--input", "3,H,W", "-f", "json"),
    ], runs)
    line("python -c pass", python)
    line('python -c "import sympy"', sympy)
    print("\nResNet-50: symbolic <= 2x numeric, or <= 1.2x import sympy")
    line("net resnet50.yaml (numeric)", numeric)
    for what, t in (("table", table), ("-f json", json)):
        ok = t <= 2 * numeric or t <= 1.2 * sympy
        line(f"net resnet50.yaml --input 3,H,W ({what})", t,
             f"{t / numeric:.2f}x numeric, {t / sympy:.2f}x import sympy: {verdict(ok)}")

    print("\nsymbolic networks: each < 0.5 s")
    named = [
        ("net densenet121.yaml --input 3,H,W", convcalc("net", str(EXAMPLES / "densenet121.yaml"), "--input", "3,H,W")),
        ("net efficientnet_b0.yaml --input 3,H,W", convcalc("net", str(EXAMPLES / "efficientnet_b0.yaml"), "--input", "3,H,W")),
        ("transformer --arch vit --image-size S", convcalc("transformer", "--arch", "vit", "--image-size", "S")),
    ]
    for (what, _), t in zip(named, medians([cmd for _, cmd in named], runs)):
        line(what, t, f"{t / numeric:.2f}x numeric resnet50: {verdict(t < 0.5)}")

    print("\none layer's --explain: <= 1.5x the plain symbolic query")
    conv = convcalc("conv2d", "--input", "3,H,W", "--out-channels", "8", "--kernel-size", "3")
    plain, explain = medians([conv, conv + ["--explain"]], runs)
    line("conv2d --input 3,H,W ...", plain)
    line("conv2d --input 3,H,W ... --explain", explain, f"{explain / plain:.2f}x: {verdict(explain <= 1.5 * plain)}")

    print("\ngenerated files (conv2d and relu alternating, input 4,8,8)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        small, large, sym = generated(10_000, folder), generated(50_000, folder), generated(2_000, folder)
        t10, j10, t50, t2 = medians([
            convcalc("net", str(small)),
            convcalc("net", str(small), "-f", "json"),
            convcalc("net", str(large)),
            convcalc("net", str(sym), "--input", "4,H,W"),
        ], runs)
        line("10,000 layers, numeric table", t10, f"{t10 / numeric:.2f}x numeric resnet50; target < 0.5 s: {verdict(t10 < 0.5)}")
        line("10,000 layers, numeric -f json", j10, "(no target)")
        line("50,000 layers, numeric table", t50, f"{t50 / t10:.2f}x 10,000 layers (target < 5x): {verdict(t50 < 5 * t10)}")
        line("2,000 layers, --input 4,H,W (table)", t2, f"{t2 / numeric:.2f}x numeric resnet50; target < 1 s: {verdict(t2 < 1)}")


if __name__ == "__main__":
    main()
