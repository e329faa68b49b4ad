"""JSON: the scripting contract. Keys are the Quantity values; never renamed, only added."""

from __future__ import annotations


from ..report import LayerReport
from .costs import cost_dict
from .format import json_text, plain


def report_dict(report: LayerReport) -> dict:
    """Every quantity; then, where the layer has them (recurrent layers), per_step (with what a
    step is: step_unit), per_layer, sequential_regimes and notes; then the layer's arguments."""
    out = {q.value: plain(report.get(q)) for q in report.quantities()}
    if report.per_step is not None:
        out["step_unit"] = report.step_unit
        out["per_step"] = plain(report.per_step)
    if report.per_layer is not None:
        out["per_layer"] = plain(list(report.per_layer))
    if report.sequential_regimes is not None:
        out["sequential_regimes"] = plain(report.sequential_regimes)
    if report.receptive_field is not None:
        out["receptive_field"] = plain(report.receptive_field)
    if report.work is not None:
        out["work"] = plain(report.work)
    if report.training is not None:
        for key in ("training", "backward", "training_counts", "working_bytes", "gradients"):
            out[key] = plain(getattr(report, key))
        out["saved"] = plain([dict(s) for s in report.saved])
        out["gradient_layers"] = [{"gradient": g, "command": c, "note": n} for g, c, n in report.gradient_layers]
    out.update(cost_dict(report))
    if report.notes:
        out["notes"] = list(report.notes)
    out["config"] = plain(report.config)
    return out


def render_json(report) -> str:
    return json_text(report_dict(report))
