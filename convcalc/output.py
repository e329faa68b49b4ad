"""The output file (-o): written whole or not at all, and never destroying what is not ours.

- A symbolic link is followed (a chain of them too) and the file it names is replaced; the link
  stays. A dangling link creates the file it names, as the shell's `>` does, when that file's
  folder exists.
- A regular file (or a new one) is written to a temporary file in the target's own folder, then
  renamed onto the resolved path, so a reader sees the old text or the new, never a part. A new
  file gets the mode the umask gives (0666 & ~umask), an existing one keeps its mode.
- Anything else that exists (a device such as /dev/null or /dev/stdout, a FIFO) is opened and
  written directly: never renamed over, never unlinked. A folder is refused.
- On any failure, KeyboardInterrupt included, the temporary file is removed and an existing
  target is left as it was; OSErrors become a ConvcalcError naming --output.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from .errors import ConvcalcError

__all__ = ["StdoutError", "discard_stdout", "flush_stdout", "say", "write_output", "write_stdout"]


def _fail(what: str, path: str | Path, err: OSError) -> ConvcalcError:
    reason = err.strerror or str(err)
    return ConvcalcError(f"{what} {str(path)!r}: {reason}", option="output")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def write_output(path: str | Path, text: str) -> None:
    """Write text (UTF-8) to path, whole or not at all (see the module's notes)."""
    data = text.encode("utf-8")
    given = Path(path)
    try:
        st = os.stat(given)  # follows links, /proc's magic ones (/dev/stdout) included
    except FileNotFoundError:
        st = None
    except OSError as e:  # a symlink loop, a permission denied on the way
        raise _fail("cannot write", given, e) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise ConvcalcError(f"{str(given)!r} is a folder", option="output")
    if st is not None and not stat.S_ISREG(st.st_mode):
        _write_in_place(given, data)
        return
    resolved = Path(os.path.realpath(given))
    if st is not None:
        try:
            same = os.stat(resolved)
        except OSError:
            same = None
        if same is None or (same.st_dev, same.st_ino) != (st.st_dev, st.st_ino):
            # a link no path names (/dev/stdout onto a deleted file): only writing in place is left
            _write_in_place(given, data, truncate=True)
            return
    folder = resolved.parent
    if not folder.is_dir():
        raise ConvcalcError(f"folder {str(folder)!r} does not exist", option="output")
    if st is not None and not os.access(resolved, os.W_OK):
        raise ConvcalcError(f"{str(given)!r} is not writable", option="output")
    _replace(given, resolved, data, st)


def _write_in_place(given: Path, data: bytes, *, truncate: bool = False) -> None:
    """A device or FIFO: opened for writing as it is (no create, no rename, no unlink)."""
    try:
        fd = os.open(given, os.O_WRONLY | (os.O_TRUNC if truncate else 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise _fail("cannot open", given, e) from None
    try:
        _write_all(fd, data)
    except OSError as e:
        raise _fail("cannot write", given, e) from None
    finally:
        os.close(fd)


def _replace(given: Path, resolved: Path, data: bytes, st: os.stat_result | None) -> None:
    """Temporary file beside the resolved target, then a rename onto it (with the existing
    file's mode, and its owner where we may set it)."""
    mode = None if st is None else stat.S_IMODE(st.st_mode)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = resolved.parent / f".{resolved.name}.{os.urandom(4).hex()}.tmp"
        try:
            fd = os.open(tmp, flags, 0o666 if mode is None else 0o600)
            break
        except FileExistsError:
            continue
        except OSError as e:
            raise _fail("cannot create a file in", resolved.parent, e) from None
    else:  # pragma: no cover - 100 collisions of 32 random bits
        raise ConvcalcError(f"cannot create a temporary file in {str(resolved.parent)!r}", option="output")
    try:
        try:
            if st is not None:
                if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                    try:
                        os.fchown(fd, st.st_uid, st.st_gid)
                    except OSError:
                        pass  # not allowed unless root: the new file is ours
                os.fchmod(fd, mode)  # the existing file's mode, whatever the umask
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, resolved)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise _fail("cannot write", given, e) from None
        raise


# -- the standard streams -------------------------------------------------------------------


class StdoutError(Exception):
    """Standard output could not take the report (closed, full, a broken pipe): the CLI says
    so in one line (or stays silent for a broken pipe)."""

    def __init__(self, err: OSError | None):
        super().__init__(str(err) if err else "closed")
        self.err = err

    @property
    def broken_pipe(self) -> bool:
        return isinstance(self.err, BrokenPipeError)

    @property
    def reason(self) -> str:
        if self.err is None:
            return "standard output is closed (write to a file with --output)"
        return f"cannot write to standard output: {self.err.strerror or self.err}"


def write_stdout(text: str) -> None:
    """The text to standard output, flushed now so that a failure is seen here."""
    stream = sys.stdout
    if stream is None:
        raise StdoutError(None)
    try:
        stream.write(text)
        stream.flush()
    except OSError as e:
        raise StdoutError(e) from None


def flush_stdout() -> None:
    """Flush standard output (text written by click, e.g. --help); failures as StdoutError."""
    if sys.stdout is not None:
        try:
            sys.stdout.flush()
        except OSError as e:
            raise StdoutError(e) from None


def discard_stdout() -> None:
    """After a failure on standard output: send what is left to /dev/null, so that no later
    flush (at exit) complains."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, AttributeError, ValueError):
        pass


def say(line: str) -> None:
    """One line on standard error; if standard error is closed or full there is no one to tell."""
    stream = sys.stderr
    if stream is None:
        return
    try:
        stream.write(line + "\n")
        stream.flush()
    except (OSError, ValueError):
        try:  # drop what could not be written, so that no later flush fails again
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
        except (OSError, AttributeError, ValueError):
            pass
