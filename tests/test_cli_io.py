"""Output files (-o) never destroy what is not ours, and pipes, full disks, closed streams and
Ctrl-C end in one line (or silence for a closed pipe) with the conventional exit status."""

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from convcalc import ConvcalcError
from convcalc.cli import main
from convcalc.output import write_output

ROOT = Path(__file__).resolve().parent.parent
QUERY = ["conv2d", "--input", "3,32,32", "--out-channels", "8", "--kernel-size", "3"]


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.endswith(".tmp"))


# -- the writer ------------------------------------------------------------------------------


def test_new_file_gets_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        write_output(tmp_path / "a.txt", "hello\n")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").read_text() == "hello\n"
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("mode", [0o600, 0o644, 0o664, 0o751])
def test_existing_file_keeps_its_mode(tmp_path, mode):
    target = tmp_path / "r.json"
    target.write_text("old")
    target.chmod(mode)
    old = os.umask(0o077)
    try:
        write_output(target, "new")
    finally:
        os.umask(old)
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == mode


def test_symlink_is_followed_and_its_target_replaced(tmp_path):
    real = tmp_path / "sub" / "real.txt"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    write_output(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new"
    assert leftovers(tmp_path) == [] and leftovers(real.parent) == []


def test_chain_of_relative_symlinks(tmp_path):
    (tmp_path / "d").mkdir()
    real = tmp_path / "d" / "real.md"
    real.write_text("old")
    (tmp_path / "one").symlink_to("d/real.md")
    (tmp_path / "two").symlink_to("one")
    write_output(tmp_path / "two", "new")
    assert (tmp_path / "two").is_symlink() and (tmp_path / "one").is_symlink()
    assert real.read_text() == "new"


def test_dangling_symlink_creates_its_target(tmp_path):
    """As the shell's `>` does: the link stays, the file it names is created."""
    link = tmp_path / "link.txt"
    link.symlink_to(tmp_path / "made.txt")
    write_output(link, "new")
    assert link.is_symlink() and (tmp_path / "made.txt").read_text() == "new"


def test_dangling_symlink_into_a_missing_folder_is_refused(tmp_path):
    link = tmp_path / "link.txt"
    link.symlink_to(tmp_path / "nowhere" / "made.txt")
    with pytest.raises(ConvcalcError, match="does not exist"):
        write_output(link, "new")
    assert link.is_symlink() and not (tmp_path / "nowhere").exists()


def test_symlink_loop_is_one_error(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(ConvcalcError):
        write_output(tmp_path / "a", "x")


@pytest.fixture
def nothing_created_or_removed(monkeypatch):
    """Creating, renaming or removing a file fails the test before it happens (a regression
    run as root would otherwise replace /dev/null)."""
    real_open = os.open

    def guarded_open(path, flags, *a, **k):
        assert not flags & os.O_CREAT, f"created {path}"
        return real_open(path, flags, *a, **k)

    def refuse(*a, **k):
        raise AssertionError(f"renamed or removed {a}")

    monkeypatch.setattr(os, "open", guarded_open)
    for name in ("replace", "rename", "unlink", "remove"):
        monkeypatch.setattr(os, name, refuse)


@pytest.mark.parametrize("device", ["/dev/null", "/dev/stdout", "/dev/stderr"])
def test_devices_are_written_not_replaced(device, nothing_created_or_removed, capfd):
    before = os.lstat(device)
    write_output(Path(device), "through the device\n")
    after = os.lstat(device)
    assert (after.st_mode, after.st_ino, after.st_rdev) == (before.st_mode, before.st_ino, before.st_rdev)
    out, err = capfd.readouterr()
    if device != "/dev/null":
        assert "through the device\n" in (out if device == "/dev/stdout" else err)


def test_cli_output_to_dev_stdout_in_a_pipe():
    proc = subprocess.run([sys.executable, "-m", "convcalc"] + QUERY + ["-f", "json", "-o", "/dev/stdout"],
                          capture_output=True, text=True, env=_env(), timeout=60)
    assert proc.returncode == 0 and proc.stderr == ""
    assert json.loads(proc.stdout)["output_shape"] == [8, 30, 30]
    assert os.path.islink("/dev/stdout") or not os.path.exists("/dev/stdout")


def test_fifo_is_written_directly(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    write_output(fifo, "through the pipe\n")
    reader.join(5)
    assert got == [b"through the pipe\n"]
    assert stat.S_ISFIFO(fifo.stat().st_mode) and leftovers(tmp_path) == []


def test_folder_is_refused(tmp_path):
    with pytest.raises(ConvcalcError, match="is a folder"):
        write_output(tmp_path, "x")


def test_missing_folder_is_refused(tmp_path):
    with pytest.raises(ConvcalcError, match="does not exist"):
        write_output(tmp_path / "no" / "x.txt", "x")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anything")
def test_read_only_file_is_not_replaced(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    target.chmod(0o444)
    with pytest.raises(ConvcalcError, match="not writable"):
        write_output(target, "new")
    assert target.read_text() == "old" and leftovers(tmp_path) == []


def _failing_write(exc, after=1):
    real = os.write
    calls = []

    def fake(fd, data):
        calls.append(fd)
        if len(calls) >= after:
            raise exc
        return real(fd, data[: max(1, len(data) // 2)])

    return fake


@pytest.mark.parametrize("exc, kind", [
    (OSError(errno.ENOSPC, "No space left on device"), ConvcalcError),
    (OSError(errno.EIO, "Input/output error"), ConvcalcError),
    (KeyboardInterrupt(), KeyboardInterrupt),
])
@pytest.mark.parametrize("after", [1, 2])
def test_failure_while_writing_keeps_the_old_file(tmp_path, monkeypatch, exc, kind, after):
    target = tmp_path / "r.txt"
    target.write_text("old content")
    monkeypatch.setattr(os, "write", _failing_write(exc, after))
    with pytest.raises(kind) as info:
        write_output(target, "new content " * 1000)
    monkeypatch.undo()
    assert target.read_text() == "old content"
    assert leftovers(tmp_path) == []
    if kind is ConvcalcError:
        assert os.strerror(exc.errno) in str(info.value)


def test_failure_on_a_new_file_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "write", _failing_write(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(ConvcalcError, match="No space left on device"):
        write_output(tmp_path / "new.txt", "x")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_cli_disk_full_is_one_line(tmp_path, monkeypatch, capsys):
    target = tmp_path / "r.json"
    target.write_text("old")
    monkeypatch.setattr(os, "write", _failing_write(OSError(errno.ENOSPC, "No space left on device")))
    code, out, err = run(capsys, *QUERY, "-o", str(target))
    monkeypatch.undo()
    assert code == 2 and out == ""
    assert err.startswith("convcalc conv2d: --output: ") and "No space left on device" in err and err.count("\n") == 1
    assert target.read_text() == "old" and leftovers(tmp_path) == []


def test_cli_interrupt_while_writing(tmp_path, monkeypatch, capsys):
    target = tmp_path / "r.json"
    target.write_text("old")
    monkeypatch.setattr(os, "write", _failing_write(KeyboardInterrupt()))
    code, out, err = run(capsys, *QUERY, "-o", str(target))
    monkeypatch.undo()
    assert code == 130 and err == "convcalc conv2d: interrupted\n"
    assert target.read_text() == "old" and leftovers(tmp_path) == []


def test_cli_through_a_symlink(tmp_path, capsys):
    real = tmp_path / "real.json"
    real.write_text("old")
    (tmp_path / "link.json").symlink_to(real)
    code, _, err = run(capsys, *QUERY, "-o", str(tmp_path / "link.json"))
    assert code == 0, err
    assert json.loads(real.read_text())["output_shape"] == [8, 30, 30]
    assert (tmp_path / "link.json").is_symlink()


# -- streams and signals (a real process) ----------------------------------------------------


def _env():
    return dict(os.environ, PYTHONPATH=str(ROOT))


def _sh(command):
    cmd = " ".join([sys.executable, "-m", "convcalc"]) + " " + command
    return subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, env=_env(), timeout=60)


def test_broken_pipe_is_silent():
    # a long output piped into a reader that has already gone
    proc = _sh("net " + str(ROOT / "examples" / "resnet50.yaml") + " | head -1")
    assert proc.stdout.count("\n") == 1
    assert "Traceback" not in proc.stderr and "Broken pipe" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_broken_pipe_exit_status():
    r, w = os.pipe()
    os.close(r)
    proc = subprocess.run([sys.executable, "-m", "convcalc", "conv2d", "--input", "3,H,W", "--out-channels", "8", "--kernel-size", "3",
                           "--explain"], stdout=w, stderr=subprocess.PIPE, text=True, env=_env(), timeout=60)
    os.close(w)
    assert proc.stderr == "" and proc.returncode == 141


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_stdout_full_is_one_line_exit_2():
    proc = _sh(" ".join(QUERY) + " >/dev/full")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("convcalc conv2d: ") and "No space left" in proc.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_stderr_full_still_exits_2():
    proc = _sh("conv2d --input 3,8 --out-channels 8 --kernel-size 3 2>/dev/full")
    assert proc.returncode == 2 and proc.stdout == ""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_both_full():
    proc = _sh(" ".join(QUERY) + " >/dev/full 2>/dev/full")
    assert proc.returncode == 2


def test_closed_stdout_is_one_line_exit_2():
    proc = _sh(" ".join(QUERY) + " >&-")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("convcalc conv2d: ")


def test_closed_stdout_with_output_file_is_fine(tmp_path):
    proc = _sh(" ".join(QUERY) + f" -o {tmp_path / 'r.json'} >&-")
    assert proc.returncode == 0 and proc.stderr == ""
    assert json.loads((tmp_path / "r.json").read_text())["params"] == 8 * 3 * 9 + 8


def test_sigint_during_a_long_computation():
    # a slow symbolic query: a deep symbolic WaveNet derivation; interrupt it once it runs
    code = (
        "import sys, time, signal, os\n"
        "import convcalc.cli as cli\n"
        "def slow(*a, **k):\n"
        "    sys.stderr.write('ready\\n'); sys.stderr.flush()\n"
        "    time.sleep(30)\n"
        "cli._emit = slow\n"
        "cli.run(['conv2d', '--input', '3,8,8', '--out-channels', '8', '--kernel-size', '3'])\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    assert proc.stderr.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and err == "convcalc conv2d: interrupted\n" and out == ""


def test_keyboard_interrupt_anywhere_in_main(monkeypatch, capsys):
    import convcalc.cli as cli

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_emit", boom)
    code, out, err = run(capsys, *QUERY)
    assert code == 130 and err == "convcalc conv2d: interrupted\n"
    monkeypatch.setattr("convcalc.network.evaluate", boom)
    code, _, err = run(capsys, "net", str(ROOT / "examples" / "resnet50.yaml"))
    assert code == 130 and err == "convcalc net: interrupted\n"


def test_internal_error_is_one_line_exit_70(monkeypatch, capsys):
    import convcalc.cli as cli

    def boom(*a, **k):
        raise ZeroDivisionError("division\nby zero")

    monkeypatch.setattr(cli, "_emit", boom)
    code, out, err = run(capsys, *QUERY)
    assert code == 70 and out == ""
    assert err.count("\n") == 1 and err.startswith("convcalc conv2d: internal error: ZeroDivisionError: division by zero (")
    assert "please report it" in err


def test_sigint_during_a_long_network(tmp_path):
    """Ctrl-C during a real long query: a network of 50,000 layers (about 2 s; a symbolic
    ResNet-50 took that long before convcalc's algebra, and now takes 0.2 s)."""
    layers = ["  - conv2d: {out_channels: 4, kernel_size: 3, padding: 1}", "  - relu"] * 25_000
    path = tmp_path / "long.yaml"
    path.write_text("name: long\ninput: 4,8,8\nlayers:\n" + "\n".join(layers) + "\n")
    cmd = [sys.executable, "-m", "convcalc", "net", str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    time.sleep(0.8)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the query finished before the signal")
    assert proc.returncode == 130 and out == ""
    assert err in ("convcalc net: interrupted\n", "convcalc: interrupted\n"), err  # the latter while still importing


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_help_to_a_full_disk():
    proc = _sh("--help >/dev/full")
    assert proc.returncode == 2 and proc.stderr == "convcalc: cannot write to standard output: No space left on device\n"
