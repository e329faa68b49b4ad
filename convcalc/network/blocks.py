"""Evaluating blocks: sequential, residual, and the branches that meet at a join.

Branches of ``concat``, ``add`` and ``multiply`` (and ``scale``, which is x * body(x)) take the
block's input; those of ``chunk`` and ``split`` take its parts, and their outputs meet at
``join`` (concat along the same dim by default). A branch whose first item is ``from: NAME``
starts from that saved output instead. Shapes are checked where they meet: a concat's along all
but its dim, an add's or multiply's with PyTorch's broadcasting (a size 1 broadcasts); symbolic
sizes equal only for some inputs put that condition into the report's domain (joins.py). The
joins' counts come from layers/combine.py; the training step's from step.py.
"""

from __future__ import annotations

from typing import Any, Callable

from .. import sizes
from ..errors import ConvcalcError
from ..expr import parse_expr
from ..layers.combine import join_counts
from ..report import DTYPE_BYTES
from . import receptive
from .joins import same as _same
from .reading import Item, fail
from .state import ROW_COUNTS, _Ctx, _row, _show, _State, _sum

Run = Callable[[list, _State, _Ctx, int], _State]


def evaluate(item: Item, kids: dict, state: _State, ctx: _Ctx, depth: int, path: str, run: Run) -> _State:
    """Run a block (its children's paths already under ``path``): its rows, then its own row."""
    start = len(ctx.rows)
    ctx.rows.append(None)  # the block's own row, filled in below
    if item.kind == "sequential":
        out = run(kids["layers"], state, ctx, depth + 1)
    elif item.kind == "residual":
        out = _residual(item, kids, state, ctx, depth, path, start, run)
    elif item.kind in ("chunk", "split"):
        out = _split(item, kids["branches"], state, ctx, depth, path, start, run)
    else:
        branches = [[], kids["body"]] if item.kind == "scale" else kids["branches"]
        join = "multiply" if item.kind == "scale" else item.kind
        outs, traces = _branches(branches, [state] * len(branches), state, ctx, depth, run)
        out = _join(item, join, outs, traces, state, ctx, depth, path, item.params.get("dim", 1))
        _fork(ctx, start, state, sum(1 for b in branches if not (b and b[0].kind == "from")))
    children = [r for r in ctx.rows[start + 1 :] if r is not None and not r["block"]]
    totals = {k: _sum([r[k] for r in children]) for k in ROW_COUNTS}
    ctx.rows[start] = _row(ctx, item, path, depth, item.kind, out.shape, totals, out.rf, True)
    if ctx.step is not None:
        ctx.rows[start].update(ctx.step.block(children, start, len(ctx.rows)))
    return out


def _bytes(shape: tuple, ctx: _Ctx) -> Any:
    return sizes.prod(shape) * ctx.batch * DTYPE_BYTES[ctx.dtype]


def _fork(ctx: _Ctx, start: int, state: _State, readers: int) -> None:
    """The block's input read by several branches: their gradients are summed (training)."""
    if ctx.step is not None:
        ctx.step.fork(start, state.tensor, sizes.prod(state.shape) * ctx.batch, readers)


def _residual(item: Item, kids: dict, state: _State, ctx: _Ctx, depth: int, path: str, start: int, run: Run) -> _State:
    outer, ctx.trace = ctx.trace, []
    held = _State(state.shape, state.rf, state.held + _bytes(state.shape, ctx), state.depth_seq, state.tensor)
    body = run(kids["body"], held, ctx, depth + 1)
    body_trace, ctx.trace = ctx.trace, []
    short = run(kids["shortcut"], _State(state.shape, state.rf, state.held + _bytes(body.shape, ctx), state.depth_seq, state.tensor), ctx, depth + 1)
    outer.append(("residual", body_trace, ctx.trace, path, body.shape))
    ctx.trace = outer
    if not _same(body.shape, short.shape, ctx, f"{path}: the add joins {_show(body.shape)} and {_show(short.shape)}"):
        never = "" if all(sizes.all_int(*x) for x in zip(body.shape, short.shape)) else ", which are equal for no input"
        raise fail(ctx.file, item.line, path, f"the add joins shapes {_show(body.shape)} (body) and {_show(short.shape)} (shortcut){never}")
    out = _elementwise("add", [body, short], body.shape, item, state, ctx, depth, path)
    _fork(ctx, start, state, 2)
    return out


