"""Markdown: GitHub tables; symbolic values in backticks."""

from __future__ import annotations

from .format import SYMBOLIC_BYTES, document


def _md(text: str) -> str:
    return text.replace("|", r"\|")


#: what a label's indentation and tree glyphs are made of
INDENT = " │├└─"


def _label(text: str) -> str:
    """A label with its indentation and tree glyphs kept: spaces before the name become
    no-break spaces (markdown would strip or collapse them)."""
    name = text.lstrip(INDENT)
    return text[: len(text) - len(name)].replace(" ", "\u00a0") + name.rstrip()


def _code(text: str) -> str:
    """A symbolic value in backticks, its unit word outside them."""
    if text.endswith(SYMBOLIC_BYTES):
        return f"`{text[: -len(SYMBOLIC_BYTES)]}`{SYMBOLIC_BYTES}"
    return f"`{text}`"


def render_markdown(report, *, human: bool = False, columns=None) -> str:
    math = hasattr(report, "legend")  # a derivation: formulas as GitHub math
    heading, sections, drawing, footer = document(report, human=human, latex=math, columns=columns)
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
                cells = [_code(c.text) if c.kind == "symbolic" else _label(c.text) if c.kind == "label" else c.text.strip() for c in row]
            lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
        lines.append("")
    if drawing:
        lines += ["```"] + drawing + ["```", ""]
    lines += [f"- {_md(line)}" for line in footer] + [""]
    return "\n".join(lines)
