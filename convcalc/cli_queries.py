"""What each command asks the library, without Typer: from a command's parsed option values to
its report (layer_query, solve_query, net_query, solve_net_query) and the training step the
training options ask for (training_from)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

from .cli_support import COST_OPTIONS, input_hint, layout_note
from .errors import ConvcalcError
from .expr import parse_expr, parse_shape
from .layers.base import Layer
from .render import EXTENSIONS, Format
from .report import DTYPE_BYTES


def training_from(values: dict, *, input_grad: bool) -> Any:
    """The ``Training`` the training options ask for (popped from values), or None when none
    does. input_grad: the default when --input-grad/--no-input-grad is not given."""
    on, gradients = values.pop("training", False), values.pop("gradients", False)
    optimizer, mixed = values.pop("optimizer", None), values.pop("mixed_precision", None)
    wanted = values.pop("input_grad", None)
    if not (on or gradients or optimizer is not None or mixed is not None or wanted is not None):
        return None
    from .layers.training import Training

    mixed = {"fp16": "float16", "bf16": "bfloat16"}.get(mixed, mixed)
    return Training(optimizer="sgd" if optimizer is None else optimizer, input_grad=input_grad if wanted is None else wanted,
                    mixed_precision=mixed, gradients=gradients)


def parse_option(option: str, parse: Any, text: str) -> Any:
    """A parsed option value; its errors name the option."""
    try:
        return parse(text)
    except ConvcalcError as e:
        raise e.with_context(option=option) from None


def choose_format(fmt: Optional[Format], output: Optional[Path]) -> Format:
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


def layer_query(cls: type[Layer], values: dict) -> tuple[Any, Format, Optional[Path], bool]:
    """(report, format, output file, human) of a layer command from its parsed option values;
    a shape error that is clearly a channels-last or batched --input carries a hint."""
    shape = None
    try:
        explain = values.pop("explain", False)
        described_by = [o.name for o in cls.OPTIONS if o.role == "input"]
        sheet = explain and values.get("input") is None and not any(values.get(n) is not None for n in described_by)
        for opt in cls.OPTIONS:
            if opt.required and values.get(opt.name) is None:
                if not explain:
                    raise ConvcalcError(f"missing: give {opt.flag}", option=opt.name)
                from .explain import FIELD_SYMBOLS

                values[opt.name] = FIELD_SYMBOLS.get(opt.name, opt.name)
        if explain and values.get("input") is None:
            described = [o.name for o in cls.OPTIONS if o.role == "input"]
            if described:
                from .explain import FIELD_SYMBOLS

                for name in described + ["input_size"]:
                    if name in {o.name for o in cls.OPTIONS} and values.get(name) is None:
                        values[name] = FIELD_SYMBOLS.get(name, name)
            else:
                from .explain import default_input

                values["input"] = default_input(cls)
        text = values.pop("input")
        if text is not None:
            shape = parse_option("input", parse_shape, text)
        else:
            described = {k: v for k, v in values.items() if v is not None and k in {o.name for o in cls.OPTIONS}}
            shape = cls.input_from_options(cls.parse_options(described))
            if shape is None:
                described_by = [o.flag for o in cls.OPTIONS if o.role == "input"]
                hint = f", or {' and '.join(described_by + ['--input-size'])}" if described_by else ""
                raise ConvcalcError(f"missing: give --input {cls.INPUT}{hint}", option="input")
        batch = parse_option("batch", parse_expr, values.pop("batch"))
        dtype = values.pop("dtype")
        output: Optional[Path] = values.pop("output")
        fmt = choose_format(values.pop("format"), output)
        human = values.pop("human")
        training = training_from(values, input_grad=True)
        cost = {k: values.pop(k, None) for k in COST_OPTIONS}
        by_op = values.pop("by_op", False)
        if by_op and cost["convention"] is None:
            raise ConvcalcError("a layer is one op: give --convention to see another counter's terms", option="by-op")
        options = {k: v for k, v in values.items() if v is not None}
        layer = cls.build(shape, options)
        if explain:
            given = _given(cost)
            if given is not None:
                what = "another counter's number" if given == "convention" else "roofline"
                raise ConvcalcError(f"a derivation has no {what}; drop --explain", option=given)
            from .explain import explain_layer

            report = explain_layer(layer, shape, batch=batch, dtype=dtype, sheet=sheet, training=training)
        else:
            report = layer.report(shape, batch=batch, dtype=dtype, training=training)
            report = with_costs(report, cost, by_op)
        note = layout_note(cls, shape)
        if note:
            from .output import say

            say(f"convcalc {cls.NAME}: note: {note}")
        return report, fmt, output, human
    except ConvcalcError as e:
        hint = input_hint(cls, shape, e)
        if hint is None:
            raise
        raise type(e)(f"{e.message}; {hint}", option=e.option, layer=e.layer) from None


def _given(cost: dict) -> str | None:
    """The first cost option given, as its flag's name (peak-flops), or None."""
    return next((k.replace("_", "-") for k, v in cost.items() if v is not None), None)


