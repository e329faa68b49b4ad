"""Named hardware for roofline estimates: the device table is data (convcalc/data/devices.yaml),
loaded once, every entry checked (units, positive finite numbers, known dtypes, a source), and
looked up by name with a did-you-mean for a near miss. A device of one's own is made from a peak
and a bandwidth (``custom``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import ConfigError, unknown_name

#: the dtypes a device may list a peak for: convcalc's activation dtypes, and tf32 (float32
#: matmuls on tensor cores)
DTYPES = ("float64", "float32", "tf32", "bfloat16", "float16", "int8")
KINDS = ("gpu", "cpu", "custom")
PATH = Path(__file__).parent / "data" / "devices.yaml"


@dataclass(frozen=True)
class Device:
    """A device's peak dense throughput per dtype (FLOP/s) and its memory bandwidth (bytes/s)."""

    id: str
    name: str
    kind: str
    bandwidth: float
    peak_flops: tuple  # ((dtype, FLOP/s), ...) in DTYPES order
    source: str

    def peak(self, dtype: str) -> float:
        """The peak for dtype; a ConfigError naming the dtypes it has when it lists none."""
        for name, value in self.peak_flops:
            if name == dtype:
                return value
        listed = ", ".join(name for name, _ in self.peak_flops)
        raise ConfigError(f"{self.id} lists no peak for {dtype} (it has {listed})", option="device")

    @property
    def ridge(self) -> dict:
        """FLOPs per byte at which each dtype's compute time equals the memory time."""
        return {name: value / self.bandwidth for name, value in self.peak_flops}


def _positive(v: Any) -> bool:
    """A positive finite number (not a bool): what every peak and bandwidth must be."""
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def _number(entry: str, key: str, v: Any) -> float:
    if not _positive(v):
        raise ValueError(f"{entry}: {key} must be a positive number, got {v!r}")
    return float(v)


def _check(entry: str, raw: Any) -> Device:
    """One entry of the table as a Device, or a ValueError saying what is wrong with it."""
    if not isinstance(raw, dict):
        raise ValueError(f"{entry}: expected a mapping")
    missing = [k for k in ("name", "kind", "bandwidth", "peak_flops", "source") if k not in raw]
    if missing:
        raise ValueError(f"{entry}: missing {', '.join(missing)}")
    unknown = sorted(set(raw) - {"name", "kind", "bandwidth", "peak_flops", "source"})
    if unknown:
        raise ValueError(f"{entry}: unknown key {unknown[0]!r}")
    if raw["kind"] not in KINDS:
        raise ValueError(f"{entry}: kind must be one of {', '.join(KINDS)}")
    peaks = raw["peak_flops"]
    if not isinstance(peaks, dict) or not peaks:
        raise ValueError(f"{entry}: peak_flops must map dtypes to FLOP/s")
    bad = sorted(set(peaks) - set(DTYPES))
    if bad:
        raise ValueError(f"{entry}: peak_flops: unknown dtype {bad[0]!r} (known: {', '.join(DTYPES)})")
    if not isinstance(raw["source"], str) or not raw["source"].strip():
        raise ValueError(f"{entry}: source must say where the figures come from")
    return Device(entry, str(raw["name"]), raw["kind"], _number(entry, "bandwidth", raw["bandwidth"]),
                  tuple((d, _number(entry, f"peak_flops.{d}", peaks[d])) for d in DTYPES if d in peaks), raw["source"])


def parse_table(text: str) -> dict:
    """name -> Device for a device table's YAML text (ValueError for a malformed table)."""
    import yaml

    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not data:
        raise ValueError("a device table maps names to devices")
    return {str(k): _check(str(k), v) for k, v in data.items()}


@lru_cache(maxsize=1)
def table() -> dict:
    """The shipped device table (read once)."""
    return parse_table(PATH.read_text())


def device(name: str) -> Device:
    """The named device; a ConfigError with the names close to it otherwise."""
    devices = table()
    key = name.strip().lower()
    if key in devices:
        return devices[key]
    raise unknown_name(name, list(devices), what="device", option="device", listed_by="convcalc devices lists them")


def custom(peak_flops: float, bandwidth: float, dtype: str) -> Device:
    """A device of one's own: one peak (for dtype) and a bandwidth."""
    for option, v in (("peak-flops", peak_flops), ("bandwidth", bandwidth)):
        if not _positive(v):
            raise ConfigError(f"must be a positive number, got {v!r}", option=option)
    return Device("custom", "your device", "custom", float(bandwidth), ((dtype, float(peak_flops)),), "given on the command line")


@dataclass(frozen=True)
class DeviceList:
    """What `convcalc devices` reports: the shipped devices, in the table's order."""

    devices: tuple

    @staticmethod
    def shipped() -> "DeviceList":
        return DeviceList(tuple(table().values()))
