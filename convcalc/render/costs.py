"""The cost sections of a layer's and a network's report (issue 15): the roofline on a device,
and the number another counter would print (--convention), with its terms per layer type."""

from __future__ import annotations

from typing import Any

from ..report import Unit
from .. import sizes
from ..sizes import to_latex, to_text
from .format import Cell, Section, _value_cell, plain


def cost_sections(report: Any, *, human: bool = False, latex: bool = False) -> list[Section]:
    """The roofline and the convention sections a report has (none, one or both)."""
    out = []
    if getattr(report, "roofline", None) is not None:
        out.append(roofline_section(report.roofline, human=human, latex=latex))
    if getattr(report, "convention", None) is not None:
        out += convention_sections(report.convention, human=human, latex=latex)
    return out


def cost_dict(report: Any) -> dict:
    """The JSON keys of the cost sections: roofline, convention."""
    out = {}
    if getattr(report, "roofline", None) is not None:
        out["roofline"] = roofline_dict(report.roofline)
    if getattr(report, "convention", None) is not None:
        out["convention"] = convention_dict(report.convention)
    return out


def _seconds(v: float | None) -> str:
    """A time bound readably: 1.23 ms, 45.6 us, 2.00 s."""
    if v is None:
        return "needs numbers"
    for scale, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")):
        if v >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v:.3g} s"


def _ratio(v: Any, latex: bool) -> Cell:
    if v is None:
        return Cell("-")
    if isinstance(v, float):
        return Cell(f"{v:,.2f}", "number")
    return Cell(to_latex(v) if latex else to_text(v), "symbolic")


#: a roofline pass's rows: (title, attribute, kind); a layer's pass has the first set, a
#: network's total the second (rows whose attribute the pass lacks are left out)
ROOFLINE_ROWS = (
    ("FLOPs", "flops", "count"),
    ("Bytes read (least)", "bytes_read", "bytes"),
    ("Bytes written (least)", "bytes_written", "bytes"),
    ("Arithmetic intensity (FLOP/B)", "intensity", "ratio"),
    ("Ridge point (peak / bandwidth)", None, "ridge"),
    ("Compute time (FLOPs / peak)", "compute_seconds", "seconds"),
    ("Memory time (bytes / bandwidth)", "memory_seconds", "seconds"),
    ("Time, lower bound", "seconds", "seconds"),
    ("Bound", "bound", "bound"),
    ("Layers compute-bound", "compute_bound", "int"),
    ("Layers memory-bound", "memory_bound", "int"),
    ("Passes, one after another", "passes", "count"),
    ("Time of all passes, lower bound", "total_seconds", "seconds"),
)
#: the JSON names of the counts of layers (the pass attributes' names otherwise)
ROOFLINE_KEYS = {"compute_bound": "compute_bound_layers", "memory_bound": "memory_bound_layers"}


def roofline_section(r: Any, *, human: bool = False, latex: bool = False) -> Section:
    """A roofline on a device (a layer's or a network's): per pass the least bytes read and
    written, FLOPs per byte, the time bound and what bounds it."""
    passes = [("Forward", r.forward)] + ([("Backward", r.backward)] if r.backward is not None else [])
    if getattr(r, "sequential", None) is not None:
        passes.append(("Sampling, each pass" if r.sequential.label == "sampling" else "Each time step", r.sequential))

    def cell(p: Any, attr: str | None, kind: str) -> Cell:
        if kind == "ridge":
            return _ratio(r.ridge, latex)
        if not hasattr(p, attr):
            return Cell("-")
        v = getattr(p, attr)
        if kind in ("count", "bytes"):
            return _value_cell(v, Unit.COUNT if kind == "count" else Unit.BYTES, human=human, latex=latex)
        if kind == "ratio":
            return _ratio(v, latex)
        if kind == "seconds":
            return Cell(_seconds(v), "number")
        if kind == "bound":
            return Cell(f"{v}-bound" if v else f"compute-bound above {r.ridge:,.1f} FLOP/B")
        return Cell(str(v), "number")

    rows = tuple((Cell(title_),) + tuple(cell(p, attr, kind) for _, p in passes)
                 for title_, attr, kind in ROOFLINE_ROWS if attr is None or any(hasattr(p, attr) for _, p in passes))
    title_ = f"Roofline on {r.device}, {r.dtype} (weights {r.weight_dtype}): a lower bound, not a measurement"
    if getattr(r, "sequential", None) is not None:
        s = r.sequential
        title_ += f"; {s.label}: {sizes.to_text(s.passes)} passes one after another, each {s.what}"
    return Section(title_, ("Quantity",) + tuple(name for name, _ in passes), rows)


