"""Reading a network file safely: the bytes, the YAML nodes, and the errors that name the file.

Hostile files are refused before they can cost anything: only a regular file (checked on the
opened descriptor, so that a FIFO cannot block), at most MAX_FILE_BYTES, UTF-8 text without NUL
bytes; the YAML event stream is scanned for nesting deeper than MAX_NESTING before any node is
built (libyaml's composer recurses in C and would crash the interpreter); the composed node graph
is walked with a budget of MAX_NODES visits (aliases are shared nodes, so an alias bomb explodes
only when walked); merge keys (``<<: *anchor``) are flattened in every mapping. Every error names
the file, the line and the layer path.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import stat
from typing import Any, Iterator

from ..errors import ConvcalcError

#: a file larger than this is refused
MAX_FILE_BYTES = 4_000_000
#: YAML collections nested deeper than this are refused (about 30 levels of blocks)
MAX_NESTING = 100
#: the composed node graph may be walked through at most this many nodes (aliases counted each time):
#: about 10 a layer of MAX_LAYERS (``- conv2d: {out_channels: 4, kernel_size: 3, padding: 1}`` is 9)
MAX_NODES = 500_000


class NetworkError(ConvcalcError):
    """An error in a network file, with the file, line and layer path in its message."""


def fail(label: str, line: int | None, path: str | None, message: str) -> NetworkError:
    where = f"{label}:{line}" if line else label
    return NetworkError(f"{where}: {path + ': ' if path else ''}{message}")


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off inside (and as it was after): reading and evaluating a
    network make many objects and little cyclic garbage, and the collector's passes over them
    would cost time growing faster than the network (50,000 layers: a third of the time)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


# -- bytes -----------------------------------------------------------------------------------------


def read_bytes(path: str | os.PathLike, label: str, limit: int = MAX_FILE_BYTES, what: str = "a network file") -> bytes:
    """The file's bytes; anything but a readable regular file of at most limit bytes is refused."""
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as e:
        if e.errno == errno.EISDIR:
            raise NetworkError(f"{label}: is a directory, not a network file") from None
        raise NetworkError(f"{label}: cannot read: {e.strerror or e}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise NetworkError(f"{label}: is a directory, not a network file")
        if not stat.S_ISREG(info.st_mode):
            raise NetworkError(f"{label}: not a regular file (a FIFO, device or socket is not read)")
        if info.st_size > limit:
            raise NetworkError(f"{label}: {info.st_size} bytes is more than the {limit} {what} may have")
        chunks, total = [], 0
        while True:
            try:
                chunk = os.read(fd, 1 << 20)
            except BlockingIOError:
                break  # not a regular file after all: nothing more to read without waiting
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise NetworkError(f"{label}: more than the {limit} bytes {what} may have")
        return b"".join(chunks)
    except OSError as e:
        raise NetworkError(f"{label}: cannot read: {e.strerror or e}") from None
    finally:
        os.close(fd)


def decode(data: bytes, label: str) -> str:
    if b"\x00" in data:
        raise NetworkError(f"{label}: contains NUL bytes (a binary file?), not a network file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NetworkError(f"{label}: not UTF-8 text (byte {e.start} is invalid)") from None


# -- YAML nodes ------------------------------------------------------------------------------------


def _yaml_reason(e: BaseException) -> str:
    return getattr(e, "problem", None) or (str(e).splitlines() or [type(e).__name__])[0]


def compose(text: str, label: str):
    """The root node of the text, after the nesting scan; None for an empty document."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if len(text) > MAX_FILE_BYTES:
        raise NetworkError(f"{label}: more than the {MAX_FILE_BYTES} characters a network file may have")
    try:
        depth = 0
        step = {yaml.SequenceStartEvent: 1, yaml.MappingStartEvent: 1, yaml.SequenceEndEvent: -1, yaml.MappingEndEvent: -1}
        parser = loader(text)  # its event stream: flat, whatever the nesting (yaml.parse, one call an event)
        try:
            while (event := parser.get_event()) is not None:
                depth += step.get(type(event), 0)
                if depth > MAX_NESTING:
                    line = event.start_mark.line + 1
                    raise NetworkError(f"{label}:{line}: nested more than {MAX_NESTING} levels deep; refused")
        finally:
            parser.dispose()
        return yaml.compose(text, Loader=loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise NetworkError(f"{label}{line}: not valid YAML: {_yaml_reason(e)}") from None
    except RecursionError:
        raise NetworkError(f"{label}: nested more than {MAX_NESTING} levels deep; refused") from None


def walk_and_flatten(root, label: str) -> None:
    """Walk the node graph with a budget (an alias is walked each time it is used, which is
    what makes an alias bomb explode), then flatten the merge keys of every mapping."""
    import yaml

    def refuse(node, what: str) -> NetworkError:
        return NetworkError(f"{label}:{node.start_mark.line + 1}: {what}; refused")

    too_many = f"more than {MAX_NODES} YAML nodes (an alias counts each time it is used)"
    too_deep = f"nested more than {MAX_NESTING} levels deep (through aliases)"
    visits, stack, mappings, seen = 1, [(root, 1)], [], set()
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            raise refuse(node, too_deep)
        if isinstance(node, yaml.MappingNode):
            if id(node) not in seen:
                seen.add(id(node))
                mappings.append(node)
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            continue
        for child in children:  # each child counted as it is met; only collections wait on the stack
            visits += 1
            if visits > MAX_NODES:
                raise refuse(child, too_many)
            if isinstance(child, yaml.ScalarNode):
                if depth + 1 > MAX_NESTING:
                    raise refuse(child, too_deep)
            else:
                stack.append((child, depth + 1))
    constructor = yaml.constructor.SafeConstructor()
    for node in reversed(mappings):  # inner mappings first
        try:
            constructor.flatten_mapping(node)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None) or node.start_mark
            raise NetworkError(f"{label}:{mark.line + 1}: not valid YAML: {_yaml_reason(e)}") from None


#: the tags of plain scalars, whose safe constructors keep no state (one constructor serves them all)
_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null"))
_STR_TAG = "tag:yaml.org,2002:str"
_plain: list = []  # [the SafeConstructor plain scalars are made with, its rules by tag], once yaml is imported


def value(node, label: str, path: str | None = None) -> Any:
    """A node's Python value through the safe constructor; tags it refuses are an error. It is
    called for every value of every layer, so a plain scalar goes straight to its tag's rule,
    and anything else gets a SafeConstructor of its own (what the safe loader constructs with,
    without the reader, scanner and parser a SafeLoader would build each time)."""
    import yaml

    try:
        tag = node.tag
        if tag in _PLAIN_TAGS and isinstance(node, yaml.ScalarNode):
            if tag == _STR_TAG:  # the safe constructor's str is the node's text
                return node.value
            if not _plain:
                _plain.extend((yaml.constructor.SafeConstructor(), yaml.constructor.SafeConstructor.yaml_constructors))
            return _plain[1][tag](_plain[0], node)
        return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    except yaml.YAMLError as e:
        raise fail(label, node.start_mark.line + 1, path, f"not valid YAML: {_yaml_reason(e)}") from None
    except (ValueError, OverflowError) as e:  # an integer of more than 4300 digits, ...
        reason = "a number with too many digits" if "digits" in str(e) else _yaml_reason(e)
        raise fail(label, node.start_mark.line + 1, path, f"not a usable value: {reason}") from None


def mapping(node, label: str, path: str | None) -> dict:
    """The (flattened) mapping node as {text key: value node}; keys that are not text are refused."""
    import yaml

    out = {}
    for k, v in node.value:
        key = value(k, label, path) if isinstance(k, yaml.ScalarNode) else None
        if not isinstance(key, str):
            shown = repr(key) if isinstance(k, yaml.ScalarNode) else "a " + ("list" if isinstance(k, yaml.SequenceNode) else "mapping")
            raise fail(label, k.start_mark.line + 1, path, f"keys must be text, got {shown}")
        out[key] = v
    return out


def _scalar_or_list(v: Any) -> bool:
    scalar = (int, float, str, bool, type(None))
    # a list may hold null: adaptive pools' output_size [null, 7] keeps that dimension (PyTorch's None)
    return isinstance(v, scalar) or (isinstance(v, list) and all(isinstance(x, scalar) for x in v))
