"""Other counters' conventions (issue 15): the number torchinfo, fvcore, ptflops, thop,
FlopCounterMode, calflops or DeepSpeed would print for the same model, and why it differs from
convcalc's, op by op.

A convention is data (convcalc/data/conventions/NAME.yaml), not code: what the tool prints (MACs
or FLOPs), and per layer type a formula over the layer's shapes, parameters and convcalc's own
counts, with the reason in words. Formulas are read by convcalc's expression parser (never
evaluated as Python), their names checked when the table is loaded; they work on numbers and on
symbols alike. A tool that crashes on a model says so instead of a number (``fails``).

    name: torchinfo
    tool: torchinfo 1.8.0
    prints: Mult-Adds          # the figure's name in the tool's output
    unit: macs                 # compared with convcalc's macs (or flops)
    summary: what it counts, in one line
    source: where in the tool's code the rules are
    fails_without_params: null # a reason when the tool crashes on a model with no parameters
    also: MACs                 # a second figure the tool prints (optional; rules give it as also:)
    ops:                       # first match wins; layer types by convcalc's names
      - layers: [conv1d, conv2d, conv3d]
        count: params * out_positions
        why: weight and bias numels times the output positions
        fails: the tool crashes on any such layer (optional)
        fails_alone: ... only when the layer is the whole model (optional)
    default: {count: "0", why: not counted}
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import sizes
from .errors import ConvcalcError, unknown_name

DIR = Path(__file__).parent / "data" / "conventions"
UNITS = ("macs", "flops")
#: the joins a network's rows may be, beside its layers (a concat is a block: a copy no tool counts)
JOINS = ("add", "multiply")
#: the names every formula may use (whole-batch counts unless said otherwise)
COMMON = frozenset({
    "batch", "inputs",
    "in_numel", "out_numel",  # elements of the input (the first, for a join) and of the output
    "in_numel_all",  # elements of all the inputs (a join's branches)
    "in_positions", "out_positions",  # elements over the first per-sample dimension: batch x H x W for C,H,W
    "in_rows", "out_rows",  # elements over the last dimension: batch x T for T,F
    "in_channels", "out_channels", "in_features", "out_features",  # the first and last per-sample dimension
    "in0", "in1", "in2", "in3", "out0", "out1", "out2", "out3",  # per-sample dimensions (1 beyond the rank)
    "weights", "biases", "params", "buffers",
    "macs", "mults", "adds", "comparisons", "flops", "transcendentals",  # convcalc's own counts
    # how the model runs it, 1 or 0: a module (the default; a single layer is one), a function (F.relu),
    # a method (x.mean), an operator (a join: x + y, x * y)
    "module", "function", "method", "operator",
    "alone",  # 1 when the layer is counted by itself (the tool given the bare module and its inputs), 0 in a network
})


@dataclass(frozen=True)
class Rule:
    layers: tuple  # the layer types it applies to (empty: the default)
    count: str  # the formula's text
    tree: Any  # its parsed tree (expr.formula)
    why: str
    fails: str | None = None  # the tool crashes on such a layer: why
    fails_alone: str | None = None  # the tool crashes on such a layer as the whole model (a single layer): why
    also: Any = None  # the second figure's parsed formula (a convention with `also`)


@dataclass(frozen=True)
class Convention:
    name: str
    tool: str
    prints: str
    unit: str
    summary: str
    source: str
    rules: dict  # layer type -> Rule
    default: Rule
    fails_without_params: str | None = None
    also: str | None = None  # the name of a second figure the tool prints (calflops' MACs beside its FLOPs)

    def rule(self, op: str) -> Rule:
        return self.rules.get(op, self.default)


def _layer_fields(op: str) -> set:
    """The layer's arguments by name, and a per-dimension argument's entries as NAME_0, NAME_1, ...
    (stride_1 is the second spatial dimension's stride)."""
    from .layers.registry import LAYERS

    cls = LAYERS.get(op)
    if cls is None:
        return set()
    names = {f.name for f in fields(cls)}
    for f in fields(cls):
        if "SizeArg" in str(f.type):
            names |= {f"{f.name}_{i}" for i in range(cls.NDIM)}
    return names


def _rule(name: str, raw: Any, layers: tuple) -> Rule:
    from .expr import formula

    where = f"{name}: {', '.join(layers) or 'default'}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping")
    unknown = sorted(set(raw) - {"layers", "count", "why", "fails", "fails_alone", "also"})
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r}")
    if not isinstance(raw.get("why"), str) or not raw["why"].strip():
        raise ValueError(f"{where}: why must say what the tool counts")
    count = str(raw.get("count", "0"))
    # the arguments every listed layer has (a name some listed layer lacks is refused)
    names = COMMON | (set.intersection(*[_layer_fields(op) for op in layers]) if layers else set())
    try:
        tree = formula(count, frozenset(names))
        also = formula(str(raw.get("also", "0")), frozenset(names))
    except ConvcalcError as e:
        raise ValueError(f"{where}: {e.message}") from None
    fails, alone = raw.get("fails"), raw.get("fails_alone")
    for key, text in (("fails", fails), ("fails_alone", alone)):
        if text is not None and (not isinstance(text, str) or not text.strip()):
            raise ValueError(f"{where}: {key} must say why the tool fails")
    return Rule(layers, count, tree, raw["why"].strip(), fails, alone, also)


