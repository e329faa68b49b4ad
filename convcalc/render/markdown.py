"""Markdown: GitHub tables; symbolic values in backticks."""

from __future__ import annotations

from ..report import LayerReport
from .format import field_drawing, footer, sections, title


def _md(text: str) -> str:
    return text.replace("|", r"\|")


def render_markdown(report: LayerReport, *, human: bool = False) -> str:
    lines = [f"**{_md(title(report))}**, batch {report.batch}, {report.dtype}", ""]
    for section in sections(report, human=human):
        if section.title:
            lines += [f"_{section.title}_", ""]
        lines.append("| " + " | ".join(section.header) + " |")
        lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(section.header))) + "|")
        for row in section.rows:
            cells = [f"`{c.text}`" if c.kind == "symbolic" else c.text.strip() for c in row]
            lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
        lines.append("")
    drawing = field_drawing(report)
    if drawing:
        lines += ["```"] + drawing + ["```", ""]
    lines += [f"- {_md(line)}" for line in footer(report)] + [""]
    return "\n".join(lines)
