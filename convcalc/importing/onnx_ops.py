"""ONNX ops as convcalc layers (issue 16): one handler per op type, registered in OPS, each turning
a node (and the nodes a pattern folds into it) into a network file's item. A handler states what
it cannot map by raising ConvcalcError; onnx_graph names the node.

Attribute defaults are ONNX's, not PyTorch's: a pool's stride defaults to 1 and AveragePool's
count_include_pad to 0, so both are always written out.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import ConvcalcError

#: ops on shapes: their outputs are shape arithmetic, not computed tensors
SHAPE_OPS = ("Shape", "Size")


class Context:
    """The walk's state: the items so far, the tensor the running chain holds (``current``), who
    produced each tensor (to mark it ``save:`` when read again), aliases, and the initializers
    layers have used (for ``tie:``)."""

    def __init__(self, graph: Any, input_name: str, label: str):
        self.g = graph
        self.input = input_name
        self.label = label
        self.items: list = []
        self.current = input_name
        self.producer: dict = {}
        self.aliases: dict = {}
        self.done: set = set()  # nodes folded into an earlier layer
        self.data = {input_name}  # computed tensors (they depend on the input)
        self.weights: dict = {}  # initializer -> the name of the first layer that used it
        self.input_saved = False
        # node index -> (kind, the module's node indices): attention and GELU modules, emitted as one
        # layer at their first node that computes
        self.regions = {m: found for found in regions(graph).values() for m in found[1]}

    # -- the graph -------------------------------------------------------------------------------
    def computed(self, node: Any) -> bool:
        """Whether the node computes on the input (else it is shape arithmetic or constants); its
        outputs join the computed tensors."""
        if node.op_type in SHAPE_OPS or not any(self.resolve(t) in self.data for t in node.input if t):
            return False
        self.data.update(node.output)
        return True

    def resolve(self, name: str) -> str:
        while name in self.aliases:
            name = self.aliases[name]
        return name

    def alias(self, name: str, to: str) -> None:
        self.aliases[name] = self.resolve(to)
        if self.resolve(to) in self.data:
            self.data.add(name)

    def operands(self, node: Any) -> list:
        """The node's computed inputs."""
        return [t for t in node.input if t and self.resolve(t) in self.data]

    def only_consumer(self, name: str, op: str) -> tuple | None:
        """(index, node) of the one node reading name, when it is an op of that type."""
        users = self.g.consumers.get(name, [])
        if len(users) == 1 and self.g.graph.node[users[0]].op_type == op:
            return users[0], self.g.graph.node[users[0]]
        return None

    def constant(self, name: str) -> list | None:
        return self.g.constants.get(name) if name else None

    def shape(self, name: str) -> tuple:
        s = self.g.shape(self.resolve(name)) or self.g.shape(name)
        if s is None:
            raise ConvcalcError(f"the shape of {name!r} is unknown (ONNX shape inference gave none)")
        return s

    # -- emitting ----------------------------------------------------------------------------------
    def save(self, name: str) -> str:
        """The name a later from: reads the tensor under (its producer marked save:)."""
        name = self.resolve(name)
        if name == self.input:
            self.input_saved = True
            return "input"
        item = self.producer.get(name)
        if item is None:
            raise ConvcalcError(f"{name!r} is read before any layer computes it")
        item.setdefault("save", name)
        return item["save"]

    def use(self, name: str) -> None:
        """Continue the chain from tensor name (a from: item when it is not the current one)."""
        name = self.resolve(name)
        if name != self.current:
            self.items.append({"from": self.save(name)})
            self.current = name

    def emit(self, node: Any, kind: str, params: dict | None, *, out: str | None = None, weight: str | None = None,
             extra: dict | None = None) -> dict:
        """A layer on the node's computed input; out: the tensor it yields (the node's first output)."""
        operands = self.operands(node)
        if len(operands) != 1:
            raise ConvcalcError(f"expects one computed input, got {len(operands)}")
        self.use(operands[0])
        item: dict = {kind: params or None, "name": node.name or node.output[0]}
        if weight is not None:
            weight = self.g.initializers[weight].name  # the initializer itself, through an Identity
            if weight in self.weights:
                item["tie"] = self.weights[weight]
            else:
                self.weights[weight] = item["name"]
        item.update(extra or {})
        return self._append(item, out or node.output[0])

    def join(self, node: Any, kind: str, operands: list, extra: dict | None = None) -> dict:
        """A block joining computed tensors: the current one as an empty branch, the others read
        with from:."""
        branches, used_current = [], False
        for t in operands:
            if self.resolve(t) == self.current and not used_current:
                branches.append([])
                used_current = True
            else:
                branches.append([{"from": self.save(t)}])
        item = {kind: {"branches": branches, **(extra or {})}, "name": node.name or node.output[0]}
        return self._append(item, node.output[0])

    def _append(self, item: dict, out: str) -> dict:
        self.items.append(item)
        self.producer[out] = item
        self.current = out
        self.data.add(out)
        return item

    def stand_in(self, node: Any) -> None:
        """A node that could not be mapped: its outputs are taken as computed (by no item), so that
        the nodes after it are judged on their own and only the nodes that fail are named."""
        for out in node.output:
            self.producer[out] = {}
            self.data.add(out)
        if node.output:
            self.current = node.output[0]

    def finish(self) -> list:
        items = ([{"identity": None, "name": "input", "save": "input"}] if self.input_saved else []) + self.items
        return blocks(items)


