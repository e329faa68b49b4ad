"""The terminal table (the default format): rich, with colour, on a terminal; the same layout
as plain aligned text when piped or written to a file (rich takes ~0.7 ms a row, which a
ResNet-50 table of 200 rows would spend many times over its whole calculation)."""

from __future__ import annotations

import io
import itertools
import textwrap
from typing import NamedTuple

from .format import document


#: the width a column of formulas (symbolic values) may wrap to before a narrow table leaves
#: columns out
FORMULA_WIDTH = 24


class _Column(NamedTuple):
    """What the layout needs to know of a column, read in one pass over its cells."""

    longest: int  # the longest text, the header's included
    numbers: bool  # some cell is not a label (a number or a formula)
    formulas: bool  # some cell is symbolic


def _columns(section) -> list[_Column]:
    out = []
    for i, name in enumerate(section.header):
        cells = [row[i] for row in section.rows]
        kinds = {c.kind for c in cells}
        out.append(_Column(max([len(name)] + [len(c.text) for c in cells]), bool(kinds - {"label"}), "symbolic" in kinds))
    return out


def fit(section, width: int) -> tuple:
    """(section, names of the columns left out) so that the section fits width where it can:
    columns whose cells are numbers are never wrapped, so a table too wide leaves out columns
    in the section's drop order (lowest priority first) until names and numbers fit on one
    line and formulas in FORMULA_WIDTH; only then are labels wrapped."""
    dropped: list[str] = []
    keep = list(range(len(section.header)))
    columns = _columns(section)

    def need(cols: list[int]) -> int:  # names and numbers on one line; formulas may wrap
        return sum(min(columns[i].longest, FORMULA_WIDTH) if i != 0 and columns[i].formulas else columns[i].longest
                   for i in cols) + 2 * (len(cols) + 1)

    for i in section.drop:
        if need(keep) <= width or len(keep) <= 2:
            break
        keep.remove(i)
        dropped.append(section.header[i])
    if not dropped:
        return section, dropped
    rows = tuple(tuple(row[i] for i in keep) for row in section.rows)
    return section._replace(header=tuple(section.header[i] for i in keep), rows=rows, drop=()), dropped


def _unbreakable(column: _Column) -> bool:
    """A column of numbers (numeric or symbolic values): never wrapped."""
    return column.numbers and not column.formulas


def _least(column: _Column) -> int:
    """The narrowest a column may be: its longest cell when it holds numbers, else 8 (or its
    longest word of a header)."""
    if _unbreakable(column):
        return column.longest
    return min(column.longest, 8)


def _fitted(sections: list, width: int) -> tuple[list, list]:
    out, notes = [], []
    for section in sections:
        section, dropped = fit(section, width)
        out.append(section)
        if dropped:
            notes.append(f"left out to fit {width} columns: {', '.join(dropped)} (choose columns with --columns, or widen the terminal)")
    return out, notes


def render_table(report, *, human: bool = False, color: bool = False, width: int | None = None, columns=None) -> str:
    heading, sections, drawing, footer = document(report, human=human, columns=columns)
    width = width or 120
    sections, notes = _fitted(sections, width)
    footer = list(footer) + notes
    if not color:
        return _plain(heading, sections, drawing, footer, width)
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=True, color_system="standard", highlight=False, markup=False, emoji=False)
    console.print(Text(heading, style="bold"))
    for section in sections:
        if section.title:
            console.print(Text(section.title, style="bold"))
        table = Table(box=box.SIMPLE_HEAD)
        for i, (name, column) in enumerate(zip(section.header, _columns(section))):
            label = bool(section.rows) and (section.rows[0][0].kind == "label" if i == 0 else not column.numbers)
            whole = _unbreakable(column)
            table.add_column(name, justify="left" if label else "right", style="cyan" if label else "bold",
                             overflow="ignore" if whole else "fold", no_wrap=whole, min_width=_least(column) if whole else None)
        for row in section.rows:
            table.add_row(*(Text(c.text) for c in row))
        console.print(table)
    for line in drawing or ():
        console.print(Text(line))
    for line in footer:
        console.print(Text(line, style="dim"))
    return buf.getvalue()


def _plain(heading: str, sections: list, drawing: list | None, footer: list, width: int) -> str:
    """Columns two spaces apart, the first left-aligned when it holds labels, the rest right-
    aligned unless they hold only text, a rule under the header; long label and formula cells wrap within their column,
    numbers never."""
    out = textwrap.wrap(heading, width) or [""]
    for section in sections:
        out.append("")
        if section.title:
            out.append(section.title)
        cols = len(section.header)
        columns = _columns(section)
        # the first column left-aligned when it holds labels, any other when it holds only labels (text)
        left = [bool(section.rows) and (section.rows[0][0].kind == "label" if i == 0 else not columns[i].numbers) for i in range(cols)]
        cells = itertools.chain([section.header], ([c.text for c in row] for row in section.rows))  # a row at a time
        widths = [c.longest for c in columns]
        least = [_least(c) for c in columns]
        whole = [_unbreakable(c) for c in columns]
        budget = width - 2 * (cols + 1)
        while sum(widths) > budget:  # shrink the widest column that may wrap
            free = [i for i in range(cols) if widths[i] > max(least[i], 8 if least[i] < 8 else least[i])]
            if not free:
                break
            i = max(free, key=lambda j: widths[j])
            widths[i] -= 1
        rule = "  " + "  ".join("─" * w for w in widths)
        pads = [str.ljust if left[i] else str.rjust for i in range(cols)]
        usual = cols > 1 and pads[0] is str.ljust and all(p is str.rjust for p in pads[1:])  # labels, then numbers
        for n, row in enumerate(cells):
            if all(map(int.__ge__, widths, map(len, row))):  # one line (most rows): no wrapping to do
                if usual:
                    line = "  ".join([row[0].ljust(widths[0]), *map(str.rjust, row[1:], widths[1:])])
                else:
                    line = "  ".join([pad(text, w) for pad, text, w in zip(pads, row, widths)])
                out.append(("  " + line).rstrip())
                if n == 0:
                    out.append(rule)
                continue
            pieces = [[text] if len(text) <= w or (n and whole[i]) else
                      (textwrap.wrap(text, w, break_long_words=True) or [""]) for i, (text, w) in enumerate(zip(row, widths))]
            for line in range(max(len(p) for p in pieces)):
                parts = []
                for i, p in enumerate(pieces):
                    text = p[line] if line < len(p) else ""
                    parts.append(text.ljust(widths[i]) if left[i] else text.rjust(widths[i]))
                out.append(("  " + "  ".join(parts)).rstrip())
            if n == 0:
                out.append(rule)
    out.append("")
    out += list(drawing or ())
    for line in footer:
        out += textwrap.wrap(line, width) or [""]
    return "\n".join(out) + "\n"
