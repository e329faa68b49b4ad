"""Multi-dimensional RNN over a grid (Graves et al.), the course's form:
h(i,j) = phi(W_in x(i,j) + W_W h(i-1,j) + W_N h(i,j-1) + b), for any number n of grid
dimensions (one recurrent matrix per dimension), x of D features, hidden size H.

- directions: 1 to 2^n scans, each from its own corner, outputs concatenated (the next layer's
  input is directions*H); a power of two.
- cell tanh: one block; cell lstm (MD-LSTM): input, output and cell blocks plus one forget gate
  per grid dimension, 3 + n blocks, and c = i*g + sum_d f_d*c_d, h = o*tanh(c).
- per position, per scan: each block is n + 1 matrix products (W_in x and n recurrent ones):
  mults I*H + n*H^2, adds H*(I-1) + n*H*(H-1) to finish them, n*H to combine them, H for the
  bias. Mults are counted as frameworks compute them (the zero state at the grid's edge too);
  connections count only the edges from positions that exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import sizes
from ..sizes import Size
from .base import ConfigError, Counts, Layer, Opt, ShapeError, expect_channels
from .options import BIAS
from .recurrent import HIDDEN_SIZE, NUM_LAYERS, _counts, _lazy_backward, _plus, _times

DIRECTIONS = Opt("directions", "size", "1", "Scans from different corners (a power of two up to 2^n), outputs concatenated.")
CELL = Opt("cell", "choice", "tanh", "tanh (the plain MDRNN) or lstm (MD-LSTM).", choices=("tanh", "lstm"))


#: anti-diagonals longer than this (sum of S_k - 1, plus one) are not enumerated for grids of
#: three or more dimensions (the largest one has no simple closed form there)
MAX_DIAGONALS = 100_000


def largest_diagonal(grid: tuple) -> Any:
    """The most grid positions on one anti-diagonal (x_1 + ... + x_n = t): what a wavefront
    schedule carries between steps. 1 for a sequence, min(S1, S2) on a plane; for more
    dimensions the largest coefficient of prod_k (1 + z + ... + z^(S_k - 1)), by sliding sums;
    None when symbolic or longer than MAX_DIAGONALS."""
    if len(grid) == 1:
        return 1
    if len(grid) == 2:
        return sizes.smin(grid[0], grid[1])
    if not sizes.all_int(*grid) or sum(s - 1 for s in grid) + 1 > MAX_DIAGONALS:
        return None
    counts = [1]
    for s in grid:
        prefix = [0]
        for c in counts:
            prefix.append(prefix[-1] + c)
        n = len(counts) + s - 1
        counts = [prefix[min(t + 1, len(counts))] - prefix[max(0, t - s + 1)] for t in range(n)]
    return max(counts)


@dataclass(frozen=True)
class MDRNN(Layer, example="--input 3,G,G --hidden-size 32 --num-layers 2 --directions 4 --cell lstm"):
    """Multi-dimensional RNN (or MD-LSTM) over an n-dimensional grid."""

    input_size: Size
    hidden_size: Size
    num_layers: Size = 1
    directions: Size = 1
    cell: str = "tanh"
    bias: bool = True

    INPUT = "D,S1,...,Sn (features, then the grid)"
    EXPLAIN_NUMERIC = ("directions",)  # a count of scans, a power of two
    OPTIONS = (HIDDEN_SIZE, NUM_LAYERS, DIRECTIONS, CELL, BIAS)

    def __post_init__(self) -> None:
        self.normalize(scalars={"input_size": 1, "hidden_size": 1, "num_layers": 1, "directions": 1})
        d = sizes.known_int(self.directions)
        if d is None:
            raise ConfigError("must be a number (1, 2, 4, ...)", option="directions")
        if d & (d - 1):
            raise ConfigError(f"{d} is not a power of two", option="directions")
        if self.cell not in CELL.choices:
            raise ConfigError(f"{self.cell!r} is not one of tanh, lstm", option="cell")

    INFERRED = {"input_size": 0}

    def check_input(self, shape: tuple) -> None:
        if len(shape) < 2:
            raise ShapeError(f"expects {self.INPUT}: at least 2 entries, got {len(shape)}", option="input")
        expect_channels(shape, self.input_size, "input_size")
        n = len(shape) - 1
        if self.directions > 2**n:
            raise ConfigError(f"{self.directions} scans but a {n}-dimensional grid has {2**n} corners", option="directions")

    def output_shape(self, shape: tuple) -> tuple:
        return (self.directions * self.hidden_size,) + tuple(shape[1:])

    def blocks(self, n: int) -> int:
        return 3 + n if self.cell == "lstm" else 1

    def position_counts(self, inputs: Any, n: int) -> dict:
        """One position of one scan of one layer."""
        h, b = self.hidden_size, self.blocks(n)
        block = _counts(
            mults=inputs * h + n * h * h,
            adds=h * (inputs - 1) + n * h * (h - 1) + n * h + (h if self.bias else 0),
            macs=inputs * h + n * h * h,
            transcendentals=h,
        )
        out = _times(block, b)
        if self.cell == "lstm":  # c = i*g + sum_d f_d*c_d; h = o*tanh(c)
            out = _plus(out, _counts(mults=(n + 2) * h, adds=n * h, transcendentals=h))
        return out

    def counts(self, shape: tuple, out: tuple) -> Counts:
        grid = shape[1:]
        n, L, d, h = len(grid), self.num_layers, self.directions, self.hidden_size
        b = self.blocks(n)
        positions = sizes.prod(grid)
        # edges from an existing predecessor along dimension k: (S_k - 1) * prod of the others
        recurrent_edges = sum(((s - 1) * positions // s for s in grid), start=0)
        inputs = [self.input_size, d * h]  # first layer, every later layer
        pos = [self.position_counts(i, n) for i in inputs]
        weights = [b * (i * h + n * h * h) for i in inputs]
        bias = b * h if self.bias else 0
        connections = [b * (i * h * positions + h * h * recurrent_edges) for i in inputs]
        per_step = _plus(_times(pos[0], d), _times(pos[1], d * (L - 1)))
        rows = None
        if sizes.is_int(L) and L <= 64:
            rows = [
                {
                    "layer": i + 1,
                    "scans": d,
                    "input_size": inputs[min(i, 1)],
                    "params": d * (weights[min(i, 1)] + bias),
                    "per_step": _times(pos[min(i, 1)], d),
                    "per_sequence": _times(pos[min(i, 1)], d * positions),
                }
                for i in range(L)
            ]
        wavefront = sum((s - 1 for s in grid), start=0) + 1
        regimes = {"raster": L * positions, "wavefront": L * wavefront}
        if d == 1:
            regimes["wavefront_pipelined"] = wavefront + L - 1
        steps = regimes.get("wavefront_pipelined", regimes["wavefront"])
        cell_state = h if self.cell == "lstm" else 0
        # the state carried between steps, as for lstm (h, and c for MD-LSTM, per layer and scan):
        # raster order needs the predecessor along the first grid dimension, one row
        # (S_2 * ... * S_n positions) back, so it carries one row; a wavefront carries one anti-diagonal
        row = sizes.prod(grid[1:])
        per_position = L * d * (h + cell_state)
        diagonal = largest_diagonal(grid)
        state_note = (
            f"state (state_bytes): the raster schedule carries one row of {sizes.to_text(sizes.normalize(row))} positions "
            f"(h{', c' if cell_state else ''} per layer and scan): {sizes.to_text(sizes.normalize(row * per_position))} elements per sample; "
            + ("the wavefront carries one anti-diagonal of "
               f"{sizes.to_text(sizes.normalize(diagonal))} positions: {sizes.to_text(sizes.normalize(diagonal * per_position))} elements per sample"
               if diagonal is not None else "the wavefront carries one anti-diagonal (its size: give a numeric grid)")
        )
        kept = [i + b * h + cell_state + h for i in inputs]
        seq = _times(per_step, positions)
        dims = "H + W - 1" if n == 2 else "sum(S_k - 1) + 1"
        return Counts(
            weights=d * (weights[0] + (L - 1) * weights[1]),
            biases=d * L * bias,
            **seq,
            connections=d * (connections[0] + (L - 1) * connections[1]),
            sequential_steps=steps,
            sequential_steps_backward=steps,
            state=row * per_position,
            bptt=d * positions * (kept[0] + (L - 1) * kept[1]),
            per_step=per_step,
            per_layer=rows,
            regimes=regimes,
            step_unit="grid position",
            notes=(
                f"raster: one position after another, {sizes.to_text(positions)} steps per layer (an O(d*H*W) answer for d layers)",
                f"wavefront: every position on an anti-diagonal at once, {dims} = {sizes.to_text(sizes.normalize(wavefront))} steps per layer (the 2G - 1 answer on a G x G grid)",
                "wavefront pipelined: a unidirectional layer starts one step after the layer below, "
                + ("sum(S_k - 1) + L" if n != 2 else "H + W + L - 2")
                + "; with several scans a layer needs every scan of the layer below, so layers run one after another",
                "connections: edges from positions that exist (none from beyond the grid's edge); mults as frameworks compute them; "
                f"an interior position of one scan of the first layer has {sizes.to_text(sizes.normalize(b * (inputs[0] * h + n * h * h)))}",
                "per step = per grid position (all scans and layers)",
                state_note,
            ),
        )

    backward = _lazy_backward("mdrnn_backward")  # BPTT over the grid: recurrent_backward.py
