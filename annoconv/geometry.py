r"""Boxes, polygons and the two bridges between polygons and masks.

Pixel-edge coordinates (as the whole library)::

    x0          x1
    ┌───┬───┬───┐ y0     Box(x0=0, y0=0, x1=3, y1=2): pixels of rows 0-1, columns 0-2.
    │   │   │   │        COCO xywh [0, 0, 3, 2]; xyxy (0, 0, 3, 2); cxcywh (1.5, 1, 3, 2).
    ├───┼───┼───┤        pixel (r, c) covers [c, c+1) x [r, r+1); its centre is (c+.5, r+.5).
    │   │   │   │
    └───┴───┴───┘ y1

API
---
- ``xywh_to_xyxy``, ``xyxy_to_xywh``, ``cxcywh_to_xyxy``, ``xyxy_to_cxcywh``: (4,) or (n, 4).
- ``polygon_area(p)`` (shoelace, holes subtracted), ``polygon_bbox(p)`` (vertex extents, xywh).
- ``polygon_to_rle(p, height, width)``: pixel-exact with pycocotools ``frPyObjects`` + ``merge``
  (COCO's ``annToRLE``): parts are united, holes subtracted. ``polygons_to_rles`` does many.
- ``mask_to_polygon(rle_or_mask)``: the outline traced along pixel edges, separate parts and
  holes kept, so ``polygon_to_rle(mask_to_polygon(r), h, w) == r``; ``tolerance`` simplifies.
- ``validate_polygon(p)``: shapely's verdict (self-intersections, empty rings) as text.

The rasteriser follows pycocotools' ``rleFrPoly`` (specs/coco.md §6): vertices snap to a grid 5x
finer than the pixels, each edge is traced into fine points with the same double-precision
arithmetic, and a pixel column toggles where the outline crosses its centre line. It is
vectorized over all edges of all rings at once. The tracer works on runs, never on pixels:
each column run gives a top and a bottom edge, vertical edges come from comparing each column's
runs with its left neighbour's, and the directed edges are linked into rings by pointer
doubling (``O(E log E)`` array operations, no per-edge Python loop). Exterior rings have a
positive shoelace area in (x, y) with y down (clockwise on screen), holes a negative one; at a
point where two foreground pixels touch diagonally the outline turns so that they stay
separate parts (4-connectivity).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from . import rle as _rle
from .model import Box, Ellipse, Mask, Polygon, PolygonPart, Shape
from .rle import RLE

__all__ = [
    "cxcywh_to_xyxy",
    "ellipse_to_polygon",
    "mask_to_polygon",
    "paint",
    "polygon_area",
    "polygon_bbox",
    "polygon_to_rle",
    "polygons_to_rles",
    "ring_area",
    "shape_to_polygon",
    "shapes_to_rles",
    "simplify_polygon",
    "validate_polygon",
    "xywh_to_xyxy",
    "xyxy_to_cxcywh",
    "xyxy_to_xywh",
]

_I64 = np.int64
_F64 = np.float64

PolygonLike = Polygon | Sequence[Sequence[float]]

#: Largest |coordinate| the rasteriser takes (pycocotools converts 5x to a C int).
_MAX_COORD = 4e8


# --------------------------------------------------------------------------------------
# boxes
# --------------------------------------------------------------------------------------


def _boxes(a: npt.ArrayLike) -> npt.NDArray[Any]:
    arr = np.asarray(a)
    if arr.shape[-1:] != (4,) or arr.ndim > 2:
        raise ValueError(f"boxes must have shape (4,) or (n, 4), got {arr.shape}")
    if arr.dtype.kind in "iub" and arr.dtype != np.uint64:  # x + w in uint8 or int32 would wrap
        return arr.astype(np.int64)
    return arr


def xywh_to_xyxy(xywh: npt.ArrayLike) -> npt.NDArray[Any]:
    """``[x, y, w, h]`` (COCO) to ``[x0, y0, x1, y1]``.

    >>> xywh_to_xyxy([10, 20, 30, 40]).tolist()
    [10, 20, 40, 60]
    >>> xywh_to_xyxy([[0, 0, 1, 1], [2, 2, 0, 0]]).tolist()
    [[0, 0, 1, 1], [2, 2, 2, 2]]
    """
    b = _boxes(xywh).copy()
    b[..., 2:] += b[..., :2]
    return b


def xyxy_to_xywh(xyxy: npt.ArrayLike) -> npt.NDArray[Any]:
    """``[x0, y0, x1, y1]`` to ``[x, y, w, h]``.

    >>> xyxy_to_xywh([10, 20, 40, 60]).tolist()
    [10, 20, 30, 40]
    """
    b = _boxes(xyxy).copy()
    b[..., 2:] -= b[..., :2]
    return b


def cxcywh_to_xyxy(cxcywh: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``[cx, cy, w, h]`` (YOLO, unnormalised) to ``[x0, y0, x1, y1]``.

    >>> cxcywh_to_xyxy([5, 5, 4, 2]).tolist()
    [3.0, 4.0, 7.0, 6.0]
    """
    b = _boxes(cxcywh).astype(_F64)
    half = b[..., 2:] / 2
    return np.concatenate([b[..., :2] - half, b[..., :2] + half], axis=-1)


