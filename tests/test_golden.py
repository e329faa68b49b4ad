"""convcalc against PyTorch on the recorded golden set (tests/golden/make_golden.py)."""

import json

import pytest

from convcalc import ConvcalcError, LAYERS
from conftest import GOLDEN

CASES = json.loads(GOLDEN.read_text())["cases"]


def _id(case):
    return f"{case['layer']}-{json.dumps(case['kwargs'], sort_keys=True)}-{case['input']}"


def _report(case):
    cls = LAYERS[case["layer"]]
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in case["kwargs"].items()}
    return cls(**kwargs).report(tuple(case["input"]), batch=case["batch"])


#: layers with no PyTorch module (checked by enumeration in their own tests); maskedconv2d and
#: wavenet are built from PyTorch convolutions in the generator; pixelcnn and causalconv1d are
#: checked through them and by enumeration
NOT_IN_TORCH = {"mdrnn", "gated-rnn", "attention-rnn", "pixelcnn", "causalconv1d",
                # weightless elementwise layers: shapes are checked inside the networks' golden rows
                "relu", "relu6", "leakyrelu", "sigmoid", "tanh", "gelu", "silu", "softmax", "dropout", "flatten",
                # a loss: checked against torch_backward_golden.json (tests/test_crossentropy.py)
                "crossentropy"}
# issue 12: rearranging and padding layers, against rearrange_backward_golden.json (tests/test_rearrange.py, tests/test_pad.py)
NOT_IN_TORCH |= {"pixelshuffle", "pixelunshuffle", "channelshuffle", "unflatten", "unfold", "fold"}
NOT_IN_TORCH |= {f"{kind}pad{n}d" for kind in ("zero", "constant", "reflection", "replication", "circular") for n in (1, 2, 3)}
FIELDS = json.loads(GOLDEN.read_text())["fields"]


def test_golden_set_is_large_and_covers_every_family():
    families = {c["layer"] for c in CASES if not c["refused"]}
    assert len(CASES) >= 500
    assert families == set(LAYERS) - NOT_IN_TORCH


@pytest.mark.parametrize("case", [c for c in CASES if c["refused"]], ids=_id)
def test_refused_like_pytorch(case):
    with pytest.raises(ConvcalcError):
        _report(case)


@pytest.mark.parametrize("case", [c for c in CASES if not c["refused"]], ids=_id)
def test_matches_pytorch(case):
    r = _report(case)
    assert list(r.output_shape) == case["output_shape"]
    assert r.params == case["params"]
    assert r.buffers == case["buffers"]
    assert r.param_bytes == case["param_bytes"]
    assert r.buffer_bytes == case["buffer_bytes"]
    # FlopCounterMode counts 2 flops per multiply-accumulate of convolutions and matmuls
    assert 2 * r.macs == case["torch_flops"]
    if "connections" in case:
        assert r.connections == case["connections"]
    if "mask_nonzero" in case:
        assert r.effective_params == case["mask_nonzero"] + (case["kwargs"]["out_channels"] if case["kwargs"]["bias"] else 0)
    if "reached_per_channel" in case:
        cout = case["kwargs"]["out_channels"]
        outputs = cout
        for v in case["output_shape"][1:]:
            outputs *= v
        bias = outputs if case["kwargs"]["bias"] else 0
        per_sample = case["connections"] - cout * case["reached_per_channel"] + bias
        assert r.adds == per_sample * case["batch"]


@pytest.mark.parametrize("case", FIELDS, ids=lambda f: f"{'gated' if f['gated'] else 'vanilla'}-{f['first_kernel_size']}-{f['kernel_size']}-{f['layers']}")
def test_receptive_field_matches_pytorch_gradients(case):
    from convcalc.layers.pixelcnn import gated_field, vanilla_field

    build = gated_field if case["gated"] else vanilla_field
    k1, k = case["first_kernel_size"], case["kernel_size"]
    field = build((k1, k1), (k, k), case["layers"])
    assert sorted(list(p) for p in field) == case["seen"]
