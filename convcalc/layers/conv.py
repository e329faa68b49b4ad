"""Convolutions: conv1d/2d/3d and convtranspose1d/2d/3d, with PyTorch's semantics.

Counting (per sample; the report scales by batch):
- mults = macs = every product a framework computes, taps on padding included; this equals
  FlopCounterMode's total / 2 (conv: out_positions * prod(k) * C_in/g * C_out; transposed:
  in_positions * prod(k) * C_in * C_out/g).
- adds: each output element is an inner product of its n products (n - 1 adds), plus one bias
  add. For a transposed convolution n is the number of products that land on that element
  (products landing in the cropped padding are computed and discarded).
- connections: weighted edges from real input units to output units (taps on padding excluded).
- gemm: the im2col lowering, per group: conv = W[C_out/g, C_in/g*prod(k)] x cols[., out_positions];
  transposed = W^T[C_out/g*prod(k), C_in/g] x X[., in_positions], then col2im.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from typing import TYPE_CHECKING

from .. import sizes
from ..sizes import Size, SizeArg
from .base import ConfigError, Counts, Layer, ShapeError, expect_channels, expect_rank, show
from .options import BIAS, DILATION, GROUPS, INT_PADDING, KERNEL_SIZE, OUT_CHANNELS, OUTPUT_PADDING, PADDING, PADDING_MODE, STRIDE
from .convwindow import (  # noqa: F401 (check_work, reached_by_taps and the caps are re-exported)
    MAX_FIT, MAX_KERNEL, MAX_SYMBOLIC_KERNEL, _check_fits, _check_groups, check_work, in_kernel_size, reached_by_taps,
)
from .window import conv_map, positions_reached, taps_inside, transposed_map

if TYPE_CHECKING:
    from .training import Backward


_CHANNELS = {"in_channels": 1, "out_channels": 1, "groups": 1}
_WINDOW = {"kernel_size": 1, "stride": 1, "dilation": 1}


@dataclass(frozen=True)
class _ConvNd(Layer):
    in_channels: Size
    out_channels: Size
    kernel_size: SizeArg
    stride: SizeArg = 1
    padding: SizeArg = 0
    dilation: SizeArg = 1
    groups: Size = 1
    bias: bool = True
    padding_mode: str = "zeros"

    OPTIONS = (OUT_CHANNELS, KERNEL_SIZE, STRIDE, PADDING, DILATION, GROUPS, BIAS, PADDING_MODE)

    def __post_init__(self) -> None:
        self.normalize(scalars=_CHANNELS, spatial=_WINDOW)
        pad = self.padding.strip().lower() if isinstance(self.padding, str) else self.padding
        if pad in ("same", "valid"):
            object.__setattr__(self, "padding", pad)
        else:
            self.normalize(spatial={"padding": 0})
        if self.padding == "same" and any(sizes.compare(s, 1) == 1 for s in self.stride):
            raise ConfigError(f"padding='same' needs stride 1 (PyTorch refuses it), got stride {show(self.stride)}", option="padding")
        if self.padding_mode not in PADDING_MODE.choices:
            raise ConfigError(f"{self.padding_mode!r} is not one of {', '.join(PADDING_MODE.choices)}", option="padding_mode")
        _check_groups(self.groups, self.in_channels, self.out_channels)

    INFERRED = {"in_channels": 0}

    def pads(self) -> tuple:
        """(left, right) padding per dimension; 'same' pads d*(k-1) in all, the extra one on the
        right when it is odd, exactly as PyTorch does."""
        if self.padding == "valid":
            return ((0, 0),) * self.NDIM
        if self.padding == "same":
            out = []
            for k, d in zip(self.kernel_size, self.dilation):
                total = d * (k - 1)
                out.append((total // 2, total - total // 2))
            return tuple(out)
        return tuple((p, p) for p in self.padding)

    def check_input(self, shape: tuple) -> None:
        expect_rank(self, shape, self.NDIM + 1)
        expect_channels(shape, self.in_channels, "in_channels")
        check_work(shape, self.kernel_size)
        pads = self.pads()
        _check_fits(shape, pads, self.kernel_size, self.dilation)
        if self.padding_mode in ("reflect", "circular"):
            for i, (L, (lo, hi)) in enumerate(zip(shape[1:], pads)):
                limit = L if self.padding_mode == "reflect" else L + 1
                if sizes.compare(max(lo, hi) if sizes.all_int(lo, hi) else hi, limit) in (0, 1):
                    rule = "smaller than" if self.padding_mode == "reflect" else "at most"
                    raise ShapeError(
                        f"{self.padding_mode} padding {sizes.to_text(hi)} must be {rule} the input size "
                        f"{sizes.to_text(L)} in spatial dimension {i + 1}",
                        option="padding",
                    )

    def window_steps(self) -> tuple:
        """(effective kernel, stride) per spatial dimension, for receptive fields."""
        return tuple((d * (k - 1) + 1, s) for k, s, d in zip(self.kernel_size, self.stride, self.dilation))

    def size_maps(self) -> tuple:
        return tuple(conv_map(k, s, d, lo, hi) for k, s, d, (lo, hi) in zip(self.kernel_size, self.stride, self.dilation, self.pads()))

    def output_shape(self, shape: tuple) -> tuple:
        return (self.out_channels,) + tuple(m.forward(L) for m, L in zip(self.size_maps(), shape[1:]))

    def taps_on_input(self, shape: tuple, out: tuple) -> list:
        """Per spatial dimension: (output position, tap) pairs that read a real input element."""
        return [
            taps_inside(n, kk, s, d, lo, L, size_map=m)
            for L, n, kk, s, d, (lo, _hi), m in zip(shape[1:], out[1:], self.kernel_size, self.stride, self.dilation, self.pads(), self.size_maps())
        ]

    def counts(self, shape: tuple, out: tuple) -> Counts:
        cin_g = sizes.exact_div(self.in_channels, self.groups)  # groups divide the channels (checked)
        k = sizes.prod(self.kernel_size)
        positions = sizes.prod(out[1:])
        outputs = self.out_channels * positions
        products = outputs * cin_g * k
        taps = self.taps_on_input(shape, out)
        connections = None if None in taps else self.out_channels * cin_g * sizes.prod(taps)
        return Counts(
            weights=self.out_channels * cin_g * k,
            biases=self.out_channels if self.bias else 0,
            mults=products,
            adds=outputs * (cin_g * k - 1) + (outputs if self.bias else 0),
            macs=products,
            connections=connections,
            gemm=(sizes.exact_div(self.out_channels, self.groups), cin_g * k, positions),
            gemm_groups=self.groups,
        )

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """dL/dx: each product w*dL/dy goes back to the input element its tap read, so dL/dx is a
        transposed convolution of dL/dy (the same products as the forward; an element reached by
        n of them takes n - 1 adds; products on zero padding are computed and dropped). dL/dW:
        each weight sums x*dL/dy over the batch and the output positions (B*P products, B*P - 1
        adds); dL/db sums dL/dy likewise. Padding by 'reflect'/'circular' (and 'same' when odd)
        pads x explicitly: the backward then works on the padded input and saves it, and each
        padded element's gradient is added back to its source (one add each). Reflect and
        replicate padding also keep x itself while dL/dx is wanted (their pad's backward takes x);
        circular padding does not."""
        from .training import Backward, Saved  # only a training query needs them

        cin_g = sizes.exact_div(self.in_channels, self.groups)
        k = sizes.prod(self.kernel_size)
        positions = sizes.prod(out[1:])
        products = batch * self.out_channels * positions * cin_g * k
        explicit = self.padding_mode != "zeros" or any(sizes.compare(lo, hi) != 0 for lo, hi in self.pads())
        dims, fold = [], 0
        for L, n, kk, s, d, (lo, hi) in zip(shape[1:], out[1:], self.kernel_size, self.stride, self.dilation, self.pads()):
            if self.padding_mode != "zeros":
                dims.append((L + lo + hi, n, kk, s, d, 0))
            elif explicit:
                dims.append((L + hi - lo, n, kk, s, d, lo) if sizes.compare(hi, lo) == 1 else (L, n, kk, s, d, lo))
            else:
                dims.append((L, n, kk, s, d, lo))
        padded = sizes.prod(dim[0] for dim in dims)
        if self.padding_mode != "zeros":
            fold = batch * self.in_channels * (padded - sizes.prod(shape[1:]))
        if explicit:
            taps = [taps_inside(n, kk, s, d, lo, L) for L, n, kk, s, d, lo in dims]
        else:
            taps = self.taps_on_input(shape, out)
        reached = [reached_by_taps(n, kk, s, d, lo, L) for L, n, kk, s, d, lo in dims]
        adds = None
        if None not in taps and None not in reached:
            adds = batch * (self.out_channels * cin_g * sizes.prod(taps) - self.in_channels * sizes.prod(reached)) + fold
        weights = self.out_channels * cin_g * k
        terms = batch * positions
        params = {"weight": (self.out_channels, cin_g) + tuple(self.kernel_size)}
        if self.bias:
            params["bias"] = (self.out_channels,)
        saved = (Saved("input", batch * self.in_channels * padded, tensor="" if explicit else "input"),)
        if self.padding_mode in ("reflect", "replicate"):  # their pad's backward reads x's size from x itself
            saved = (Saved("unpadded input", batch * sizes.prod(shape), tensor="input", needed_for="input"),) + saved
        return Backward(
            grad_input={"mults": products, "adds": adds, "macs": products},
            grad_weight={"mults": products, "macs": products,
                         "adds": weights * (terms - 1) + (self.out_channels * (terms - 1) if self.bias else 0)},
            saved=saved,
            params=params,
            as_layers=self._as_layers(shape, out),
        )

    def _as_layers(self, shape: tuple, out: tuple) -> tuple:
        """dL/dx as a transposed convolution of dL/dy, dL/dW as a convolution of x by dL/dy
        dilated by the stride, as commands (zero padding, the same on both sides)."""
        if self.padding_mode != "zeros" or any(sizes.compare(lo, hi) != 0 for lo, hi in self.pads()):
            return ()
        n = self.NDIM
        pads = tuple(lo for lo, _ in self.pads())
        crop = tuple(
            sizes.normalize(L + 2 * p - d * (kk - 1) - 1 - (o - 1) * s)
            for L, o, kk, s, d, p in zip(shape[1:], out[1:], self.kernel_size, self.stride, self.dilation, pads)
        )
        from .training import command

        groups = self.groups if sizes.compare(self.groups, 1) != 0 else None
        grad_x = command(f"convtranspose{n}d", input=out, out_channels=self.in_channels, kernel_size=self.kernel_size,
                         stride=self.stride, padding=pads, output_padding=crop, dilation=self.dilation, groups=groups,
                         bias=False)
        grad_w = command(f"conv{n}d", input=(1,) + tuple(shape[1:]), out_channels=self.out_channels, kernel_size=out[1:],
                         stride=self.dilation, dilation=self.stride, padding=pads, bias=False, batch=self.in_channels)
        return (
            ("input", grad_x, "dL/dy through the same weights, stride, padding and dilation; output_padding brings the "
                              "input's size back"),
            ("weight", grad_w, "each input channel of x (one sample; more sum over the batch) convolved with dL/dy "
                               "dilated by the stride; the first kernel_size outputs of each are dL/dW"
                               + (" (per group: the channels of its group)" if groups is not None else "")),
        )


@dataclass(frozen=True)
class _ConvTransposeNd(Layer):
    in_channels: Size
    out_channels: Size
    kernel_size: SizeArg
    stride: SizeArg = 1
    padding: SizeArg = 0
    output_padding: SizeArg = 0
    groups: Size = 1
    bias: bool = True
    dilation: SizeArg = 1
    padding_mode: str = "zeros"

    OPTIONS = (OUT_CHANNELS, KERNEL_SIZE, STRIDE, INT_PADDING, OUTPUT_PADDING, DILATION, GROUPS, BIAS)
    # which output positions the products reach needs these as numbers
    EXPLAIN_NUMERIC = ("kernel_size", "stride", "dilation", "padding", "output_padding")

    def __post_init__(self) -> None:
        if isinstance(self.padding, str) and self.padding.strip().lower() in ("same", "valid"):
            raise ConfigError("a transposed convolution takes numbers, not 'same' or 'valid'", option="padding")
        self.normalize(scalars=_CHANNELS, spatial={**_WINDOW, "padding": 0, "output_padding": 0})
        if self.padding_mode != "zeros":
            raise ConfigError("only 'zeros' is supported for transposed convolutions (as in PyTorch)", option="padding_mode")
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if sizes.compare(op, sizes.smax(s, d)) in (0, 1):
                raise ConfigError(
                    f"{sizes.to_text(op)} must be smaller than max(stride, dilation) = {sizes.to_text(sizes.smax(s, d))}",
                    option="output_padding",
                )
        _check_groups(self.groups, self.in_channels, self.out_channels)

    INFERRED = {"in_channels": 0}

    def check_input(self, shape: tuple) -> None:
        expect_rank(self, shape, self.NDIM + 1)
        expect_channels(shape, self.in_channels, "in_channels")
        check_work(shape, self.kernel_size)

    def domain(self) -> list[str]:
        """Conditions on symbolic arguments under which PyTorch accepts the layer."""
        return [
            f"{sizes.to_text(op)} < max({sizes.to_text(s)}, {sizes.to_text(d)})"
            for op, s, d in zip(self.output_padding, self.stride, self.dilation)
            if sizes.compare(op, sizes.smax(s, d)) is None
        ]

    def size_maps(self) -> tuple:
        return tuple(
            transposed_map(k, s, d, p, op)
            for k, s, d, p, op in zip(self.kernel_size, self.stride, self.dilation, self.padding, self.output_padding)
        )

    def output_shape(self, shape: tuple) -> tuple:
        return (self.out_channels,) + tuple(m.forward(L) for m, L in zip(self.size_maps(), shape[1:]))

    def counts(self, shape: tuple, out: tuple) -> Counts:
        cout_g = sizes.exact_div(self.out_channels, self.groups)  # groups divide the channels (checked)
        cin_g = sizes.exact_div(self.in_channels, self.groups)
        k = sizes.prod(self.kernel_size)
        in_positions = sizes.prod(shape[1:])
        products = self.in_channels * cout_g * k * in_positions
        dims = list(zip(shape[1:], out[1:], self.kernel_size, self.stride, self.dilation, self.padding, self.output_padding))
        landed, reached = [], []
        for L, n, kk, s, d, p, op in dims:
            if sizes.is_int(kk) or not sizes.all_int(L, s, d, p, op):
                landed.append(taps_inside(L, kk, s, d, p, n))
                reached.append(reached_by_taps(L, kk, s, d, p, n))  # output_padding only adds unreached positions
                continue
            # a symbolic kernel over a numeric input: both counts are piecewise affine in the kernel
            # size, saturating once it spans the padding and the gaps between input positions
            size = transposed_map(1, s, d, p, op)  # output length for kernel size kv: size.forward(L) + d*(kv - 1)
            least = max(1, -((size.forward(L) - 1) // d) + 1) if size.forward(L) < 1 else 1
            knee = least + (2 * p + (L + 2) * s) // d + 3

            def at(kv: int, fn: Any, L: Any = L, s: Any = s, d: Any = d, p: Any = p, op: Any = op) -> Any:
                return fn(L, kv, s, d, p, transposed_map(kv, s, d, p, op).forward(L))

            landed.append(in_kernel_size(lambda kv: at(kv, taps_inside), kk, least, knee))
            reached.append(in_kernel_size(lambda kv: at(kv, positions_reached), kk, least, knee))
        outputs = self.out_channels * sizes.prod(out[1:])
        connections = None if None in landed else self.out_channels * cin_g * sizes.prod(landed)
        adds = None
        if connections is not None and None not in reached:
            adds = connections - self.out_channels * sizes.prod(reached) + (outputs if self.bias else 0)
        return Counts(
            weights=self.in_channels * cout_g * k,
            biases=self.out_channels if self.bias else 0,
            mults=products,
            adds=adds,
            macs=products,
            connections=connections,
            gemm=(cout_g * k, cin_g, in_positions),
            gemm_groups=self.groups,
        )

    def backward(self, shape: tuple, out: tuple, batch: Any) -> Backward:
        """dL/dx is a convolution of dL/dy with the same weights: each input element is an inner
        product of C_out/g*prod(k) products (taps outside the output read zeros), so the same
        products as the forward and prod(k)*C_out/g - 1 adds each. dL/dW sums x*dL/dy over the
        batch and the input positions (B*P_in products, B*P_in - 1 adds); dL/db sums dL/dy."""
        from .training import Backward, Saved  # only a training query needs them

        cout_g = sizes.exact_div(self.out_channels, self.groups)
        k = sizes.prod(self.kernel_size)
        in_positions = sizes.prod(shape[1:])
        products = batch * self.in_channels * cout_g * k * in_positions
        weights = self.in_channels * cout_g * k
        terms, out_terms = batch * in_positions, batch * sizes.prod(out[1:])
        params = {"weight": (self.in_channels, cout_g) + tuple(self.kernel_size)}
        if self.bias:
            params["bias"] = (self.out_channels,)
        return Backward(
            grad_input={"mults": products, "macs": products, "adds": batch * self.in_channels * in_positions * (cout_g * k - 1)},
            grad_weight={"mults": products, "macs": products,
                         "adds": weights * (terms - 1) + (self.out_channels * (out_terms - 1) if self.bias else 0)},
            saved=(Saved("input", batch * self.in_channels * in_positions, tensor="input"),),
            params=params,
            as_layers=self._as_layers(shape, out),
        )

    def _as_layers(self, shape: tuple, out: tuple) -> tuple:
        """dL/dx as a convolution of dL/dy with the same weights, stride, padding and dilation;
        dL/dW as a convolution of dL/dy by x dilated by the stride, as commands."""
        n = self.NDIM
        from .training import command

        groups = self.groups if sizes.compare(self.groups, 1) != 0 else None
        grad_x = command(f"conv{n}d", input=out, out_channels=self.in_channels, kernel_size=self.kernel_size,
                         stride=self.stride, padding=self.padding, dilation=self.dilation, groups=groups, bias=False)
        grad_w = command(f"conv{n}d", input=(1,) + tuple(out[1:]), out_channels=self.in_channels, kernel_size=shape[1:],
                         stride=self.dilation, dilation=self.stride, padding=self.padding, bias=False, batch=self.out_channels)
        return (
            ("input", grad_x, "dL/dy through the same weights, stride, padding and dilation; its first input-size "
                              "positions are dL/dx (all of them when output_padding < stride)"),
            ("weight", grad_w, "each output channel of dL/dy (one sample; more sum over the batch) convolved with x "
                               "dilated by the stride; the first kernel_size outputs of each are dL/dW"
                               + (" (per group: the channels of its group)" if groups is not None else "")),
        )


class Conv1d(_ConvNd, ndim=1, example="--input 7,11 --out-channels 1 --kernel-size 3 --stride 2 --no-bias"):
    """1-D convolution (torch.nn.Conv1d)."""


class Conv2d(_ConvNd, ndim=2, example="--input 3,224,224 --out-channels 64 --kernel-size 7 --stride 2 --padding 3 --no-bias"):
    """2-D convolution (torch.nn.Conv2d)."""


class Conv3d(_ConvNd, ndim=3, example="--input 16,8,32,32 --out-channels 32 --kernel-size 3,3,3 --format json"):
    """3-D convolution (torch.nn.Conv3d)."""


class ConvTranspose1d(_ConvTransposeNd, ndim=1, example="--input 16,50 --out-channels 8 --kernel-size 4 --stride 2 --padding 1"):
    """1-D transposed convolution (torch.nn.ConvTranspose1d)."""


class ConvTranspose2d(_ConvTransposeNd, ndim=2, example="--input 64,16,16 --out-channels 32 --kernel-size 4 --stride 2 --padding 1"):
    """2-D transposed convolution (torch.nn.ConvTranspose2d)."""


class ConvTranspose3d(_ConvTransposeNd, ndim=3, example="--input 8,4,16,16 --out-channels 4 --kernel-size 3 --stride 2 --padding 1 --output-padding 1"):
    """3-D transposed convolution (torch.nn.ConvTranspose3d)."""
