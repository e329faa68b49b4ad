"""Derivations in every format: general formula, the formula with the values, the result."""

from __future__ import annotations

import csv
import io

from ..report import Unit
from ..sizes import is_int, to_latex, to_text
from .format import json_text, Cell, Section, number, plain, shape

def _title(key: str) -> str:
    from ..report import Quantity
    from .format import TITLES

    if key in Quantity._value2member_map_:
        return TITLES[Quantity(key)].strip()
    key = key.replace("_", " ")
    return key[:1].upper() + key[1:]


def _formula(value, *, latex: bool, values: dict | None = None, arithmetic: bool = False) -> str:
    from .._printing import latex_arithmetic, latex_with, text_arithmetic, text_with

    def one(v):
        if is_int(v):
            return str(v)
        if values is not None and arithmetic:
            return latex_arithmetic(v, values) if latex else text_arithmetic(v, values)
        if values is not None:
            return latex_with(v, values) if latex else text_with(v, values)
        return to_latex(v) if latex else to_text(v)

    if isinstance(value, tuple):
        def entry(v):
            text = one(v)
            if is_int(v) or getattr(v, "is_Atom", False):
                return text
            return (r"\left(" + text + r"\right)") if latex else f"({text})"

        return (r" \times " if latex else " x ").join(entry(v) for v in value)
    return one(value)


def _result(value, unit: Unit, *, human: bool, latex: bool) -> str:
    if isinstance(value, tuple):
        return shape(value, joiner=r" \times " if latex else " x ", sym=to_latex if latex else to_text)
    text = number(value, sep="{,}" if latex else ",", human=human, unit=unit, sym=to_latex if latex else to_text)
    if latex and text.endswith(" B"):
        text = text[:-2] + r"\,\mathrm{B}"
    return text


def _arithmetic(step, *, latex: bool) -> str | None:
    """The formula with the values in and each floor worked out (floor(12/3) + 1), when that
    is a step of its own: different from the formula with the values and from the result."""
    text = _formula(step.general, latex=latex, values=step.substituted, arithmetic=True)
    if text in (_formula(step.general, latex=latex, values=step.substituted), _result(step.result, step.unit, human=False, latex=latex)):
        return None
    return text


def _with_values(step, *, latex: bool) -> str:
    """The formula with the values, then (when it is a step) the worked-out floors."""
    text = _formula(step.general, latex=latex, values=step.substituted)
    arithmetic = _arithmetic(step, latex=latex)
    return text if arithmetic is None else f"{text} = {arithmetic}"


def title(expl) -> str:
    return f"{expl.layer}: {'formula sheet' if expl.sheet else 'derivation'}"


def sections(expl, *, human: bool = False, latex: bool = False) -> list[Section]:
    rows = []
    for step in expl.steps:
        general = _formula(step.general, latex=latex)
        if expl.sheet:
            rows.append((Cell(_title(step.quantity)), Cell(general, "symbolic")))
        else:
            rows.append((
                Cell(_title(step.quantity)),
                Cell(general, "symbolic"),
                Cell(_with_values(step, latex=latex), "symbolic"),
                Cell(_result(step.result, step.unit, human=human, latex=latex), "number"),
            ))
    header = ("Quantity", "General formula") if expl.sheet else ("Quantity", "General formula", "With the values", "Result")
    out = [Section(None, header, tuple(rows))]
    if expl.legend:
        out.append(Section("Symbols", ("Symbol", "Meaning", "Value"),
                           tuple((Cell(name), Cell(meaning), Cell("" if v is None else str(v), "number")) for name, meaning, v in expl.legend)))
    return out


def footer(expl) -> list[str]:
    return list(expl.notes)


def report_dict(expl) -> dict:
    steps = []
    for step in expl.steps:
        entry = {"quantity": step.quantity, "formula": plain(step.general)}
        if not expl.sheet:
            entry["with_values"] = _formula(step.general, latex=False, values=step.substituted)
            arithmetic = _arithmetic(step, latex=False)
            if arithmetic is not None:
                entry["arithmetic"] = arithmetic
            entry["result"] = plain(step.result)
        steps.append(entry)
    return {"layer": expl.layer, "sheet": expl.sheet, "explain": steps,
            "symbols": {name: {"meaning": m, "value": v} for name, m, v in expl.legend}, "notes": list(expl.notes)}


def render_json(expl) -> str:
    return json_text(report_dict(expl), rows_key="explain")


def render_csv(expl) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["quantity", "formula", "with_values", "result", "arithmetic"])
    for step in expl.steps:
        writer.writerow([step.quantity, _formula(step.general, latex=False),
                         "" if expl.sheet else _formula(step.general, latex=False, values=step.substituted),
                         "" if expl.sheet else _result(step.result, step.unit, human=False, latex=False),
                         "" if expl.sheet else (_arithmetic(step, latex=False) or "")])
    return buf.getvalue()


def render_latex(expl) -> str:
    """An align* environment: each quantity = formula = with the values = result."""
    lines = [r"\begin{align*}"]
    for step in expl.steps:
        name = r"\text{" + _title(step.quantity).replace("_", r"\_") + "}"
        general = _formula(step.general, latex=True)
        if expl.sheet:
            lines.append(f"{name} &= {general} \\\\")
            continue
        subst = _formula(step.general, latex=True, values=step.substituted)
        arithmetic = _arithmetic(step, latex=True)
        result = _result(step.result, step.unit, human=False, latex=True)
        chain = [general] + [x for x in (subst, arithmetic, result) if x is not None and x != general]
        lines.append(f"{name} &= " + " \\\\\n  &= ".join(dict.fromkeys(chain)) + r" \\")
    lines[-1] = lines[-1].removesuffix(r" \\")
    lines.append(r"\end{align*}")
    return "\n".join(lines) + "\n"
