"""The device table (convcalc/data/devices.yaml): loaded and checked, looked up with a
did-you-mean, listed by `convcalc devices` in every format."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from convcalc.devices import DTYPES, DeviceList, custom, device, parse_table, table
from convcalc.errors import ConvcalcError
from convcalc.render import Format, render

ROOT = Path(__file__).resolve().parents[1]
GOOD = "x:\n  name: X\n  kind: gpu\n  bandwidth: 1.0e+12\n  peak_flops: {float32: 2.0e+13}\n  source: a datasheet\n"


def test_the_shipped_table_loads_and_every_entry_is_sane():
    devices = table()
    assert {"a100-sxm", "h100-sxm", "h200-sxm", "l4", "rtx-4090", "m2-max", "epyc-9654"} <= set(devices)
    for d in devices.values():
        assert d.id == d.id.lower() and " " not in d.id
        assert 1e10 < d.bandwidth < 1e14  # between 10 GB/s and 100 TB/s: a unit slip shows
        assert d.peak_flops and all(name in DTYPES and 1e11 < v < 1e16 for name, v in d.peak_flops)
        assert len(d.source) > 20
        assert d.peak("float32") > 0 or "float32" not in dict(d.peak_flops)


def test_figures_as_the_datasheets_give_them():
    # the A100's ridge in float32: 19.5 TFLOPS / 2,039 GB/s; the H100 SXM's dense BF16 is half the 1,979 sparse
    a100, h100, h200 = device("a100-sxm"), device("h100-sxm"), device("h200-sxm")
    assert a100.ridge["float32"] == pytest.approx(19.5e12 / 2.039e12)
    assert h100.peak("bfloat16") == pytest.approx(1978.8e12 / 2, rel=1e-3)
    assert h200.peak_flops == h100.peak_flops and h200.bandwidth > h100.bandwidth
    epyc = device("epyc-9654")
    assert epyc.peak("float64") == 96 * 2.4e9 * 16 and epyc.bandwidth == 12 * 38.4e9


@pytest.mark.parametrize("text, match", [
    ("", "maps names to devices"),
    ("x: 3\n", "expected a mapping"),
    (GOOD.replace("  source: a datasheet\n", ""), "missing source"),
    (GOOD.replace("1.0e+12", "-5"), "bandwidth must be a positive number"),
    (GOOD.replace("1.0e+12", "1.0e12"), "bandwidth must be a positive number"),  # YAML 1.1 reads 1.0e12 as text
    (GOOD.replace("float32", "float8"), "unknown dtype 'float8'"),
    (GOOD.replace("kind: gpu", "kind: tpu"), "kind must be one of"),
    (GOOD + "  price: 3\n", "unknown key 'price'"),
    (GOOD.replace("2.0e+13", ".nan"), "peak_flops.float32 must be a positive number"),
])
def test_a_malformed_table_is_refused_naming_the_entry(text, match):
    with pytest.raises(ValueError, match=match):
        parse_table(text)


def test_names_are_looked_up_with_a_did_you_mean():
    assert device(" A100-SXM ").id == "a100-sxm"
    with pytest.raises(ConvcalcError, match="did you mean a100-sxm"):
        device("a100")
    with pytest.raises(ConvcalcError, match="lists no peak for bfloat16"):
        device("m2-max").peak("bfloat16")


@pytest.mark.parametrize("peak, bw", [(0, 1e9), (1e12, -1), (float("inf"), 1e9), (True, 1e9)])
def test_a_custom_device_needs_positive_numbers(peak, bw):
    with pytest.raises(ConvcalcError, match="positive number"):
        custom(peak, bw, "float32")


@pytest.mark.parametrize("fmt", list(Format))
def test_every_format_lists_every_device(fmt):
    out = render(fmt, DeviceList.shipped(), width=200)
    for d in table().values():
        assert d.id in out


def _cli(*args: str):
    return subprocess.run([sys.executable, "-m", "convcalc", *args], capture_output=True, text=True, cwd=ROOT)


def test_cli_json_and_csv_carry_the_table():
    out = _cli("devices", "-f", "json")
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)["devices"]
    assert [d["id"] for d in listed] == list(table())
    assert listed[0]["peak_flops"]["float32"] == dict(table()[listed[0]["id"]].peak_flops)["float32"]
    csv_out = _cli("devices", "-f", "csv")
    assert csv_out.returncode == 0 and len(csv_out.stdout.splitlines()) == len(table()) + 1


def test_cli_bad_output_is_one_line_exit_2(tmp_path):
    out = _cli("devices", "-o", str(tmp_path / "d.xyz"))
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert out.stderr.startswith("convcalc devices: --output: ")
