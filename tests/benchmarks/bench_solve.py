"""Solve benchmark: an output of 10**18 is answered as fast as 16 (closed form, no search).

    python tests/benchmarks/bench_solve.py [--runs 11]

Prints the median wall time of `convcalc solve conv1d` for a target length of 16 and of 10**18,
their ratio, and whether the 10**18 query stays under the 0.5 s target.
"""

from __future__ import annotations

import argparse
import statistics

from timing import convcalc_command, run_once as wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=11)
    args = ap.parse_args()
    base = convcalc_command() + ["solve", "conv1d", "--in-channels", "7", "--kernel-size", "9", "--stride", "3", "--padding", "1", "--target"]
    small, huge = base + ["1,16"], base + ["1,10**18"]
    wall(small), wall(huge)
    a = [wall(small) for _ in range(args.runs)]
    b = [wall(huge) for _ in range(args.runs)]
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"solve conv1d, target 16:     median {ma * 1000:.1f} ms over {args.runs} runs")
    print(f"solve conv1d, target 10**18: median {mb * 1000:.1f} ms over {args.runs} runs")
    print(f"ratio: {mb / ma:.2f}; 10**18 under 0.5 s: {'yes' if mb < 0.5 else 'NO'}")


if __name__ == "__main__":
    main()
