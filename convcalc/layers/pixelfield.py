"""Receptive fields of PixelCNN stacks (plain and gated), by propagating the offsets each
layer reads: which earlier pixels reach the current one, the blind spot, and a map to draw."""

from __future__ import annotations

from typing import Any

from .. import sizes

# -- taps on real pixels ------------------------------------------------------------------------


def one_sided(L: Any, c: Any) -> tuple[Any, bool]:
    """sum over t = 1..c of max(0, L - t): how often a tap t rows (or columns) off the centre
    lands on a real pixel, summed over those c taps. (value, whether an assumption was made)"""
    order = sizes.compare(L, c)
    if order in (-1, 0):
        return sizes.exact_div(L * (L - 1), 2), False
    return c * L - sizes.exact_div(c * (c + 1), 2), order is None


def two_sided(L: Any, c: Any) -> tuple[Any, bool]:
    """sum over t = -c..c of max(0, L - |t|)."""
    order = sizes.compare(L, c)
    if order in (-1, 0):
        return L * L, False
    return (2 * c + 1) * L - c * (c + 1), order is None


# -- receptive fields by propagation -------------------------------------------------------------

#: the largest stack reach (rows) for which the field is enumerated
MAX_REACH = 200


def _masked_offsets(kh: int, kw: int, centre: bool) -> set:
    """Input offsets (dy, dx) an output pixel of a masked convolution reads (dy <= 0)."""
    ch, cw = kh // 2, kw // 2
    taps = {(-a, b) for a in range(1, ch + 1) for b in range(-cw, cw + 1)}
    taps |= {(0, -b) for b in range(1, cw + 1)}
    if centre:
        taps.add((0, 0))
    return taps


def _compose(field: set, offsets: set) -> set:
    return {(fy + oy, fx + ox) for fy, fx in field for oy, ox in offsets}


class _Rows:
    """A set of offsets (dy, dx) stored as one bit mask of columns per row (bit dx + bias), so
    that composing with a layer's taps is a few shifts per row instead of a product of sets:
    a stack of d layers costs O(d * rows * taps per row), not O(d * field * taps)."""

    def __init__(self, cells: set, bias: int):
        self.bias = bias
        self.rows: dict[int, int] = {}
        for dy, dx in cells:
            self.rows[dy] = self.rows.get(dy, 0) | (1 << (dx + bias))

    def compose(self, offsets: set) -> "_Rows":
        by_row: dict[int, list[int]] = {}
        for oy, ox in offsets:
            by_row.setdefault(oy, []).append(ox)
        out = _Rows(set(), self.bias)
        for y, mask in self.rows.items():
            for oy, oxs in by_row.items():
                acc = out.rows.get(y + oy, 0)
                for ox in oxs:
                    acc |= mask << ox if ox >= 0 else mask >> -ox
                out.rows[y + oy] = acc
        return out

    def union_shifted(self, other: "_Rows", dy: int) -> "_Rows":
        """self | (other moved dy rows)."""
        out = _Rows(set(), self.bias)
        out.rows = dict(self.rows)
        for y, mask in other.rows.items():
            out.rows[y + dy] = out.rows.get(y + dy, 0) | mask
        return out

    def cells(self) -> set:
        out = set()
        for y, mask in self.rows.items():
            x = 0
            while mask:
                if mask & 1:
                    out.add((y, x - self.bias))
                mask >>= 1
                x += 1
        return out


def _bias(first: tuple, kernel: tuple, layers: int) -> int:
    """Columns the field can reach to the left (bits never shift below 0)."""
    return first[1] // 2 + layers * (kernel[1] // 2) + 1


def vanilla_field(first: tuple, kernel: tuple, layers: int) -> set:
    """Earlier pixels (offsets) that reach the current one through mask A then mask-B layers."""
    field = _Rows(_masked_offsets(*first, centre=False), _bias(first, kernel, layers))
    step = _masked_offsets(*kernel, centre=True)
    for _ in range(layers):
        field = field.compose(step)
    return field.cells()


def gated_field(first: tuple, kernel: tuple, layers: int) -> set:
    """The same through the gated stack: a vertical stack ((k+1)/2 x k convolutions over the
    rows up to the current one, shifted down one row when fed to the horizontal stack) and a
    horizontal stack (1 x (k+1)/2 convolutions over the current row, the centre excluded in the
    first layer), as in van den Oord et al. 2016."""

    def vertical(kh: int, kw: int) -> set:
        return {(-a, b) for a in range(0, kh // 2 + 1) for b in range(-(kw // 2), kw // 2 + 1)}

    def horizontal(kw: int, centre: bool) -> set:
        return {(0, -b) for b in range(0 if centre else 1, kw // 2 + 1)}

    bias = _bias(first, kernel, layers)
    v = _Rows(vertical(*first), bias)  # what the vertical stack's output at (i, j) reads of the image
    h = _Rows(horizontal(first[1], centre=False), bias).union_shifted(v, -1)
    step_v, step_h = vertical(*kernel), horizontal(kernel[1], centre=True)
    for _ in range(layers):
        v_next = v.compose(step_v)
        h = h.compose(step_h).union_shifted(v_next, -1)
        v = v_next
    return h.cells()


def field_summary(field: set) -> dict:
    """Size, blind spot and a map of the field: the blind spot is every earlier pixel inside the
    field's bounding box (rows above and the current row left of the pixel) that is not seen."""
    if not field:  # a 1x1 mask-A first layer sees nothing
        return {"pixels_seen": 0, "blind_spot": 0, "rows_above": 0, "columns_left": 0, "columns_right": 0,
                "map": (("outside", "outside", "outside"), ("outside", "current", "future"), ("future", "future", "future"))}
    top = min(dy for dy, _ in field)
    left = min(dx for _, dx in field)
    right = max(dx for _, dx in field)
    earlier = [(dy, dx) for dy in range(top, 1) for dx in range(left, right + 1) if dy < 0 or dx < 0]
    blind = [p for p in earlier if p not in field]
    margin = 1
    rows = []
    for dy in range(top - margin, 2):
        row = []
        for dx in range(left - margin, right + margin + 1):
            if (dy, dx) == (0, 0):
                row.append("current")
            elif dy > 0 or (dy == 0 and dx > 0):
                row.append("future")
            elif (dy, dx) in field:
                row.append("seen")
            elif top <= dy and left <= dx <= right:
                row.append("blind")
            else:
                row.append("outside")
        rows.append(tuple(row))
    return {
        "pixels_seen": len(field),
        "blind_spot": len(blind),
        "rows_above": -top,
        "columns_left": -left,
        "columns_right": right,
        "map": tuple(rows),
    }
