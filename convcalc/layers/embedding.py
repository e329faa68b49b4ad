"""Embeddings: torch.nn.Embedding and torch.nn.EmbeddingBag (lookup tables of num_embeddings rows
of embedding_dim).

Input and dtype convention: the input is a tensor of int64 indices. ``embedding``'s --input is
that tensor's shape without the batch (a sequence: T; any shape), its output the same shape plus
(embedding_dim,). ``embeddingbag``'s --input is N, the bag length of PyTorch's 2-D (bags, N)
input without offsets, and the batch is the number of bags: output (embedding_dim,) per bag
(include_last_offset is accepted and changes nothing: PyTorch ignores it for a 2-D input). The
report's activation bytes are the output's, in the layer's dtype, as for every layer; the index
tensor is int64 (8 bytes an index): the saved indices are counted as int64. A network that
starts with an embedding still counts its own input tensor in the layer's dtype (the network's
rule, not changed here). Indices take no gradient: a training query never computes dL/dx (the
report states input_grad false).

Counting (per sample, then times the batch):
- embedding forward: a gather of rows (index_select): 0 flops; connections = output elements.
- embeddingbag forward, per bag of N indices and D = embedding_dim: sum D*(N - 1) adds, mean
  the same adds and D divisions (mults), max D*(N - 1) comparisons. Entries equal to padding_idx
  are skipped by PyTorch, which the data decides: convcalc counts the most (no entry is padding).

Backward (the whole batch; M indices in all): dL/dW (embedding_dense_backward on the CPU: for
each index i that is not padding_idx, grad_weight[idx[i]] += scale*dL/dy[i], into zeros). A
weight element that r indices hit sums r terms: r - 1 adds. How indices collide depends on the
data; as for max pooling's argmaxes convcalc counts the most, all indices on one row:
D*(M - 1) adds (the least is D*max(0, M - num_embeddings)). A product by 1 is not counted;
scale_grad_by_freq (scale = 1/count[idx[i]], one division an index) and mean (scale /= bag size,
one division an index) add those divisions and D mults an index. sparse=True builds the
gradient as the dL/dy rows with their indices, uncoalesced: no arithmetic (the optimizer's
memory is still counted dense). max_norm (rows renormalised in place before the lookup, as the
data decides) is refused; per_sample_weights (a forward argument) is not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional, TYPE_CHECKING

from .. import sizes
from ..sizes import Size
from .base import ConfigError, Counts, Layer, Opt, ShapeError, show, to_float, to_index
if TYPE_CHECKING:
    from .training import Backward

NUM_EMBEDDINGS = Opt("num_embeddings", "size", None, "Rows of the lookup table (the vocabulary).", required=True)
EMBEDDING_DIM = Opt("embedding_dim", "size", None, "Size of each embedding vector.", required=True)
PADDING_IDX = Opt("padding_idx", "size", None, "Row that gets no gradient (negative counts from the end; convcalc counts the most, no index being it).")
MAX_NORM = Opt("max_norm", "float_or_none", None, "Renormalise looked-up rows to this norm (refused by convcalc: data-dependent).")
NORM_TYPE = Opt("norm_type", "float", "2.0", "The p of max_norm's p-norm (counts do not change).")
SCALE_GRAD = Opt("scale_grad_by_freq", "flag", False, "Scale gradients by the inverse frequency of each index in the batch.")
SPARSE = Opt("sparse", "flag", False, "Sparse weight gradient (no adds in the backward).")
MAX_NORM_REFUSED = ("convcalc does not count max_norm: PyTorch renormalises the looked-up rows in place before the "
                    "lookup, and what that costs depends on the indices")
COLLIDE_NOTE = ("embedding backward: the adds are the most the indices can need (all on one row); distinct indices "
                "need none")


@dataclass(frozen=True)
class _Table(Layer):
    num_embeddings: Size
    embedding_dim: Size

    READS = "rows"

    def _check_table(self) -> None:
        self.normalize(scalars={"num_embeddings": 1, "embedding_dim": 1})
        if self.padding_idx is not None:
            value = to_index(self.padding_idx, "padding_idx")
            e = self.num_embeddings
            if sizes.is_known_lt(e - 1, value) or sizes.is_known_lt(value, -e):
                raise ConfigError(f"{value} is not within num_embeddings {sizes.to_text(e)} (PyTorch's rule)",
                                  option="padding_idx")
            object.__setattr__(self, "padding_idx", value)
        if self.max_norm is not None:
            raise ConfigError(MAX_NORM_REFUSED, option="max_norm")
        object.__setattr__(self, "norm_type", to_float(self.norm_type, "norm_type"))

    def _report(self, input_shape: Any, batch: Any, dtype: str, training: Any = None) -> Any:
        """Indices take no gradient: the training step is counted without dL/dx."""
        if training is not None and training.input_grad:
            training = replace(training, input_grad=False)
        return super()._report(input_shape, batch, dtype, training)

    def _scatter(self, m: Any, per_index_divisions: int) -> dict:
        """dL/dW of m looked-up rows scattered into the table: the most adds (all on one row;
        none for a table whose one row is the padding row, which gets no gradient) and the
        scale's divisions (per_index_divisions an index) and D products an index."""
        d = self.embedding_dim
        if self.sparse:
            adds: Any = 0
        elif self.padding_idx is not None and sizes.known_int(self.num_embeddings) == 1:
            adds = 0  # every index is the padding row: nothing reaches the gradient
        else:
            adds = d * (m - 1)
        mults = m * per_index_divisions + (m * d if per_index_divisions else 0)
        return {"mults": mults, "adds": adds}


