"""--convention: the number each peer prints, reproduced exactly from convcalc's layers and the
conventions' data files (convcalc/data/conventions/*.yaml), against what the peers printed when run on
the same torch.nn models (tests/golden/peers_golden.json, written by tests/golden/make_peers_golden.py
with pinned versions in a separate environment).

Every shipped torchvision example (11 networks) and 19 single layers, for every tool: the total, the
second figure a tool prints beside it (calflops' and DeepSpeed's MACs), the per-type breakdowns the
tools give (torchinfo's and thop's per module class, fvcore's and FlopCounterMode's per operator),
and a tool's crash where it crashes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from convcalc import conventions
from convcalc.errors import ConvcalcError
from convcalc.layers.registry import LAYERS
from convcalc.network import evaluate

HERE = Path(__file__).parent
EXAMPLES = HERE.parent / "examples"
GOLDEN = json.loads((HERE / "golden" / "peers_golden.json").read_text())

#: golden tool -> (convention name, the key of the figure it prints, the key of a second figure)
TOOLS = {
    "flopcounter": ("flopcounter", "flops", None),
    "torchinfo": ("torchinfo", "mult_adds", None),
    "fvcore": ("fvcore", "flops", None),
    "ptflops": ("ptflops", "macs", None),
    "ptflops_aten": ("ptflops-aten", "macs", None),
    "thop": ("thop", "macs", None),
    "calflops": ("calflops", "flops", "macs"),
    "deepspeed": ("deepspeed", "flops", "macs"),
}

#: the golden's single layers as convcalc layers: (layer type, arguments, input shape without the batch)
LAYER_CASES = {
    "conv2d": ("conv2d", dict(out_channels=64, kernel_size=3, padding=1), (3, 32, 32)),
    "conv2d_nobias": ("conv2d", dict(out_channels=64, kernel_size=3, padding=1, bias=False), (3, 32, 32)),
    "conv2d_stride2": ("conv2d", dict(out_channels=16, kernel_size=7, stride=2, padding=3, bias=False), (3, 33, 33)),
    "conv2d_grouped": ("conv2d", dict(out_channels=64, kernel_size=3, padding=1, groups=4), (32, 16, 16)),
    "conv2d_depthwise": ("conv2d", dict(out_channels=32, kernel_size=3, padding=1, groups=32, bias=False), (32, 16, 16)),
    "convtranspose2d": ("convtranspose2d", dict(out_channels=8, kernel_size=3, stride=2, padding=1, output_padding=1), (16, 8, 8)),
    "linear": ("linear", dict(out_features=64), (128,)),
    "linear_nobias": ("linear", dict(out_features=64, bias=False), (128,)),
    "linear_tokens": ("linear", dict(out_features=32), (10, 64)),
    "batchnorm2d": ("batchnorm2d", {}, (16, 8, 8)),
    "maxpool2d": ("maxpool2d", dict(kernel_size=3, stride=2, padding=1), (16, 16, 16)),
    "avgpool2d": ("avgpool2d", dict(kernel_size=2), (16, 16, 16)),
    "adaptiveavgpool2d": ("adaptiveavgpool2d", dict(output_size=1), (16, 7, 7)),
    "relu": ("relu", {}, (16, 8, 8)),
    "lstm": ("lstm", dict(hidden_size=64), (10, 32)),
    "gru": ("gru", dict(hidden_size=64), (10, 32)),
    # the golden calls the module with query = key = value and its defaults: need_weights=True (--need-weights)
    "multiheadattention": ("multiheadattention", dict(num_heads=4, batch_first=True, need_weights=True), (10, 64)),
    "layernorm": ("layernorm", dict(normalized_shape=64), (10, 64)),
    "embedding": ("embedding", dict(num_embeddings=1000, embedding_dim=64), (10,)),
}


def _layer_report(case: str):
    kind, args, shape = LAYER_CASES[case]
    return LAYERS[kind].build(shape, args).report(shape)


def _expect(record: dict, tool: str):
    """(figure, second figure or None, the failure text or None) a tool recorded."""
    _, key, also = TOOLS[tool]
    if "error" in record:
        return None, None, record["error"]
    return record[key], (record[also] if also else None), None


def test_the_golden_and_the_cases_agree():
    assert set(LAYER_CASES) == set(GOLDEN["layers"])
    assert set(TOOLS) == set(GOLDEN["tools"])
    for case in LAYER_CASES:
        assert _layer_report(case).params == GOLDEN["layers"][case]["params"], case


def test_every_tool_has_a_convention():
    assert set(conventions.table()) == {"convcalc"} | {name for name, _, _ in TOOLS.values()}


@pytest.mark.parametrize("network", list(GOLDEN["networks"]))
@pytest.mark.parametrize("tool", list(TOOLS))
def test_network_equals_the_tool(tool, network):
    record = GOLDEN["networks"][network]["tools"][tool]
    counted = evaluate(EXAMPLES / f"{network}.yaml", convention=TOOLS[tool][0]).convention
    figure, also, error = _expect(record, tool)
    if error is not None:
        assert counted.count is None and counted.failure
        return
    assert counted.failure is None
    assert counted.count == figure
    if also is not None:
        assert counted.also_count == also


@pytest.mark.parametrize("case", list(LAYER_CASES))
@pytest.mark.parametrize("tool", list(TOOLS))
def test_layer_equals_the_tool(tool, case):
    record = GOLDEN["layers"][case]["tools"][tool]
    counted = conventions.of_layer(_layer_report(case), TOOLS[tool][0])
    figure, also, error = _expect(record, tool)
    if error is not None:
        assert counted.count is None and counted.failure, counted
        return
    assert counted.failure is None, counted.failure
    assert counted.count == figure
    if also is not None:
        assert counted.also_count == also


#: the golden's per-type breakdowns: tool -> {the tool's name for a type: convcalc's layer types it covers}
BREAKDOWNS = {
    "torchinfo": {"Conv2d": ["conv2d"], "BatchNorm2d": ["batchnorm2d"], "Linear": ["linear"], "LayerNorm": ["layernorm"],
                  "ConvTranspose2d": ["convtranspose2d"], "LSTM": ["lstm"], "GRU": ["gru"], "Embedding": ["embedding"]},
    "thop": {"Conv2d": ["conv2d"], "BatchNorm2d": ["batchnorm2d"], "Linear": ["linear"], "LayerNorm": ["layernorm"],
             "AdaptiveAvgPool2d": ["adaptiveavgpool2d"], "AvgPool2d": ["avgpool2d"], "MaxPool2d": ["maxpool2d"],
             "ReLU": ["relu"], "ReLU6": ["relu6"], "SiLU": ["silu"], "GELU": ["gelu"], "Sigmoid": ["sigmoid"],
             "Hardswish": ["hardswish"], "Hardsigmoid": ["hardsigmoid"], "Dropout": ["dropout"],
             "NonDynamicallyQuantizableLinear": ["multiheadattention"]},  # the attention's out_proj: no rule, 0
    # per aten op (FlopCounterMode's get_flop_counts()["Global"]): a convolution of any kind is aten.convolution;
    # a linear layer and the recurrent layers' steps with biases aten.addmm (aten.mm without)
    "flopcounter": {"aten.convolution": ["conv1d", "conv2d", "conv3d", "convtranspose1d", "convtranspose2d",
                                         "convtranspose3d", "causalconv1d", "maskedconv2d", "wavenet", "pixelcnn"],
                    "aten.addmm": ["linear", "rnn", "gru", "lstm"]},
    # per traced op (fvcore's by_operator(): aten::_convolution is "conv", others their aten name)
    "fvcore": {"conv": ["conv1d", "conv2d", "conv3d", "convtranspose1d", "convtranspose2d", "convtranspose3d",
                        "causalconv1d", "maskedconv2d", "wavenet", "pixelcnn"],
               "batch_norm": ["batchnorm1d", "batchnorm2d", "batchnorm3d"], "layer_norm": ["layernorm"],
               "group_norm": ["groupnorm"], "instance_norm": ["instancenorm1d", "instancenorm2d", "instancenorm3d"],
               "adaptive_avg_pool2d": ["adaptiveavgpool2d"], "linear": ["linear"]},
}


@pytest.mark.parametrize("network", list(GOLDEN["networks"]))
@pytest.mark.parametrize("tool", list(BREAKDOWNS))
def test_network_breakdown_equals_the_tool(tool, network):
    record = GOLDEN["networks"][network]["tools"][tool]
    counted = evaluate(EXAMPLES / f"{network}.yaml", convention=TOOLS[tool][0], by_op=True).convention
    ours = {o.op: o.count for o in counted.by_op}
    for theirs, value in record["by_type" if "by_type" in record else "by_op"].items():
        kinds = BREAKDOWNS[tool].get(theirs)
        if kinds is None:
            assert value == 0, theirs
            continue
        assert sum(ours.get(k, 0) for k in kinds) == value, theirs


def test_convcalc_convention_is_convcalc():
    report = evaluate(EXAMPLES / "resnet18.yaml", convention="convcalc")
    assert report.convention.count == report.convention.convcalc == report.total["macs"]
    assert all(o.difference == 0 for o in report.convention.by_op)


def test_by_op_terms_add_up_and_are_symbolic():
    """The terms sum to the total, and a symbolic input gives formulas that equal the numeric run."""
    from convcalc.algebra import value

    numeric = evaluate(EXAMPLES / "resnet18.yaml", convention="torchinfo", by_op=True).convention
    assert sum(o.count for o in numeric.by_op) == numeric.count
    symbolic = evaluate(EXAMPLES / "resnet18.yaml", input_shape="3,H,W", convention="torchinfo").convention
    assert value(symbolic.count, {"H": 224, "W": 224}) == numeric.count


@pytest.mark.parametrize("name, fragment", [("torchinf", "did you mean torchinfo"), ("nothing-like-it", "known: convcalc")])
def test_unknown_convention(name, fragment):
    with pytest.raises(ConvcalcError, match=fragment):
        conventions.convention(name)


@pytest.mark.parametrize("text, fragment", [
    ("tool: t\nprints: p\nunit: joules\nsummary: s\nsource: s\ndefault: {why: w}", "unit must be one of"),
    ("tool: t\nprints: p\nunit: macs\nsummary: s\nsource: s\ndefault: {count: macs}", "why must say"),
    ("tool: t\nprints: p\nunit: macs\nsummary: s\nsource: s\ndefault: {count: hidden_size, why: w}", "unknown name 'hidden_size'"),
    ("tool: t\nprints: p\nunit: macs\nsummary: s\nsource: s\ndefault: {count: __import__, why: w}", "is not allowed"),
    ("tool: t\nprints: p\nunit: macs\nsummary: s\nsource: s\ndefault: {count: 'eval(1)', why: w}", "function calls are not allowed"),
    ("tool: t\nprints: p\nunit: macs\nsummary: s\nsource: s\nops: [{layers: [conv9d], why: w}]\ndefault: {why: w}", "not a layer type"),
    ("tool: t\nprints: p\nunit: macs\nsummary: s\nsource: s\nops: [{layers: [conv2d, relu], count: groups, why: w}]\ndefault: {why: w}",
     "unknown name 'groups'"),
    ("tool: t\nunit: macs\nsummary: s\nsource: s\ndefault: {why: w}", "missing prints"),
    ("tool: t\nprints: p\nunit: macs\nsummary: s\nsource: s\ncolour: red\ndefault: {why: w}", "unknown key 'colour'"),
])
def test_malformed_convention_refused(text, fragment):
    with pytest.raises(ValueError, match=fragment):
        conventions.parse("bad", text)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "convcalc", *args], capture_output=True, text=True)


def test_cli_layer_json():
    r = _cli("conv2d", "--input", "3,32,32", "--out-channels", "64", "--kernel-size", "3", "--padding", "1",
             "--convention", "torchinfo", "--by-op", "-f", "json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)["convention"]
    assert got["count"] == GOLDEN["layers"]["conv2d"]["tools"]["torchinfo"]["mult_adds"]
    assert got["convcalc"] == 1_769_472 and got["difference"] == got["count"] - got["convcalc"]
    assert [o["op"] for o in got["by_op"]] == ["conv2d"]


@pytest.mark.parametrize("args, fragment", [
    (["relu", "--input", "4", "--by-op"], "convcalc relu: --by-op: "),
    (["relu", "--input", "4", "--convention", "torchinf"], "convcalc relu: --convention: no convention named 'torchinf'; did you mean torchinfo"),
    (["relu", "--input", "4", "--convention", "torchinfo", "--explain"], "convcalc relu: --convention: a derivation has no"),
])
def test_cli_refusals(args, fragment):
    r = _cli(*args)
    assert r.returncode == 2 and r.stderr.startswith(fragment) and r.stderr.count("\n") == 1, r.stderr


# -- calflops and DeepSpeed: the slow attention path and the recurrent hook, against the golden's variants --------
@pytest.mark.parametrize("tool", ["calflops", "deepspeed"])
def test_hooking_tools_attention_off_the_fast_path(tool, tmp_path):
    """With gradients on (the golden's grad_enabled variant) nn.MultiheadAttention leaves its fast path;
    batch_first=False leaves it just the same in eval under no_grad, counting the same calls (F.linear,
    the softmax with need_weights, torch.bmm or F.scaled_dot_product_attention for DeepSpeed)."""
    variant = GOLDEN["layers"]["multiheadattention"]["variants"]["grad_enabled"][tool]
    kind, args, shape = LAYER_CASES["multiheadattention"]
    slow = LAYERS[kind].build(shape, {**args, "batch_first": False, "need_weights": True}).report(shape)
    counted = conventions.of_layer(slow, tool)
    assert (counted.count, counted.also_count) == (variant["flops"], variant["macs"])
    # ViT calls its attention with need_weights=False
    text = (EXAMPLES / "vit_b_16.yaml").read_text()
    assert text.count("batch_first: true") == 1
    net = tmp_path / "vit_seq_first.yaml"
    net.write_text(text.replace("batch_first: true", "batch_first: false"))
    variant = GOLDEN["networks"]["vit_b_16"]["variants"]["grad_enabled"][tool]
    counted = evaluate(net, convention=tool).convention
    assert (counted.count, counted.also_count) == (variant["flops"], variant["macs"])


@pytest.mark.parametrize("case", ["lstm", "gru"])
@pytest.mark.parametrize("tool", ["calflops", "deepspeed"])
def test_hooking_tools_recurrent_hook_ignores_onednn(tool, case):
    """nn.LSTM/GRU are counted by a forward hook from the weights' shapes: oneDNN on or off, the same."""
    variant = GOLDEN["layers"][case]["variants"]["onednn_off"][tool]
    counted = conventions.of_layer(_layer_report(case), tool)
    assert (counted.count, counted.also_count) == (variant["flops"], variant["macs"])


def test_per_dimension_arguments():
    """A per-dimension argument is its product and its entries (NAME_0, NAME_1, ...), as many as the layer has
    dimensions; a name past them is refused when the convention is read."""
    report = LAYERS["convtranspose2d"].build((4, 7, 6), dict(out_channels=8, kernel_size=(3, 2), stride=(2, 3))).report((4, 7, 6))
    values = conventions.layer_values(report)
    assert (values["kernel_size"], values["kernel_size_0"], values["kernel_size_1"]) == (6, 3, 2)
    assert (values["stride_0"], values["stride_1"]) == (2, 3)
    head = "tool: t\nprints: p\nunit: macs\nsummary: s\nsource: s\ndefault: {why: w}\n"
    conventions.parse("ok", head + "ops: [{layers: [convtranspose2d], count: stride_1, why: w}]")
    with pytest.raises(ValueError, match="unknown name 'stride_2'"):
        conventions.parse("bad", head + "ops: [{layers: [convtranspose2d], count: stride_2, why: w}]")


@pytest.mark.parametrize("item, fragment", [
    ("- relu: {}\n    call: lambda", "call: says how PyTorch runs a layer (module, function, method), got 'lambda'"),
    ("- sequential: {layers: [relu]}\n    call: function", "not a sequential block"),
    ("- from: x\n    call: function", "from takes the name of a saved output and nothing beside it"),
])
def test_call_refused(item, fragment):
    from convcalc.network import Network
    from convcalc.network.source import NetworkError

    with pytest.raises(NetworkError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        Network.from_yaml(f"input: 4\nlayers:\n  {item}\n").report()


def test_call_changes_what_hooks_see_not_the_counts():
    """The same mean as a module, a function (F.adaptive_avg_pool2d) and a method (x.mean): convcalc's
    counts are equal; thop (module hooks) sees only the module, calflops (patched F.*) the module and
    the function, fvcore (the traced aten ops) not the method."""
    from convcalc.network import Network

    def run(call, name):
        text = f"input: 8,4,4\nlayers:\n  - conv2d: {{out_channels: 8, kernel_size: 1}}\n  - adaptiveavgpool2d: {{output_size: 1}}\n    call: {call}\n"
        return Network.from_yaml(text).report(convention=name)

    for name, seen in (("thop", {"module"}), ("calflops", {"module", "function"}), ("fvcore", {"module", "function"})):
        pools = {call: next(o.count for o in run(call, name).convention.by_op if o.op == "adaptiveavgpool2d")
                 for call in ("module", "function", "method")}
        assert {c for c, v in pools.items() if v} == seen, (name, pools)
    assert len({run(call, "convcalc").total["flops"] for call in ("module", "function", "method")}) == 1
