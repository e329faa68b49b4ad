"""Renderers: a report in, text out. They format; they compute nothing."""

from __future__ import annotations

from enum import Enum


class Format(str, Enum):
    table = "table"
    markdown = "markdown"
    json = "json"
    csv = "csv"
    latex = "latex"


#: output-file extension -> format
EXTENSIONS = {
    ".md": Format.markdown,
    ".markdown": Format.markdown,
    ".json": Format.json,
    ".csv": Format.csv,
    ".tex": Format.latex,
    ".txt": Format.table,
}


def render(fmt: Format, report, *, human: bool = False, color: bool = False, width: int | None = None,
           columns: list[str] | None = None) -> str:
    """The report as text in the given format (imports only that format's module). A layer's
    report and a solve's report share the table, markdown and LaTeX layouts (sections).

    columns chooses a network table's columns (names as torchinfo's col_names: type, output,
    params, macs, flops, activation, rf, share; ConvcalcError lists them for an unknown one);
    JSON and CSV keep every key. width is the table's width in characters: a narrow table
    leaves out columns (lowest priority first) rather than split a number."""
    if columns is not None:
        from .network import check_columns

        columns = check_columns(columns)
    if hasattr(report, "steps") and hasattr(report, "legend"):  # an Explanation
        from . import explained

        if fmt is Format.json:
            return explained.render_json(report)
        if fmt is Format.csv:
            return explained.render_csv(report)
        if fmt is Format.latex:
            return explained.render_latex(report)
    if hasattr(report, "devices") and fmt in (Format.json, Format.csv):  # convcalc devices
        from . import devices

        return devices.render_json(report) if fmt is Format.json else devices.render_csv(report)
    if hasattr(report, "rows") and hasattr(report, "total") and fmt in (Format.json, Format.csv):  # a NetworkReport
        from . import network

        return network.render_json(report) if fmt is Format.json else network.render_csv(report)
    if not hasattr(report, "items"):  # a SolveReport
        from . import solved

        if fmt is Format.json:
            return solved.render_json(report)
        if fmt is Format.csv:
            return solved.render_csv(report)
    if fmt is Format.table:
        from .table import render_table

        return render_table(report, human=human, color=color, width=width, columns=columns)
    if fmt is Format.markdown:
        from .markdown import render_markdown

        return render_markdown(report, human=human, columns=columns)
    if fmt is Format.json:
        from .json import render_json

        return render_json(report)
    if fmt is Format.csv:
        from .csv import render_csv

        return render_csv(report)
    from .latex import render_latex

    return render_latex(report, human=human, columns=columns)