def _branches(branches: list, inputs: list, state: _State, ctx: _Ctx, depth: int, run: Run) -> tuple[list, list]:
    """Run each branch on its input: the outputs and the branches' traces."""
    outs, traces = [], []
    outer = ctx.trace
    held = state.held + _bytes(state.shape, ctx)
    for branch, given in zip(branches, inputs):
        ctx.trace = []
        result = run(branch, _State(given.shape, given.rf, held, state.depth_seq, given.tensor), ctx, depth + 1)
        traces.append(ctx.trace)
        held = held + _bytes(result.shape, ctx)
        outs.append(result)
    ctx.trace = outer
    return outs, traces


def _axis(dim: Any, rank: int, ctx: _Ctx, item: Item, path: str) -> int:
    """PyTorch's dim (the batch at 0, negative from the end) as an index into a shape without the batch."""
    if not -(rank + 1) <= dim <= rank:
        raise fail(ctx.file, item.line, path, f"{item.kind}: dim {dim} is out of range for {rank + 1} dimensions (the batch is dimension 0)")
    index = dim if dim >= 0 else dim + rank + 1
    if index == 0:
        raise fail(ctx.file, item.line, path, f"{item.kind}: dim {dim} is the batch; convcalc does not join or split along it")
    return index - 1


def _join(item: Item, join: str, outs: list, traces: list, state: _State, ctx: _Ctx, depth: int, path: str, dim: Any) -> _State:
    first = outs[0].shape
    for j, o in enumerate(outs[1:], start=1):
        if len(o.shape) != len(first):
            raise fail(ctx.file, item.line, path, f"{join} joins branches of {len(first)} and {len(o.shape)} dimensions "
                       f"({_show(first)}, branch 0, and {_show(o.shape)}, branch {j})")
    if join == "concat":
        axis = _axis(dim, len(first), ctx, item, path)
        for j, o in enumerate(outs[1:], start=1):
            rest, other = first[:axis] + first[axis + 1 :], o.shape[:axis] + o.shape[axis + 1 :]
            where = f"{path}: the concat joins {_show(rest)} and {_show(other)}"
            if not _same(other, rest, ctx, where):
                never = "" if all(sizes.is_int(v) for v in first + o.shape) else " (equal for no input)"
                what = "the channels" if axis == 0 else f"dim {axis + 1}"
                raise fail(ctx.file, item.line, path, f"concat joins branches of shapes {_show(first)} (branch 0) and {_show(o.shape)} (branch {j}): all but {what} must match{never}")
        size = sizes.normalize(sum((o.shape[axis] for o in outs), start=0))
        shape = first[:axis] + (size,) + first[axis + 1 :]
        rf = receptive.merge([o.rf for o in outs]) if axis == 0 else None
        tensor = 0 if ctx.step is None else ctx.step.merge([o.tensor for o in outs])
        out = _State(shape, rf, state.held, sizes.smax(*[o.depth_seq for o in outs]), tensor)
        ctx.trace.append(("concat", traces, path, shape, axis))
        return out
    shape = _broadcast(join, outs, item, ctx, path)
    ctx.trace.append((join, traces, path, shape))
    return _elementwise(join, outs, shape, item, state, ctx, depth, path)


def _broadcast(join: str, outs: list, item: Item, ctx: _Ctx, path: str) -> tuple:
    """The shape of the branches' outputs broadcast together (PyTorch's rules: equal, or 1)."""
    shape = []
    for d, values in enumerate(zip(*[o.shape for o in outs])):
        real = [v for v in values if not (sizes.is_int(v) and v == 1)]
        if not real:
            shape.append(values[0])
            continue
        for v in real[1:]:
            if not _same((v,), (real[0],), ctx, f"{path}: the {join} joins {sizes.to_text(real[0])} and {sizes.to_text(v)} in dimension {d + 1}"):
                shown = " and ".join(f"{_show(o.shape)} (branch {j})" for j, o in enumerate(outs))
                raise fail(ctx.file, item.line, path, f"{join} joins shapes {shown} that do not broadcast (dimension {d + 1}: sizes must be equal, or 1)")
        shape.append(real[0])
    return tuple(shape)


