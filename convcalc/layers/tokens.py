"""Tokens and positions: the layers that turn feature maps into token sequences and give tokens
their positions (issue 13): permute, transpose, rmsnorm, classtoken, positionembedding,
selecttoken.

- permute (torch.permute as a layer; ``dims`` in PyTorch's numbering, the batch at 0 and kept
  there) and transpose (dim0, dim1; the batch refused): views, nothing computed or saved.
- rmsnorm (torch.nn.RMSNorm, PyTorch 2.13's composite on the CPU: x * rsqrt(mean(x^2) + eps) *
  weight) over rows of m = prod(normalized_shape): per element a square, the normalising mult and
  (affine) the weight's mult; per row m - 1 adds and a division for the mean, an add for eps and a
  transcendental (rsqrt).
- classtoken (torchvision's ViT: ``cat([class_token.expand(B, -1, -1), x], dim=1)``): a learned
  (1, 1, D) parameter put before the T tokens (T + 1 out); copies, nothing computed.
- positionembedding: a learned table added to the tokens, T*D adds a sample. By default
  torchvision's (1, P, D) parameter ``pos_embedding`` (P = num_positions, default T; the first T
  rows are added); with ``indexed`` an nn.Embedding(P, D) read at positions 0..T-1 (GPT-2's wpe:
  its ``weight``; the T int64 position indices are saved for its backward).
- selecttoken (``x[:, index]``): one token (T, D -> D), a view of its input; nothing computed.

Backward (autograd's formulas): the views' and the cat's gradients are copies and slices; the
class token's and the position table's gradients sum dL/dy over the batch ((B - 1) per element);
rmsnorm's in its ``backward``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, TYPE_CHECKING

from .. import sizes
from ..sizes import Size, SizeArg
from ..errors import ConfigError, ShapeError
from ..expr import parse_tuple
from .base import Counts, Layer, Opt, expect_rank, to_float, to_value
from .elementwise import batch_dim
from .values import require, to_index

if TYPE_CHECKING:
    from .training import Backward


def _nothing() -> "Backward":
    from .training import Backward  # only a training query imports it
    return Backward()


class _DimsOpt(Opt):
    """A tuple of dims (negative allowed), as text 0,2,1 or a list; never evaluated."""

    def parse(self, raw: Any) -> Any:
        if isinstance(raw, str):
            return parse_tuple(raw)
        return raw


@dataclass(frozen=True)
class Permute(Layer, example="--input 196,768 --dims 0,2,1"):
    """Permute the dimensions (torch.permute; dims count the batch as 0, which stays first): a view."""

    dims: SizeArg = ()

    INPUT = "any shape"
    SCALAR = "dims"
    OPTIONS = (_DimsOpt("dims", "sizes", None, "The new order of the dimensions, PyTorch's (batch = 0, kept first).",
                        required=True),)
    VIEW = "alias"

    def __post_init__(self) -> None:
        dims = self.dims if isinstance(self.dims, (tuple, list)) else (self.dims,)
        object.__setattr__(self, "dims", tuple(to_index(d, "dims") for d in dims))

    def order(self, shape: tuple) -> tuple:
        rank = len(shape) + 1
        if len(self.dims) != rank:
            raise ShapeError(f"has {len(self.dims)} dims but the input has {rank} with the batch "
                             f"(number of dims don't match in permute)", option="dims")
        norm = []
        for d in self.dims:
            if not -rank <= d < rank:
                raise ShapeError(f"dimension {d} out of range (expected to be in range of [{-rank}, {rank - 1}])", option="dims")
            norm.append(d % rank)
        if len(set(norm)) != rank:
            raise ShapeError("repeated dim in permute", option="dims")
        if norm[0] != 0:
            raise ShapeError("moves the batch dimension 0, which convcalc keeps first", option="dims")
        return tuple(d - 1 for d in norm[1:])

    def check_input(self, shape: tuple) -> None:
        self.order(shape)

    def output_shape(self, shape: tuple) -> tuple:
        return tuple(shape[i] for i in self.order(shape))

    def counts(self, shape: tuple, out: tuple) -> Counts:
        return Counts()

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """permute's gradient is dL/dy permuted back (a view): nothing computed, nothing saved."""
        return _nothing()


