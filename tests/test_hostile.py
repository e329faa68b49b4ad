"""Hostile values in every constructor field of every layer, and in report(): a ConvcalcError
naming the field, or a result, within a second; never a raw exception or a hang."""

import dataclasses
import math
import time

import pytest

from convcalc import LAYERS, ConvcalcError
from conftest import example_layer


class Weird:
    def __repr__(self):
        return "<weird>"


#: values no field of any layer accepts (float fields: nan, inf and non-numbers)
ALWAYS_BAD = [
    "abc(", "", "   ", "__import__('os')", "1e5", "3.5", "2/3", "()", "1,,2", "x" * 5000,
    float("nan"), float("inf"), float("-inf"), 10**1000, -(10**1000), 1 + 2j, b"3",
    [[3]], [[1, 2], [3]], {}, {"a": 1}, Weird(), object(), [1, [2]], {1, 2}, (i for i in range(3)),
]
#: values some fields accept (0 padding, -1 dim, True flags, None defaults, 2.5 for eps)
MAYBE = [1000, 10**6, 2.5, 0.0, 3.0, -1, -7, 0, 1, True, False, None, 2**63, 10**50, [], [1] * 9, [2, 2], (3,), "k", "-3", "0", "3"]


def _fields():
    out = []
    for name in LAYERS:
        cls = LAYERS[name]
        for f in dataclasses.fields(cls):
            out.append((name, f.name))
    return out


FIELDS = _fields()


def _kind(cls, field):
    spec = next((o for o in cls.OPTIONS if o.name == field), None)
    return spec.kind if spec else "size"


def _check(name, field, value, must_fail):
    layer, shape = example_layer(name)
    cls = type(layer)
    config = {f.name: getattr(layer, f.name) for f in dataclasses.fields(cls)}
    config[field] = value
    start = time.perf_counter()
    try:
        built = cls(**config)
    except ConvcalcError as e:
        # a value that is wrong in itself is named; a valid one may clash with another field
        assert not must_fail or e.option == field or field in str(e), (name, field, value, str(e))
        built = None
    else:
        assert not must_fail, f"{name}.{field}={value!r} was accepted"
        try:
            built.report(shape)
        except ConvcalcError:
            pass
    took = time.perf_counter() - start
    assert took < 2, f"{name}.{field}={value!r} took {took:.1f} s"


@pytest.mark.parametrize("name,field", FIELDS)
def test_hostile_constructor_values(name, field):
    cls = LAYERS[name]
    kind = _kind(cls, field)
    for value in ALWAYS_BAD:
        number_text = isinstance(value, str) and value in ("1e5", "3.5")
        _check(name, field, value, must_fail=not (kind.startswith("float") and number_text))
    for value in MAYBE:
        bad = (
            (kind in ("flag",) and not isinstance(value, bool))
            or (kind in ("size", "sizes", "padding", "size_or_inf", "choice") and isinstance(value, (bool, float)))
            or (kind in ("choice",) and value is not None and not isinstance(value, str))
            or (kind.startswith("float") and isinstance(value, (str, list, tuple)) and value not in ("-3", "0", "3"))
        )
        _check(name, field, value, must_fail=bad)


@pytest.mark.parametrize("name", list(LAYERS))
def test_missing_and_unknown_arguments(name):
    cls = LAYERS[name]
    layer, _ = example_layer(name)
    config = {f.name: getattr(layer, f.name) for f in dataclasses.fields(cls)}
    with pytest.raises(ConvcalcError, match="no_such_arg"):
        cls(**config, no_such_arg=1)
    required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
    for field in required:
        with pytest.raises(ConvcalcError, match=field):
            cls(**{k: v for k, v in config.items() if k != field})
    with pytest.raises(ConvcalcError):
        cls(*range(40))


def test_positional_calls_still_work():
    from convcalc import Conv2d

    assert Conv2d(3, 64, 7, stride=2).report((3, 32, 32)).output_shape == (64, 13, 13)


BAD_SHAPES = [(), None, 5, "abc(", "", (-1, 4, 4), (0, 4, 4), (2.5, 4, 4), (math.nan,), ("abc(", 3), (10**1000, 3, 3),
              [[3, 4]], {"a": 1}, Weird(), (True, 3, 3), tuple(range(1, 200)), (1 + 2j,), (None, 3)]
BAD_BATCH = [0, -1, 2.5, math.nan, True, None, 10**1000, "abc(", "", [], {}, Weird()]
BAD_DTYPE = ["float33", None, 5, [], {}, "", Weird(), ["float32"]]


@pytest.mark.parametrize("name", list(LAYERS))
def test_hostile_report_arguments(name):
    layer, shape = example_layer(name)
    for bad in BAD_SHAPES:
        start = time.perf_counter()
        with pytest.raises(ConvcalcError):
            layer.report(bad)
        assert time.perf_counter() - start < 2, bad
    for bad in BAD_BATCH:
        with pytest.raises(ConvcalcError, match="batch"):
            layer.report(shape, batch=bad)
    for bad in BAD_DTYPE:
        with pytest.raises(ConvcalcError, match="dtype"):
            layer.report(shape, dtype=bad)


class Index:
    """An integer type that is not int (as numpy.int64): usable wherever an int is."""

    def __init__(self, v):
        self.v = v

    def __index__(self):
        return self.v


class BadIndex:
    def __index__(self):
        raise RuntimeError("no")


def test_integer_types_other_than_int():
    from convcalc import Conv2d

    layer = Conv2d(Index(3), Index(8), (Index(3), 3), stride=Index(2))
    assert layer.kernel_size == (3, 3) and type(layer.in_channels) is int
    assert layer.report((Index(3), 9, 9), batch=Index(2)).output_shape == (8, 4, 4)
    with pytest.raises(ConvcalcError, match="kernel_size"):
        Conv2d(3, 8, BadIndex())
    with pytest.raises(ConvcalcError, match="stride"):
        Conv2d(3, 8, 3, stride=Index(0))
    with pytest.raises(ConvcalcError, match="out_channels"):
        Conv2d(3, Index(10**200), 3)
