"""Patterns of many ONNX nodes that are one PyTorch layer (issue 16): attention and GELU modules the
exporter writes out node by node (found by module path and by what they hold), and torch.chunk's two
Slices with the chains that end in one concat (a chunk block)."""

from __future__ import annotations

from typing import Any

from ..errors import ConvcalcError
from .onnx_context import SHAPE_OPS, Context, _varies, attrs


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
    ctx.place({layer: params, "name": name}, outs[0])


def _slice(ctx: Context, node: Any) -> tuple | None:
    """(axis, start, end) of a Slice of one axis with step 1, its bounds known; None otherwise."""
    starts, ends = ctx.g.value(node.input[1]), ctx.g.value(node.input[2])
    axes = ctx.g.value(node.input[3]) if len(node.input) > 3 and node.input[3] else [0]
    steps = ctx.g.value(node.input[4]) if len(node.input) > 4 and node.input[4] else [1]
    if None in (starts, ends, axes, steps) or len(axes) != 1 or steps != [1]:
        return None
    return int(axes[0]), int(starts[0]), int(ends[0])


def _chain(ctx: Context, start: str) -> tuple:
    """(the nodes (indices) from tensor start, each reading one computed tensor and read by one node,
    the node that ends it by reading a second computed tensor: a join); (None, None) when the path
    branches first."""
    path, name = [], start
    while True:
        computing = [j for j in ctx.g.consumers.get(name, []) if ctx.g.graph.node[j].op_type not in SHAPE_OPS]
        if len(computing) != 1:
            return None, None
        node = ctx.g.graph.node[computing[0]]
        if len([t for t in node.input if t and (t == name or _varies(ctx, t))]) != 1:
            return path, node
        path.append(computing[0])
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
    chains = [_chain(ctx, ctx.g.graph.node[k].output[0]) for k in (i, j)]
    concat_node = chains[0][1]
    if concat_node is None or chains[1][1] is not concat_node or concat_node.op_type != "Concat" or \
            int(attrs(concat_node)["axis"]) % len(shape) != axis or len([t for t in concat_node.input if t]) != 2:
        raise ConvcalcError("the two halves do not meet again in one concat along the same axis")
    branches = []
    ctx.use(x)
    outer_items, outer_current = ctx.items, ctx.current
    for k, (chain, _) in zip((i, j), chains):
        out = ctx.g.graph.node[k].output[0]
        ctx.items, ctx.current = [], out
        ctx.data.add(out)
        ctx.g.learn(out, shape[:axis] + (part[2] - part[1],) + shape[axis + 1:])
        for m in chain:
            step = ctx.g.graph.node[m]
            if step.op_type in ("Dropout", "Identity"):
                ctx.alias(step.output[0], step.input[0])
            elif step.op_type in ctx.ops:
                ctx.ops[step.op_type](step, m, ctx)
            else:
                raise ConvcalcError(f"{step.name or step.output[0]} ({step.op_type}) in a half: no layer maps it")
            ctx.done.add(m)
        branches.append(ctx.items)
    ctx.items, ctx.current = outer_items, outer_current
    ctx.done.update((j, list(ctx.g.graph.node).index(concat_node)))
    parts = [ctx.g.shape(ctx.resolve(t)) or () for t in concat_node.input if t]
    if all(len(p) == len(shape) and isinstance(p[axis], int) for p in parts):
        ctx.g.learn(concat_node.output[0], shape[:axis] + (sum(p[axis] for p in parts),) + shape[axis + 1:])
    item = {"chunk": {"chunks": 2, "dim": axis, "branches": branches, "join": "concat"}, "name": node.name or node.output[0]}
    ctx.place(item, concat_node.output[0])


#: ops a GELU written out (erf or tanh form) is made of
