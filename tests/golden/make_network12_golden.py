"""Regenerate tests/golden/network12_golden.json: the seven example networks of issue 12 measured by PyTorch.

    /tmp/torchvenv/bin/python tests/golden/make_network12_golden.py     (torch==2.13.0 CPU, as make_backward_golden.py)

The networks are written from torch.nn in network12_models.py, after torchvision 0.28's definitions
(torchvision is not installed; what differs and why is said there): EfficientNet-B0, MobileNetV3-Small,
ShuffleNetV2 x1.0, RegNetY-400MF, DenseNet-121 (their parameter counts are asserted equal to
torchvision's documented num_params), milesial's U-Net with bilinear upsampling (3 channels in, 2 classes,
input 3x256x256) and a ResNet-50 FPN backbone (five maps '0', '1', '2', '3', 'pool').

Per network and batch ("networks": [...]) it records:
- params, buffers (numel, int64 num_batches_tracked included), buffers_bytes;
- eval_forward_flops: FlopCounterMode around the eval-mode forward under torch.no_grad();
- make_backward_golden.measure(model, x, loss_of, input_grad=False, detail=False, leaves=True): the
  train-mode forward_flops, backward_flops (FlopCounterMode around loss.backward()), backward_ops, the
  saved tensors by storage (saved_activation_bytes, saved_by_kind_dtype, unattributed_bytes: saved by no
  leaf module, e.g. by a residual add or an SE multiply), grad_bytes and "layers": every leaf module in
  the order it ran, [type = lowercase class name, input shape, output shape (no batch), storages saved];
  loss = y.sum(), for the FPN the sum of every level's sum (so that every level gets a backward);
- grouped_convs: [leaf index, groups, forward FLOPs at this batch] of every convolution with groups > 1,
  whose dL/dW FlopCounterMode counts groups times (BACKWARD_NOTES.md); backward_flops_corrected =
  backward_flops minus (groups - 1) x those forward FLOPs;
- leaf_params_flops: per leaf module in the order it ran (as "layers"), [the numel of its own parameters, the
  eval-mode forward FLOPs FlopCounterMode counted between its forward pre-hook and its forward hook];
- output_shape (the FPN: levels, the shape of each map).
"reference" holds the FPN backbone as torchvision builds it by default (FrozenBatchNorm2d, conv1 and layer1
frozen), which no example file writes: params, trainable_params, buffers, forward and backward FLOPs, saved
activation bytes, gradient bytes, to state what the example's BatchNorm2d changes.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parent))
from make_backward_golden import dump, measure  # noqa: E402
from network12_models import (ResNet50FPN, UNet, densenet121, efficientnet_b0, mobilenet_v3_small,  # noqa: E402
                              regnet_y_400mf, shufflenet_v2_x1_0)

warnings.filterwarnings("ignore", message=".*TF32 acceleration.*")
OUT = Path(__file__).with_name("network12_golden.json")


class Levels(nn.Module):
    """The FPN backbone for measure(): returns the 'pool' map and keeps the dict of all five."""

    def __init__(self, fpn: nn.Module):
        super().__init__()
        self.fpn = fpn
        self.maps: dict = {}

    def forward(self, x):
        self.maps = self.fpn(x)
        return self.maps["pool"]


# example name -> (builder, input without the batch, torchvision's documented num_params or None)
NETWORKS = {
    "efficientnet_b0": (efficientnet_b0, [3, 224, 224], 5_288_548),
    "mobilenetv3_small": (mobilenet_v3_small, [3, 224, 224], 2_542_856),
    "shufflenetv2": (shufflenet_v2_x1_0, [3, 224, 224], 2_278_604),
    "regnety_400mf": (regnet_y_400mf, [3, 224, 224], 4_344_144),
    "densenet121": (densenet121, [3, 224, 224], 7_978_856),
    "unet_bilinear": (UNet, [3, 256, 256], None),
    "resnet50_fpn": (lambda: Levels(ResNet50FPN()), [3, 224, 224], None),
}
PLAN = [("efficientnet_b0", 1), ("mobilenetv3_small", 1), ("mobilenetv3_small", 2), ("shufflenetv2", 1),
        ("shufflenetv2", 2), ("regnety_400mf", 1), ("densenet121", 1), ("unet_bilinear", 1), ("resnet50_fpn", 1)]


def leaves(model: nn.Module) -> list:
    return [m for m in model.modules() if not list(m.children())]


def eval_run(model: nn.Module, x: torch.Tensor) -> tuple[int, list, list]:
    """FlopCounterMode's eval-mode forward; [leaf index, groups, forward FLOPs] of every grouped convolution;
    and per leaf in the order it ran [its own parameters' numel, the FLOPs FlopCounterMode counted while it ran]."""
    calls, grouped, hooks, per_leaf = [0], [], [], []
    counter = FlopCounterMode(display=False)

    def pre(mod, args):
        calls[0] += 1
        per_leaf.append([sum(p.numel() for p in mod.parameters(recurse=False)), -int(counter.get_total_flops())])

    def post(mod, args, out):  # each module runs once in these networks: the leaf index is the last pre's
        per_leaf[calls[0] - 1][1] += int(counter.get_total_flops())
        if isinstance(mod, nn.Conv2d) and mod.groups > 1:
            kh, kw = mod.kernel_size
            grouped.append([calls[0] - 1, mod.groups, 2 * out.numel() * (mod.in_channels // mod.groups) * kh * kw])
    for m in leaves(model):
        hooks += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
    model.eval()
    with counter, torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return int(counter.get_total_flops()), grouped, per_leaf


def loss_of(model: nn.Module):
    if isinstance(model, Levels):
        return lambda y: sum(v.sum() for v in model.maps.values())
    return lambda y: y.sum()


def run_network(name: str, batch: int) -> dict:
    build, shape, documented = NETWORKS[name]
    torch.manual_seed(7)
    model = build()
    params = sum(p.numel() for p in model.parameters())
    if documented is not None:
        assert params == documented, (name, params, documented)
    x = torch.randn(batch, *shape)
    t0 = time.time()
    if isinstance(model, Levels):
        model.fpn.check_interpolate = True
        with torch.no_grad():
            model.eval()(x)
        model.fpn.check_interpolate = False
    eval_flops, grouped, per_leaf = eval_run(model, x)
    torch.manual_seed(8)  # the dropout masks
    rec = {"example": name, "batch": batch, "input": shape, "params": params,
           "buffers": sum(b.numel() for b in model.buffers()),
           "buffers_bytes": sum(b.numel() * b.element_size() for b in model.buffers()),
           "eval_forward_flops": eval_flops,
           **measure(model, x, loss_of(model), False, detail=False, leaves=True)}
    rec["grouped_convs"] = grouped
    rec["leaf_params_flops"] = per_leaf
    assert len(per_leaf) == len(rec["layers"]) and sum(f for _, f in per_leaf) == eval_flops
    rec["backward_flops_corrected"] = rec["backward_flops"] - sum((g - 1) * f for _, g, f in grouped)
    assert rec["forward_flops"] == eval_flops
    assert all(rec["layers"][i][0] == "conv2d" for i, _, _ in grouped)
    if isinstance(model, Levels):
        rec["levels"] = {k: list(v.shape[1:]) for k, v in model.maps.items()}
    print(name, batch, f"{time.time() - t0:.1f} s", flush=True)
    return rec


def main() -> None:
    torch.set_num_threads(2)
    only = sys.argv[1:]
    networks = []
    with torch.backends.mkldnn.flags(enabled=False):
        for name, batch in PLAN:
            if not only or name in only:
                networks.append(run_network(name, batch))
    # for reference (no example file): the FPN backbone as resnet_fpn_backbone builds it by default
    torch.manual_seed(7)
    model = Levels(ResNet50FPN(torchvision=True))
    x = torch.randn(1, 3, 224, 224)
    with torch.backends.mkldnn.flags(enabled=False):
        run = measure(model, x, loss_of(model), False, detail=False)
    reference = [{"example": "resnet50_fpn", "variant": "torchvision's defaults: FrozenBatchNorm2d, trainable_layers=3 "
                  "(conv1 and layer1 frozen)", "batch": 1, "input": [3, 224, 224],
                  "params": sum(p.numel() for p in model.parameters()),
                  "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
                  "buffers": sum(b.numel() for b in model.buffers()),
                  **{k: run[k] for k in ("forward_flops", "backward_flops", "saved_activation_bytes", "grad_bytes")}}]
    meta = {"torch": torch.__version__, "python": sys.version.split()[0],
            "how": "models from torch.nn after torchvision 0.28 (tests/golden/network12_models.py says what differs); "
                   "CPU float32, torch.backends.mkldnn.flags(enabled=False); eval_forward_flops: eval(), no_grad; the "
                   "rest by make_backward_golden.measure: train(), x not requiring grad, loss = y.sum() (FPN: sum of "
                   "every level's sum), saved tensors by storage, backward FLOPs around loss.backward() only"}
    OUT.write_text(dump({"meta": meta, "networks": networks, "reference": reference}))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
