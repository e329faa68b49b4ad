"""Solving a network for the largest batch whose training step fits in a memory (`solve net
--for batch --memory 16GiB`): memory sizes read without eval, the batch checked by evaluating the
network at it and one more, the symbolic batch against the numeric one, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convcalc import sizes
from convcalc.cli import main
from convcalc.errors import ConvcalcError
from convcalc.layers.training import Training
from convcalc.network import Network, parse_memory

from test_network_training import TINY

EXAMPLES = Path(__file__).parent.parent / "examples"


# -- solving for the batch -------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("16GiB", 16 * 2**30), ("16GB", 16 * 10**9), ("16 gib", 16 * 2**30), ("1.5e9", 1_500_000_000), ("512 MiB", 2**29),
    ("0.5KiB", 512), ("1.1KiB", 1126), ("4096", 4096), ("3B", 3), (".5kB", 500), ("2e3 bytes", 2000), (10**6, 10**6),
])
def test_parse_memory(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "GB", "16XB", "2**40", "-1GB", "0", "0.4", "1e400", "nan", "inf", "__import__('os')",
                                  "16 G B", "1,5GB", True, 1.5, None])
def test_parse_memory_refuses(text):
    with pytest.raises(ConvcalcError):
        parse_memory(text)


@pytest.mark.parametrize("optimizer, memory, input_grad", [
    ("adam", 100_000, False), ("sgd", 4096, False), ("momentum", 10**6, True), ("adamw", 3000, False), ("sgd", 2300, False),
])
def test_solve_batch_by_evaluation(optimizer, memory, input_grad):
    """The batch found fits and one more does not (each evaluated by the network report)."""
    net = Network.from_yaml(TINY)
    training = Training(optimizer=optimizer, input_grad=input_grad)
    found = net.solve_batch(memory, training)
    n = found.batch
    nxt = net.report(batch=n + 1, training=training).total["training_peak_bytes"]
    assert nxt > memory and found.next_peak_bytes == nxt
    if n >= 1:
        assert net.report(batch=n, training=training).total["training_peak_bytes"] <= memory
    else:
        assert any("not even batch 1" in note for note in found.notes)


def test_solve_batch_symbolic_equals_numeric():
    text = TINY.replace("input: 2,6,6", "input: 2,H,W")
    net = Network.from_yaml(text)
    training = Training(optimizer="adam", input_grad=False)
    sym = net.solve_batch("1MiB", training)
    for h, w in [(3, 3), (6, 6), (9, 4), (20, 31), (64, 64)]:
        num = net.solve_batch("1MiB", training, input=f"2,{h},{w}")
        assert max(0, sizes.substitute(sym.batch, {"H": h, "W": w})) == num.batch, (h, w)


def _solve(capsys, *args):
    code = main(["solve", "net", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_solve_cli(tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    code, out, _ = _solve(capsys, str(path), "--for", "batch", "--memory", "100000", "--training", "--optimizer", "adam", "-f", "json")
    data = json.loads(out)
    # fixed: 161 parameters * 4 B * (1 + 1 gradient + 2 adam states) = 2576; per sample: saved
    # 1344/2 = 672 plus working 768/2 = 384: 1056; (100000 - 2576) // 1056 = 92
    assert code == 0 and (data["fixed_bytes"], data["per_sample_bytes"], data["batch"]) == (2576, 1056, 92)
    assert data["training_peak_bytes"] == 2576 + 92 * 1056 and data["next_training_peak_bytes"] == 2576 + 93 * 1056
    code, out, _ = _solve(capsys, str(path), "--for", "batch", "--memory", "1MiB", "--input", "2,H,W", "-f", "json")
    assert code == 0 and json.loads(out)["batch"].startswith("floor(")
    code, out, _ = _solve(capsys, str(path), "--for", "batch", "--memory", "1MiB")
    assert code == 0 and "Largest batch" in out


@pytest.mark.parametrize("args, message", [
    (["--for", "batch"], "convcalc solve net: --memory: missing: give --memory"),
    (["--for", "batch", "--memory", "16XB"], "convcalc solve net: --memory: unknown unit 'XB'"),
    (["--for", "batch", "--memory", "2**40"], "convcalc solve net: --memory: '2**40' is not a memory size"),
    (["--for", "stride", "--memory", "1GB"], "convcalc solve net: --for: 'stride': a network is solved for batch"),
    (["--for", "batch", "--memory", "1GB", "--target", "3,4,4"], "convcalc solve net: --target: not with --for batch"),
    (["--memory", "1GB", "--target", "3,4,4"], "convcalc solve net: --memory: only with --for batch"),
    (["--target", "3,4,4", "--optimizer", "adam"], "convcalc solve net: --training: the training options go with --for batch"),
    ([], "convcalc solve net: --target: missing: give --target"),
    (["--for", "batch", "--memory", "1GB", "--optimizer", "lion"], "convcalc solve net: --optimizer: 'lion' is not one of"),
    (["--for", "batch", "--memory", "1GB", "--input", "2,H,W)"], "convcalc solve net: --input:"),
])
def test_solve_cli_errors(tmp_path, capsys, args, message):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    code, out, err = _solve(capsys, str(path), *args)
    assert code == 2 and out == "" and err.startswith(message) and err.count("\n") == 1, err


def test_flatten_is_a_view_of_what_relu_saved():
    """ReLU saves its output; flatten returns a view of it; the linear after saves that view:
    one storage (PyTorch: relu's result and addmm's mat1 share a storage). Batch 3: x 3*2*3
    floats saved by the first linear, the ReLU's output 3*2*3 once."""
    text = "input: 2,3\nlayers:\n  - linear: {out_features: 3}\n  - relu\n  - flatten\n  - linear: {out_features: 2}\n"
    r = Network.from_yaml(text).report(batch=3, training=Training(input_grad=False))
    assert [row["saved_bytes"] for row in r.rows] == [18 * 4, 18 * 4, 0, 0]
    assert r.total["saved_bytes"] == 36 * 4
    # the last linear computes dL/dx (its input requires grad) and dL/dW: 3 rows x 6 x 2 products each
    assert r.rows[3]["backward"]["grad_input"]["mults"] == r.rows[3]["backward"]["grad_weight"]["mults"] == 36


