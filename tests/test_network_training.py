"""The training step of whole networks (`net --training`): hand-derived sums, a brute-force
autograd count over random small networks, frozen layers and blocks, forks and views, the
renderers' keys and one-line errors, symbolic == numeric substituted."""

from __future__ import annotations

import json
import random
import re
from collections import Counter

import pytest

from convcalc import sizes
from convcalc.cli import main
from convcalc.errors import ConvcalcError
from convcalc.layers.training import Training
from convcalc.network import Network

OPT_STATE = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}

TINY = """
name: tiny
input: 2,6,6
layers:
  - conv2d: {out_channels: 3, kernel_size: 3}
  - residual:
      body:
        - conv2d: {out_channels: 3, kernel_size: 3, padding: 1}
      shortcut: []
  - linear: {out_features: 4}
"""


def test_tiny_network_by_hand():
    """batch 2, adam, no dL/dx of the input. Shapes: 2x6x6 -> conv 3x4x4 -> residual 3x4x4 ->
    linear on the last dimension (4 -> 4) 3x4x4. Parameters: 3*2*9 + 3 = 57, 3*3*9 + 3 = 84,
    4*4 + 4 = 20: 161."""
    r = Network.from_yaml(TINY).report(batch=2, training=Training(optimizer="adam", input_grad=False))
    t = r.total
    # first conv: no dL/dx; dL/dW: 2*3*16 outputs * 2*9 taps = 1728 products; each of the 54
    # weights sums 2*16 = 32 terms (31 adds), each of the 3 biases 32 terms: 54*31 + 3*31 = 1767.
    first = r.rows[0]
    assert first["input_grad"] is False and first["backward"]["grad_input"]["flops"] == 0
    assert (first["backward"]["grad_weight"]["mults"], first["backward"]["grad_weight"]["adds"]) == (1728, 1767)
    # body conv (padding 1 on 4x4): dL/dx and dL/dW 2*3*16*3*9 = 2592 products each; the fork
    # adds the shortcut's dL/dx to the body's: 2*3*16 = 96 adds on the residual's row
    body, block = r.rows[2], r.rows[1]
    assert body["input_grad"] is True and body["backward"]["grad_input"]["mults"] == 2592
    assert block["backward"]["total"]["adds"] == body["backward"]["total"]["adds"] + 96
    # linear: rows = 2*3*4 = 24; dL/dx 24*4*4 = 384 products, 24*4 outputs of 3 adds = 288;
    # dL/dW 384 products, (16 + 4)*(24 - 1) = 460 adds
    lin = r.rows[4]["backward"]
    assert (lin["grad_input"]["mults"], lin["grad_input"]["adds"], lin["grad_weight"]["adds"]) == (384, 288, 460)
    assert t["backward"]["grad_input"]["mults"] == 2592 + 384
    assert t["backward"]["grad_input"]["adds"] == body["backward"]["grad_input"]["adds"] + 96 + 288
    assert t["backward"]["grad_weight"]["mults"] == 1728 + 2592 + 384
    # saved: the input (2*2*36*4 = 576 B), the first conv's output read by the body conv
    # (2*48*4 = 384 B), the add's output read by the linear (384 B); nothing twice
    assert [row["saved_bytes"] for row in r.rows if not row["block"]] == [576, 384, 0, 384]
    assert t["saved_bytes"] == 1344
    # adam: per parameter 7 mults, 5 adds, 1 sqrt; gradients 161*4 B, state 2*161*4 B
    assert t["training_counts"]["optimizer"]["mults"] == 7 * 161 and t["optimizer_flops"] == 12 * 161
    assert (t["grad_bytes"], t["optimizer_bytes"]) == (644, 1288)
    # largest working set: the body conv or the linear, dL/dy + dL/dx = 2*(2*48*4) = 768 B
    assert t["working_bytes"] == 768
    assert t["training_peak_bytes"] == 644 + 644 + 1288 + 1344 + 768
    step = t["training_counts"]["step"]
    assert step["flops"] == t["flops"] + t["backward"]["total"]["flops"] + t["optimizer_flops"] == t["training_flops"]


# -- brute force: the backward counted product by product, tensor by tensor -----------------------


