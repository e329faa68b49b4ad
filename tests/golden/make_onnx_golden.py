"""Regenerate tests/golden/onnx/: ONNX files of the shipped example networks, graph only (issue 16).

    python3 -m venv /tmp/peersvenv          # the venv of make_peers_golden.py, plus onnx
    /tmp/peersvenv/bin/pip install torch==2.13.0 torchvision==0.28.0 onnx==1.23.2
    /tmp/peersvenv/bin/pip install onnxruntime==1.32.0                        # only for --verify
    /tmp/peersvenv/bin/python tests/golden/make_onnx_golden.py                # about 45 seconds
    /tmp/peersvenv/bin/python tests/golden/make_onnx_golden.py --verify       # about 1 minute

Recorded with torch 2.13.0+cpu, torchvision 0.28.0, onnx 1.23.2 (protobuf 7.36.2), Python 3.11; onnxruntime
1.32.0 for --verify only (manifest.json's "versions" reads them from the installed metadata). Nothing
here enters convcalc's own environment. A second run rewrites every file byte for byte (checked: the same
sha256 for each file, manifest.json's "sha256").

What is exported, each model built fresh (torch.manual_seed(0)) in eval mode:
- the torchvision networks the examples model (examples/NAME.yaml; make_peers_golden.NETWORKS gives each
  builder), torchvision.models.<builder>(weights=None), traced at 1x3x224x224, input "input", output
  "output"; dynamic axes input 0 "batch", 2 "height", 3 "width", output 0 "batch", except vit_b_16
  (its position embedding fixes 224x224), vgg16 and alexnet (AdaptiveAvgPool2d((7, 7)) / ((6, 6)): the
  TorchScript exporter refuses it when the input size is symbolic, "input size not accessible"; at the
  fixed 224 it writes an AveragePool of kernel 1), which have only "batch";
- gpt2_small and bert_base from tests/golden/transformer_models.py (torch.nn versions of the examples),
  input "input_ids" int64, traced at 1x16; gpt2_small: (batch, seq_len) both dynamic, output "logits"
  (batch, seq_len, 50257); bert_base: only batch dynamic, seq_len the example's 16, output "pooled"
  (batch, 768). nn.MultiheadAttention (BERT's nn.TransformerEncoderLayer, ViT's encoder blocks) exports
  with the traced key length as a constant in the Reshape of k and v (k.shape[0] in
  F.multi_head_attention_forward comes out as Constant [16], with or without folding): a dynamic seq_len
  is declared and fails at any other length (onnxruntime at 2x7: "Reshape of {7,2,768} to {16,24,64}").
  GPT-2 calls F.scaled_dot_product_attention itself and stays dynamic (checked at 2x7 by --verify).
  Attention exports as plain ops either way (no Attention node in opset 17): nn.MultiheadAttention takes
  its Python path (in_proj as one MatMul to 3 x 768 + Add, the unflatten/Transpose/Squeeze split into q, k,
  v, Reshape/Transpose to heads, then the math of scaled_dot_product_attention, out_proj as Gemm on the
  (T*B, 768) rows); F.scaled_dot_product_attention becomes Mul of q and of k^T by sqrt(scale) (the scale
  1/sqrt(head_dim) computed from Shape, Cast, Sqrt, Div), MatMul, Softmax, MatMul; is_causal adds a mask
  built from the sequence length (Expand, Trilu, Equal, Where) before the Softmax;
  gpt2_small is written twice: gpt2_small.onnx with constant folding (like every other file here) and
  gpt2_small_nofold.onnx without (see below);
- resnet18_untrained_dedup.onnx: resnet18 with torchvision's initial values, the rest as resnet18.onnx.

Export settings: torch.onnx.export(dynamo=False (the TorchScript exporter), opset_version=17,
training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=True (except the _nofold file)).
BatchNorm stays a BatchNormalization node (training_mode 0) because the Conv+BatchNorm fusion
(_jit_pass_onnx_eval_peephole) runs only when training is EVAL (the default); with PRESERVE and a model in
eval mode the export is otherwise an inference export (Dropout gone, BatchNorm on running statistics).
The script checks each torchvision file: as many BatchNormalization nodes as nn.BatchNorm2d modules, as
many Conv nodes as nn.Conv2d modules, and a Conv has a bias input exactly where the module has a bias.

Before the export every floating-point parameter and buffer gets a distinct small offset (uniform in
[0, 1e-3), seeded): the exporter merges initializers of equal value (_jit_pass_onnx_deduplicate_initializers,
by value in eval mode) and writes Identity nodes for the merged ones, so with torchvision's initial values
(BatchNorm weights 1, biases 0, running mean 0, variance 1) resnet18 keeps 30 initializers of 102.
resnet18_untrained_dedup.onnx is that case, kept as a fixture (72 Identity nodes).

Constant folding on a transformer: an nn.Linear applied to a 3-D input exports as MatMul by the transposed
weight, and folding replaces weight + Transpose by a new initializer "onnx::MatMul_N" holding W^T (the same
elements; the parameter's name is gone). GPT-2's lm_head is tied to wte: wte.weight stays (Gather) and
its folded transpose (768 x 50257) is a second initializer, 38,597,376 elements more than torch's
parameters. Without folding (gpt2_small_nofold.onnx) every weight stays under its torch name behind a
Transpose node and the initializers hold exactly torch's parameters, once.

The files are small: each floating-point initializer keeps its name, dims and data_type and loses its data
(raw_data cleared, data_location EXTERNAL, external_data location "WEIGHTS_NOT_SHIPPED" with the offset
and length it would have in one weights file, packed in order, no padding). That file is not written:
onnx.load(path, load_external_data=False) reads these models. Integer initializers would be kept inline
(none occur); Constant nodes (shapes, axes, scales) are untouched.

Refusal fixtures (named refuse_*): a file cut at 1,000 bytes (of resnet18.onnx), 1,000 random bytes, a
model with an If node (onnx.helper), a module with data-dependent control flow exported from
torch.jit.script (Loop and If nodes), a NonMaxSuppression model and an op of a custom domain
(com.example.convcalc FancyConv), both built with onnx.helper.

manifest.json: per file what it is (the example it matches, the torch source, the export settings), its
inputs and outputs (dims: ints, or the dynamic axis' name), opsets, op-type counts, initializers (count,
elements, by source: torch parameters, torch buffers, other (constant-folded)), torch's parameter count,
the parameters and buffers that are not initializers, the bytes and sha256 of the file; "op_types_all"
sums the op types over the model files (the refusal fixtures apart). --verify runs each full model
(weights present, before stripping) in onnxruntime at another input size (batch 2; 160x192 where height
and width are dynamic; seq_len 7 for gpt2_small, 16 for bert_base) against torch; it adds nothing to
the manifest.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import importlib.metadata
import io
import json
import math
import random
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "onnx"
sys.path.insert(0, str(HERE))

from make_peers_golden import NETWORKS, import_torchvision  # noqa: E402

OPSET = 17
WEIGHTS = "WEIGHTS_NOT_SHIPPED"
STATIC_HW = {"vit_b_16": "its (1, 197, 768) position embedding fixes the input at 224x224",
             "vgg16": "AdaptiveAvgPool2d((7, 7)): the TorchScript exporter refuses it for a symbolic input size "
                      "('input size not accessible'); at 224 it exports as AveragePool kernel 1",
             "alexnet": "AdaptiveAvgPool2d((6, 6)): the TorchScript exporter refuses it for a symbolic input size "
                        "('input size not accessible'); at 224 it exports as AveragePool kernel 1"}
# name -> output name, the input's dynamic axes, the output's
TRANSFORMERS = {"gpt2_small": ("logits", {0: "batch", 1: "seq_len"}, {0: "batch", 1: "seq_len"}),
                "bert_base": ("pooled", {0: "batch"}, {0: "batch"})}
STATIC_SEQ = {"bert_base": "nn.MultiheadAttention (inside nn.TransformerEncoderLayer) exports with the traced key "
                           "length in the Reshape of k and v (Constant [16], from k.shape[0] in "
                           "F.multi_head_attention_forward): with seq_len dynamic the file declared it and failed at "
                           "any other length (onnxruntime at 2x7: Reshape of {7,2,768} to {16,24,64}); so seq_len is "
                           "the example's 16 (examples/bert_base.yaml, input: 16) and only batch is dynamic"}
VERSIONS = ["torch", "torchvision", "onnx", "protobuf", "numpy", "onnxruntime"]


def files_plan():
    """(file stem, example name, fold, randomize) in the order written."""
    plan = [(name, name, True, True) for name in NETWORKS]
    plan += [("gpt2_small", "gpt2_small", True, True), ("gpt2_small_nofold", "gpt2_small", False, True),
             ("bert_base", "bert_base", True, True), ("resnet18_untrained_dedup", "resnet18", True, False)]
    return plan


def build(name):
    """A fresh model in eval mode, its trace input, input/output names and dynamic axes, a source line."""
    import torch
    torch.manual_seed(0)
    if name in TRANSFORMERS:
        import transformer_models
        model = getattr(transformer_models, name)().eval()
        out, in_axes, out_axes = TRANSFORMERS[name]
        x = torch.zeros(1, 16, dtype=torch.long)
        return (model, x, "input_ids", out, {"input_ids": in_axes, out: out_axes},
                f"tests/golden/transformer_models.py {name}()")
    tv = import_torchvision()
    model = getattr(tv.models, NETWORKS[name])(weights=None).eval()
    axes = {0: "batch"} if name in STATIC_HW else {0: "batch", 2: "height", 3: "width"}
    return (model, torch.zeros(1, 3, 224, 224), "input", "output", {"input": axes, "output": {0: "batch"}},
            f"torchvision.models.{NETWORKS[name]}(weights=None)")


def offset_values(model):
    """Every floating-point parameter and buffer plus a distinct uniform [0, 1e-3) offset (seed 0), so
    that no two initializers are equal and none is merged."""
    import torch
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _, t in list(model.named_parameters()) + list(model.named_buffers()):
            if t.is_floating_point():
                t.add_(torch.rand(t.shape, generator=g) * 1e-3)


def export(model, x, in_name, out_name, axes, fold):
    import torch
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy-exporter deprecation; PRESERVE + folding's advice
        torch.onnx.export(model, (x,), f, dynamo=False, opset_version=OPSET,
                          training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=fold,
                          input_names=[in_name], output_names=[out_name], dynamic_axes=axes)
    return f.getvalue()


def strip(model):
    """Each floating-point initializer's data moved to an external file that is not written."""
    import onnx
    from onnx import TensorProto
    floating = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16}
    offset, kept_inline = 0, []
    for t in model.graph.initializer:
        if t.data_type not in floating:
            kept_inline.append(t.name)
            continue
        length = math.prod(t.dims) * onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
        if t.HasField("raw_data") and len(t.raw_data) != length:
            raise ValueError(f"{t.name}: {len(t.raw_data)} bytes, dims say {length}")
        for field in ("raw_data", "float_data", "double_data", "int32_data"):
            t.ClearField(field)
        del t.external_data[:]
        for key, value in (("location", WEIGHTS), ("offset", str(offset)), ("length", str(length))):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
        t.data_location = TensorProto.EXTERNAL
        offset += length
    return kept_inline


