"""LaTeX: booktabs tabulars, values in math mode, symbolic ones via SymPy's printer."""

from __future__ import annotations

from ..report import LayerReport
from .format import config_text, field_drawing, footer, sections


def _escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("&", r"\&"), ("%", r"\%"), ("#", r"\#"), ("$", r"\$")):
        text = text.replace(a, b)
    return text


def _cell(c) -> str:
    if c.kind == "label":
        return _escape(c.text.strip())
    return "n/a" if c.text == "n/a" else f"${c.text}$"


def render_latex(report: LayerReport, *, human: bool = False) -> str:
    caption = _escape(f"{report.layer} ({config_text(report)}), batch {report.batch}, {report.dtype}")
    lines = [r"\begin{table}[ht]", r"\centering"]
    for i, section in enumerate(sections(report, human=human, latex=True)):
        if i:
            lines.append(r"\medskip")
        if section.title:
            lines.append(r"\par\textbf{" + _escape(section.title) + r"}\par")
        lines += [
            r"\begin{tabular}{l" + "r" * (len(section.header) - 1) + "}",
            r"\toprule",
            " & ".join(_escape(h) for h in section.header) + r" \\",
            r"\midrule",
        ]
        lines += [" & ".join(_cell(c) for c in row) + r" \\" for row in section.rows]
        lines += [r"\bottomrule", r"\end{tabular}"]
    drawing = field_drawing(report)
    if drawing:
        lines += [r"\medskip", r"\begin{verbatim}"] + drawing + [r"\end{verbatim}"]
    notes = " ".join(_escape(line) + "." for line in footer(report)[1:])
    lines += [f"\\caption{{{caption}. {_escape(footer(report)[0].split('; ', 1)[1])}. {notes}}}".replace(" }", "}"), r"\end{table}", ""]
    return "\n".join(lines)
