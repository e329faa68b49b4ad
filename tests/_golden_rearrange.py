"""Shared by tests/test_rearrange.py and tests/test_pad.py: convcalc against the PyTorch recording
tests/golden/rearrange_backward_golden.json (tests/golden/make_rearrange_golden.py)."""

import json
from pathlib import Path

from convcalc import LAYERS
from convcalc.layers.training import Training

GOLDEN = Path(__file__).parent / "golden" / "rearrange_backward_golden.json"
CASES = json.loads(GOLDEN.read_text())["cases"]


def case_id(case: dict) -> str:
    return f"{case['layer']}-{json.dumps(case['kwargs'], sort_keys=True)}-{case['input']}-b{case['batch']}"


def convcalc_refuses(case: dict) -> bool:
    """PyTorch refused it, or it is one convcalc refuses by its own stated rules: it reaches the
    batch dimension, leaves a size 0, or (circular padding) PyTorch read positions it had not written."""
    return (case["refused"] or case["batch_involved"] or case.get("inconsistent", False)
            or 0 in case["output_shape"])


def report(case: dict):
    cls = LAYERS[case["layer"]]
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in case["kwargs"].items()}
    return cls(**kwargs).report(tuple(case["input"]), batch=case["batch"], training=Training())


def check(case: dict) -> None:
    """Every recorded number: shapes, parameters, FlopCounterMode's flops forward and backward
    (macs * 2), saved bytes, the adds read off PyTorch's tensors of ones."""
    r = report(case)
    assert list(r.output_shape) == case["output_shape"]
    assert case["output_batch"] == case["batch"]
    assert r.params == case["params"] == 0 and r.buffers == case["buffers"] == 0
    assert 2 * r.macs == case["forward_flops"]
    assert 2 * r.backward["total"]["macs"] == case["backward_flops"]
    assert r.saved_bytes == case["saved_activation_bytes"]
    assert r.adds == case["forward_adds"]
    assert r.backward["grad_input"]["adds"] == case["grad_adds"]
    assert r.mults == r.comparisons == r.transcendentals == 0
