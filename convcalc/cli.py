"""The command line: thin Typer commands over the library.

Each layer in the registry becomes a command whose options come from the layer's option specs
plus the common options declared once below. A command parses, builds the layer, asks for its
report, renders it and writes it; every ConvcalcError becomes one line on stderr and exit 2.
"""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer

try:  # recent Typer vendors click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - Typer on a separate click
    from click.exceptions import ClickException

from .errors import ConvcalcError
from .expr import parse_expr, parse_shape
from .layers.base import Layer, Opt
from .layers.registry import LAYERS
from .render import EXTENSIONS, Format, render
from .report import DTYPE_BYTES

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="convcalc: shapes, parameters, mults/adds, MACs, FLOPs and memory of neural-network layers, "
    "numeric or symbolic (--input 3,H,W).",
)

_COMMON_HELP = {
    "input": "Input shape without the batch, e.g. 3,224,224 or 3x224x224 or 3,H,W (symbols allowed).",
    "batch": "Batch size: scales the counts and the activation memory.",
    "dtype": f"Element type for memory: {', '.join(DTYPE_BYTES)}.",
    "format": "Output format: table, markdown, json, csv, latex (default: from --output's extension, else table).",
    "output": "Write to this file (whole or not at all); the extension picks the format (.md .json .csv .tex .txt).",
    "human": "Round large numbers: 1.23 M, 4.11 G, 1.50 MiB.",
}


@app.callback()
def _root() -> None:
    """convcalc: shapes, parameters, mults/adds, MACs, FLOPs and memory of neural-network layers,
    numeric or symbolic (--input 3,H,W). Run `convcalc LAYER --help` for a layer's options."""


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _error_line(command: str, err: ConvcalcError) -> str:
    where = _flag(err.option) if err.option else None
    parts = [f"convcalc {command}"] + ([where] if where else []) + [err.message]
    return ": ".join(parts)


