"""--explain --training: every backward count and training quantity's general formula, with the
values put in, equals the number (the same code gives both)."""

import pytest

from convcalc.explain import check, explain_layer
from convcalc.layers.training import Training
from test_explain import NUMERIC, NUMERIC_EXAMPLES, example


@pytest.mark.parametrize("name", sorted(set(NUMERIC_EXAMPLES) | set(NUMERIC)))
def test_backward_formula_with_values_equals_the_number(name):
    layer, shape = NUMERIC[name]() if name in NUMERIC else example(name)
    expl = explain_layer(layer, shape, batch=2, training=Training(optimizer="adam"))
    names = {s.quantity for s in expl.steps}
    assert {"saved_bytes", "training_peak_bytes"} <= names
    assert any(n.startswith("backward ") for n in names)
    assert check(expl)


def test_crossentropy_derivation_names_the_classes_k():
    from convcalc import CrossEntropyLoss

    expl = explain_layer(CrossEntropyLoss(), (10, 4), batch=2, training=Training())
    assert ("K", "classes", 10) in expl.legend and check(expl)
