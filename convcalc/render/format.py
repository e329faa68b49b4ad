"""Value formatting shared by the renderers; quantity titles live here, not in the report."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from ..report import LayerReport, Quantity, Unit
from ..sizes import is_int, to_latex, to_text

TITLES = {
    Quantity.LAYER: "Layer",
    Quantity.INPUT_SHAPE: "Input shape",
    Quantity.OUTPUT_SHAPE: "Output shape",
    Quantity.PARAMS: "Parameters",
    Quantity.EFFECTIVE_PARAMS: "  effective (unmasked)",
    Quantity.WEIGHTS: "  weights",
    Quantity.BIASES: "  biases",
    Quantity.BUFFERS: "Buffers",
    Quantity.MULTS: "Mults",
    Quantity.EFFECTIVE_MULTS: "  effective (unmasked)",
    Quantity.ADDS: "Adds",
    Quantity.COMPARISONS: "Comparisons",
    Quantity.MACS: "MACs",
    Quantity.FLOPS: "FLOPs",
    Quantity.TRANSCENDENTALS: "Transcendentals",
    Quantity.CONNECTIONS: "Connections",
    Quantity.ACTIVATION_BYTES: "Activation memory",
    Quantity.PARAM_BYTES: "Parameter memory",
    Quantity.BUFFER_BYTES: "Buffer memory",
    Quantity.GEMM: "im2col GEMM (M, K, N)",
    Quantity.GEMM_GROUPS: "  GEMM groups",
    Quantity.SEQUENTIAL_STEPS: "Sequential steps",
    Quantity.SEQUENTIAL_STEPS_BACKWARD: "  backward pass",
    Quantity.STATE_BYTES: "State memory",
    Quantity.BPTT_ACTIVATION_BYTES: "BPTT activation memory",
    Quantity.BATCH: "Batch",
    Quantity.DTYPE: "Dtype",
    Quantity.OPTIMIZER_FLOPS: "Optimizer FLOPs",
    Quantity.TRAINING_FLOPS: "Training FLOPs",
    Quantity.SAVED_BYTES: "Saved for backward",
    Quantity.GRAD_BYTES: "Gradient memory",
    Quantity.OPTIMIZER_BYTES: "Optimizer state",
    Quantity.TRAINING_PEAK_BYTES: "Training peak memory",
}

#: the training step's counts, shown in their own section (Forward / Backward / Step)
TRAINING_COUNTS = (Quantity.OPTIMIZER_FLOPS, Quantity.TRAINING_FLOPS)
#: rows the human-facing formats show (layer, batch and dtype go in the title)
SHOWN = [q for q in Quantity if q not in (Quantity.LAYER, Quantity.BATCH, Quantity.DTYPE)]

NOTE = "flops = mults + adds + comparisons; macs = multiply-accumulates of matrix products"
TRANSCENDENTAL_NOTE = "transcendentals (sigmoid, tanh, exp) are counted apart from flops"

COUNT_TITLES = {
    "mults": "Mults",
    "adds": "Adds",
    "comparisons": "Comparisons",
    "macs": "MACs",
    "flops": "FLOPs",
    "transcendentals": "Transcendentals",
}
#: per-layer columns: row key -> title (labels first, then per-step counts, then the sequence's flops)
LAYER_LABELS = {
    "layer": "Layer", "type": "Type", "repeat": "Times", "direction": "Direction", "scans": "Scans",
    "input_size": "Input", "params": "Params", "effective_params": "Effective", "connections": "Connections",
}  # fmt: skip
LAYER_TOTAL_COLUMNS = ("macs", "flops", "transcendentals")
WORK_COLUMNS = {"mults": "Mults", "adds": "Adds", "macs": "MACs", "flops": "FLOPs", "transcendentals": "Transc."}
#: receptive-field map cell codes -> glyphs (the report holds codes, never glyphs)
FIELD_GLYPHS = {"seen": "#", "blind": "o", "current": "@", "future": ".", "outside": " "}
FIELD_LEGEND = "# seen, o blind spot, @ current pixel, . not yet generated"
LAYER_STEP_COLUMNS = {"mults": "Mults/step", "adds": "Adds/step", "macs": "MACs/step", "transcendentals": "Transc./step"}

_COUNT_UNITS = ((10**18, "E"), (10**15, "P"), (10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K"))
_BYTE_UNITS = ((2**60, "EiB"), (2**50, "PiB"), (2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"))


#: above these, --human writes scientific form (there is no unit beyond E and EiB)
SCIENTIFIC_COUNT = 10**21
SCIENTIFIC_BYTES = 2**70


def scientific(v: int) -> str:
    """An exact int of any size as 1.23e+33 (decimal arithmetic: no float overflow)."""
    from decimal import Decimal

    return f"{Decimal(v):.2e}"


def human_number(v: int, unit: Unit) -> str:
    """1.23 M, 4.11 G, 1.50 MiB; beyond exa (10**21) or 1024 EiB, scientific: 1.23e+33."""
    if unit is Unit.BYTES:
        if abs(v) >= SCIENTIFIC_BYTES:
            return scientific(v) + " B"
    elif abs(v) >= SCIENTIFIC_COUNT:
        return scientific(v)
    scale = _BYTE_UNITS if unit is Unit.BYTES else _COUNT_UNITS
    for size, name in scale:
        if abs(v) >= size:
            return f"{v / size:.2f} {name}"
    return f"{v} B" if unit is Unit.BYTES else str(v)


#: the unit of a symbolic byte count: a word, so that 12616704*B is not read as bytes times B
SYMBOLIC_BYTES = " bytes"


def scalar(v: Any, sym: Callable = to_text) -> str:
    """A configuration value as text: None, bools, strings, floats, ints, expressions, and
    tuples of them (joined with x)."""
    if isinstance(v, (tuple, list)):
        return "x".join(scalar(x, sym) for x in v)
    if v is None or isinstance(v, (bool, str)):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if is_int(v):
        return str(v)
    return sym(v)


def number(v: Any, *, sep: str = ",", human: bool = False, unit: Unit = Unit.COUNT, sym: Callable = to_text) -> str:
    """One value as text: exact ints with thousands separators (or 1.23 M with human); a
    symbolic byte count ends in `` bytes``, a numeric one in `` B``."""
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, str):
        return v
    if isinstance(v, float):
        return repr(v)
    if is_int(v):
        if human and unit in (Unit.COUNT, Unit.BYTES):
            text = human_number(v, unit)
            if sym is to_latex and "e+" in text:  # 1.23e+33 -> 1.23 \times 10^{33}
                mantissa, rest = text.split("e+")
                exponent, _, tail = rest.partition(" ")
                text = rf"{mantissa} \times 10^{{{int(exponent)}}}" + (r"\,B" if tail else "")
            return text
        text = f"{v:,}"
        if unit is Unit.BYTES:
            text += " B"
        return text.replace(",", sep)
    text = sym(v)
    if unit is Unit.BYTES:
        text += r"\,\mathrm{bytes}" if sym is to_latex else SYMBOLIC_BYTES
    return text


def shape(values: tuple | None, *, joiner: str = " x ", sym: Callable = to_text, human: bool = False) -> str:
    """``3 x 224 x 224``; a compound symbolic entry is bracketed: ``C x (2*n + 1)``; with human,
    entries beyond 10**21 in scientific form."""
    if values is None:
        return "n/a"

    def entry(v: Any) -> str:
        if is_int(v):
            return scientific(v) if human and abs(v) >= SCIENTIFIC_COUNT else str(v)
        text = sym(v)
        if getattr(v, "is_Atom", False):
            return text
        return r"\left(" + text + r"\right)" if sym is to_latex else f"({text})"

    return joiner.join(entry(v) for v in values)


def cell(report: LayerReport, q: Quantity, *, human: bool = False, sep: str = ",", latex: bool = False) -> str:
    """The display text of one quantity."""
    sym = to_latex if latex else to_text
    v = report.get(q)
    if q.unit in (Unit.SHAPE, Unit.GEMM):
        return shape(v, joiner=r" \times " if latex else " x ", sym=sym)
    return number(v, sep=sep, human=human, unit=q.unit, sym=sym)


def config_text(report: LayerReport, *, sym: Callable = to_text) -> str:
    """``in_channels=3, kernel_size=7x7, ...`` from the layer's arguments."""
    return ", ".join(f"{k}={scalar(v, sym)}" for k, v in report.config.items())