class Brute:
    """What autograd computes for conv1d (no padding), linear (on the last dimension) and
    residual blocks, counted by enumerating every product and every term: a layer computes dL/dx
    when its input requires grad, dL/dW when its parameters are not frozen; a tensor read by two
    consumers gets its two dense gradients added; conv saves its input, linear its input only
    when dL/dW is wanted (addmm's mat1); a saved tensor counts once."""

    def __init__(self, batch: int, input_grad: bool):
        self.batch = batch
        self.req = [input_grad]
        self.numel = {}
        self.saved = set()
        self.c = Counter()
        self.params = self.trainable = 0
        self.working = [0]

    def new(self, requires: bool) -> int:
        self.req.append(requires)
        return len(self.req) - 1

    def layer(self, t, shape, out_shape, products, x_terms, w_terms, b_terms, params, frozen, saves_always):
        req, trainable = self.req[t], not frozen
        B = self.batch
        self.numel[t] = B * shape[0] * shape[1]
        self.params += params
        if trainable:
            self.trainable += params
        if req:
            self.c["gi_mults"] += products
            self.c["gi_adds"] += sum(v - 1 for v in x_terms.values())
        if trainable:
            self.c["gw_mults"] += products
            self.c["gw_adds"] += sum(v - 1 for v in w_terms.values()) + sum(v - 1 for v in b_terms.values())
        if req or trainable:
            if saves_always or trainable:
                self.saved.add(t)
            self.working.append(4 * B * (out_shape[0] * out_shape[1] + (shape[0] * shape[1] if req else 0)))
        return self.new(req or trainable)

    def conv(self, t, shape, out, k, s, bias, frozen):
        C, L = shape
        n_out = (L - k) // s + 1
        x, w, b, products = Counter(), Counter(), Counter(), 0
        for n in range(self.batch):
            for o in range(out):
                for j in range(n_out):
                    if bias:
                        b[o] += 1
                    for c in range(C):
                        for kk in range(k):
                            products += 1
                            x[(n, c, j * s + kk)] += 1
                            w[(o, c, kk)] += 1
        params = out * C * k + (out if bias else 0)
        return self.layer(t, shape, (out, n_out), products, x, w, b, params, frozen, True), (out, n_out)

    def linear(self, t, shape, out, bias, frozen):
        C, L = shape
        x, w, b, products = Counter(), Counter(), Counter(), 0
        for n in range(self.batch):
            for c in range(C):
                for j in range(out):
                    if bias:
                        b[j] += 1
                    for i in range(L):
                        products += 1
                        x[(n, c, i)] += 1
                        w[(j, i)] += 1
        params = out * L + (out if bias else 0)
        return self.layer(t, shape, (C, out), products, x, w, b, params, frozen, False), (C, out)

    def run(self, items, t, shape, frozen=False):
        for it in items:
            kind = it[0]
            if kind == "conv":
                t, shape = self.conv(t, shape, *it[1:5], it[5] or frozen)
            elif kind == "linear":
                t, shape = self.linear(t, shape, *it[1:3], it[3] or frozen)
            else:
                _, body, short, block_frozen = it
                tb, sb = self.run(body, t, shape, frozen or block_frozen)
                ts, ss = self.run(short, t, shape, frozen or block_frozen) if short else (t, shape)
                assert sb == ss == shape
                if self.req[t]:  # the fork: the body's dL/dx plus the shortcut's
                    self.c["gi_adds"] += self.batch * shape[0] * shape[1]
                t = self.new(self.req[tb] or self.req[ts])
        return t, shape

    def saved_bytes(self):
        return 4 * sum(self.numel[t] for t in self.saved)


