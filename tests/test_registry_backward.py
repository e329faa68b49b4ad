"""Every layer in the registry has a backward: written beside its forward, reporting a training
step, and checked against PyTorch's recorded backward or by brute force in a test of its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import example_layer
from convcalc import sizes
from convcalc.layers.base import Layer
from convcalc.layers.registry import LAYERS
from convcalc.layers.training import Training

TESTS = Path(__file__).parent
BACKWARD_GOLDEN = TESTS / "golden" / "torch_backward_golden.json"


@pytest.mark.parametrize("name", list(LAYERS))
def test_every_layer_declares_a_backward(name):
    cls = LAYERS[name]
    assert cls.backward is not Layer.backward, f"{name} has no backward()"
    assert (cls.backward.__doc__ or "").strip(), f"{name}.backward derives nothing in its docstring"


def _same(a, b) -> bool:
    """Equal as numbers, or as expressions (one may be expanded, the other not)."""
    if sizes.is_int(a) and sizes.is_int(b):
        return a == b
    import sympy

    return sympy.expand(sympy.sympify(a) - sympy.sympify(b)) == 0


@pytest.mark.parametrize("name", list(LAYERS))
def test_every_layer_reports_a_training_step(name):
    layer, shape = example_layer(name)
    report = layer.report(shape, batch=2, training=Training(optimizer="adam"))
    assert report.backward is not None and report.training_flops is not None
    assert report.saved_bytes is not None and report.training_peak_bytes is not None
    # the step is its parts
    counts = report.training_counts
    for key in ("mults", "adds", "flops"):
        parts = [counts[p][key] for p in ("forward", "backward", "optimizer")]
        if None not in parts:
            assert _same(counts["step"][key], sum(parts)), (name, key)
    assert _same(counts["backward"]["macs"], counts["grad_input"]["macs"] + counts["grad_weight"]["macs"])
    if report.params:
        # a gradient and Adam's two states per parameter a gradient reaches
        updated = report.params - layer.backward(report.input_shape, report.output_shape, 2).unreached
        assert report.grad_bytes == updated * 4 and report.optimizer_bytes == 2 * updated * 4


#: layers whose PyTorch ground truth is another layer's: how PyTorch runs them
VIA_TORCH = {"causalconv1d": "F.pad then Conv1d (tests/test_backward_autoregressive.py compares the two); inside WaveNet's golden"}


def _golden_layers() -> set[str]:
    """Layers with a recorded PyTorch backward (every tests/golden/*backward*.json)."""
    names = set()
    for path in (TESTS / "golden").glob("*backward*.json"):
        names |= {c.get("layer") for c in json.loads(path.read_text()).get("cases", ())}
    return names


def _brute_forced() -> set[str]:
    """Layers a backward test file declares it counts by brute force or by hand (BRUTE_FORCE)."""
    import importlib.util

    names: set[str] = set()
    for path in sorted(TESTS.glob("test_*.py")):
        if not any(line.startswith("BRUTE_FORCE = ") for line in path.read_text().splitlines()):
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        names |= set(module.BRUTE_FORCE)
    return names


def test_every_layer_has_a_pytorch_golden_backward():
    missing = [name for name in LAYERS if name not in _golden_layers() and name not in VIA_TORCH]
    assert not missing, f"no PyTorch backward golden: {', '.join(missing)}"


def test_every_layer_has_a_brute_force_or_hand_derived_backward_check():
    declared = _brute_forced()
    assert declared <= set(LAYERS), declared - set(LAYERS)
    missing = [name for name in LAYERS if name not in declared]
    assert not missing, f"no brute-force or hand-derived backward test: {', '.join(missing)}"
