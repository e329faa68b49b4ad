"""JSON: the scripting contract. Keys are the Quantity values; never renamed, only added."""

from __future__ import annotations

import json

from ..report import LayerReport, Quantity
from .format import plain


def report_dict(report: LayerReport) -> dict:
    out = {q.value: plain(report.get(q)) for q in Quantity}
    out["config"] = plain(report.config)
    return out


def render_json(report: LayerReport) -> str:
    """One key per line, each value on its line (shapes stay readable: "output_shape": [64, 112, 112])."""
    items = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in report_dict(report).items()]
    return "{\n" + ",\n".join(items) + "\n}\n"