# -- helpers ---------------------------------------------------------------------------------------
def attrs(node: Any) -> dict:
    """A node's attributes as Python values."""
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _f32(v: Any) -> float:
    """A float attribute as written in the model's source (ONNX stores float32: 1e-5 reads back as
    9.999999747378752e-06)."""
    return float(f"{float(v):.7g}")


def _one(values: list) -> Any:
    """A per-dimension value written once when every dimension has it."""
    values = [int(v) for v in values]
    return values[0] if len(set(values)) == 1 else values


def _pads(a: dict, nd: int) -> list:
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto not in ("NOTSET", "VALID"):
        raise ConvcalcError(f"auto_pad {auto} (padding that depends on the input size) is not mapped")
    pads = list(a.get("pads", [0] * (2 * nd)))
    if pads[:nd] != pads[nd:]:
        raise ConvcalcError(f"asymmetric padding {pads}: PyTorch pads both sides alike")
    return pads[:nd]


def _weight(ctx: Context, node: Any, index: int) -> tuple:
    name = node.input[index] if len(node.input) > index else ""
    if not name or not ctx.g.is_weight(name):
        raise ConvcalcError(f"input {index} is not an initializer (a weight): a product of two computed tensors is not mapped")
    return name, ctx.g.shape(name)


def _rank(ctx: Context, node: Any) -> int:
    return len(ctx.shape(ctx.operands(node)[0]))


# -- handlers --------------------------------------------------------------------------------------
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
        ctx._append({"flatten": None, "name": f"{node.name or node.output[0]} (dims dropped)"}, node.output[0])


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


def _slice(ctx: Context, node: Any) -> tuple | None:
    """(axis, start, end) of a Slice of one axis with step 1, its bounds known; None otherwise."""
    starts, ends = ctx.g.value(node.input[1]), ctx.g.value(node.input[2])
    axes = ctx.g.value(node.input[3]) if len(node.input) > 3 and node.input[3] else [0]
    steps = ctx.g.value(node.input[4]) if len(node.input) > 4 and node.input[4] else [1]
    if None in (starts, ends, axes, steps) or len(axes) != 1 or steps != [1]:
        return None
    return int(axes[0]), int(starts[0]), int(ends[0])


def _varies(ctx: Context, name: str) -> bool:
    """Whether a tensor is computed from the input, not a weight, a constant or shape arithmetic
    (for nodes the walk has not reached yet)."""
    made = ctx.g.made_by.get(name)
    return made is not None and made.op_type != "Constant" and name not in ctx.g.initializers and ctx.g.value(name) is None


