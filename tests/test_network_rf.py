"""Receptive fields of networks against brute force: which input positions influence each
output position, propagated through the index maps of convolutions, pooling, transposed
convolutions, residual adds and concats (pure Python, one spatial dimension; the layers are
square so both dimensions agree)."""

import json

import pytest

from convcalc.network import Network


def conv(k, s=1, p=0, d=1):
    return ("conv", k, s, p, d)


def pool(k, s=None, p=0):
    return ("pool", k, s or k, p, 1)


def convt(k, s=1, p=0):
    return ("convt", k, s, p, 1)


def res(body, shortcut=()):
    return ("res", list(body), list(shortcut))


def cat(*branches):
    return ("cat", [list(b) for b in branches])


def _yaml(layers):
    out = []
    for layer in layers:
        kind = layer[0]
        if kind == "conv":
            out.append({"conv2d": {"out_channels": 2, "kernel_size": layer[1], "stride": layer[2], "padding": layer[3], "dilation": layer[4]}})
        elif kind == "pool":
            out.append({"maxpool2d": {"kernel_size": layer[1], "stride": layer[2], "padding": layer[3]}})
        elif kind == "convt":
            out.append({"convtranspose2d": {"out_channels": 2, "kernel_size": layer[1], "stride": layer[2], "padding": layer[3]}})
        elif kind == "res":
            out.append({"residual": {"body": _yaml(layer[1]), "shortcut": _yaml(layer[2])}})
        else:
            out.append({"concat": {"branches": [_yaml(b) for b in layer[1]]}})
    return out


def _propagate(layers, groups):
    """groups: per channel group, per position, the set of input positions it depends on."""
    for layer in layers:
        kind = layer[0]
        if kind in ("conv", "pool", "convt"):
            _, k, s, p, d = layer
            if kind == "conv":  # a convolution mixes the channels
                L = len(groups[0])
                merged = [set().union(*(g[i] for g in groups)) for i in range(L)]
                groups = [merged]
            new = []
            for g in groups:
                L = len(g)
                if kind == "convt":
                    n = (L - 1) * s - 2 * p + d * (k - 1) + 1
                    out = [set() for _ in range(n)]
                    for i in range(L):
                        for t in range(k):
                            o = i * s - p + t * d
                            if 0 <= o < n:
                                out[o] |= g[i]
                else:
                    n = (L + 2 * p - d * (k - 1) - 1) // s + 1
                    out = [set().union(*(g[o * s - p + t * d] for t in range(k) if 0 <= o * s - p + t * d < L)) for o in range(n)]
                new.append(out)
            groups = new
        elif kind == "res":
            body, short = _propagate(layer[1], groups), _propagate(layer[2], groups)
            L = len(body[0])
            groups = [[set().union(*(g[i] for g in body + short)) for i in range(L)]]
        else:
            groups = [g for branch in layer[1] for g in _propagate(branch, groups)]
    return groups


def _spans(layers, n):
    groups = _propagate(layers, [[{i} for i in range(n)]])
    return [max(s) - min(s) + 1 for g in groups for s in g if s]


NETWORKS = {
    "chain with dilation": [conv(3, 1, 1), conv(3, 2, 1), pool(2), conv(3, 1, 1, 2)],
    "resnet stem and block": [conv(7, 2, 3), pool(3, 2, 1), res([conv(3, 1, 1), conv(3, 1, 1)])],
    "inception-like concat": [conv(3), cat([conv(1)], [conv(5, 1, 2)], [pool(3, 1, 1)]), pool(2)],
    "downsampling residual": [conv(3, 2, 1), res([conv(3, 2, 1), conv(3, 1, 1)], [conv(1, 2)])],
    "even kernels": [conv(2), pool(2, 1), conv(4, 2, 1), pool(3, 2, 1)],
}


@pytest.mark.parametrize("layers", NETWORKS.values(), ids=NETWORKS.keys())
def test_receptive_field_matches_brute_force(layers):
    n = 96
    text = json.dumps({"input": f"2,{n},{n}", "layers": _yaml(layers)})
    report = Network.from_yaml(text).report()
    assert report.total["receptive_field"] == [max(_spans(layers, n))] * 2