def _require(cls: type[Layer], options: dict, unknown: tuple = (), solvable: tuple = ()) -> None:
    """A ConvcalcError for the first required argument missing from options (solve: not one solved for)."""
    for opt in cls.OPTIONS:
        if opt.required and opt.role == "arg" and opt.name not in options and opt.name not in unknown:
            hint = f" (or solve for it: --for {opt.flag[2:]})" if opt.name in solvable else ""
            raise ConvcalcError(f"missing: give {opt.flag}{hint}", option=opt.name)


def device_from(cost: dict, dtype: str) -> Any:
    """The device the roofline options name (--device, or --peak-flops and --bandwidth), or None."""
    if cost["device"] is None and cost["peak_flops"] is None and cost["bandwidth"] is None:
        if cost["weight_dtype"] is not None:
            raise ConvcalcError("the weights' dtype is for the roofline: give --device too", option="weight-dtype")
        return None
    from .devices import custom, device

    if cost["device"] is not None:
        if cost["peak_flops"] is not None or cost["bandwidth"] is not None:
            raise ConvcalcError("give --device or --peak-flops and --bandwidth, not both", option="device")
        return device(cost["device"])
    if cost["peak_flops"] is None or cost["bandwidth"] is None:
        missing = "peak-flops" if cost["peak_flops"] is None else "bandwidth"
        raise ConvcalcError("missing: a device of your own needs --peak-flops and --bandwidth", option=missing)
    return custom(cost["peak_flops"], cost["bandwidth"], dtype)


def with_costs(report: Any, cost: dict, by_op: bool = False) -> Any:
    """The report with its roofline when --device (or --peak-flops and --bandwidth) is given, and
    another counter's number with --convention."""
    chosen = device_from(cost, report.dtype)
    if chosen is None and cost["convention"] is None:
        return report
    import dataclasses

    extra = {}
    if chosen is not None:
        from .roofline import layer

        extra["roofline"] = layer(report, chosen, weight_dtype=cost["weight_dtype"])
    if cost["convention"] is not None:
        from .conventions import of_layer

        extra["convention"] = of_layer(report, cost["convention"], by_op=by_op)
    return dataclasses.replace(report, **extra)


