"""Shared by the test files of issue 12's layer families (tests/test_activation.py, test_samplenorm.py,
test_embedding.py, test_lppool.py): a family's PyTorch recording tests/golden/<family>_backward_golden.json
(written by tests/golden/make_<family>_golden.py), building a recorded case, and the two command-line
checks every family makes (bad input is one line and exit 2; a numeric query never imports SymPy)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from convcalc import LAYERS, ConvcalcError
from convcalc.layers.training import Training

ROOT = Path(__file__).parent.parent


def cases(family: str) -> list:
    """The recorded cases of tests/golden/<family>_backward_golden.json."""
    return json.loads((ROOT / "tests" / "golden" / f"{family}_backward_golden.json").read_text())["cases"]


def build(case: dict):
    """The layer of a recorded case, built as a network file would (sizes inferred from the input)."""
    return LAYERS[case["layer"]].build(tuple(case["input"]), dict(case["kwargs"]))


def case_id(case: dict) -> str:
    return f"{case['layer']}-{json.dumps(case['kwargs'], sort_keys=True)}-{case['input']}-{case['batch']}"


def assert_refused(case: dict) -> None:
    """convcalc refuses the case (building it or its training step) with a ConvcalcError."""
    with pytest.raises(ConvcalcError):
        build(case).report(tuple(case["input"]), batch=case["batch"], training=Training())


def assert_matches_golden(case: dict, *, gradients: bool = False) -> tuple:
    """What every family compares with a recorded case: the output shape, the parameters' and the
    buffers' elements, and per run (input_grad true/false) 2 x MACs == FlopCounterMode's forward and
    backward FLOPs and the saved activation bytes; with gradients, the parameters' gradients have
    PyTorch's names and shapes. Returns (the layer, [(run, its training report)]) for a family's own
    further checks."""
    layer = build(case)
    shape, batch = tuple(case["input"]), case["batch"]
    r = layer.report(shape, batch=batch)
    assert list(r.output_shape) == case["output_shape"]
    assert r.params == sum(math.prod(s) for s in case["params"].values())
    assert r.buffers == sum(math.prod(s) for s, _ in case["buffers"].values())
    runs = []
    for run in case["runs"]:
        t = layer.report(shape, batch=batch, training=Training(input_grad=run["input_grad"]))
        assert t.macs * 2 == run["forward_flops"]
        assert t.backward["total"]["macs"] * 2 == run["backward_flops"]
        assert t.saved_bytes == run["saved_activation_bytes"]
        if gradients:
            assert {k: list(v) for k, v in t.gradients.items() if k not in ("input", "output") and "/" not in k} == case["params"]
        runs.append((run, t))
    return layer, runs


def assert_cli_one_line(args: list, prefix: str) -> None:
    """`convcalc ARGS` in a fresh process: exit status 2, nothing on stdout, one line on stderr starting with prefix."""
    proc = subprocess.run([sys.executable, "-m", "convcalc", *args], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == "" and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(prefix), proc.stderr


def assert_numeric_queries_skip_sympy(commands: list) -> None:
    """Each command (argv after `convcalc`) run with `-f json --training` in one fresh interpreter: all
    succeed and SymPy is never imported."""
    code = ("import sys; from convcalc.cli import main; "
            f"rc = [main(a + ['-f', 'json', '--training']) for a in {commands!r}]; "
            "sys.stdout.flush(); print('SYMPY' if 'sympy' in sys.modules else 'CLEAN', rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip().endswith(f"CLEAN {[0] * len(commands)}"), proc.stderr[-500:]
