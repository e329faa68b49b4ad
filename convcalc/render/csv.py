"""CSV: a header of JSON keys and one row per layer; exact integers, shapes as 64x112x112."""

from __future__ import annotations

import csv
import io

from ..report import LayerReport, Unit
from ..sizes import is_int, to_text
from .format import shape


def _value(v, unit: Unit) -> str:
    if v is None:
        return ""
    if unit in (Unit.SHAPE, Unit.GEMM):
        return shape(v, joiner="x")
    if is_int(v) or isinstance(v, str):
        return str(v)
    return to_text(v)


def render_csv(report: LayerReport) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([q.value for q in report.quantities()])
    writer.writerow([_value(report.get(q), q.unit) for q in report.quantities()])
    return buf.getvalue()
