"""Hostile network files: every one is refused with one line naming the file, within a second,
never a traceback, a hang or a crash of the YAML library."""

import errno
import os
import re
import time

import pytest

from convcalc import ConvcalcError
from convcalc.cli import main
from convcalc.network import MAX_LAYERS, NetworkError, evaluate

OK_LAYER = "  - conv2d: {out_channels: 4, kernel_size: 3}\n"


def _laughs(levels: int, width: int = 10) -> str:
    """width**levels relus through aliases, each anchor defined where it is first used."""
    text = "&a0 relu"
    for i in range(1, levels + 1):
        text = f"&a{i} {{sequential: {{layers: [{text}" + f", *a{i - 1}" * (width - 1) + "]}}"
    return "input: 3,8,8\nlayers: [" + text + "]\n"


def _merge_bomb(levels: int, width: int = 10) -> str:
    lines = ["x0: &x0 {out_channels: 4, kernel_size: 3}"]
    for i in range(1, levels):
        lines.append(f"x{i}: &x{i} {{<<: [{', '.join(f'*x{i - 1}' for _ in range(width))}]}}")
    return "\n".join(lines) + "\ninput: 3,8,8\nlayers:\n  - conv2d: *x" + str(levels - 1) + "\n"


def _nested_blocks(depth: int) -> str:
    text = "relu"
    for _ in range(depth):
        text = "{sequential: {layers: [" + text + "]}}"
    return "input: 3,8,8\nlayers: [" + text + "]\n"


HOSTILE_TEXT = [
    ("billion laughs", _laughs(9), "more than"),
    ("laughs in keys", "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\nlayers: [relu]\n", "more than"),
    ("merge bomb", _merge_bomb(8), "more than"),
    ("huge repeat", "input: 3,8,8\nlayers:\n  - relu: {}\n    repeat: " + "1" + "0" * 100 + "\n", f"more than {MAX_LAYERS} layers"),
    ("nested repeats", "input: 3,8,8\nlayers: [" + "{sequential: {repeat: 1000, layers: [" * 6 + "relu" + "]}}" * 6 + "]\n", f"more than {MAX_LAYERS} layers"),
    ("repeat 10**100 text", "input: 3,8,8\nlayers:\n  - relu: {}\n    repeat: 10**100\n", "repeat must be a positive whole number"),
    ("float repeat", "input: 3,8,8\nlayers:\n  - relu: {}\n    repeat: 2.0\n", "repeat must be a positive whole number"),
    ("bool repeat", "input: 3,8,8\nlayers:\n  - relu: {}\n    repeat: true\n", "repeat must be a positive whole number"),
    ("negative repeat", "input: 3,8,8\nlayers:\n  - relu: {}\n    repeat: -3\n", "repeat must be a positive whole number"),
    ("deep blocks", _nested_blocks(400), "nested more than"),
    ("deep flow lists", "input: 3,8,8\nlayers: " + "[" * 100_000 + "]" * 100_000 + "\n", "nested more than"),
    ("deep flow maps", "input: 3,8,8\nlayers: [" + "{a: " * 50_000 + "1" + "}" * 50_000 + "]\n", "nested more than"),
    ("unclosed deep flow", "layers: " + "[" * 1_000_000, "nested more than"),
    ("empty file", "", "empty"),
    ("only a comment", "# nothing\n", "empty"),
    ("top-level list", "- conv2d: {out_channels: 4, kernel_size: 3}\n", "expected a mapping with 'layers'"),
    ("top-level scalar", "hello\n", "expected a mapping with 'layers'"),
    ("int key at top", "input: 3,8,8\n1: 2\nlayers: [relu]\n", "keys must be text"),
    ("list key at top", "input: 3,8,8\n? [a, b]\n: 2\nlayers: [relu]\n", "keys must be text"),
    ("map key in layer", "input: 3,8,8\nlayers:\n  - {? {a: 1}\n     : 2}\n", "keys must be text"),
    ("int key in params", "input: 3,8,8\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: 3, 7: 1}\n", "keys must be text"),
    ("null key in block", "input: 3,8,8\nlayers:\n  - residual: {body: [relu], null: 1}\n", "keys must be text"),
    ("nested mapping param", "input: 3,8,8\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: {a: 3}}\n", "kernel_size: expected a number"),
    ("nested list param", "input: 3,8,8\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: [[3, 3]]}\n", "kernel_size: expected a number"),
    ("params not a mapping", "input: 3,8,8\nlayers:\n  - conv2d: [4, 3]\n", "takes a mapping of parameters"),
    ("float in input", "input: [3, 224, 224.5]\nlayers: [relu]\n", "input"),
    ("huge input", "input: [3, 1" + "0" * 1000 + ", 4]\nlayers: [relu]\n", "input"),
    ("enormous int input", "input: [3, 1" + "0" * 5000 + ", 4]\nlayers: [relu]\n", "input"),
    ("input 10**1000 text", "input: 3,10**1000,4\nlayers: [relu]\n", "input"),
    ("bool input", "input: true\nlayers: [relu]\n", "input"),
    ("mapping input", "input: {c: 3}\nlayers: [relu]\n", "input"),
    ("NUL bytes", "input: 3,8,8\nlayers: [relu]\n\x00\x00", "NUL"),
    ("name is a mapping", "name: {a: 1}\ninput: 3,8,8\nlayers: [relu]\n", "name"),
    ("layers is a mapping", "input: 3,8,8\nlayers: {relu: 1}\n", "expected a list of layers"),
    ("python tag", "input: 3,8,8\nlayers:\n  - !!python/object/apply:os.system ['true']\n", "not valid YAML|expected a layer"),
    ("unknown tag", "input: 3,8,8\nlayers: [!foo relu]\n", "not valid YAML"),
    ("bad merge", "input: 3,8,8\nlayers:\n  - conv2d: {<<: 3, out_channels: 4, kernel_size: 3}\n", "not valid YAML"),
    ("layer list in list", "input: 3,8,8\nlayers: [[relu]]\n", "expected a layer name or a mapping"),
    ("two layers in one item", "input: 3,8,8\nlayers: [{relu: {}, tanh: {}}]\n", "expected one layer or block"),
    ("name not text", "input: 3,8,8\nlayers: [{relu: {}, name: [1]}]\n", "name"),
    ("huge int param", "input: 3,8,8\nlayers:\n  - conv2d: {out_channels: 1" + "0" * 5000 + ", kernel_size: 3}\n", "out_channels"),
]