def dtype_name(elem_type):
    import onnx
    return str(onnx.helper.tensor_dtype_to_np_dtype(elem_type))


def value_infos(values):
    return [{"name": v.name, "dtype": dtype_name(v.type.tensor_type.elem_type),
             "shape": [d.dim_param if d.HasField("dim_param") else d.dim_value
                       for d in v.type.tensor_type.shape.dim]} for v in values]


def op_counts(graph):
    """Op types of the graph and of every subgraph (If / Loop bodies), domain-qualified outside ONNX's own."""
    counts = collections.Counter()

    def walk(g):
        for n in g.node:
            counts[f"{n.domain}:{n.op_type}" if n.domain not in ("", "ai.onnx") else n.op_type] += 1
            for a in n.attribute:
                for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                    walk(sub)
    walk(graph)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def leaf_kinds(names):
    """'layer1.0.bn1.running_mean' -> counts by the last part of the name."""
    return dict(sorted(collections.Counter(n.rsplit(".", 1)[-1] for n in names).items()))


def describe(proto, torch_model):
    """The manifest entry's facts from the stripped ONNX model and the torch module."""
    params = dict(torch_model.named_parameters())
    buffers = dict(torch_model.named_buffers())
    inits = {t.name: t for t in proto.graph.initializer}
    elements = {name: math.prod(t.dims) for name, t in inits.items()}
    source = {name: "parameters" if name in params else "buffers" if name in buffers else "other" for name in inits}
    by_source = {}
    for kind in ("parameters", "buffers", "other"):
        names = [n for n in inits if source[n] == kind]
        by_source[kind] = {"count": len(names), "elements": sum(elements[n] for n in names)}
    by_source["buffers"]["kinds"] = leaf_kinds(n for n in inits if source[n] == "buffers")
    other = [n for n in inits if source[n] == "other"]
    if other:
        tied = "wte.weight" in inits and any(list(inits[n].dims) == [768, 50257] for n in other)
        by_source["other"]["what"] = ("constant-folded tensors: nn.Linear weights applied to 3-D inputs, transposed "
                                      "(W^T for MatMul)"
                                      + (", and the tied lm_head = wte.weight transposed (768 x 50257)" if tied else ""))
        by_source["other"]["shapes"] = dict(sorted(collections.Counter(
            "x".join(map(str, inits[n].dims)) for n in other).items()))
    missing_params = [n for n in params if n not in inits]
    missing_buffers = [n for n in buffers if n not in inits]
    # the exporter's merged initializers: Identity(kept initializer) -> the merged tensor's name
    merged = {n.output[0] for n in proto.graph.node if n.op_type == "Identity" and n.input[0] in inits}
    folded = [n for n in missing_params if n not in merged]
    dtypes = collections.Counter(dtype_name(t.data_type) for t in inits.values())
    torch_params = sum(p.numel() for p in params.values())
    return {
        "inputs": value_infos(proto.graph.input),
        "outputs": value_infos(proto.graph.output),
        "ir_version": proto.ir_version,
        "opset": {o.domain or "ai.onnx": o.version for o in proto.opset_import},
        "producer": f"{proto.producer_name} {proto.producer_version}",
        "nodes": sum(op_counts(proto.graph).values()),
        "op_types": op_counts(proto.graph),
        "initializers": {"count": len(inits), "elements": sum(elements.values()),
                         "dtypes": dict(sorted(dtypes.items())), "by_source": by_source,
                         "data": f"external, location {WEIGHTS} (not shipped)"},
        "torch": {
            "parameters": torch_params,
            "parameter_tensors": len(params),
            "parameters_not_initializers": {
                "count": len(missing_params), "elements": sum(params[n].numel() for n in missing_params),
                "merged": {"count": len(missing_params) - len(folded),
                           "elements": sum(params[n].numel() for n in missing_params if n in merged),
                           "how": "equal to a kept initializer: an Identity node of it outputs the name"},
                "folded": {"count": len(folded), "elements": sum(params[n].numel() for n in folded),
                           "how": "constant folding replaced them by their transposes (initializers 'other')"}},
            "buffers": {"count": len(buffers), "elements": sum(b.numel() for b in buffers.values()),
                        "kinds": leaf_kinds(buffers)},
            "buffers_not_initializers": {"count": len(missing_buffers),
                                         "elements": sum(buffers[n].numel() for n in missing_buffers),
                                         "kinds": leaf_kinds(missing_buffers),
                                         "merged": {"count": sum(n in merged for n in missing_buffers),
                                                    "elements": sum(buffers[n].numel() for n in missing_buffers
                                                                    if n in merged)},
                                         "why": sorted({"num_batches_tracked: BatchNorm's training counter, not read "
                                                        "in eval mode" if n.endswith("num_batches_tracked") else
                                                        "merged (Identity nodes)" if n in merged else
                                                        f"{n.rsplit('.', 1)[-1]}: traced as a constant, a Constant node"
                                                        for n in missing_buffers})},
        },
        "initializer_elements_minus_parameters": sum(elements.values()) - torch_params,
    }


