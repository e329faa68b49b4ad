"""Option specs shared by many layers, declared once."""

from .base import Opt

OUT_CHANNELS = Opt("out_channels", "size", None, "Number of output channels (filters).", required=True)
KERNEL_SIZE = Opt("kernel_size", "sizes", None, "Kernel size: one value, or one per spatial dimension (3,5).", required=True)
STRIDE = Opt("stride", "sizes", "1", "Stride: one value or one per dimension.")
POOL_STRIDE = Opt("stride", "sizes", None, "Stride: one value or one per dimension (default: the kernel size).")
PADDING = Opt("padding", "padding", "0", "Zero padding on both sides: one value, one per dimension, 'same' or 'valid'.")
INT_PADDING = Opt("padding", "sizes", "0", "Padding on both sides: one value or one per dimension.")
DILATION = Opt("dilation", "sizes", "1", "Spacing between kernel taps (1 = no dilation).")
GROUPS = Opt("groups", "size", "1", "Number of blocked connections from input to output channels.")
BIAS = Opt("bias", "flag", True, "Add a learnable bias.")
PADDING_MODE = Opt(
    "padding_mode", "choice", "zeros", "How padding is filled (counts and shapes do not change with it).",
    choices=("zeros", "reflect", "replicate", "circular"),
)
OUTPUT_PADDING = Opt("output_padding", "sizes", "0", "Extra size added to one side of the output (< max(stride, dilation)).")
CEIL_MODE = Opt("ceil_mode", "flag", False, "Use ceil instead of floor for the output size (PyTorch's rule for the last window).")
COUNT_INCLUDE_PAD = Opt("count_include_pad", "flag", True, "Include the zero padding in the averaging divisor.")
OUTPUT_SIZE = Opt("output_size", "sizes", None, "Target output size: one value or one per dimension.", required=True)
