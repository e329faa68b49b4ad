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
