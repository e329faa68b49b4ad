"""What the benchmark scripts share: the convcalc command to run and a wall-clock median."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def convcalc_command() -> list[str]:
    """The installed console script beside this Python, else the one on PATH, else -m."""
    script = Path(sys.executable).with_name("convcalc")
    if script.exists():
        return [str(script)]
    found = shutil.which("convcalc")
    return [found] if found else [sys.executable, "-m", "convcalc"]


def run_once(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def median_wall(cmd: list[str], runs: int) -> float:
    return statistics.median(run_once(cmd) for _ in range(runs))


def run_on_terminal(cmd: list[str]) -> float:
    """Wall time of one run with stdout on a pseudo-terminal (read as it comes)."""
    import os
    import pty

    master, slave = pty.openpty()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)
    try:
        while os.read(master, 65536):
            pass
    except OSError:  # EIO: the child closed the terminal
        pass
    proc.wait()
    elapsed = time.perf_counter() - t0
    os.close(master)
    return elapsed
