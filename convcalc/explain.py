"""Derivations: every quantity's general formula, the same formula with the user's values in
place of its symbols, and the result.

The general formula is never written by hand: the layer is rebuilt with a symbol in place of
every number (kernel_size -> k, stride -> s, the input -> C_in, H, W, ...) and evaluated by the
same code that gives the numbers, so a formula sheet and a result cannot disagree (a test holds
formula-with-values == number for every layer).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from . import sizes
from .expr import symbol
from .layers.base import Layer
from .report import TRAINING_QUANTITIES, LayerReport, Printable, Quantity, Unit

#: constructor argument -> the symbol a textbook writes for it
FIELD_SYMBOLS = {
    "in_channels": "C_in", "out_channels": "C_out", "kernel_size": "k", "stride": "s", "padding": "p",
    "dilation": "d", "groups": "g", "output_padding": "q", "num_features": "C", "in_features": "n_in",
    "out_features": "n_out", "input_size": "n_x", "hidden_size": "n_h", "num_layers": "N_l", "proj_size": "n_p",
    "directions": "n_s", "channels": "h", "layers": "N_l", "first_kernel_size": "k_1", "colour_groups": "g_c",
    "output_layers": "n_o", "output_classes": "K", "residual_channels": "r", "dilation_channels": "r_d",
    "skip_channels": "s_k", "layers_per_block": "N_l", "blocks": "N_b", "key_size": "d_k", "k": "k_a",
    "input_channels": "C_in", "output_size": "n", "seq_len": "T",
    "embed_dim": "E",  # issue 13: attention
}  # fmt: skip
#: arguments that may be 0 and only enter arithmetic (their symbols are non-negative); any other
#: argument that is 0 (proj_size: none) switches a part off and stays the number 0
MAY_BE_ZERO = {"padding", "output_padding"}
#: one meaning per symbol, in every derivation (JSON keys are unchanged: these are the symbols)
MEANINGS = {
    "C_in": "input channels", "C_out": "output channels", "k": "kernel size", "s": "stride", "p": "padding",
    "d": "dilation", "g": "groups", "q": "output padding", "C": "channels", "n_in": "input features",
    "n_out": "output features", "n_x": "input size (features per step)", "n_h": "hidden size", "N_l": "layers",
    "D": "depth", "H": "height", "W": "width", "L_in": "input length", "T": "sequence length", "n_p": "projection size",
    "n_s": "scans", "h": "hidden channels", "k_1": "first kernel size", "g_c": "colour groups", "n_o": "output layers",
    "K": "classes", "r": "residual channels", "r_d": "dilation channels", "s_k": "skip channels", "N_b": "blocks",
    "d_k": "key size", "k_a": "states attended to", "n": "output size", "S": "grid size", "N": "leading size",
    "E": "embedding size",  # issue 13: attention's input T,E
}  # fmt: skip
_DIMS = {1: ("L_in",), 2: ("H", "W"), 3: ("D", "H", "W")}


def _make(name: str, zero_ok: bool):
    import sympy

    if zero_ok:
        return sympy.Symbol(name, integer=True, nonnegative=True)
    return symbol(name)


def input_symbols(layer: Layer, n: int) -> tuple[str, ...]:
    """Names for the entries of an input shape of n entries (a layer may name its own: a loss's
    classes are K, then positions S_1, S_2, ...)."""
    own = getattr(type(layer), "INPUT_SYMBOLS", ())
    if own:
        return tuple(own[:n]) + tuple(f"S_{i + 1}" for i in range(n - len(own)))
    fields = {f.name for f in dataclasses.fields(layer)}
    if "input_size" in fields and n == 2:
        return ("T", "n_x")
    if "input_size" in fields:  # a grid: the features, then its sizes
        return ("n_x",) + tuple(f"S_{i + 1}" for i in range(n - 1))
    if "in_features" in fields:
        return tuple(f"N_{i + 1}" for i in range(n - 1)) + ("n_in",)
    first = "C_in" if {"in_channels", "input_channels"} & fields else "C"
    if "input_channels" in fields:
        return (first, "T")
    return (first,) + _DIMS.get(n - 1, tuple(f"S_{i + 1}" for i in range(n - 1)))


@dataclass(frozen=True)
class Step:
    quantity: str
    general: Any  # SymPy expression, int, or tuple of them
    substituted: dict  # symbol -> value used in place of it
    result: Any
    unit: Unit


@dataclass(frozen=True)
class Explanation(Printable):
    """What a derivation shows: the symbols, and per quantity formula, values, result."""

    layer: str
    legend: tuple  # (symbol name, meaning, value or None)
    steps: tuple
    notes: tuple
    sheet: bool  # no values: a formula sheet


EXPLAINED = [q for q in Quantity if q.unit in (Unit.SHAPE, Unit.COUNT, Unit.BYTES) and q not in (Quantity.BATCH,)]


def explain_layer(layer: Layer, shape: tuple, *, batch: Any = 1, dtype: str = "float32", sheet: bool = False,
                  training: Any = None) -> Explanation:
    """Rebuild the layer and its input with symbols, evaluate both, and pair the results (in
    SymPy's forms, so that each formula reads as its layer writes it)."""
    with sizes.sympy_forms():
        layer = _in_sympy(layer)
        shape = tuple(_sympy_value(v) for v in shape)
        batch = _sympy_value(batch)
        return _explain(layer, shape, batch=batch, dtype=dtype, sheet=sheet, training=training)


def _sympy_value(v: Any) -> Any:
    if isinstance(v, tuple):
        return tuple(_sympy_value(x) for x in v)
    return sizes.as_expr(v) if sizes.is_symbolic(v) and sizes.is_light(v) else v


def _in_sympy(layer: Layer) -> Layer:
    """The layer with any symbolic argument of convcalc's algebra as a SymPy expression."""
    import dataclasses

    changes = {k: _sympy_value(v) for k, v in layer.config().items() if _sympy_value(v) is not v}
    return dataclasses.replace(layer, **changes) if changes else layer


def _explain(layer: Layer, shape: tuple, *, batch: Any = 1, dtype: str = "float32", sheet: bool = False,
             training: Any = None) -> Explanation:
    values: dict = {}
    kwargs: dict = {}
    for name, v in layer.config().items():
        base = FIELD_SYMBOLS.get(name)
        if base is None or v is None or isinstance(v, (bool, str, float)) or name in layer.EXPLAIN_NUMERIC:
            continue
        zero_ok = name in MAY_BE_ZERO
        if not zero_ok and (v == 0 or (isinstance(v, tuple) and 0 in v)):
            continue
        if isinstance(v, tuple):
            if all(sizes.is_int(x) for x in v) and len(set(v)) == 1:
                sym = _make(base, zero_ok)
                values[sym] = v[0]
                kwargs[name] = (sym,) * len(v)
            else:
                names = _DIMS.get(len(v), tuple(str(i + 1) for i in range(len(v))))
                syms = []
                for x, dim in zip(v, names):
                    if sizes.is_int(x):
                        sym = _make(f"{base}_{dim}", zero_ok)
                        values[sym] = x
                        syms.append(sym)
                    else:
                        syms.append(x)
                kwargs[name] = tuple(syms)
        elif sizes.is_int(v):
            sym = _make(base, zero_ok)
            values[sym] = v
            kwargs[name] = sym
    names = input_symbols(layer, len(shape))
    sym_shape = []
    for v, nm in zip(shape, names):
        if sizes.is_int(v):
            sym = _make(nm, False)
            values[sym] = v
            sym_shape.append(sym)
        else:
            sym_shape.append(v)
    twin = dataclasses.replace(layer, **kwargs)
    general: LayerReport = twin.report(tuple(sym_shape), batch=batch, dtype=dtype, training=training)
    numeric: LayerReport = layer.report(shape, batch=batch, dtype=dtype, training=training)
    closed = _Closed(layer, kwargs, tuple(sym_shape), batch, dtype, training)
    steps = []
    for q in EXPLAINED:
        result = numeric.get(q)
        if result is None:
            continue
        pick = lambda r, q=q: r.get(q)  # noqa: E731
        if general.get(q) is not None:
            formula = closed(general.get(q), pick, q.value)
        elif q in TRAINING_QUANTITIES:  # a sum of parts one of which has no all-symbol formula
            formula = closed.fallback(pick, q.value)
        else:
            continue
        if formula is not None:
            steps.append(Step(q.value, formula, values, result, q.unit))
    if numeric.per_step is not None and general.per_step is not None:
        unit = numeric.step_unit
        for key, value in numeric.per_step.items():
            formula = closed(general.per_step[key], lambda r, key=key: (r.per_step or {}).get(key), f"{key} per {unit}")
            steps.append(Step(f"{key} per {unit}", formula, values, value, Unit.COUNT))
    if numeric.backward is not None and general.backward is not None:
        for part, what in (("grad_input", "dL/dx"), ("grad_weight", "dL/dW")):
            for key, value in numeric.backward[part].items():
                if value is None or (value == 0 and key in ("comparisons", "transcendentals")):
                    continue
                pick = lambda r, part=part, key=key: (r.backward or {}).get(part, {}).get(key)  # noqa: E731
                formula = general.backward[part][key]
                # no general formula (which input elements a symbolic stride reaches): keep more numeric
                formula = closed(formula, pick, f"{key} of {what}") if formula is not None else closed.fallback(pick, f"{key} of {what}")
                if formula is None:
                    continue
                steps.append(Step(f"backward {key} ({what})", formula, values, value, Unit.COUNT))
    legend = tuple(
        (str(sym), MEANINGS.get(str(sym).split("_")[0] if str(sym) not in MEANINGS else str(sym), ""), val)
        for sym, val in sorted(values.items(), key=lambda kv: str(kv[0]))
    )
    notes = list(numeric.notes)
    if hasattr(layer, "size_maps"):
        notes.insert(0, "output size: floor((size + 2*padding - dilated kernel) / stride) + 1 counts the window starts "
                        "0, s, 2s, ... that leave room for the whole kernel: the last starts at s*(out - 1)")
    if closed.quantities:
        pairs = {}
        for k in sorted(closed.kept):
            syms, vals = closed.kwargs[k], layer.config()[k]
            for sym, val in zip(syms, vals) if isinstance(syms, tuple) else [(syms, vals)]:
                pairs[sizes.to_text(sym)] = sizes.to_text(val)
        kept = ", ".join(f"{sym} = {val}" for sym, val in pairs.items())
        notes.append(f"{', '.join(dict.fromkeys(closed.quantities))}: written for {kept}; over symbolic ones it is a sum over "
                     "the kernel's taps of the taps that land on the input, not on padding (with padding 0 every tap "
                     "does: the connections equal the mults)")
    return Explanation(layer.NAME, legend, tuple(steps), tuple(notes), sheet=sheet or not values)


#: what a derivation keeps numeric, step by step, for a quantity that is no closed form over the
#: symbols (the taps of a window over symbolic padding, stride and dilation are a sum)
_KEEP = (
    ("padding", "output_padding"),  # tried only when the padding is 0: then every tap is on the input
    ("padding", "output_padding", "stride", "dilation", "kernel_size", "first_kernel_size"),
    ("padding", "output_padding", "stride", "dilation"),  # a kernel too long to write out tap by tap
    ("padding", "output_padding", "stride", "dilation", "kernel_size", "first_kernel_size", "layers_per_block", "layers", "blocks"),
)


def _has(v: Any, kind: str) -> bool:
    if isinstance(v, tuple):
        return any(_has(x, kind) for x in v)
    if sizes.is_int(v) or not hasattr(v, "has"):
        return False
    import sympy

    return v.has(getattr(sympy, kind))


def _open(v: Any) -> bool:
    """True when v holds a sum SymPy could not close."""
    return _has(v, "Sum")


def tidy(v: Any) -> Any:
    """A quotient whose symbolic denominator divides out, divided out: (T*a + T*b)/T -> a + b."""
    if isinstance(v, tuple):
        return tuple(tidy(x) for x in v)
    if sizes.is_int(v) or not hasattr(v, "free_symbols"):
        return v
    import sympy

    if not any(p.exp.is_negative and not p.base.is_number for p in v.atoms(sympy.Pow)):
        return v
    out = sympy.together(v)
    return sizes.normalize(out) if sympy.fraction(out)[1].is_number else v


#: the largest number a derivation keeps numeric to close a formula: a kernel or a layer count
#: above it would make the closed form that many terms long (and slow to build); the formula
#: then stays a sum, printed as sum(term, t = first..last)
KEEP_AT_MOST = 64


def _values(v: Any) -> tuple:
    return () if v is None else v if isinstance(v, tuple) else (v,)


def _small(v: Any) -> bool:
    vals = v if isinstance(v, tuple) else (v,)
    return all(not sizes.is_int(x) or abs(x) <= KEEP_AT_MOST for x in vals)


class _Closed:
    """A quantity's general formula in closed form: the twin's when it is one, else the same
    quantity from a twin that keeps a few more arguments numeric (padding first)."""

    def __init__(self, layer: Layer, kwargs: dict, shape: tuple, batch: Any, dtype: str, training: Any = None):
        self.layer, self.kwargs, self.shape, self.batch, self.dtype = layer, kwargs, shape, batch, dtype
        self.training = training
        self.reports: dict = {}
        self.kept: set = set()
        self.quantities: list = []

    def fallback(self, pick, name: str) -> Any:
        """The formula of a quantity the all-symbol twin cannot give (None), from a twin that
        keeps more arguments numeric; None when none gives it."""
        import sympy

        marker = sympy.Sum(sympy.Symbol("t"), (sympy.Symbol("t"), 1, 2))  # an open formula, to be replaced
        got = self(marker, pick, name)
        return None if got is marker else got

    def __call__(self, formula: Any, pick, name: str) -> Any:
        if not _open(formula):
            return tidy(formula)
        found = []
        config = self.layer.config()
        for keep in _KEEP:
            if len(keep) == 2 and any(sizes.is_int(v) and v != 0 for k in keep for v in _values(config.get(k))):
                continue  # symbolic padding that is not 0 leaves the sum open
            if not all(_small(config[k]) for k in keep if k in self.kwargs and k not in ("padding", "output_padding")):
                continue  # a longer kernel or more layers would build a formula of that many terms
            if keep not in self.reports:
                twin = dataclasses.replace(self.layer, **{k: v for k, v in self.kwargs.items() if k not in keep})
                try:
                    self.reports[keep] = twin.report(self.shape, batch=self.batch, dtype=self.dtype, training=self.training)
                except Exception:  # noqa: BLE001 - a twin that cannot be built is skipped
                    self.reports[keep] = None
            report = self.reports[keep]
            other = None if report is None else pick(report)
            if other is not None and not _open(other):
                found.append((keep, other))
                if not _has(other, "Piecewise"):  # a closed form without cases: take it
                    break
        if not found:
            return formula
        keep, other = found[-1] if not _has(found[-1][1], "Piecewise") else found[0]
        self.kept |= {k for k in keep if k in self.kwargs}
        self.quantities.append(name.replace("_", " "))
        return tidy(other)


def solve_steps(m: Any, name: str, o: Any) -> list[str]:
    """The inequalities a size map's floor or ceiling gives for output o, step by step."""
    from .layers.window import AffineMap, CeilPoolMap, ConstantMap, FloorMap

    t = sizes.to_text
    n = sizes.normalize

    def plus(a: Any) -> str:
        a = n(a)
        if sizes.is_int(a):
            return f" + {a}" if a > 0 else (f" - {-a}" if a < 0 else "")
        return f" + {t(a)}"

    if isinstance(m, FloorMap):
        lo, hi = n(m.s * (o - m.c)), n(m.s * (o - m.c) + m.s - 1)
        return [
            f"floor(({name}{plus(m.a)})/{t(m.s)}){plus(m.c)} = {t(o)}",
            f"=> {t(lo)} <= {name}{plus(m.a)} <= {t(hi)}   (floor(y/s) = m  <=>  s*m <= y <= s*m + s - 1)",
            f"=> {t(n(lo - m.a))} <= {name} <= {t(n(hi - m.a))}",
        ]
    if isinstance(m, CeilPoolMap):
        return [
            f"min(ceil(({name}{plus(m.b)})/{t(m.s)}), floor(({name}{plus(m.e)})/{t(m.s)})) + 1 = {t(o)}",
            "=> both terms >= the target - 1 and at least one equal to it (the last window must start inside the input or the left padding)",
            f"=> {t(n(m.least(o)))} <= {name} <= {t(n(m.greatest(o)))}",
        ]
    if isinstance(m, AffineMap):
        return [f"{t(m.s)}*{name}{plus(m.a)} = {t(o)}", f"=> {name} = ({t(o)}{plus(-m.a)})/{t(m.s)}, a whole number"]
    if isinstance(m, ConstantMap):
        return [f"every {name} gives {t(m.n)}"]
    return []


def check(expl: Explanation) -> bool:
    """Formula with the values == result, for every step (what the tests hold)."""
    for step in expl.steps:
        names = {str(k): v for k, v in step.substituted.items()}
        gen = step.general if isinstance(step.general, tuple) else (step.general,)
        res = step.result if isinstance(step.result, tuple) else (step.result,)
        for g, r in zip(gen, res):
            if sizes.is_int(r) and sizes.substitute(g, names) != r:
                return False
    return True


def default_input(cls: type) -> str:
    """The symbolic input a formula sheet uses when no --input is given."""
    own = getattr(cls, "INPUT_SYMBOLS", ())
    if own:
        return ",".join(own)
    fields = {f.name for f in dataclasses.fields(cls)}
    if "in_features" in fields:
        return "n_in"
    if cls.NAME == "mdrnn":
        return "n_x,S_1,S_2"
    if cls.NDIM:
        first = "C_in" if "in_channels" in fields else "C"
        return ",".join((first,) + _DIMS[cls.NDIM])
    ranks = getattr(cls, "RANKS", ())
    if ranks:
        return ",".join(("C",) + _DIMS.get(ranks[-1] - 1, ()))
    return "C,H,W"
