"""Where branches meet: elementwise add and multiply with PyTorch's broadcasting, as a network's
joins (``add``, ``multiply``, ``scale`` blocks, a residual's add, ``join: add`` of a split).

Shapes exclude the batch and have one rank; a size 1 broadcasts against any other. k branches
are combined as PyTorch evaluates ``a + b + c``: left to right, each step a new tensor of the
broadcast shape of its two operands.

Forward, per step of n output elements: n adds (add) or n mults (multiply).

Backward (derivatives.yaml; the engine's sum_to_size reduces a gradient to its input's shape):
- add: each operand's gradient is dL/dy summed over the dims it was broadcast along: an operand
  of m elements whose output has n gets n - m adds (each of its m elements sums n/m terms);
  nothing saved.
- multiply (y = a*b): dL/da = sum_to(dL/dy * b) (n mults, n - m_a adds) when a requires grad,
  dL/db likewise; ``mul`` saves b for dL/da and a for dL/db (only those that are needed).

A squeeze-and-excitation scale x * s (s of shape C,1,1) thus costs C*H*W mults forward and, in
the backward, C*H*W mults for dL/dx and C*H*W mults and C*H*W - C adds for dL/ds.
"""

from __future__ import annotations

from typing import Any

from .. import sizes

#: what a join of this kind computes per output element
OP = {"add": "adds", "multiply": "mults"}


def _is_one(v: Any) -> bool:
    return sizes.is_int(v) and v == 1


def broadcast_pair(a: tuple, b: tuple) -> tuple:
    """The broadcast shape of two shapes of one rank whose sizes agree or are 1 (checked by the
    caller)."""
    return tuple(y if _is_one(x) else x for x, y in zip(a, b))


def join_counts(kind: str, shapes: list, batch: Any, requires: list | None = None) -> dict:
    """The forward and backward of joining branches of these shapes (the whole batch).

    Returns {"forward": counts, "grad_input": counts, "saved": [(operand, elements), ...]} where
    an operand is a branch's index or ("step", j) for the intermediate result of step j (its
    first j + 1 operands combined). ``requires``: whether each branch requires grad (all, if
    not given); an operand that needs no gradient gets none.
    """
    requires = list(requires) if requires is not None else [True] * len(shapes)
    op = OP[kind]
    forward = {op: 0}
    grad = {"mults": 0, "adds": 0}
    saved: list = []
    left, left_req, left_id = tuple(shapes[0]), requires[0], 0
    for j in range(1, len(shapes)):
        right, right_req = tuple(shapes[j]), requires[j]
        out = broadcast_pair(left, right)
        n = batch * sizes.prod(out)
        forward[op] = forward[op] + n
        for shape, req in ((left, left_req), (right, right_req)):
            if not req:
                continue
            grad["adds"] = grad["adds"] + n - batch * sizes.prod(shape)
            if kind == "multiply":
                grad["mults"] = grad["mults"] + n
        if kind == "multiply":
            if left_req:
                saved.append((j, batch * sizes.prod(right)))
            if right_req:
                saved.append((left_id, batch * sizes.prod(left)))
        left, left_req, left_id = out, left_req or right_req, ("step", j)
    n = sizes.normalize
    return {"forward": {k: n(v) for k, v in forward.items()}, "grad_input": {k: n(v) for k, v in grad.items()},
            "saved": [(i, n(e)) for i, e in saved]}