def _check(call, tmp_path, message):
    start = time.perf_counter()
    with pytest.raises(ConvcalcError) as info:
        call()
    elapsed = time.perf_counter() - start
    assert re.search(message, str(info.value)), str(info.value)
    assert "\n" not in str(info.value)
    assert elapsed < 2, elapsed
    return str(info.value)


@pytest.mark.parametrize("text, message", [(t, m) for _, t, m in HOSTILE_TEXT], ids=[i for i, _, _ in HOSTILE_TEXT])
def test_hostile_text_is_refused_fast(tmp_path, text, message):
    p = tmp_path / "net.yaml"
    p.write_bytes(text.encode("utf-8"))
    line = _check(lambda: evaluate(p), tmp_path, message)
    assert line.startswith(str(p)), line
    assert isinstance(NetworkError(""), ConvcalcError)


def test_hostile_text_through_the_cli(tmp_path, capsys):
    for ident, text, _message in HOSTILE_TEXT:
        p = tmp_path / "net.yaml"
        p.write_bytes(text.encode("utf-8"))
        code = main(["net", str(p)])
        out, err = capsys.readouterr()
        assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("convcalc net:"), (ident, err)


def _fifo(tmp_path):
    p = tmp_path / "fifo.yaml"
    os.mkfifo(p)
    return p


def _dir(tmp_path):
    p = tmp_path / "dir.yaml"
    p.mkdir()
    return p


def _binary(tmp_path):
    p = tmp_path / "bin.yaml"
    p.write_bytes(bytes(range(256)) * 4)
    return p


def _latin1(tmp_path):
    p = tmp_path / "latin.yaml"
    p.write_bytes("name: caf\xe9\ninput: 3,8,8\nlayers: [relu]\n".encode("latin-1"))
    return p


def _huge(tmp_path):
    p = tmp_path / "huge.yaml"
    with open(p, "wb") as f:
        f.write(b"input: 3,8,8\nlayers: [relu]\n")
        f.truncate(50_000_000)  # sparse: cheap to make
    return p


def _missing(tmp_path):
    return tmp_path / "nope.yaml"


def _dangling_link(tmp_path):
    p = tmp_path / "link.yaml"
    p.symlink_to(tmp_path / "nowhere")
    return p


@pytest.mark.parametrize(
    "make, message",
    [
        (_fifo, "not a regular file"),
        (_dir, "is a directory"),
        (_binary, "NUL|not UTF-8"),
        (_latin1, "not UTF-8"),
        (_huge, "more than"),
        (_missing, "cannot read: No such file"),
        (_dangling_link, "cannot read: No such file"),
    ],
    ids=["fifo", "directory", "binary", "latin-1", "huge", "missing", "dangling link"],
)
def test_hostile_paths_are_refused_fast(tmp_path, make, message):
    p = make(tmp_path)
    line = _check(lambda: evaluate(p), tmp_path, message)
    assert line.startswith(str(p))


def test_unreadable_file(tmp_path, monkeypatch):
    p = tmp_path / "net.yaml"
    p.write_text("input: 3,8,8\nlayers: [relu]\n")
    real_open = os.open

    def denied(path, *args, **kwargs):
        if str(path) == str(p):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    line = _check(lambda: evaluate(p), tmp_path, "cannot read: Permission denied")
    assert line.startswith(str(p))


def test_a_fifo_replacing_the_file_after_the_check_does_not_block(tmp_path, monkeypatch):
    """The regular-file check is made on the opened descriptor, so a swap cannot make it block."""
    p = _fifo(tmp_path)
    import stat as stat_module

    monkeypatch.setattr(stat_module, "S_ISREG", lambda mode: True)  # a check by name alone would pass
    start = time.perf_counter()
    with pytest.raises(ConvcalcError):
        evaluate(p)
    assert time.perf_counter() - start < 2


def test_the_limits_leave_real_networks_alone(tmp_path):
    p = tmp_path / "net.yaml"
    p.write_text(_nested_blocks(20))
    assert evaluate(p).output_shape == (3, 8, 8)
    p.write_text(_laughs(3))  # 1000 relus through aliases is fine
    assert evaluate(p).total["layers"] == 1000


def test_the_node_budget_leaves_room_for_the_most_layers():
    """A file of MAX_LAYERS flow-mapping layers (``- conv2d: {out_channels: 4, kernel_size: 3,
    padding: 1}`` is 9 nodes) is not refused as an alias bomb: 50,000 layers were."""
    from convcalc.network import MAX_NODES

    assert MAX_NODES >= 10 * MAX_LAYERS


def test_solve_net_refuses_hostile_paths_too(tmp_path, capsys):
    from convcalc.network import solve_network

    for make, message in ((_fifo, "not a regular file"), (_dir, "is a directory"), (_binary, "NUL|not UTF-8")):
        p = make(tmp_path)
        _check(lambda: solve_network(p, (4, 8, 8)), tmp_path, message)
        assert main(["solve", "net", str(p), "--target", "4,8,8"]) == 2
        assert capsys.readouterr().err.count("\n") == 1
