"""The cross-entropy loss, as torch.nn.CrossEntropyLoss, and the routes of softmax's backward.

``crossentropy`` takes raw scores (logits) and class-index targets, PyTorch's
CrossEntropyLoss(reduction='mean') without class weights, ignore_index or label smoothing
(refused). Its input is PyTorch's minus the batch: C (PyTorch's (N, C)) or C,d1,...,dk
(PyTorch's (N, C, d1, ..., dk)); the classes are the first entry (PyTorch's dim 1), and each of
the M = batch*d1*...*dk positions is a row of K = C scores with one target. The output is the
scalar mean loss, shape ().

Counting (whole batch), with softmax's convention (no max subtracted):
- forward: log_softmax per row, x - log(sum(exp x)): K exps and a log (transcendentals), K - 1
  adds and K subtractions; nll_loss and the mean: the M picked values summed (M - 1 adds) and
  divided by -M once (a mult): adds = M*(2K - 1) + M - 1 = 2KM - 1, mults = 1;
- backward: the fused gradient dL/dx = (p - p*)*g/M, p = exp(log_softmax) from the saved
  log-probabilities (K exps a row), p* the one-hot target (one subtraction a row), each entry
  times g/M (K mults a row, g/M once): mults = KM + 1, adds = M, transcendentals = KM.
- ``work`` sets it beside the routes that do not fuse: the K x K Jacobian of softmax
  J = diag(p) - p p^T (K^2 mults and K adds a row to build), its product J^T dL/dp (K^2 mults,
  K(K - 1) adds a row), and PyTorch's own (nll_loss_backward then log_softmax_backward).

Per-batch constants (the mean's M - 1 adds, the one division) are not a multiple of the batch,
so this layer adds them to the report after the per-sample counts are scaled (``_report``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, TYPE_CHECKING

from .. import sizes
from ..report import COUNT_KEYS, DTYPE_BYTES
from .base import ConfigError, Counts, Layer, Opt, ShapeError, require, to_value
if TYPE_CHECKING:
    from .training import Backward

REDUCTION = Opt("reduction", "choice", "mean", "How the per-position losses are reduced (convcalc counts PyTorch's default, mean).",
                choices=("mean",))


def full(counts: dict) -> dict:
    """Every COUNT key, flops = mults + adds + comparisons."""
    out = {k: sizes.normalize(counts.get(k, 0)) for k in COUNT_KEYS if k != "flops"}
    out["flops"] = sizes.normalize(out["mults"] + out["adds"] + out["comparisons"])
    return {k: out[k] for k in COUNT_KEYS}


def softmax_routes(rows: Any, k: Any, from_log: bool) -> dict:
    """The whole batch's cost of softmax's backward by each route, for rows of k entries
    (from_log: p is recovered from saved log-probabilities, k exps a row)."""
    exps = rows * k if from_log else 0
    return {
        f"softmax Jacobian J = diag(p) - p p^T ({sizes.to_text(k)} x {sizes.to_text(k)} a row), built": full(
            {"mults": rows * k * k, "adds": rows * k, "transcendentals": exps}),
        "dL/dx = J^T dL/dp (unfused)": full({"mults": rows * k * k, "adds": rows * k * (k - 1)}),
        "dL/dx = p*(dL/dp - <dL/dp, p>) (PyTorch's softmax backward)": full({"mults": 2 * rows * k, "adds": rows * (2 * k - 1),
                                                                             "transcendentals": exps}),
        "dL/dx = (p - p*)*g/M (fused with cross-entropy, M rows)": full(
            {"mults": rows * k + 1, "adds": rows, "transcendentals": exps}),
    }


def with_work(report: Any, work: dict, fix: dict | None = None) -> Any:
    """The report with a work table, and per-batch constants (``fix``: count -> amount) added to
    the forward counts wherever they appear."""
    changes: dict = {"work": {**(report.work or {}), **work}}
    if fix:
        for key in ("mults", "adds"):
            changes[key] = sizes.normalize(getattr(report, key) + fix.get(key, 0))
        changes["flops"] = sizes.normalize(report.flops + fix.get("mults", 0) + fix.get("adds", 0))
        if report.training_counts is not None:
            tc = dict(report.training_counts)
            for part in ("forward", "step"):
                row = dict(tc[part])
                for key in ("mults", "adds"):
                    row[key] = sizes.normalize(row[key] + fix.get(key, 0))
                row["flops"] = sizes.normalize(row["flops"] + fix.get("mults", 0) + fix.get("adds", 0))
                tc[part] = row
            changes["training_counts"] = tc
            changes["training_flops"] = tc["step"]["flops"]
    return replace(report, **changes)


@dataclass(frozen=True)
class CrossEntropyLoss(Layer, example="--input 1000", name="crossentropy"):
    """Cross-entropy loss on logits with class-index targets, mean over the batch (torch.nn.CrossEntropyLoss)."""

    reduction: str = "mean"

    INPUT = "C or C,d1,...,dk"
    #: what a derivation calls the input's entries: K classes, then positions
    INPUT_SYMBOLS = ("K",)
    OPTIONS = (REDUCTION,)

    def __post_init__(self) -> None:
        if self.reduction != "mean":
            raise ConfigError(f"{self.reduction!r}: convcalc counts reduction='mean' only", option="reduction")

    def check_input(self, shape: tuple) -> None:
        if not shape:
            raise ShapeError("needs at least one entry (C, the classes)", option="input")

    def output_shape(self, shape: tuple) -> tuple:
        return ()

    def counts(self, shape: tuple, out: tuple) -> Counts:
        """Per sample (the per-batch constants are added in ``_report``): P = prod(d) rows of K
        classes, each K exps and a log, K - 1 + K adds for log_softmax and one add into the
        mean's sum (M adds over the batch, of which M - 1 are real: fixed in ``_report``)."""
        k, rows = shape[0], sizes.prod(shape[1:])
        return Counts(transcendentals=rows * (k + 1), adds=rows * 2 * k, connections=rows * k)

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """The fused gradient (p - p*)*g/M over M = batch*P rows of K: p = exp(log p) (K exps a
        row, from the saved log_softmax output), p - p* one subtraction a row (at the target),
        times g/M (computed once, a division) K mults a row: mults KM + 1, adds M,
        transcendentals KM. Saved, as autograd keeps them: the log_softmax output (saved by
        log_softmax and nll_loss, one storage), the int64 targets (M) and nll_loss's total_weight
        (a scalar of the input's dtype)."""
        from .training import Backward, Saved  # only a training query imports it
        k, rows = shape[0], batch * sizes.prod(shape[1:])
        return Backward(
            grad_input={"mults": rows * k + 1, "adds": rows, "transcendentals": rows * k},
            saved=(Saved("log_softmax output", rows * k), Saved("target", rows, dtype="int64"), Saved("total_weight", 1)),
            notes=("cross-entropy backward: the fused gradient (p - p*)/M; Work sets it beside the K x K Jacobian route",),
        )

    def _report(self, input_shape: Any, batch: Any, dtype: str, training: Any = None) -> Any:
        report = super()._report(input_shape, batch, dtype, training)
        batch = to_value(batch, "batch")
        require(batch, "batch", minimum=1)
        shape = report.input_shape
        rows = batch * sizes.prod(shape[1:])
        k = shape[0]
        work = {"forward: log_softmax, nll_loss, mean": full(
            {"mults": 1, "adds": rows * (2 * k - 1) + rows - 1, "transcendentals": rows * (k + 1)})}
        routes = softmax_routes(rows, k, from_log=True)
        names = list(routes)
        work[names[0]] = routes[names[0]]
        # dL/dp is -(g/M)/p at the target: a division a row, and g/M once
        work["dL/dx = J^T dL/dp (unfused)"] = full({"mults": rows * k * k + rows + 1, "adds": rows * k * (k - 1)})
        work["dL/dx by nll_loss then log_softmax backward (PyTorch's)"] = full(
            {"mults": rows * k + 1, "adds": rows * (2 * k - 1), "transcendentals": rows * k})
        work[names[3]] = routes[names[3]]
        report = with_work(report, work, fix={"mults": 1, "adds": -1})
        # the output is one scalar for the whole batch, not one per sample (and so is dL/dy)
        width = DTYPE_BYTES[dtype]
        changes: dict = {"activation_bytes": width}
        if report.working_bytes is not None:
            act = DTYPE_BYTES[training.mixed_precision or dtype]
            extra = sizes.normalize((batch - 1) * act)
            changes["working_bytes"] = sizes.normalize(report.working_bytes - extra)
            changes["training_peak_bytes"] = sizes.normalize(report.training_peak_bytes - extra)
        return replace(report, **changes)
