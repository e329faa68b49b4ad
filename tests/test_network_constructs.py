"""The network constructs of issue 12 against PyTorch (tests/golden/make_constructs_golden.py):
scale (squeeze-and-excitation), chunk and split with a concat or multiply join, add and multiply
joins with broadcasting, concat along a spatial dim, and save/from. Each network below is the
recorded torch.nn module written as a convcalc file; its totals, forward and backward MACs,
saved bytes and gradient bytes must be PyTorch's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convcalc import ConvcalcError, sizes
from convcalc.layers.combine import join_counts
from convcalc.layers.training import Training
from convcalc.network import Network

GOLDEN = json.loads((Path(__file__).parent / "golden" / "constructs_golden.json").read_text())["networks"]

NETWORKS = {
    "se": """
layers:
  - conv2d: {out_channels: 16, kernel_size: 3, padding: 1}
  - scale:
      body:
        - adaptiveavgpool2d: {output_size: 1}
        - conv2d: {out_channels: 4, kernel_size: 1}
        - relu
        - conv2d: {out_channels: 16, kernel_size: 1}
        - sigmoid
""",
    "shuffle": """
layers:
  - conv2d: {out_channels: 16, kernel_size: 3, padding: 1}
  - chunk:
      chunks: 2
      branches:
        - []
        - [conv2d: {out_channels: 8, kernel_size: 1}, relu]
""",
    "gate": """
layers:
  - conv2d: {out_channels: 16, kernel_size: 3, padding: 1}
    save: x
  - split:
      split_size_or_sections: [4, 12]
      join: multiply
      branches:
        - [conv2d: {out_channels: 8, kernel_size: 1}]
        - [conv2d: {out_channels: 8, kernel_size: 1}, sigmoid]
  - add:
      branches:
        - []
        - [from: x, conv2d: {out_channels: 8, kernel_size: 1}]
""",
    "spatial": """
layers:
  - conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
  - concat: {dim: 2, branches: [[], [maxpool2d: {kernel_size: [2, 1]}]]}
  - add:
      branches:
        - []
        - [avgpool2d: {kernel_size: [6, 1]}, conv2d: {out_channels: 8, kernel_size: 1}]
""",
    "tied": """
layers:
  - embedding: {num_embeddings: 100, embedding_dim: 16}
    name: wte
  - layernorm
  - linear: {out_features: 100, bias: false}
    tie: wte