def _chain(ctx: Context, start: str, stop: Any) -> list | None:
    """The nodes (indices) from tensor start to the node stop reads it through: each reading one
    computed tensor and read by one node; None when the path branches."""
    path, name = [], start
    while True:
        users = ctx.g.consumers.get(name, [])
        computing = [j for j in users if ctx.g.graph.node[j].op_type not in SHAPE_OPS]
        if len(computing) != 1:
            return None
        j = computing[0]
        node = ctx.g.graph.node[j]
        if node is stop:
            return path
        if len([t for t in node.input if t and (t == name or _varies(ctx, t))]) != 1:
            return None
        path.append(j)
        name = node.output[0]


def slice_(node: Any, i: int, ctx: Context) -> None:
    """torch.chunk(x, 2, dim) as ONNX exports it: two Slices of one tensor, halves of an axis, each
    half's chain of nodes ending in one Concat along the same axis: a chunk block whose branches
    are the chains (ShuffleNetV2's units)."""
    part = _slice(ctx, node)
    x = node.input[0]
    shape = ctx.shape(x)
    if part is None or part[0] % len(shape) == 0:
        raise ConvcalcError("a slice whose bounds are not known, or of the batch axis")
    axis = part[0] % len(shape)
    size = shape[axis]
    others = [j for j in ctx.g.consumers.get(x, []) if j != i and ctx.g.graph.node[j].op_type == "Slice"]
    halves = [(j, _slice(ctx, ctx.g.graph.node[j])) for j in others]
    second = [(j, p) for j, p in halves if p is not None and p[0] % len(shape) == axis and p[1] == part[2] and p[2] >= size]
    if not isinstance(size, int) or part[1] != 0 or part[2] * 2 != size or not second:
        raise ConvcalcError(f"a slice [{part[1]}:{part[2]}] of axis {axis} (only the two halves of torch.chunk(x, 2) are mapped)")
    j = second[0][0]
    tails = {}
    for k, out in ((i, node.output[0]), (j, ctx.g.graph.node[j].output[0])):
        users = [u for u in ctx.g.consumers.get(out, []) if ctx.g.graph.node[u].op_type not in SHAPE_OPS]
        tails[k] = (out, users)
    # the Concat both halves' chains end in
    concat_node = None
    for out, users in tails.values():
        name = out
        while True:
            us = [u for u in ctx.g.consumers.get(name, []) if ctx.g.graph.node[u].op_type not in SHAPE_OPS]
            if len(us) != 1:
                break
            n = ctx.g.graph.node[us[0]]
            if n.op_type == "Concat":
                concat_node = n if concat_node in (None, n) else False
                break
            name = n.output[0]
    if not concat_node or int(attrs(concat_node)["axis"]) % len(shape) != axis or len([t for t in concat_node.input if t]) != 2:
        raise ConvcalcError("the two halves do not meet again in one concat along the same axis")
    branches = []
    ctx.use(x)
    outer_items, outer_current = ctx.items, ctx.current
    for k in (i, j):
        out = ctx.g.graph.node[k].output[0]
        chain = _chain(ctx, out, concat_node)
        if chain is None:
            raise ConvcalcError("a half's nodes branch before the concat")
        ctx.items, ctx.current = [], out
        ctx.data.add(out)
        ctx.g.learn(out, shape[:axis] + (part[2] - part[1],) + shape[axis + 1:])
        for m in chain:
            step = ctx.g.graph.node[m]
            if step.op_type in ("Dropout", "Identity"):
                ctx.alias(step.output[0], step.input[0])
            else:
                OPS[step.op_type](step, m, ctx)
            ctx.done.add(m)
        branches.append(ctx.items)
    ctx.items, ctx.current = outer_items, outer_current
    ctx.done.update((j, list(ctx.g.graph.node).index(concat_node)))
    parts = [ctx.g.shape(ctx.resolve(t)) or () for t in concat_node.input if t]
    if all(len(p) == len(shape) and isinstance(p[axis], int) for p in parts):
        ctx.g.learn(concat_node.output[0], shape[:axis] + (sum(p[axis] for p in parts),) + shape[axis + 1:])
    item = {"chunk": {"chunks": 2, "dim": axis, "branches": branches, "join": "concat"}, "name": node.name or node.output[0]}
    ctx._append(item, concat_node.output[0])