def _elementwise(join: str, outs: list, shape: tuple, item: Item, state: _State, ctx: _Ctx, depth: int, path: str) -> _State:
    """The add or multiply where branches meet: a row of its own with its counts."""
    requires = None if ctx.step is None else [ctx.step.requires[o.tensor] for o in outs]
    counts = join_counts(join, [o.shape for o in outs], ctx.batch, requires)
    row_counts = {k: 0 for k in ROW_COUNTS}
    row_counts.update(counts["forward"])
    row_counts["flops"] = sizes.normalize(sum(counts["forward"].values()))
    row_counts["activation_bytes"] = sizes.normalize(_bytes(shape, ctx))
    rf = receptive.merge([o.rf for o in outs])
    row = _row(ctx, item, f"{path}.{join}", depth + 1, join, shape, row_counts, rf, False)
    if ctx.cost is not None:
        from ..roofline import join as roofline_of_join

        ctx.roofs.append(roofline_of_join(row_counts["flops"], [o.shape for o in outs], shape, ctx.batch, ctx.cost[0], ctx.dtype))
    if ctx.tally is not None:
        from ..conventions import join_values

        ctx.tally.add(join, join_values([o.shape for o in outs], shape, ctx.batch, row_counts))
    tensor = 0
    if ctx.step is not None:
        extra, tensor = ctx.step.join(counts, [o.tensor for o in outs], DTYPE_BYTES[ctx.dtype])
        row.update(extra)
    ctx.rows.append(row)
    if item.name is not None:
        ctx.named.setdefault(item.name, row)
    return _State(shape, rf, state.held, sizes.smax(*[o.depth_seq for o in outs]), tensor)


def _parts(item: Item, size: Any, ctx: _Ctx, path: str) -> list:
    """The sizes torch.chunk / torch.split cut a dimension of this size into."""
    if item.kind == "chunk":
        n = item.params["chunks"]
        if sizes.is_int(size):
            each = -(-size // n)
            return [each] * (size // each) + ([size % each] if size % each else [])
        each = sizes.ceil_div(size, n)  # symbolic: n parts, the last what remains
        return [each] * (n - 1) + [sizes.normalize(size - (n - 1) * each)]
    given = item.params["split_size_or_sections"]
    try:
        parts = [v if isinstance(v, int) else parse_expr(str(v)) for v in (given if isinstance(given, tuple) else (given,))]
    except ConvcalcError as e:
        raise fail(ctx.file, item.line, path, f"split: split_size_or_sections: {e.message}") from None
    for v in parts:
        if sizes.is_known_lt(v, 0) or (not isinstance(given, tuple) and sizes.is_known_lt(v, 1)):
            raise fail(ctx.file, item.line, path, f"split: split_size_or_sections: {sizes.to_text(v)} is not a size")
    if isinstance(given, tuple):
        total = sizes.normalize(sum(parts, start=0))
        if sizes.compare(total, size) not in (0, None):
            raise fail(ctx.file, item.line, path, f"split: the sections sum to {sizes.to_text(total)} but the dimension has "
                       f"{sizes.to_text(size)} (PyTorch's split_with_sizes needs them to sum exactly)")
        return parts
    each = parts[0]
    if sizes.all_int(size, each):
        return [each] * (size // each) + ([size % each] if size % each else [])
    n = sizes.known_int(sizes.ceil_div(size, each))
    if n is None:
        raise fail(ctx.file, item.line, path, "split: how many parts a symbolic size is cut into is unknown; give the sections as a list")
    return [each] * (n - 1) + [sizes.normalize(size - (n - 1) * each)]


def _split(item: Item, branches: list, state: _State, ctx: _Ctx, depth: int, path: str, start: int, run: Run) -> _State:
    dim = item.params.get("dim", 1)
    axis = _axis(dim, len(state.shape), ctx, item, path)
    parts = _parts(item, state.shape[axis], ctx, path)
    if len(parts) != len(branches):
        raise fail(ctx.file, item.line, path, f"{item.kind} cuts dimension {axis + 1} ({sizes.to_text(state.shape[axis])}) into "
                   f"{len(parts)} parts ({', '.join(sizes.to_text(p) for p in parts)}) but has {len(branches)} branches")
    inputs = []
    for size in parts:
        shape = state.shape[:axis] + (size,) + state.shape[axis + 1 :]
        tensor = state.tensor if ctx.step is None else ctx.step.view(state.tensor, sizes.normalize(_bytes(state.shape, ctx)))
        inputs.append(_State(shape, state.rf if axis == 0 else None, state.held, state.depth_seq, tensor))
    join = item.params.get("join", "concat")
    outs, traces = _branches(branches, inputs, state, ctx, depth, run)
    out = _join(item, join, outs, traces, state, ctx, depth, path, dim)
    if ctx.trace and ctx.trace[-1][2] == path:
        node = ctx.trace.pop()
        ctx.trace.append((item.kind, node[1], path, node[3], axis))
    return out