@dataclass(frozen=True)
class Embedding(_Table, example="--input 4,128 --num-embeddings 30000 --embedding-dim 512"):
    """A lookup table of embedding vectors indexed by int64 indices (torch.nn.Embedding); the output is the index shape plus embedding_dim."""

    padding_idx: Optional[int] = None
    max_norm: Optional[float] = None
    norm_type: float = 2.0
    scale_grad_by_freq: bool = False
    sparse: bool = False

    INPUT = "* (the int64 index tensor's shape, e.g. T)"
    OPTIONS = (NUM_EMBEDDINGS, EMBEDDING_DIM, PADDING_IDX, MAX_NORM, NORM_TYPE, SCALE_GRAD, SPARSE)

    def __post_init__(self) -> None:
        self._check_table()
        if self.scale_grad_by_freq and self.sparse:
            raise ConfigError("scale_grad_by_freq is not supported with sparse gradients (PyTorch's backward refuses it)",
                              option="scale_grad_by_freq")

    def check_input(self, shape: tuple) -> None:
        if not shape:
            raise ShapeError("needs at least one entry (the index tensor's shape)", option="input")

    def output_shape(self, shape: tuple) -> tuple:
        return tuple(shape) + (self.embedding_dim,)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        return Counts(weights=self.num_embeddings * self.embedding_dim, connections=sizes.prod(out))

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """embedding_dense_backward (CPU): grad_weight = zeros, then for each of the M =
        B*prod(shape) indices not equal to padding_idx, grad_weight[idx] += scale*dL/dy row (D
        elements). At most D*(M - 1) adds (all indices on one row; distinct ones need none);
        scale_grad_by_freq: scale = 1/count (a division an index) and D mults an index. sparse:
        the rows and their indices as they are, no arithmetic. No dL/dx (indices). Saved: the
        indices (int64, the layer's input)."""
        from .training import Backward, Saved  # only a training query imports it
        m = batch * sizes.prod(shape)
        return Backward(
            grad_weight=self._scatter(m, 1 if self.scale_grad_by_freq else 0),
            saved=(Saved("indices", m, dtype="int64", tensor="input"),),
            params={"weight": (self.num_embeddings, self.embedding_dim)},
            notes=(COLLIDE_NOTE,),
        )


MODE = Opt("mode", "choice", "mean", "How a bag's rows are reduced.", choices=("sum", "mean", "max"))
LAST_OFFSET = Opt("include_last_offset", "flag", False, "PyTorch's; ignored for the 2-D input convcalc counts.")