@dataclass(frozen=True)
class Transpose(Layer, example="--input 768,196 --dim0 1 --dim1 2"):
    """Swap two dimensions (torch.transpose; dims count the batch as 0, which is refused): a view."""

    dim0: int = 1
    dim1: int = 2

    INPUT = "any shape"
    OPTIONS = (Opt("dim0", "size", "1", "A dimension, PyTorch's (batch = 0)."),
               Opt("dim1", "size", "2", "The other dimension."))
    VIEW = "alias"

    def __post_init__(self) -> None:
        object.__setattr__(self, "dim0", to_index(self.dim0, "dim0"))
        object.__setattr__(self, "dim1", to_index(self.dim1, "dim1"))

    def pair(self, shape: tuple) -> tuple:
        return batch_dim(self.dim0, len(shape), "dim0"), batch_dim(self.dim1, len(shape), "dim1")

    def check_input(self, shape: tuple) -> None:
        self.pair(shape)

    def output_shape(self, shape: tuple) -> tuple:
        a, b = self.pair(shape)
        out = list(shape)
        out[a], out[b] = out[b], out[a]
        return tuple(out)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        return Counts()

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """transpose's gradient is dL/dy transposed back (a view): nothing computed, nothing saved."""
        return _nothing()


@dataclass(frozen=True)
class RMSNorm(Layer, example="--input 128,4096"):
    """Root-mean-square normalisation over the trailing normalized_shape (torch.nn.RMSNorm; default the last entry)."""

    normalized_shape: Optional[SizeArg] = None
    eps: Optional[float] = None
    elementwise_affine: bool = True

    INPUT = "any shape ending in normalized_shape"
    SCALAR = "normalized_shape"
    OPTIONS = (_DimsOpt("normalized_shape", "sizes", None, "The trailing entries normalised together (default: the last)."),
               Opt("eps", "float_or_none", "none", "Added to the mean square (default: the dtype's machine epsilon); no count changes."),
               Opt("elementwise_affine", "flag", True, "A learnable weight of shape normalized_shape."))

    def __post_init__(self) -> None:
        ns = self.normalized_shape
        if ns is not None:
            values = tuple(ns) if isinstance(ns, (tuple, list)) else (ns,)
            if not values:
                raise ConfigError("needs at least one size", option="normalized_shape")
            values = tuple(to_value(v, "normalized_shape") for v in values)
            require(values, "normalized_shape", minimum=1)
            object.__setattr__(self, "normalized_shape", values)
        if self.eps is not None and not (isinstance(self.eps, str) and self.eps.strip().lower() == "none"):
            object.__setattr__(self, "eps", to_float(self.eps, "eps"))
        else:
            object.__setattr__(self, "eps", None)

    def trailing(self, shape: tuple) -> tuple:
        return tuple(self.normalized_shape) if self.normalized_shape is not None else (shape[-1],)

    def check_input(self, shape: tuple) -> None:
        ns = self.trailing(shape) if shape else ()
        if not shape or len(shape) < len(ns):
            raise ShapeError(f"needs at least {max(len(ns), 1)} entries", option="input")
        for a, b in zip(shape[len(shape) - len(ns):], ns):
            if sizes.compare(a, b) not in (0, None):
                raise ShapeError(f"the trailing entries {sizes.to_text(a)} are not normalized_shape "
                                 f"{', '.join(sizes.to_text(v) for v in ns)}", option="input")

    def output_shape(self, shape: tuple) -> tuple:
        return tuple(shape)

    def window_steps(self) -> str:
        return "keep"

    def counts(self, shape: tuple, out: tuple) -> Counts:
        m = sizes.prod(self.trailing(shape))
        n = sizes.prod(shape)
        rows = sizes.prod(shape[: len(shape) - len(self.trailing(shape))])
        affine = n if self.elementwise_affine else 0
        return Counts(weights=m if self.elementwise_affine else 0, mults=2 * n + rows + affine, adds=rows * m,
                      transcendentals=rows, connections=n)

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """Autograd through the composite y = (x * r) * w, r = rsqrt(mean(x^2) + eps), over N
        elements in R rows of m (the whole batch), g = dL/dy:
        - dL/dw = sum over rows of g*(x*r): N mults, N - m adds (grad_weight);
        - dL/d(x*r) = g*w: N mults (affine; needed by dL/dx only);
        - from x*r: g'*r (N mults) and dL/dr = sum over the row of g'*x (N mults, N - R adds);
        - rsqrt's backward -0.5*r^3*dL/dr: r^3 (2 mults), two more mults: 4 a row;
        - mean's: expand and divide by m (N mults); pow's: 2*x*g'' (2N mults; x^1 is x);
        - the two paths to x summed: N adds.
        dL/dx: 5N + 4R mults (6N + 4R with the weight) and 2N - R adds. Saved: x and r (for
        dL/dx; nothing before the weight has a node when x needs no gradient) and x*r (for dL/dw)."""
        from .training import Backward, Saved  # only a training query imports it
        m = sizes.prod(self.trailing(shape))
        n = batch * sizes.prod(shape)
        rows = batch * sizes.prod(shape[: len(shape) - len(self.trailing(shape))])
        affine = self.elementwise_affine
        saved = [Saved("input", n, tensor="input", needed_for="input"), Saved("rsqrt(mean(x^2) + eps)", rows, needed_for="input")]
        if affine:
            saved.append(Saved("x * rsqrt(...)", n, needed_for="weight"))
        return Backward(
            grad_input={"mults": (6 if affine else 5) * n + 4 * rows, "adds": 2 * n - rows},
            grad_weight={"mults": n, "adds": n - m} if affine else {},
            saved=tuple(saved),
            params={"weight": tuple(self.trailing(shape))} if affine else {},
        )


