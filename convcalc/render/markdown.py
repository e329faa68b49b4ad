"""Markdown: GitHub tables; symbolic values in backticks."""

from __future__ import annotations

from .format import document


def _md(text: str) -> str:
    return text.replace("|", r"\|")


def render_markdown(report, *, human: bool = False) -> str:
    math = hasattr(report, "legend")  # a derivation: formulas as GitHub math
    heading, sections, drawing, footer = document(report, human=human, latex=math)
    lines = [f"**{_md(heading)}**", ""]
    for section in sections:
        if section.title:
            lines += [f"_{section.title}_", ""]
        lines.append("| " + " | ".join(section.header) + " |")
        lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(section.header))) + "|")
        for row in section.rows:
            if math:
                cells = [f"${c.text}$" if c.kind != "label" and c.text else c.text.strip() for c in row]
            else:
                cells = [f"`{c.text}`" if c.kind == "symbolic" else c.text.strip() for c in row]
            lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
        lines.append("")
    if drawing:
        lines += ["```"] + drawing + ["```", ""]
    lines += [f"- {_md(line)}" for line in footer] + [""]
    return "\n".join(lines)
