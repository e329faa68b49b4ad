"""The command line: thin Typer commands over the library.

Each layer in the registry becomes a command whose options come from the layer's option specs
plus the common options declared once below. A command parses, builds the layer, asks for its
report, renders it and writes it; every ConvcalcError becomes one line on stderr and exit 2.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import inspect
import os
import sys
from pathlib import Path
from typing import Any, Optional

_COLLECTING = gc.isenabled()
gc.disable()  # importing Typer makes no garbage worth collecting (the collector is back below)

import typer  # noqa: E402

try:  # recent Typer vendors click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - Typer on a separate click
    from click.exceptions import ClickException

from . import __version__
from .cli_support import COMMON_HELP as _COMMON_HELP
from .cli_queries import choose_format, layer_query, net_query, solve_net_query, solve_query, transformer_query
from .cli_support import (
    METAVAR_LEGEND, NETWORKS, REQUIRED, SOLVING, error_line, group, input_marker, label, metavar, panel_order,
    solve_example, unknown_command,
)
from .cli_support import terminal_width as _width
from .cli_support import use_color as _use_color
from .errors import ConvcalcError
from .output import StdoutError, discard_stdout, flush_stdout, say, write_output, write_stdout
from .layers.base import Layer, Opt
from .layers.registry import LAYERS
from .render import Format, render

if _COLLECTING:
    gc.enable()

_CONTEXT = {"help_option_names": ["-h", "--help"]}


class _Group(typer.core.TyperGroup):
    """Plain help (when not on a terminal: no Rich to import) lists the commands under the same
    headings as Rich's panels."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        sections: dict[str, list] = {}
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                sections.setdefault(getattr(cmd, "rich_help_panel", None) or "Commands", []).append((name, cmd))
        for title, commands in sections.items():
            limit = formatter.width - 6 - max(len(name) for name, _ in commands)
            with formatter.section(title):
                formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in commands])


app = typer.Typer(
    cls=_Group,
    no_args_is_help=True,
    context_settings=_CONTEXT,
    epilog=METAVAR_LEGEND,
)


def _show_version(value: bool) -> None:
    if value:
        write_stdout(f"convcalc {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", "-V", is_eager=True, callback=_show_version, help="Show the version and exit."),
) -> None:
    """convcalc: shapes, parameters, mults/adds, MACs, FLOPs and memory of neural-network layers,
    numeric or symbolic (--input 3,H,W). Run `convcalc LAYER --help` for a layer's options."""


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


class _Escape(Exception):
    """Carries an exception out of a command past click's own handlers (which would turn
    Ctrl-C into a silent 130 and a broken pipe into exit 1) to main()."""

    def __init__(self, original: BaseException):
        super().__init__(repr(original))
        self.original = original


