"""The seven example networks of issue 12 written from torch.nn alone (torchvision is not installed in the
golden venv), following torchvision 0.28's definitions module for module, for make_network12_golden.py.

Where these modules differ from torchvision, the difference changes no parameter, buffer, FLOP or
saved byte, and exists so that every operation convcalc shows as a layer row is a leaf module here
(the golden records the leaf modules in the order they run):
- activations and dropout are out of place (torchvision: inplace=True; autograd then saves a clone of
  the input, or the same storage, of the same size); residual adds are out of place (``result += input``);
- torchvision's functional calls become modules: ``torch.flatten`` -> nn.Flatten, ShuffleNetV2's
  ``x.mean([2, 3])`` -> nn.AdaptiveAvgPool2d(1) + nn.Flatten (both a mean, nothing saved),
  ShuffleNetV2's ``channel_shuffle`` -> ChannelShuffle (the same view/transpose/contiguous/view),
  DenseNet's final ``F.relu``/``F.adaptive_avg_pool2d`` -> nn.ReLU/nn.AdaptiveAvgPool2d, the FPN's
  ``F.interpolate(size=lateral size, mode="nearest")`` -> nn.Upsample(scale_factor=2, mode="nearest")
  (the same tensor when every level halves exactly, as for a 224 input; make_network12_golden.py checks
  it), LastLevelMaxPool's ``F.max_pool2d(x, 1, 2, 0)`` -> nn.MaxPool2d(1, 2);
- EfficientNet's StochasticDepth is left out: the identity at inference, random row drops in training
  (in PyTorch it is the identity too for the first block, whose probability is 0);
- the ResNet-50 FPN backbone uses nn.BatchNorm2d, every layer trainable (torchvision's
  resnet_fpn_backbone: FrozenBatchNorm2d, whose four per-channel tensors are buffers, and
  trainable_layers=3, i.e. conv1 and layer1 frozen);
- no weight initialisation schemes (they change no count).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def make_divisible(v: float, divisor: int = 8, min_value=None) -> int:
    """torchvision.models._utils._make_divisible."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def conv_norm_act(cin, cout, k=3, stride=1, groups=1, act=nn.ReLU, norm=True, bias=None):
    """torchvision.ops.misc.Conv2dNormActivation: padding (k - 1) // 2, bias only without a norm."""
    layers = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=(not norm) if bias is None else bias)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """torchvision.ops.misc.SqueezeExcitation: avgpool, fc1, activation, fc2, scale_activation, then scale * input."""

    def __init__(self, channels, squeeze, activation=nn.ReLU, scale_activation=nn.Sigmoid):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def forward(self, x):
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return scale * x


class Residual(nn.Module):
    """body(x) + x (torchvision: result += input after the block)."""

    def __init__(self, body):
        super().__init__()
        self.block = body

    def forward(self, x):
        return self.block(x) + x


# -- EfficientNet-B0 (torchvision.models.efficientnet, width 1.0, depth 1.0, dropout 0.2) -------------

def efficientnet_b0():
    setting = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
               (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]
    layers = [conv_norm_act(3, 32, 3, 2, act=nn.SiLU)]
    for expand, k, s, cin, cout, n in setting:
        stage = []
        for i in range(n):
            inp, stride = (cin, s) if i == 0 else (cout, 1)
            exp = make_divisible(inp * expand, 8)
            body = []
            if exp != inp:
                body.append(conv_norm_act(inp, exp, 1, act=nn.SiLU))
            body += [conv_norm_act(exp, exp, k, stride, groups=exp, act=nn.SiLU),
                     SqueezeExcitation(exp, max(1, inp // 4), activation=nn.SiLU),
                     conv_norm_act(exp, cout, 1, act=None)]
            block = nn.Sequential(*body)
            stage.append(Residual(block) if stride == 1 and inp == cout else block)
        layers.append(nn.Sequential(*stage))
    layers.append(conv_norm_act(320, 1280, 1, act=nn.SiLU))
    return nn.Sequential(nn.Sequential(*layers), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 1000)))


