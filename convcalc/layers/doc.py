"""A layer class's docstring, written from the same option specs the command line uses, so that
``help(convcalc.Conv2d)`` reads like ``convcalc conv2d --help``."""

from __future__ import annotations

import dataclasses
import textwrap
from typing import Any

#: constructor arguments the command line reads off the input shape instead of an option
INFERRED_HELP = {
    "in_channels": "Input channels (the first entry of the input shape on the command line and in network files).",
    "in_features": "Input features (the last entry of the input shape on the command line and in network files).",
    "num_features": "Channels C (the first entry of the input shape on the command line and in network files).",
    "num_channels": "Channels C (the first entry of the input shape on the command line and in network files).",
    "input_size": "Features per grid position (the first entry of the input shape on the command line).",
}


def _default(field: dataclasses.Field) -> str | None:
    if field.default is not dataclasses.MISSING:
        return repr(field.default)
    if field.default_factory is not dataclasses.MISSING:  # pragma: no cover - layers use plain defaults
        return repr(field.default_factory())
    return None


def layer_doc(cls: Any) -> str:
    """The docstring: signature, summary, input layout, one line per argument, the example."""
    fields = [f for f in dataclasses.fields(cls) if f.init]
    specs = {o.name: o for o in cls.OPTIONS}
    signature = ", ".join(f.name if _default(f) is None else f"{f.name}={_default(f)}" for f in fields)
    lines = [f"{cls.__name__}({signature})", "", cls.SUMMARY, "", f"Input: {cls.INPUT} (batch excluded)."]
    lines += ["", "Args:"]
    for f in fields:
        spec = specs.get(f.name)
        text = spec.help if spec is not None else INFERRED_HELP.get(f.name, "Fixed by the layer; accepted for PyTorch's signature.")
        if spec is not None and spec.choices:
            text += f" One of: {', '.join(spec.choices)}."
        if _default(f) is None:
            text += " Required."
        wrapped = textwrap.wrap(f"{f.name}: {text}", 96, initial_indent="    ", subsequent_indent="        ")
        lines += wrapped
    extra = [o for o in cls.OPTIONS if o.role == "input"]
    if extra:
        lines += ["", "Command-line options that describe the input instead of the layer:"]
        for o in extra:
            lines += textwrap.wrap(f"{o.flag}: {o.help}", 96, initial_indent="    ", subsequent_indent="        ")
    lines += [
        "",
        "Sizes may be ints, SymPy expressions or expression text in symbols ('2*n + 1'); bad values raise",
        "convcalc.ConvcalcError. ``layer.report(input_shape, batch=1, dtype='float32')`` returns a LayerReport.",
        "",
        f"Example (command line): {cls.EXAMPLE}",
    ]
    return "\n".join(lines)


def document(cls: Any) -> Any:
    """Give a layer class its generated docstring once (the summary stays in SUMMARY)."""
    if not getattr(cls, "_DOCUMENTED", False) and cls.EXAMPLE and dataclasses.is_dataclass(cls):
        cls.__doc__ = layer_doc(cls)
        cls._DOCUMENTED = True
    return cls
