"""Solve results in every format: the same sections as layer reports, so the table, markdown and
LaTeX renderers lay them out; JSON has its own keys (layer, unknown, input_ranges, values, domain).
The largest batch of a training step (a network's BatchReport) has its own section and keys."""

from __future__ import annotations

import csv
import io

from ..sizes import is_int, to_latex, to_text
from ..report import Unit
from .format import json_text, Cell, Section, number, plain, shape

QUESTION_NOTE = ("the least size at which it holds and does not at the size before (doubling, then bisection on the "
                 "formulas in the symbol), checked at every doubling after it")
_DIM_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def _dims(n: int) -> tuple:
    return _DIM_NAMES.get(n, tuple(f"S{i + 1}" for i in range(n)))


def _v(x, latex: bool) -> str:
    if x is None:
        return "inf"
    return str(x) if is_int(x) else (to_latex(x) if latex else to_text(x))


def _interval(lo, hi, name: str, latex: bool) -> str:
    le = r" \le " if latex else " <= "
    ge = r" \ge " if latex else " >= "
    if hi is None:
        return f"{name}{ge}{_v(lo, latex)}"
    if lo == hi:
        return f"{name} = {_v(lo, latex)}"
    return f"{_v(lo, latex)}{le}{name}{le}{_v(hi, latex)}"


def _nearest(report, dim: int, latex: bool) -> str:
    for d, below, above in report.nearest:
        if d == dim:
            reach = [f"{_v(x, latex)}" for x in (below, above) if x is not None]
            return "no solution" + (f" (nearest outputs: {', '.join(reach)})" if reach else "")
    return "no solution"


def _is_batch(report) -> bool:
    return hasattr(report, "per_sample_bytes")


def _is_crossover(report) -> bool:
    return hasattr(report, "question")


def crossover_title(report) -> str:
    on = f" on {report.device}, {report.dtype}" if report.device else ""
    return (f"solve {report.subject} for {report.symbol}: {report.question}{on}, input "
            f"{shape(report.input_shape, joiner='x')}")


def crossover_sections(report, *, latex: bool = False) -> list[Section]:
    """The least size, then each figure compared: its formula, at the size before and at the size."""
    v = report.value
    rows = [(Cell(f"Least {report.symbol}"), Cell("none (see below)" if v is None else str(v), "number"))]
    out = [Section(None, ("Quantity", "Value"), tuple(rows))]
    if v is not None:
        def num(x):
            return Cell("-" if x is None else number(x, sep="{,}" if latex else ","), "number")

        frows = tuple((Cell(title_), Cell(_v(expr, latex), "number" if is_int(expr) else "symbolic"), num(before), num(at))
                      for title_, expr, before, at in report.figures)
        out.append(Section("Compared", ("Figure", f"in {report.symbol}", f"at {report.symbol} = {v - 1}", f"at {report.symbol} = {v}"),
                           frows))
    return out


def crossover_dict(report) -> dict:
    return {"subject": report.subject, "question": report.question, "unknown": list(report.unknown),
            "input_shape": plain(report.input_shape), "device": report.device, "dtype": report.dtype, "value": report.value,
            "figures": [{"figure": t, "formula": plain(e), "before": plain(b), "at": plain(a)} for t, e, b, a in report.figures],
            "notes": list(report.notes)}


def _bytes(v, latex: bool) -> Cell:
    text = number(v, sep="{,}" if latex else ",", unit=Unit.BYTES, sym=to_latex if latex else to_text)
    if latex and text.endswith(" B"):
        text = text[:-2] + r"\,B"
    return Cell(text, "number" if v is None or is_int(v) else "symbolic")


def batch_title(report) -> str:
    return (f"solve {report.network} for the batch: training step ({report.training['optimizer']}) within "
            f"{report.memory:,} bytes, input {shape(report.input_shape, joiner='x')}")


def batch_sections(report, *, latex: bool = False) -> list[Section]:
    rows = [(Cell("Largest batch"), Cell(_v(report.batch, latex), "number" if is_int(report.batch) else "symbolic")),
            (Cell("Memory"), _bytes(report.memory, latex)),
            (Cell("Peak = fixed"), _bytes(report.fixed_bytes, latex)),
            (Cell("  + per sample x batch"), _bytes(report.per_sample_bytes, latex))]
    if report.peak_bytes is not None:
        rows.append((Cell(f"Peak at batch {report.batch}"), _bytes(report.peak_bytes, latex)))
    if report.next_peak_bytes is not None:
        rows.append((Cell(f"Peak at batch {report.batch + 1}"), _bytes(report.next_peak_bytes, latex)))
    return [Section(None, ("Quantity", "Value"), tuple(rows))]


def batch_dict(report) -> dict:
    return {"network": report.network, "unknown": list(report.unknown), "memory_bytes": report.memory,
            "input_shape": plain(report.input_shape), "dtype": report.dtype, "training": plain(report.training),
            "batch": plain(report.batch), "fixed_bytes": plain(report.fixed_bytes),
            "per_sample_bytes": plain(report.per_sample_bytes), "training_peak_bytes": plain(report.peak_bytes),
            "next_training_peak_bytes": plain(report.next_peak_bytes), "notes": list(report.notes)}


def title(report) -> str:
    if _is_crossover(report):
        return crossover_title(report)
    if _is_batch(report):
        return batch_title(report)
    target = ",".join(_v(x, False) for x in report.target)
    given = f" from input {','.join(_v(x, False) for x in report.input_shape)}" if report.input_shape else ""
    return f"solve {report.layer} for {', '.join(report.unknown)}: target {target}{given}"