def _random_network(rng: random.Random):
    C, L = rng.randint(1, 3), rng.randint(3, 7)
    shape, items = (C, L), []
    for _ in range(rng.randint(1, 4)):
        frozen = rng.random() < 0.3
        choice = rng.random()
        if choice < 0.4 and shape[1] >= 1:
            k = rng.randint(1, min(3, shape[1]))
            s = rng.randint(1, 2)
            out = rng.randint(1, 3)
            items.append(("conv", out, k, s, rng.random() < 0.6, frozen))
            shape = (out, (shape[1] - k) // s + 1)
        elif choice < 0.7:
            out = rng.randint(1, 4)
            items.append(("linear", out, rng.random() < 0.6, frozen))
            shape = (shape[0], out)
        else:
            keep = [("conv", shape[0], 1, 1, rng.random() < 0.5, rng.random() < 0.3), ("linear", shape[1], rng.random() < 0.5, rng.random() < 0.3)]
            body = rng.sample(keep, rng.randint(1, 2))
            short = [] if rng.random() < 0.6 else [("conv", shape[0], 1, 1, False, rng.random() < 0.3)]
            items.append(("res", body, short, frozen))
    return (C, L), items


def _yaml_items(items, indent: str, rng: random.Random) -> str:
    out = []
    for it in items:
        if it[0] == "conv":
            _, o, k, s, bias, frozen = it
            params = f"out_channels: {o}, kernel_size: {k}, stride: {s}, bias: {str(bias).lower()}"
            if frozen and rng.random() < 0.5:
                out.append(f"{indent}- conv1d: {{{params}, frozen: true}}")
            else:
                out.append(f"{indent}- conv1d: {{{params}}}" + (f"\n{indent}  frozen: true" if frozen else ""))
        elif it[0] == "linear":
            _, o, bias, frozen = it
            out.append(f"{indent}- linear: {{out_features: {o}, bias: {str(bias).lower()}}}" + (f"\n{indent}  frozen: true" if frozen else ""))
        else:
            _, body, short, frozen = it
            text = f"{indent}- residual:\n" + (f"{indent}    frozen: true\n" if frozen else "")
            text += f"{indent}    body:\n" + _yaml_items(body, indent + "      ", rng)
            text += f"\n{indent}    shortcut:" + ((" []") if not short else "\n" + _yaml_items(short, indent + "      ", rng))
            out.append(text)
    return "\n".join(out)


@pytest.mark.parametrize("seed", range(60))
def test_brute_force_random_networks(seed):
    rng = random.Random(seed)
    (C, L), items = _random_network(rng)
    batch, input_grad = rng.randint(1, 2), rng.random() < 0.4
    optimizer = rng.choice(list(OPT_STATE))
    text = f"name: r{seed}\ninput: {C},{L}\nlayers:\n" + _yaml_items(items, "  ", rng) + "\n"
    r = Network.from_yaml(text).report(batch=batch, training=Training(optimizer=optimizer, input_grad=input_grad))
    brute = Brute(batch, input_grad)
    brute.run(items, 0, (C, L))
    t = r.total
    gi, gw = t["backward"]["grad_input"], t["backward"]["grad_weight"]
    assert (gi["mults"], gi["macs"], gi["adds"]) == (brute.c["gi_mults"], brute.c["gi_mults"], brute.c["gi_adds"]), text
    assert (gw["mults"], gw["macs"], gw["adds"]) == (brute.c["gw_mults"], brute.c["gw_mults"], brute.c["gw_adds"]), text
    assert t["saved_bytes"] == brute.saved_bytes(), text
    assert t["grad_bytes"] == 4 * brute.trainable
    assert t["optimizer_bytes"] == 4 * OPT_STATE[optimizer] * brute.trainable
    assert t["working_bytes"] == max(brute.working)
    peak = 4 * brute.params + 4 * brute.trainable * (1 + OPT_STATE[optimizer]) + brute.saved_bytes() + max(brute.working)
    assert t["training_peak_bytes"] == peak, text


# -- frozen ----------------------------------------------------------------------------------------

STEM = """
input: 1,8
layers:
  - conv1d: {out_channels: 2, kernel_size: 3}
    frozen: true
  - conv1d: {out_channels: 2, kernel_size: 3}
"""


def test_frozen_stem_stops_the_gradient():
    """A frozen first layer on an input that needs no gradient has no backward node: it saves
    nothing, and the layer after it computes no dL/dx (its input requires no grad)."""
    r = Network.from_yaml(STEM).report(batch=1, training=Training(input_grad=False))
    first, second = r.rows
    assert first["backward"]["total"]["flops"] == 0 and first["saved_bytes"] == 0 and first["grad_bytes"] == 0
    assert second["input_grad"] is False and second["backward"]["grad_input"]["flops"] == 0
    # the second: 2 outputs x 4 positions x 2*3 taps = 48 products for dL/dW; it saves its input 2x6
    assert second["backward"]["grad_weight"]["mults"] == 48 and second["saved_bytes"] == 2 * 6 * 4
    assert r.total["grad_bytes"] == (2 * 2 * 3 + 2) * 4
    # with --input-grad the frozen stem computes dL/dx (3 taps x 2 out channels x ... = 48 products) and saves x
    r = Network.from_yaml(STEM).report(batch=1, training=Training(input_grad=True))
    assert r.rows[0]["backward"]["grad_input"]["mults"] == 2 * 6 * 3 and r.rows[0]["backward"]["grad_weight"]["flops"] == 0
    assert r.rows[0]["saved_bytes"] == 8 * 4 and r.rows[1]["input_grad"] is True


@pytest.mark.parametrize("text, message", [
    ("input: 1,8\nlayers:\n  - conv1d: {out_channels: 2, kernel_size: 3}\n    frozen: 3\n", r":4: layers\[0\]: frozen must be true or false, got 3"),
    ("input: 1,8\nlayers:\n  - conv1d: {out_channels: 2, kernel_size: 3, frozen: yes please}\n", r"frozen must be true or false, got 'yes please'"),
    ("input: 1,8\nlayers:\n  - residual: {body: [relu], frozen: 1}\n", r"frozen must be true or false, got 1"),
])
def test_bad_frozen_values(text, message):
    with pytest.raises(ConvcalcError, match=message):
        Network.from_yaml(text)


def test_frozen_block_freezes_every_layer_inside():
    text = ("input: 2,5\nlayers:\n  - linear: {out_features: 5}\n  - residual:\n      frozen: true\n"
            "      body: [{linear: {out_features: 5}}, {conv1d: {out_channels: 2, kernel_size: 1}}]\n")
    r = Network.from_yaml(text).report(training=Training(input_grad=False))
    inside = [row for row in r.rows if row["path"].startswith("layers[1].residual.body")]
    assert len(inside) == 2 and all(row["frozen"] and row["grad_bytes"] == 0 for row in inside)
    assert r.total["grad_bytes"] == (5 * 5 + 5) * 4
    # frozen has no effect without a training step: the forward is the same
    assert Network.from_yaml(text).report().total["params"] == 30 + 30 + 6


#: small networks ending in a recurrent or autoregressive layer
STACKS = {
    "maskedconv2d": "input: 3,6,6\nlayers:\n  - conv2d: {out_channels: 3, kernel_size: 1}\n  - maskedconv2d: {out_channels: 3, kernel_size: 3, mask: B}\n",
    "lstm": "input: 5,4\nlayers:\n  - linear: {out_features: 4}\n  - lstm: {input_size: 4, hidden_size: 3}\n",
    "wavenet": "input: 4,16\nlayers:\n  - conv1d: {out_channels: 4, kernel_size: 1}\n  - wavenet: {residual_channels: 4, dilation_channels: 4, skip_channels: 4, layers_per_block: 2, blocks: 1, output_classes: 4}\n",
}


@pytest.mark.parametrize("name", sorted(STACKS))
def test_networks_of_recurrent_and_autoregressive_layers_train(name):
    """The network's backward is its layers' backward: the last layer's row is that layer's own
    report with dL/dx wanted (the layer before it has weights)."""
    r = Network.from_yaml(STACKS[name]).report(training=Training(input_grad=False))
    last = r.rows[-1]
    assert last["type"] == name
    assert sum(row["backward"]["total"]["flops"] for row in r.rows if "." not in row["path"]) == r.total["backward"]["total"]["flops"]
    assert last["backward"]["grad_input"]["macs"] > 0 and last["backward"]["grad_weight"]["macs"] > 0


def test_a_layer_without_backward_is_one_line_error(tmp_path, capsys, monkeypatch):
    from convcalc.layers.base import Layer
    from convcalc.layers.registry import LAYERS

    monkeypatch.setattr(LAYERS["lstm"], "backward", Layer.backward)
    name = "lstm"
    with pytest.raises(ConvcalcError, match=rf"layers\[1\]: {name}: its backward pass is not written yet"):
        Network.from_yaml(STACKS[name]).report(training=Training(input_grad=False))
    path = tmp_path / "n.yaml"
    path.write_text(STACKS[name])
    assert main(["net", str(path), "--training"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("convcalc net: ") and f"{name}: its backward pass is not written yet" in err and err.count("\n") == 1


# -- the command line ------------------------------------------------------------------------------

TRAINING_TOTAL_KEYS = {"backward", "optimizer_flops", "training_flops", "saved_bytes", "grad_bytes", "optimizer_bytes",
                       "training_peak_bytes", "training_counts", "working_bytes", "weight_bytes"}


def _net(tmp_path, capsys, *args):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    code = main(["net", str(path), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_json_keys_only_with_training(tmp_path, capsys):
    code, out, _ = _net(tmp_path, capsys, "-f", "json")
    plain = json.loads(out)
    assert code == 0 and not TRAINING_TOTAL_KEYS & set(plain["total"]) and "training" not in plain
    assert not any("backward" in row for row in plain["layers"])
    code, out, _ = _net(tmp_path, capsys, "-f", "json", "--training", "--optimizer", "adam", "-b", "2")
    data = json.loads(out)
    assert code == 0 and TRAINING_TOTAL_KEYS <= set(data["total"])
    assert {k: data["training"][k] for k in ("optimizer", "input_grad", "frozen", "mixed_precision")} == {
        "optimizer": "adam", "input_grad": False, "frozen": False, "mixed_precision": None}
    assert data["training"]["optimizer_rule"].startswith("m = m + (1 - b1)")  # as a layer's report states it
    assert data["total"]["training_peak_bytes"] == 4688 and data["total"]["backward"]["total"]["macs"] == 2976 + 4704
    # the forward keys are those without --training, with the same values
    assert {k: data["total"][k] for k in plain["total"]} == {k: v for k, v in plain["total"].items()} | {
        k: data["total"][k] for k in ("mults", "adds", "macs", "flops", "activation_bytes", "activation_bytes_peak")}
    assert set(plain["total"]) <= set(data["total"])


def test_cli_input_grad_and_mixed_precision(tmp_path, capsys):
    _, out, _ = _net(tmp_path, capsys, "-f", "json", "--input-grad")
    data = json.loads(out)
    assert data["layers"][0]["input_grad"] is True and data["layers"][0]["backward"]["grad_input"]["mults"] == 3 * 16 * 2 * 9
    _, out, _ = _net(tmp_path, capsys, "-f", "json", "--mixed-precision", "bf16")
    data = json.loads(out)["total"]
    # batch 1: saved 288 + 192 + 192 B and working set 2*192 B in float32; bf16 halves them;
    # parameters: float32 master + bf16 copy
    assert data["saved_bytes"] == 672 // 2 and data["working_bytes"] == 384 // 2
    assert data["weight_bytes"] == 161 * 6 and data["grad_bytes"] == 161 * 4


def test_cli_table_and_csv(tmp_path, capsys):
    code, out, _ = _net(tmp_path, capsys, "--training")
    assert code == 0 and "Backward FLOPs" in out and "Training step" in out and "Training peak memory" in out
    # the step's stages as a layer's table shows them, Forward ... Step
    assert re.search(r"Count +Forward +dL/dx +dL/dW +Backward +Optimizer +Step\n", out)
    code, out, _ = _net(tmp_path, capsys)
    assert code == 0 and "Backward FLOPs" not in out and "Training step" not in out
    code, out, _ = _net(tmp_path, capsys, "--training", "-f", "csv")
    header = out.splitlines()[0].split(",")
    assert {"backward_flops", "grad_input_flops", "grad_weight_flops", "saved_bytes", "training_flops"} <= set(header)
    code, out, _ = _net(tmp_path, capsys, "-f", "csv")
    assert "backward_flops" not in out.splitlines()[0]


@pytest.mark.parametrize("args, message", [
    (["--columns", "backward"], "convcalc net: --columns: backward: a column of the training step; add --training"),
    (["--optimizer", "nadam"], "convcalc net: --optimizer: 'nadam' is not one of sgd, momentum, adam, adamw"),
    (["--training", "--mixed-precision", "fp8"], "convcalc net: --mixed-precision: 'fp8' is not one of"),
    (["--gradients"], "convcalc net: No such option: --gradients"),  # a layer command's option
])
def test_cli_errors(tmp_path, capsys, args, message):
    code, out, err = _net(tmp_path, capsys, *args)
    assert code == 2 and out == "" and err.startswith(message) and err.count("\n") == 1


def test_symbolic_network_equals_numeric_substituted():
    text = TINY.replace("input: 2,6,6", "input: 2,H,W")
    training = Training(optimizer="momentum", input_grad=False)
    sym = Network.from_yaml(text).report(batch="B", training=training).total
    for h, w, b in [(3, 3, 1), (6, 6, 2), (7, 5, 3), (11, 4, 1)]:
        num = Network.from_yaml(text).report(f"2,{h},{w}", batch=b, training=training).total
        for key in ("training_peak_bytes", "saved_bytes", "working_bytes", "training_flops", "grad_bytes"):
            assert sizes.substitute(sym[key], {"H": h, "W": w, "B": b}) == num[key], (key, h, w, b)
        for part in ("grad_input", "grad_weight"):
            for k in ("mults", "adds", "macs"):
                assert sizes.substitute(sym["backward"][part][k], {"H": h, "W": w, "B": b}) == num["backward"][part][k]


@pytest.mark.parametrize("branches, input_grad", [(2, True), (3, True), (3, False)])
def test_concat_fork_sums_the_branches(branches, input_grad):
    """Input 2x5 at batch 2 read by `branches` conv1d k=1 branches: the branches' dL/dx of the
    input are added, (branches - 1) * 2*2*5 adds, when the input requires grad. Each branch's
    dL/dx: 2 samples * out * 5 positions * 2 channels products; each of the 2*2*5 input elements
    sums out of them (out - 1 adds)."""
    outs = [2, 3, 1][:branches]
    body = "".join(f"        - [{{conv1d: {{out_channels: {o}, kernel_size: 1, bias: false}}}}]\n" for o in outs)
    text = f"input: 2,5\nlayers:\n  - concat:\n      branches:\n{body}"
    r = Network.from_yaml(text).report(batch=2, training=Training(input_grad=input_grad))
    gi = r.total["backward"]["grad_input"]
    if not input_grad:
        assert gi["flops"] == 0
        return
    assert gi["mults"] == sum(2 * o * 5 * 2 for o in outs)
    assert gi["adds"] == sum(2 * 2 * 5 * (o - 1) for o in outs) + (branches - 1) * 2 * 2 * 5
    assert r.rows[0]["backward"]["grad_input"]["adds"] == gi["adds"]  # the block's row holds the fork
    # the concat's output is a new tensor (a copy); each branch saves the same input: once
    assert r.total["saved_bytes"] == 2 * 2 * 5 * 4


@pytest.mark.parametrize("inplace, tensors", [(False, 3), (True, 2)])
def test_inplace_activation_shares_its_storage(inplace, tensors):
    """linear -> leakyrelu -> linear, input 2x4, batch 1. Not in place: leaky_relu saves its
    input (the first linear's output) and the second linear its own input (leaky_relu's
    output): with x, three tensors of 2*4 floats. In place (leaky_relu_ saves its result, which
    is the first linear's output, overwritten): the second linear's input is that same storage:
    two tensors."""
    text = (f"input: 2,4\nlayers:\n  - linear: {{out_features: 4}}\n  - leakyrelu: {{inplace: {str(inplace).lower()}}}\n"
            "  - linear: {out_features: 3}\n")
    r = Network.from_yaml(text).report(training=Training(input_grad=False))
    assert r.total["saved_bytes"] == tensors * 8 * 4


def test_by_op_with_training():
    """The totals by layer type get the backward's FLOPs and the saved bytes: they add up to the
    network's, but for the residual fork's 2*3*16 = 96 adds (batch 2), which belong to no layer."""
    r = Network.from_yaml(TINY).report(batch=2, by_op=True, training=Training(input_grad=False))
    groups = r.by_op
    assert sum(g["backward_flops"] for g in groups.values()) + 96 == r.total["backward"]["total"]["flops"]
    assert sum(g["saved_bytes"] for g in groups.values()) == r.total["saved_bytes"] == 1344
    assert groups["linear"]["backward_macs"] == 2 * 384 and groups["add"]["backward_flops"] == 0
    assert "backward_flops" not in Network.from_yaml(TINY).report(by_op=True).by_op["conv2d"]
