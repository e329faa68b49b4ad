"""The command line: every format, the output file, and one-line errors with exit 2."""

import csv
import io
import json
import subprocess
import sys

import pytest

from convcalc import LAYERS
from convcalc.cli import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


STEM = ["conv2d", "--input", "3,224,224", "--out-channels", "64", "--kernel-size", "7", "--stride", "2", "--padding", "3", "--no-bias"]


def test_json_contract(capsys):
    code, out, err = run(capsys, *STEM, "--format", "json")
    assert code == 0 and err == ""
    data = json.loads(out)
    for key in ("layer", "input_shape", "output_shape", "params", "weights", "biases", "buffers", "mults", "adds",
                "macs", "flops", "connections", "activation_bytes", "param_bytes", "gemm", "sequential_steps"):
        assert key in data
    assert data["layer"] == "conv2d"
    assert data["output_shape"] == [64, 112, 112]
    assert data["params"] == 9408 and data["macs"] == 118_013_952
    assert data["gemm"] == [64, 147, 112 * 112]
    assert data["sequential_steps"] == 1


def test_json_symbolic_values_are_strings(capsys):
    code, out, _ = run(capsys, "conv2d", "--input", "3,H,W", "--out-channels", "64", "--kernel-size", "3", "--stride", "2", "-f", "json")
    data = json.loads(out)
    assert code == 0
    assert data["output_shape"] == [64, "floor((H - 3)/2) + 1", "floor((W - 3)/2) + 1"]
    assert data["params"] == 1792


def test_table_default(capsys):
    code, out, _ = run(capsys, *STEM)
    assert code == 0
    assert "118,013,952" in out and "64 x 112 x 112" in out and "\x1b[" not in out


def test_human(capsys):
    _, out, _ = run(capsys, *STEM, "--human")
    assert "118.01 M" in out


def test_markdown(capsys):
    code, out, _ = run(capsys, "maxpool2d", "--input", "64,112,112", "--kernel-size", "3", "--stride", "2", "--padding", "1", "--format", "markdown")
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("|")]
    assert rows[0] == "| Quantity | Value |" and rows[1] == "|---|---:|"
    assert "| Output shape | 64 x 56 x 56 |" in rows
    assert all(line.count("|") == 3 for line in rows)


