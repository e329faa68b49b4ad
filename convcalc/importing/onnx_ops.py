"""ONNX ops as convcalc layers (issue 16): one handler per op type, registered in OPS, each turning
a node (and the nodes a pattern folds into it) into a network file's item. A handler states what
it cannot map by raising ConvcalcError; onnx_graph names the node.

Attribute defaults are ONNX's, not PyTorch's: a pool's stride defaults to 1 and AveragePool's
count_include_pad to 0, so both are always written out.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import ConvcalcError
from .onnx_context import Context, _f32, _one, _pads, _rank, _text_attr, _weight, attrs
from .onnx_modules import slice_


def conv(node: Any, i: int, ctx: Context) -> None:
    a = attrs(node)
    w, dims = _weight(ctx, node, 1)
    nd = len(dims) - 2
    params = {"out_channels": int(dims[0]), "kernel_size": _one(dims[2:]), "stride": _one(a.get("strides", [1] * nd)),
              "padding": _one(_pads(a, nd)), "dilation": _one(a.get("dilations", [1] * nd)), "groups": int(a.get("group", 1)),
              "bias": len(node.input) > 2 and bool(node.input[2])}
    ctx.emit(node, f"conv{nd}d", params, weight=w)


def conv_transpose(node: Any, i: int, ctx: Context) -> None:
    a = attrs(node)
    if "output_shape" in a:
        raise ConvcalcError("output_shape (sizes given instead of padding) is not mapped")
    w, dims = _weight(ctx, node, 1)
    nd = len(dims) - 2
    groups = int(a.get("group", 1))
    params = {"out_channels": int(dims[1]) * groups, "kernel_size": _one(dims[2:]), "stride": _one(a.get("strides", [1] * nd)),
              "padding": _one(_pads(a, nd)), "output_padding": _one(a.get("output_padding", [0] * nd)),
              "dilation": _one(a.get("dilations", [1] * nd)), "groups": groups, "bias": len(node.input) > 2 and bool(node.input[2])}
    ctx.emit(node, f"convtranspose{nd}d", params, weight=w)


def pool(node: Any, i: int, ctx: Context) -> None:
    a = attrs(node)
    k = list(a["kernel_shape"])
    nd = len(k)
    params = {"kernel_size": _one(k), "stride": _one(a.get("strides", [1] * nd)), "padding": _one(_pads(a, nd)),
              "ceil_mode": bool(a.get("ceil_mode", 0))}
    if node.op_type == "MaxPool":
        params["dilation"] = _one(a.get("dilations", [1] * nd))
        ctx.emit(node, f"maxpool{nd}d", params)
    else:
        params["count_include_pad"] = bool(a.get("count_include_pad", 0))
        ctx.emit(node, f"avgpool{nd}d", params)


def global_pool(node: Any, i: int, ctx: Context) -> None:
    nd = _rank(ctx, node) - 2
    kind = "adaptiveavgpool" if node.op_type == "GlobalAveragePool" else "adaptivemaxpool"
    ctx.emit(node, f"{kind}{nd}d", {"output_size": 1})


def reduce_mean(node: Any, i: int, ctx: Context) -> None:
    """x.mean over every spatial axis: an adaptive average pool to 1 (a method, not a module), then
    a flatten when the axes are dropped."""
    a = attrs(node)
    rank = _rank(ctx, node)
    axes = a.get("axes")
    if axes is None and len(node.input) > 1:
        axes = ctx.constant(node.input[1])
    if axes is None or sorted(int(x) % rank for x in axes) != list(range(2, rank)):
        raise ConvcalcError(f"a mean over axes {axes} (only the mean over every spatial axis is mapped)")
    nd = rank - 2
    ctx.emit(node, f"adaptiveavgpool{nd}d", {"output_size": 1}, extra={"call": "method"})
    if not a.get("keepdims", 1):
        ctx.place({"flatten": None, "name": f"{node.name or node.output[0]} (dims dropped)"}, node.output[0])


def norm(node: Any, i: int, ctx: Context) -> None:
    a = attrs(node)
    nd = max(1, _rank(ctx, node) - 2)
    eps = _f32(a.get("epsilon", 1e-5))
    if node.op_type == "BatchNormalization":
        if a.get("training_mode", 0):
            raise ConvcalcError("training_mode 1 (statistics of the batch) is not mapped")
        _weight(ctx, node, 1)
        ctx.emit(node, f"batchnorm{nd}d", {"eps": eps})
    else:
        _weight(ctx, node, 1)
        ctx.emit(node, f"instancenorm{nd}d", {"eps": eps, "affine": True})


def layer_norm(node: Any, i: int, ctx: Context) -> None:
    a = attrs(node)
    shape = ctx.shape(ctx.operands(node)[0])
    axis = int(a.get("axis", -1)) % len(shape)
    if axis == 0:
        raise ConvcalcError("a layer norm over the batch axis is not mapped")
    _weight(ctx, node, 1)
    dims = list(shape[axis:])
    if not all(isinstance(d, int) for d in dims):
        raise ConvcalcError(f"normalized over dims {dims} that are not numbers")
    ctx.emit(node, "layernorm", {"normalized_shape": _one(dims) if len(dims) == 1 else dims, "eps": _f32(a.get("epsilon", 1e-5)),
                                 "bias": len(node.input) > 2 and bool(node.input[2])})


def gemm(node: Any, i: int, ctx: Context) -> None:
    a = attrs(node)
    if a.get("transA", 0) or float(a.get("alpha", 1.0)) != 1.0 or float(a.get("beta", 1.0)) != 1.0:
        raise ConvcalcError("transA, alpha or beta other than PyTorch's linear layer")
    w, dims = _weight(ctx, node, 1)
    out = dims[0] if a.get("transB", 0) else dims[1]
    ctx.emit(node, "linear", {"out_features": int(out), "bias": len(node.input) > 2 and bool(node.input[2])}, weight=w)


def matmul(node: Any, i: int, ctx: Context) -> None:
    """x @ W with W an initializer: a linear layer; an Add of a 1-D initializer right after it is
    its bias."""
    w, dims = _weight(ctx, node, 1)
    if len(dims) != 2:
        raise ConvcalcError(f"a weight of {len(dims)} dimensions (a linear layer's is 2)")
    out, bias = node.output[0], False
    nxt = ctx.only_consumer(out, "Add")
    if nxt is not None:
        j, add = nxt
        other = [t for t in add.input if t != out]
        if len(other) == 1 and ctx.g.is_weight(other[0]) and tuple(ctx.g.shape(other[0])) == (dims[1],):
            ctx.done.add(j)
            out, bias = add.output[0], True
    ctx.emit(node, "linear", {"out_features": int(dims[1]), "bias": bias}, out=out, weight=w)


def elementwise(node: Any, i: int, ctx: Context) -> None:
    """Add, Mul or Sum of computed tensors: a join (PyTorch's broadcasting); an Add of a learned
    table of positions: a position embedding."""
    operands = ctx.operands(node)
    others = [t for t in node.input if t and t not in operands]
    if node.op_type == "Add" and len(operands) == 1 and len(others) == 1:
        _positions(node, ctx, operands[0], others[0])
        return
    if len(operands) < 2 or others:
        raise ConvcalcError("an operation with a constant operand (only sums and products of computed tensors are mapped)")
    ctx.join(node, "multiply" if node.op_type == "Mul" else "add", operands)


def _positions(node: Any, ctx: Context, x: str, table: str) -> None:
    """x + a learned table: ViT's pos_embedding (an initializer of T rows), or GPT-2's wpe read at
    0..T-1 (a Gather of an initializer at positions the graph counts from the shape)."""
    made = ctx.g.made_by.get(table)
    if ctx.g.is_weight(table):
        dims = [d for d in ctx.g.shape(table) if d != 1] or [1]
        if len(dims) != 2:
            raise ConvcalcError(f"an added constant of shape {list(ctx.g.shape(table))} (a table of positions is 2-D)")
        ctx.emit(node, "positionembedding", {"num_positions": int(dims[0])}, weight=table)
    elif made is not None and made.op_type == "Gather" and ctx.g.is_weight(made.input[0]):
        rows = int(ctx.g.shape(made.input[0])[0])
        kind, ids = _indices(ctx, made.input[1])
        if kind == "range":  # positions 0..T-1 counted by the graph (GPT-2's wpe)
            ctx.emit(node, "positionembedding", {"num_positions": rows, "indexed": True}, weight=made.input[0])
        elif ids and all(v == k for k, v in enumerate(ids)):  # a registered buffer 0..P-1 sliced (BERT's position_ids)
            ctx.emit(node, "positionembedding", {"num_positions": rows, "indexed": True, "ids": "buffer"}, weight=made.input[0])
        elif ids and all(v == 0 for v in ids):  # a buffer of zeros sliced (BERT's token_type_ids)
            ctx.emit(node, "tokentypeembedding", {"num_token_types": rows, "max_positions": len(ids)}, weight=made.input[0])
        else:
            raise ConvcalcError("an added table read at indices that are neither positions nor token types")
    else:
        raise ConvcalcError("an add of a constant that is not a table of positions")


def _indices(ctx: Context, name: str) -> tuple:
    """Where a table's indices come from: ("range", None) for a Range the graph computes, or
    ("buffer", its values) for a constant reached through Expand, Slice, Unsqueeze, Cast or
    Reshape (the values as stored, before the slice); (None, None) otherwise."""
    for _ in range(20):
        if name in ctx.g.constants:
            return "buffer", ctx.g.constants[name]
        made = ctx.g.made_by.get(name)
        if made is None:
            return None, None
        if made.op_type == "Range":
            return "range", None
        if made.op_type not in ("Expand", "Slice", "Unsqueeze", "Cast", "Reshape", "Squeeze"):
            return None, None
        name = made.input[0]
    return None, None


def gather(node: Any, i: int, ctx: Context) -> None:
    """A table read at the input's indices: an embedding; one token of a computed sequence
    (x[:, 0], ViT's and BERT's class token): a selecttoken."""
    index = ctx.constant(node.input[1])
    if ctx.operands(node) == [node.input[0]] and index is not None and len(index) == 1 and int(attrs(node).get("axis", 0)) == 1:
        ctx.emit(node, "selecttoken", {"index": int(index[0])})
        return
    w, dims = _weight(ctx, node, 0)
    if int(attrs(node).get("axis", 0)) != 0 or len(dims) != 2 or ctx.operands(node) != [node.input[1]]:
        raise ConvcalcError("a gather other than rows of a 2-D table at computed indices")
    ctx.emit(node, "embedding", {"num_embeddings": int(dims[0]), "embedding_dim": int(dims[1])}, weight=w)


def concat(node: Any, i: int, ctx: Context) -> None:
    operands = ctx.operands(node)
    axis = int(attrs(node)["axis"])
    others = [t for t in node.input if t and t not in operands]
    if others:
        # torch.cat([class_token.expand(N, -1, -1), x], dim=1): a class token (ViT)
        made = ctx.g.made_by.get(others[0])
        token = made.input[0] if made is not None and made.op_type == "Expand" else others[0]
        if len(others) == 1 and len(operands) == 1 and node.input[0] == others[0] and axis == 1 and ctx.g.is_weight(token):
            ctx.emit(node, "classtoken", None, weight=token)
            return
        raise ConvcalcError("a concat with a constant part other than a class token in front")
    if len(operands) == 1:
        ctx.alias(node.output[0], operands[0])
        return
    rank = len(ctx.shape(operands[0]))
    ctx.join(node, "concat", operands, {"dim": axis % rank})


def flatten(node: Any, i: int, ctx: Context) -> None:
    axis = int(attrs(node).get("axis", 1))
    if axis != 1:
        raise ConvcalcError(f"Flatten at axis {axis} (PyTorch's flatten keeps the batch: axis 1)")
    ctx.emit(node, "flatten", None)


def reshape(node: Any, i: int, ctx: Context) -> None:
    """A reshape that flattens every dimension after the batch, or the reshape, transpose, reshape
    of a channel shuffle."""
    src = ctx.shape(ctx.operands(node)[0])
    dst = ctx.g.shape(node.output[0])
    if dst is None and ctx.constant(node.input[1]) is not None:
        dst = tuple(ctx.constant(node.input[1]))
    if dst is None:
        raise ConvcalcError("the target shape is unknown")
    if len(dst) == 2 and len(src) > 2:
        ctx.emit(node, "flatten", None)
        return
    if 2 <= len(dst) < len(src) and tuple(dst[:-1]) == tuple(src[: len(dst) - 1]) and src[0] == dst[0]:
        # the trailing dimensions merged into one: torch.flatten(x, start_dim) (ViT's patches: N,768,14,14 -> N,768,196)
        last = dst[-1]
        merged = 1
        for d in src[len(dst) - 1:]:
            merged = merged * d if isinstance(d, int) and isinstance(merged, int) else None
        if not isinstance(last, int) or merged == last:
            ctx.emit(node, "flatten", {"start_dim": len(dst) - 1})
            return
    nxt = ctx.only_consumer(node.output[0], "Transpose")
    if nxt is not None and len(dst) == len(src) + 1:
        j, tr = nxt
        perm = list(attrs(tr).get("perm", []))
        back = ctx.only_consumer(tr.output[0], "Reshape")
        if perm[:3] == [0, 2, 1] and perm[3:] == list(range(3, len(dst))) and back is not None and isinstance(dst[1], int):
            k, last = back
            ctx.done.update((j, k))
            ctx.emit(node, "channelshuffle", {"groups": int(dst[1])}, out=last.output[0])
            ctx.g.learn(last.output[0], src)  # a shuffle keeps the shape ONNX's inference may lose
            return
    raise ConvcalcError(f"a reshape of {list(src)} to {list(dst)} (only flattening and channel shuffles are mapped)")


def transpose(node: Any, i: int, ctx: Context) -> None:
    perm = [int(p) for p in attrs(node).get("perm", [])]
    if not perm or perm[0] != 0:
        raise ConvcalcError(f"a permutation {perm} that moves the batch")
    ctx.emit(node, "permute", {"dims": perm})


def softmax(node: Any, i: int, ctx: Context) -> None:
    ctx.emit(node, "logsoftmax" if node.op_type == "LogSoftmax" else "softmax", {"dim": int(attrs(node).get("axis", -1))})


def clip(node: Any, i: int, ctx: Context) -> None:
    a = attrs(node)
    lo = a.get("min", ctx.constant(node.input[1])[0] if len(node.input) > 1 and ctx.constant(node.input[1]) else None)
    hi = a.get("max", ctx.constant(node.input[2])[0] if len(node.input) > 2 and ctx.constant(node.input[2]) else None)
    if lo is None or hi is None:
        raise ConvcalcError("a clip without both bounds as constants")
    if (lo, hi) == (0, 6):
        ctx.emit(node, "relu6", None)
    else:
        ctx.emit(node, "hardtanh", {"min_val": float(lo), "max_val": float(hi)})


def sigmoid(node: Any, i: int, ctx: Context) -> None:
    """Sigmoid, or SiLU when its one reader multiplies it by its own input (x * sigmoid(x))."""
    x = ctx.operands(node)[0]
    nxt = ctx.only_consumer(node.output[0], "Mul")
    if nxt is not None:
        j, mul = nxt
        if sorted(ctx.resolve(t) for t in mul.input) == sorted([ctx.resolve(x), node.output[0]]):
            ctx.done.add(j)
            ctx.emit(node, "silu", None, out=mul.output[0])
            return
    ctx.emit(node, "sigmoid", None)


def activation(kind: str, params: Callable[[dict], dict] | None = None) -> Callable:
    def handler(node: Any, i: int, ctx: Context) -> None:
        ctx.emit(node, kind, params(attrs(node)) if params else None)

    return handler


def resize(node: Any, i: int, ctx: Context) -> None:
    """Resize by constant scales of the spatial axes (batch and channels kept): nn.Upsample,
    nearest or (bi/tri)linear."""
    a = attrs(node)
    rank = _rank(ctx, node)
    nd = rank - 2
    scales = ctx.g.value(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if not scales:
        raise ConvcalcError("a resize to sizes, or by scales that are not constants, is not mapped")
    if len(scales) != rank or scales[:2] != [1, 1] or any(float(s) != int(s) for s in scales[2:]):
        raise ConvcalcError(f"scales {scales} (whole-number scales of the spatial axes are mapped)")
    mode = _text_attr(a, "mode", "nearest")
    modes = {"nearest": "nearest", "linear": {1: "linear", 2: "bilinear", 3: "trilinear"}.get(nd), "cubic": "bicubic" if nd == 2 else None}
    if modes.get(mode) is None:
        raise ConvcalcError(f"mode {mode} in {nd} dimensions")
    params: dict = {"scale_factor": _one([int(s) for s in scales[2:]]), "mode": modes[mode]}
    if mode != "nearest":
        params["align_corners"] = _text_attr(a, "coordinate_transformation_mode", "half_pixel") == "align_corners"
    ctx.emit(node, "upsample", params)


def pad(node: Any, i: int, ctx: Context) -> None:
    """Constant (zero), reflect or edge padding of the spatial axes: nn.ZeroPad2d, ConstantPad,
    ReflectionPad, ReplicationPad (PyTorch's order: last axis first, begin then end)."""
    a = attrs(node)
    rank = _rank(ctx, node)
    nd = rank - 2
    pads = ctx.g.value(node.input[1]) if len(node.input) > 1 and node.input[1] else list(a.get("pads", []))
    if not pads or len(pads) != 2 * rank or any(pads[k] or pads[k + rank] for k in range(2)) or min(pads) < 0:
        raise ConvcalcError(f"pads {pads} (non-negative pads of the spatial axes are mapped)")
    torch_order = [int(v) for d in range(rank - 1, 1, -1) for v in (pads[d], pads[d + rank])]
    mode = _text_attr(a, "mode", "constant")
    value = ctx.g.value(node.input[2]) if len(node.input) > 2 and node.input[2] else [0]
    kind = {"constant": "zeropad" if not value or value[0] == 0 else "constantpad", "reflect": "reflectionpad",
            "edge": "replicationpad"}.get(mode)
    if kind is None or nd not in (1, 2, 3):
        raise ConvcalcError(f"mode {mode} in {nd} dimensions")
    params: dict = {"padding": torch_order}
    if kind == "constantpad":
        params["value"] = float(value[0])
    ctx.emit(node, f"{kind}{nd}d", params)


def prelu(node: Any, i: int, ctx: Context) -> None:
    _, dims = _weight(ctx, node, 1)
    n = 1
    for d in dims:
        n *= int(d)
    ctx.emit(node, "prelu", {"num_parameters": n}, weight=node.input[1])


OPS: dict[str, Callable] = {
    "Conv": conv,
    "ConvTranspose": conv_transpose,
    "MaxPool": pool,
    "AveragePool": pool,
    "GlobalAveragePool": global_pool,
    "GlobalMaxPool": global_pool,
    "ReduceMean": reduce_mean,
    "BatchNormalization": norm,
    "InstanceNormalization": norm,
    "LayerNormalization": layer_norm,
    "Gemm": gemm,
    "MatMul": matmul,
    "Add": elementwise,
    "Mul": elementwise,
    "Sum": elementwise,
    "Concat": concat,
    "Resize": resize,
    "Pad": pad,
    "Gather": gather,
    "Slice": slice_,
    "Flatten": flatten,
    "Reshape": reshape,
    "Transpose": transpose,
    "Softmax": softmax,
    "LogSoftmax": softmax,
    "Clip": clip,
    "Sigmoid": sigmoid,
    "PRelu": prelu,
    "Relu": activation("relu"),
    "Tanh": activation("tanh"),
    "HardSwish": activation("hardswish"),
    "HardSigmoid": activation("hardsigmoid"),
    "Elu": activation("elu", lambda a: {"alpha": float(a.get("alpha", 1.0))}),
    "LeakyRelu": activation("leakyrelu", lambda a: {"negative_slope": float(a.get("alpha", 0.01))}),
    "Selu": activation("selu"),
    "Softplus": activation("softplus"),
    "Mish": activation("mish"),
    "Gelu": activation("gelu", lambda a: {"approximate": (a.get("approximate", b"none") or b"none").decode()
                                          if isinstance(a.get("approximate", b"none"), bytes) else a.get("approximate", "none")}),
}
