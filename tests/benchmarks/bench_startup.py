"""Start-up benchmark: convcalc's commands against importing Typer and Rich alone.

    python tests/benchmarks/bench_startup.py [--runs 21]

Runs the baseline (`python -c "import typer, rich.table"`), a numeric conv2d query and
`convcalc conv2d --help` interleaved (one of each per round, so that a busy machine slows all
alike), prints each median wall time and the ratios to the baseline. Targets: the numeric query
<= 0.8, --help <= 1.3 (both piped: --help is click's plain help there; on a terminal it is
Rich's boxed help, measured too, for information). convcalc's bytecode is compiled first, as a regular pip install does (an
editable install under PYTHONDONTWRITEBYTECODE would otherwise recompile every module on every
run, which no installed copy does). A script, not a timed test: its numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import compileall
import statistics
import sys
from pathlib import Path

from timing import convcalc_command, run_on_terminal, run_once as wall

TARGETS = {"numeric": 0.8, "help": 1.3}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=21)
    args = ap.parse_args()
    convcalc = convcalc_command()
    commands = {
        "baseline": [sys.executable, "-c", "import typer, rich.table"],
        "numeric": convcalc + ["conv2d", "--input", "3,224,224", "--out-channels", "64", "--kernel-size", "7", "--stride", "2",
                               "--padding", "3", "--no-bias"],
        "help": convcalc + ["conv2d", "--help"],
    }
    import convcalc as package

    compileall.compile_dir(str(Path(package.__file__).parent), quiet=1)
    on_terminal = {"help_tty": commands["help"]}  # for information: Rich's boxed help, no target
    for cmd in commands.values():  # warm the file cache
        wall(cmd)
    times: dict[str, list[float]] = {name: [] for name in [*commands, *on_terminal]}
    for _ in range(args.runs):
        for name, cmd in commands.items():
            times[name].append(wall(cmd))
        for name, cmd in on_terminal.items():
            times[name].append(run_on_terminal(cmd))
    medians = {name: statistics.median(t) for name, t in times.items()}
    base = medians["baseline"]
    print(f"python -c 'import typer, rich.table': median {base * 1000:.1f} ms over {args.runs} runs")
    labels = {"numeric": "convcalc conv2d (numeric, table, piped)", "help": "convcalc conv2d --help (piped)"}
    for name, label in labels.items():
        ratio = medians[name] / base
        verdict = "ok" if ratio <= TARGETS[name] else "OVER"
        print(f"{label}: median {medians[name] * 1000:.1f} ms, ratio {ratio:.2f} (target <= {TARGETS[name]}: {verdict})")
    tty = medians["help_tty"]
    print(f"convcalc conv2d --help (on a terminal, Rich): median {tty * 1000:.1f} ms, ratio {tty / base:.2f} (no target)")


if __name__ == "__main__":
    main()