""",
}


def _id(g):
    return f"{g['network']}-b{g['batch']}-{'grad' if g['input_grad'] else 'nograd'}"


def test_every_recorded_network_is_written():
    assert {g["network"] for g in GOLDEN} == set(NETWORKS)


@pytest.mark.parametrize("g", GOLDEN, ids=_id)
def test_construct_network_against_pytorch(g):
    net = Network.from_yaml(NETWORKS[g["network"]], label=g["network"])
    shape = ",".join(map(str, g["input"]))
    r = net.report(input=shape, batch=g["batch"], training=Training(input_grad=g["input_grad"]))
    t = r.total
    assert list(r.output_shape) == g["output_shape"]
    assert t["params"] == g["params"]
    assert 2 * t["macs"] == g["forward_flops"]
    assert 2 * t["backward"]["total"]["macs"] == g["backward_flops"]
    assert t["saved_bytes"] == g["saved_activation_bytes"]
    assert t["grad_bytes"] == g["grad_bytes"]


def _brute_join(kind, shapes, requires):
    """Count by enumeration: each output element of each step is one op; each gradient element
    of an operand sums the output elements that broadcast from it (terms - 1 adds), after one
    mult per output element for multiply."""
    import itertools

    fwd = mults = adds = 0
    left, left_req = shapes[0], requires[0]
    for right, right_req in zip(shapes[1:], requires[1:]):
        out = tuple(max(a, b) for a, b in zip(left, right))
        positions = list(itertools.product(*[range(n) for n in out]))
        fwd += len(positions)
        for shape, req in ((left, left_req), (right, right_req)):
            if not req:
                continue
            terms = {}
            for p in positions:
                src = tuple(i if n > 1 else 0 for i, n in zip(p, shape))
                terms[src] = terms.get(src, 0) + 1
                if kind == "multiply":
                    mults += 1
            adds += sum(t - 1 for t in terms.values())
        left, left_req = out, left_req or right_req
    return fwd, mults, adds


@pytest.mark.parametrize("kind", ["add", "multiply"])
@pytest.mark.parametrize("shapes", [[(3, 4, 5), (3, 1, 1)], [(1, 4, 1), (3, 1, 5)], [(2, 3), (2, 3), (1, 3)], [(4, 1), (4, 6), (1, 6), (4, 6)]])
@pytest.mark.parametrize("requires", [None, "first-not", "last-not"])
def test_join_counts_equal_brute_force(kind, shapes, requires):
    req = [True] * len(shapes)
    if requires == "first-not":
        req[0] = False
    elif requires == "last-not":
        req[-1] = False
    c = join_counts(kind, shapes, 1, req)
    fwd, mults, adds = _brute_join(kind, shapes, req)
    assert c["forward"][{"add": "adds", "multiply": "mults"}[kind]] == fwd
    assert c["grad_input"]["mults"] == mults and c["grad_input"]["adds"] == adds


def test_join_counts_symbolic_equal_numeric():
    from convcalc.expr import parse_shape

    C, H, W, B = parse_shape("C,H,W,B")
    c = join_counts("multiply", [(C, H, W), (C, 1, 1)], B)
    at = {"C": 5, "H": 7, "W": 3, "B": 2}
    n = join_counts("multiply", [(5, 7, 3), (5, 1, 1)], 2)
    for part in ("forward", "grad_input"):
        for k, v in c[part].items():
            assert sizes.substitute(v, at) == n[part][k]


BAD = [
    ("layers:\n  - add: {branches: [[], [maxpool2d: {kernel_size: 2}]]}\n", "do not broadcast"),
    ("layers:\n  - multiply: {branches: [[], [flatten]]}\n", "branches of 3 and 1 dimensions"),
    ("layers:\n  - concat: {dim: 2, branches: [[], [conv2d: {out_channels: 2, kernel_size: 1}]]}\n", "all but dim 2 must match"),
    ("layers:\n  - concat: {dim: 0, branches: [[], []]}\n", "dim 0 is the batch"),
    ("layers:\n  - concat: {dim: 4, branches: [[], []]}\n", "dim 4 is out of range"),
    ("layers:\n  - chunk: {chunks: 3, branches: [[], [], []]}\n", r"into 2 parts \(2, 2\) but has 3 branches"),
    ("layers:\n  - split: {split_size_or_sections: [2, 3], branches: [[], []]}\n", "sum to 5 but the dimension has 4"),
    ("layers:\n  - split: {split_size_or_sections: 0, branches: [[]]}\n", "0 is not a size"),
    ("layers:\n  - chunk: {chunks: 0, branches: [[]]}\n", "chunks must be a positive whole number"),
    ("layers:\n  - chunk: {chunks: 2, join: divide, branches: [[], []]}\n", "join must be one of concat, add, multiply"),
    ("layers:\n  - relu\n  - from: skip\n", "no output saved as 'skip'"),
    ("layers:\n  - from: [1]\n", "from takes the name of an output"),
    ("layers:\n  - relu: {}\n    save: {a: 1}\n", "save takes the name of an output"),
    ("layers:\n  - from: x\n    repeat: 2\n", "nothing beside it"),
    ("layers:\n  - scale: {branches: [[]]}\n", "scale has no 'branches'"),
    ("layers:\n  - split: {branches: [[]]}\n", "split needs split_size_or_sections"),
    ("layers:\n  - conv2d: {out_channels: 4, kernel_size: 1}\n    tie: w\n", "no earlier layer named 'w'"),
    ("layers:\n  - conv2d: {out_channels: 4, kernel_size: 1}\n    name: a\n  - conv2d: {out_channels: 4, kernel_size: 3}\n"
     "    tie: a\n", "has 148 parameters but 'a' has 20"),
    ("layers:\n  - sequential: {layers: [relu]}\n    tie: a\n", "tie: is for a layer"),
    ("layers:\n  - from: x\n    tie: a\n", "nothing beside it"),
    # inside a block (its own row not written yet): one line, not an internal error
    ("layers:\n  - sequential:\n      layers:\n        - conv2d: {out_channels: 4, kernel_size: 1}\n          tie: w\n",
     "no earlier layer named 'w'"),
]


def test_tie_inside_a_block():
    """A layer inside a block ties to an earlier layer of the same block or outside it (an
    internal error before: the block's row, not yet written, was read as a row)."""
    inner = """layers:
  - sequential:
      layers:
        - embedding: {num_embeddings: 100, embedding_dim: 16}
          name: wte
        - linear: {out_features: 100, bias: false}
          tie: wte
"""
    outer = """layers:
  - embedding: {num_embeddings: 100, embedding_dim: 16}
    name: wte
  - sequential:
      layers:
        - linear: {out_features: 100, bias: false}
          tie: wte
"""
    for text in (inner, outer):
        r = Network.from_yaml("input: 10\n" + text, label="tied").report(training=Training(input_grad=False))
        assert r.total["params"] == 1600
        assert [row["tied_to"] for row in r.rows if row["type"] == "linear"] == ["wte"]


@pytest.mark.parametrize("text, message", BAD)
def test_bad_constructs_are_one_error(text, message):
    with pytest.raises(ConvcalcError, match=message):
        Network.from_yaml("input: 4,6,6\n" + text, label="bad").report()


def test_chunk_of_uneven_size_is_cut_as_torch_chunk():
    """torch.chunk(7 channels, 3) gives 3, 3, 1; (6, 4) gives 2, 2, 2 (three parts, not four)."""
    text = "layers:\n  - chunk: {chunks: 3, join: concat, branches: [[conv2d: {out_channels: 1, kernel_size: 1}], [], []]}\n"
    r = Network.from_yaml("input: 7,2,2\n" + text, label="x").report()
    conv = next(row for row in r.rows if row["type"] == "conv2d")
    assert conv["params"] == 3 + 1 and r.output_shape == (1 + 3 + 1, 2, 2)
    with pytest.raises(ConvcalcError, match="into 3 parts"):
        Network.from_yaml("input: 6,2,2\nlayers:\n  - chunk: {chunks: 4, branches: [[], [], [], []]}\n", label="x").report()


def test_symbolic_join_states_its_condition():
    """x * f(x) where f halves and doubles H: equal only for even H, stated in the domain."""
    text = """layers:
  - multiply:
      branches:
        - []
        - [maxpool2d: {kernel_size: 2}, convtranspose2d: {out_channels: 4, kernel_size: 2, stride: 2}]
"""
    r = Network.from_yaml("input: 4,H,W\n" + text, label="x").report()
    assert "H divisible by 2" in r.domain and "W divisible by 2" in r.domain
    at = {"H": 6, "W": 4}
    n = Network.from_yaml("input: 4,6,4\n" + text, label="x").report()
    assert sizes.substitute(r.total["mults"], at) == n.total["mults"]


def test_cli_bad_construct_is_one_line(tmp_path):
    import subprocess
    import sys

    p = tmp_path / "n.yaml"
    p.write_text("input: 4,6,6\nlayers:\n  - from: nowhere\n")
    run = subprocess.run([sys.executable, "-m", "convcalc", "net", str(p)], capture_output=True, text=True)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("convcalc net: ") and "no output saved as 'nowhere'" in run.stderr


SE_NET = """input: 16,32,32
layers:
  - conv2d: {out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
  - scale:
      body:
        - adaptiveavgpool2d: {output_size: 1}
        - conv2d: {out_channels: 4, kernel_size: 1}
        - conv2d: {out_channels: 16, kernel_size: 1}
        - sigmoid
  - maxpool2d: {kernel_size: 2}
"""


def test_solve_goes_through_a_scale_whose_branch_broadcasts():
    """Enumerated: the input sizes H for which the network gives 8x8 (the SE branch bounds nothing)."""
    net = Network.from_yaml(SE_NET, label="se")
    found = [h for h in range(20, 50) if net.report(input=f"16,{h},{h}").output_shape == (16, 8, 8)]
    r = net.solve((16, 8, 8))
    assert r.input_ranges[0] == (found[0], found[-1]) and found == list(range(found[0], found[-1] + 1))


@pytest.mark.parametrize("extra, message", [
    ("  - concat: {dim: 2, branches: [[], []]}\n", "along dim 2 changes a spatial size"),
    ("    save: s\n  - relu\n  - from: s\n", "named outputs"),
])
def test_solve_refuses_what_it_cannot_invert(extra, message):
    net = Network.from_yaml(SE_NET + extra, label="se")
    with pytest.raises(ConvcalcError, match=message):
        net.solve((16, 8, 8) if "dim" not in extra else (16, 16, 8))


def test_tied_layer_counts_its_parameters_once_and_sums_the_two_gradients():
    """tie: the linear's weight is the embedding's: no parameters, gradient or optimizer state of its
    own; its dL/dW adds one add per shared element to its own (AccumulateGrad sums the two
    contributions), as derived by hand: dW = g^T x over B*T rows, (B*T - 1)*V*D adds, plus V*D."""
    text = NETWORKS["tied"]
    untied = text.replace("    tie: wte\n", "")
    B, T, V, D = 3, 12, 100, 16
    tied = Network.from_yaml(text, label="t").report(input=str(T), batch=B, training=Training(optimizer="adam"))
    free = Network.from_yaml(untied, label="u").report(input=str(T), batch=B, training=Training(optimizer="adam"))
    head_t, head_u = tied.rows[-1], free.rows[-1]
    assert head_t["tied_to"] == "wte" and head_t["params"] == 0 and head_u["params"] == V * D
    assert tied.total["params"] == free.total["params"] - V * D
    assert head_u["backward"]["grad_weight"]["adds"] == (B * T - 1) * V * D
    assert head_t["backward"]["grad_weight"]["adds"] == (B * T - 1) * V * D + V * D
    assert tied.total["grad_bytes"] == free.total["grad_bytes"] - 4 * V * D
    assert tied.total["optimizer_bytes"] == free.total["optimizer_bytes"] - 2 * 4 * V * D  # adam: two moments
    assert tied.total["optimizer_flops"] < free.total["optimizer_flops"]
