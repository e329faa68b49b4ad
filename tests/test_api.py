"""The Python API: reports print in the command line's readable form and render in notebooks."""

import convcalc
from convcalc import Conv2d, parse_shape
from convcalc.render import Format, render


def test_symbolic_report_repr_is_readable():
    r = Conv2d(3, 64, 3, stride=2).report(parse_shape("3,H,W"))
    text = repr(r)
    assert "output_shape=(64, floor((H - 3)/2) + 1, floor((W - 3)/2) + 1)" in text
    assert "floor(H/2 - 3/2)" not in text  # SymPy's own printing is not shown


def test_numeric_report_repr():
    r = Conv2d(3, 64, 7, stride=2, padding=3, bias=False).report((3, 224, 224))
    assert repr(r) == (
        "LayerReport(layer='conv2d', input_shape=(3, 224, 224), output_shape=(64, 112, 112), params=9408, "
        f"macs={3 * 64 * 49 * 112 * 112}, flops={2 * 3 * 64 * 49 * 112 * 112 - 64 * 112 * 112}, activation_bytes={4 * 64 * 112 * 112})"
    )


def test_report_renders_in_a_notebook_and_as_text():
    r = Conv2d(3, 64, 7, stride=2, padding=3, bias=False).report((3, 224, 224))
    assert r._repr_markdown_() == render(Format.markdown, r)
    assert str(r) == render(Format.table, r)
    assert "118,013,952" in str(r)


def test_public_names():
    for name in ("ConvcalcError", "ConfigError", "ShapeError", "ExpressionError", "LayerReport", "parse_shape", "Conv2d", "LSTM"):
        assert hasattr(convcalc, name), name


def test_help_reads_like_the_cli_help():
    import dataclasses

    from convcalc import LAYERS

    for name in LAYERS:
        cls = LAYERS[name]
        doc = cls.__doc__
        flat = " ".join(doc.split())
        assert doc.startswith(cls.__name__ + "("), name
        for f in dataclasses.fields(cls):
            assert f"    {f.name}: " in doc, (name, f.name)
        for opt in cls.OPTIONS:
            assert " ".join(opt.help.split()) in flat, (name, opt.name)
        assert cls.EXAMPLE in doc


def test_public_classes_have_real_type_hints():
    """Every constructor argument and report() have resolvable hints, none of them Any."""
    import typing

    from convcalc import LAYERS

    for name in LAYERS:
        cls = LAYERS[name]
        hints = typing.get_type_hints(cls)
        for field in cls.__dataclass_fields__:
            assert hints[field] is not typing.Any, (name, field)
        report = typing.get_type_hints(cls.report)
        assert report["return"].__name__ == "LayerReport"
        assert report["input_shape"] is not typing.Any and report["batch"] is not typing.Any
    assert typing.get_type_hints(convcalc.Network.report)["return"].__name__ == "NetworkReport"


def test_every_report_prints_as_a_table_and_renders_in_a_notebook(tmp_path):
    from convcalc.explain import explain_layer
    from convcalc.solve import solve_input

    layer = Conv2d(3, 64, 3, stride=2, padding=1)
    f = tmp_path / "n.yaml"
    f.write_text("input: 3,32,32\nlayers:\n  - conv2d: {out_channels: 8, kernel_size: 3}\n")
    reports = [
        layer.report((3, 32, 32)),
        explain_layer(layer, (3, 32, 32)),
        solve_input(layer, (64, 16, 16), 3),
        convcalc.Network.from_yaml(f).report(),
    ]
    for r in reports:
        assert str(r) == render(Format.table, r)
        assert r._repr_markdown_() == render(Format.markdown, r)
        assert "|---" in r._repr_markdown_()
