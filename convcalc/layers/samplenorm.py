"""Per-sample normalisation: torch.nn.GroupNorm, LayerNorm, InstanceNorm1d/2d/3d and
LocalResponseNorm.

Parameters and buffers are counted as PyTorch stores them: GroupNorm weight and bias (C each,
affine), LayerNorm weight (and bias unless bias=False) of shape normalized_shape
(elementwise_affine), InstanceNorm weight and bias (C each, affine=True; default off) and, with
track_running_stats=True (default off), running_mean and running_var (C each, the layer's dtype)
and num_batches_tracked (int64); LocalResponseNorm has none.

Forward counts (``counts``) are those of the module in eval() mode, per sample. GroupNorm,
LayerNorm and InstanceNorm without running statistics compute their statistics per sample in
eval() mode too, the same as in train() mode. Per group of m elements normalised together
(GroupNorm: the m = C/G*prod(spatial) elements of a group; LayerNorm: a row of
m = prod(normalized_shape); InstanceNorm: a channel's m = prod(spatial)):
- mean: m - 1 adds and one mult (the division by m);
- variance (biased, two-pass): m adds (x - mean), m mults (squares), m - 1 adds, one mult;
- 1/sqrt(var + eps): one add and one transcendental (rsqrt);
- the normalisation (x - mean)*invstd: m mults (the differences of the variance pass reused);
so a sample of N elements in g groups costs 2N + 2g mults, 3N - g adds and g transcendentals.
The affine adds per element a mult (weight) and an add (bias; LayerNorm with bias=False has
none). InstanceNorm with track_running_stats=True in eval() mode normalises with its running
statistics instead, as BatchNorm does at inference: per element an add (x - running_mean) and a
mult (* 1/sqrt(running_var + eps), per channel and not counted), plus the affine. The train()
mode forward of that layer (per-sample statistics, as without running statistics, and the
running-statistics update) is not what is counted.

LocalResponseNorm (torch.nn.functional.local_response_norm, built from elementary ops) per
element: x*x (a mult), the average over ``size`` channels of the zero-padded squares (size - 1
adds and a division), * alpha (a mult), + k (an add), ** beta (a transcendental, or for an
integer beta |beta| - 1 mults and, when negative, a division; beta = 0 gives ones), and x / that
(a mult): the same in train() and eval() mode.

The backward is counted in train() mode as PyTorch's CPU kernels compute it: see each
``backward``. No layer here computes a matrix product: FlopCounterMode counts 0, and so do macs.
Divisions count as mults; a negation (-x) is a sign flip and is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional, TYPE_CHECKING

from .. import sizes
from ..sizes import Size, SizeArg
from ..errors import ConfigError, ConvcalcError, ShapeError
from ..expr import parse_tuple
from .base import Counts, Layer, Opt, expect_channels, expect_rank, read_shape, show, to_float, to_value
if TYPE_CHECKING:
    from .training import Backward

EPS = Opt("eps", "float", "1e-05", "Added to the variance for stability (counts do not change).")
MOMENTUM = Opt("momentum", "float_or_none", "0.1", "Running statistics update factor in [0, 1], or none for a cumulative average (counts do not change).")


def moments(elements: Any, groups: Any) -> dict:
    """Mean, biased variance, 1/sqrt(var + eps) and (x - mean)*invstd of ``elements`` split into
    ``groups`` groups normalised together (the module docstring's convention)."""
    return {"mults": 2 * elements + 2 * groups, "adds": 3 * elements - groups, "transcendentals": groups}


def divides(g: Any, c: Any) -> Optional[bool]:
    """Whether g divides c: True, False, or None while symbols leave it open."""
    if sizes.all_int(g, c):
        return c % g == 0
    rest = sizes.known_int(sizes.normalize(c - g * (c // g)))
    return None if rest is None else rest == 0


@dataclass(frozen=True)
class GroupNorm(Layer, example="--input 64,56,56 --num-groups 32"):
    """Group normalisation over C or C,* (torch.nn.GroupNorm): per sample, mean and variance of each of num_groups groups of C/num_groups channels."""

    num_groups: Size
    num_channels: Size
    eps: float = 1e-5
    affine: bool = True

    INPUT = "C or C,* (channels first)"
    INFERRED = {"num_channels": 0}
    SCALAR = "num_groups"
    OPTIONS = (Opt("num_groups", "size", None, "Number of groups the channels are split into (must divide C).", required=True),
               EPS, Opt("affine", "flag", True, "Learnable per-channel weight and bias."))

    def __post_init__(self) -> None:
        self.normalize(scalars={"num_groups": 1, "num_channels": 1})
        object.__setattr__(self, "eps", to_float(self.eps, "eps"))
        if divides(self.num_groups, self.num_channels) is False:
            raise ConfigError(f"num_channels {sizes.to_text(self.num_channels)} must be divisible by num_groups "
                              f"{sizes.to_text(self.num_groups)} (as in PyTorch)", option="num_groups")

    def window_steps(self) -> str:
        return "keep"

    def check_input(self, shape: tuple) -> None:
        if sizes.compare(shape[0], self.num_channels) not in (0, None):
            raise ShapeError(f"has {sizes.to_text(shape[0])} channels but num_channels is "
                             f"{sizes.to_text(self.num_channels)}", option="input")

    def output_shape(self, shape: tuple) -> tuple:
        return tuple(shape)

    def _report(self, input_shape: Any, batch: Any, dtype: str, training: Any = None) -> Any:
        # F.group_norm refuses a batch with one value per group: B*C/G*prod(spatial) == 1
        shape = read_shape(input_shape)
        if sizes.all_int(batch, *shape) and self.num_groups == shape[0] and batch * sizes.prod(shape[1:]) == 1:
            raise ShapeError("expected more than 1 value per group (PyTorch's group_norm refuses batch * C/num_groups * "
                             "spatial == 1)", option="input")
        return super()._report(input_shape, batch, dtype, training)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        c = self.num_channels
        n = sizes.prod(shape)
        m = moments(n, self.num_groups)
        extra = n if self.affine else 0
        return Counts(weights=c if self.affine else 0, biases=c if self.affine else 0, mults=m["mults"] + extra,
                      adds=m["adds"] + extra, transcendentals=m["transcendentals"], connections=n,
                      notes=self._notes())

    def _notes(self) -> tuple:
        if divides(self.num_groups, self.num_channels) is None:
            return (f"groupnorm: assumes num_groups {sizes.to_text(self.num_groups)} divides the channels "
                    f"{sizes.to_text(self.num_channels)} (PyTorch refuses otherwise)",)
        return ()

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """native_group_norm_backward, PyTorch's CPU kernel (group_norm_kernel.cpp), B samples,
        C channels in G groups of D = C/G, S = prod(spatial), N = B*C*S elements:
        - per (sample, channel): ds = sum dL/dy*x (S mults, S - 1 adds) and db = sum dL/dy
          (S - 1 adds): B*C*S mults, 2(N - B*C) adds;
        - per (sample, group): sum over its D channels of ds*weight and db*weight (2D mults with
          affine, none without; 2(D - 1) adds); c2 = (db*mean - ds)*rstd^3/(D*S) (5 mults, an
          add) and c3 = -c2*mean - db*rstd/(D*S) (3 mults, an add);
        - per (sample, channel) with affine c1 = rstd*weight (a mult);
        - dL/dx = c1*dL/dy + c2*x + c3: 2 mults and 2 adds per element;
        so grad_input: mults = 3N + 8BG (+ 3BC with affine), adds = 4N. As for BatchNorm, ds and
        db serve dL/dx and dL/dW alike and are counted once, with dL/dx.
        grad_weight (affine): dL/dweight[c] = sum over samples of (ds - db*mean)*rstd (2 mults
        and an add per (sample, channel), B - 1 adds per channel), dL/dbias[c] = sum over
        samples of db (B - 1 adds): 2BC mults, (3B - 2)C adds.
        Saved: the input, mean and rstd (B*G each, the input's dtype); weight is a parameter."""
        from .training import Backward, Saved  # only a training query imports it
        c, g = self.num_channels, self.num_groups
        n = batch * sizes.prod(shape)
        bc, bg = batch * c, batch * g
        params = {"weight": (c,), "bias": (c,)} if self.affine else {}
        return Backward(
            grad_input={"mults": 3 * n + 8 * bg + (3 * bc if self.affine else 0), "adds": 4 * n},
            grad_weight={"mults": 2 * bc, "adds": (3 * batch - 2) * c} if self.affine else {},
            saved=(Saved("input", n, tensor="input"), Saved("mean", bg), Saved("rstd", bg)),
            params=params,
            notes=("group normalisation backward: the per-channel sums of dL/dy and dL/dy*x serve dL/dx and dL/dW "
                   "alike and are counted once, with dL/dx",),
        )


class ShapeOpt(Opt):
    """normalized_shape: one size or several (5 or 5,4); none or absent: the input's last entry."""

    def parse(self, raw: Any) -> Any:
        if isinstance(raw, str):
            if raw.strip().lower() == "none":
                return None
            return parse_tuple(raw)
        return raw


@dataclass(frozen=True)
class LayerNorm(Layer, example="--input 197,768"):
    """Layer normalisation over the trailing entries normalized_shape (torch.nn.LayerNorm; by default the input's last entry)."""

    normalized_shape: Optional[SizeArg] = None
    eps: float = 1e-5
    elementwise_affine: bool = True
    bias: bool = True

    INPUT = "any shape ending in normalized_shape"
    SCALAR = "normalized_shape"
    OPTIONS = (ShapeOpt("normalized_shape", "sizes", None,
                        "The trailing entries normalised together: one size or several (5,4); default: the input's last entry."),
               EPS,
               Opt("elementwise_affine", "flag", True, "Learnable weight (and bias) of shape normalized_shape."),
               Opt("bias", "flag", True, "With elementwise_affine, a learnable bias too."))

    def __post_init__(self) -> None:
        ns = self.normalized_shape
        if ns is not None:
            if isinstance(ns, str):
                try:
                    ns = parse_tuple(ns)
                except ConvcalcError as e:
                    raise e.with_context(option="normalized_shape") from None
            values = tuple(ns) if isinstance(ns, (tuple, list)) else (ns,)
            if not values:
                raise ConfigError("needs at least one size", option="normalized_shape")
            values = tuple(to_value(v, "normalized_shape") for v in values)
            for v in values:
                if sizes.is_known_lt(v, 1):
                    raise ConfigError(f"must be positive, got {sizes.to_text(v)}", option="normalized_shape")
            object.__setattr__(self, "normalized_shape", values)
        object.__setattr__(self, "eps", to_float(self.eps, "eps"))

    @classmethod
    def inferred(cls, input_shape: tuple) -> dict:
        """Without normalized_shape the command line and network files normalise the last entry."""
        return {"normalized_shape": (input_shape[-1],)} if input_shape else {}

    def window_steps(self) -> str:
        return "keep"

    def dims(self, shape: tuple) -> tuple:
        """normalized_shape, or the input's last entry when it is not given."""
        return self.normalized_shape if self.normalized_shape is not None else (shape[-1],)

    def check_input(self, shape: tuple) -> None:
        ns = self.dims(shape)
        if len(ns) > len(shape):
            raise ShapeError(f"normalized_shape {show(ns)} has {len(ns)} entries but the input only {len(shape)} "
                             "(convcalc does not normalise over the batch)", option="input")
        tail = shape[len(shape) - len(ns):]
        if any(sizes.compare(a, b) not in (0, None) for a, b in zip(tail, ns)):
            raise ShapeError(f"expected an input ending in normalized_shape {show(ns)}, got {show(shape)}", option="input")

    def output_shape(self, shape: tuple) -> tuple:
        return tuple(shape)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        ns = self.dims(shape)
        n = sizes.prod(shape)
        rows = sizes.prod(shape[: len(shape) - len(ns)])
        per = sizes.prod(ns)
        m = moments(n, rows)
        weights = per if self.elementwise_affine else 0
        biases = per if self.elementwise_affine and self.bias else 0
        return Counts(weights=weights, biases=biases, mults=m["mults"] + (n if weights else 0),
                      adds=m["adds"] + (n if biases else 0), transcendentals=m["transcendentals"], connections=n)

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """native_layer_norm_backward, PyTorch's CPU kernel (layer_norm_kernel.cpp), over M =
        B*prod(leading entries) rows of n = prod(normalized_shape), E = M*n elements, per row:
        - ds = sum dL/dy*x*weight (2n mults with a weight, n without; n - 1 adds) and
          db = sum dL/dy*weight (n mults with a weight; n - 1 adds);
        - b = (db*mean - ds)*rstd^3/n (5 mults, an add), c = -b*mean - db*rstd/n (3 mults, an add);
        - dL/dx = rstd*dL/dy*weight + b*x + c (3 mults with a weight, 2 without; 2 adds);
        so grad_input: mults = M(6n + 8) with a weight, M(3n + 8) without; adds = 4E.
        grad_weight: dL/dweight = sum over rows of dL/dy*(rstd*x - rstd*mean) (a mult per row,
        2 mults and an add per element, (M - 1)n adds): 2E + M mults, E + (M - 1)n adds;
        dL/dbias = sum over rows of dL/dy: (M - 1)n adds. The kernel computes these apart from
        dL/dx's sums (nothing shared).
        Saved: the input, mean and rstd (M each, the input's dtype); weight and bias are parameters."""
        from .training import Backward, Saved  # only a training query imports it
        ns = self.dims(shape)
        per = sizes.prod(ns)
        rows = batch * sizes.prod(shape[: len(shape) - len(ns)])
        e = rows * per
        params, grad_weight = {}, {}
        if self.elementwise_affine:
            params["weight"] = tuple(ns)
            grad_weight = {"mults": 2 * e + rows, "adds": e + (rows - 1) * per}
            if self.bias:
                params["bias"] = tuple(ns)
                grad_weight["adds"] += (rows - 1) * per
        return Backward(
            grad_input={"mults": rows * ((6 if self.elementwise_affine else 3) * per + 8), "adds": 4 * e},
            grad_weight=grad_weight,
            saved=(Saved("input", e, tensor="input"), Saved("mean", rows), Saved("rstd", rows)),
            params=params,
        )

@dataclass(frozen=True)
class _InstanceNormNd(Layer):
    num_features: Size
    eps: float = 1e-5
    momentum: Optional[float] = 0.1
    affine: bool = False
    track_running_stats: bool = False

    RANKS: ClassVar[tuple[int, ...]] = ()
    INFERRED = {"num_features": 0}
    OPTIONS = (EPS, MOMENTUM, Opt("affine", "flag", False, "Learnable per-channel weight and bias (PyTorch's default: off)."),
               Opt("track_running_stats", "flag", False,
                   "Keep running_mean, running_var and num_batches_tracked, used in eval() mode (default: off)."))

    def __post_init__(self) -> None:
        self.normalize(scalars={"num_features": 1})
        object.__setattr__(self, "eps", to_float(self.eps, "eps"))
        if self.momentum is not None:
            object.__setattr__(self, "momentum", to_float(self.momentum, "momentum"))

    def window_steps(self) -> str:
        return "keep"

    def check_input(self, shape: tuple) -> None:
        expect_rank(self, shape, self.RANKS)
        if self.affine or self.track_running_stats:  # without either PyTorch only warns
            expect_channels(shape, self.num_features, "num_features")
        if not self.track_running_stats and sizes.known_int(sizes.prod(shape[1:])) == 1:
            raise ShapeError("expected more than 1 spatial element (PyTorch's instance_norm uses the input's statistics "
                             "and refuses a single element per channel)", option="input")

    def output_shape(self, shape: tuple) -> tuple:
        return tuple(shape)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        c = self.num_features
        n = sizes.prod(shape)
        if self.track_running_stats:  # eval(): the running statistics, as BatchNorm at inference
            m = {"mults": n, "adds": n, "transcendentals": 0}
        else:
            m = moments(n, shape[0])
        extra = n if self.affine else 0
        notes = ()
        if not (self.affine or self.track_running_stats) and sizes.compare(shape[0], c) not in (0, None):
            notes = (f"{self.NAME}: num_features {sizes.to_text(c)} differs from the input's {sizes.to_text(shape[0])} "
                     "channels: PyTorch only warns, and so does convcalc (it is unused)",)
        return Counts(
            weights=c if self.affine else 0, biases=c if self.affine else 0,
            buffers=2 * c if self.track_running_stats else 0, int_buffers=1 if self.track_running_stats else 0,
            mults=m["mults"] + extra, adds=m["adds"] + extra, transcendentals=m["transcendentals"], connections=n,
            notes=notes + ("instance normalisation: eval() mode with running statistics, as BatchNorm at inference; "
                           "train() mode uses each sample's statistics",) * self.track_running_stats,
        )

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """train() mode: at::instance_norm reshapes the input to (1, B*C, *spatial), repeats
        weight and bias (and the running statistics) B times and calls batch_norm with the
        input's statistics, so the backward is BatchNorm's (see ``_BatchNormNd.backward``) over
        c = B*C channels of S = prod(spatial) elements, N = B*C*S: grad_input mults
        N + 4c + (3 or 2)N, adds 6N - 2c. grad_weight (affine): dL/dweight of the repeated
        weight (c mults), then repeat's backward sums the B copies of dL/dweight and of dL/dbias:
        2(B - 1)C adds.
        Saved: the input (a view of it), save_mean and save_invstd (c each, float32), with
        affine the repeated weight (c), with track_running_stats the repeated running_mean and
        running_var (c each): new tensors, so they count (the layer's dtype)."""
        from .training import Backward, Saved  # only a training query imports it
        if sizes.known_int(sizes.prod(shape[1:])) == 1:
            raise ShapeError("expected more than 1 spatial element when training (PyTorch's instance_norm)", option="input")
        c = self.num_features
        bc = batch * shape[0]
        n = batch * sizes.prod(shape)
        saved = [Saved("input", n, tensor="input"), Saved("save_mean", bc, dtype="float32"),
                 Saved("save_invstd", bc, dtype="float32")]
        if self.affine:
            saved.append(Saved("weight (repeated)", bc))
        if self.track_running_stats:
            saved += [Saved("running_mean (repeated)", bc), Saved("running_var (repeated)", bc)]
        return Backward(
            grad_input={"mults": n + 4 * bc + (3 if self.affine else 2) * n, "adds": 6 * n - 2 * bc},
            grad_weight={"mults": bc, "adds": 2 * (batch - 1) * c} if self.affine else {},
            saved=tuple(saved),
            params={"weight": (c,), "bias": (c,)} if self.affine else {},
            notes=("instance normalisation backward: batch normalisation's over B*C channels (the per-channel sums "
                   "serve dL/dx and dL/dW alike and are counted once, with dL/dx)",),
        )


class InstanceNorm1d(_InstanceNormNd, example="--input 64,100"):
    """Instance normalisation over C,L (torch.nn.InstanceNorm1d; PyTorch's unbatched C,L is batch 1)."""

    RANKS = (2,)
    INPUT = "C,L"


class InstanceNorm2d(_InstanceNormNd, ndim=2, example="--input 64,128,128"):
    """Instance normalisation over C,H,W (torch.nn.InstanceNorm2d)."""

    RANKS = (3,)


class InstanceNorm3d(_InstanceNormNd, ndim=3, example="--input 16,8,32,32"):
    """Instance normalisation over C,D,H,W (torch.nn.InstanceNorm3d)."""

    RANKS = (4,)