def parse(name: str, text: str) -> Convention:
    """A convention from its YAML text (ValueError saying what is wrong)."""
    import yaml

    from .layers.registry import LAYERS

    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{name}: expected a mapping")
    keys = {"name", "tool", "prints", "unit", "summary", "source", "fails_without_params", "also", "ops", "default"}
    unknown = sorted(set(data) - keys)
    if unknown:
        raise ValueError(f"{name}: unknown key {unknown[0]!r}")
    missing = [k for k in ("tool", "prints", "unit", "summary", "source", "default") if not data.get(k)]
    if missing:
        raise ValueError(f"{name}: missing {', '.join(missing)}")
    if data["unit"] not in UNITS:
        raise ValueError(f"{name}: unit must be one of {', '.join(UNITS)}")
    rules: dict = {}
    for raw in data.get("ops") or ():
        layers = raw.get("layers") if isinstance(raw, dict) else None
        if isinstance(layers, str):
            layers = [layers]
        if not isinstance(layers, list) or not layers:
            raise ValueError(f"{name}: every op names its layers (a list of layer types)")
        for op in layers:
            if op not in LAYERS and op not in JOINS:
                raise ValueError(f"{name}: {op!r} is not a layer type or a join")
        rule = _rule(name, raw, tuple(layers))
        for op in layers:
            rules.setdefault(op, rule)
    fails = data.get("fails_without_params")
    return Convention(name, str(data["tool"]), str(data["prints"]), data["unit"], " ".join(str(data["summary"]).split()),
                      str(data["source"]), rules, _rule(name, data["default"], ()), fails,
                      None if data.get("also") is None else str(data["also"]))


@lru_cache(maxsize=1)
def table() -> dict:
    """name -> Convention: convcalc's own first, then the shipped files in name order."""
    out = {}
    for path in sorted(DIR.glob("*.yaml"), key=lambda p: (p.stem != "convcalc", p.stem)):
        out[path.stem] = parse(path.stem, path.read_text())
    return out


def convention(name: str) -> Convention:
    """The named convention; a ConfigError with the names close to it otherwise."""
    known = table()
    key = name.strip().lower()
    if key in known:
        return known[key]
    raise unknown_name(name, list(known), what="convention", option="convention")


# -- what a formula sees -------------------------------------------------------------------------
def _config_values(config: dict) -> dict:
    """A layer's arguments as formula values: ints and sizes as they are, a tuple of sizes as its
    product (kernel_size 3,3 is 9) and its entries (kernel_size_0, kernel_size_1), a flag as 1 or 0,
    None as 0; text is left out."""
    out = {}
    for k, v in config.items():
        if isinstance(v, bool):
            out[k] = int(v)
        elif v is None:
            out[k] = 0
        elif isinstance(v, tuple) and v and all(sizes.is_int(x) or sizes.is_symbolic(x) for x in v):
            out[k] = sizes.prod(v)
            out.update((f"{k}_{i}", x) for i, x in enumerate(v))
        elif not isinstance(v, (str, float, tuple)) and (sizes.is_int(v) or sizes.is_symbolic(v)):
            out[k] = v
    return out


def _shape_values(shapes: list, out: tuple, batch: Any) -> dict:
    first = shapes[0]
    n = sizes.normalize
    values = {
        "batch": batch, "inputs": len(shapes),
        "in_numel": n(sizes.prod(first) * batch), "out_numel": n(sizes.prod(out) * batch),
        "in_numel_all": n(sum((sizes.prod(s) for s in shapes), start=0) * batch),
        "in_positions": n(sizes.prod(first[1:]) * batch), "out_positions": n(sizes.prod(out[1:]) * batch),
        "in_rows": n(sizes.prod(first[:-1]) * batch), "out_rows": n(sizes.prod(out[:-1]) * batch),
        "in_channels": first[0], "out_channels": out[0], "in_features": first[-1], "out_features": out[-1],
    }
    for i in range(4):
        values[f"in{i}"] = first[i] if i < len(first) else 1
        values[f"out{i}"] = out[i] if i < len(out) else 1
    return values