# -- MobileNetV3-Small (torchvision.models.mobilenetv3) ----------------------------------------------

def mobilenet_v3_small():
    # input, kernel, expanded, out, SE, activation, stride
    setting = [(16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2), (24, 3, 88, 24, False, "RE", 1),
               (24, 5, 96, 40, True, "HS", 2), (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
               (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1), (48, 5, 288, 96, True, "HS", 2),
               (96, 5, 576, 96, True, "HS", 1), (96, 5, 576, 96, True, "HS", 1)]
    layers = [conv_norm_act(3, 16, 3, 2, act=nn.Hardswish)]
    for cin, k, exp, cout, se, a, s in setting:
        act = nn.Hardswish if a == "HS" else nn.ReLU
        body = []
        if exp != cin:
            body.append(conv_norm_act(cin, exp, 1, act=act))
        body.append(conv_norm_act(exp, exp, k, s, groups=exp, act=act))
        if se:
            body.append(SqueezeExcitation(exp, make_divisible(exp // 4, 8), scale_activation=nn.Hardsigmoid))
        body.append(conv_norm_act(exp, cout, 1, act=None))
        block = nn.Sequential(*body)
        layers.append(Residual(block) if s == 1 and cin == cout else block)
    layers.append(conv_norm_act(96, 576, 1, act=nn.Hardswish))
    return nn.Sequential(nn.Sequential(*layers), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Sequential(nn.Linear(576, 1024), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(1024, 1000)))


# -- ShuffleNetV2 x1.0 (torchvision.models.shufflenetv2) ---------------------------------------------

class ChannelShuffle(nn.Module):
    """torchvision's channel_shuffle(x, groups) as a module."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        b, c, h, w = x.size()
        x = x.view(b, self.groups, c // self.groups, h, w)
        x = torch.transpose(x, 1, 2).contiguous()
        return x.view(b, -1, h, w)


class ShuffleUnit(nn.Module):
    def __init__(self, inp, oup, stride):
        super().__init__()
        self.stride = stride
        bf = oup // 2
        if stride > 1:
            self.branch1 = nn.Sequential(nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False), nn.BatchNorm2d(inp),
                                         nn.Conv2d(inp, bf, 1, bias=False), nn.BatchNorm2d(bf), nn.ReLU())
        self.branch2 = nn.Sequential(nn.Conv2d(inp if stride > 1 else bf, bf, 1, bias=False), nn.BatchNorm2d(bf), nn.ReLU(),
                                     nn.Conv2d(bf, bf, 3, stride, 1, groups=bf, bias=False), nn.BatchNorm2d(bf),
                                     nn.Conv2d(bf, bf, 1, bias=False), nn.BatchNorm2d(bf), nn.ReLU())
        self.shuffle = ChannelShuffle(2)

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return self.shuffle(out)


def shufflenet_v2_x1_0():
    layers = [nn.Conv2d(3, 24, 3, 2, 1, bias=False), nn.BatchNorm2d(24), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = 24
    for repeats, cout in zip((4, 8, 4), (116, 232, 464)):
        layers += [ShuffleUnit(cin, cout, 2)] + [ShuffleUnit(cout, cout, 1) for _ in range(repeats - 1)]
        cin = cout
    layers += [nn.Conv2d(464, 1024, 1, bias=False), nn.BatchNorm2d(1024), nn.ReLU(),
               nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1024, 1000)]
    return nn.Sequential(*layers)


# -- RegNetY-400MF (torchvision.models.regnet) -------------------------------------------------------

def regnet_widths(depth=16, w_0=48, w_a=27.89, w_m=2.09, group_width=8):
    """BlockParams.from_init_params: (stage widths, stage depths, group widths), bottleneck multiplier 1."""
    widths_cont = torch.arange(depth) * w_a + w_0
    capacity = torch.round(torch.log(widths_cont / w_0) / math.log(w_m))
    block_widths = (torch.round(torch.divide(w_0 * torch.pow(w_m, capacity), 8)) * 8).int().tolist()
    splits = [w != wp or r != rp for w, wp, r, rp in zip(block_widths + [0], [0] + block_widths,
                                                         block_widths + [0], [0] + block_widths)]
    widths = [w for w, t in zip(block_widths, splits[:-1]) if t]
    depths = torch.diff(torch.tensor([d for d, t in enumerate(splits) if t])).int().tolist()
    groups = [min(group_width, w) for w in widths]
    widths = [make_divisible(w, g) for w, g in zip(widths, groups)]
    return widths, depths, groups


class ResBottleneckBlock(nn.Module):
    """x = proj(x) + f(x) (proj first) or x + f(x); then ReLU. f = a (1x1), b (3x3 grouped), se, c (1x1)."""

    def __init__(self, w_in, w_out, stride, group_width, se_ratio=0.25):
        super().__init__()
        self.proj = conv_norm_act(w_in, w_out, 1, stride, act=None) if (w_in != w_out or stride != 1) else None
        w_b = w_out
        self.f = nn.Sequential(conv_norm_act(w_in, w_b, 1), conv_norm_act(w_b, w_b, 3, stride, groups=w_b // group_width),
                               SqueezeExcitation(w_b, int(round(se_ratio * w_in))), conv_norm_act(w_b, w_out, 1, act=None))
        self.activation = nn.ReLU()

    def forward(self, x):
        x = self.proj(x) + self.f(x) if self.proj is not None else x + self.f(x)
        return self.activation(x)


def regnet_y_400mf():
    widths, depths, groups = regnet_widths()
    layers, cur = [conv_norm_act(3, 32, 3, 2)], 32
    for w, d, g in zip(widths, depths, groups):
        layers += [ResBottleneckBlock(cur if i == 0 else w, w, 2 if i == 0 else 1, g) for i in range(d)]
        cur = w
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cur, 1000))


# -- DenseNet-121 (torchvision.models.densenet: growth 32, blocks 6/12/24/16, bn_size 4, drop_rate 0) --

class DenseLayer(nn.Module):
    def __init__(self, cin, growth=32, bn_size=4):
        super().__init__()
        self.norm1, self.relu1 = nn.BatchNorm2d(cin), nn.ReLU()
        self.conv1 = nn.Conv2d(cin, bn_size * growth, 1, bias=False)
        self.norm2, self.relu2 = nn.BatchNorm2d(bn_size * growth), nn.ReLU()
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, 1, 1, bias=False)

    def forward(self, features: list):
        x = torch.cat(features, 1)
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


class DenseBlock(nn.ModuleList):
    def forward(self, x):
        features = [x]
        for layer in self:
            features.append(layer(features))
        return torch.cat(features, 1)


def densenet121():
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    c = 64
    for i, n in enumerate((6, 12, 24, 16)):
        layers.append(DenseBlock([DenseLayer(c + j * 32) for j in range(n)]))
        c += n * 32
        if i != 3:
            layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c // 2, 1, bias=False), nn.AvgPool2d(2, 2)]
            c //= 2
    return nn.Sequential(*layers, nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 1000))


# -- U-Net, bilinear (milesial/Pytorch-UNet, n_channels 3, n_classes 2, bilinear=True) ----------------

def double_conv(cin, cout, mid=None):
    mid = mid or cout
    return nn.Sequential(nn.Conv2d(cin, mid, 3, padding=1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
                         nn.Conv2d(mid, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class Up(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.conv = double_conv(cin, cout, cin // 2)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        dy, dx = x2.size(2) - x1.size(2), x2.size(3) - x1.size(3)
        x1 = F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([x2, x1], dim=1))


class UNet(nn.Module):
    def __init__(self, n_channels=3, n_classes=2):
        super().__init__()
        self.inc = double_conv(n_channels, 64)
        self.down1 = nn.Sequential(nn.MaxPool2d(2), double_conv(64, 128))
        self.down2 = nn.Sequential(nn.MaxPool2d(2), double_conv(128, 256))
        self.down3 = nn.Sequential(nn.MaxPool2d(2), double_conv(256, 512))
        self.down4 = nn.Sequential(nn.MaxPool2d(2), double_conv(512, 512))
        self.up1, self.up2, self.up3, self.up4 = Up(1024, 256), Up(512, 128), Up(256, 64), Up(128, 64)
        self.outc = nn.Conv2d(64, n_classes, 1)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)


# -- ResNet-50 FPN backbone (torchvision resnet_fpn_backbone, see the module docstring) ---------------

class FrozenBatchNorm2d(nn.Module):
    """torchvision.ops.misc.FrozenBatchNorm2d: weight, bias, running_mean, running_var are buffers; x * scale + bias."""

    def __init__(self, n, eps=1e-5):
        super().__init__()
        self.eps = eps
        for name, fill in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
            self.register_buffer(name, torch.full((n,), fill))

    def forward(self, x):
        scale = self.weight.reshape(1, -1, 1, 1) * (self.running_var.reshape(1, -1, 1, 1) + self.eps).rsqrt()
        bias = self.bias.reshape(1, -1, 1, 1) - self.running_mean.reshape(1, -1, 1, 1) * scale
        return x * scale + bias


class Bottleneck(nn.Module):
    def __init__(self, cin, width, stride, norm=nn.BatchNorm2d):
        super().__init__()
        cout = 4 * width
        self.body = nn.Sequential(nn.Conv2d(cin, width, 1, bias=False), norm(width), nn.ReLU(),
                                  nn.Conv2d(width, width, 3, stride, 1, bias=False), norm(width), nn.ReLU(),
                                  nn.Conv2d(width, cout, 1, bias=False), norm(cout))
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), norm(cout))
                           if stride != 1 or cin != cout else None)
        self.relu = nn.ReLU()

    def forward(self, x):
        out = self.body(x)
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


class ResNet50FPN(nn.Module):
    """IntermediateLayerGetter(resnet50, layer1..layer4 -> '0'..'3') + FeaturePyramidNetwork([256, 512, 1024, 2048],
    256, LastLevelMaxPool()); returns the dict of the five maps '0', '1', '2', '3', 'pool'. With torchvision=True
    as resnet_fpn_backbone's defaults: FrozenBatchNorm2d in the body, conv1 and layer1 frozen (trainable_layers=3)."""

    def __init__(self, torchvision: bool = False):
        super().__init__()
        norm = FrozenBatchNorm2d if torchvision else nn.BatchNorm2d
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), norm(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        stages, cin = [], 64
        for width, n, s in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            stages.append(nn.Sequential(*[Bottleneck(cin if i == 0 else 4 * width, width, s if i == 0 else 1, norm)
                                          for i in range(n)]))
            cin = 4 * width
        self.layers = nn.ModuleList(stages)
        if torchvision:
            for p in [*self.stem.parameters(), *self.layers[0].parameters()]:
                p.requires_grad_(False)
        self.inner_blocks = nn.ModuleList([nn.Conv2d(c, 256, 1) for c in (256, 512, 1024, 2048)])
        self.layer_blocks = nn.ModuleList([nn.Conv2d(256, 256, 3, padding=1) for _ in range(4)])
        self.ups = nn.ModuleList([nn.Upsample(scale_factor=2, mode="nearest") for _ in range(3)])
        self.pool = nn.MaxPool2d(1, 2)
        self.check_interpolate = False  # make_network12_golden.py sets it for one run without autograd

    def forward(self, x):
        x = self.stem(x)
        feats = []
        for stage in self.layers:
            x = stage(x)
            feats.append(x)
        last_inner = self.inner_blocks[3](feats[3])
        results = [self.layer_blocks[3](last_inner)]
        for idx in (2, 1, 0):
            lateral = self.inner_blocks[idx](feats[idx])
            top_down = self.ups[idx](last_inner)
            if self.check_interpolate:  # torchvision: F.interpolate(last_inner, size=lateral's H, W, mode="nearest")
                assert torch.equal(top_down, F.interpolate(last_inner, size=lateral.shape[-2:], mode="nearest"))
            last_inner = lateral + top_down
            results.insert(0, self.layer_blocks[idx](last_inner))
        results.append(self.pool(results[-1]))
        return dict(zip(("0", "1", "2", "3", "pool"), results))
