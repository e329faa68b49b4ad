"""The rich terminal table (the default format)."""

from __future__ import annotations

import io

from ..report import LayerReport
from .format import NOTE, SHOWN, TITLES, cell, title


def render_table(report: LayerReport, *, human: bool = False, color: bool = False, width: int | None = None) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("Quantity", style="cyan" if color else None, no_wrap=True)
    table.add_column("Value", justify="right", style="bold" if color else None)
    for q in SHOWN:
        table.add_row(Text(TITLES[q]), Text(cell(report, q, human=human)))
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width or 100,
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        highlight=False,
        markup=False,
        emoji=False,
    )
    console.print(Text(title(report), style="bold" if color else ""))
    console.print(table)
    console.print(Text(f"batch {report.batch}, {report.dtype}; {NOTE}", style="dim" if color else ""))
    return buf.getvalue()
