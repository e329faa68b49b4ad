"""LaTeX: booktabs tabulars, values in math mode, symbolic ones via SymPy's printer."""

from __future__ import annotations

from .format import document


def _escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("&", r"\&"), ("%", r"\%"), ("#", r"\#"), ("$", r"\$")):
        text = text.replace(a, b)
    return text


#: what a label's indentation and tree glyphs are made of
INDENT = " │├└─"


def _cell(c) -> str:
    if c.kind == "label":
        name = c.text.lstrip(INDENT)
        depth = (len(c.text) - len(name)) / 3  # a tree level is three characters
        indent = r"\hspace*{%.1fem}" % depth if depth >= 1 else ""
        return indent + _escape(name.strip())
    return "n/a" if c.text == "n/a" else f"${c.text}$"


def render_latex(report, *, human: bool = False, columns=None) -> str:
    heading, sections, drawing, footer = document(report, human=human, latex=True, columns=columns)
    lines = [r"\begin{table}[ht]", r"\centering"]
    for i, section in enumerate(sections):
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
    if drawing:
        lines += [r"\medskip", r"\begin{verbatim}"] + drawing + [r"\end{verbatim}"]
    notes = " ".join(_escape(line) + "." for line in footer)
    lines += [f"\\caption{{{_escape(heading)}. {notes}}}".replace(" }", "}"), r"\end{table}", ""]
    return "\n".join(lines)