def check_torchvision(proto, torch_model):
    """BatchNorm not fused: BatchNormalization nodes = nn.BatchNorm2d modules; Conv nodes = nn.Conv2d
    modules, and as many with a bias input as modules with a bias."""
    from torch import nn
    convs = [m for m in torch_model.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in torch_model.modules() if isinstance(m, nn.BatchNorm2d)]
    conv_nodes = [n for n in proto.graph.node if n.op_type == "Conv"]
    bn_nodes = [n for n in proto.graph.node if n.op_type == "BatchNormalization"]
    found = {"torch_conv2d": len(convs), "torch_conv2d_with_bias": sum(m.bias is not None for m in convs),
             "conv_nodes": len(conv_nodes), "conv_nodes_with_bias": sum(len(n.input) > 2 and n.input[2] != ""
                                                                        for n in conv_nodes),
             "torch_batchnorm2d": len(bns), "batchnormalization_nodes": len(bn_nodes)}
    if (found["torch_conv2d"], found["torch_conv2d_with_bias"], found["torch_batchnorm2d"]) != (
            found["conv_nodes"], found["conv_nodes_with_bias"], found["batchnormalization_nodes"]):
        raise AssertionError(f"BatchNorm fused or a bias folded: {found}")
    return found


def verify(data, torch_model, name, in_name):
    """The full model in onnxruntime at another input size, against torch."""
    import numpy as np
    import onnxruntime as ort
    import torch
    if name in TRANSFORMERS:
        x = torch.randint(0, 1000, (2, 16 if name in STATIC_SEQ else 7), generator=torch.Generator().manual_seed(0))
    elif name in STATIC_HW:
        x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    else:
        x = torch.randn(2, 3, 160, 192, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = torch_model(x).numpy()
    got = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {in_name: x.numpy()})[0]
    if got.shape != expected.shape:
        raise AssertionError(f"{name}: onnxruntime gives {got.shape}, torch {expected.shape}")
    scale = float(np.abs(expected).max())
    diff = float(np.abs(got - expected).max()) / scale  # relative to the output's largest magnitude
    if not diff < 1e-4:
        raise AssertionError(f"{name}: onnxruntime differs from torch by {diff:.2e} of {scale:.3g}")
    return f"{list(x.shape)} -> {list(got.shape)}, max difference {diff:.1e} of the largest output {scale:.3g}"


