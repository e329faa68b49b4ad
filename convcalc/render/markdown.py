"""Markdown: a GitHub table of quantities; symbolic values in backticks."""

from __future__ import annotations

from ..report import LayerReport
from ..sizes import is_int
from .format import NOTE, SHOWN, TITLES, cell, title


def _md(text: str) -> str:
    return text.replace("|", r"\|")


def render_markdown(report: LayerReport, *, human: bool = False) -> str:
    lines = [f"**{_md(title(report))}**, batch {report.batch}, {report.dtype}", "", "| Quantity | Value |", "|---|---:|"]
    for q in SHOWN:
        v = report.get(q)
        text = cell(report, q, human=human)
        symbolic = v is not None and not is_int(v) and not isinstance(v, (tuple, str)) or (
            isinstance(v, tuple) and not all(is_int(x) for x in v)
        )
        if symbolic:
            text = f"`{text}`"
        lines.append(f"| {TITLES[q].strip()} | {_md(text)} |")
    lines += ["", f"_{NOTE}._", ""]
    return "\n".join(lines)
