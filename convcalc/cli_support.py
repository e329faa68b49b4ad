"""The command line without Typer: help groups, metavars and texts, the hints added to an --input
error, did-you-mean for unknown commands, and the `convcalc COMMAND` label of errors. What each
command asks the library is in cli_queries.py. (cli.py builds the Typer commands on these; only
it touches Typer.)"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from . import sizes
from .errors import ConvcalcError, ShapeError
from .layers.base import Layer, Opt
from .layers.registry import _WHERE, LAYERS
from .report import DTYPE_BYTES

#: help panel of a layer command, by the registry module its class lives in
MODULE_GROUPS = {
    "conv": "Convolution",
    "pool": "Pooling",
    "recurrent": "Recurrent",
    "mdrnn": "Recurrent",
    "pixelcnn": "Autoregressive",
    "wavenet": "Autoregressive",
    "linear": "Elementwise and other",
    "norm": "Elementwise and other",
    "elementwise": "Elementwise and other",
}
NETWORKS, SOLVING = "Networks", "Solving"

#: how an option's value is written, by its kind
METAVARS = {
    "size": "EXPR",
    "sizes": "SIZES",
    "padding": "SIZES|same|valid",
    "float": "FLOAT",
    "size_or_inf": "EXPR|inf",
    "size_or_none": "EXPR|none",
}
#: what the metavars mean (the root help's epilog)
METAVAR_LEGEND = (
    "EXPR: a positive integer or an expression of symbols (64, C, 2*C, H+1). "
    "SIZES: one EXPR for every spatial dimension or one per dimension (3 or 3,5). "
    "SHAPE: the sizes of a tensor without the batch, comma- or x-separated (3,224,224 or 3xHxW)."
)


def group(command: str) -> str:
    """The help panel of a layer command (from the module its class lives in)."""
    return MODULE_GROUPS.get(_WHERE[command].split(":")[0], "Elementwise and other")


PANELS = ("Convolution", "Pooling", "Recurrent", "Autoregressive", "Elementwise and other", NETWORKS, SOLVING)


def panel_order(command: str | None) -> int:
    """Where a top-level command's panel comes in the help (commands keep their order within it)."""
    if command in _WHERE:
        return PANELS.index(group(command))
    return PANELS.index(NETWORKS)


def metavar(opt: Opt) -> str | None:
    if opt.kind == "choice":
        return "|".join(opt.choices)
    return METAVARS.get(opt.kind)


#: the mark of an option checked by convcalc rather than click (so that --explain can stand a
#: symbol in); round brackets read the same in Rich's markup and in plain help
REQUIRED = " (required)"


def input_marker(cls: type[Layer]) -> str:
    """The required-marker of --input: required unless options describe the input instead."""
    described_by = [o.flag for o in cls.OPTIONS if o.role == "input"]
    if described_by:
        return f" (required unless {' and '.join(described_by)} describe it)"
    return REQUIRED


COMMON_HELP = {
    "input": "Input shape without the batch, e.g. 3,224,224 or 3x224x224 or 3,H,W (symbols allowed).",
    "batch": "Batch size: scales the counts and the activation memory.",
    "dtype": f"Element type for memory (the activations'; --act-dtype is the same option): {', '.join(DTYPE_BYTES)}.",
    "format": "Output format: table, markdown, json, csv, latex (default: from --output's extension, else table).",
    "output": "Write to this file (whole or not at all); the extension picks the format (.md .json .csv .tex .txt).",
    "human": "Round large numbers: 1.23 M, 4.11 G, 1.50 MiB.",
    "explain": "Show each quantity's general formula, the formula with these values, and the result "
    "(without --input and options: the formula sheet).",
    "training": "Count a training step: forward, backward (dL/dx, dL/dW) and the optimizer step, the tensors "
    "autograd saves, gradient and optimizer memory, and the step's peak memory.",
    "gradients": "Show the gradients' shapes, the Jacobians' and the backward written as layers (implies --training).",
    "optimizer": "Optimizer of the training step: sgd, momentum, adam, adamw (implies --training).",
    "mixed_precision": "Mixed precision: float16 or bfloat16 activations, float32 master weights, gradients and "
    "optimizer state (implies --training).",
    "input_grad": "Compute dL/dx of the input (default: yes for a layer, no for a network's first layer).",
    "device": "Roofline on this device (convcalc devices lists them): least bytes moved, FLOPs per byte, and the "
    "time lower bound max(FLOPs / peak, bytes / bandwidth), forward and with --training backward.",
    "peak_flops": "Roofline on a device of your own: its peak FLOP/s for --dtype (with --bandwidth).",
    "bandwidth": "Roofline on a device of your own: its memory bandwidth in bytes/s (with --peak-flops).",
    "weight_dtype": "The parameters' dtype for the roofline's traffic (default --dtype, the activations'): int8, ...",
    "convention": "Also give the number another counter prints for the same model: flopcounter, torchinfo, fvcore, "
    "ptflops, ptflops-aten, thop, calflops, deepspeed (or convcalc); with --by-op, the difference per layer type and why.",
    "by_op": "Add the totals broken down by layer type (with --convention, the other counter's terms beside convcalc's).",
}

#: the roofline options every layer command takes (declared once)
COST_OPTIONS = ("device", "peak_flops", "bandwidth", "weight_dtype", "convention")

#: the training options every command that reports a training step takes (declared once)
TRAINING_OPTIONS = ("training", "gradients", "optimizer", "mixed_precision", "input_grad")


#: the narrowest width a table is laid out for
MIN_WIDTH = 20