def test_solve_batch_symbolic_resnet_stage():
    """ResNet-18's first stage (conv, batch norm, ReLU, max pooling, residual blocks, adaptive
    pooling, linear) with a symbolic input: the batch expression substituted equals the numeric
    solve, which is checked by evaluation."""
    net = Network.from_yaml(EXAMPLES / "resnet18_stage1.yaml")
    training = Training(optimizer="adam", input_grad=False)
    sym = net.solve_batch("2GiB", training, input="3,H,W")
    for h, w in [(224, 224), (97, 131), (32, 40)]:
        num = net.solve_batch("2GiB", training, input=f"3,{h},{w}")
        assert sizes.substitute(sym.batch, {"H": h, "W": w}) == num.batch >= 1, (h, w)
        assert net.report(f"3,{h},{w}", batch=num.batch, training=training).total["training_peak_bytes"] <= 2 * 2**30
        assert num.next_peak_bytes > 2 * 2**30


@pytest.mark.parametrize("args", [
    ["net", str(EXAMPLES / "resnet50.yaml"), "--training", "--optimizer", "adam", "-b", "32", "-f", "json"],
    ["solve", "net", str(EXAMPLES / "resnet50.yaml"), "--for", "batch", "--memory", "16GiB", "--optimizer", "adam"],
])
def test_numeric_training_queries_do_not_import_sympy(args):
    import subprocess
    import sys

    code = f"import sys; from convcalc.cli import main; rc = main({args!r}); sys.stdout.flush(); " \
           "print('SYMPY' if 'sympy' in sys.modules else 'CLEAN', rc)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip().endswith("CLEAN 0"), proc.stdout[-300:] + proc.stderr


def test_resnet50_batch_in_16gib_with_adam():
    """The issue's example: the batch found fits in 16 GiB and one more does not (each step's
    peak evaluated at that batch); its saved tensors at batch 32 are PyTorch's (see
    test_network_golden_training)."""
    net = Network.from_yaml(EXAMPLES / "resnet50.yaml")
    training = Training(optimizer="adam", input_grad=False)
    found = net.solve_batch("16GiB", training)
    limit = 16 * 2**30
    assert found.memory == limit and found.batch >= 1
    assert net.report(batch=found.batch, training=training).total["training_peak_bytes"] <= limit
    assert net.report(batch=found.batch + 1, training=training).total["training_peak_bytes"] > limit
    # fixed: parameters, their gradients and two Adam states (4 x 25,557,032 x 4 B), buffers,
    # and what does not grow with the batch (batch norm's per-channel statistics)
    assert found.fixed_bytes >= 4 * 25_557_032 * 4