# -- refusal fixtures --------------------------------------------------------------------------------

def helper_model(nodes, inputs, outputs, opsets, name):
    import onnx
    from onnx import helper
    graph = helper.make_graph(nodes, name, inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets],
                              producer_name="make_onnx_golden.py", ir_version=8)
    onnx.checker.check_model(model)
    return model


def refuse_if():
    """y = relu(x) if sum(x) > 0 else -x: an If node whose branches read x from the outer scope."""
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    then_g = helper.make_graph([helper.make_node("Relu", ["x"], ["then_y"], name="then_relu")], "then_branch", [],
                               [helper.make_tensor_value_info("then_y", TensorProto.FLOAT, ["batch", 4])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["else_y"], name="else_neg")], "else_branch", [],
                               [helper.make_tensor_value_info("else_y", TensorProto.FLOAT, ["batch", 4])])
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], name="sum", keepdims=0),
             helper.make_node("Constant", [], ["zero"], name="zero",
                              value=helper.make_tensor("zero_value", TensorProto.FLOAT, [], [0.0])),
             helper.make_node("Greater", ["s", "zero"], ["cond"], name="positive"),
             helper.make_node("If", ["cond"], ["y"], name="branch", then_branch=then_g, else_branch=else_g)]
    return helper_model(nodes, [x], [y], [("", OPSET)], "refuse_control_flow_if")