def terminal_width() -> int:
    """The width to lay tables out for: COLUMNS when set to a whole number (as the shell and
    `COLUMNS=80 convcalc ...` set it), else the terminal's width when printing to one, else 120."""
    text = os.environ.get("COLUMNS", "").strip()
    if text.isdigit() and int(text) > 0:
        return max(MIN_WIDTH, int(text))
    if sys.stdout is None or not sys.stdout.isatty():
        return 120
    try:
        return max(MIN_WIDTH, os.get_terminal_size(sys.stdout.fileno()).columns)
    except (OSError, ValueError):
        return 120


def use_color() -> bool:
    return sys.stdout is not None and sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


# -- hints on a bad --input --------------------------------------------------------------------


def _layout_rank(cls: type[Layer]) -> int | None:
    """The number of entries of a channels-first input layout (C,H,W -> 3), else None."""
    if re.fullmatch(r"C(,[A-Z])+", cls.INPUT or ""):
        return cls.INPUT.count(",") + 1
    return None


def _channels_last(shape: tuple) -> bool:
    """Clearly channels-last: a small last entry (1 to 4 channels) after large sizes."""
    nums = [sizes.known_int(v) for v in shape]
    if None in nums or len(nums) < 2:
        return False
    return 1 <= nums[-1] <= 4 and all(n >= 8 for n in nums[:-1])


def _show(shape: tuple) -> str:
    return ",".join(sizes.to_text(v) for v in shape)


def layout_note(cls: type[Layer], shape: tuple) -> str | None:
    """A shape the layer accepts but that is clearly channels-last (224,224,3 to a conv2d): the
    answer is given, with this note on stderr."""
    if _layout_rank(cls) != len(shape) or not _channels_last(shape):
        return None
    fixed = (shape[-1],) + tuple(shape[:-1])
    return f"--input {_show(shape)} is read as {cls.INPUT} (channels first, as PyTorch); did you mean --input {_show(fixed)}?"


def input_hint(cls: type[Layer], shape: tuple | None, err: ConvcalcError) -> str | None:
    """`did you mean --input 3,224,224 [--batch 1]?` where a shape error is clearly due to a
    channels-last layout or a batch included; None where the shape gives no clear sign."""
    if shape is None or not isinstance(err, ShapeError) or err.option not in ("input", "kernel_size"):
        return None
    rank = _layout_rank(cls)
    if rank is None:
        return None
    batch, rest = None, tuple(shape)
    if len(rest) == rank + 1:  # N,C,H,W or N,H,W,C: the batch in front (numbers only, to be clear)
        nums = [sizes.known_int(v) for v in rest]
        if None in nums or not 1 <= nums[0] <= 4096:
            return None
        batch, rest = nums[0], rest[1:]
    elif len(rest) != rank:
        return None
    if _channels_last(rest):
        rest = (rest[-1],) + rest[:-1]
    elif batch is None:
        return None
    suggestion = f"--input {_show(rest)}" + (f" --batch {batch}" if batch is not None else "")
    return f"did you mean {suggestion}?"


# -- unknown commands --------------------------------------------------------------------------


def did_you_mean(word: str, known: list[str]) -> str:
    """`did you mean a, b?` for the names close to word, else a pointer to --help."""
    import difflib

    close = difflib.get_close_matches(word, known, n=3, cutoff=0.6)
    close.sort(key=lambda name: known.index(name))
    if close:
        return f"did you mean {', '.join(close)}?"
    return "see convcalc --help"


TOP_COMMANDS = [*LAYERS, "net", "solve", "transformer", "devices", "import"]


def solve_commands() -> list[str]:
    return [name for name in LAYERS if hasattr(LAYERS[name], "size_maps")] + ["net"]


def label(args: list[str]) -> str:
    """`convcalc COMMAND` for the command the arguments name (as far as they name one)."""
    words = args[:2]
    if words and words[0] in TOP_COMMANDS and words[0] != "solve":
        return f"convcalc {words[0]}"
    if words and words[0] == "solve":
        if len(words) > 1 and (words[1] in LAYERS or words[1] == "net"):
            return f"convcalc solve {words[1]}"
        return "convcalc solve"
    return "convcalc"


def unknown_command(args: list[str]) -> str | None:
    """The error line for an unknown command name, or None when the name is known."""
    if args and not args[0].startswith("-") and args[0] not in TOP_COMMANDS:
        return f"convcalc: No such command {args[0]!r}; {did_you_mean(args[0], TOP_COMMANDS)}"
    if len(args) > 1 and args[0] == "solve" and not args[1].startswith("-") and args[1] not in LAYERS and args[1] != "net":
        return f"convcalc solve: No such command {args[1]!r}; {did_you_mean(args[1], solve_commands())}"
    return None


def error_line(command: str, err: ConvcalcError, hint: Any = None) -> str:
    where = "--" + err.option.replace("_", "-") if err.option else None
    parts = [f"convcalc {command}"] + ([where] if where else []) + [err.message]
    return ": ".join(parts) + (f"; {hint}" if hint else "")


def solve_example(cls: type[Layer]) -> str:
    examples = {
        "conv1d": "convcalc solve conv1d --target 1,16 --in-channels 7 --kernel-size 9 --stride 3 --padding 1",
        "conv2d": "convcalc solve conv2d --input 3,224,224 --target 64,112,112 --kernel-size 7 --stride 2 --for padding",
        "convtranspose2d": "convcalc solve convtranspose2d --input 64,16,16 --target 32,32,32 --kernel-size 4 --for stride,padding",
        "maxpool2d": "convcalc solve maxpool2d --target 64,56,56 --kernel-size 3 --stride 2 --padding 1 --ceil-mode",
    }
    return examples.get(cls.NAME, f"convcalc solve {cls.NAME} --target ... (the layer's options)")
