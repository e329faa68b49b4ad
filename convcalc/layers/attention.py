"""Multi-head attention, as torch.nn.MultiheadAttention (and grouped-/multi-query attention).

Input ``T,E``: T query positions of E = embed_dim features (the batch via --batch; PyTorch's
batch_first only changes the layout). Self-attention by default (query, key and value are the
input); ``kv_len`` S (--kv-len) makes it cross-attention: key and value are then one S x kdim
tensor (the memory, as nn.TransformerDecoderLayer passes it) when kdim == vdim, else two (S x
kdim and S x vdim). With kdim == vdim == E the projection weight is PyTorch's packed
in_proj_weight (3E, E), else q_proj_weight, k_proj_weight, v_proj_weight.

Counted as PyTorch 2.13 computes it on the math path (F.multi_head_attention_forward with
need_weights=False, as nn.TransformerEncoderLayer calls it, then aten's
_scaled_dot_product_attention_math), per sample, with h = num_heads, d = head_dim = E/h, and
S' = S + add_bias_kv + add_zero_attn key positions (bias_k/bias_v and a zero key/value are
appended, copies only):
- projections: macs T*E*E + S*kdim*k + S*vdim*k (k = kv_heads*d), a sum of n products n - 1
  adds per element, plus one bias add per projected element;
- scaling: the math kernel multiplies both q and k by sqrt(1/sqrt(d)): h*T*d + h*S'*d mults;
- scores Q K^T per head: h*T*S'*d macs, h*T*S'*(d - 1) adds;
- causal / window masks: the framework computes all T x S' scores and adds a float mask
  (0 or -inf) to each: h*T*S' adds (building the T x S' mask once, independent of the
  batch, is not counted);
- softmax over the S' keys (_safe_softmax): an exp per score (transcendental), S' - 1 adds
  and S' divisions per row, as convcalc's softmax counts (the row maximum is not counted),
  plus one comparison per score for _safe_softmax's test of fully masked (-inf) rows;
- attention times V: h*T*S'*d macs, h*T*d*(S' - 1) adds;
- output projection: T*E*E macs, T*E*(E - 1) adds, T*E bias adds.
macs are the matrix products only (2*macs is FlopCounterMode's count). dropout is counted as
the identity in the forward (inference, as convcalc's dropout); the backward counts training
mode (the mask multiplied in, saved). need_weights: convcalc's default is False, the call
transformer layers make (nn.TransformerEncoderLayer); --need-weights counts PyTorch's default
call, need_weights=True, which takes another path: q alone scaled by 1/sqrt(d) (h*T*d mults),
the mask added by baddbmm, a plain softmax (no -inf test), and the head-averaged weights
returned (h - 1 adds and a division per query-key pair).

causal: query t attends keys 0..t (PyTorch's is_causal, top-left aligned); window W: keys
t-W+1..t (implies causal). Given as a float attn_mask or through PyTorch's is_causal hint (the
math kernel then builds the mask itself), the counts are the same. The effective work (the
report's Work table, effective_mults) is what a kernel visiting only the pairs the mask leaves
would do: the same projections and scalings, scores, softmax and weighted sums over those
pairs only, no mask added and no -inf test; appended key positions count as seen by every
query (PyTorch pads a given attn_mask with a 0 column for them). kv_heads (not in nn.MultiheadAttention): grouped-/multi-query
attention, each of kv_heads key/value heads shared by num_heads/kv_heads query heads; the math
kernel repeats k and v to num_heads heads (copies) before the scores. Its parameters are laid
out as q_proj_weight (E, E), k_proj_weight (kv_heads*d, kdim), v_proj_weight (kv_heads*d,
vdim), in_proj_bias (E + 2*kv_heads*d), out_proj.weight, out_proj.bias.

Reusable functions (for the transformer layers and stacks): ``effective_pairs`` (query-key
pairs a mask leaves), ``attention_params`` (name -> shape), ``attention_work`` (one sample's
forward counts as dicts, framework and effective), ``attention_counts`` (the same as a
``Counts``), and for the backward a ``MultiheadAttention(...).backward(shape, out, batch)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, TYPE_CHECKING

from .. import sizes
from ..sizes import Size
from .base import ConfigError, Counts, Layer, Opt, ShapeError, expect_rank, to_float, to_value, require

if TYPE_CHECKING:
    from .training import Backward


def _pairs_upto(n: Any, window: Any) -> tuple[Any, bool]:
    """F(n) = sum over u = 1..n of min(u, W) (W = None: no window): (value, assumed n >= W)."""
    if window is None:
        return sizes.exact_div(n * (n + 1), 2), False
    order = sizes.compare(n, window)
    if order in (-1, 0):
        return sizes.exact_div(n * (n + 1), 2), False
    return window * n - sizes.exact_div(window * (window - 1), 2), order is None


def effective_pairs(T: Any, S: Any, causal: bool = False, window: Any = None, extra: Any = 0) -> tuple[Any, tuple]:
    """The (query, key) pairs a causal or windowed mask leaves, of T queries and S keys plus
    ``extra`` appended key positions (bias_k, the zero key) that every query sees; and the
    assumptions made for symbolic sizes (notes).

    Query t (1-based) attends keys max(1, t - W + 1)..min(t, S) (window W; no window: from 1).
    Counting by key: key s is seen by queries s..min(T, s + W - 1), min(W, T - s + 1) of them,
    so the pairs are F(T) - F(T - min(S, T)) with F(n) = sum over u = 1..n of min(u, W):
    T(T + 1)/2 causal self-attention; W*T - W(W - 1)/2 with a window W <= T."""
    if not causal and window is None:
        return sizes.normalize(T * (S + extra)), ()
    notes = []
    full, assumed = _pairs_upto(T, window)
    if assumed:
        notes.append(f"effective pairs assume the sequence length {sizes.to_text(T)} >= the window {sizes.to_text(window)}")
    order = sizes.compare(S, T)
    if order in (1, 0):
        missing = 0
    else:
        if order is None:
            notes.append(f"effective pairs assume kv_len {sizes.to_text(S)} >= the sequence length {sizes.to_text(T)}")
            missing = 0
        else:
            missing, assumed = _pairs_upto(T - S, window)
            if assumed:
                notes.append(f"effective pairs assume T - kv_len = {sizes.to_text(sizes.normalize(T - S))} >= the window "
                             f"{sizes.to_text(window)}")
    return tidy(full - missing + T * extra), tuple(notes)


def seeing_rows(T: Any, S: Any, window: Any = None, extra: Any = 0) -> tuple[Any, tuple]:
    """The queries that see at least one key (the rest get all-zero weights from _safe_softmax):
    all T, except with a window W over S < T - W + 1 keys and no appended keys, where query t
    (0-based) sees a key only for t <= S + W - 2: min(T, S + W - 1). (value, assumption notes)"""
    if window is None or extra:
        return T, ()
    order = sizes.compare(T, S + window - 1)
    if order in (-1, 0):
        return T, ()
    if order is None:
        return T, (f"effective work assumes every query sees a key: T = {sizes.to_text(T)} <= kv_len + window - 1",)
    return S + window - 1, ()


def _linear(rows: Any, n_in: Any, n_out: Any, bias: bool) -> dict:
    """A linear map of rows x n_in to n_out: macs, mults, adds (n_in - 1 per output, + bias)."""
    products = rows * n_in * n_out
    return {"macs": products, "mults": products, "adds": rows * n_out * (n_in - 1) + (rows * n_out if bias else 0)}


def tidy(x: Any) -> Any:
    """A count as the report shows it: an int, or a symbolic one expanded (T*h*(E/h - 1) is
    E*T - T*h) with its floors canonical."""
    return x if sizes.is_int(x) else sizes.normalize(sizes.normalize(x).expand())


def _plus(*parts: dict) -> dict:
    out: dict = {}
    for part in parts:
        for k, v in part.items():
            out[k] = out.get(k, 0) + v
    return out


def core_counts(T: Any, keys: Any, heads: Any, head_dim: Any, masked: bool, pairs: Any = None,
                need_weights: bool = False, rows: Any = None) -> dict:
    """Scores, mask, softmax and attention times V of one sample over ``keys`` key positions
    (S'), or over ``pairs`` query-key pairs in ``rows`` non-empty rows when given (the effective
    work: only the pairs a mask leaves, no mask added). need_weights: PyTorch's other path (a
    plain softmax, no -inf test; the weights averaged over the heads: h - 1 adds and a division
    per query-key pair)."""
    h, d = heads, head_dim
    n = T * keys if pairs is None else pairs  # scores per head
    rows = T if rows is None else rows  # a row of m terms sums with m - 1 adds
    average = {"mults": n, "adds": n * (h - 1)} if need_weights else {}
    return _plus({
        "macs": 2 * h * n * d,  # scores and attention times V
        "mults": 2 * h * n * d + h * n,  # the products, the softmax divisions
        "adds": (h * n * (d - 1)  # each score: d products
                 + (h * n if masked and pairs is None else 0)  # the float mask
                 + h * (n - rows)  # softmax sums: n - 1 adds a row
                 + h * d * (n - rows)),  # attention times V: each output sums its row's terms
        "comparisons": h * n if pairs is None and not need_weights else 0,  # _safe_softmax's -inf test
        "transcendentals": h * n,  # the exps
    }, average)


def attention_work(T: Any, S: Any, embed_dim: Any, heads: Any, kv_heads: Any = None, kdim: Any = None, vdim: Any = None,
                   bias: bool = True, causal: bool = False, window: Any = None, extra_keys: Any = 0,
                   need_weights: bool = False, past: Any = 0, rotary: bool = False) -> dict:
    """The forward counts of one sample of multi-head attention (module docstring), as a dict:
    "computed" (what the framework computes: all T x S' scores, the mask added) and "effective"
    (only the query-key pairs the mask leaves: ``effective_pairs``), each over mults, adds,
    comparisons, macs and transcendentals; "pairs" the effective pairs; "notes" assumptions."""
    E, h = embed_dim, heads
    d = sizes.exact_div(E, h)
    kvd = (h if kv_heads is None else kv_heads) * d
    kdim = E if kdim is None else kdim
    vdim = E if vdim is None else vdim
    keys = S + extra_keys + past
    masked = (causal or window is not None) and not (past and sizes.is_int(T) and T == 1)
    proj = _plus(_linear(T, E, E, bias), _linear(S, kdim, kvd, bias), _linear(S, vdim, kvd, bias), _linear(T, E, E, bias))
    if rotary:  # RoPE on the new q and k: x*cos + rotate_half(x)*sin, 2 mults and an add an element
        proj = _plus(proj, {"mults": 2 * (T * E + S * kvd), "adds": T * E + S * kvd})
    scale = {"mults": h * T * d + (0 if need_weights else h * keys * d)}
    pairs, notes = effective_pairs(T, S, masked, window, extra_keys + past)
    rows, more = seeing_rows(T, S, window, extra_keys)
    computed = _plus(proj, scale, core_counts(T, keys, h, d, masked, need_weights=need_weights))
    effective = _plus(proj, scale, core_counts(T, keys, h, d, masked, pairs, need_weights, rows)) if masked else computed
    notes = tuple(dict.fromkeys(notes + more))
    keys_of = ("mults", "adds", "comparisons", "macs", "transcendentals")
    return {"computed": {k: tidy(computed.get(k, 0)) for k in keys_of},
            "effective": {k: tidy(effective.get(k, 0)) for k in keys_of},
            "pairs": pairs, "notes": notes}


def attention_params(embed_dim: Any, heads: Any, kv_heads: Any = None, kdim: Any = None, vdim: Any = None,
                     bias: bool = True, add_bias_kv: bool = False) -> dict:
    """The parameters by PyTorch's name -> shape: nn.MultiheadAttention's (in_proj_weight when
    kdim == vdim == embed_dim, else q/k/v_proj_weight; in_proj_bias; bias_k, bias_v;
    out_proj), or grouped-query attention's (kv_heads given and not heads: module docstring)."""
    E = embed_dim
    d = sizes.exact_div(E, heads)
    grouped = kv_heads is not None and sizes.compare(kv_heads, heads) != 0
    kvd = (heads if kv_heads is None else kv_heads) * d
    kdim = E if kdim is None else kdim
    vdim = E if vdim is None else vdim
    out: dict = {}
    if not grouped and sizes.compare(kdim, E) == 0 and sizes.compare(vdim, E) == 0:
        out["in_proj_weight"] = (3 * E, E)
    else:
        out.update(q_proj_weight=(E, E), k_proj_weight=(kvd, kdim), v_proj_weight=(kvd, vdim))
    if bias:
        out["in_proj_bias"] = (E + 2 * kvd,)
    if add_bias_kv:
        out.update(bias_k=(1, 1, E), bias_v=(1, 1, E))
    out["out_proj.weight"] = (E, E)
    if bias:
        out["out_proj.bias"] = (E,)
    return {k: tuple(sizes.normalize(v) for v in shape) for k, shape in out.items()}


def attention_counts(T: Any, S: Any, embed_dim: Any, heads: Any, kv_heads: Any = None, kdim: Any = None, vdim: Any = None,
                     bias: bool = True, causal: bool = False, window: Any = None, add_bias_kv: bool = False,
                     add_zero_attn: bool = False, need_weights: bool = False, past: Any = 0, rotary: bool = False) -> Counts:
    """One sample's ``Counts`` of multi-head attention over T queries and S keys (S = T for
    self-attention): parameters (``attention_params``), the framework's counts (``attention_work``:
    all T x S' scores), and for a causal or windowed mask the effective mults, a Work table
    {"computed", "effective"} and notes with the effective pairs (``effective_pairs``). For the
    layers built on attention (transformer layers and stacks), to add up with Counts.add."""
    extra = int(add_bias_kv) + int(add_zero_attn)
    fc = attention_work(T, S, embed_dim, heads, kv_heads, kdim, vdim, bias, causal, window, extra, need_weights, past, rotary)
    params = attention_params(embed_dim, heads, kv_heads, kdim, vdim, bias, add_bias_kv)
    weights = sum((sizes.prod(s) for k, s in params.items() if "weight" in k), start=0)
    biases = sum((sizes.prod(s) for k, s in params.items() if "weight" not in k), start=0)
    masked = (causal or window is not None) and not (past and sizes.is_int(T) and T == 1)
    notes = list(fc["notes"])
    if past:
        notes.append(f"KV cache: {sizes.to_text(past)} keys and values computed before are read, not projected again; "
                     f"the scores span {sizes.to_text(sizes.normalize(S + extra + past))} keys")
    if rotary:
        notes.append("rotary position embedding on q and k (x*cos + rotate_half(x)*sin): its cos and sin tables are "
                     "precomputed, not counted")
    work = None
    if masked:
        rule = (f"window {sizes.to_text(window)}: query t attends keys t-{sizes.to_text(window)}+1..t"
                if window is not None else "causal: query t attends keys 0..t")
        notes.append(f"{rule}; the framework computes all {sizes.to_text(T)} x {sizes.to_text(sizes.normalize(S + extra))} "
                     f"scores per head and adds a -inf mask; {sizes.to_text(fc['pairs'])} query-key pairs are effective "
                     "(Work: effective)")
        if extra:
            notes.append("effective pairs: the appended key positions (bias_k, the zero key) are seen by every query, "
                         "as PyTorch pads a given attn_mask with a 0 column")
        work = {"computed": fc["computed"], "effective": fc["effective"]}
    c = fc["computed"]
    return Counts(
        weights=sizes.normalize(weights), biases=sizes.normalize(biases),
        mults=c["mults"], adds=c["adds"], comparisons=c["comparisons"], macs=c["macs"], transcendentals=c["transcendentals"],
        connections=fc["effective"]["macs"],
        effective_mults=fc["effective"]["mults"] if masked else None,
        work=work,
        notes=tuple(notes),
    )


def kv_cache_elements(embed_dim: Any, heads: Any, kv_heads: Any, positions: Any) -> Any:
    """The elements a KV cache holds for one layer and one sequence: the keys and the values of
    ``positions`` tokens, kv_heads x head_dim each (grouped-query attention caches only its kv heads)."""
    kv = heads if kv_heads is None else kv_heads
    return sizes.normalize(2 * positions * kv * sizes.exact_div(embed_dim, heads))


OPTIONS = (
    Opt("num_heads", "size", None, "Number of heads h (must divide embed_dim; head_dim = embed_dim / h).", required=True),
    Opt("bias", "flag", True, "Biases of the input and output projections (in_proj_bias, out_proj.bias)."),
    Opt("add_bias_kv", "flag", False, "Learned bias_k, bias_v (1,1,E) appended to the keys and values: one more key position."),
    Opt("add_zero_attn", "flag", False, "A zero key and value appended: one more key position."),
    Opt("kdim", "size_or_none", None, "Features of the key (default embed_dim)."),
    Opt("vdim", "size_or_none", None, "Features of the value (default embed_dim)."),
    Opt("batch_first", "flag", False, "PyTorch's layout flag (batch, seq, feature): no effect on counts."),
    Opt("dropout", "float", "0.0", "Dropout on the attention weights: identity in the forward count; the backward counts training mode."),
    Opt("kv_len", "size_or_none", None, "Key/value length S: cross-attention over an S-long memory (default: self-attention, S = T)."),
    Opt("causal", "flag", False, "Causal mask: query t attends keys 0..t (all T x S scores are still computed)."),
    Opt("window", "size_or_none", None, "Sliding window W: query t attends keys t-W+1..t (implies causal)."),
    Opt("kv_heads", "size_or_none", None, "Key/value heads for grouped-/multi-query attention (must divide num_heads)."),
    Opt("past_len", "size_or_none", None, "Keys and values already in a KV cache (decoding): read, not projected again."),
    Opt("rotary", "flag", False, "Rotary position embedding (RoPE) on q and k: 2 mults and an add an element, no parameters."),
    Opt("need_weights", "flag", False, "Count PyTorch's need_weights=True call (head-averaged weights returned; default: False, as transformer layers call it)."),
)


@dataclass(frozen=True)
class MultiheadAttention(Layer, example="--input 128,512 --num-heads 8 --causal"):
    """Multi-head attention (torch.nn.MultiheadAttention); --causal, --window, --kv-len (cross-attention) and --kv-heads (grouped-query)."""

    embed_dim: Size
    num_heads: Size
    dropout: float = 0.0
    bias: bool = True
    add_bias_kv: bool = False
    add_zero_attn: bool = False
    kdim: Optional[Size] = None
    vdim: Optional[Size] = None
    batch_first: bool = False
    kv_len: Optional[Size] = None
    causal: bool = False
    window: Optional[Size] = None
    kv_heads: Optional[Size] = None
    need_weights: bool = False
    past_len: Optional[Size] = None
    rotary: bool = False

    INPUT = "T,E"
    #: what a derivation calls the input's entries (and a formula sheet's input)
    INPUT_SYMBOLS = ("T", "E")
    OPTIONS = OPTIONS
    INFERRED = {"embed_dim": -1}

    def __post_init__(self) -> None:
        self.normalize(scalars={"embed_dim": 1, "num_heads": 1})
        for name in ("kdim", "vdim", "kv_len", "window", "kv_heads", "past_len"):
            if getattr(self, name) is not None:
                value = to_value(getattr(self, name), name)
                require(value, name, minimum=1)
                object.__setattr__(self, name, value)
        object.__setattr__(self, "dropout", to_float(self.dropout, "dropout", low=0, high=1))
        E, h = sizes.known_int(self.embed_dim), sizes.known_int(self.num_heads)
        if E is not None and h is not None and E % h:
            raise ConfigError(f"embed_dim {E} not divisible by num_heads {h} (PyTorch: embed_dim must be divisible by num_heads)",
                              option="num_heads")
        g = sizes.known_int(self.kv_heads) if self.kv_heads is not None else None
        if g is not None and h is not None and h % g:
            raise ConfigError(f"{g} does not divide num_heads {h} (each key/value head serves num_heads/kv_heads query heads)",
                              option="kv_heads")
        if self.grouped and (self.add_bias_kv or self.add_zero_attn):
            raise ConfigError("add_bias_kv and add_zero_attn are nn.MultiheadAttention's; grouped-query attention "
                              "(kv_heads < num_heads) has neither", option="kv_heads")
        if self.past_len is not None and (self.kv_len is not None or self.window is not None or self.need_weights):
            raise ConfigError("a KV cache is counted for self-attention without a window or weights returned",
                              option="past_len")
        if self.grouped and self.need_weights:
            raise ConfigError("grouped-query attention (kv_heads < num_heads) returns no attention weights", option="need_weights")

    # -- derived sizes -------------------------------------------------------------------------
    @property
    def grouped(self) -> bool:
        """Grouped-/multi-query attention: kv_heads given and not num_heads."""
        return self.kv_heads is not None and sizes.compare(self.kv_heads, self.num_heads) != 0

    @property
    def head_dim(self) -> Any:
        return sizes.exact_div(self.embed_dim, self.num_heads)

    @property
    def k_dim(self) -> Any:
        return self.embed_dim if self.kdim is None else self.kdim

    @property
    def v_dim(self) -> Any:
        return self.embed_dim if self.vdim is None else self.vdim

    @property
    def packed(self) -> bool:
        """PyTorch's packed in_proj_weight (3E, E): kdim == vdim == embed_dim, no grouping."""
        return (not self.grouped and sizes.compare(self.k_dim, self.embed_dim) == 0
                and sizes.compare(self.v_dim, self.embed_dim) == 0)

    @property
    def self_attention(self) -> bool:
        """Key and value are the query (the input): no kv_len and kdim == vdim == embed_dim."""
        return (self.kv_len is None and sizes.compare(self.k_dim, self.embed_dim) == 0
                and sizes.compare(self.v_dim, self.embed_dim) == 0)

    @property
    def shared_kv(self) -> bool:
        """Key and value are one tensor (the memory, or the input): kdim == vdim."""
        return sizes.compare(self.k_dim, self.v_dim) == 0

    @property
    def extra_keys(self) -> int:
        return int(self.add_bias_kv) + int(self.add_zero_attn)

    def kv_length(self, shape: tuple) -> Any:
        return shape[0] if self.kv_len is None else self.kv_len

    def params(self) -> dict:
        """PyTorch's parameters: name -> shape (``attention_params``)."""
        return attention_params(self.embed_dim, self.num_heads, self.kv_heads, self.kdim, self.vdim, self.bias,
                                self.add_bias_kv)

    # -- the layer -----------------------------------------------------------------------------
    def check_input(self, shape: tuple) -> None:
        expect_rank(self, shape, 2)
        if sizes.compare(shape[1], self.embed_dim) not in (0, None):
            raise ShapeError(f"last entry {sizes.to_text(shape[1])} is not embed_dim {sizes.to_text(self.embed_dim)}",
                             option="input")

    def output_shape(self, shape: tuple) -> tuple:
        return (shape[0], self.embed_dim)

    def counts(self, shape: tuple, out: tuple) -> Counts:
        c = attention_counts(shape[0], self.kv_length(shape), self.embed_dim, self.num_heads, self.kv_heads, self.kdim,
                             self.vdim, self.bias, self.causal, self.window, self.add_bias_kv, self.add_zero_attn,
                             self.need_weights, self.past_len or 0, self.rotary)
        if self.dropout > 0:
            c.notes = tuple(c.notes) + ("dropout on the attention weights: the identity in the forward count (inference); "
                                        "the backward counts training mode",)
        return c

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """PyTorch's autograd through the math path: see ``attention_backward.backward`` for the
        derivation (dL/dx of the projections' inputs; the attention's interior, needed by either
        gradient; the weight and bias gradients; what autograd saves)."""
        from .attention_backward import backward

        if self.past_len is not None:
            raise ConfigError("a KV cache (past_len) is for decoding: no backward is counted through it", option="past_len")
        bw = backward(self, shape, batch)
        if self.rotary:  # RoPE's backward on dL/dq and dL/dk: g*cos + rotate_back(g*sin), 2 mults and an add each
            n = batch * (shape[0] * self.embed_dim + self.kv_length(shape) * (self.num_heads if self.kv_heads is None
                                                                             else self.kv_heads) * self.head_dim)
            bw.shared = _plus(bw.shared or {}, {"mults": 2 * n, "adds": n})
        return bw