def _merge(rows: list) -> tuple:
    """Dimensions with the same answer share one row ("H, W"), the interval naming them all."""
    def key(row):
        return tuple(c.text.replace(row[0].text, "*") for c in row[1:])

    if len(rows) > 1 and len({key(row) for row in rows}) == 1:
        names = ", ".join(row[0].text for row in rows)
        first = rows[0]
        return ((Cell(names),) + tuple(Cell(c.text.replace(first[0].text, names), c.kind) for c in first[1:]),)
    return tuple(rows)


def sections(report, *, latex: bool = False) -> list[Section]:
    if _is_crossover(report):
        return crossover_sections(report, latex=latex)
    if _is_batch(report):
        return batch_sections(report, latex=latex)
    names = _dims(len(report.target) - 1)
    kind = "symbolic" if any(not is_int(x) for x in report.target) else "number"
    if report.input_ranges is not None:
        rows = []
        for i, (rng, count) in enumerate(zip(report.input_ranges, report.sizes_per_dim)):
            text = _nearest(report, i + 1, latex) if rng is None else _interval(rng[0], rng[1], names[i], latex)
            n = "unbounded" if rng is not None and rng[1] is None else _v(count if count is not None else 0, latex)
            rows.append((Cell(names[i]), Cell(text, kind), Cell(n, kind)))
        out = [Section(None, ("Dimension", "Input sizes", "Count"), _merge(rows))]
        if report.steps:
            derivation = tuple((Cell(dim if i == 0 else ""), Cell(line)) for dim, lines in report.steps for i, line in enumerate(lines))
            out.append(Section("Derivation", ("Dimension", "Step"), derivation))
        return out
    out = []
    for name, per_dim in report.values.items():
        by_dim = []
        for i, found in enumerate(per_dim):
            rows = []
            if found is None:
                rows.append((Cell(names[i]), Cell(_nearest(report, i + 1, latex))))
            elif "pairs" in found:
                outer, inner = name.split(",")
                if not found["pairs"]:
                    rows.append((Cell(names[i]), Cell("no solution")))
                for pair in found["pairs"]:
                    span = pair[inner]
                    rows.append((Cell(names[i]), Cell(f"{outer} = {pair[outer]}, " + _interval(span["min"], span["max"], inner, latex), "number")))
                if found["more"]:
                    rows.append((Cell(names[i]), Cell("... more exist")))
            else:
                rows.append((Cell(names[i]), Cell(_interval(found["min"], found["max"], name, latex), "number")))
            by_dim.append(rows)
        same = len(by_dim) > 1 and all([[c.text for c in r[1:]] for r in rows] == [[c.text for c in r[1:]] for r in by_dim[0]] for rows in by_dim)
        if same:
            label = ", ".join(names[: len(by_dim)])
            flat = tuple((Cell(label),) + tuple(row[1:]) for row in by_dim[0])
        else:
            flat = tuple(row for rows in by_dim for row in rows)
        out.append(Section(None, ("Dimension", name.replace(",", ", ")), flat))
    return out


def footer(report) -> list[str]:
    if _is_crossover(report):
        return [QUESTION_NOTE] + list(report.notes)
    if _is_batch(report):
        return [f"{report.dtype}; optimizer {report.training['optimizer']}"
                + (f", mixed precision {report.training['mixed_precision']}" if report.training["mixed_precision"] else "")
                + (", dL/dx of the input" if report.training["input_grad"] else "")] + list(report.notes)
    lines = [f"valid where {cond}" for cond in report.domain]
    return lines + list(report.notes)


def report_dict(report) -> dict:
    if _is_crossover(report):
        return crossover_dict(report)
    if _is_batch(report):
        return batch_dict(report)
    head = {"network": report.network} if report.network else {"layer": report.layer}
    out = {**head, "unknown": list(report.unknown), "target": plain(report.target)}
    if report.input_shape is not None:
        out["input_shape"] = plain(report.input_shape)
    if report.input_ranges is not None:
        out["input_ranges"] = [None if r is None else plain(list(r)) for r in report.input_ranges]
        out["sizes_per_dimension"] = plain(report.sizes_per_dim)
    if report.values is not None:
        out["values"] = plain(report.values)
    if report.steps:
        out["steps"] = {dim: list(lines) for dim, lines in report.steps}
    out["domain"] = list(report.domain)
    out["nearest"] = [{"dimension": d, "below": plain(b), "above": plain(a)} for d, b, a in report.nearest]
    out["notes"] = list(report.notes)
    out["config"] = plain(report.config)
    return out


def render_json(report) -> str:
    return json_text(report_dict(report))


def render_csv(report) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if _is_crossover(report):
        writer.writerow(["subject", "question", "unknown", "value", "figure", "formula", "before", "at"])
        for t, e, b, a in report.figures or ((None, None, None, None),):
            writer.writerow([report.subject, report.question, report.symbol, report.value, t, plain(e), b, a])
        return buf.getvalue()
    if _is_batch(report):
        data = batch_dict(report)
        keys = [k for k in data if k not in ("unknown", "training", "notes")]
        writer.writerow(keys)
        writer.writerow([shape(tuple(data[k]), joiner="x") if k == "input_shape" else ("" if data[k] is None else data[k]) for k in keys])
        return buf.getvalue()
    writer.writerow(["layer", "unknown", "dimension", "solution"])
    for section in sections(report):
        for row in section.rows:
            writer.writerow([report.layer, ",".join(report.unknown), row[0].text, " | ".join(c.text for c in row[1:])])
    return buf.getvalue()
