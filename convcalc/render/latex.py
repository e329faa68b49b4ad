"""LaTeX: a booktabs tabular, symbolic values in math mode via SymPy's printer."""

from __future__ import annotations

from ..report import LayerReport, Unit
from .format import NOTE, SHOWN, TITLES, cell, config_text


def _escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("&", r"\&"), ("%", r"\%"), ("#", r"\#"), ("$", r"\$")):
        text = text.replace(a, b)
    return text


def render_latex(report: LayerReport, *, human: bool = False) -> str:
    caption = _escape(f"{report.layer} ({config_text(report)}), batch {report.batch}, {report.dtype}")
    lines = [
        r"\begin{table}[ht]",
        r"\centering",
        r"\begin{tabular}{lr}",
        r"\toprule",
        r"Quantity & Value \\",
        r"\midrule",
    ]
    for q in SHOWN:
        text = cell(report, q, human=human, sep="{,}", latex=True)
        if q.unit is Unit.BYTES and text.endswith(" B"):
            text = text[:-2] + r"\,B"
        lines.append(f"{_escape(TITLES[q].strip())} & ${text}$ \\\\" if text != "n/a" else f"{_escape(TITLES[q].strip())} & n/a \\\\")
    lines += [
        r"\bottomrule",
        r"\end{tabular}",
        f"\\caption{{{caption}. {_escape(NOTE)}.}}",
        r"\end{table}",
        "",
    ]
    return "\n".join(lines)
