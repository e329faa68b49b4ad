"""Evaluating a network's items: each layer built and reported, blocks run by blocks.py."""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import sizes
from ..errors import ConvcalcError
from ..layers.registry import LAYERS
from ..report import DTYPE_BYTES
from . import blocks, receptive
from .reading import Item, did_you_mean, fail
from .state import ROW_COUNTS, Output, _Ctx, _State, _row

#: a network that expands (repeats included) to more layers than this is refused: 50,000 small
#: layers take about 2 s numerically (a table of 50,000 rows included), about 0.4 ms a layer with a
#: symbolic input (MAX_SYMBOLIC_LAYERS)
MAX_LAYERS = 50_000


def _repeat_count(item: Item, ctx: _Ctx) -> int:
    r = item.repeat
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise fail(ctx.file, item.line, item.path, f"repeat must be a positive whole number, got {r!r}")
    return r


def _count_layers(items: list[Item], ctx: _Ctx) -> int:
    """How many layers the items expand to, repeats included; refused beyond MAX_LAYERS before
    anything is computed."""
    total = 0
    for item in items:
        n = _repeat_count(item, ctx)
        if item.kind == "layer":
            inner = 1
        elif item.kind == "from":
            inner = 0
            ctx.wanted.add(item.params["from"])
        elif "branches" in item.children:
            inner = sum(_count_layers(branch, ctx) for branch in item.children["branches"])
        else:
            inner = sum(_count_layers(group, ctx) for group in item.children.values())
        total += n * inner
        if total > MAX_LAYERS:
            raise fail(ctx.file, item.line, item.path, f"expands to more than {MAX_LAYERS} layers; refused (it could not be computed in seconds)")
    return total


def _typed(v: Any) -> Any:
    """A value as a key that tells 1, 1.0 and True apart (lists and tuples alike)."""
    t = type(v)
    if t is tuple or t is list:
        return (tuple, tuple(map(_typed, v)))
    return (t, v)


def _leaf(item: Item, state: _State, ctx: _Ctx, path: str, depth: int) -> _State:
    # the same parameters on the same shape give the same (immutable) layer: built once, as a
    # long network repeats its layers
    built = (item.type, tuple([(k, _typed(v)) for k, v in item.params.items()]), state.shape, tuple(map(type, state.shape)))
    try:
        layer = ctx.built.get(built)
    except TypeError:  # a value that cannot be a key: the layer is built each time
        built, layer = None, None
    if layer is None:
        cls = LAYERS[item.type]
        accepted = [o.name for o in cls.OPTIONS]
        known = set(accepted) | set(cls.__dataclass_fields__)
        unknown = sorted(set(item.params) - known)
        if unknown:
            hint = did_you_mean(unknown[0], accepted)
            raise fail(ctx.file, item.line, path, f"{item.type} has no parameter {unknown[0]!r} ({hint + ' ' if hint else ''}it takes {', '.join(accepted)})")
        params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in item.params.items()}
    try:
        if layer is None:
            layer = cls.build(state.shape, params)
            if built is not None:
                ctx.built[built] = layer
        training = None if ctx.step is None else ctx.step.layer_training(state.tensor, item.frozen)
        key = (layer, state.shape, training)
        cached = ctx.cache.get(key)
        if cached is None:  # repeated blocks meet the same layer on the same shape
            report = layer.report(state.shape, batch=ctx.batch, dtype=ctx.dtype, training=training)
            cached = ctx.cache[key] = (report, {k: getattr(report, k) for k in ROW_COUNTS})
        report, counts = cached
    except NotImplementedError:
        raise fail(ctx.file, item.line, path, f"{item.type}: its backward pass is not written yet; --training cannot count it") from None
    except ConvcalcError as e:
        msg = e.message if not e.option else f"{e.option}: {e.message}"
        raise fail(ctx.file, item.line, path, f"{item.type}: {msg}") from None
    except (TypeError, AttributeError, ArithmeticError, ValueError, RecursionError) as e:
        # a value no layer check foresaw: still one line, never a traceback
        raise fail(ctx.file, item.line, path, f"{item.type}: cannot use these parameters ({type(e).__name__}: {e})") from None
    rf = receptive.through(state.rf, layer)
    if rf is not None:
        ctx.last_rf = rf
    elif state.rf is not None and item.type.startswith("convtranspose") and ctx.rf_cut is None:
        ctx.rf_cut = path
    row = _row(ctx, item, path, depth, item.type, report.output_shape, counts, rf, False)
    if ctx.cost is not None:
        from ..roofline import layer as roofline_of

        ctx.roofs.append(roofline_of(report, ctx.cost[0], weight_dtype=ctx.cost[1]))
    if ctx.tally is not None:
        from ..conventions import layer_values

        ctx.tally.add(report.layer, layer_values(report, call=item.call))
    tensor = state.tensor
    if ctx.step is not None:
        extra, tensor = ctx.step.leaf(layer, report, state.tensor)
        row.update(extra)
    if item.tie is not None:
        _tie(item, row, ctx, path)
    ctx.rows.append(row)
    if item.name is not None:
        ctx.named.setdefault(item.name, row)
    ctx.trace.append(("layer", layer, path, report.output_shape))
    width = DTYPE_BYTES[ctx.dtype]
    live = sizes.normalize(state.held + ctx.kept + sizes.prod(state.shape) * ctx.batch * width + report.activation_bytes)
    if ctx.peak is not None:  # the peak is kept for numbers only: a Max over every layer helps nobody
        ctx.peak = max(ctx.peak, live) if sizes.is_int(live) else None
    return _State(report.output_shape, rf, state.held, state.depth_seq + 1, tensor)


