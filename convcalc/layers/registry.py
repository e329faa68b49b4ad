"""Command names -> layer classes. Adding a layer type is one line here.

Modules are imported on first use, so a query imports only its own layer family.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module

from ..errors import ConvcalcError
from .base import Layer
from .doc import document

_WHERE = {
    "conv1d": "conv:Conv1d",
    "conv2d": "conv:Conv2d",
    "conv3d": "conv:Conv3d",
    "convtranspose1d": "conv:ConvTranspose1d",
    "convtranspose2d": "conv:ConvTranspose2d",
    "convtranspose3d": "conv:ConvTranspose3d",
    "maxpool1d": "pool:MaxPool1d",
    "maxpool2d": "pool:MaxPool2d",
    "maxpool3d": "pool:MaxPool3d",
    "avgpool1d": "pool:AvgPool1d",
    "avgpool2d": "pool:AvgPool2d",
    "avgpool3d": "pool:AvgPool3d",
    "adaptiveavgpool1d": "pool:AdaptiveAvgPool1d",
    "adaptiveavgpool2d": "pool:AdaptiveAvgPool2d",
    "adaptiveavgpool3d": "pool:AdaptiveAvgPool3d",
    "adaptivemaxpool1d": "pool:AdaptiveMaxPool1d",
    "adaptivemaxpool2d": "pool:AdaptiveMaxPool2d",
    "adaptivemaxpool3d": "pool:AdaptiveMaxPool3d",
    "linear": "linear:Linear",
    "batchnorm1d": "norm:BatchNorm1d",
    "batchnorm2d": "norm:BatchNorm2d",
    "batchnorm3d": "norm:BatchNorm3d",
    "rnn": "recurrent:RNN",
    "gru": "recurrent:GRU",
    "lstm": "recurrent:LSTM",
    "mdrnn": "mdrnn:MDRNN",
    "gated-rnn": "recurrent:GatedRNN",
    "attention-rnn": "recurrent:AttentionRNN",
    "maskedconv2d": "pixelcnn:MaskedConv2d",
    "pixelcnn": "pixelcnn:PixelCNN",
    "causalconv1d": "wavenet:CausalConv1d",
    "wavenet": "wavenet:WaveNet",
    "relu": "elementwise:ReLU",
    "relu6": "elementwise:ReLU6",
    "leakyrelu": "elementwise:LeakyReLU",
    "sigmoid": "elementwise:Sigmoid",
    "tanh": "elementwise:Tanh",
    "gelu": "elementwise:GELU",
    "silu": "elementwise:SiLU",
    "softmax": "elementwise:Softmax",
    "dropout": "elementwise:Dropout",
    "flatten": "elementwise:Flatten",
    "crossentropy": "loss:CrossEntropyLoss",
    # issue 12: resampling (upsample, interpolate)
    "upsample": "resample:Upsample",
    "interpolate": "resample:Interpolate",
    # issue 12: per-sample normalisation
    "groupnorm": "samplenorm:GroupNorm",
    "layernorm": "samplenorm:LayerNorm",
    "instancenorm1d": "samplenorm:InstanceNorm1d",
    "instancenorm2d": "samplenorm:InstanceNorm2d",
    "instancenorm3d": "samplenorm:InstanceNorm3d",
    "localresponsenorm": "lrn:LocalResponseNorm",
    # issue 12: embeddings and pooling (lppool, fractional max pooling)
    "embedding": "embedding:Embedding",
    "embeddingbag": "embedding:EmbeddingBag",
    "lppool1d": "lppool:LPPool1d",
    "lppool2d": "lppool:LPPool2d",
    "lppool3d": "lppool:LPPool3d",
    "fractionalmaxpool2d": "lppool:FractionalMaxPool2d",
    "fractionalmaxpool3d": "lppool:FractionalMaxPool3d",
    # issue 12: rearranging layers
    "pixelshuffle": "rearrange:PixelShuffle",
    "pixelunshuffle": "rearrange:PixelUnshuffle",
    "channelshuffle": "rearrange:ChannelShuffle",
    "unflatten": "rearrange:Unflatten",
    "unfold": "rearrange:Unfold",
    "fold": "rearrange:Fold",
    "zeropad1d": "pad:ZeroPad1d",
    "zeropad2d": "pad:ZeroPad2d",
    "zeropad3d": "pad:ZeroPad3d",
    "constantpad1d": "pad:ConstantPad1d",
    "constantpad2d": "pad:ConstantPad2d",
    "constantpad3d": "pad:ConstantPad3d",
    "reflectionpad1d": "pad:ReflectionPad1d",
    "reflectionpad2d": "pad:ReflectionPad2d",
    "reflectionpad3d": "pad:ReflectionPad3d",
    "replicationpad1d": "pad:ReplicationPad1d",
    "replicationpad2d": "pad:ReplicationPad2d",
    "replicationpad3d": "pad:ReplicationPad3d",
    "circularpad1d": "pad:CircularPad1d",
    "circularpad2d": "pad:CircularPad2d",
    "circularpad3d": "pad:CircularPad3d",
    # issue 12: activations
    "hardswish": "activation:Hardswish",
    "hardsigmoid": "activation:Hardsigmoid",
    "hardtanh": "activation:Hardtanh",
    "mish": "activation:Mish",
    "elu": "activation:ELU",
    "selu": "activation:SELU",
    "celu": "activation:CELU",
    "softplus": "activation:Softplus",
    "prelu": "activation:PReLU",
    "glu": "activation:GLU",
    "logsoftmax": "activation:LogSoftmax",
    "softmax2d": "activation:Softmax2d",
    "identity": "activation:Identity",
    # issue 13: tokens and positions
    "permute": "tokens:Permute",
    "transpose": "tokens:Transpose",
    "rmsnorm": "tokens:RMSNorm",
    "classtoken": "tokens:ClassToken",
    "positionembedding": "tokens:PositionEmbedding",
    "selecttoken": "tokens:SelectToken",
    "tokentypeembedding": "tokens:TokenTypeEmbedding",
    # issue 13: attention
    "multiheadattention": "attention:MultiheadAttention",
    # issue 13: transformer layers
    "transformerencoderlayer": "transformer:TransformerEncoderLayer",
    "transformerdecoderlayer": "transformer:TransformerDecoderLayer",
    "transformerencoder": "transformer:TransformerEncoder",
}


class _Registry(Mapping):
    """A read-only mapping name -> layer class that imports a family when first asked."""

    def __getitem__(self, name: str) -> type[Layer]:
        module, cls = _WHERE[name].split(":")
        return document(getattr(import_module(f"{__package__}.{module}"), cls))

    def __iter__(self) -> Iterator[str]:
        return iter(_WHERE)

    def __len__(self) -> int:
        return len(_WHERE)


LAYERS: Mapping[str, type[Layer]] = _Registry()


def get(name: str) -> type[Layer]:
    try:
        return LAYERS[name.lower()]
    except KeyError:
        raise ConvcalcError(f"unknown layer {name!r} (known: {', '.join(LAYERS)})") from None