def solve_query(cls: type[Layer], values: dict) -> tuple[Any, Format, Optional[Path]]:
    """(report, format, output file) of `solve LAYER` from its parsed option values."""
    from .solve import probe_layer, solvable, solve_input, solve_params, tied_to

    cost = {k: values.pop(k, None) for k in COST_OPTIONS}
    dtype, batch = values.pop("dtype", "float32"), values.pop("batch", "1")
    if (values.get("for_") or "").strip().lower() == "compute-bound":
        return _crossover_layer(cls, values, cost, dtype, batch)
    stray = [_given(cost)] * (_given(cost) is not None) + ["dtype"] * (dtype != "float32") + ["batch"] * (batch != "1")
    if stray:
        raise ConvcalcError("only with --for compute-bound", option=stray[0])
    if not hasattr(cls, "size_maps"):
        raise ConvcalcError(f"{cls.NAME} has no inverse: its output size is not a size map of its input")
    if values.get("target") is None:
        raise ConvcalcError("missing: give --target (the output shape), or --for compute-bound", option="target")
    target = parse_option("target", parse_shape, values.pop("target"))
    text = values.pop("input")
    shape = parse_option("input", parse_shape, text) if text is not None else None
    names = values.pop("for_")
    explain = values.pop("explain", False)
    output: Optional[Path] = values.pop("output")
    fmt = choose_format(values.pop("format"), output)
    in_channels = values.pop("in_channels", None)
    options = {k: v for k, v in values.items() if v is not None}
    unknown = tuple(n.strip().replace("-", "_") for n in names.split(",") if n.strip()) if names else ()
    fields = {f.name for f in dataclasses.fields(cls)}
    if "out_channels" in fields and "out_channels" not in options:
        options["out_channels"] = target[0]
    if shape is not None:
        probe = shape
    elif "in_channels" in fields:
        if in_channels is None:
            raise ConvcalcError("give --in-channels or --input", option="in_channels")
        probe = (parse_option("in_channels", parse_expr, in_channels),)
    else:
        probe = (target[0],)  # the channels pass through
    _require(cls, options, unknown, solvable(cls))
    if unknown:
        if shape is None:
            raise ConvcalcError("solving for a parameter needs the input shape", option="input")
        layer = probe_layer(cls, probe, options, unknown)
        report = solve_params(layer, shape, target, unknown, tied=tied_to(cls, options, unknown))
    else:
        layer = cls.build(probe, options)
        report = solve_input(layer, target, probe[0], explain=explain)
    return report, fmt, output


def net_query(file: Path, input: Optional[str], depth: Optional[int], by_op: bool, batch: str, dtype: str,
              fmt: Optional[Format], output: Optional[Path], training: Optional[dict] = None) -> tuple[Any, Format, Optional[Path]]:
    """(report, format, output file) of `net FILE`; training: the training options' values
    (the first layer computes no dL/dx unless --input-grad)."""
    from .network import evaluate

    chosen = choose_format(fmt, output)
    batch_value = parse_option("batch", parse_expr, batch)
    if dtype not in DTYPE_BYTES:
        raise ConvcalcError(f"{dtype!r} is not one of {', '.join(DTYPE_BYTES)}", option="dtype")
    if depth is not None and depth < 0:
        raise ConvcalcError(f"must be 0 or more, got {depth}", option="depth")
    values = dict(training or {})
    cost = {k: values.pop(k, None) for k in COST_OPTIONS}
    device = device_from(cost, dtype)
    step = training_from(values, input_grad=False)
    report = evaluate(file, input_shape=input, batch=batch_value, dtype=dtype, depth=depth, by_op=by_op, training=step,
                      device=device, weight_dtype=cost["weight_dtype"], convention=cost["convention"])
    return report, chosen, output


