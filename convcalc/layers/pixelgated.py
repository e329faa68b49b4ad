"""The gated PixelCNN stack (van den Oord et al. 2016, Conditional Image Generation with PixelCNN
Decoders): its layers' counts and their backward. A vertical stack ((k+1)/2 x k convolutions over
the rows up to the current one) and a horizontal stack (1 x (k+1)/2 over the current row, the
pixel excluded in the first layer) with tanh*sigmoid gates; the vertical features, shifted down
one row, enter the horizontal stack through a 1x1 link; a 1x1 convolution and (after the first
layer) a residual add end each horizontal layer.
"""

from __future__ import annotations

from typing import Any, TYPE_CHECKING

from .. import sizes
from .base import Counts
from .conv import Conv2d
if TYPE_CHECKING:
    from .training import Backward
from .pixelfield import one_sided, two_sided


def _causal_conv(cin: Any, cout: Any, rows: Any, cols: Any, real_rows: Any, real_cols: Any, H: Any, W: Any, bias: bool) -> Counts:
    """A convolution whose every tap is in use (the gated stacks' causal convolutions): rows x
    cols kernel, real_rows/real_cols = the taps on real pixels summed over output rows/columns."""
    k = rows * cols
    outputs = cout * H * W
    return Counts(
        weights=cout * cin * k,
        biases=cout if bias else 0,
        mults=outputs * cin * k,
        adds=outputs * (cin * k - 1) + (outputs if bias else 0),
        macs=outputs * cin * k,
        connections=cout * cin * real_rows * real_cols,
    )


def gated_parts(layer: Any, part: Any, C: Any, H: Any, W: Any, h: Any, d: Any, k: Any, k1: Any, kt: Any) -> Any:
    """Add the gated layers' parts; return the depth in convolutions (output layers included)."""
    pixels = H * W

    def stacks(cin: Any, kk: Any, first: bool) -> Counts:
        c = sizes.exact_div(kk - 1, 2)
        v_rows = W * 0 + H + one_sided(H, c)[0]  # rows 0..c above, each on real rows
        v_cols = two_sided(W, c)[0]
        vertical = _causal_conv(cin, 2 * h, c + 1, kk, v_rows, v_cols, H, W, layer.bias)
        if first:  # 1 x c taps left of the pixel
            horizontal = _causal_conv(cin, 2 * h, 1, c, H, one_sided(W, c)[0], H, W, layer.bias)
        else:  # 1 x (c + 1): the pixel and c to its left
            horizontal = _causal_conv(cin, 2 * h, 1, c + 1, H, W + one_sided(W, c)[0], H, W, layer.bias)
        link = _causal_conv(2 * h, 2 * h, 1, 1, H, W, H, W, layer.bias)
        out = _causal_conv(h, h, 1, 1, H, W, H, W, layer.bias)
        total = Counts()
        for piece in (vertical, horizontal, link, out):
            total.add(piece)
        gates = Counts(
            adds=2 * h * pixels + (0 if first else h * pixels),  # link into horizontal; the residual
            mults=2 * h * pixels,  # tanh * sigmoid in both stacks
            transcendentals=4 * h * pixels,
        )
        total.add(gates)
        return total

    part("1", f"gated {kt(k1)} A", stacks(C, k1, True))
    part("2..d+1", f"gated {kt(k)} B", stacks(h, k, False), d)
    return sizes.smax(2 * d + 2, d + 3) + layer.output_layers