def _parameter(opt: Opt) -> inspect.Parameter:
    help_text = opt.help + (f" One of: {', '.join(opt.choices)}." if opt.choices else "")
    if opt.kind == "flag":
        default = typer.Option(opt.default, f"{opt.flag}/--no-{opt.flag[2:]}", help=help_text)
        annotation: Any = bool
    else:
        default = typer.Option(... if opt.required else opt.default, opt.flag, help=help_text, show_default=opt.default is not None)
        annotation = str if opt.required else Optional[str]
    return inspect.Parameter(opt.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _common_parameters() -> list[inspect.Parameter]:
    kw = inspect.Parameter.KEYWORD_ONLY
    return [
        inspect.Parameter("input", kw, annotation=Optional[str], default=typer.Option(None, "--input", "-i", help=_COMMON_HELP["input"])),
        inspect.Parameter("batch", kw, annotation=str, default=typer.Option("1", "--batch", "-b", help=_COMMON_HELP["batch"])),
        inspect.Parameter("dtype", kw, annotation=str, default=typer.Option("float32", "--dtype", help=_COMMON_HELP["dtype"])),
        inspect.Parameter(
            "format", kw, annotation=Optional[Format], default=typer.Option(None, "--format", "-f", help=_COMMON_HELP["format"])
        ),
        inspect.Parameter("output", kw, annotation=Optional[Path], default=typer.Option(None, "--output", "-o", help=_COMMON_HELP["output"])),
        inspect.Parameter("human", kw, annotation=bool, default=typer.Option(False, "--human", "-H", help=_COMMON_HELP["human"])),
    ]


def _choose_format(fmt: Optional[Format], output: Optional[Path]) -> Format:
    if fmt is not None:
        return fmt
    if output is None:
        return Format.table
    ext = output.suffix.lower()
    if ext not in EXTENSIONS:
        raise ConvcalcError(
            f"cannot tell the format from the extension {ext or '(none)'!r}; use --format or one of {', '.join(EXTENSIONS)}",
            option="output",
        )
    return EXTENSIONS[ext]


def write_atomically(path: Path, text: str) -> None:
    """Write the whole text to path or nothing: a temporary file beside it, then a rename."""
    import tempfile

    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ConvcalcError(f"folder {str(parent)!r} does not exist", option="output")
    if path.is_dir():
        raise ConvcalcError(f"{str(path)!r} is a folder", option="output")
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise ConvcalcError(f"cannot write in {str(parent)!r}: {e.strerror}", option="output") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ConvcalcError(f"cannot write {str(path)!r}: {e.strerror}", option="output") from None


def _use_color() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _run_layer(cls: type[Layer], values: dict) -> None:
    try:
        text = values.pop("input")
        if text is not None:
            try:
                shape = parse_shape(text)
            except ConvcalcError as e:
                raise e.with_context(option="input") from None
        else:
            described = {k: v for k, v in values.items() if v is not None and k in {o.name for o in cls.OPTIONS}}
            shape = cls.input_from_options(cls.parse_options(described))
            if shape is None:
                described_by = [o.flag for o in cls.OPTIONS if o.role == "input"]
                hint = f", or {' and '.join(described_by + ['--input-size'])}" if described_by else ""
                raise ConvcalcError(f"missing: give --input {cls.INPUT}{hint}", option="input")
        try:
            batch = parse_expr(values.pop("batch"))
        except ConvcalcError as e:
            raise e.with_context(option="batch") from None
        dtype = values.pop("dtype")
        output: Optional[Path] = values.pop("output")
        fmt = _choose_format(values.pop("format"), output)
        human = values.pop("human")
        options = {k: v for k, v in values.items() if v is not None}
        layer = cls.build(shape, options)
        report = layer.report(shape, batch=batch, dtype=dtype)
        if output is None:
            text = render(fmt, report, human=human, color=fmt is Format.table and _use_color(), width=_width())
            sys.stdout.write(text)
        else:
            write_atomically(output, render(fmt, report, human=human, color=False, width=120))
    except ConvcalcError as e:
        typer.echo(_error_line(cls.NAME, e), err=True)
        raise typer.Exit(2) from None


def _width() -> int:
    """The terminal's width when printing to one (60 to 160 columns), else 120."""
    if not sys.stdout.isatty():
        return 120
    try:
        return max(60, min(os.get_terminal_size(sys.stdout.fileno()).columns, 160))
    except (OSError, ValueError):
        return 120


def _make_command(cls: type[Layer]):
    def command(**values: Any) -> None:
        _run_layer(cls, values)

    command.__signature__ = inspect.Signature([_common_parameters()[0]] + [_parameter(o) for o in cls.OPTIONS] + _common_parameters()[1:])  # type: ignore[attr-defined]
    command.__name__ = cls.NAME
    command.__doc__ = f"{cls.SUMMARY}\n\nInput: {cls.INPUT} (batch excluded)."
    return command


def _register(names) -> None:
    for name in names:
        cls = LAYERS[name]
        app.command(name, help=f"{cls.SUMMARY} Input: {cls.INPUT} (batch excluded).", epilog=f"Example: {cls.EXAMPLE}")(
            _make_command(cls)
        )


_registered: set[str] = set()


def _ensure_commands(args: list[str]) -> None:
    """Register the commands. Typer builds every option of every registered command on each
    run, which costs more than the whole calculation, so a layer query registers only its own
    command; --help, an unknown name or anything else registers them all."""
    first = args[0] if args else ""
    wanted = [first] if first in LAYERS else list(LAYERS)
    missing = [name for name in wanted if name not in _registered]
    _register(missing)
    _registered.update(missing)


def main(argv: Optional[list[str]] = None) -> int:
    """Run the CLI; returns the exit status (0, or 2 for bad input)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        args = ["--help"]
    _ensure_commands(args)
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=args, prog_name="convcalc", standalone_mode=False)
    except ClickException as e:
        sub = f" {args[0]}" if args and args[0] in LAYERS else ""
        message = " ".join(e.format_message().split())
        sys.stderr.write(f"convcalc{sub}: {message}\n")
        return 2
    except typer.Abort:
        sys.stderr.write("convcalc: aborted\n")
        return 1
    return rv if isinstance(rv, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