def solve_net_query(file: Path, target: Optional[str], in_channels: Optional[str], fmt: Optional[Format],
                    output: Optional[Path], *, for_: Optional[str] = None, memory: Optional[str] = None,
                    input: Optional[str] = None, dtype: str = "float32",
                    training: Optional[dict] = None) -> tuple[Any, Format, Optional[Path]]:
    """(report, format, output file) of `solve net FILE`: the input sizes for --target, or with
    --for batch the largest batch whose training step fits in --memory."""
    from .network import solve_network

    chosen = choose_format(fmt, output)
    values = dict(training or {})
    cost = {k: values.pop(k, None) for k in COST_OPTIONS}
    question = None if for_ is None else for_.strip().lower()
    if question in ("compute-bound", "attention-mlp"):
        return _crossover_net(file, question, target, in_channels, memory, input, dtype, values, cost), chosen, output
    if _given(cost) is not None:
        raise ConvcalcError("only with --for compute-bound", option=_given(cost))
    if for_ is not None:
        if for_.strip().lower() != "batch":
            raise ConvcalcError(f"{for_[:40]!r}: a network is solved for batch, compute-bound or attention-mlp (or give --target "
                                "for the input sizes)", option="for")
        for name, given in (("target", target), ("in_channels", in_channels)):
            if given is not None:
                raise ConvcalcError("not with --for batch (it solves for the input sizes)", option=name)
        if memory is None:
            raise ConvcalcError("missing: give --memory (e.g. 16GiB)", option="memory")
        if dtype not in DTYPE_BYTES:
            raise ConvcalcError(f"{dtype!r} is not one of {', '.join(DTYPE_BYTES)}", option="dtype")
        from .network import read, solve_batch
        from .layers.training import Training

        step = training_from(values, input_grad=False) or Training(input_grad=False)
        parsed = read(file)
        shape = None if input is None else parse_option("input", parse_shape, input)
        return solve_batch(parsed, memory, step, input_shape=shape, dtype=dtype), chosen, output
    for name, given in (("memory", memory), ("input", input)):
        if given is not None:
            raise ConvcalcError("only with --for batch", option=name)
    if training_from(values, input_grad=False) is not None:
        raise ConvcalcError("the training options go with --for batch", option="training")
    if target is None:
        raise ConvcalcError("missing: give --target (the output shape), or --for batch with --memory", option="target")
    shape = parse_option("target", parse_shape, target)
    channels = None if in_channels is None else parse_option("in_channels", parse_expr, in_channels)
    return solve_network(file, shape, input_channels=channels), chosen, output


def _crossover_layer(cls: type[Layer], values: dict, cost: dict, dtype: str, batch: str) -> tuple:
    """`solve LAYER --for compute-bound --input 3,S,S --device D`: the least size of the symbol."""
    from . import crossover

    for name in ("target", "in_channels"):
        if values.get(name) is not None:
            raise ConvcalcError("not with --for compute-bound", option=name.replace("_", "-"))
    if values.get("explain"):
        raise ConvcalcError("not with --for compute-bound", option="explain")
    if values.get("input") is None:
        raise ConvcalcError("missing: give the input with one symbol, e.g. 3,S,S", option="input")
    shape = parse_option("input", parse_shape, values["input"])
    crossover.symbol_of(shape)
    output: Optional[Path] = values.get("output")
    fmt = choose_format(values.get("format"), output)
    options = {k: v for k, v in values.items() if v is not None and k not in ("target", "input", "for_", "explain", "output", "format",
                                                                               "in_channels")}
    _require(cls, options)
    device = device_from(cost, dtype)
    if device is None:
        raise ConvcalcError("missing: --for compute-bound needs --device (or --peak-flops and --bandwidth)", option="device")
    report = cls.build(shape, options).report(shape, batch=parse_option("batch", parse_expr, batch), dtype=dtype)
    from .roofline import layer

    roof = layer(report, device, weight_dtype=cost["weight_dtype"])
    refuses = crossover.refusal(lambda s: cls.build(s, options).report(s), shape)
    return crossover.compute_bound(cls.NAME, shape, roof, refuses), fmt, output