TRANSPOSED = {
    "unet-like up": ([conv(3, 1, 1), pool(2), convt(2, 2)], 1),
    "odd transposed kernel": ([conv(3, 2, 1), convt(3, 2, 1), conv(3, 1, 1)], 1),
    "overlapping transposed kernel": ([pool(2), convt(4, 2, 1), conv(3)], 1),
    "finer than the input": ([conv(3, 1, 1), convt(3, 2), conv(3, 1, 1)], None),  # jump 1/2
    "dilated transposed": ([conv(3, 2, 1), ("convt", 3, 2, 1, 3), conv(3, 1, 1)], 1),
    "unet skip": ([conv(3, 1, 1), cat([], [pool(2), conv(3, 1, 1), convt(2, 2)]), conv(3, 1, 1)], 1),
    "residual up and down": ([conv(3, 2, 1), res([convt(4, 2, 1), conv(3, 2, 1)]), conv(3, 1, 1)], 2),
    "two levels": ([conv(3, 1, 1), pool(2), conv(3, 1, 1), pool(2), conv(3, 1, 1), convt(2, 2), conv(3, 1, 1), convt(3, 2, 1)], 1),
}


def _yaml_t(layers):
    out = _yaml(layers)
    for layer, y in zip(layers, out):
        if layer[0] == "convt" and layer[4] != 1:
            y["convtranspose2d"]["dilation"] = layer[4]
    return out


@pytest.mark.parametrize("layers, jump", TRANSPOSED.values(), ids=TRANSPOSED.keys())
def test_receptive_field_through_transposed_convolutions_matches_brute_force(layers, jump):
    n = 64
    text = json.dumps({"input": f"2,{n},{n}", "layers": _yaml_t(layers)})
    report = Network.from_yaml(text).report()
    assert report.total["receptive_field"] == [max(_spans(layers, n))] * 2
    assert report.total["jump"] == (None if jump is None else [jump] * 2)
    assert any(note.startswith("receptive field after a transposed convolution") for note in report.notes)


@pytest.mark.parametrize(
    "text",
    [
        # stride 3, kernel 2: every third output receives no input; dilation 2 = stride: every other
        json.dumps({"input": "2,16,16", "layers": [{"convtranspose2d": {"out_channels": 2, "kernel_size": 3, "stride": 2, "dilation": 2}}]}),
        json.dumps({"input": "2,16,16", "layers": [{"conv2d": {"out_channels": 2, "kernel_size": 3}},
                                                   {"convtranspose2d": {"out_channels": 2, "kernel_size": 2, "stride": 3}}, "relu"]}),
        json.dumps({"input": "2,16,16", "layers": [{"convtranspose2d": {"out_channels": 2, "kernel_size": "k", "stride": 2}}, "relu"]}),
    ],
    ids=["dilation equal to the stride", "gaps", "symbolic kernel"],
)
def test_no_receptive_field_where_it_cannot_be_given(text):
    report = Network.from_yaml(text).report()
    assert report.total["receptive_field"] is None and report.total["jump"] is None
    assert all(row["receptive_field"] is None for row in report.rows[1:])
    assert any(note.startswith("receptive field not given after a transposed convolution (layers[") for note in report.notes)


def test_why_a_transposed_convolution_has_no_single_receptive_field():
    # with a kernel the stride does not divide, the span of the inputs an output depends on
    # varies with the output's position, away from the borders too
    spans = _spans([conv(3, 2, 1), convt(3, 2, 1), conv(3, 1, 1)], 64)
    interior = spans[len(spans) // 4 : 3 * len(spans) // 4]
    assert len(set(interior)) > 1, interior


def test_unet_example_receptive_field():
    from pathlib import Path

    unet = [conv(3, 1, 1), cat([], [pool(2), conv(3, 1, 1), cat([], [pool(2), conv(3, 1, 1), convt(2, 2)]),
                                   conv(3, 1, 1), convt(2, 2)]), conv(3, 1, 1), conv(1)]
    r = Network.from_yaml(Path(__file__).parent.parent / "examples" / "unet_small.yaml").report()
    assert r.total["receptive_field"] == [max(_spans(unet, 32))] * 2
