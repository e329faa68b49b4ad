"""Writing a network mapping as a network file (YAML): what `transformer --print-yaml`, `convcalc
import` and from_torch's to_yaml write, and convcalc's own reader reads back."""

from __future__ import annotations

from typing import Any


def to_yaml(network: dict) -> str:
    """A network mapping as the YAML of a network file (convcalc's own reader reads it back)."""
    import yaml

    return yaml.safe_dump(_plain(network), sort_keys=False, default_flow_style=None, width=100)


def _plain(network: Any) -> Any:
    """The network mapping with symbolic sizes as their text (YAML knows numbers and text)."""
    from ..sizes import is_int, to_text

    if isinstance(network, dict):
        return {k: _plain(v) for k, v in network.items()}
    if isinstance(network, list):
        return [_plain(v) for v in network]
    if isinstance(network, (bool, float, str)) or network is None or is_int(network):
        return network
    return to_text(network)
