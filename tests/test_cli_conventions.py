"""Command-line conventions: --version, -h, shell completion, grouped and typed help, hints
for a channels-last or batched --input, and every error line starting with `convcalc COMMAND:`."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import convcalc
from convcalc.cli import _width, main

ROOT = Path(__file__).resolve().parent.parent


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    code, out, err = run(capsys, "--version")
    assert code == 0 and out == f"convcalc {convcalc.__version__}\n" and err == ""


@pytest.mark.parametrize("args", [[], ["conv2d"], ["lstm"], ["net"], ["solve"], ["solve", "conv2d"], ["solve", "net"]])
def test_h_is_help_everywhere(capsys, args):
    code, short, _ = run(capsys, *args, "-h")
    assert code == 0 and "Usage: convcalc" in short
    code, long, _ = run(capsys, *args, "--help")
    assert short == long


def test_completion_options_are_offered(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "--install-completion" in out and "--show-completion" in out


def test_show_completion_prints_a_script():
    env = dict(os.environ, PYTHONPATH=str(ROOT), SHELL="/bin/bash")
    proc = subprocess.run([sys.executable, "-m", "convcalc", "--show-completion", "bash"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "_CONVCALC_COMPLETE" in proc.stdout and "complete" in proc.stdout


def test_completion_of_a_solve_command():
    env = dict(os.environ, PYTHONPATH=str(ROOT), _CONVCALC_COMPLETE="complete_bash", COMP_WORDS="convcalc solve maxp", COMP_CWORD="2")
    proc = subprocess.run([sys.executable, "-m", "convcalc"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.split()) == {"maxpool1d", "maxpool2d", "maxpool3d"}


def test_completion_of_a_command_name():
    env = dict(os.environ, PYTHONPATH=str(ROOT), _CONVCALC_COMPLETE="complete_bash", COMP_WORDS="convcalc conv", COMP_CWORD="1")
    proc = subprocess.run([sys.executable, "-m", "convcalc"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert {"conv1d", "conv2d", "conv3d", "convtranspose2d"} <= set(proc.stdout.split())


PANELS = ["Convolution", "Pooling", "Recurrent", "Autoregressive", "Elementwise and other", "Networks", "Solving"]


def _panel_checks(out, positions):
    assert all(p >= 0 for p in positions), dict(zip(PANELS, positions))
    assert positions == sorted(positions)  # in this order

    def panel_of(command):
        at = re.search(rf"^\W* {re.escape(command)} ", out, re.M).start()
        return max((p for p in positions if p < at), default=None)

    assert panel_of("conv2d") == panel_of("convtranspose3d") == positions[0]
    assert panel_of("maxpool2d") == panel_of("adaptiveavgpool1d") == positions[1]
    assert panel_of("lstm") == panel_of("mdrnn") == positions[2]
    assert panel_of("pixelcnn") == panel_of("wavenet") == positions[3]
    assert panel_of("relu") == panel_of("linear") == positions[4]
    assert panel_of("net") == positions[5]
    assert panel_of("solve") == positions[6]


def test_plain_help_groups_commands(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "╭" not in out  # not a terminal: click's plain help
    _panel_checks(out, [m.start() if (m := re.search(rf"^{p}:$", out, re.M)) else -1 for p in PANELS])


def test_terminal_help_groups_commands_in_panels(capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("COLUMNS", "120")
    code, out, _ = run(capsys, "--help")
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)  # the colours
    assert code == 0 and "╭" in out
    _panel_checks(out, [out.find(f"─ {p} ─") for p in PANELS])


def test_help_is_plain_and_rich_free_when_piped():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    code = "import sys; from convcalc.cli import main; rc = main(['conv2d', '--help']); print('RICH' if 'rich' in sys.modules else 'PLAIN', rc)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.stdout.strip().endswith("PLAIN 0"), proc.stdout[-300:] + proc.stderr


@pytest.mark.parametrize("command", ["conv2d", "lstm", "maxpool2d", "wavenet", "mdrnn", "leakyrelu"])
def test_help_shows_typed_metavars(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert "<str>" not in out and "TEXT" not in out
    assert "SHAPE" in out


def test_conv2d_help_marks_required_and_types(capsys):
    code, out, _ = run(capsys, "conv2d", "--help")
    flat = " ".join(out.split())
    assert re.search(r"--out-channels\s+EXPR\b", out) and re.search(r"--kernel-size\s+SIZES\b", out)
    assert flat.count("(required)") == 3  # --input, --out-channels, --kernel-size
    assert "[default: 1]" in flat  # the stride's default is still shown


def test_solve_help_marks_what_for_replaces(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # one line per option
    code, out, _ = run(capsys, "solve", "conv2d", "--help")
    flat = " ".join(out.split())
    assert code == 0 and "(required unless --for names it)" in flat and "TEXT" not in out


@pytest.mark.parametrize("args, hint", [
    (["conv2d", "--input", "224,224,3", "--out-channels", "8", "--kernel-size", "7"], "did you mean --input 3,224,224?"),
    (["conv2d", "--input", "1,3,224,224", "--out-channels", "8", "--kernel-size", "7"], "did you mean --input 3,224,224 --batch 1?"),
    (["conv2d", "--input", "8,3,32,32", "--out-channels", "8", "--kernel-size", "3"], "did you mean --input 3,32,32 --batch 8?"),
    (["conv2d", "--input", "1,224,224,3", "--out-channels", "8", "--kernel-size", "7"], "did you mean --input 3,224,224 --batch 1?"),
    (["maxpool1d", "--input", "4,16,100", "--kernel-size", "3"], "did you mean --input 16,100 --batch 4?"),
    (["conv3d", "--input", "1,8,16,16,3", "--out-channels", "8", "--kernel-size", "3"], "did you mean --input 3,8,16,16 --batch 1?"),
])
def test_input_hints(capsys, args, hint):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"convcalc {args[0]}: --input: ") or err.startswith(f"convcalc {args[0]}: --kernel-size: ")
    assert err.rstrip().endswith(hint), err


@pytest.mark.parametrize("args", [
    ["conv2d", "--input", "3,8", "--out-channels", "8", "--kernel-size", "3"],  # too few entries: no guess
    ["conv2d", "--input", "3,5,5", "--out-channels", "8", "--kernel-size", "7"],  # channels first already
    ["conv2d", "--input", "3,H,W,5", "--out-channels", "8", "--kernel-size", "3"],  # batch would be 3: not clear
])
def test_no_hint_where_not_clear(capsys, args):
    code, _, err = run(capsys, *args)
    assert code == 2 and "did you mean" not in err


@pytest.mark.parametrize("args, start", [
    (["conv5d", "--input", "3"], "convcalc: No such command 'conv5d'"),
    (["lsmt"], "convcalc: No such command 'lsmt'"),
    (["solve", "conv9d"], "convcalc solve: No such command 'conv9d'"),
    (["solve", "conv2d", "--input", "3,8,8"], "convcalc solve conv2d: --target: missing: give --target"),
    (["solve", "conv2d", "--target", "3,8,8", "--bogus", "1"], "convcalc solve conv2d: No such option: --bogus"),
    (["net"], "convcalc net: Missing argument 'FILE'"),
    (["import"], "convcalc import: Missing argument 'FILE'"),
    (["transformer", "--bogus"], "convcalc transformer: No such option: --bogus"),
    (["net", "x.yaml", "--depth", "two"], "convcalc net: Invalid value for '--depth'"),
    (["solve", "net"], "convcalc solve net: Missing argument 'FILE'"),
    (["--bogus"], "convcalc: No such option: --bogus"),
    (["conv2d", "--input"], "convcalc conv2d: Option '--input' requires an argument"),
])
def test_usage_errors_start_with_the_command(capsys, args, start):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(start), err


@pytest.mark.parametrize("args, suggestion", [
    (["conv5d"], "did you mean conv1d, conv2d, conv3d?"),
    (["lsmt"], "did you mean lstm?"),
    (["solve", "conv9d"], "did you mean conv1d, conv2d, conv3d?"),
    (["maxpol2d"], "did you mean maxpool1d, maxpool2d, maxpool3d?"),
])
def test_unknown_command_did_you_mean(capsys, args, suggestion):
    code, _, err = run(capsys, *args)
    assert code == 2 and suggestion in err


def test_unknown_command_without_a_near_name(capsys):
    code, _, err = run(capsys, "zzzzzz")
    assert code == 2 and "did you mean" not in err and "convcalc --help" in err


@pytest.mark.parametrize("columns, tty, expected", [
    ("80", False, 80), ("200", False, 200), ("33", True, 33), ("", False, 120), ("wide", False, 120), ("-5", False, 120),
    ("0", False, 120), ("5", False, 20),
])
def test_width_honours_columns(monkeypatch, columns, tty, expected):
    monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: tty, raising=False)
    assert _width() == expected


def test_width_of_a_terminal_without_columns(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys.stdout, "fileno", lambda: 1, raising=False)
    monkeypatch.setattr(os, "get_terminal_size", lambda fd=1: os.terminal_size((97, 40)))
    assert _width() == 97


def test_columns_reaches_the_table(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "40")
    code, out, _ = run(capsys, "conv2d", "--input", "3,224,224", "--out-channels", "64", "--kernel-size", "7")
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 40


def test_net_columns_and_domain(capsys):
    import json

    from convcalc.cli import main

    assert main(["net", "examples/resnet18.yaml", "--depth", "0", "--columns", "params,macs"]) == 0
    header = capsys.readouterr().out.splitlines()[2].split()
    assert header == ["Layer", "Params", "MACs"]
    assert main(["net", "examples/resnet18.yaml", "--columns", "parms"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("convcalc net: --columns: unknown column 'parms'") and err.count("\n") == 1
    assert main(["net", "examples/unet_small.yaml", "--input", "1,H,W", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["domain"] == ["H divisible by 4", "W divisible by 4"]


def test_a_channels_last_input_that_runs_gets_a_note(capsys):
    """224,224,3 is a valid C,H,W for this conv2d (224 channels, width 3 + 2*3 >= 7): the answer is
    given as asked, and stderr says it looks channels-last."""
    import json

    from convcalc.cli import main

    args = ["conv2d", "--input", "224,224,3", "--out-channels", "64", "--kernel-size", "7", "--stride", "2", "--padding", "3", "-f", "json"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["output_shape"] == [64, 112, 2]
    assert err == ("convcalc conv2d: note: --input 224,224,3 is read as C,H,W (channels first, as PyTorch); "
                   "did you mean --input 3,224,224?\n")
    assert main(["conv2d", "--input", "3,224,224", "--out-channels", "64", "--kernel-size", "7", "-f", "json"]) == 0
    assert capsys.readouterr().err == ""
