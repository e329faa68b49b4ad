"""Network reports: a row per layer and block, the totals, and (with --by-op) a breakdown by
layer type, laid out as sections for the table, markdown and LaTeX renderers; JSON and CSV.
With a training step: backward FLOPs and saved bytes per row, and the step's totals (Forward /
Backward / Optimizer / Step) and memory."""

from __future__ import annotations

import csv
import io
from typing import Any

from ..sizes import is_int, to_latex, to_text
from .costs import cost_dict, cost_sections
from .format import (json_text, NOTE, TITLES, TRANSCENDENTAL_NOTE, Cell, Section, number, plain, shape,
                     step_section, training_footer)
from ..report import Quantity, Unit

BAR_WIDTH = 10


def _bar(share) -> str:
    """The share of the total MACs as a bar of BAR_WIDTH cells (drawn here, not stored)."""
    if share is None:
        return ""
    full = round(share * BAR_WIDTH * 8)
    return ("█" * (full // 8) + " ▏▎▍▌▋▊▉"[full % 8].strip()) or ("▏" if share > 0 else "")


def _share(share, latex: bool) -> str:
    """``12.3% ███▏``: the percentage, then the bar (LaTeX: the percentage only)."""
    if share is None:
        return ""
    pct = f"{100 * share:.1f}"
    return pct + r"\%" if latex else f"{pct}% {_bar(share)}".rstrip()


def tree_prefixes(depths: list[int]) -> list[str]:
    """The tree glyphs in front of each row's name, from the rows' depths in order: ``├─ ``
    when a later row shares the parent, ``└─ `` for the last child, ``│  `` to continue an
    ancestor's line past it. Rows at depth 0 get none."""
    n = len(depths)
    last = [True] * n  # no later sibling before the parent's subtree ends
    later: list[bool] = []  # from the end: later[d], a row at depth d since the last row shallower than d
    for i in range(n - 1, -1, -1):
        d = depths[i]
        del later[d + 1:]  # this row ends, for the rows before it, what lies deeper after it
        later += [False] * (d + 1 - len(later))
        last[i] = not later[d]
        later[d] = True
    out, open_ = [], []  # open_[level]: the ancestor at that level has later siblings
    for i, d in enumerate(depths):
        del open_[d:]
        if d == 0:
            out.append("")
        else:
            out.append("".join("│  " if o else "   " for o in open_[1:d]) + ("└─ " if last[i] else "├─ "))
        open_ += [False] * (d + 1 - len(open_))
        open_[d] = not last[i]
    return out


#: --columns names -> header, in display order (the layer's name always comes first)
COLUMNS = {
    "type": "Type", "output": "Output", "params": "Params", "macs": "MACs", "flops": "FLOPs",
    "activation": "Activation", "rf": "RF", "share": "MACs share",
    "backward": "Backward FLOPs", "saved": "Saved",
}  # fmt: skip
#: the columns of the training step (a report without one has none of them)
TRAINING_COLUMNS = ("backward", "saved")
#: other names accepted for them: torchinfo's col_names and the JSON keys
ALIASES = {
    "output_size": "output", "output_shape": "output", "num_params": "params", "mult_adds": "macs",
    "activation_bytes": "activation", "receptive_field": "rf", "macs_share": "share",
    "backward_flops": "backward", "saved_bytes": "saved",
}  # fmt: skip
#: the order in which a narrow table leaves columns out (lowest priority first)
DROP_ORDER = ("share", "rf", "activation", "saved", "flops", "backward", "type", "output", "params")


def check_columns(columns) -> list[str]:
    """The chosen column names, or ConvcalcError listing the valid ones."""
    from ..errors import ConvcalcError

    if columns is None:
        return list(COLUMNS)
    names = [ALIASES.get(c.strip().lower(), c.strip().lower()) for c in columns if c.strip()]
    bad = [c for c in names if c not in COLUMNS]
    if bad or not names:
        what = f"unknown column {', '.join(repr(b) for b in bad)}" if bad else "no column chosen"
        raise ConvcalcError(f"{what}; valid columns: {', '.join(COLUMNS)}")
    return list(dict.fromkeys(names))


def _num(v, *, human: bool, latex: bool, unit: Unit = Unit.COUNT) -> Cell:
    sym = to_latex if latex else to_text
    text = number(v, sep="{,}" if latex else ",", human=human, unit=unit, sym=sym)
    if latex and unit is Unit.BYTES and text.endswith(" B"):
        text = text[:-2] + r"\,B"
    return Cell(text, "number" if v is None or is_int(v) else "symbolic")


def _dims(values, latex: bool) -> Cell:
    if values is None:
        return Cell("-")
    return Cell(shape(tuple(values), joiner=r" \times " if latex else "x", sym=to_latex if latex else to_text),
                "number" if all(is_int(v) for v in values) else "symbolic")


def title(report) -> str:
    return f"{report.network}: input {shape(report.input_shape, joiner='x')} -> output {shape(report.output_shape, joiner='x')}"


TOTAL_ROWS = (
    ("params", "Parameters", Unit.COUNT),
    ("buffers", "Buffers", Unit.COUNT),
    ("macs", "MACs", Unit.COUNT),
    ("flops", "FLOPs", Unit.COUNT),
    ("mults", "Mults", Unit.COUNT),
    ("adds", "Adds", Unit.COUNT),
    ("comparisons", "Comparisons", Unit.COUNT),
    ("transcendentals", "Transcendentals", Unit.COUNT),
    ("param_bytes", "Parameter memory", Unit.BYTES),
    ("buffer_bytes", "Buffer memory", Unit.BYTES),
    ("activation_bytes", "Activation memory (sum)", Unit.BYTES),
    ("activation_bytes_peak", "Activation memory (peak)", Unit.BYTES),
    ("sequential_depth", "Sequential depth", Unit.COUNT),
    ("layers", "Layers", Unit.COUNT),
)


def _training(report) -> bool:
    return getattr(report, "training", None) is not None


def sections(report, *, human: bool = False, latex: bool = False, columns=None) -> list[Section]:
    from ..errors import ConvcalcError

    chosen = check_columns(columns)
    if not _training(report):
        if columns is not None and any(c in TRAINING_COLUMNS for c in chosen):
            wanted = ", ".join(c for c in chosen if c in TRAINING_COLUMNS)
            raise ConvcalcError(f"{wanted}: a column of the training step; add --training")
        chosen = [c for c in chosen if c not in TRAINING_COLUMNS]
    prefixes = tree_prefixes([r["depth"] for r in report.rows])
    memo: dict = {}  # a long network repeats its values: each cell text made once (cells are immutable)

    def num(v, unit: Unit = Unit.COUNT) -> Cell:
        key = ("num", type(v), v, unit)
        got = memo.get(key)
        if got is None:
            got = memo[key] = _num(v, human=human, latex=latex, unit=unit)
        return got

    def dims(values) -> Cell:
        key = ("dims", None) if values is None else ("dims", tuple(values), tuple(map(type, values)))
        got = memo.get(key)
        if got is None:
            got = memo[key] = _dims(values, latex)
        return got

    def share(v) -> Cell:
        key = ("share", type(v), v)
        got = memo.get(key)
        if got is None:
            got = memo[key] = Cell(_share(v, latex), "number")
        return got

    rows = []
    for r, prefix in zip(report.rows, prefixes):
        cells = {
            "type": Cell(r["type"] + (" (block)" if r["block"] else "")),
            "output": dims(r["output_shape"]),
            "params": num(r["params"]),
            "macs": num(r["macs"]),
            "flops": num(r["flops"]),
            "activation": num(r["activation_bytes"], Unit.BYTES),
            "rf": dims(r["receptive_field"]),
            "share": share(r["macs_share"]),
        }
        if _training(report):
            cells["backward"] = _num(r["backward"]["total"]["flops"], human=human, latex=latex)
            cells["saved"] = _num(r["saved_bytes"], human=human, latex=latex, unit=Unit.BYTES)
        label = Cell(prefix + (r["name"] or r["path"].rsplit(".", 1)[-1]))
        rows.append((label,) + tuple(cells[c] for c in chosen))
    header = ("Layer",) + tuple(COLUMNS[c] for c in chosen)
    drop = tuple(1 + chosen.index(c) for c in DROP_ORDER if c in chosen)
    out = [Section(None, header, tuple(rows), drop)]
    total = report.total
    trows = [
        (Cell(title_), _num(total[key], human=human, latex=latex, unit=unit))
        for key, title_, unit in TOTAL_ROWS
        if not (key == "transcendentals" and total[key] == 0)
    ]
    trows.append((Cell("Receptive field"), _dims(total["receptive_field"], latex)))
    trows.append((Cell("  jump"), _dims(total["jump"], latex)))
    out.append(Section("Total", ("Quantity", "Value"), tuple(trows)))
    if _training(report):
        out += training_sections(total, human=human, latex=latex)
    if getattr(report, "summary", ()):
        from .costs import _ratio, _seconds

        units = {"count": Unit.COUNT, "bytes": Unit.BYTES}

        def value(v: Any, unit: str) -> Cell:
            if unit in units:
                return _num(v, human=human, latex=latex, unit=units[unit])
            if unit == "seconds":
                return Cell(_seconds(v), "number")
            if unit == "ratio":
                return _ratio(v, latex)
            return Cell(str(v))

        srows = tuple((Cell(title_), value(v, unit)) for _, title_, v, unit in report.summary)
        out.append(Section("Transformer", ("Quantity", "Value"), srows))
    out += cost_sections(report, human=human, latex=latex)
    if report.by_op:
        training = _training(report)
        brows = tuple(
            (Cell(kind), _num(g["layers"], human=False, latex=latex), _num(g["params"], human=human, latex=latex),
             _num(g["macs"], human=human, latex=latex), _num(g["flops"], human=human, latex=latex),
             _num(g["comparisons"], human=human, latex=latex), _num(g["transcendentals"], human=human, latex=latex))
            + ((_num(g["backward_flops"], human=human, latex=latex), _num(g["saved_bytes"], human=human, latex=latex, unit=Unit.BYTES))
               if training else ())
            for kind, g in sorted(report.by_op.items(), key=lambda kv: -kv[1]["flops"] if is_int(kv[1]["flops"]) else 0)
        )
        header = ("Type", "Layers", "Params", "MACs", "FLOPs", "Comparisons", "Transc.") + (("Backward FLOPs", "Saved") if training else ())
        # a narrow table leaves out transcendentals, comparisons and saved bytes first (training only)
        out.append(Section("By operation", header, brows, (6, 5, 8) if training else ()))
    return out


#: the step's memory: total key -> title
MEMORY_ROWS = (
    ("weight_bytes", TITLES[Quantity.PARAM_BYTES]),
    ("buffer_bytes", TITLES[Quantity.BUFFER_BYTES]),
    ("grad_bytes", TITLES[Quantity.GRAD_BYTES]),
    ("optimizer_bytes", TITLES[Quantity.OPTIMIZER_BYTES]),
    ("saved_bytes", TITLES[Quantity.SAVED_BYTES]),
    ("working_bytes", "Backward working set (largest)"),
    ("training_peak_bytes", TITLES[Quantity.TRAINING_PEAK_BYTES]),
)


def training_sections(total: dict, *, human: bool, latex: bool) -> list[Section]:
    """The step's counts (as a layer's) and its memory."""
    out = [step_section(total["training_counts"], human=human, latex=latex)]
    mrows = tuple((Cell(title_), _num(total[key], human=human, latex=latex, unit=Unit.BYTES)) for key, title_ in MEMORY_ROWS)
    out.append(Section("Training memory", ("Quantity", "Value"), mrows))
    return out


def footer(report) -> list[str]:
    lines = [f"batch {report.batch}, {report.dtype}; {NOTE}"]
    if _training(report):
        lines += training_footer(report.training)
    if report.total["transcendentals"] != 0:
        lines.append(TRANSCENDENTAL_NOTE)
    lines += legend(report)
    return lines + list(report.notes)


def legend(report) -> list[str]:
    """What the table's marks mean: tree glyphs, @n, RF and jump, the MACs share."""
    lines = ["rows: each row sits under the block that holds it, and a block's row holds the sum of the rows under it; "
             "the JSON and CSV give each row's full path"]
    if any("@" in r["path"] for r in report.rows):
        lines.append("name@n: the n-th copy of an item with repeat: N")
    lines.append("RF: receptive field, the input positions per spatial dimension one output depends on; "
                 "jump: the distance in input positions between neighbouring outputs (the product of the strides)")
    lines.append(f"MACs share: the row's part of the network's MACs, as a percentage and a bar (█ = {100 // BAR_WIDTH}%)")
    if _training(report):
        lines.append("Backward FLOPs: the row's dL/dx and dL/dW; Saved: the bytes the row saves for the backward that no "
                     "earlier row saved (a tensor is counted once)")
    return lines


def report_dict(report) -> dict:
    out = {
        "network": report.network,
        "input_shape": plain(report.input_shape),
        "output_shape": plain(report.output_shape),
        "batch": plain(report.batch),
        "dtype": report.dtype,
        "layers": [plain(r) for r in report.rows],
        "total": plain(report.total),
    }
    if report.by_op is not None:
        out["by_op"] = plain(report.by_op)
    if _training(report):
        out["training"] = plain(report.training)
    if getattr(report, "summary", ()):
        out["transformer"] = {key: v if unit == "seconds" or isinstance(v, float) else plain(v) for key, _, v, unit in report.summary}
    out.update(cost_dict(report))
    out["domain"] = list(report.domain)
    out["notes"] = list(report.notes)
    return out


def render_json(report) -> str:
    return json_text(report_dict(report), rows_key="layers")


#: the training columns of the CSV: column -> the row's value
CSV_TRAINING = {
    "grad_input_macs": lambda r: r["backward"]["grad_input"]["macs"],
    "grad_input_flops": lambda r: r["backward"]["grad_input"]["flops"],
    "grad_weight_macs": lambda r: r["backward"]["grad_weight"]["macs"],
    "grad_weight_flops": lambda r: r["backward"]["grad_weight"]["flops"],
    "backward_macs": lambda r: r["backward"]["total"]["macs"],
    "backward_flops": lambda r: r["backward"]["total"]["flops"],
    "optimizer_flops": lambda r: r["optimizer_flops"],
    "training_flops": lambda r: r["training_flops"],
    "saved_bytes": lambda r: r["saved_bytes"],
    "grad_bytes": lambda r: r["grad_bytes"],
    "optimizer_bytes": lambda r: r["optimizer_bytes"],
    "working_bytes": lambda r: r["working_bytes"],
}


def render_csv(report) -> str:
    buf = io.StringIO()
    keys = ["path", "name", "type", "depth", "block", "output_shape", "params", "buffers", "mults", "adds", "comparisons",
            "macs", "flops", "transcendentals", "activation_bytes", "param_bytes", "buffer_bytes", "receptive_field", "jump"]
    if _training(report):
        keys += list(CSV_TRAINING)
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(keys)
    for r in report.rows:
        row = []
        for k in keys:
            v = CSV_TRAINING[k](r) if k in CSV_TRAINING else r[k]
            if isinstance(v, (tuple, list)):
                v = shape(tuple(v), joiner="x")
            elif v is None:
                v = ""
            elif not isinstance(v, (str, bool)) and not is_int(v):
                v = to_text(v)
            row.append(v)
        writer.writerow(row)
    return buf.getvalue()