def layer_values(report: Any, call: str = "module", *, alone: bool = False) -> dict:
    """What a rule may use for one layer: its shapes, parameters, convcalc's counts, its
    arguments (config), how the model runs it (call: module, function or method) and ``alone``
    when the layer is the whole model (not a network's row)."""
    values = _config_values(report.config)
    values.update(module=int(call == "module"), function=int(call == "function"), method=int(call == "method"), operator=0)
    values.update(_shape_values([report.input_shape], report.output_shape, report.batch))
    values.update(weights=report.weights, biases=report.biases, params=report.params, buffers=report.buffers,
                  macs=report.macs, mults=report.mults, adds=report.adds, comparisons=report.comparisons,
                  flops=report.flops, transcendentals=report.transcendentals, alone=int(alone))
    return values


def join_values(shapes: list, out: tuple, batch: Any, counts: dict) -> dict:
    """What a rule may use for a join (add, multiply) of branches of these shapes."""
    values = _shape_values(shapes, out, batch)
    values.update(module=0, function=0, method=0, operator=1)
    values.update(weights=0, biases=0, params=0, buffers=0, macs=counts.get("macs", 0), mults=counts.get("mults", 0),
                  adds=counts.get("adds", 0), comparisons=counts.get("comparisons", 0), flops=counts.get("flops", 0),
                  transcendentals=counts.get("transcendentals", 0), alone=0)
    return values


# -- counting ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OpCount:
    """One layer type's share: how many rows, convcalc's count and the tool's, and why they differ."""

    op: str
    layers: int
    convcalc: Any
    count: Any
    why: str

    @property
    def difference(self) -> Any:
        return sizes.normalize(self.count - self.convcalc)


@dataclass(frozen=True)
class Counted:
    """A model counted by another tool's convention: the number it would print (None when the tool
    fails on the model: ``failure`` says why), convcalc's count of the same kind, and per layer
    type the terms (``by_op``: shown with --by-op)."""

    name: str
    tool: str
    prints: str
    unit: str
    summary: str
    count: Any
    convcalc: Any
    by_op: tuple
    failure: str | None = None
    show_by_op: bool = False
    also: str | None = None  # the second figure's name, and its value (None when the tool fails)
    also_count: Any = None

    @property
    def difference(self) -> Any:
        return None if self.count is None else sizes.normalize(self.count - self.convcalc)

    @property
    def relative(self) -> float | None:
        """The difference as a fraction of convcalc's count (numbers only)."""
        d = self.difference
        return d / self.convcalc if sizes.all_int(d, self.convcalc) and self.convcalc else None


class Tally:
    """A convention's counts as a model's layers and joins run; ``result`` sums them."""

    def __init__(self, convention: Convention):
        self.convention = convention
        self.ops: dict = {}  # op -> [layers, convcalc, count, why]
        self.also: Any = 0
        self.failure: str | None = None

    def add(self, op: str, values: dict) -> None:
        rule = self.convention.rule(op)
        if rule.fails is not None and self.failure is None:
            self.failure = f"{self.convention.tool} fails on {op}: {rule.fails}"
        from .expr import apply

        count = sizes.normalize(apply(rule.tree, values))
        if self.convention.also is not None:
            self.also = self.also + apply(rule.also, values)
        ours = values[self.convention.unit]
        entry = self.ops.get(op)
        if entry is None:
            self.ops[op] = [1, ours, count, rule.why]
        else:
            entry[0] += 1
            entry[1] = None if entry[1] is None or ours is None else entry[1] + ours
            entry[2] = entry[2] + count

    def result(self, params: Any, *, by_op: bool = False) -> Counted:
        c = self.convention
        rows = tuple(OpCount(op, n, None if ours is None else sizes.normalize(ours), sizes.normalize(count), why)
                     for op, (n, ours, count, why) in self.ops.items())
        failure = self.failure
        if failure is None and c.fails_without_params and sizes.is_int(params) and params == 0:
            failure = f"{c.tool} fails on a model without parameters: {c.fails_without_params}"
        ours = [r.convcalc for r in rows]
        total_ours = None if None in ours else sizes.normalize(sum(ours, start=0))
        total = None if failure else sizes.normalize(sum((r.count for r in rows), start=0))
        also = None if failure or c.also is None else sizes.normalize(self.also)
        return Counted(c.name, c.tool, c.prints, c.unit, c.summary, total, total_ours, rows, failure, by_op, c.also, also)


def of_layer(report: Any, name: str, *, by_op: bool = False) -> Counted:
    """One layer's report counted by the named convention: the layer is the whole model, a module."""
    tally = Tally(convention(name))
    alone = tally.convention.rule(report.layer).fails_alone
    if alone is not None:
        tally.failure = f"{tally.convention.tool} fails on {report.layer} as a whole model: {alone}"
    tally.add(report.layer, layer_values(report, alone=True))
    return tally.result(report.params, by_op=by_op)