def _escaping(fn):
    """A command body whose failures other than its own exit reach main() unchanged."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, ClickException):
            raise
        except (KeyboardInterrupt, Exception) as e:  # noqa: B902 - handed on, not swallowed
            raise _Escape(e) from None

    return wrapper


def _parameter(opt: Opt, marker: str | None = None) -> inspect.Parameter:
    """The Typer option of a layer's option spec; marker: the required-marker (default: from the spec)."""
    help_text = opt.help + (f" One of: {', '.join(opt.choices)}." if opt.choices else "")
    if opt.kind == "flag":
        default = typer.Option(opt.default, f"{opt.flag}/--no-{opt.flag[2:]}", help=help_text)
        annotation: Any = bool
    else:
        # required options are checked by _run_layer, so that --explain can stand symbols in for
        # them; the help text marks them instead
        marker = (REQUIRED if opt.required else "") if marker is None else marker
        default = typer.Option(opt.default, opt.flag, help=help_text + marker, show_default=opt.default is not None,
                               metavar=metavar(opt))
        annotation = Optional[str]
    return inspect.Parameter(opt.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _option(name: str, annotation: Any, default: Any, *flags: str, **kwargs: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=typer.Option(default, *flags, **kwargs))


def _common_parameters(input_marker: str = "") -> list[inspect.Parameter]:
    h = _COMMON_HELP
    return [
        _option("input", Optional[str], None, "--input", "-i", help=h["input"] + input_marker, metavar="SHAPE"),
        _option("batch", str, "1", "--batch", "-b", help=h["batch"], metavar="EXPR"),
        _option("dtype", str, "float32", "--dtype", "--act-dtype", help=h["dtype"], metavar="DTYPE"),
        _option("format", Optional[Format], None, "--format", "-f", help=h["format"]),
        _option("output", Optional[Path], None, "--output", "-o", help=h["output"], metavar="FILE"),
        _option("human", bool, False, "--human", "-H", help=h["human"]),
        _option("explain", bool, False, "--explain", "-e", help=h["explain"]),
        _option("by_op", bool, False, "--by-op", help=h["by_op"]),
    ] + _training_parameters() + _cost_parameters()


def _cost_parameters() -> list[inspect.Parameter]:
    """--device, --peak-flops, --bandwidth, --weight-dtype and --convention: declared once (read by
    cli_queries.device_from and with_costs)."""
    h = _COMMON_HELP
    return [
        _option("device", Optional[str], None, "--device", help=h["device"], metavar="NAME"),
        _option("peak_flops", Optional[float], None, "--peak-flops", help=h["peak_flops"], metavar="FLOP/S"),
        _option("bandwidth", Optional[float], None, "--bandwidth", help=h["bandwidth"], metavar="B/S"),
        _option("weight_dtype", Optional[str], None, "--weight-dtype", help=h["weight_dtype"], metavar="DTYPE"),
        _option("convention", Optional[str], None, "--convention", help=h["convention"], metavar="TOOL"),
    ]


def _training_parameters() -> list[inspect.Parameter]:
    """--training, --gradients, --optimizer, --mixed-precision, --input-grad: declared once,
    for the layer commands and `net` (read by cli_queries.training_from)."""
    h = _COMMON_HELP
    return [
        _option("training", bool, False, "--training", "-T", help=h["training"]),
        _option("gradients", bool, False, "--gradients", "-g", help=h["gradients"]),
        _option("optimizer", Optional[str], None, "--optimizer", help=h["optimizer"], metavar="NAME"),
        _option("mixed_precision", Optional[str], None, "--mixed-precision", help=h["mixed_precision"], metavar="DTYPE"),
        _option("input_grad", Optional[bool], None, "--input-grad/--no-input-grad", help=h["input_grad"], show_default=False),
    ]


def _network_training_parameters() -> list[inspect.Parameter]:
    """The training options of `net` and `solve net`: all but --gradients (the gradients' shapes
    and the backward as layers are a layer command's)."""
    return [p for p in _training_parameters() if p.name != "gradients"]


def _emit(fmt: Format, report: Any, output: Optional[Path], human: bool = False, columns: Optional[list] = None) -> None:
    """The report to stdout (colour on a terminal) or, whole or not at all, to the output file."""
    if output is None:
        if sys.stdout is None:  # started with standard output closed
            raise StdoutError(None)
        text = render(fmt, report, human=human, color=fmt is Format.table and _use_color(), width=_width(), columns=columns)
        write_stdout(text)
    else:
        write_output(output, render(fmt, report, human=human, color=False, width=120, columns=columns))


def _run_layer(cls: type[Layer], values: dict) -> None:
    try:
        report, fmt, output, human = layer_query(cls, values)
        _emit(fmt, report, output, human)
    except ConvcalcError as e:
        say(error_line(cls.NAME, e))
        raise typer.Exit(2) from None


def _make_command(cls: type[Layer]):
    @_escaping
    def command(**values: Any) -> None:
        _run_layer(cls, values)

    common = _common_parameters(input_marker(cls))
    command.__signature__ = inspect.Signature([common[0]] + [_parameter(o) for o in cls.OPTIONS] + common[1:])  # type: ignore[attr-defined]
    command.__name__ = cls.NAME
    command.__doc__ = f"{cls.SUMMARY}\n\nInput: {cls.INPUT} (batch excluded)."
    return command


solve_app = typer.Typer(
    no_args_is_help=True,
    context_settings=_CONTEXT,
    help="Solve backwards: the input sizes, or the values of a layer parameter (--for), that give --target.",
)


@_escaping
def solve_net(file: Path = typer.Argument(..., help="The network file (YAML).", metavar="FILE"), **values: Any) -> None:
    try:
        report, fmt, output = solve_net_query(
            file, values.pop("target"), values.pop("in_channels"), values.pop("format"), values.pop("output"),
            for_=values.pop("for_"), memory=values.pop("memory"), input=values.pop("input"), dtype=values.pop("dtype"),
            training=values,
        )
        _emit(fmt, report, output)
    except ConvcalcError as e:
        say(error_line("solve net", e))
        raise typer.Exit(2) from None


def _solve_parameters(cls: type[Layer]) -> list[inspect.Parameter]:
    from .solve import solvable

    common = _common_parameters()
    names = ", ".join(_flag(n)[2:] for n in solvable(cls)) or "none here"
    params = [
        _option("target", Optional[str], None, "--target", "-t", help="The output shape to reach, e.g. 64,112,112 or 64,n,n "
                "(required unless --for compute-bound).", metavar="SHAPE"),
        _option("input", Optional[str], None, "--input", "-i", help="The input shape, to solve for a parameter (with --for).",
                metavar="SHAPE"),
        _option("for_", Optional[str], None, "--for", metavar="PARAM[,PARAM]",
                help=f"Parameter(s) to solve for: {names}; one or two, comma-separated. Or compute-bound: the least size "
                "of the --input's one symbol at which the layer is compute-bound on --device."),
        _option("explain", bool, False, "--explain", "-e", help="Show the inequalities the floor gives, step by step."),
    ]
    if "in_channels" in {f.name for f in dataclasses.fields(cls)}:
        params.append(_option("in_channels", Optional[str], None, "--in-channels", help="Input channels (or give --input).", metavar="EXPR"))
    for opt in cls.OPTIONS:
        if opt.role == "arg":
            marker = ""  # out_channels defaults to the target's channels
            if opt.required and opt.name != "out_channels":
                marker = " (required unless --for names it)" if opt.name in solvable(cls) else REQUIRED
            optional = dataclasses.replace(opt, required=False, default=None if opt.kind != "flag" else opt.default)
            params.append(_parameter(optional, marker))
    return params + [p for p in common if p.name in ("format", "output", "dtype", "batch")] + [
        p for p in _cost_parameters() if p.name != "convention"]


def _run_solve(cls: type[Layer], values: dict) -> None:
    try:
        report, fmt, output = solve_query(cls, values)
        _emit(fmt, report, output)
    except ConvcalcError as e:
        say(error_line(f"solve {cls.NAME}", e))
        raise typer.Exit(2) from None


def _make_solve_command(cls: type[Layer]):
    @_escaping
    def command(**values: Any) -> None:
        _run_solve(cls, values)

    command.__signature__ = inspect.Signature(_solve_parameters(cls))  # type: ignore[attr-defined]
    command.__name__ = f"solve_{cls.NAME}"
    return command


def _common(*names: str) -> list[inspect.Parameter]:
    """The common options of these names, as every command declares them."""
    common = {p.name: p for p in _common_parameters()}
    return [common[n] for n in names]


@_escaping
def net(file: Path = typer.Argument(..., help="The network file (YAML).", metavar="FILE"), **values: Any) -> None:
    columns = values.pop("columns")
    try:
        report, fmt, output = net_query(file, values.pop("input"), values.pop("depth"), values.pop("by_op"), values.pop("batch"),
                                        values.pop("dtype"), values.pop("format"), values.pop("output"), values)
        chosen = None if columns is None else [c.strip() for c in columns.split(",") if c.strip()]
        try:
            _emit(fmt, report, output, values.get("human", False), columns=chosen)
        except ConvcalcError as e:
            raise e.with_context(option="columns" if not e.option and chosen is not None else None) from None
    except ConvcalcError as e:
        say(error_line("net", e))
        raise typer.Exit(2) from None


@_escaping
def transformer(**values: Any) -> None:
    values["training_values"] = {k: values.pop(k) for k in [p.name for p in _network_training_parameters()]}
    columns = values.pop("columns")
    try:
        report, fmt, output, text = transformer_query(values)
        if text is not None:
            if output is None:
                write_stdout(text)
            else:
                write_output(output, text)
            return
        chosen = None if columns is None else [c.strip() for c in columns.split(",") if c.strip()]
        _emit(fmt, report, output, values.get("human", False), columns=chosen)
    except ConvcalcError as e:
        say(error_line("transformer", e))
        raise typer.Exit(2) from None


@_escaping
def devices(**values: Any) -> None:
    from .devices import DeviceList

    try:
        output = values["output"]
        _emit(choose_format(values["format"], output), DeviceList.shipped(), output)
    except ConvcalcError as e:
        say(error_line("devices", e))
        raise typer.Exit(2) from None


@_escaping
def import_(file: Path = typer.Argument(..., help="The model file (ONNX: .onnx).", metavar="FILE"),
            output: Optional[Path] = typer.Option(None, "--output", "-o", help=_COMMON_HELP["output"], metavar="FILE")) -> None:
    from .importing.onnx_graph import to_yaml

    try:
        if not str(file).lower().endswith(".onnx"):
            raise ConvcalcError(f"{str(file)[:80]}: convcalc imports ONNX files (.onnx)")
        text = to_yaml(file)
        if output is None:
            write_stdout(text)
        else:
            write_output(output, text)
    except ConvcalcError as e:
        say(error_line("import", e))
        raise typer.Exit(2) from None


def _transformer_signature() -> inspect.Signature:
    """`transformer`'s options (built when it is registered)."""
    size = lambda name, text: _option(name, Optional[str], None, "--" + name.replace("_", "-"), help=text, metavar="EXPR")  # noqa: E731
    return inspect.Signature(
        [_option("arch", str, "gpt2", "--arch", "-a", help="The family's preset: gpt2, llama, bert, vit.", metavar="NAME"),
         size("seq_len", "Sequence length T (tokens; a number or a symbol such as T). An image model's is its patches + 1."),
         size("d_model", "Model width (the preset's otherwise)."),
         size("heads", "Attention heads."),
         size("kv_heads", "Key/value heads (grouped-query attention; default: heads)."),
         size("layers", "Blocks."),
         size("ffn", "Hidden width of the MLP."),
         size("vocab", "Vocabulary size."),
         size("positions", "Learned positions (the table's rows; at least T)."),
         size("image_size", "Image side (vit)."),
         size("patch_size", "Patch side (vit)."),
         size("num_classes", "Classes of the head (vit)."),
         _option("tie", Optional[bool], None, "--tie/--no-tie", help="Tie the output projection to the token embedding.",
                 show_default=False),
         _option("dropout", Optional[float], None, "--dropout", help="Dropout after attention and MLP (counted in training).",
                 metavar="P"),
         _option("print_yaml", bool, False, "--print-yaml", help="Print the stack as a network file and stop."),
         _option("depth", Optional[int], 1, "--depth", "-d", help="Show rows down to this nesting depth."),
         _option("by_op", bool, False, "--by-op", help="Add the totals broken down by layer type."),
         *_common("batch", "dtype", "format", "output", "human"),
         _option("columns", Optional[str], None, "--columns", "-c", metavar="NAMES", help="The table's columns, as for net."),
         *_network_training_parameters(), *_cost_parameters()]
    )


def _net_signature() -> inspect.Signature:
    """`net`'s options (built when `net` is registered: a layer query builds none of them)."""
    return inspect.Signature(
        [inspect.signature(net).parameters["file"],
         _option("input", Optional[str], None, "--input", "-i", help="Input shape; overrides the file's (symbols allowed).", metavar="SHAPE"),
         _option("depth", Optional[int], None, "--depth", "-d", help="Show rows down to this nesting depth (blocks below fold into one row)."),
         _option("by_op", bool, False, "--by-op", help="Add the totals broken down by layer type."),
         *_common("batch", "dtype", "format", "output", "human"),
         _option("columns", Optional[str], None, "--columns", "-c", metavar="NAMES",
                 help="The table's columns, comma-separated, in order: type, output, params, macs, flops, activation, rf, share "
                 "(torchinfo's col_names too); with --training also backward, saved. Default: all that fit the width."),
         *_network_training_parameters(), *_cost_parameters()]
    )


def _solve_net_signature() -> inspect.Signature:
    """`solve net`'s options (built when it is registered)."""
    return inspect.Signature(
        [inspect.signature(solve_net).parameters["file"],
         _option("target", Optional[str], None, "--target", "-t", metavar="SHAPE",
                 help="The output of the last spatial layer, e.g. 2048,7,7 or 2048,n,n (required unless --for batch)."),
         _option("in_channels", Optional[str], None, "--in-channels", help="Input channels (default: the file's input).", metavar="EXPR"),
         _option("for_", Optional[str], None, "--for", metavar="QUESTION",
                 help="batch: the largest batch whose training step fits in --memory (--training implied); compute-bound: "
                 "the least size of the --input's symbol at which the forward pass is compute-bound on --device; "
                 "attention-mlp: the least size at which attention costs as many FLOPs as the MLPs."),
         _option("memory", Optional[str], None, "--memory", "-m", metavar="SIZE",
                 help="With --for batch: the memory, e.g. 16GiB, 16GB, 1.5e9 (bytes)."),
         _option("input", Optional[str], None, "--input", "-i", metavar="SHAPE",
                 help="With --for: the input shape (default: the file's; symbols allowed; one symbol for a crossover)."),
         *_common("dtype", "format", "output"),
         *_network_training_parameters(), *[p for p in _cost_parameters() if p.name != "convention"]]
    )


def _register(names) -> None:
    for name in names:
        cls = LAYERS[name]
        app.command(name, help=f"{cls.SUMMARY} Input: {cls.INPUT} (batch excluded).", epilog=f"Example: {cls.EXAMPLE}",
                    rich_help_panel=group(name))(
            _make_command(cls)
        )


_registered: set[str] = set()


def _register_static(name: str) -> None:
    """Register `net`, the `solve` group or `solve net` (once)."""
    if name in _registered:
        return
    if name == "net":
        net.__signature__ = _net_signature()  # type: ignore[attr-defined]
        app.command(
            "net",
            help="A whole network from a YAML file: a row per layer and block, the totals, receptive field and depth.",
            epilog="Example: convcalc net examples/resnet50.yaml --input 3,H,W --depth 1",
            rich_help_panel=NETWORKS,
        )(net)
    elif name == "transformer":
        transformer.__signature__ = _transformer_signature()  # type: ignore[attr-defined]
        app.command(
            "transformer",
            help="A transformer stack from a preset (gpt2, llama, bert, vit): its rows and totals as a network, and per "
            "token, prefill and decode, KV cache and the 6N rule.",
            epilog="Example: convcalc transformer --arch gpt2 --seq-len T",
            rich_help_panel=NETWORKS,
        )(transformer)
    elif name == "devices":
        devices.__signature__ = inspect.Signature(_common("format", "output"))  # type: ignore[attr-defined]
        app.command(
            "devices",
            help="The devices roofline estimates know: peak dense throughput per dtype and memory bandwidth, with sources "
            "(the table is convcalc/data/devices.yaml).",
            epilog="Example: convcalc devices -f json",
            rich_help_panel=NETWORKS,
        )(devices)
    elif name == "import":
        app.command(
            "import",
            help="A model file as a convcalc network file (YAML): ONNX, its dynamic axes kept as symbols "
            "(pip install \"convcalc[onnx]\"); `convcalc net model.onnx` reads it directly.",
            epilog="Example: convcalc import model.onnx -o model.yaml",
            rich_help_panel=NETWORKS,
        )(import_)
    elif name == "solve":
        app.add_typer(solve_app, name="solve", rich_help_panel=SOLVING)
    elif name == "solve net":
        solve_net.__signature__ = _solve_net_signature()  # type: ignore[attr-defined]
        solve_app.command(
            "net",
            help="The input sizes a network file's spatial part maps to --target (pulled back layer by layer), or "
            "the largest batch whose training step fits in --memory (--for batch).",
            epilog="Example: convcalc solve net examples/resnet50.yaml --target 2048,7,7; "
            "convcalc solve net examples/resnet50.yaml --for batch --memory 16GiB --training --optimizer adam",
        )(solve_net)
    _registered.add(name)


def _ensure_commands(args: list[str]) -> None:
    """Register the commands. Typer builds every option of every registered command on each
    run, which costs more than the whole calculation, so a query registers only its own command
    (`net`, a layer, `solve LAYER`, `solve net`); anything else (help, completion) registers all."""
    completing = bool(os.environ.get("_CONVCALC_COMPLETE"))  # a shell completing a command line: everything
    if completing:
        args = []
    first = args[0] if args else ""
    second = args[1] if len(args) > 1 else ""
    if first in ("net", "transformer", "devices", "import"):
        _register_static(first)
        return
    if first == "solve" or completing:
        _register_static("solve")
        if second != "net" and second in LAYERS:
            names = [second]
        else:
            _register_static("solve net")
            names = [] if second == "net" else [n for n in LAYERS if hasattr(LAYERS[n], "size_maps")]
        for name in names:
            if f"solve {name}" not in _registered:
                cls = LAYERS[name]
                solve_app.command(name, help=f"Input sizes or a parameter of {name} for a target output.",
                                  epilog=f"Example: {solve_example(cls)}")(_make_solve_command(cls))
                _registered.add(f"solve {name}")
        if not completing:
            return
    wanted = [first] if first in LAYERS else list(LAYERS)
    missing = [name for name in wanted if name not in _registered]
    _register(missing)
    _registered.update(missing)
    if first not in LAYERS:
        for name in ("net", "transformer", "devices", "import", "solve", "solve net"):
            _register_static(name)
    app.registered_commands.sort(key=lambda c: panel_order(c.name))  # the panels in a fixed order, Networks last


#: exit statuses: bad input 2, internal error 70 (EX_SOFTWARE), SIGINT 128 + 2, SIGPIPE 128 + 13
EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 2, 70, 130, 141


def main(argv: Optional[list[str]] = None) -> int:
    """Run the CLI; returns the exit status: 0; 2 for bad input or an output that cannot be
    written; 130 when interrupted; 141 (silently) when the reader of a pipe has gone; 70 for an
    internal error (a bug).

    The cyclic garbage collector is off while the command runs (and as it was after): a query
    makes little cyclic garbage and ends soon, while the collector's passes over the objects a
    large network is made of (its nodes, items, layers, rows and cells) cost time that grows
    faster than the network."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _main(argv)
    finally:
        if collecting:
            gc.enable()


def _main(argv: Optional[list[str]]) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        args = ["--help"]
    label_ = label(args)
    try:
        try:
            unknown = unknown_command(args)
            if unknown:
                say(unknown)
                return EXIT_USAGE
            _ensure_commands(args)
            # Rich's boxed help on a terminal; elsewhere click's plain help, without importing Rich
            markup = "rich" if sys.stdout is not None and sys.stdout.isatty() else None
            app.rich_markup_mode = solve_app.rich_markup_mode = markup
            command = typer.main.get_command(app)
            rv = command.main(args=args, prog_name="convcalc", standalone_mode=False)
            flush_stdout()
        except _Escape as e:
            raise e.original from None
        except OSError as e:  # click's own writing (help, usage) failed: our commands' errors escape above
            raise StdoutError(e) from None
    except ClickException as e:
        message = " ".join(e.format_message().split())
        say(f"{label_}: {message}")
        return EXIT_USAGE
    except typer.Abort:  # end of input at a prompt (convcalc has none)
        say(f"{label_}: aborted")
        return 1
    except KeyboardInterrupt:
        say(f"{label_}: interrupted")
        return EXIT_INTERRUPTED
    except StdoutError as e:
        discard_stdout()
        if e.broken_pipe:
            return EXIT_BROKEN_PIPE
        say(f"{label_}: {e.reason}")
        return EXIT_USAGE
    except Exception as e:  # the last resort: a bug, told in one line
        text = " ".join(str(e).split())[:300]  # one line, whatever the exception says
        say(f"{label_}: internal error: {type(e).__name__}: {text} (a bug in convcalc; please report it with this command line)")
        return EXIT_INTERNAL
    if rv == EXIT_INTERRUPTED:  # click's own handling of Ctrl-C while parsing
        say(f"{label_}: interrupted")
    return rv if isinstance(rv, int) else 0


def run(argv: Optional[list[str]] = None) -> None:
    """Console-script entry point: main(), then leave at once (the output is flushed; tearing
    the interpreter down would only spend time collecting garbage). The objects the imports
    made are frozen first, so that the collector never scans them again during a long query."""
    gc.freeze()
    code = main(argv)
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