def title(report: LayerReport) -> str:
    return f"{report.layer} ({config_text(report)})"


def plain(v: Any) -> Any:
    """A JSON-ready value: ints stay ints, expressions become strings, tuples lists."""
    if v is None or isinstance(v, (bool, str)) or is_int(v):
        return v
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, (tuple, list)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    return to_text(v)


class Cell(NamedTuple):
    """One table cell: its text and what it holds (label, number, or symbolic expression)."""

    text: str
    kind: str = "label"


class Section(NamedTuple):
    """A titled table of cells: what every human-facing renderer lays out its own way."""

    title: str | None
    header: tuple
    rows: tuple
    #: column indices a narrow medium may leave out, lowest priority first
    drop: tuple = ()


def _value_cell(v: Any, unit: Unit, *, human: bool, latex: bool) -> Cell:
    sym = to_latex if latex else to_text
    sep = "{,}" if latex else ","
    if unit in (Unit.SHAPE, Unit.GEMM):
        text = shape(v, joiner=r" \times " if latex else " x ", sym=sym, human=human)
        kind = "number" if v is None or all(is_int(x) for x in v) else "symbolic"
    else:
        text = number(v, sep=sep, human=human, unit=unit, sym=sym)
        kind = "symbolic" if v is not None and not (is_int(v) or isinstance(v, (str, bool, float))) else "number"
    if latex and unit is Unit.BYTES and text.endswith(" B"):
        text = text[:-2] + r"\,B"
    return Cell(text, kind)