def xyxy_to_cxcywh(xyxy: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``[x0, y0, x1, y1]`` to ``[cx, cy, w, h]``.

    >>> xyxy_to_cxcywh([3, 4, 7, 6]).tolist()
    [5.0, 5.0, 4.0, 2.0]
    """
    b = _boxes(xyxy).astype(_F64)
    size = b[..., 2:] - b[..., :2]
    return np.concatenate([b[..., :2] + size / 2, size], axis=-1)


# --------------------------------------------------------------------------------------
# polygon measures
# --------------------------------------------------------------------------------------


def _as_polygon(polygon: PolygonLike) -> Polygon:
    if isinstance(polygon, Polygon):
        return polygon
    return Polygon.from_coco(polygon)


def ring_area(ring: npt.ArrayLike) -> float:
    """Signed shoelace area of one ring, (n, 2) or flat; positive when the ring runs
    clockwise on screen (x right, y down).

    >>> ring_area([0, 0, 2, 0, 2, 3, 0, 3])
    6.0
    """
    r = np.asarray(ring, _F64).reshape(-1, 2)
    if len(r) < 3:
        return 0.0
    x, y = r[:, 0], r[:, 1]
    return float((np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)) / 2)


def polygon_area(polygon: PolygonLike) -> float:
    """Geometric area: each part's exterior minus its holes, summed over parts (COCO's
    official ``area`` for polygons is this shoelace sum).

    >>> polygon_area([[0, 0, 10, 0, 10, 10, 0, 10], [20, 20, 22, 20, 22, 22]])
    102.0
    >>> polygon_area(Polygon.from_rings([(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (2, 1), (2, 2), (1, 2)]]))
    15.0
    """
    p = _as_polygon(polygon)
    total = 0.0
    for part in p.parts:
        total += abs(ring_area(part.exterior)) - sum(abs(ring_area(h)) for h in part.holes)
    return total


def polygon_bbox(polygon: PolygonLike) -> list[float]:
    """Vertex extents ``[x, y, w, h]`` (how COCO's own files store a polygon's bbox);
    ``[0, 0, 0, 0]`` for no vertices.

    >>> polygon_bbox([[10.5, 20, 60.25, 20, 60.25, 70.5, 10.5, 70.5], [80, 30, 120, 30, 100, 65]])
    [10.5, 20.0, 109.5, 50.5]
    """
    b = _as_polygon(polygon).bounds()
    if b is None:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(v) for v in b.to_xywh()]


# --------------------------------------------------------------------------------------
# polygon -> RLE (pycocotools rleFrPoly, vectorized)
# --------------------------------------------------------------------------------------


def _rings_to_rles(
    rings: Sequence[npt.NDArray[Any]], height: int, width: int
) -> list[RLE]:
    """The raster of each ring (even-odd rule within the ring), as pycocotools' rleFrPoly,
    all rings in one vectorized pass.

    rleFrPoly traces every edge into points on a 5x finer grid and looks for consecutive
    points that straddle a column centre. Only those pairs matter, and they can be found
    directly: an x-major edge has one every 5 fine steps; a y-major edge has one where its
    rounded x steps across 5c + 2 -> 5c + 3, found by solving for t and then checking the
    neighbouring steps with the exact double expression rleFrPoly evaluates. Pairs that join
    two edges never count (they coincide, or lie left of the image). So the work is
    proportional to the crossings, not to the traced points.
    """
    nring = len(rings)
    if nring == 0:
        return []
    sizes = np.array([len(r) for r in rings], _I64)
    xy = np.concatenate([np.asarray(r, _F64).reshape(-1, 2) for r in rings])
    if xy.size and not np.isfinite(xy).all():
        raise ValueError("polygon coordinates must be finite")
    if xy.size and np.abs(xy).max() > _MAX_COORD:
        raise ValueError(
            f"polygon too large to rasterise: coordinates beyond +-{_MAX_COORD:g} (far outside "
            f"the {height}x{width} image?)"
        )
    # snap: trunc(5 * x + 0.5), in double, C truncation toward zero
    X = np.trunc(5.0 * xy[:, 0] + 0.5).astype(_I64)
    Y = np.trunc(5.0 * xy[:, 1] + 0.5).astype(_I64)
    ring_of = np.repeat(np.arange(nring), sizes)
    first = np.cumsum(sizes) - sizes
    nxt = np.arange(X.size) + 1
    has = sizes > 0
    nxt[(first + sizes - 1)[has]] = first[has]
    xs, ys, xe, ye = X, Y, X[nxt], Y[nxt]
    dx, dy = np.abs(xe - xs), np.abs(ye - ys)
    xmajor = dx >= dy
    flip = np.where(xmajor, xs > xe, ys > ye)
    ax, ay = np.where(flip, xe, xs), np.where(flip, ye, ys)  # the lower endpoint, as rleFrPoly
    bx, by = np.where(flip, xs, xe), np.where(flip, ys, ye)
    col_hi = 5 * (width - 1) + 2  # largest fine x of a column-centre crossing
    idx_parts, ring_parts = [], []

    # x-major edges: points (ax + t, trunc(ay + s t + .5)), t = 0..dx; the pair (t, t+1)
    # crosses a column centre when ax + t = 5c + 2.
    e = np.flatnonzero(xmajor & (dx > 0))
    if e.size:
        s = (by[e] - ay[e]) / dx[e].astype(_F64)
        lo = np.maximum(0, 2 - ax[e])
        lo += (2 - ax[e] - lo) % 5  # first t >= lo with ax + t = 2 (mod 5)
        hi = np.minimum(dx[e] - 1, col_hi - ax[e])
        n = np.where(hi >= lo, (hi - lo) // 5 + 1, 0)
        k = np.repeat(np.arange(e.size), n)
        t = (lo[k] + 5 * _rle._local_index(n)).astype(_F64)
        y0 = ay[e][k].astype(_F64)
        sk = s[k]
        v0 = np.trunc(y0 + sk * t + 0.5)
        v1 = np.trunc(y0 + sk * (t + 1) + 0.5)
        col = (ax[e][k] + t.astype(_I64) - 2) // 5
        ym = np.minimum(v0, v1).astype(_I64)
        idx_parts.append(col * height + np.minimum(np.maximum((ym + 2) // 5, 0), height))
        ring_parts.append(ring_of[e][k])

    # y-major edges: points (trunc(ax + s t + .5), ay + t), t = 0..dy; x moves by at most one
    # fine step per point. The pair where x steps between 5c + 2 and 5c + 3 is a crossing.
    e = np.flatnonzero(~xmajor)
    if e.size:
        x0 = ax[e].astype(_F64)
        s = (bx[e] - ax[e]) / dy[e].astype(_F64)
        xend = np.trunc(x0 + s * dy[e] + 0.5).astype(_I64)  # x at t = dy
        up = s > 0
        # crossings k = 5c + 2 with k in [min x, max x - 1] of the edge and 2 <= k <= col_hi
        kmin = np.maximum(np.where(up, ax[e], xend), 2)
        kmax = np.minimum(np.where(up, xend, ax[e]) - 1, col_hi)
        kmin += (2 - kmin) % 5
        n = np.where(kmax >= kmin, (kmax - kmin) // 5 + 1, 0)
        j = np.repeat(np.arange(e.size), n)
        kk = kmin[j] + 5 * _rle._local_index(n)
        sj, xj, dyj = s[j], x0[j], dy[e][j]
        # going up, the pair is (t, t+1) with x(t) <= k < x(t+1); going down (t-1, t) with
        # x(t-1) > k >= x(t). Estimate t from the line, then fix it with the exact rule.
        target = kk + 0.5 - xj
        with np.errstate(divide="ignore", invalid="ignore"):
            est = np.where(up[j], np.ceil(target / sj) - 1, np.floor(target / sj) + 1)
        t = np.minimum(np.maximum(est, 0), dyj).astype(_I64)
        upj = up[j]

        def x_at(tt: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
            return np.trunc(xj + sj * tt.astype(_F64) + 0.5).astype(_I64)

        for _ in range(4):  # the estimate is off by at most a step: check, fix, re-check
            xt = x_at(t)
            xn = x_at(np.where(upj, np.minimum(t + 1, dyj), np.maximum(t - 1, 0)))
            # up: want x(t) <= k < x(t+1); down: want x(t-1) > k >= x(t)
            step = np.where(upj, (xn <= kk).astype(_I64) - (xt > kk), (xt > kk).astype(_I64) - (xn <= kk))
            if not step.any():
                break
            t = np.minimum(np.maximum(t + step, 0), dyj)
        ym = ay[e][j] + np.where(up[j], t, t - 1)
        col = (kk - 2) // 5
        idx_parts.append(col * height + np.minimum(np.maximum((ym + 2) // 5, 0), height))
        ring_parts.append(ring_of[e][j])

    total = height * width
    if not idx_parts:
        return [_rle.empty(height, width) for _ in range(nring)]
    span = total + 1
    key = np.sort(np.concatenate(ring_parts) * span + np.concatenate(idx_parts))
    # an index toggled an even number of times cancels out (pycocotools merges the zero
    # runs): keep each key whose run of equal keys is odd; drop toggles at the very end
    if key.size > 1:
        starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        lengths = np.diff(np.append(starts, key.size))
        key = key[starts[(lengths & 1) == 1]]
    rid = key // span
    idx = key - rid * span
    inside = idx < total
    rid, idx = rid[inside], idx[inside]
    # counts of every ring in one array: each toggle's distance from the previous toggle
    # (or 0) of its ring, plus one last run per ring up to the end of the image
    bounds = np.searchsorted(rid, np.arange(nring + 1))
    n = np.diff(bounds)
    counts = np.empty(idx.size + nring, _I64)
    slot = np.arange(idx.size) + rid  # room for one more count after each ring's toggles
    prev = np.empty_like(idx)
    prev[1:] = idx[:-1]
    firsts = bounds[:-1][n > 0]
    prev[firsts] = 0
    counts[slot] = idx - prev
    lasts = bounds[1:] + np.arange(nring)  # where each ring's final count goes
    last_toggle = np.zeros(nring, _I64)
    has = n > 0
    last_toggle[has] = idx[bounds[1:][has] - 1]
    counts[lasts] = total - last_toggle
    counts = counts.astype(np.uint32)
    starts_out = bounds[:-1] + np.arange(nring)
    return [RLE._make(counts[a : b + 1], height, width) for a, b in zip(starts_out.tolist(), lasts.tolist())]


def _check_image_size(height: Any, width: Any) -> None:
    """The size an RLE can have: two non-negative integers, at most ``rle.MAX_PIXELS``
    pixels (ValueError otherwise, which writers turn into a located ConversionError)."""
    if not (isinstance(height, (int, np.integer)) and isinstance(width, (int, np.integer))) \
            or isinstance(height, bool) or isinstance(width, bool) or height < 0 or width < 0:
        raise ValueError(f"image size must be two non-negative integers, got {height!r}x{width!r} "
                         "(height x width)")
    if height * width > _rle.MAX_PIXELS:
        raise ValueError(f"image of {height}x{width} (height x width) has more than "
                         f"{_rle.MAX_PIXELS} pixels, the most a mask may have")


def polygons_to_rles(
    polygons: Sequence[PolygonLike], height: int, width: int
) -> list[RLE]:
    """Rasterise many polygons of one image size in one vectorized pass.

    Each polygon is the union of its parts, each part its exterior minus its holes; a COCO
    polygon is a list of flat ``[x0, y0, x1, y1, ...]`` parts. Same pixels as pycocotools
    ``merge(frPyObjects(parts, h, w))``, bit for bit.

    >>> [_rle.area(r) for r in polygons_to_rles([[[0, 0, 10, 0, 10, 10, 0, 10]], [[0.5, 0.5, 9.5, 0.5, 9.5, 9.5, 0.5, 9.5]]], 20, 20)]
    [100, 81]
    """
    _check_image_size(height, width)
    rings: list[npt.NDArray[Any]] = []
    layout: list[list[int]] = []  # per polygon, the number of holes of each part
    for p in polygons:
        if isinstance(p, Polygon):
            layout.append([len(part.holes) for part in p.parts])
            rings.extend(p.rings())
        else:  # COCO parts: no model objects needed
            parts = [np.asarray(q, _F64) for q in p]
            for q in parts:
                if q.ndim != 1 or q.size % 2:
                    raise ValueError(f"a COCO polygon part is a flat list of x, y pairs; got {q.size} values")
            layout.append([0] * len(parts))
            rings.extend(q.reshape(-1, 2) for q in parts)
    raster = _rings_to_rles(rings, height, width)
    out: list[RLE] = []
    i = 0
    for holes_per_part in layout:
        part_rles = []
        for n_holes in holes_per_part:
            ext = raster[i]
            if n_holes:
                ext = _rle.difference(ext, raster[i + 1 : i + 1 + n_holes])
            part_rles.append(ext)
            i += 1 + n_holes
        if not part_rles:
            out.append(_rle.empty(height, width))
        elif len(part_rles) == 1:
            out.append(part_rles[0])
        else:
            out.append(_rle.merge(part_rles))
    return out


def polygon_to_rle(polygon: PolygonLike, height: int, width: int) -> RLE:
    """Rasterise one polygon (a model :class:`Polygon` or COCO parts), pixel-exact with
    pycocotools; holes are subtracted.

    >>> r = polygon_to_rle([[0, 0, 10, 0, 10, 10, 0, 10]], 20, 20)
    >>> _rle.area(r), _rle.to_bbox(r).tolist()
    (100, [0.0, 0.0, 10.0, 10.0])
    >>> _rle.area(polygon_to_rle([[1, 1, 6, 1, 1, 5]], 6, 8))
    10
    """
    return polygons_to_rles([polygon], height, width)[0]


# --------------------------------------------------------------------------------------
# mask -> polygon (pixel-edge tracing on runs)
# --------------------------------------------------------------------------------------

# directions: 0 east (+x), 1 south (+y), 2 west, 3 north; "right" of d is (d + 1) % 4
_DX = np.array([1, 0, -1, 0], _I64)
_DY = np.array([0, 1, 0, -1], _I64)


def _column_pieces(r: RLE) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Foreground runs split at column ends: (column, first row, end row exclusive)."""
    h = r.height
    s, e = _rle._fg_runs(r)
    if s.size == 0:
        z = np.zeros(0, _I64)
        return z, z, z
    c0 = s // h
    c1 = (e - 1) // h
    n = c1 - c0 + 1
    run = np.repeat(np.arange(s.size), n)
    col = c0[run] + _rle._local_index(n)
    r0 = np.maximum(s[run], col * h) - col * h
    r1 = np.minimum(e[run], (col + 1) * h) - col * h
    return col, r0, r1


