"""The rich terminal table (the default format)."""

from __future__ import annotations

import io

from .format import document


def render_table(report, *, human: bool = False, color: bool = False, width: int | None = None) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    heading, sections, drawing, footer = document(report, human=human)
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width or 120,
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        highlight=False,
        markup=False,
        emoji=False,
    )
    console.print(Text(heading, style="bold" if color else ""))
    for section in sections:
        if section.title:
            console.print(Text(section.title, style="bold" if color else ""))
        table = Table(box=box.SIMPLE_HEAD)
        for i, name in enumerate(section.header):
            label = i == 0 and section.rows and section.rows[0][0].kind == "label"
            table.add_column(name, justify="left" if label else "right", style=("cyan" if label else "bold") if color else None, overflow="fold")
        for row in section.rows:
            table.add_row(*(Text(c.text) for c in row))
        console.print(table)
    for line in drawing or ():
        console.print(Text(line))
    for line in footer:
        console.print(Text(line, style="dim" if color else ""))
    return buf.getvalue()