def sections(report: LayerReport, *, human: bool = False, latex: bool = False) -> list[Section]:
    """The report laid out as tables: the quantities (rows with no value left out), then for
    recurrent layers the counts of one step, the per-layer breakdown and the schedules."""
    out = []
    rows = tuple(
        (Cell(TITLES[q]), _value_cell(report.get(q), q.unit, human=human, latex=latex))
        for q in SHOWN
        if report.get(q) is not None and q not in TRAINING_COUNTS
    )
    out.append(Section(None, ("Quantity", "Value"), rows))
    if report.per_step is not None:
        rows = tuple(
            (Cell(COUNT_TITLES[k]), _value_cell(v, Unit.COUNT, human=human, latex=latex)) for k, v in report.per_step.items()
        )
        out.append(Section(f"One {report.step_unit} (all layers)", ("Count", "Value"), rows))
    if report.per_layer:
        labels = [k for k in LAYER_LABELS if k in report.per_layer[0]]
        stepwise = "per_step" in report.per_layer[0]

        def label(row: dict, k: str) -> Cell:
            v = row[k]
            return Cell(str(v)) if isinstance(v, str) else _value_cell(v, Unit.COUNT, human=human, latex=latex)

        if stepwise:
            header = tuple(LAYER_LABELS[k] for k in labels) + tuple(LAYER_STEP_COLUMNS.values()) + ("FLOPs/seq",)
            rows = tuple(
                tuple(label(row, k) for k in labels)
                + tuple(_value_cell(row["per_step"][k], Unit.COUNT, human=human, latex=latex) for k in LAYER_STEP_COLUMNS)
                + (_value_cell(row["per_sequence"]["flops"], Unit.COUNT, human=human, latex=latex),)
                for row in report.per_layer
            )
        else:
            header = tuple(LAYER_LABELS[k] for k in labels) + tuple(WORK_COLUMNS[k] for k in LAYER_TOTAL_COLUMNS)
            rows = tuple(
                tuple(label(row, k) for k in labels)
                + tuple(_value_cell(row["per_sequence"][k], Unit.COUNT, human=human, latex=latex) for k in LAYER_TOTAL_COLUMNS)
                for row in report.per_layer
            )
        out.append(Section("Per layer", header, rows))
    if report.work:
        rows = tuple(
            (Cell(name.replace("_", " ")),) + tuple(_value_cell(counts[k], Unit.COUNT, human=human, latex=latex) for k in WORK_COLUMNS)
            for name, counts in report.work.items()
        )
        out.append(Section("Work", ("Per",) + tuple(WORK_COLUMNS.values()), rows))
    if report.receptive_field:
        rows = tuple(
            (Cell(name.replace("_", " ")), _value_cell(v, Unit.COUNT, human=False, latex=latex))
            for name, v in report.receptive_field.items()
            if name != "map"
        )
        out.append(Section("Receptive field", ("Quantity", "Value"), rows))
    if report.sequential_regimes:
        rows = tuple(
            (Cell(name.replace("_", " ")), _value_cell(v, Unit.COUNT, human=False, latex=latex))
            for name, v in report.sequential_regimes.items()
        )
        out.append(Section("Sequential steps by schedule", ("Schedule", "Steps"), rows))
    if report.training_counts:
        out += training_sections(report, human=human, latex=latex)
    from .costs import cost_sections  # a layer's roofline and another counter's number

    out += cost_sections(report, human=human, latex=latex)
    return out


#: the training step's columns: training_counts key -> title
STEP_COLUMNS = {"forward": "Forward", "grad_input": "dL/dx", "grad_weight": "dL/dW", "backward": "Backward",
                "optimizer": "Optimizer", "step": "Step"}


def gradient_name(name: str) -> str:
    """A gradients key as a reader writes it: input -> dL/dx, weight -> dL/dweight, dy/dx kept."""
    if "/" in name:
        return name
    return {"input": "dL/dx", "output": "dL/dy"}.get(name, f"dL/d{name}")


