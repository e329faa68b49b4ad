"""The training options on the command line and in the API: what they switch on, the JSON
contract of the training step, and one-line errors (exit 2) for bad values."""

from __future__ import annotations

import json

import pytest

from convcalc import ConvcalcError, Training
from convcalc.cli import main
from convcalc.layers.training import optimizers

STEM = ["conv2d", "--input", "3,32,32", "--out-channels", "8", "--kernel-size", "3", "--padding", "1"]


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args, message", [
    (["--optimizer", "rmsprop"], "--optimizer: 'rmsprop' is not one of sgd, momentum, adam, adamw"),
    (["--mixed-precision", "fp8"], "--mixed-precision: 'fp8' is not one of float16, bfloat16"),
    (["--optimizer", ""], "--optimizer: '' is not one of"),
])
def test_bad_training_options_are_one_line(capsys, args, message):
    code, out, err = run(capsys, *STEM, *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("convcalc conv2d: ") and message in err


@pytest.mark.parametrize("kwargs, match", [
    ({"optimizer": "lion"}, "optimizer: 'lion' is not one of"),
    ({"optimizer": None}, "optimizer: None is not one of"),
    ({"mixed_precision": "float32"}, "mixed_precision: 'float32' is not one of"),
    ({"input_grad": "yes"}, "input_grad: expected True or False"),
    ({"frozen": 1}, "frozen: expected True or False"),
])
def test_bad_training_arguments_raise_convcalc_errors(kwargs, match):
    with pytest.raises(ConvcalcError, match=match):
        Training(**kwargs)


def test_without_training_the_json_has_no_training_keys(capsys):
    _, out, _ = run(capsys, *STEM, "-f", "json")
    data = json.loads(out)
    for key in ("backward", "training_flops", "saved_bytes", "training_peak_bytes", "gradients"):
        assert key not in data


@pytest.mark.parametrize("flag", [["--training"], ["-T"], ["--gradients"], ["--optimizer", "adam"], ["--mixed-precision", "bf16"],
                                  ["--no-input-grad"]])
def test_each_training_option_turns_the_step_on(capsys, flag):
    code, out, _ = run(capsys, *STEM, *flag, "-f", "json")
    data = json.loads(out)
    assert code == 0
    for key in ("backward", "optimizer_flops", "training_flops", "saved_bytes", "grad_bytes", "optimizer_bytes",
                "training_peak_bytes", "gradients"):
        assert key in data, key
    assert set(data["backward"]) >= {"grad_input", "grad_weight"}


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam", "adamw"])
def test_optimizer_counts_and_state_follow_the_table(capsys, name):
    """Per parameter element: the table's mults, adds and transcendentals; state tensors of the
    parameter's size (sgd 0, momentum 1, adam/adamw 2)."""
    _, out, _ = run(capsys, *STEM, "--optimizer", name, "-f", "json")
    data = json.loads(out)
    table = optimizers()[name]
    params = data["params"]
    opt = data["training_counts"]["optimizer"]
    assert (opt["mults"], opt["adds"], opt["transcendentals"]) == (table["mults"] * params, table["adds"] * params, table["transcendentals"] * params)
    assert data["optimizer_bytes"] == {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}[name] * params * 4
    assert data["training_flops"] == data["flops"] + data["backward"]["total"]["flops"] + data["optimizer_flops"]


def test_mixed_precision_halves_saved_tensors_and_keeps_float32_masters(capsys):
    _, plain, _ = run(capsys, *STEM, "--training", "-f", "json")
    _, mixed, _ = run(capsys, *STEM, "--mixed-precision", "bf16", "-f", "json")
    plain, mixed = json.loads(plain), json.loads(mixed)
    assert mixed["saved_bytes"] * 2 == plain["saved_bytes"]
    assert mixed["grad_bytes"] == plain["grad_bytes"] == plain["params"] * 4
    # float32 masters + bfloat16 copy + gradients + state + saved + working set
    working = (8 * 32 * 32 + 3 * 32 * 32) * 2
    assert mixed["training_peak_bytes"] == plain["params"] * (4 + 2) + mixed["grad_bytes"] + mixed["saved_bytes"] + working


def test_no_input_grad_drops_dl_dx(capsys):
    _, out, _ = run(capsys, *STEM, "--no-input-grad", "-f", "json")
    data = json.loads(out)
    assert data["backward"]["grad_input"]["macs"] == 0 and data["backward"]["grad_weight"]["macs"] == data["macs"]
    assert "input" not in data["gradients"]
