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
    return json.dumps(report_dict(report), indent=2) + "\n"
