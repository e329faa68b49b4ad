"""`solve LAYER --for X` for every solvable layer and every parameter it can be solved for,
against brute force over the layer's own forward pass: the option being solved for is never
required, and the interval reported per dimension is exactly the values that reach the target."""

import json

import pytest

from convcalc.layers.conv import MAX_KERNEL

from convcalc import ConvcalcError
from convcalc.cli import main
from conftest import example_options
from convcalc.layers.registry import LAYERS
from convcalc.solve import SOLVABLE_PARAMS


def _example(name):
    """(input shape, option texts) of a command's own --help example."""
    shape, opts = example_options(name)
    if shape is None:
        return None, opts
    return tuple(v if isinstance(v, int) else 20 for v in shape), opts  # a symbolic length made a number


def _cases():
    for name in LAYERS:
        cls = LAYERS[name]
        if not hasattr(cls, "size_maps"):
            continue
        shape, _ = _example(name)
        if shape is None:
            continue
        options = {o.name for o in cls.OPTIONS}
        for param in SOLVABLE_PARAMS:
            if param in options and name != "maskedconv2d":
                yield name, param


CASES = list(_cases())


def _argv(opts):
    out = []
    for k, v in opts.items():
        flag = "--" + k.replace("_", "-")
        if v is True:
            out.append(flag)
        elif v is False:
            out.append("--no-" + flag[2:])
        else:
            out += [flag, str(v)]
    return out


def _brute(cls, shape, opts, param, dim, target, bound):
    """Every value v < bound of param in dimension dim that gives the target size there."""
    base = cls.build(shape, opts)
    found = []
    start = 0 if param in ("padding", "output_padding") else 1
    for v in range(start, bound):
        values = list(getattr(base, param))
        values[dim] = v
        trial = dict(opts, **{param: ",".join(map(str, values))})
        try:
            out = cls.build(shape, trial).report(shape).output_shape
        except ConvcalcError:
            continue
        if out[dim + 1] == target[dim + 1]:
            found.append(v)
    return found


def test_cases_cover_conv_pool_and_transposed():
    names = {n for n, _ in CASES}
    assert {"conv2d", "maxpool2d", "avgpool2d", "convtranspose2d", "conv3d", "causalconv1d"} <= names
    assert ("convtranspose1d", "output_padding") in CASES and ("maxpool1d", "kernel_size") in CASES


@pytest.mark.parametrize("shift", [0, 1])
@pytest.mark.parametrize("name, param", CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_solve_for_every_parameter_matches_brute_force(capsys, name, param, shift):
    cls = LAYERS[name]
    shape, opts = _example(name)
    layer = cls.build(shape, opts)
    target = list(layer.report(shape).output_shape)
    target[1] += shift  # shift 1: often unreachable, then every dimension but the others must say so
    target = tuple(target)
    given = {k: v for k, v in opts.items() if k != param}
    argv = ["solve", name, "--input", ",".join(map(str, shape)), "--target", ",".join(map(str, target)),
            "--for", param.replace("_", "-"), "-f", "json"] + _argv(given)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    per_dim = json.loads(out)["values"][param]
    bound = 2 * max(shape[1:] + target[1:]) + 8
    for dim, got in enumerate(per_dim):
        expected = _brute(cls, shape, opts, param, dim, target, bound)
        if got is None:
            assert expected == [], (dim, expected)
            continue
        hi = bound - 1 if got["max"] is None else got["max"]
        assert expected == [v for v in range(got["min"], min(hi, bound - 1) + 1)], (dim, got, expected)
        # unbounded, or bounded below the brute-force range; a kernel stops at convcalc's stated cap
        assert got["max"] is None or got["max"] < bound - 1 or (param == "kernel_size" and got["max"] == MAX_KERNEL)


@pytest.mark.parametrize("argv, value", [
    (["solve", "conv2d", "--input", "3,224,224", "--target", "64,112,112", "--stride", "2", "--padding", "3", "--for", "kernel-size"],
     {"min": 7, "max": 8}),
    (["solve", "maxpool2d", "--input", "64,112,112", "--target", "64,56,56", "--stride", "2", "--padding", "1", "--for", "kernel-size"],
     {"min": 3, "max": 4}),
    # stride left out: a pool's stride is its kernel size, so both move together
    (["solve", "maxpool2d", "--input", "64,112,112", "--target", "64,56,56", "--for", "kernel-size"], {"min": 2, "max": 2}),
])
def test_issue_examples(capsys, argv, value):
    code = main(argv + ["-f", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert data["values"]["kernel_size"] == [value, value] and data["unknown"] == ["kernel_size"]


def test_two_unknowns_without_the_required_kernel(capsys):
    code = main(["solve", "conv1d", "--input", "2,10", "--target", "4,5", "--for", "kernel-size,stride", "-f", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    pairs = json.loads(out)["values"]["kernel_size,stride"][0]["pairs"]
    # brute force: (10 - k)//s + 1 == 5
    expected = {(k, s) for k in range(1, 11) for s in range(1, 20) if (10 - k) // s + 1 == 5}
    got = {(p["kernel_size"], s) for p in pairs for s in range(p["stride"]["min"], p["stride"]["max"] + 1)}
    assert got == expected


@pytest.mark.parametrize("argv, message", [
    (["solve", "conv2d", "--target", "64,112,112", "--in-channels", "3"], "solve conv2d: --kernel-size: missing: give --kernel-size"),
    (["solve", "maxpool2d", "--target", "64,56,56"], "solve maxpool2d: --kernel-size: missing: give --kernel-size"),
    (["solve", "conv2d", "--input", "3,8,8", "--target", "4,8,8", "--for", "stride"],
     "solve conv2d: --kernel-size: missing: give --kernel-size (or solve for it: --for kernel-size)"),
    (["solve", "adaptiveavgpool2d", "--target", "4,8,8"], "solve adaptiveavgpool2d: --output-size: missing: give --output-size"),
    (["solve", "conv2d", "--input", "3,8,8", "--target", "4,8,8", "--kernel-size", "3", "--for", "kernel-size"],
     "--kernel-size: is what --for solves for; leave it out"),
    (["solve", "maskedconv2d", "--input", "3,8,8", "--target", "4,8,8", "--for", "kernel-size"],
     "--for: maskedconv2d keeps the input's size whatever its kernel_size"),
    (["solve", "causalconv1d", "--input", "3,8", "--target", "4,8", "--kernel-size", "2", "--for", "padding"],
     "--for: 'padding' is not a parameter of causalconv1d that can be solved for (one of kernel_size, dilation)"),
])
def test_solve_refusals_are_one_line(capsys, argv, message):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err, err


@pytest.mark.parametrize("names", ["stride,kernel-size", "kernel-size,stride"])
def test_pool_kernel_and_stride_together(capsys, names):
    """Both unknown: the stride is its own unknown, not the kernel size's shadow."""
    code = main(["solve", "maxpool1d", "--input", "2,10", "--target", "2,3", "--for", names, "-f", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    outer, inner = names.replace("-", "_").split(",")
    pairs = json.loads(out)["values"][f"{outer},{inner}"][0]["pairs"]
    got = {(p[outer], v) for p in pairs for v in range(p[inner]["min"], p[inner]["max"] + 1)}
    got = {(a, b) if outer == "kernel_size" else (b, a) for a, b in got}
    # brute force over PyTorch's rule: floor((10 - k)/s) + 1 == 3, padding 0
    expected = {(k, s) for k in range(1, 11) for s in range(1, 30) if (10 - k) // s + 1 == 3}
    assert got == expected