def _interval_difference(
    key_a: npt.NDArray[np.int64], a0: npt.NDArray[np.int64], a1: npt.NDArray[np.int64],
    key_b: npt.NDArray[np.int64], b0: npt.NDArray[np.int64], b1: npt.NDArray[np.int64],
    stride: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per key (column), the parts of A's intervals not covered by B's. Intervals of one
    set do not overlap. Returns (key, start, end)."""
    pos = np.concatenate([key_a * stride + a0, key_a * stride + a1, key_b * stride + b0, key_b * stride + b1])
    delta = np.concatenate([np.full(a0.size, 1, _I64), np.full(a0.size, -1, _I64),
                            np.full(b0.size, 2, _I64), np.full(b0.size, -2, _I64)])
    if pos.size == 0:
        z = np.zeros(0, _I64)
        return z, z, z
    order = np.argsort(pos, kind="stable")
    pos, delta = pos[order], delta[order]
    last = np.flatnonzero(np.append(pos[1:] != pos[:-1], True))
    cover = np.cumsum(delta)[last]
    upos = pos[last]
    inside = cover == 1
    change = np.flatnonzero(np.diff(np.concatenate(([False], inside))).astype(bool))
    edges = upos[change]
    start, end = edges[0::2], edges[1::2]
    return start // stride, start % stride, end % stride


def _trace_rings(r: RLE) -> list[npt.NDArray[np.int64]]:
    """Closed rings of corner vertices (x, y), exteriors clockwise on screen (positive
    shoelace area), holes counter-clockwise."""
    h = r.height
    col, r0, r1 = _column_pieces(r)
    if col.size == 0:
        return []
    stride = h + 1
    # horizontal unit edges: top of each column piece runs east, bottom runs west
    hx0 = np.concatenate([col, col + 1])
    hy = np.concatenate([r0, r1])
    hdir = np.concatenate([np.zeros(col.size, _I64), np.full(col.size, 2, _I64)])
    # vertical edges at x = c: column c foreground, column c - 1 background -> north;
    # column c - 1 foreground, column c background -> south
    shifted = col + 1
    nk, n0, n1 = _interval_difference(col, r0, r1, shifted, r0, r1, stride)
    sk, s0, s1 = _interval_difference(shifted, r0, r1, col, r0, r1, stride)
    # edge arrays: start point, end point, direction
    sx = np.concatenate([hx0, nk, sk])
    sy = np.concatenate([hy, n1, s0])
    ex = np.concatenate([hx0 + _DX[hdir], nk, sk])
    ey = np.concatenate([hy, n0, s1])
    dirs = np.concatenate([hdir, np.full(nk.size, 3, _I64), np.full(sk.size, 1, _I64)])
    n = sx.size
    # successor: the edge leaving this edge's end point, preferring a right turn, then
    # straight on, then a left turn (at a diagonal pinch both right and left exist)
    vstride = h + 2
    start_key = ((sx + 1) * vstride + sy) * 4 + dirs
    order = np.argsort(start_key)
    sorted_keys = start_key[order]
    end_vertex = ((ex + 1) * vstride + ey) * 4
    succ = np.full(n, -1, _I64)
    for turn in (1, 0, 3):
        want = end_vertex + (dirs + turn) % 4
        pos = np.searchsorted(sorted_keys, want)
        pos_c = np.minimum(pos, n - 1)
        found = (sorted_keys[pos_c] == want) & (succ < 0)
        succ[found] = order[pos_c[found]]
    if (succ < 0).any():  # cannot happen for a valid RLE
        raise AssertionError("unclosed outline while tracing a mask")
    # ring label: the smallest edge index on each cycle (pointer doubling)
    label = np.arange(n)
    jump = succ.copy()
    steps = 1
    while steps < n:
        label = np.minimum(label, label[jump])
        jump = jump[jump]
        steps *= 2
    # rank along each cycle from its label edge: cut each cycle before its label and
    # count steps to the cut (list ranking by pointer doubling)
    is_label = label == np.arange(n)
    nxt = np.where(is_label[succ], -1, succ)
    dist = np.where(nxt >= 0, 1, 0).astype(_I64)
    ptr = nxt.copy()
    while (ptr >= 0).any():
        live = ptr >= 0
        dist[live] += dist[ptr[live]]
        ptr_new = np.full(n, -1, _I64)
        ptr_new[live] = ptr[ptr[live]]
        ptr = ptr_new
    seq = np.lexsort((-dist, label))  # by ring, then in travel order from the label edge
    lab = label[seq]
    d = dirs[seq]
    # keep the start point of every edge whose direction differs from the previous edge's
    ring_start = np.concatenate(([True], lab[1:] != lab[:-1]))
    prev = np.empty_like(d)
    prev[1:] = d[:-1]
    starts_idx = np.flatnonzero(ring_start)
    ends_idx = np.append(starts_idx[1:], seq.size) - 1
    prev[starts_idx] = d[ends_idx]  # wrap around each ring
    corner = d != prev
    px, py = sx[seq][corner], sy[seq][corner]
    lab_c = lab[corner]
    cut = np.flatnonzero(np.concatenate(([True], lab_c[1:] != lab_c[:-1])))
    pts = np.stack([px, py], axis=1)
    return np.split(pts, cut[1:])


def _split_pinched(ring: npt.NDArray[np.int64]) -> list[npt.NDArray[np.int64]]:
    """Split a ring that passes twice through one vertex (a hole touching its exterior, or
    two holes touching, at a single point) into simple rings, so that shapely and every
    GIS tool accept the result. One pass with a stack: a repeated vertex closes the loop
    since its first visit. Such rings are rare; most return unchanged at once."""
    key = ring[:, 0] * (int(ring[:, 1].max()) + 1) + ring[:, 1]
    if np.unique(key).size == key.size:
        return [ring]
    out: list[npt.NDArray[np.int64]] = []
    stack: list[int] = []  # indices into ring
    where: dict[int, int] = {}  # vertex key -> its position on the stack
    for i, k in enumerate(key.tolist()):  # corners of a pinched ring only
        j = where.get(k)
        if j is None:
            where[k] = len(stack)
            stack.append(i)
            continue
        loop = stack[j:]
        out.append(ring[loop])
        for q in loop[1:]:
            del where[int(key[q])]
        del stack[j + 1 :]
    out.append(ring[stack])
    return out


def _assign_holes(
    exteriors: list[npt.NDArray[np.int64]], holes: list[npt.NDArray[np.int64]]
) -> list[list[npt.NDArray[np.int64]]]:
    """For each exterior, the holes it immediately encloses."""
    out: list[list[npt.NDArray[np.int64]]] = [[] for _ in exteriors]
    if not holes:
        return out
    if len(exteriors) == 1:
        out[0] = list(holes)
        return out
    import shapely

    ext_polys = np.empty(len(exteriors), dtype=object)
    ext_polys[:] = [shapely.Polygon(e) for e in exteriors]
    areas = shapely.area(ext_polys)
    # A test point inside the foreground just beside each hole: the hole's first corner
    # (x, y) starts an edge; the foreground pixel on the edge's right-hand side contains
    # the point half a pixel along the edge and half a pixel to its right.
    pts = []
    for hring in holes:
        (x0, y0), (x1, y1) = hring[0], hring[1]
        ux, uy = np.sign(x1 - x0), np.sign(y1 - y0)
        rx, ry = -uy, ux  # right of (ux, uy) with y down
        pts.append((x0 + 0.5 * ux + 0.5 * rx, y0 + 0.5 * uy + 0.5 * ry))
    pt_arr = np.array(pts, _F64)
    tree = shapely.STRtree(ext_polys)
    pi, ei = tree.query(shapely.points(pt_arr), predicate="within")
    best: dict[int, int] = {}
    for p, e in zip(pi.tolist(), ei.tolist(), strict=True):
        if p not in best or areas[e] < areas[best[p]]:
            best[p] = e
    for k, hring in enumerate(holes):
        out[best.get(k, 0)].append(hring)
    return out


def mask_to_polygon(
    mask: RLE | Mask | npt.ArrayLike, *, tolerance: float = 0.0
) -> Polygon:
    """Trace a mask's outline along pixel edges: one part per 4-connected foreground
    component, each with its holes, vertices only at corners.

    With ``tolerance == 0`` the result rasterises back to exactly the same mask
    (``polygon_to_rle``); a positive ``tolerance`` (pixels) simplifies each ring with
    shapely (topology preserved), which approximates.

    >>> import numpy as np
    >>> m = np.zeros((5, 5), bool); m[1:4, 1:4] = True; m[2, 2] = False
    >>> p = mask_to_polygon(m)
    >>> p.parts[0].exterior.tolist(), [h.tolist() for h in p.parts[0].holes]
    ([[1, 1], [4, 1], [4, 4], [1, 4]], [[[2, 3], [3, 3], [3, 2], [2, 2]]])
    >>> polygon_to_rle(p, 5, 5) == _rle.encode(m)
    True
    """
    if isinstance(mask, Mask):
        r = mask.rle
    elif isinstance(mask, RLE):
        r = mask
    else:
        r = _rle.encode(mask)
    r = r.canonical()  # touching runs ([0, 2, 0, 2], valid COCO) as one: the tracer needs runs apart
    rings = [piece for ring in _trace_rings(r) for piece in _split_pinched(ring)]
    exteriors = [g for g in rings if ring_area(g) > 0]
    holes = [g for g in rings if ring_area(g) < 0]
    grouped = _assign_holes(exteriors, holes)
    poly = Polygon(
        parts=tuple(PolygonPart(exterior=e, holes=tuple(hs)) for e, hs in zip(exteriors, grouped, strict=True))
    )
    if tolerance > 0:
        poly = simplify_polygon(poly, tolerance)
    return poly


def simplify_polygon(polygon: Polygon, tolerance: float) -> Polygon:
    """Simplify every ring (Douglas-Peucker through shapely, topology preserved); parts or
    holes that vanish are dropped.

    >>> p = Polygon.from_coco([[0, 0, 5, 0.1, 10, 0, 10, 10, 0, 10]])
    >>> simplify_polygon(p, 0.5).parts[0].exterior.tolist()
    [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]]
    """
    import shapely

    parts = []
    for part in polygon.parts:
        if len(part.exterior) < 3:  # no area to simplify: kept as it is
            parts.append(part)
            continue
        geom = shapely.Polygon(part.exterior, [h for h in part.holes if len(h) >= 3])
        simple = shapely.simplify(geom, tolerance, preserve_topology=True)
        if simple.is_empty:
            continue
        for g in getattr(simple, "geoms", [simple]):
            ext = np.asarray(g.exterior.coords)[:-1]
            hs = tuple(np.asarray(i.coords)[:-1] for i in g.interiors)
            parts.append(PolygonPart(exterior=ext, holes=hs))
    return Polygon(parts=tuple(parts))


def validate_polygon(polygon: PolygonLike) -> str | None:
    """None when every part is a valid simple polygon, else shapely's reason, e.g.
    ``"part 0: Self-intersection[5 5]"``. Rasterising an invalid polygon still works
    (even-odd rule, as pycocotools); this tells a user why the pixels may surprise.

    >>> validate_polygon([[0, 0, 10, 10, 10, 0, 0, 10]])
    'part 0: Self-intersection[5 5]'
    >>> validate_polygon([[0, 0, 10, 0, 10, 10]]) is None
    True
    """
    import shapely

    p = _as_polygon(polygon)
    for i, part in enumerate(p.parts):
        if len(part.exterior) < 3:
            return f"part {i}: {len(part.exterior)} vertices; a polygon needs at least 3"
        for j, h in enumerate(part.holes):
            if len(h) < 3:
                return f"part {i} hole {j}: {len(h)} vertices; a ring needs at least 3"
        geom = shapely.Polygon(part.exterior, list(part.holes))
        reason = shapely.is_valid_reason(geom)
        if reason != "Valid Geometry":
            return f"part {i}: {reason}"
    return None


# --------------------------------------------------------------------------------------
# any shape -> pixels, and flattening many masks into one label image
# --------------------------------------------------------------------------------------


def ellipse_to_polygon(ellipse: Ellipse, *, vertices: int = 64) -> Polygon:
    """A polygon with ``vertices`` points on the ellipse (an approximation; report it).

    >>> len(ellipse_to_polygon(Ellipse(cx=5, cy=5, rx=2, ry=1), vertices=8).parts[0].exterior)
    8
    """
    t = np.linspace(0.0, 2 * np.pi, vertices, endpoint=False)
    rot = np.radians(float(ellipse.rotation))
    x, y = ellipse.rx * np.cos(t), ellipse.ry * np.sin(t)
    px = ellipse.cx + x * np.cos(rot) - y * np.sin(rot)
    py = ellipse.cy + x * np.sin(rot) + y * np.cos(rot)
    return Polygon.from_rings(np.stack([px, py], axis=1))


def shape_to_polygon(shape: Box | Polygon | Ellipse) -> Polygon:
    """The polygon a region shape covers: a box's four (possibly rotated) corners, an
    ellipse's 64-gon, a polygon itself.

    >>> shape_to_polygon(Box(x0=0, y0=0, x1=2, y1=1)).to_coco()
    [[0.0, 0.0, 2.0, 0.0, 2.0, 1.0, 0.0, 1.0]]
    """
    if isinstance(shape, Polygon):
        return shape
    if isinstance(shape, Box):
        return Polygon.from_rings(shape.corners())
    if isinstance(shape, Ellipse):
        return ellipse_to_polygon(shape)
    raise TypeError(f"{type(shape).__name__} covers no area")


def shapes_to_rles(
    shapes: Sequence[Shape | None], height: int, width: int
) -> list[RLE | None]:
    """Pixels of each shape at image size ``height`` x ``width``: masks as they are (they
    must have that size), boxes, polygons and ellipses rasterised with pycocotools' rule in
    one batch; shapes without area (polylines, keypoints, None) give None.

    >>> out = shapes_to_rles([Box(x0=0, y0=0, x1=2, y1=2), None], 4, 4)
    >>> _rle.area(out[0]), out[1]
    (4, None)
    """
    _check_image_size(height, width)
    out: list[RLE | None] = [None] * len(shapes)
    todo: list[int] = []
    polys: list[Polygon] = []
    for i, s in enumerate(shapes):
        if isinstance(s, Mask):
            if s.rle.size != (height, width):
                raise ValueError(
                    f"mask is {s.rle.height}x{s.rle.width} but the image is {height}x{width} "
                    "(height x width)"
                )
            out[i] = s.rle
        elif isinstance(s, (Box, Polygon, Ellipse)):
            todo.append(i)
            polys.append(shape_to_polygon(s))
    for i, r in zip(todo, polygons_to_rles(polys, height, width), strict=True):
        out[i] = r
    return out


def paint(
    rles: Sequence[RLE],
    values: Sequence[int],
    height: int,
    width: int,
    *,
    dtype: npt.DTypeLike = np.uint32,
    background: int = 0,
) -> tuple[npt.NDArray[Any], list[int]]:
    """Flatten masks into one (height, width) label image: mask i paints ``values[i]`` over
    what earlier masks painted (so order the masks back to front). Returns the image and,
    per mask, how many of its pixels later masks hid (for the conversion report).

    >>> a = _rle.encode(np.ones((2, 2), bool)); b = _rle.encode(np.eye(2, dtype=bool))
    >>> img, hidden = paint([a, b], [1, 2], 2, 2, dtype=np.uint8)
    >>> img.tolist(), hidden
    ([[2, 1], [1, 2]], [2, 0])
    """
    if len(rles) != len(values):
        raise ValueError("paint needs one value per mask")
    _check_image_size(height, width)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None and any(not info.min <= int(v) <= info.max for v in (*values, background)):
        raise ValueError(f"paint values must fit {np.dtype(dtype)} ({info.min}..{info.max})")
    flat = np.full(height * width, background, dtype=dtype)  # column-major, like the runs
    owner = np.full(height * width, -1, dtype=np.int32 if len(rles) < 2**31 else np.int64)
    for i, r in enumerate(rles):
        if r.size != (height, width):
            raise ValueError(f"mask {i} is {r.height}x{r.width}, expected {height}x{width}")
        s, e = _rle._fg_runs(r)
        if s.size == 0:
            continue
        idx = np.repeat(s, e - s) + _rle._local_index(e - s)
        flat[idx] = values[i]
        owner[idx] = i
    shown = np.bincount(owner[owner >= 0], minlength=len(rles))
    hidden = [_rle.area(r) - int(n) for r, n in zip(rles, shown, strict=True)]
    return flat.reshape(width, height).T.copy(), hidden
