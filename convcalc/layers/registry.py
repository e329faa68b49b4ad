"""Command names -> layer classes. Adding a layer type is one line here."""

from __future__ import annotations

from .base import Layer
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .linear import Linear
from .norm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .pool import (
    AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d,
    AdaptiveMaxPool1d, AdaptiveMaxPool2d, AdaptiveMaxPool3d,
    AvgPool1d, AvgPool2d, AvgPool3d,
    MaxPool1d, MaxPool2d, MaxPool3d,
)  # fmt: skip
from ..errors import ConvcalcError

LAYERS: dict[str, type[Layer]] = {
    cls.NAME: cls
    for cls in (
        Conv1d, Conv2d, Conv3d,
        ConvTranspose1d, ConvTranspose2d, ConvTranspose3d,
        MaxPool1d, MaxPool2d, MaxPool3d,
        AvgPool1d, AvgPool2d, AvgPool3d,
        AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d,
        AdaptiveMaxPool1d, AdaptiveMaxPool2d, AdaptiveMaxPool3d,
        Linear,
        BatchNorm1d, BatchNorm2d, BatchNorm3d,
    )
}  # fmt: skip


def get(name: str) -> type[Layer]:
    try:
        return LAYERS[name.lower()]
    except KeyError:
        raise ConvcalcError(f"unknown layer {name!r} (known: {', '.join(LAYERS)})") from None