def refuse_scripted():
    """A torch.jit.script module with data-dependent control flow, exported (Loop and If nodes)."""
    import onnx
    import torch
    from torch import nn

    class Scripted(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 4)

        def forward(self, x):
            if bool(x.sum() > 0):
                x = self.linear(x)
            else:
                x = -x
            for _ in range(int(x.shape[0])):
                x = torch.relu(self.linear(x))
            return x

    torch.manual_seed(0)
    module = torch.jit.script(Scripted().eval())
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(3, 4),), f, dynamo=False, opset_version=OPSET,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    model = onnx.load_from_string(f.getvalue())
    onnx.checker.check_model(model)
    strip(model)
    return model


def refuse_nms():
    """NonMaxSuppression: an ONNX op convcalc does not know."""
    from onnx import TensorProto, helper
    boxes = helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, "boxes", 4])
    scores = helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, "boxes"])
    selected = helper.make_tensor_value_info("selected", TensorProto.INT64, ["selected", 3])
    nodes = [helper.make_node("Constant", [], ["max_out"], name="max_out",
                              value=helper.make_tensor("max_out_value", TensorProto.INT64, [1], [10])),
             helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_out"], ["selected"], name="nms",
                              center_point_box=0)]
    return helper_model(nodes, [boxes, scores], [selected], [("", OPSET)], "refuse_unknown_op_nms")