def _tie(item: Item, row: dict, ctx: _Ctx, path: str) -> None:
    """``tie: NAME``: the layer's parameters are those of the earlier layer named NAME (tied input
    and output embeddings): counted once, on that layer's row; with a training step the two
    gradients are summed into one .grad (an add per element) and the optimizer steps it once."""
    first = ctx.named.get(item.tie)  # (the rows of the blocks still running are not there yet)
    if first is None:
        known = ", ".join(sorted({str(name) for name in ctx.named})) or "none yet"
        raise fail(ctx.file, item.line, path, f"tie: no earlier layer named {item.tie!r} (named: {known})")
    if sizes.compare(first["params"], row["params"]) not in (0, None):
        raise fail(ctx.file, item.line, path, f"tie: {item.type} has {sizes.to_text(row['params'])} parameters but "
                   f"{item.tie!r} has {sizes.to_text(first['params'])}; tied layers share parameters of the same shapes")
    shared = row["params"]
    row["params"] = row["param_bytes"] = 0
    row["tied_to"] = item.tie
    if ctx.step is not None:  # both readers' gradients reach the shared .grad unless it is frozen
        ctx.step.tie(row, 0 if first["frozen"] or row["frozen"] else shared)


def _run(items: list[Item], state: _State, ctx: _Ctx, depth: int) -> _State:
    for i, item in enumerate(items):
        if item.kind == "from":
            state = _from(item, state, ctx)
            continue
        for rep in range(_repeat_count(item, ctx)):
            path = item.path if item.repeat == 1 else f"{item.path}@{rep + 1}"
            state = _run_one(item, state, ctx, depth, path)
        if item.save is not None:
            # read by what follows it, unless that is a from: (the end of a list: by the join or the loss)
            consumed = i + 1 == len(items) or items[i + 1].kind != "from"
            old = ctx.outputs.get(item.save)
            if old is not None and item.save in ctx.wanted:
                ctx.kept = sizes.normalize(ctx.kept - _bytes(old.state, ctx))
            ctx.outputs[item.save] = Output(state, consumed)
            if item.save in ctx.wanted:
                ctx.kept = sizes.normalize(ctx.kept + _bytes(state, ctx))
    return state


def _bytes(state: _State, ctx: _Ctx) -> Any:
    return sizes.prod(state.shape) * ctx.batch * DTYPE_BYTES[ctx.dtype]


def _from(item: Item, state: _State, ctx: _Ctx) -> _State:
    """Continue from a saved output; a second reader of a tensor adds its gradient to the first's."""
    name = item.params["from"]
    saved = ctx.outputs.get(name)
    if saved is None:
        known = ", ".join(sorted(ctx.outputs)) or "none yet"
        raise fail(ctx.file, item.line, item.path, f"from: no output saved as {name!r} before this point (saved: {known})")
    if ctx.step is not None and (saved.consumed or saved.reads):
        ctx.step.reuse(len(ctx.rows), saved.state.tensor, sizes.prod(saved.state.shape) * ctx.batch)
    saved.reads += 1
    ctx.trace.append(("from", [], name, saved.state.shape))
    return _State(saved.state.shape, saved.state.rf, state.held, saved.state.depth_seq, saved.state.tensor)


def rebase(items: list[Item], old: str, new: str) -> list[Item]:
    """The items with their paths under a repeated block's path (``...@2``)."""
    if old == new:
        return items
    out = []
    for it in items:
        children = {k: ([rebase(b, old, new) for b in v] if k == "branches" else rebase(v, old, new)) for k, v in it.children.items()}
        out.append(dataclasses.replace(it, children=children, path=it.path.replace(old, new, 1)))
    return out


def _run_one(item: Item, state: _State, ctx: _Ctx, depth: int, path: str) -> _State:
    if item.kind == "layer":
        return _leaf(item, state, ctx, path, depth)
    kids = {k: ([rebase(b, item.path, path) for b in v] if k == "branches" else rebase(v, item.path, path)) for k, v in item.children.items()}
    if ctx.step is None or not item.frozen:
        return blocks.evaluate(item, kids, state, ctx, depth, path, _run)
    ctx.step.frozen += 1
    try:
        return blocks.evaluate(item, kids, state, ctx, depth, path, _run)
    finally:
        ctx.step.frozen -= 1
