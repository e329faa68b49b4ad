import json
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden" / "torch_golden.json"


@pytest.fixture(scope="session")
def golden():
    return json.loads(GOLDEN.read_text())


def example_options(name):
    """(input shape or None, option texts) of a command's own --help example."""
    import shlex

    from convcalc import LAYERS
    from convcalc.expr import parse_shape

    words = shlex.split(LAYERS[name].EXAMPLE)[2:]
    opts, shape, i = {}, None, 0
    while i < len(words):
        key = words[i][2:].replace("-", "_")
        if key.startswith("no_"):
            opts[key[3:]] = False
            i += 1
        elif i + 1 < len(words) and not words[i + 1].startswith("--"):
            if key == "input":
                shape = parse_shape(words[i + 1])
            elif key != "format":
                opts[key] = words[i + 1]
            i += 2
        else:
            opts[key] = True
            i += 1
    return shape, opts


def example_layer(name):
    """The layer and input shape of a command's own --help example."""
    from convcalc import LAYERS

    cls = LAYERS[name]
    shape, opts = example_options(name)
    if shape is None:
        shape = cls.input_from_options(cls.parse_options(opts))
    return cls.build(shape, opts), shape