#: ops a GELU written out (erf or tanh form) is made of
GELU_OPS = {"Mul", "Add", "Div", "Pow", "Tanh", "Erf", "Sqrt", "Constant", "Sub"}


def regions(graph: Any) -> dict:
    """Modules the exporter wrote as many nodes (named by module path), found by what they hold:
    attention (a Softmax, in the smallest enclosing module with two products by weights: the
    projections in and out) and GELU (a Tanh or Erf among only the ops of its formula). Returns
    node index -> (kind, the module's node indices)."""
    nodes = graph.graph.node
    by_prefix: dict = {}
    for j, n in enumerate(nodes):
        parts = n.name.split("/")
        for depth in range(1, len(parts)):
            by_prefix.setdefault("/".join(parts[:depth]) + "/", []).append(j)
    found: dict = {}
    for j, n in enumerate(nodes):
        kind = "attention" if n.op_type == "Softmax" else "gelu" if n.op_type in ("Tanh", "Erf") else None
        parts = n.name.split("/")
        if kind is None or len(parts) < 2:
            continue
        for depth in range(len(parts) - 1, 0, -1):
            members = by_prefix.get("/".join(parts[:depth]) + "/", [])
            ops = {nodes[m].op_type for m in members}
            if kind == "gelu":
                if ops <= GELU_OPS and {"Mul", "Add"} <= ops:  # the formula, not a lone tanh
                    found.setdefault(members[0], ("gelu", members))
                break
            products = [m for m in members if nodes[m].op_type in ("MatMul", "Gemm") and
                        any(graph.is_weight(t) for t in nodes[m].input[1:2])]
            if len(products) >= 2:
                found.setdefault(members[0], ("attention", members))
                break
    return found


def region(kind: str, members: list, ctx: Context) -> None:
    """A module found by regions(): one layer in place of all its nodes (one computed input, one
    output read outside)."""
    nodes = ctx.g.graph.node
    inside = set(members)
    made = {t for m in members for t in nodes[m].output}
    ins = {ctx.resolve(t) for m in members for t in nodes[m].input if t and t not in made and ctx.resolve(t) in ctx.data}
    outs = [t for m in members for t in nodes[m].output if _varies(ctx, t) and (
            any(u not in inside and nodes[u].op_type not in SHAPE_OPS for u in ctx.g.consumers.get(t, []))
            or t in {o.name for o in ctx.g.graph.output})]  # a constant shared with other modules is not an output
    name = nodes[members[0]].name.rsplit("/", 1)[0]
    if len(ins) != 1 or len(outs) != 1:
        raise ConvcalcError(f"module {name}: {len(ins)} computed inputs and {len(outs)} outputs (a layer has one each)")
    (x,) = ins
    ops = [nodes[m].op_type for m in members]
    if kind == "gelu":
        params = {"approximate": "tanh" if "Tanh" in ops else "none"}
        layer = "gelu"
    else:
        heads = None
        for m in members:
            if nodes[m].op_type == "Softmax":
                s = ctx.g.shape(nodes[m].input[0]) or ()
                heads = s[1] if len(s) == 4 and isinstance(s[1], int) else None
        if heads is None:  # the heads' reshape: (..., heads, head_dim) with heads x head_dim = E
            e = ctx.shape(x)[-1]
            for m in members:
                s = ctx.g.shape(nodes[m].output[0]) or ()
                if nodes[m].op_type == "Reshape" and len(s) >= 4 and all(isinstance(d, int) for d in s[-2:]) and s[-2] * s[-1] == e:
                    heads = s[-2]
                    break
        if heads is None:
            raise ConvcalcError(f"module {name}: the number of heads is not in the graph's shapes")
        bias = any(nodes[m].op_type in ("Add", "Gemm") and any(ctx.g.is_weight(t) for t in nodes[m].input if t)
                   and (nodes[m].op_type == "Add" or len(nodes[m].input) > 2) for m in members)
        params = {"num_heads": int(heads), "bias": bias}
        if "Trilu" in ops:
            params["causal"] = True
        layer = "multiheadattention"
    ctx.use(x)
    ctx.done.update(members)
    ctx._append({layer: params, "name": name}, outs[0])


