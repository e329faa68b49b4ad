"""Networks: whole architectures in YAML -> layers -> a NetworkReport.

    >>> from convcalc import Network
    >>> net = Network.from_yaml("input: 3,32,32\\nlayers:\\n  - conv2d: {out_channels: 8, kernel_size: 3}\\n")
    >>> net.report().output_shape
    (8, 30, 30)

A file is read with PyYAML's safe loader (anchors, aliases and merge keys work; no Python
objects are built) and walked node by node so that every error names the file, the line, the
layer path (layers[4].residual.body[3]) and the reason. Sizes and parameters may be expressions
in symbols. Hostile files (alias bombs, deep nesting, FIFOs, binary data) are refused at once.
"""

from __future__ import annotations

import os
from typing import Any

from ..devices import Device
from ..layers.training import Training
from .reading import BLOCKS, MAX_FILE_BYTES, MAX_NESTING, MAX_NODES, NetworkError, Parsed, read_path, parse_text
from .running import MAX_LAYERS, MAX_SYMBOLIC_LAYERS, NetworkReport, run
from .solving import BatchReport, parse_memory, solve_batch, solve_network

__all__ = [
    "BLOCKS", "MAX_FILE_BYTES", "MAX_LAYERS", "MAX_NESTING", "MAX_NODES", "MAX_SYMBOLIC_LAYERS",
    "BatchReport", "Network", "NetworkError", "NetworkReport", "evaluate", "parse_memory", "read", "solve_batch", "solve_network",
]  # fmt: skip


def _looks_like_text(source: str) -> bool:
    head = source.lstrip()
    return "\n" in source or head.startswith(("name:", "layers:", "input:", "{", "---"))


class Network:
    """A network read from YAML (text or a file), ready to report on any input shape.

    Build it with :meth:`from_yaml`; :meth:`report` gives the rows and totals. Every error is a
    :class:`convcalc.ConvcalcError` (a :class:`NetworkError` naming the file, line and layer path).
    """

    def __init__(self, parsed: Parsed) -> None:
        self._parsed = parsed

    @property
    def name(self) -> str:
        """The network's name (its ``name:`` or the file's stem)."""
        return self._parsed.name

    @property
    def input(self) -> Any:
        """The input shape as written in the file (None when the file gives none)."""
        return self._parsed.input

    @classmethod
    def from_yaml(cls, source: str | os.PathLike, *, label: str | None = None) -> "Network":
        """A network from YAML text or from a file.

        Args:
            source: YAML text (a str with a newline, or starting with ``name:``, ``layers:``,
                ``input:`` or ``{``), or the path of a file (a str or a ``pathlib.Path``).
            label: the name errors give the text (default ``<yaml>``; a file's path for a file).

        Raises:
            NetworkError: the file cannot be read, is not a network, or is hostile.
        """
        if isinstance(source, os.PathLike):
            return cls(read_path(source))
        if isinstance(source, bytes):
            raise NetworkError(f"{label or '<yaml>'}: give text (str) or a path, not bytes")
        if not isinstance(source, str):
            raise NetworkError(f"{label or '<yaml>'}: expected YAML text or a path, got {type(source).__name__}")
        if _looks_like_text(source):
            return cls(parse_text(source, label or "<yaml>", "network"))
        return cls(read_path(source))

    def report(
        self,
        input: str | tuple | list | None = None,
        *,
        batch: int | str = 1,
        dtype: str = "float32",
        depth: int | None = None,
        by_op: bool = False,
        training: Training | None = None,
        device: Device | None = None,
        weight_dtype: str | None = None,
        convention: str | None = None,
    ) -> NetworkReport:
        """The network's report on an input shape.

        Args:
            input: the input shape without the batch, e.g. ``"3,224,224"``, ``"3,H,W"`` or
                ``(3, 224, 224)``; default the file's ``input:``.
            batch: the batch size (a number or an expression such as ``"B"``).
            dtype: the element type for memory (float32, float16, bfloat16, float64, int8, ...).
            depth: show rows down to this nesting depth (blocks below fold into one row); None for all.
            by_op: also give the totals per layer type.
            training: a ``convcalc.layers.training.Training`` to count the training step too
                (forward, backward, optimizer, saved tensors, peak memory); None for the forward.
                Its ``input_grad`` says whether the network's input requires grad (give False for
                what ``convcalc net --training`` counts: the first layer computes no dL/dx);
                layers marked ``frozen: true`` get no dL/dW.
            device: a ``convcalc.devices.Device`` (``convcalc.devices.device("a100-sxm")``) for the
                roofline: every layer's least traffic and time bound, summed (``report.roofline``).
            weight_dtype: the parameters' dtype for the roofline's traffic (default ``dtype``).
            convention: another counter's convention (``"torchinfo"``, ``"fvcore"``, ...: see
                ``convcalc.conventions.table()``): the number that tool would print, and per layer
                type with ``by_op`` (``report.convention``).

        Raises:
            NetworkError: a layer, a join or an argument is refused (the message says where and why).
        """
        if training is not None and not isinstance(training, Training):
            raise NetworkError(f"{self._parsed.label}: training: expected a Training, got {type(training).__name__}")
        return run(self._parsed, input_shape=input, batch=batch, dtype=dtype, depth=depth, by_op=by_op, training=training,
                   device=device, weight_dtype=weight_dtype, convention=convention)

    def solve(self, target: tuple, *, input_channels: Any = None):
        """The input sizes the network's spatial part maps to ``target`` (a SolveReport)."""
        return solve_network(self._parsed, target, input_channels=input_channels)

    def solve_batch(self, memory: int | str, training: Training, *, input: str | tuple | None = None,
                    dtype: str = "float32") -> BatchReport:
        """The largest batch whose training step fits in ``memory`` (bytes, or text such as
        ``"16GiB"``); with a symbolic ``input`` (``"3,H,W"``) the batch as an expression."""
        return solve_batch(self._parsed, memory, training, input_shape=input, dtype=dtype)

    def __repr__(self) -> str:
        return f"Network({self.name!r}, {len(self._parsed.items)} items, from {self._parsed.label})"


def read(path: str | os.PathLike) -> Parsed:
    """The network file read and checked (name, input as written, items, label)."""
    return read_path(path)


def evaluate(
    path: str | os.PathLike,
    *,
    input_shape: str | tuple | None = None,
    batch: Any = 1,
    dtype: str = "float32",
    depth: int | None = None,
    by_op: bool = False,
    training: Training | None = None,
    device: Device | None = None,
    weight_dtype: str | None = None,
    convention: str | None = None,
) -> NetworkReport:
    """The report of a network file (``input_shape`` overrides the file's input); the same code
    as ``Network.from_yaml(Path(path)).report(...)``."""
    return Network(read_path(path)).report(input_shape, batch=batch, dtype=dtype, depth=depth, by_op=by_op, training=training,
                                           device=device, weight_dtype=weight_dtype, convention=convention)