@dataclass(frozen=True)
class ClassToken(Layer, example="--input 196,768"):
    """A learned class token put before the tokens (torchvision's ViT class_token, (1, 1, D)): T,D -> T+1,D."""

    embed_dim: Size = None

    INPUT = "T,D"
    INFERRED = {"embed_dim": -1}
    OPTIONS = ()

    def __post_init__(self) -> None:
        self.normalize(scalars={"embed_dim": 1})

    def check_input(self, shape: tuple) -> None:
        expect_rank(self, shape, 2)

    def output_shape(self, shape: tuple) -> tuple:
        return (sizes.normalize(shape[0] + 1), shape[1])

    def counts(self, shape: tuple, out: tuple) -> Counts:
        return Counts(weights=self.embed_dim)

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """cat's gradient is sliced (dL/dx: nothing); the token's is expand's backward, the sum
        of its B rows of dL/dy: (B - 1)*D adds. Nothing saved (cat and expand keep sizes)."""
        from .training import Backward  # only a training query imports it
        return Backward(grad_weight={"adds": (batch - 1) * self.embed_dim}, params={"class_token": (1, 1, self.embed_dim)})


@dataclass(frozen=True)
class PositionEmbedding(Layer, example="--input 197,768"):
    """A learned position table added to the tokens: torchvision's (1, P, D) pos_embedding, or with --indexed an nn.Embedding(P, D) read at 0..T-1 (GPT-2's wpe)."""

    READS = "rows"

    num_positions: Optional[Size] = None
    embedding_dim: Size = None
    indexed: bool = False
    ids: str = "arange"

    INPUT = "T,D"
    INFERRED = {"embedding_dim": -1}
    SCALAR = "num_positions"
    OPTIONS = (Opt("num_positions", "size_or_none", "none", "Rows of the table, at least T (default: T)."),
               Opt("indexed", "flag", False, "An nn.Embedding read at positions 0..T-1 (its weight), not a parameter added whole."),
               Opt("ids", "choice", "arange", "With indexed: the positions made by arange in the forward (GPT-2; saved as an "
                   "activation) or read from a registered int64 buffer of num_positions (BERT's position_ids).",
                   choices=("arange", "buffer")))

    def __post_init__(self) -> None:
        self.normalize(scalars={"embedding_dim": 1})
        if self.ids not in ("arange", "buffer"):
            raise ConfigError(f"{self.ids!r} is not one of arange, buffer", option="ids")
        if self.ids == "buffer" and not self.indexed:
            raise ConfigError("position ids from a buffer are for an indexed table (--indexed)", option="ids")
        p = self.num_positions
        if p is not None and not (isinstance(p, str) and p.strip().lower() == "none"):
            p = to_value(p, "num_positions")
            require(p, "num_positions", minimum=1)
            object.__setattr__(self, "num_positions", p)
        else:
            object.__setattr__(self, "num_positions", None)

    def rows(self, shape: tuple) -> Any:
        return shape[0] if self.num_positions is None else self.num_positions

    def check_input(self, shape: tuple) -> None:
        expect_rank(self, shape, 2)
        if sizes.compare(shape[0], self.rows(shape)) == 1:
            raise ShapeError(f"has {sizes.to_text(shape[0])} positions but the table has {sizes.to_text(self.rows(shape))} "
                             "rows (num_positions)", option="input")

    def output_shape(self, shape: tuple) -> tuple:
        return tuple(shape)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        n = sizes.prod(shape)
        ids = self.indexed and self.ids == "buffer"
        return Counts(weights=self.rows(shape) * self.embedding_dim, adds=n, connections=n,
                      int_buffers=self.rows(shape) if ids else 0)

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """x + table[:T]: dL/dx is dL/dy (nothing); the table's gradient sums dL/dy over the
        batch, (B - 1)*T*D adds (rows past T get zeros). Indexed (nn.Embedding at arange(T)):
        the same sum, then embedding's backward puts each of the T distinct rows in place (no
        adds); it saves the T int64 indices."""
        from .training import Backward, Saved  # only a training query imports it
        T, D = shape
        rows = self.rows(shape)
        grad = {"adds": (batch - 1) * T * D}
        if self.indexed:
            saved = () if self.ids == "buffer" else (Saved("position indices 0..T-1", T, dtype="int64", needed_for="weight"),)
            return Backward(grad_weight=grad, params={"weight": (rows, D)}, saved=saved)
        return Backward(grad_weight=grad, params={"pos_embedding": (1, rows, D)})


