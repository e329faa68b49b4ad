"""A torch.nn module as a convcalc network (issue 16): ``convcalc.from_torch(module, input="3,H,W")``.

The module is exported with torch's own ONNX exporter (TorchScript, opset 17, BatchNorm kept as
its own node: ``training=PRESERVE`` on a module in eval mode, so no Conv-BN fusion), the input's
symbols as dynamic axes, into memory; the ONNX graph is then read as for ``convcalc net
model.onnx`` (importing/onnx_graph.py). So what convcalc counts is what the exported graph computes,
layer by layer, named by the module paths the exporter writes (``/layer1/layer1.0/conv1/Conv``).
Needs torch and onnx (``pip install "convcalc[torch]"``).
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from ..errors import ConvcalcError


def _torch():
    try:
        import torch
    except ImportError:
        raise ConvcalcError('from_torch needs PyTorch: pip install "convcalc[torch]"') from None
    return torch


def network(module: Any, input: str | tuple, *, example: dict | None = None, input_dtype: str | None = None) -> dict:
    """The network mapping (a network file's content) of a torch.nn module on an input shape
    without the batch (``"3,224,224"``, or with symbols ``"3,H,W"``: the export traces a sample
    whose symbols are ``example``'s values, 224 by default, and keeps them as dynamic axes)."""
    torch = _torch()
    from ..expr import parse_shape
    from ..sizes import is_int, names as sizes_names
    from .onnx_graph import network_of, parse

    if not isinstance(module, torch.nn.Module):
        raise ConvcalcError(f"expected a torch.nn.Module, got {type(module).__name__}", option="module")
    shape = parse_shape(input) if isinstance(input, str) else tuple(input)
    example = dict(example or {})
    sizes, axes = [], {0: "batch"}
    for i, d in enumerate(shape):
        if is_int(d):
            sizes.append(int(d))
        else:
            names = sorted(sizes_names(d))
            if len(names) != 1 or str(d) != names[0]:
                raise ConvcalcError(f"{d}: a dimension is a number or one symbol", option="input")
            sizes.append(int(example.get(names[0], 224)))
            axes[i + 1] = names[0]
    if input_dtype is None:
        first = next((m for m in module.modules() if not list(m.children())), None)
        input_dtype = "int64" if isinstance(first, torch.nn.Embedding) else "float32"
    sample = torch.zeros(1, *sizes, dtype=getattr(torch, input_dtype))
    was_training = module.training
    module.eval()
    buffer = io.BytesIO()
    try:
        # not under no_grad: there nn.MultiheadAttention takes PyTorch's fused fast path, an op ONNX has not
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's advice on constant folding and tracing: not the user's concern
            torch.onnx.export(module, (sample,), buffer, dynamo=False, opset_version=17, input_names=["input"],
                              output_names=["output"], dynamic_axes={"input": axes}, training=torch.onnx.TrainingMode.PRESERVE)
    except Exception as e:  # noqa: BLE001 - the exporter raises many kinds; one line says which
        raise ConvcalcError(f"torch's ONNX exporter refused the module ({type(e).__name__}: {str(e)[:300]})") from None
    finally:
        module.train(was_training)
    label = type(module).__name__
    mapping = network_of(parse(buffer.getvalue(), label), label)
    mapping["name"] = f"{label} (torch.nn, through ONNX)"
    return mapping


def from_torch(module: Any, input: str | tuple = "3,224,224", *, example: dict | None = None, input_dtype: str | None = None,
               batch: Any = 1, dtype: str = "float32", **report_options: Any) -> Any:
    """The NetworkReport of a torch.nn module on an input shape (batch excluded; symbols allowed).
    ``to_yaml(module, input)`` gives the same network as a network file."""
    from ..network import Network
    from ..network.writing import to_yaml as dump

    mapping = network(module, input, example=example, input_dtype=input_dtype)
    return Network.from_yaml(dump(mapping), label=mapping["name"]).report(batch=batch, dtype=dtype, **report_options)


def to_yaml(module: Any, input: str | tuple = "3,224,224", **options: Any) -> str:
    """The network file (YAML) of a torch.nn module."""
    from ..network.writing import to_yaml as dump

    return f"# {type(module).__name__} (torch.nn) exported to ONNX and imported by convcalc\n" + dump(network(module, input, **options))
