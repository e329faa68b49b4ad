"""Reading values handed to a layer: sizes (ints, SymPy expressions, expression text), floats,
indices and input shapes. Anything else is a ConfigError naming the argument; nothing here
evaluates text (expressions go through convcalc.expr, floats through float())."""

from __future__ import annotations

from typing import Any

from .. import sizes
from ..errors import ConfigError, ConvcalcError, ShapeError
from ..expr import parse_expr, parse_tuple

#: the most entries an input shape may have (PyTorch's tensors have at most 64 dimensions;
#: beyond a few dozen a product of sizes no longer prints)
MAX_RANK = 32

def to_value(v: Any, what: str) -> Any:
    """An int or expression from an int, a SymPy expression or expression text; anything else
    (floats, bools, None, containers, huge ints) is a ConfigError naming ``what``."""
    if isinstance(v, bool):
        raise ConfigError(f"expected an integer, got {v}", option=what)
    if sizes.is_int(v):
        if abs(v) >= sizes.MAX_SIZE:
            raise ConfigError(f"{sizes.describe_int(v)} is more than the 10**{sizes.MAX_SIZE_DIGITS} convcalc computes with; refused", option=what)
        return v
    if hasattr(type(v), "__index__") and not hasattr(v, "free_symbols") and not isinstance(v, (str, float)):
        try:  # an integer type that is not int (numpy.int64): its value
            return to_value(int(v.__index__()), what)
        except ConvcalcError:
            raise
        except Exception:
            raise ConfigError(f"expected an integer, got {_short(v)}", option=what) from None
    if isinstance(v, sizes.Poly):
        return v
    if isinstance(v, str):
        try:
            return parse_expr(v)
        except ConvcalcError as e:
            raise e.with_context(option=what) from None
    if hasattr(v, "is_integer") and hasattr(v, "free_symbols") and hasattr(v, "subs"):
        return _sympy_value(v, what)
    raise ConfigError(f"expected an integer, got {_short(v)}", option=what)


def to_float(v: Any, what: str, *, low: float | None = None, high: float | None = None) -> float:
    """A finite number from an int, a float or text (read by float(), never evaluated), in
    [low, high] when given; anything else is a ConfigError naming ``what``."""
    import math

    value = v
    if isinstance(v, str):
        try:
            value = float(v.strip())
        except ValueError:
            raise ConfigError(f"{_short(v)} is not a number", option=what) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"expected a number, got {_short(v)}", option=what)
    try:
        value = float(value)
    except OverflowError:
        raise ConfigError("is too large", option=what) from None
    if not math.isfinite(value):
        raise ConfigError(f"must be a finite number, got {value}", option=what)
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "" if low is None else f"{low:g}"
        hi = "" if high is None else f"{high:g}"
        where = f"between {lo} and {hi}" if low is not None and high is not None else f"at least {lo}" if low is not None else f"at most {hi}"
        raise ConfigError(f"must be {where}, got {value:g}", option=what)
    return value


def to_index(v: Any, what: str) -> int:
    """An integer index (negative allowed), not a size: ints or integer text."""
    value = to_value(v, what)
    if not sizes.is_int(value):
        raise ConfigError(f"must be a number, got {sizes.to_text(value)}", option=what)
    return value


def _short(v: Any) -> str:
    try:
        text = repr(v)
    except Exception:  # a hostile __repr__
        text = ""
    return text if 0 < len(text) <= 60 else f"a {type(v).__name__}"


def _sympy_value(v: Any, what: str) -> Any:
    """A SymPy expression as a size: plain symbols become convcalc's positive integer symbols;
    non-integers, infinities and nan are refused."""
    import sympy

    from ..expr import symbol

    try:
        # a plain Symbol("H") is read as convcalc's size H (a positive integer); integer symbols
        # (summation indices) are kept
        plain = {s: symbol(s.name) for s in v.free_symbols
                 if isinstance(s, sympy.Symbol) and not isinstance(s, sympy.Dummy) and s.is_integer is not True}
        if plain:
            v = v.subs(plain)
        bad = v.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo, sympy.I) or v.is_integer is False
        if bad or (not v.free_symbols and v.is_Integer is not True):
            raise ConfigError(f"{v} is not an integer", option=what)
    except ConvcalcError:
        raise
    except Exception:  # a SymPy object that does not behave as a size
        raise ConfigError(f"expected an integer, got {_short(v)}", option=what) from None
    value = sizes.known_int(v)
    return to_value(value, what) if value is not None else sizes.normalize(v)


def per_dim(value: Any, n: int, what: str) -> tuple:
    """One value per spatial dimension: a single value is repeated, a tuple must have n."""
    if isinstance(value, str):
        try:
            value = parse_tuple(value)
        except ConvcalcError as e:
            raise e.with_context(option=what) from None
    if isinstance(value, (tuple, list)):
        if len(value) not in (1, n):
            raise ConfigError(f"expected 1 or {n} values, got {len(value)}", option=what)
        vals = tuple(to_value(v, what) for v in value)
        return vals * n if len(vals) == 1 else vals
    return (to_value(value, what),) * n


def require(values: tuple | Any, what: str, *, minimum: int) -> None:
    """Refuse values known to be below ``minimum`` (symbols are positive integers)."""
    vals = values if isinstance(values, tuple) else (values,)
    for v in vals:
        if sizes.is_known_lt(v, minimum):
            word = "positive" if minimum == 1 else f"at least {minimum}" if minimum else "non-negative"
            raise ConfigError(f"must be {word}, got {sizes.to_text(v)}", option=what)


def show(values: tuple) -> str:
    return "x".join(sizes.to_text(v) for v in values)


def read_shape(input_shape: Any) -> tuple:
    """An input shape (batch excluded) from text or a tuple/list of sizes: 1 to MAX_RANK
    positive entries, else a ConvcalcError naming ``input``."""
    if isinstance(input_shape, str):
        from ..expr import parse_shape

        try:
            input_shape = parse_shape(input_shape)
        except ConvcalcError as e:
            raise e.with_context(option="input") from None
    if not isinstance(input_shape, (tuple, list)):
        raise ConfigError(f"expected a shape such as (3, 224, 224), got {_short(input_shape)}", option="input")
    if not input_shape:
        raise ShapeError("is empty: give at least one size (batch excluded)", option="input")
    if len(input_shape) > MAX_RANK:
        raise ShapeError(f"has {len(input_shape)} entries, more than the {MAX_RANK} convcalc takes", option="input")
    shape = tuple(to_value(v, "input") for v in input_shape)
    require(shape, "input", minimum=1)
    return shape