def gated_backward(layer: Any, shape: tuple, batch: Any) -> tuple[Backward, dict, list]:
    """The gated layers' backward, as autograd runs it on the PyTorch module that computes
    exactly the forward's products: every convolution a Conv2d without padding over an
    explicitly padded input (F.pad, a new tensor autograd saves): the vertical one over v
    padded by c rows on top and c columns each side, the horizontal one over h padded by c
    columns on the left (the first layer's by c on the left and cropped by one on the right,
    F.pad(x, (c, -1)): its 1 x c taps end left of the pixel), the link over the vertical
    features shifted down one row (F.pad(v[:, :, :-1], (0, 0, 1, 0)), saved). Each
    convolution's backward is reused; a gate's backward is gate_backward; where a tensor is
    read twice its gradients are summed (one add an element): the vertical features (their
    gate and the link), a layer's horizontal input (its convolution and the residual add) and
    the image (both stacks of the first layer). The last layer's vertical gate feeds nothing:
    no gradient reaches it. Returns (the first layer's Backward: dL/dx of the image, the first
    layer's dL/dW, the gradient through it (shared) and parameters; the other layers' (weight
    gradients, gradient through them); what all of them save; the other layers' parameters,
    layers.i.*)."""
    from .training import Backward, Saved  # only a training query imports it
    from .wavenet import gate_backward, plus

    C, H, W = shape
    h, d, bias = layer.channels, layer.layers, layer.bias
    rows = batch * H * W

    def conv(cin: Any, cout: Any, kh: Any, kw: Any, ph: Any, pw: Any) -> Backward:
        return Conv2d(cin, cout, (kh, kw), bias=bias).backward((cin, H + ph, W + pw), (cout, H, W), batch)

    def stacks(cin: Any, kk: Any, first: bool) -> tuple[dict, dict, dict, list, dict]:
        """(dL/dx of the layer's inputs, its weights' gradients, the gradient through it, saved,
        parameters) of one layer."""
        from .training import Saved  # only a training query imports it
        c = sizes.exact_div(kk - 1, 2)
        reading = [conv(cin, 2 * h, c + 1, kk, c, 2 * c)]  # the convolutions that read the layer's inputs
        if not first:
            reading.append(conv(cin, 2 * h, 1, c + 1, 0, c))
        elif sizes.known_int(c) != 0:  # a 1 x 1 mask-A first layer has no horizontal taps
            reading.append(conv(cin, 2 * h, 1, c, 0, c - 1))
        pointwise = [conv(2 * h, 2 * h, 1, 1, 0, 0), conv(h, h, 1, 1, 0, 0)]  # the link and the output 1x1
        twice = (cin * rows if len(reading) == 2 else 0) if first else h * rows
        inputs = plus(*(p.grad_input for p in reading), {"adds": twice})
        weights = plus(*(p.grad_weight for p in reading + pointwise))
        through = plus(*(p.grad_input for p in pointwise), gate_backward(h * rows))
        saved = [Saved(f"{'the image' if first else 'the stacks'} padded for the convolutions",
                       sum((p.saved[0].elements for p in reading), start=0)),
                 Saved("shifted vertical features, the gates' tanh and sigmoid outputs, the horizontal gate's output"
                       + ("" if first else ", every layer"), 7 * h * rows)]
        names = ["vertical", "horizontal"][:len(reading)] + ["link", "out"]
        params = {f"{piece}.{name}": shape for piece, p in zip(names, reading + pointwise) for name, shape in p.params.items()}
        return inputs, weights, through, saved, params

    first_inputs, first_weights, first_through, saved, first_params = stacks(C, layer.first_kernel_size, True)
    inputs, weights, through, more, params = stacks(h, layer.kernel_size, False)
    # every layer but the last: the vertical gate's backward and the vertical features' two gradients
    vertical = plus(gate_backward(h * rows), {"adds": 2 * h * rows})
    body_weights = plus((weights, d))
    body_through = plus((plus(inputs, through), d), (vertical, d))
    saved += [Saved(s.name, s.elements * d) for s in more]
    first = Backward(grad_input=first_inputs, grad_weight=first_weights, shared=first_through,
                     params={f"first.{k}": v for k, v in first_params.items()})
    return first, (body_weights, body_through), saved, {f"layers.i.{k}": v for k, v in params.items()}