def _crossover_net(file: Path, question: str, target: Any, in_channels: Any, memory: Any, input: Optional[str], dtype: str,
                   training: dict, cost: dict) -> Any:
    """`solve net FILE --for compute-bound|attention-mlp`: the least size of the input's symbol."""
    from . import crossover
    from .network import read

    for name, given in (("target", target), ("in_channels", in_channels), ("memory", memory)):
        if given is not None:
            raise ConvcalcError(f"not with --for {question}", option=name.replace("_", "-"))
    if training_from(training, input_grad=False) is not None:
        raise ConvcalcError(f"not with --for {question} (it solves the forward pass)", option="training")
    if dtype not in DTYPE_BYTES:
        raise ConvcalcError(f"{dtype!r} is not one of {', '.join(DTYPE_BYTES)}", option="dtype")
    parsed = read(file)
    shape = None if input is None else parse_option("input", parse_shape, input)
    if shape is not None:
        crossover.symbol_of(shape)  # refused before the evaluation; a file's input is checked after it
    if question == "attention-mlp":
        if _given(cost) is not None:
            raise ConvcalcError("only with --for compute-bound (attention-mlp compares FLOPs)", option=_given(cost))
        from .network.running import run

        report = run(parsed, input_shape=shape, dtype=dtype)
        refuses = crossover.refusal(lambda s: run(parsed, input_shape=s, dtype=dtype), report.input_shape)
        return crossover.attention_mlp(parsed.name or str(file), report.input_shape, report.rows, refuses)
    device = device_from(cost, dtype)
    if device is None:
        raise ConvcalcError("missing: --for compute-bound needs --device (or --peak-flops and --bandwidth)", option="device")
    from .network.running import run

    report = run(parsed, input_shape=shape, dtype=dtype, device=device, weight_dtype=cost["weight_dtype"])
    refuses = crossover.refusal(lambda s: run(parsed, input_shape=s, dtype=dtype), report.input_shape)
    return crossover.compute_bound(parsed.name or str(file), report.input_shape, report.roofline, refuses)


#: `convcalc transformer`'s size options (parsed as expressions: symbols allowed)
STACK_SIZES = ("d_model", "heads", "kv_heads", "layers", "ffn", "vocab", "positions", "image_size", "patch_size", "num_classes")


def transformer_query(values: dict) -> tuple[Any, Format, Optional[Path], Optional[str]]:
    """(report, format, output file, the network file's YAML when --print-yaml) of
    `convcalc transformer`: the stack built as a network from its preset and options, its rows
    and totals, and its Transformer section (per token, prefill and decode, KV cache, 6N)."""
    from .network.stacks import Stack, _evaluate, summary, to_yaml

    fmt = values.pop("format")
    chosen = None if values.get("print_yaml") else choose_format(fmt, values.get("output"))
    from .sizes import is_known_lt

    given = {k: (None if values.get(k) is None else parse_option(k, parse_expr, values[k])) for k in (*STACK_SIZES, "seq_len")}
    for k, v in given.items():
        if v is not None and is_known_lt(v, 1):
            raise ConvcalcError(f"must be at least 1, got {v}", option=k)
    seq_len = given.pop("seq_len")
    stack = Stack.preset(values["arch"], tie=values.get("tie"), dropout=values.get("dropout"), **given)
    seq_len = stack.sequence(seq_len)
    if values.get("print_yaml"):
        return None, chosen, values.get("output"), to_yaml(stack.network(seq_len))
    batch = parse_option("batch", parse_expr, values["batch"])
    dtype = values["dtype"]
    if dtype not in DTYPE_BYTES:
        raise ConvcalcError(f"{dtype!r} is not one of {', '.join(DTYPE_BYTES)}", option="dtype")
    depth = values.get("depth")
    if depth is not None and depth < 0:
        raise ConvcalcError(f"must be 0 or more, got {depth}", option="depth")
    step = training_from(dict(values.get("training_values") or {}), input_grad=False)
    cost = {k: values.get(k) for k in COST_OPTIONS}
    device = device_from(cost, dtype)
    report = _evaluate(stack, seq_len, batch=batch, dtype=dtype, depth=depth, by_op=values.get("by_op", False), training=step,
                       device=device, weight_dtype=cost["weight_dtype"], convention=cost["convention"])
    rows = summary(stack, seq_len, dtype)
    if device is not None and stack.causal and stack.input == "tokens":
        from .network.stacks import decode_roofline

        rows += decode_roofline(stack, seq_len, device, batch=batch, dtype=dtype, weight_dtype=cost["weight_dtype"])
    return dataclasses.replace(report, summary=rows), chosen, values.get("output"), None

