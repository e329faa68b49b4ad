"""convcalc: exact shapes, parameters and operation counts of neural-network layers.

    >>> from convcalc import Conv2d
    >>> Conv2d(3, 64, 7, stride=2, padding=3, bias=False).report((3, 224, 224)).macs
    118013952
"""

from .errors import ConfigError, ConvcalcError, ExpressionError, ShapeError
from .expr import parse_expr, parse_shape
from .layers.conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .layers.linear import Linear
from .layers.norm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .layers.pool import (
    AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d,
    AdaptiveMaxPool1d, AdaptiveMaxPool2d, AdaptiveMaxPool3d,
    AvgPool1d, AvgPool2d, AvgPool3d,
    MaxPool1d, MaxPool2d, MaxPool3d,
)  # fmt: skip
from .layers.registry import LAYERS
from .report import LayerReport, Quantity

__version__ = "0.1.0"

__all__ = [
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
    "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d",
    "ConfigError", "ConvcalcError", "ExpressionError", "ShapeError",
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "LAYERS", "LayerReport", "Linear",
    "MaxPool1d", "MaxPool2d", "MaxPool3d",
    "Quantity", "parse_expr", "parse_shape",
]  # fmt: skip
