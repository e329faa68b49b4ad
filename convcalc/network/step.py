"""The training step of a network: every layer's report made with a ``Training``, then summed.

The network computes no formula of its own; it decides, as autograd does, what each layer is
asked and which tensors are the same:

- requires_grad flows forward: the input requires grad only with --input-grad; a layer's output
  does when its input does or it has parameters that are not frozen. A layer gets
  ``input_grad`` = whether its input requires grad (so the first layer computes no dL/dx, and
  neither do the layers after a frozen stem); a layer whose input needs no gradient and which
  has nothing to train has no backward node at all: it saves nothing and computes nothing.
- saved tensors are counted once per tensor: a layer's Saved with tensor "input" is the tensor
  the layer before it output (a ReLU saving its output and the next convolution saving its
  input are one tensor; the body and shortcut of a residual block share their input); a layer
  whose VIEW is "alias" (flatten, permute, transpose) or an in-place one (``inplace: true``)
  outputs its input's storage, one whose VIEW is "part" (selecttoken) a view that keeps it alive.
- a block's fork (its input fed to every branch) sums the branches' dL/dx: one add per element
  per extra branch, counted on the block's row and in the totals; a saved output read again by
  ``from:`` likewise (one add per element per extra reader). An add join's backward routes dL/dy
  to its operands (summed over the dims an operand was broadcast along), a multiply's multiplies
  it by the other operand, which ``mul`` saved (layers/combine.py); concat's slices it.
- the parts of a chunk or split are views: a layer that saves one keeps its base's whole storage
  alive (counted once, with the base's bytes), as PyTorch's saved tensors do.
- the peak of the step: the parameters (with mixed precision, their half-precision working copy
  too), buffers, gradients, optimizer state, every tensor saved, and the largest backward
  working set of one layer (each layer's ``working_bytes``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import sizes
from ..report import DTYPE_BYTES
from ..layers.training import Training, plus_counts, sum_known, with_flops

#: the count dicts of the training step (as in a layer's training_counts)
STAGES = ("forward", "grad_input", "grad_weight", "backward", "optimizer", "step")
#: per-row training values that add up (bytes and FLOPs)
SUMMED = ("optimizer_flops", "training_flops", "saved_bytes", "grad_bytes", "optimizer_bytes", "weight_bytes")


def zero() -> dict:
    return with_flops({})


def _per_sample(v: Any, batch: Any) -> Any:
    """v / batch for a byte count that the batch divides (numbers exactly, symbols cancelled)."""
    return sizes.normalize(sizes.exact_div(v, batch))


def _nonzero(v: Any) -> bool:
    return not (sizes.is_int(v) and v == 0)


def _backward(grad_input: dict, grad_weight: dict) -> dict:
    return {"grad_input": grad_input, "grad_weight": grad_weight, "total": plus_counts(grad_input, grad_weight)}


class Step:
    """What flows through a network while its training step is counted: which tensors require
    grad, which saved tensors are counted already, the forks' sums, every layer's working set."""

    def __init__(self, training: Training, batch: Any) -> None:
        self.training = training
        self.batch = batch
        self.requires = [training.input_grad]  # tensor id -> requires grad (0: the network's input)
        self.counted: set = set()  # tensor ids whose saved bytes are counted
        self.frozen = 0  # how many frozen blocks enclose the current item
        self.working: list = []  # per-sample working set of every layer that runs a backward
        self.forks: list = []  # (row index of the block, counts of its fork's sum)
        self.storage: dict = {}  # tensor id -> (id of the tensor whose storage it views, that storage's bytes)

    def tensor(self, requires: bool) -> int:
        """A new tensor's id."""
        self.requires.append(requires)
        return len(self.requires) - 1

    def layer_training(self, tensor: int, frozen: bool) -> Training:
        """The Training a layer reading this tensor is counted with."""
        return dataclasses.replace(self.training, input_grad=self.requires[tensor],
                                   frozen=bool(frozen or self.frozen or self.training.frozen), gradients=False)

    def leaf(self, layer: Any, report: Any, tensor: int) -> tuple[dict, int]:
        """(the row's training values, the output tensor's id) of a layer's report."""
        requires_in = self.requires[tensor]
        trainable = not report.training["frozen"] and _nonzero(report.params)
        node = requires_in or trainable  # autograd records a node for the layer
        view = layer.VIEW
        alias = view == "alias" or layer.config().get("inplace") is True
        if view == "part":  # a part of its input (x[:, i]): saving it keeps the input's storage alive
            out = self.view(tensor, sizes.normalize(self.batch * sizes.prod(report.input_shape) * DTYPE_BYTES[report.dtype]))
        else:
            out = tensor if alias else self.tensor(node)
        saved = 0
        if node:
            for s in report.saved:
                key = {"input": tensor, "output": out}.get(s["tensor"])
                nbytes = s["bytes"]
                if key is not None:
                    key, nbytes = self.storage.get(key, (key, nbytes))
                    if key in self.counted:
                        continue
                    self.counted.add(key)
                saved = sum_known(saved, nbytes)
            self.working.append(_per_sample(report.working_bytes, self.batch))
        own = sum_known(report.grad_bytes, report.optimizer_bytes, report.saved_bytes, report.working_bytes, report.buffer_bytes)
        counts = dict(report.training_counts)
        row = {
            "input_grad": requires_in,
            "frozen": report.training["frozen"],
            "backward": dict(report.backward),
            "optimizer_flops": report.optimizer_flops,
            "training_flops": report.training_flops,
            "saved_bytes": saved,
            "grad_bytes": report.grad_bytes,
            "optimizer_bytes": report.optimizer_bytes,
            # the parameters' bytes in the step (a layer's peak less the rest: the layer's own rule)
            "weight_bytes": sizes.normalize(report.training_peak_bytes - own),
            "working_bytes": report.working_bytes if node else 0,
            "training_counts": counts,
        }
        return row, out

    def tie(self, row: dict, elements: Any) -> None:
        """A layer whose parameters are an earlier layer's (``tie:``): no gradient or optimizer
        memory and no optimizer step of its own (the first layer's row has them); its weight
        gradient is added into the shared .grad (AccumulateGrad: one add per element)."""
        counts = row["training_counts"]
        grad_weight = plus_counts(counts["grad_weight"], with_flops({"adds": elements}))
        backward = _backward(counts["grad_input"], grad_weight)
        step = plus_counts(counts["forward"], backward["total"])
        row["training_counts"] = dict(counts, grad_weight=grad_weight, backward=backward["total"], optimizer=zero(), step=step)
        row.update(backward=backward, optimizer_flops=0, training_flops=step["flops"], grad_bytes=0, optimizer_bytes=0,
                   weight_bytes=0)

    def join(self, counts: dict, tensors: list, width: int) -> tuple[dict, int]:
        """(training values, output tensor) of an elementwise join of branches (layers/combine.py
        ``join_counts``): its forward, the gradients of the branches that require grad, and the
        operands ``mul`` saves (a branch's tensor counted once, an intermediate result anew)."""
        requires = [self.requires[t] for t in tensors]
        out = self.tensor(any(requires))
        fwd = with_flops({k: counts["forward"].get(k, 0) for k in ("mults", "adds", "comparisons", "macs", "transcendentals")})
        if not any(requires):
            return self._row(fwd, zero()), out
        row = self._row(fwd, with_flops(counts["grad_input"]))
        saved = 0
        for operand, elements in counts["saved"]:
            nbytes = sizes.normalize(elements * width)
            if isinstance(operand, int):
                key, nbytes = self.storage.get(tensors[operand], (tensors[operand], nbytes))
                if key in self.counted:
                    continue
                self.counted.add(key)
            saved = sum_known(saved, nbytes)
        row["saved_bytes"] = saved
        return row, out

    def view(self, tensor: int, nbytes: Any) -> int:
        """A view of a tensor (a part of a split or chunk): its own id, the storage of its base
        (of nbytes), which a layer that saves the view keeps alive whole, as PyTorch does."""
        view = self.tensor(self.requires[tensor])
        self.storage[view] = self.storage.get(tensor, (tensor, nbytes))
        return view

    def reuse(self, row: int, tensor: int, elements: Any) -> None:
        """A saved output read again (``from:``): its gradients from one more consumer are summed."""
        if self.requires[tensor]:
            self.forks.append((row, with_flops({"adds": elements})))

    def merge(self, tensors: list) -> int:
        """The output tensor of a concat (a copy: a new tensor)."""
        return self.tensor(any(self.requires[t] for t in tensors))

    def fork(self, row: int, tensor: int, elements: Any, branches: int) -> None:
        """The sum of the branches' dL/dx where a block's input feeds `branches` branches."""
        if self.requires[tensor] and branches > 1:
            self.forks.append((row, with_flops({"adds": elements * (branches - 1)})))

    def _row(self, forward: dict, grad_input: dict) -> dict:
        backward = _backward(grad_input, zero())
        step = plus_counts(forward, backward["total"])
        counts = {"forward": forward, "grad_input": grad_input, "grad_weight": zero(), "backward": backward["total"],
                  "optimizer": zero(), "step": step}
        return {"input_grad": None, "frozen": False, "backward": backward, "optimizer_flops": 0, "training_flops": step["flops"],
                "saved_bytes": 0, "grad_bytes": 0, "optimizer_bytes": 0, "weight_bytes": 0, "working_bytes": 0,
                "training_counts": counts}

    def block(self, leaves: list, start: int, end: int) -> dict:
        """A block row's training values: its leaves' and the forks inside it (rows start..end)."""
        return self.total(leaves, [c for i, c in self.forks if start <= i < end], working=max_of([r["working_bytes"] for r in leaves]))

    def total(self, leaves: list, forks: list, working: Any) -> dict:
        """The sums over leaf rows and forks."""
        # every term gathered first and summed once (symbolic sums built term by term cost the
        # square of the network's length)
        terms: dict = {(stage, key): [] for stage in STAGES for key in zero()}
        for r in leaves:
            for stage in STAGES:
                for key, v in r["training_counts"][stage].items():
                    terms[stage, key].append(v)
        for c in forks:
            for stage in ("grad_input", "backward", "step"):
                for key, v in c.items():
                    terms[stage, key].append(v)
        counts = {stage: {key: sum_known(*terms[stage, key]) for key in zero()} for stage in STAGES}
        out = {k: sum_known(*(r[k] for r in leaves)) for k in SUMMED}
        out["training_flops"] = counts["step"]["flops"]
        out["backward"] = {"grad_input": counts["grad_input"], "grad_weight": counts["grad_weight"], "total": counts["backward"]}
        out["working_bytes"] = working
        out["training_counts"] = counts
        return out

    def by_op(self, groups: dict, leaves: list) -> None:
        """Per layer type, the backward's FLOPs and MACs and the bytes saved, beside the forward's."""
        for g in groups.values():
            g.update(backward_macs=0, backward_flops=0, saved_bytes=0)
        for r in leaves:
            g = groups[r["type"]]
            g["backward_macs"] = sum_known(g["backward_macs"], r["backward"]["total"]["macs"])
            g["backward_flops"] = sum_known(g["backward_flops"], r["backward"]["total"]["flops"])
            g["saved_bytes"] = sum_known(g["saved_bytes"], r["saved_bytes"])

    def network_total(self, leaves: list, buffer_bytes: Any) -> dict:
        """The network's totals and the step's peak memory."""
        working = sizes.normalize(self.batch * max_of(self.working)) if self.working else 0
        out = self.total(leaves, [c for _, c in self.forks], working)
        out["training_peak_bytes"] = sum_known(out["weight_bytes"], buffer_bytes, out["grad_bytes"], out["optimizer_bytes"],
                                          out["saved_bytes"], working)
        return out


def max_of(values: list) -> Any:
    if not values:
        return 0
    if any(v is None for v in values):
        return None
    return sizes.normalize(sizes.smax(*values))


#: what the training totals and rows mean (a note of the report)
NOTE = (
    "training step: each layer counted as PyTorch's autograd runs it (requires_grad flows from the input, "
    "with --input-grad, and from parameters that are not frozen: the first layer computes no dL/dx); saved "
    "tensors counted once per tensor, on the row of the first layer that saves them; a residual or concat "
    "block's row adds the sum of its branches' dL/dx at the fork (one add per element per extra branch; not in "
    "the totals by layer type); the peak as for one layer, its working set the largest of any layer"
)