def roofline_dict(r: Any) -> dict:
    """A roofline's figures for JSON: seconds, FLOP/s and bytes/s as floats, counts as the report's."""
    def one(p: Any) -> dict:
        out = {}
        for attr in ("flops", "bytes_read", "bytes_written", "bytes", "intensity", "compute_seconds", "memory_seconds", "seconds",
                     "bound", "compute_bound", "memory_bound", "passes", "total_seconds", "what"):
            if hasattr(p, attr):
                v = getattr(p, attr)
                out[ROOFLINE_KEYS.get(attr, attr)] = v if v is None or isinstance(v, (float, str)) else plain(v)
        return out

    out = {"device": r.device, "dtype": r.dtype, "weight_dtype": r.weight_dtype, "peak_flops": r.peak_flops,
           "bandwidth": r.bandwidth, "ridge": r.ridge, "forward": one(r.forward)}
    if r.backward is not None:
        out["backward"] = one(r.backward)
    if getattr(r, "sequential", None) is not None:
        out["sequential"] = {"label": r.sequential.label, **one(r.sequential)}
    return out


def convention_sections(c: Any, *, human: bool = False, latex: bool = False) -> list[Section]:
    """What another counter prints for the model, beside convcalc's count of the same kind; with
    --by-op its terms per layer type and why each differs."""
    mine = "MACs" if c.unit == "macs" else "FLOPs"
    num = lambda v: Cell("-") if v is None else _value_cell(v, Unit.COUNT, human=human, latex=latex)  # noqa: E731
    rows = [(Cell(f"{c.tool}: {c.prints}"), Cell(f"fails: {c.failure}") if c.failure else num(c.count))]
    if c.also is not None:
        rows.append((Cell(f"{c.tool}: {c.also}"), Cell("-") if c.failure else num(c.also_count)))
    rows.append((Cell(f"convcalc: {mine}"), num(c.convcalc)))
    if c.count is not None and c.convcalc is not None:
        d = c.difference
        share = "" if c.relative is None else f" ({100 * c.relative:+.2f}%)"
        rows.append((Cell(f"Difference ({c.tool} - convcalc)"), Cell(num(d).text + share, num(d).kind)))
    out = [Section(f"Convention: {c.name}, the number {c.tool} prints. {c.summary}", ("Quantity", "Value"), tuple(rows))]
    if c.show_by_op:
        brows = tuple((Cell(o.op), num(o.layers), num(o.convcalc), num(o.count), num(None if o.convcalc is None else o.difference),
                       Cell(o.why)) for o in c.by_op if o.count != 0 or o.convcalc != 0)  # the JSON has every type
        out.append(Section(f"Convention by operation: {c.name}", ("Type", "Layers", f"convcalc {mine}", c.prints, "Difference", "Why"),
                           brows))
    return out


def convention_dict(c: Any) -> dict:
    """Another counter's number for JSON: its figures, convcalc's, and the terms per layer type."""
    out = {"name": c.name, "tool": c.tool, "prints": c.prints, "unit": c.unit, "summary": c.summary, "count": plain(c.count),
           "convcalc": plain(c.convcalc), "difference": plain(c.difference), "failure": c.failure}
    if c.also is not None:
        out["also"] = {"prints": c.also, "count": plain(c.also_count)}
    out["by_op"] = [{"op": o.op, "layers": o.layers, "convcalc": plain(o.convcalc), "count": plain(o.count),
                     "difference": plain(None if o.convcalc is None else o.difference), "why": o.why} for o in c.by_op]
    return out
