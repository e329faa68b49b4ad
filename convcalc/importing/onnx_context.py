"""The walk of an ONNX graph (issue 16): its state (Context: the items so far, the tensor the chain
holds, who produced what, aliases, shared initializers) and the helpers every op handler uses."""

from __future__ import annotations

from typing import Any

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
        # node index -> (kind, the module's node indices): attention and GELU modules (onnx_modules),
        # emitted as one layer at their first node that computes; set by onnx_graph
        self.regions: dict = {}
        self.ops: dict = {}  # op type -> handler (onnx_ops.OPS), for handlers that walk a chain themselves

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
        return self.place(item, out or node.output[0])

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
        return self.place(item, node.output[0])

    def place(self, item: dict, out: str) -> dict:
        """An item appended as the producer of tensor out, which the chain now holds."""
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
        """The items, with the input remembered first when something reads it again."""
        return ([{"identity": None, "name": "input", "save": "input"}] if self.input_saved else []) + self.items


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


def _varies(ctx: Context, name: str) -> bool:
    """Whether a tensor is computed from the input, not a weight, a constant or shape arithmetic
    (for nodes the walk has not reached yet)."""
    made = ctx.g.made_by.get(name)
    return made is not None and made.op_type != "Constant" and name not in ctx.g.initializers and ctx.g.value(name) is None


def _text_attr(a: dict, key: str, default: str) -> str:
    v = a.get(key, default)
    return v.decode() if isinstance(v, bytes) else str(v)
