"""convcalc: exact shapes, parameters and operation counts of neural-network layers.

    >>> from convcalc import Conv2d
    >>> Conv2d(3, 64, 7, stride=2, padding=3, bias=False).report((3, 224, 224)).macs
    118013952

Layer classes are imported on first use (``from convcalc import Conv2d`` works as usual), so the
command line loads only the layer family it needs; so is the network API:

    >>> from convcalc import Network
    >>> Network.from_yaml("input: 3,32,32\\nlayers: [{conv2d: {out_channels: 8, kernel_size: 3}}]\\n").report().output_shape
    (8, 30, 30)

A training step (the backward pass, the optimizer, the memory autograd keeps):

    >>> from convcalc import Conv1d, Training
    >>> Conv1d(7, 1, 3, stride=2, bias=False).report((7, 11), training=Training(optimizer="adam")).backward["grad_weight"]["adds"]
    84
"""

from .errors import ConfigError, ConvcalcError, ExpressionError, ShapeError
from .expr import parse_expr, parse_shape
from .layers.registry import _WHERE, LAYERS
from .report import LayerReport, Quantity

__version__ = "0.1.0"

#: public class name -> command name, e.g. "Conv2d" -> "conv2d"
_CLASSES = {where.split(":")[1]: name for name, where in _WHERE.items()}


#: the network API, imported on first use too (YAML is loaded only for networks)
_NETWORK = ("Network", "NetworkReport", "NetworkError")


def __getattr__(attr: str):
    if attr in _CLASSES:
        return LAYERS[_CLASSES[attr]]
    if attr == "Training":
        from .layers.training import Training

        return Training
    if attr in _NETWORK:
        from . import network

        return getattr(network, attr)
    if attr == "from_torch":
        from .importing.torch_module import from_torch

        return from_torch
    raise AttributeError(f"module 'convcalc' has no attribute {attr!r}")


__all__ = [
    "ConfigError", "ConvcalcError", "ExpressionError", "ShapeError",
    "LAYERS", "LayerReport", "Quantity", "parse_expr", "parse_shape", "Training", "from_torch", *_NETWORK,
    *_CLASSES,
]  # fmt: skip