def test_csv(capsys):
    code, out, _ = run(capsys, *STEM, "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 1
    assert rows[0]["output_shape"] == "64x112x112" and rows[0]["macs"] == "118013952"


def test_latex(capsys):
    code, out, _ = run(capsys, "conv2d", "--input", "3,H,W", "--out-channels", "8", "--kernel-size", "3", "--stride", "2", "-f", "latex")
    assert code == 0
    assert out.count(r"\begin{tabular}") == out.count(r"\end{tabular}") == 1
    assert r"\toprule" in out and r"\bottomrule" in out
    assert r"\left\lfloor" in out and "floor(" not in out
    assert "Integer(" not in out and "Symbol(" not in out


def test_output_file_format_from_extension(tmp_path, capsys):
    target = tmp_path / "table.md"
    code, out, err = run(capsys, *STEM, "-o", str(target))
    assert code == 0 and out == "" and err == ""
    assert target.read_text().splitlines()[2] == "| Quantity | Value |"
    target = tmp_path / "r.json"
    assert run(capsys, *STEM, "--output", str(target))[0] == 0
    assert json.loads(target.read_text())["params"] == 9408


def test_output_file_not_written_on_error(tmp_path, capsys):
    target = tmp_path / "out.json"
    target.write_text("old")
    code, _, err = run(capsys, "conv2d", "--input", "3,5,5", "--out-channels", "1", "--kernel-size", "9", "-o", str(target))
    assert code == 2 and target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_unknown_extension(tmp_path, capsys):
    code, _, err = run(capsys, *STEM, "-o", str(tmp_path / "x.doc"))
    assert code == 2 and "--output" in err


BAD = [
    (["conv2d", "--input", "3,8,8", "--out-channels", "4", "--kernel-size", "3", "--stride", "0"], "--stride: must be positive, got 0"),
    (["conv2d", "--input", "3,8,8", "--out-channels", "4", "--kernel-size", "3", "--dilation", "0"], "--dilation: must be positive, got 0"),
    (["conv2d", "--input", "3,-8,8", "--out-channels", "4", "--kernel-size", "3"], "--input: shape '3,-8,8': entry 2 is -8"),
    (["conv2d", "--input", "3,5,5", "--out-channels", "4", "--kernel-size", "7", "--padding", "0"], "--kernel-size: kernel 7 is larger than the padded input 5"),
    (["conv2d", "--input", "6,8,8", "--out-channels", "4", "--kernel-size", "3", "--groups", "4"], "--groups: 4 does not divide in_channels 6"),
    (["conv2d", "--input", "3,8,8", "--out-channels", "4", "--kernel-size", "3", "--padding", "same", "--stride", "2"], "--padding: padding='same' needs stride 1"),
    (["convtranspose2d", "--input", "3,8,8", "--out-channels", "4", "--kernel-size", "3", "--stride", "2", "--output-padding", "2"], "--output-padding: 2 must be smaller than max(stride, dilation) = 2"),
    (["conv2d", "--input", "3,8,8", "--out-channels", "2.5", "--kernel-size", "3"], "--out-channels: malformed expression '2.5'"),
    (["conv2d", "--input", "3,8,8", "--out-channels", "4", "--kernel-size", "3,3,3"], "--kernel-size: expected 1 or 2 values, got 3"),
    (["conv2d", "--input", "3,8", "--out-channels", "4", "--kernel-size", "3"], "--input: expects 3 entries (C,H,W, batch excluded), got 2"),
    (["conv2d", "--input", "3;8;8", "--out-channels", "4", "--kernel-size", "3"], "--input: malformed expression"),
    (["conv2d", "--input", "3,8,8", "--out-channels", "4", "--kernel-size", "3", "--padding-mode", "mirror"], "--padding-mode: 'mirror' is not one of"),
    (["conv2d", "--input", "3,8,8", "--out-channels", "4", "--kernel-size", "3", "--dtype", "float8"], "--dtype: 'float8' is not one of"),
    (["conv2d", "--input", "3,8,8", "--out-channels", "4", "--kernel-size", "3", "--batch", "0"], "--batch: must be positive"),
    (["conv2d", "--input", "3,8,8", "--out-channels", "4"], "--kernel-size: missing: give --kernel-size"),
    (["conv2d", "--input", "3,8,8", "--out-channels", "4", "--kernel-size", "3", "--frobnicate"], "No such option: --frobnicate"),
    (["conv2d", "--input", "3,8,8", "--out-channels", "4", "--kernel-size", "3", "-f", "pdf"], "'pdf' is not one of"),
    (["maxpool2d", "--input", "3,8,8", "--kernel-size", "3", "--padding", "2"], "--padding: 2 must be at most half the kernel size 3"),
    (["linear", "--input", "4,0", "--out-features", "3"], "--input: shape '4,0': entry 2 is 0"),
    (["conv5d", "--input", "3"], "No such command 'conv5d'"),
    (["lstm", "--hidden-size", "4"], "--input: missing: give --input T,input_size, or --seq-len and --input-size"),
    (["lstm", "--input-size", "3", "--hidden-size", "4", "--seq-len", "5", "--proj-size", "4"], "--proj-size: 4 must be smaller than hidden_size 4"),
    (["lstm", "--input-size", "0", "--hidden-size", "4", "--seq-len", "5"], "--input-size: must be positive, got 0"),
    (["lstm", "--input-size", "3", "--hidden-size", "4", "--seq-len", "0"], "--seq-len: must be positive, got 0"),
    (["gru", "--input-size", "3", "--hidden-size", "0", "--seq-len", "5"], "--hidden-size: must be positive, got 0"),
    (["rnn", "--input-size", "3", "--hidden-size", "4", "--seq-len", "5", "--nonlinearity", "gelu"], "--nonlinearity: 'gelu' is not one of tanh, relu"),
    (["mdrnn", "--input", "3,5,5", "--hidden-size", "4", "--directions", "3"], "--directions: 3 is not a power of two"),
    (["mdrnn", "--input", "3,5,5", "--hidden-size", "4", "--directions", "8"], "--directions: 8 scans but a 2-dimensional grid has 4 corners"),
    (["attention-rnn", "--input-size", "3", "--hidden-size", "4", "--k", "0", "--seq-len", "5"], "--k: must be positive, got 0"),
    (["maskedconv2d", "--input", "3,8,8", "--out-channels", "6", "--kernel-size", "4"], "--kernel-size: 4 is even: a centred mask needs odd kernel sizes"),
    (["maskedconv2d", "--input", "3,8,8", "--out-channels", "6", "--kernel-size", "3", "--mask", "C"], "--mask: 'C' is not one of A, B"),
    (["pixelcnn", "--input", "3,8,8", "--channels", "6", "--layers", "0"], "--layers: must be positive, got 0"),
    (["pixelcnn", "--input", "3,8,8", "--channels", "6", "--layers", "2", "--first-kernel-size", "6"], "--first-kernel-size: 6 is even"),
    (["wavenet", "--seq-len", "100", "--residual-channels", "8", "--skip-channels", "8", "--layers-per-block", "0"], "--layers-per-block: must be positive, got 0"),
    (["wavenet", "--residual-channels", "8", "--skip-channels", "8", "--layers-per-block", "3"], "--input: missing"),
    (["causalconv1d", "--input", "4,10", "--out-channels", "4", "--kernel-size", "2", "--dilation", "0"], "--dilation: must be positive, got 0"),
    (["attention-rnn", "--input-size", "3", "--hidden-size", "4", "--k", "1.5", "--seq-len", "5"], "--k: malformed expression"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[m for _, m in BAD])
def test_bad_input_is_one_line_exit_2(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert message in err


def test_python_in_an_expression_is_never_run(tmp_path):
    marker = tmp_path / "ran"
    cmd = [sys.executable, "-m", "convcalc", "conv2d", "--input", f"3,__import__('os').system('touch {marker}'),8",
           "--out-channels", "1", "--kernel-size", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 2 and not marker.exists()
    assert "malformed expression" in proc.stderr and "Traceback" not in proc.stderr


def test_numeric_query_does_not_import_sympy():
    code = (
        "import sys; from convcalc.cli import main; "
        "rc = main(['conv2d', '--input', '3,32,32', '--out-channels', '8', '--kernel-size', '3', '-f', 'json']); "
        "sys.stdout.flush(); print('SYMPY' if 'sympy' in sys.modules else 'CLEAN', rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip().endswith("CLEAN 0"), proc.stdout + proc.stderr


@pytest.mark.parametrize("command", list(LAYERS))
def test_help_shows_an_example(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert "Example:" in out and f"convcalc {command}" in out


def test_python_m_help():
    proc = subprocess.run([sys.executable, "-m", "convcalc", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "conv2d" in proc.stdout


def test_lstm_json_keys(capsys):
    code, out, _ = run(capsys, "lstm", "--input-size", "128", "--hidden-size", "256", "--num-layers", "2", "--seq-len", "100", "-f", "json")
    data = json.loads(out)
    assert code == 0
    for key in ("transcendentals", "sequential_steps", "sequential_steps_backward", "bptt_activation_bytes", "state_bytes",
                "per_step", "per_layer", "sequential_regimes", "notes"):
        assert key in data
    assert data["input_shape"] == [100, 128] and data["output_shape"] == [100, 256]
    assert data["sequential_steps"] == 101 and data["sequential_regimes"] == {"layer_by_layer": 200, "wavefront_pipelined": 101}
    assert [row["layer"] for row in data["per_layer"]] == [1, 2]


def test_symbolic_bidirectional_lstm(capsys):
    code, out, _ = run(capsys, "lstm", "--input-size", "D", "--hidden-size", "H", "--seq-len", "T", "--bidirectional", "-f", "json")
    data = json.loads(out)
    assert code == 0
    assert data["params"] == "8*H*(D + H + 2)" and data["output_shape"] == ["T", "2*H"]


def test_input_shape_instead_of_seq_len(capsys):
    a = run(capsys, "gru", "--input", "50,64", "--hidden-size", "64", "-f", "json")[1]
    b = run(capsys, "gru", "--input-size", "64", "--seq-len", "50", "--hidden-size", "64", "-f", "json")[1]
    assert a == b


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "latex", "json"])
def test_recurrent_every_format(capsys, fmt):
    code, out, err = run(capsys, "mdrnn", "--input", "3,G,G", "--hidden-size", "32", "--num-layers", "2", "--directions", "4", "--cell", "lstm", "-f", fmt)
    assert code == 0 and err == "" and out
    if fmt == "latex":
        assert out.count(r"\begin{tabular}") == out.count(r"\end{tabular}") == 4
    if fmt in ("table", "markdown"):
        assert "wavefront" in out and "raster" in out


@pytest.mark.parametrize("fmt", ["table", "markdown", "latex"])
def test_receptive_field_drawing(capsys, fmt):
    code, out, _ = run(capsys, "pixelcnn", "--input", "1,16,16", "--channels", "8", "--layers", "3", "--kernel-size", "3", "--first-kernel-size", "3", "-f", fmt)
    assert code == 0
    assert "##@" in out.replace("#o", "#") or "#@" in out
    assert "o" in out.split("@")[0]  # blind pixels drawn above the current one
    assert "# seen, o blind spot" in out


def test_wavenet_json(capsys):
    code, out, _ = run(capsys, "wavenet", "--seq-len", "16000", "--residual-channels", "32", "--skip-channels", "256",
                       "--layers-per-block", "10", "--blocks", "3", "-f", "json")
    data = json.loads(out)
    assert code == 0
    assert data["receptive_field"]["samples"] == 3071
    assert set(data["work"]) == {"training_pass", "per_generated_sample_cached", "per_generated_sample_uncached"}
    assert data["sequential_regimes"]["sampling_passes"] == 16000


def test_a_command_leaves_the_garbage_collector_as_it_found_it(capsys, monkeypatch):
    """The collector is off while a command runs (a long network's objects would be scanned
    over and over) and back as it was afterwards, for a program that calls main()."""
    import gc

    import convcalc.cli as cli

    seen, render = [], cli.render
    monkeypatch.setattr(cli, "render", lambda *a, **k: (seen.append(gc.isenabled()), render(*a, **k))[1])
    assert gc.isenabled()
    from pathlib import Path

    assert main(["net", str(Path(__file__).resolve().parents[1] / "examples" / "resnet18_stage1.yaml")]) == 0
    assert gc.isenabled()
    assert main(["conv2d", "--input", "3,8,8", "--out-channels", "0", "--kernel-size", "3"]) == 2
    assert gc.isenabled()
    gc.disable()
    try:
        assert main(["relu", "--input", "3,8,8"]) == 0
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert seen == [False, False]
    capsys.readouterr()