def refuse_custom():
    """A Conv followed by an op of a custom domain (com.example.convcalc FancyConv)."""
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 32, 32])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8, 32, 32])
    w = helper.make_tensor("conv.weight", TensorProto.FLOAT, [8, 3, 3, 3], [0.0] * 216)
    model_nodes = [helper.make_node("Conv", ["x", "conv.weight"], ["h"], name="conv", pads=[1, 1, 1, 1]),
                   helper.make_node("FancyConv", ["h"], ["y"], name="fancy", domain="com.example.convcalc", width=8)]
    graph = helper.make_graph(model_nodes, "refuse_custom_domain_op", [x], [y], initializer=[w])
    import onnx
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid("com.example.convcalc", 1)],
                              producer_name="make_onnx_golden.py", ir_version=8)
    onnx.checker.check_model(model)
    strip(model)
    return model


def load_error(data):
    import onnx
    try:
        onnx.load_from_string(data)
    except Exception as e:  # noqa: BLE001 - recorded, whatever it is
        return " ".join(f"{type(e).__name__}: {e}".split())[:300]
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verify", action="store_true", help="run each full model in onnxruntime against torch")
    args = parser.parse_args()

    import onnx
    import torch
    torch.set_num_threads(2)
    OUT.mkdir(exist_ok=True)
    manifest = {"how": "tests/golden/make_onnx_golden.py (its docstring says how the files were made)",
                "versions": {}, "export": {"exporter": "TorchScript (dynamo=False)", "opset_version": OPSET,
                                           "training": "TrainingMode.PRESERVE (model in eval mode)",
                                           "weights": f"stripped: external_data location {WEIGHTS}, not shipped"},
                "files": {}, "refusal_fixtures": {}, "op_types_all": {}}
    for pkg in VERSIONS:
        try:
            manifest["versions"][pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            manifest["versions"][pkg] = None
    all_ops = collections.Counter()
    start = time.time()
    for stem, name, fold, offset in files_plan():
        t0 = time.time()
        model, x, in_name, out_name, axes, source = build(name)
        if offset:
            offset_values(model)
        data = export(model, x, in_name, out_name, axes, fold)
        checked = verify(data, model, name, in_name) if args.verify else None
        proto = onnx.load_from_string(data)
        del data
        onnx.checker.check_model(proto)  # before stripping: the checker looks for the external file
        kept_inline = strip(proto)
        onnx.shape_inference.infer_shapes(proto, strict_mode=True)  # works on dims alone
        blob = proto.SerializeToString()
        (OUT / f"{stem}.onnx").write_bytes(blob)
        entry = {"example": f"examples/{name}.yaml", "source": source,
                 "export": {"do_constant_folding": fold,
                            "trace_input": {"shape": list(x.shape), "dtype": str(x.dtype)[6:]},
                            "dynamic_axes": {k: {str(a): v for a, v in ax.items()} for k, ax in axes.items()},
                            "values": ("torch's initial values plus a distinct offset in [0, 1e-3) "
                                       "(no initializer merged)" if offset else
                                       "torch's initial values: equal initializers merged (Identity nodes)")}}
        if name in STATIC_HW:
            entry["export"]["height_width_static"] = STATIC_HW[name]
        if name in STATIC_SEQ:
            entry["export"]["seq_len_static"] = STATIC_SEQ[name]
        entry.update(describe(proto, model))
        entry["initializers"]["kept_inline"] = kept_inline
        if name not in TRANSFORMERS:
            entry["batchnorm_check"] = check_torchvision(proto, model)
        entry["bytes"] = len(blob)
        entry["sha256"] = hashlib.sha256(blob).hexdigest()
        manifest["files"][f"{stem}.onnx"] = entry
        all_ops.update(entry["op_types"])
        print(f"{stem}: {len(blob):,} bytes, {entry['nodes']} nodes, {entry['initializers']['count']} initializers, "
              f"{time.time() - t0:.1f} s" + (f"; onnxruntime {checked}" if checked else ""), flush=True)
        del model, proto
    manifest["op_types_all"] = dict(sorted(all_ops.items(), key=lambda kv: (-kv[1], kv[0])))

    # refusal fixtures
    resnet18 = (OUT / "resnet18.onnx").read_bytes()
    fixtures = {
        "refuse_truncated_resnet18.onnx": (resnet18[:1000], "resnet18.onnx cut after its first 1,000 bytes"),
        "refuse_random_bytes.onnx": (random.Random(16).randbytes(1000), "1,000 random bytes (random.Random(16))"),
        "refuse_control_flow_if.onnx": (refuse_if().SerializeToString(),
                                        "onnx.helper: y = Relu(x) if ReduceSum(x) > 0 else Neg(x), an If node"),
        "refuse_control_flow_scripted.onnx": (
            refuse_scripted().SerializeToString(),
            "torch.jit.script of a module with `if bool(x.sum() > 0)` and `for _ in range(x.shape[0])` "
            "(nn.Linear(4, 4) inside), exported (dynamo=False, opset 17): If and Loop nodes"),
        "refuse_unknown_op_nms.onnx": (refuse_nms().SerializeToString(),
                                       "onnx.helper: NonMaxSuppression (an ONNX op convcalc does not map)"),
        "refuse_custom_domain_op.onnx": (refuse_custom().SerializeToString(),
                                         "onnx.helper: Conv then com.example.convcalc FancyConv (a custom domain)"),
    }
    for fname, (data, what) in fixtures.items():
        (OUT / fname).write_bytes(data)
        error = load_error(data)
        entry = {"what": what, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "onnx_load_error": error}
        if error is None:
            proto = onnx.load_from_string(data)
            entry.update({"opset": {o.domain or "ai.onnx": o.version for o in proto.opset_import},
                          "inputs": value_infos(proto.graph.input), "outputs": value_infos(proto.graph.output),
                          "op_types": op_counts(proto.graph)})
        elif not fname.startswith(("refuse_truncated", "refuse_random")):
            raise AssertionError(f"{fname} does not load: {error}")
        if fname.startswith(("refuse_truncated", "refuse_random")) and error is None:
            raise AssertionError(f"{fname} loads")
        manifest["refusal_fixtures"][fname] = entry
    total = sum(p.stat().st_size for p in OUT.glob("*.onnx"))
    manifest["total_onnx_bytes"] = total
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(manifest['files'])} models, {len(fixtures)} refusal fixtures, {total:,} bytes of .onnx; "
          f"{time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