def _text_attr(a: dict, key: str, default: str) -> str:
    v = a.get(key, default)
    return v.decode() if isinstance(v, bytes) else str(v)


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


# -- structure -------------------------------------------------------------------------------------
def _refs(items: list, counts: dict) -> dict:
    """How many from: items read each saved name (in blocks' branches too)."""
    for item in items:
        if "from" in item:
            counts[item["from"]] = counts.get(item["from"], 0) + 1
        for key, body in item.items():
            if isinstance(body, dict):
                for part in ("body", "shortcut"):
                    if isinstance(body.get(part), list):
                        _refs(body[part], counts)
                for branch in body.get("branches", []) or []:
                    _refs(branch, counts)
    return counts


def _join_reads(item: dict, kind: str) -> str | None:
    """The saved name a two-branch join reads beside the current tensor ([[], [from: NAME]])."""
    body = item.get(kind)
    if not isinstance(body, dict) or set(body) != {"branches"} or len(body["branches"]) != 2:
        return None
    a, b = body["branches"]
    other = b if a == [] else a if b == [] else None
    if other is None or len(other) != 1 or set(other[0]) != {"from"}:
        return None
    return other[0]["from"]


def blocks(items: list) -> list:
    """The flat walk's items with residual and squeeze-and-excitation blocks recovered, as a network
    file writes them: save X, body..., add [[], [from: X]] is residual {body, shortcut: []}; save X,
    body... (save M), from: X, shortcut..., add [[], [from: M]] is residual {body, shortcut}; save X,
    body..., multiply [[], [from: X]] is scale {body}. Only where the names are read nowhere else."""
    refs = _refs(items, {})
    out: list = []
    for item in items:
        kind = "add" if "add" in item else "multiply" if "multiply" in item else None
        name = _join_reads(item, kind) if kind else None
        start = next((k for k in range(len(out) - 1, -1, -1) if out[k].get("save") == name), None) if name else None
        if start is None or refs.get(name) != 1:
            out.append(item)
            continue
        tail = out[start + 1:]
        label = {"name": item["name"]} if "name" in item else {}
        if not tail or any("from" in t for t in tail):
            # the projection shortcut: body (its end saved as M), from: X, shortcut, then add reads M?
            out.append(item)
            continue
        if kind == "add":
            block = {"residual": {"body": tail, "shortcut": []}, **label}
        else:
            block = {"scale": {"body": tail}, **label}
        saved = out[start]
        if refs.get(saved.get("save")) == 1:
            saved.pop("save")
        del out[start + 1:]
        if "save" in item:
            block["save"] = item["save"]
        out.append(block)
    return _projections(out, refs)


def _projections(items: list, refs: dict) -> list:
    """save X, body (ending in save M), from: X, shortcut, add [[], [from: M]]: a residual block with
    a shortcut (ResNet's downsample)."""
    out: list = []
    for item in items:
        name = _join_reads(item, "add") if "add" in item else None
        if name is None or refs.get(name) != 1:
            out.append(item)
            continue
        end = next((k for k in range(len(out) - 1, -1, -1) if out[k].get("save") == name), None)
        back = next((k for k in range(len(out) - 1, end if end is not None else -1, -1) if "from" in out[k]), None)
        if end is None or back is None:
            out.append(item)
            continue
        x = out[back]["from"]
        start = next((k for k in range(end, -1, -1) if out[k].get("save") == x), None)
        body, shortcut = out[start + 1:end + 1] if start is not None else None, out[back + 1:]
        if start is None or refs.get(x) != 1 or any("from" in t for t in body + shortcut) or back != end + 1:
            out.append(item)
            continue
        body[-1].pop("save")
        block = {"residual": {"body": body, "shortcut": shortcut}}
        if "name" in item:
            block["name"] = item["name"]
        if "save" in item:
            block["save"] = item["save"]
        if refs.get(out[start].get("save")) == 1:
            out[start].pop("save")
        del out[start + 1:]
        out.append(block)
    return out
