"""The README's examples are real: every ``$ convcalc ...`` block holds that command's output.

Regenerate after a deliberate change of output: CONVCALC_REGEN=1 python -m pytest tests/test_readme.py
"""

import os
import re
import shlex
from pathlib import Path

from convcalc.cli import main

README = Path(__file__).parent.parent / "README.md"
BLOCK = re.compile(r"```\n\$ convcalc (?P<args>[^\n]*)\n(?P<out>.*?)```", re.S)


def _output(capsys, args: str) -> str:
    code = main(shlex.split(args))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_readme_examples_are_current(capsys):
    text = README.read_text()
    blocks = list(BLOCK.finditer(text))
    assert len(blocks) >= 5
    if os.environ.get("CONVCALC_REGEN"):
        new = BLOCK.sub(lambda m: f"```\n$ convcalc {m['args']}\n{_output(capsys, m['args'])}```", text)
        README.write_text(new)
        return
    for m in blocks:
        assert _output(capsys, m["args"]) == m["out"], m["args"]


YAML_BLOCK = re.compile(r"```yaml\n(?P<text>.*?)```", re.S)


def test_readme_network_files_evaluate(tmp_path):
    """Every YAML block in the README is a whole network file that evaluates."""
    from convcalc.network import evaluate

    blocks = [m["text"] for m in YAML_BLOCK.finditer(README.read_text())]
    assert len(blocks) >= 6
    for i, text in enumerate(blocks):
        path = tmp_path / f"block{i}.yaml"
        path.write_text(text)
        report = evaluate(path)
        assert report.total["layers"] >= 1, text


PYTHON_BLOCK = re.compile(r"```python\n(?P<code>.*?)```", re.S)


def test_readme_python_examples_give_what_their_comments_say(monkeypatch):
    """Each ``expression  # result`` line of the README's Python blocks evaluates to that result
    (repr for tuples, the command line's printing for a formula)."""
    from convcalc.sizes import is_int, to_text

    monkeypatch.chdir(README.parent)
    blocks = [m["code"] for m in PYTHON_BLOCK.finditer(README.read_text())]
    assert len(blocks) >= 2
    checked = 0
    for code in blocks:
        scope: dict = {}
        for line in code.splitlines():
            statement, _, comment = line.partition("  # ")
            if comment and not re.match(r"\s*\w+ = ", statement):
                value = eval(statement, scope)  # the README's own code, not user input
                shown = repr(value) if isinstance(value, tuple) or is_int(value) else to_text(value)
                assert shown == comment.split("  (")[0].strip(), line
                checked += 1
            else:
                exec(line.split("  # ")[0], scope)
    assert checked >= 3
