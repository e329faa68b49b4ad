"""Every layer command, in every format, with numeric and symbolic input, with and without
--explain and --human, through the command line: exit 0 and the output parses (no crash is left)."""

import csv
import io
import json
import shlex

import pytest

from convcalc import LAYERS
from convcalc.cli import main

FORMATS = ("table", "markdown", "json", "csv", "latex")
SYMBOLS = ("A", "B", "X", "Y")


def _args(name: str, symbolic: bool) -> list[str]:
    """The command's own --help example, its --format dropped; symbolic: the sizes after the
    first entry of --input (or --seq-len) become symbols."""
    words = shlex.split(LAYERS[name].EXAMPLE)[1:]
    out, i = [], 0
    while i < len(words):
        w = words[i]
        if w in ("--format", "-f"):
            i += 2
            continue
        if symbolic and w == "--input" and "," in words[i + 1]:
            parts = words[i + 1].split(",")
            words[i + 1] = ",".join(parts[:1] + [SYMBOLS[j] for j in range(len(parts) - 1)])
        if symbolic and w == "--seq-len":
            words[i + 1] = "T"
        out.append(w)
        i += 1
    return out


def _check(fmt: str, out: str) -> None:
    assert out.strip()
    if fmt == "json":
        json.loads(out)
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(out)))
        assert len(rows) >= 2 and all(len(r) == len(rows[0]) for r in rows[:2])
    elif fmt == "latex":
        assert "\\" in out


@pytest.mark.parametrize("symbolic", [False, True], ids=["numeric", "symbolic"])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", list(LAYERS))
def test_every_command_every_format(capsys, name, fmt, symbolic):
    args = _args(name, symbolic) + ["--format", fmt]
    # render/explain in every format and with --human are covered through render() in test_render.py
    # and test_explain.py; here the command line itself, plus one explained and one human run
    extras = ([], ["--explain"], ["--human"]) if fmt == "table" else ([],)
    for extra in extras:
        code = main(args + extra)
        out, err = capsys.readouterr()
        assert code == 0, (args + extra, err)
        assert "Traceback" not in err
        _check(fmt, out)


@pytest.mark.parametrize("ext", [".txt", ".md", ".json", ".csv", ".tex"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_every_command_to_a_file(capsys, tmp_path, name, ext):
    target = tmp_path / f"out{ext}"
    code = main(_args(name, False) + ["-o", str(target)])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert target.read_text().strip()


@pytest.mark.parametrize("symbolic", [False, True], ids=["numeric", "symbolic"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_every_command_trains_in_every_format(capsys, name, symbolic):
    """--training (and --gradients, --explain, --human, an optimizer, mixed precision) in every
    format: exit 0 and the output parses; the JSON has the training keys."""
    base = _args(name, symbolic)
    runs = [[*base, "--gradients", "--format", fmt] for fmt in FORMATS]
    runs += [[*base, "--training", "--explain"], [*base, "--optimizer", "adamw", "--mixed-precision", "bf16", "--human"]]
    for args in runs:
        code = main(args)
        out, err = capsys.readouterr()
        assert code == 0, (args, err)
        fmt = args[args.index("--format") + 1] if "--format" in args else "table"
        _check(fmt, out)
        if fmt == "json":
            data = json.loads(out)
            for key in ("backward", "training_flops", "saved_bytes", "grad_bytes", "optimizer_bytes", "training_peak_bytes", "gradients"):
                assert key in data, (name, key)