def step_section(counts: dict, *, human: bool = False, latex: bool = False) -> Section:
    """A training step's counts (a layer's or a network's training_counts): a row per count, a
    column per stage (Forward / dL/dx / dL/dW / Backward / Optimizer / Step); comparisons and
    transcendentals only where some stage has them."""
    keys = [k for k in COUNT_TITLES if k not in ("comparisons", "transcendentals") or any(c[k] for c in counts.values())]
    rows = tuple(
        (Cell(COUNT_TITLES[k]),) + tuple(_value_cell(counts[c][k], Unit.COUNT, human=human, latex=latex) for c in STEP_COLUMNS)
        for k in keys
    )
    return Section("Training step", ("Count",) + tuple(STEP_COLUMNS.values()), rows, drop=(1, 2, 3, 5))


def training_sections(report: Any, *, human: bool = False, latex: bool = False) -> list[Section]:
    """The training step: Forward / Backward / Step counts side by side, the saved tensors, and
    with --gradients the gradients' shapes and the backward as layers."""
    out = [step_section(report.training_counts, human=human, latex=latex)]
    saved = getattr(report, "saved", None)
    if saved:
        rows = tuple(
            (Cell(s["name"].replace("_", " ")), Cell(s["dtype"]),
             _value_cell(s["elements"], Unit.COUNT, human=human, latex=latex), _value_cell(s["bytes"], Unit.BYTES, human=human, latex=latex))
            for s in saved
        )
        out.append(Section("Saved for the backward", ("Tensor", "Dtype", "Elements", "Bytes"), rows))
    if report.training.get("gradients") and getattr(report, "gradients", None):
        rows = tuple((Cell(gradient_name(k)), _value_cell(v, Unit.SHAPE, human=human, latex=latex)) for k, v in report.gradients.items())
        out.append(Section("Gradients (batch excluded)", ("Gradient", "Shape"), rows))
    return out


def footer(report: LayerReport) -> list[str]:
    """Lines under the tables: batch and dtype, the counting conventions, the rules used."""
    lines = [f"batch {report.batch}, {report.dtype}; {NOTE}"]
    if report.transcendentals != 0:
        lines.append(TRANSCENDENTAL_NOTE)
    if report.training is not None:
        lines += training_footer(report.training)
        if report.training.get("gradients"):
            for g, command, note in report.gradient_layers or ():
                lines.append(f"{gradient_name(g)} as a layer: {command}  ({note})")
    return lines + list(report.notes)


def training_footer(training: dict) -> list[str]:
    """How the training step was counted, in words."""
    mixed = training.get("mixed_precision")
    lines = [f"optimizer {training['optimizer']}: {training['optimizer_rule']}",
             "peak = parameters (+ buffers, + their half-precision copy with mixed precision) + gradients + optimizer state "
             "+ saved tensors + the largest backward working set (dL/dy and dL/dx)"]
    if mixed:
        lines.append(f"mixed precision: {mixed} activations and saved tensors; float32 master weights (plus a {mixed} copy), "
                     "gradients and optimizer state")
    if not training.get("input_grad"):
        lines.append("no dL/dx of the input (--input-grad to count it)")
    if training.get("frozen"):
        lines.append("frozen: no dL/dW, no gradient or optimizer memory")
    return lines


def field_drawing(report: LayerReport) -> list[str] | None:
    """The receptive-field map as text rows (glyphs chosen here, not in the report)."""
    rf = report.receptive_field
    if not rf or "map" not in rf:
        return None
    return ["".join(FIELD_GLYPHS[c] for c in row).rstrip() for row in rf["map"]] + [FIELD_LEGEND]


def document(report, *, human: bool = False, latex: bool = False, columns=None) -> tuple[str, list, list | None, list]:
    """(heading, sections, drawing, footer lines) of a layer's report or a solve's report: what
    the table, markdown and LaTeX renderers lay out."""
    if hasattr(report, "steps") and hasattr(report, "legend"):  # an Explanation
        from . import explained

        return explained.title(report), explained.sections(report, human=human, latex=latex), None, explained.footer(report)
    if hasattr(report, "devices"):  # convcalc devices
        from . import devices

        return devices.title(report), devices.sections(report, latex=latex), None, devices.footer(report)
    if hasattr(report, "rows") and hasattr(report, "total"):  # a NetworkReport
        from . import network

        return network.title(report), network.sections(report, human=human, latex=latex, columns=columns), None, network.footer(report)
    if not isinstance(report, LayerReport):
        from . import solved

        return solved.title(report), solved.sections(report, latex=latex), None, solved.footer(report)
    return title(report), sections(report, human=human, latex=latex), field_drawing(report), footer(report)


def json_text(data: dict, rows_key: str | None = None) -> str:
    """JSON with one key per line, and one line per row for a list of rows under rows_key."""
    import json

    items = []
    for key, value in data.items():
        if key == rows_key:
            rows = ",\n".join(f"    {json.dumps(r)}" for r in value)
            items.append(f"  {json.dumps(key)}: [\n{rows}\n  ]")
        else:
            items.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(items) + "\n}\n"