@dataclass(frozen=True)
class SelectToken(Layer, example="--input 197,768"):
    """One token of the sequence (x[:, index]; the class token by default): T,D -> D, a view."""

    index: int = 0

    INPUT = "T,..."
    SCALAR = "index"
    OPTIONS = (Opt("index", "size", "0", "The token (negative from the end)."),)
    VIEW = "part"

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", to_index(self.index, "index"))

    def check_input(self, shape: tuple) -> None:
        if len(shape) < 2:
            raise ShapeError(f"needs a sequence and features (T,D), got {len(shape)} entries", option="input")
        T = shape[0]
        if sizes.is_int(T) and not -T <= self.index < T:
            raise ShapeError(f"index {self.index} is out of bounds for {T} tokens", option="index")

    def output_shape(self, shape: tuple) -> tuple:
        return tuple(shape[1:])

    def counts(self, shape: tuple, out: tuple) -> Counts:
        return Counts()

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """select_backward: zeros with dL/dy copied into the token's place: nothing computed or saved."""
        return _nothing()


@dataclass(frozen=True)
class TokenTypeEmbedding(Layer, example="--input 128,768"):
    """BERT's token type (segment) embedding added to the tokens: an nn.Embedding(num_token_types, D) read at token type ids, by default the zeros of a registered int64 buffer of max_positions."""

    READS = "rows"

    num_token_types: Size = 2
    embedding_dim: Size = None
    max_positions: Size = 512

    INPUT = "T,D"
    INFERRED = {"embedding_dim": -1}
    SCALAR = "num_token_types"
    OPTIONS = (Opt("num_token_types", "size", "2", "Rows of the table (type_vocab_size)."),
               Opt("max_positions", "size", "512", "Length of the buffer of token type ids (zeros), at least T."))

    def __post_init__(self) -> None:
        self.normalize(scalars={"embedding_dim": 1, "num_token_types": 1, "max_positions": 1})

    def check_input(self, shape: tuple) -> None:
        expect_rank(self, shape, 2)
        if sizes.compare(shape[0], self.max_positions) == 1:
            raise ShapeError(f"has {sizes.to_text(shape[0])} tokens but the ids buffer holds "
                             f"{sizes.to_text(self.max_positions)} (max_positions)", option="input")

    def output_shape(self, shape: tuple) -> tuple:
        return tuple(shape)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        n = sizes.prod(shape)
        return Counts(weights=self.num_token_types * self.embedding_dim, adds=n, connections=n, int_buffers=self.max_positions)

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """x + table[ids], ids the buffer's zeros expanded to (B, T): dL/dx is dL/dy; embedding's
        backward adds the B*T rows of dL/dy into row 0: (B*T - 1)*D adds. The saved ids are the
        buffer's (a view): no activation saved."""
        from .training import Backward  # only a training query imports it
        T, D = shape
        return Backward(grad_weight={"adds": (batch * T - 1) * D}, params={"weight": (self.num_token_types, D)})
