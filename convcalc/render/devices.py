"""`convcalc devices`: the device table as sections (table, markdown, LaTeX), JSON and CSV."""

from __future__ import annotations

from .format import Cell, Section, json_text

#: the dtypes shown as columns, in this order (a device lists some of them)
COLUMNS = ("float64", "float32", "tf32", "bfloat16", "float16", "int8")


def _tera(v: float | None) -> str:
    return "-" if v is None else f"{v / 1e12:,.1f}"


def title(report) -> str:
    return "Devices: peak dense throughput (TFLOP/s; int8 in TOPS) and memory bandwidth (GB/s)"


def sections(report, *, latex: bool = False) -> list[Section]:
    header = ("Device", "Name", "Kind", "GB/s") + COLUMNS + ("Ridge fp32", "Ridge bf16")
    rows = []
    for d in report.devices:
        peaks = dict(d.peak_flops)
        ridge = d.ridge
        rows.append((Cell(d.id), Cell(d.name), Cell(d.kind), Cell(f"{d.bandwidth / 1e9:,.1f}", "number"))
                    + tuple(Cell(_tera(peaks.get(c)), "number") for c in COLUMNS)
                    + tuple(Cell("-" if k not in ridge else f"{ridge[k]:,.1f}", "number") for k in ("float32", "bfloat16")))
    drop = tuple(range(len(header) - 1, 3, -1)) + (1,)
    return [Section(None, header, tuple(rows), drop)]


def footer(report) -> list[str]:
    lines = ["ridge: the FLOPs per byte at which compute time equals memory time (peak / bandwidth); a layer below it is memory-bound",
             "dense peaks (no structured sparsity); float32 on NVIDIA data-centre GPUs without tensor cores (tf32 apart)",
             "sources:"]
    return lines + [f"  {d.id}: {d.source}" for d in report.devices]


def _dict(d) -> dict:
    return {"id": d.id, "name": d.name, "kind": d.kind, "bandwidth": d.bandwidth, "peak_flops": dict(d.peak_flops),
            "ridge": d.ridge, "source": d.source}


def render_json(report) -> str:
    return json_text({"devices": [_dict(d) for d in report.devices]}, rows_key="devices")


def render_csv(report) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "name", "kind", "bandwidth"] + [f"peak_{c}" for c in COLUMNS] + ["source"])
    for d in report.devices:
        peaks = dict(d.peak_flops)
        w.writerow([d.id, d.name, d.kind, repr(d.bandwidth)] + [repr(peaks[c]) if c in peaks else "" for c in COLUMNS] + [d.source])
    return buf.getvalue()