@dataclass(frozen=True)
class EmbeddingBag(_Table, example="--input 20 --num-embeddings 10000 --embedding-dim 64 --mode sum"):
    """Sums, means or maxima of bags of embedding vectors (torch.nn.EmbeddingBag with a 2-D (bags, N) index input); --input is the bag length N, the batch the number of bags."""

    max_norm: Optional[float] = None
    norm_type: float = 2.0
    scale_grad_by_freq: bool = False
    mode: str = "mean"
    sparse: bool = False
    include_last_offset: bool = False
    padding_idx: Optional[int] = None

    INPUT = "N (the bag length; the batch is the number of bags)"
    OPTIONS = (NUM_EMBEDDINGS, EMBEDDING_DIM, MODE, PADDING_IDX, MAX_NORM, NORM_TYPE, SCALE_GRAD, SPARSE, LAST_OFFSET)

    def __post_init__(self) -> None:
        if self.mode not in ("sum", "mean", "max"):
            raise ConfigError(f"{self.mode!r} is not one of sum, mean, max", option="mode")
        if self.mode == "max" and self.scale_grad_by_freq:
            raise ConfigError("max mode does not support scaling the gradient by the frequency (PyTorch's rule)",
                              option="scale_grad_by_freq")
        if self.mode == "max" and self.sparse:
            raise ConfigError("max mode does not support sparse weights (PyTorch's rule)", option="sparse")
        if self.scale_grad_by_freq and self.sparse:
            raise ConfigError("scale_grad_by_freq is not supported with sparse gradients (PyTorch's backward refuses it)",
                              option="scale_grad_by_freq")
        self._check_table()

    def check_input(self, shape: tuple) -> None:
        if len(shape) != 1:
            raise ShapeError(f"expects 1 entry (N, the bag length; the batch is the number of bags), got {len(shape)}: "
                             f"{show(shape)}", option="input")

    def output_shape(self, shape: tuple) -> tuple:
        return (self.embedding_dim,)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        d, n = self.embedding_dim, shape[0]
        reduce = d * (n - 1)
        c = Counts(weights=self.num_embeddings * d, connections=n * d)
        if self.mode == "max":
            c.comparisons = reduce
        else:
            c.adds = reduce
            c.mults = d if self.mode == "mean" else 0
        return c

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """B bags of N indices, M = B*N, D = embedding_dim. sum/mean
        (_embedding_bag_dense_backward_cpu_sum_mean): for each index, scale = 1 (then /= count
        with scale_grad_by_freq, /= bag size with mean: a division each) and grad_weight[idx] +=
        scale*dL/dy[bag] (axpy: D mults when scale is not 1, D adds); at most D*(M - 1) adds
        (all on one row). max: dL/dy[b, d] goes to grad_weight[argmax(b, d), d] (index_add_ per
        column): at most D*(B - 1) adds (every bag's maximum on one row). sparse: dL/dy gathered
        per index and, in mean mode, times 1/bag_size (B divisions, M*D mults), no adds. Saved (int64, as _embedding_bag's autograd node keeps
        them): the indices (the input), the offsets (B), offset2bag (a storage of M + 1; empty
        in sum mode without padding_idx, whose fast path does not fill it),
        bag_size (B) and max_indices (B*D in max mode, B otherwise)."""
        from .training import Backward, Saved  # only a training query imports it
        d, m = self.embedding_dim, batch * shape[0]
        if self.mode == "max":
            grad = {"adds": d * (batch - 1)}
        elif self.sparse:  # index_select of dL/dy by offset2bag, times 1/bag_size (B divisions) in mean mode
            grad = {"mults": batch + m * d if self.mode == "mean" else 0, "adds": 0}
        else:
            grad = self._scatter(m, int(self.scale_grad_by_freq) + int(self.mode == "mean"))
        return Backward(
            grad_weight=grad,
            saved=(Saved("indices", m, dtype="int64", tensor="input"), Saved("offsets", batch, dtype="int64"),
                   Saved("offset2bag", 0 if self.mode == "sum" and self.padding_idx is None else m + 1, dtype="int64"), Saved("bag_size", batch, dtype="int64"),
                   Saved("max_indices", batch * d if self.mode == "max" else batch, dtype="int64")),
            params={"weight": (self.num_embeddings, d)},
            notes=(COLLIDE_NOTE,),
        )
