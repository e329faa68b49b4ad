"""Start-up benchmark: a numeric convcalc query against importing Typer and Rich alone.

    python tests/benchmarks/bench_startup.py [--runs 21]

Runs both commands alternately, prints each median wall time and their ratio. Target: ratio
<= 1.3 (convcalc adds little to the libraries it is built on). convcalc's bytecode is compiled
first, as a regular pip install does (an editable install under PYTHONDONTWRITEBYTECODE would
otherwise recompile every module on every run, which no installed copy does).
"""

from __future__ import annotations

import argparse
import compileall
import statistics
import sys
from pathlib import Path

from timing import convcalc_command, run_once as wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=21)
    args = ap.parse_args()
    query = convcalc_command() + ["conv2d", "--input", "3,224,224", "--out-channels", "64", "--kernel-size", "7", "--stride", "2", "--padding", "3", "--no-bias"]
    baseline = [sys.executable, "-c", "import typer, rich.table"]
    import convcalc

    compileall.compile_dir(str(Path(convcalc.__file__).parent), quiet=1)
    for cmd in (query, baseline):  # warm the file cache
        wall(cmd)
    q, b = [], []
    for _ in range(args.runs):
        q.append(wall(query))
        b.append(wall(baseline))
    mq, mb = statistics.median(q), statistics.median(b)
    print(f"convcalc conv2d (numeric, table): median {mq * 1000:.1f} ms over {args.runs} runs")
    print(f"python -c 'import typer, rich.table': median {mb * 1000:.1f} ms over {args.runs} runs")
    print(f"ratio: {mq / mb:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
