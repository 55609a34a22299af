"""annoconv.geometry: box conversions, polygon measures, the rasteriser against
pycocotools, and the pixel-edge tracer's exact round trip."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from pycocotools import _mask as coco_mask_c
from pycocotools import mask as coco_mask

from annoconv import geometry, rle
from annoconv.model import Box, Polygon

from .samples import polygon_with_hole, square_10, two_part_polygon
from .strategies import masks, polygon_parts


@pytest.mark.parametrize(
    ("fn", "arg", "expected"),
    [
        (geometry.xywh_to_xyxy, [10, 20, 30, 40], [10, 20, 40, 60]),
        (geometry.xyxy_to_xywh, [10, 20, 40, 60], [10, 20, 30, 40]),
        (geometry.cxcywh_to_xyxy, [5, 5, 4, 2], [3, 4, 7, 6]),
        (geometry.xyxy_to_cxcywh, [3, 4, 7, 6], [5, 5, 4, 2]),
        (geometry.xywh_to_xyxy, [[0, 0, 1, 1], [1.5, 2, 3, 4]], [[0, 0, 1, 1], [1.5, 2, 4.5, 6]]),
    ],
)
def test_box_conversions(fn, arg, expected):
    assert fn(arg).tolist() == expected


def test_box_conversion_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"boxes must have shape \(4,\) or \(n, 4\), got \(3,\)"):
        geometry.xywh_to_xyxy([1, 2, 3])


def test_polygon_measures():
    assert geometry.polygon_area(square_10) == 100.0
    assert geometry.polygon_area(polygon_with_hole) == 32.0
    # specs/coco.md §11 dog: stored area 3212.375, bbox [10.5, 20, 109.5, 50.5]
    assert geometry.polygon_area(two_part_polygon) == 3212.375
    assert geometry.polygon_bbox(two_part_polygon) == [10.5, 20.0, 109.5, 50.5]
    assert geometry.polygon_bbox(Polygon(parts=())) == [0.0, 0.0, 0.0, 0.0]
    assert geometry.ring_area([0, 0, 0, 3, 2, 3, 2, 0]) == -6.0  # counter-clockwise on screen


@pytest.mark.parametrize(
    ("parts", "h", "w", "area", "xywh"),
    [
        ([[0, 0, 2, 0, 2, 2, 0, 2]], 4, 4, 4, [0, 0, 2, 2]),
        ([[0.5, 0.5, 2.5, 0.5, 2.5, 2.5, 0.5, 2.5]], 4, 4, 4, [1, 1, 2, 2]),
        ([[0.49, 0.49, 2.51, 0.49, 2.51, 2.51, 0.49, 2.51]], 4, 4, 9, [0, 0, 3, 3]),
        ([[0.1, 0.1, 0.4, 0.1, 0.4, 0.4]], 3, 3, 0, [0, 0, 0, 0]),
        ([[0, 0, 2, 2, 4, 4]], 6, 6, 0, [0, 0, 0, 0]),  # collinear
        ([[-5, -5, 3, -5, 3, 3, -5, 3]], 4, 4, 9, [0, 0, 3, 3]),  # clipped
        ([[1, 2, 3, 2, 3, 9, 1, 9]], 4, 4, 4, [1, 2, 2, 2]),  # bottom beyond the image
        ([[0, 0, 6, 6, 6, 0, 0, 6]], 6, 6, 18, None),  # bow-tie, even-odd
        ([[1, 1, 6, 1, 1, 5]], 6, 8, 10, [1, 1, 4, 4]),  # the worked trace
    ],
)
def test_rasteriser_edge_cases(parts, h, w, area, xywh):
    r = geometry.polygon_to_rle(parts, h, w)
    assert rle.area(r) == area
    if xywh is not None:
        assert rle.to_bbox(r).tolist() == xywh
    ref = coco_mask.merge(coco_mask.frPyObjects(parts, h, w))
    assert rle.to_string(r.counts) == ref["counts"].decode()


def test_worked_trace_string():
    assert rle.to_string(geometry.polygon_to_rle([[1, 1, 6, 1, 1, 5]], 6, 8).counts) == "742O1O1Ob0"


@given(polygon_parts())
def test_rasteriser_matches_pycocotools(parts):
    for h, w in ((17, 23), (30, 30), (1, 40)):
        ours = geometry.polygon_to_rle(parts, h, w)
        ref = coco_mask.merge(coco_mask.frPyObjects(parts, h, w))
        assert rle.to_string(ours.counts) == ref["counts"].decode()


@pytest.mark.parametrize("k", [1, 2])
def test_degenerate_parts_match_frpoly(k):
    pts = [3.2, 4.7, 9.1, 2.2][: 2 * k]
    ours = geometry.polygon_to_rle([pts], 10, 12)
    ref = coco_mask_c.frPoly([np.array(pts, np.float64)], 10, 12)
    assert rle.to_string(ours.counts) == ref[0]["counts"].decode()


def test_batch_equals_single():
    polys = [square_10, two_part_polygon, polygon_with_hole, [[1, 1, 6, 1, 1, 5]]]
    batch = geometry.polygons_to_rles(polys, 80, 130)
    assert batch == [geometry.polygon_to_rle(p, 80, 130) for p in polys]


def test_holes_are_subtracted():
    r = geometry.polygon_to_rle(polygon_with_hole, 8, 8)
    m = rle.decode(r)
    assert m[0:6, 0:6].sum() == 32 and not m[2:4, 2:4].any()


def test_rasteriser_rejects_absurd_coordinates():
    with pytest.raises(ValueError, match="too large to rasterise"):
        geometry.polygon_to_rle([[0, 0, 1e9, 0, 1e9, 1e9]], 10, 10)


@pytest.mark.parametrize(
    ("height", "width", "message"),
    [(100_000, 100_000, "image of 100000x100000 (height x width) has more than 2147483648 pixels"),
     (-1, 5, "image size must be two non-negative integers, got -1x5"),
     (2.5, 3, "image size must be two non-negative integers, got 2.5x3")],
)
def test_rasteriser_rejects_impossible_image_sizes(height, width, message):
    # before, counts wrapped around uint32 into an RLE that did not sum to height*width
    for call in (lambda: geometry.polygon_to_rle([[0, 0, 3, 0, 3, 3]], height, width),
                 lambda: geometry.shapes_to_rles([Box(x0=0, y0=0, x1=1, y1=1)], height, width),
                 lambda: geometry.paint([], [], height, width)):
        with pytest.raises(ValueError, match=re.escape(message)):
            call()


def test_core_review_edge_cases():
    # a valid non-canonical RLE (touching runs) traces like its canonical form
    r = rle.from_coco({"size": [4, 1], "counts": [0, 2, 0, 2]})
    assert geometry.mask_to_polygon(r).to_coco() == [[0, 0, 1, 0, 1, 4, 0, 4]]
    # a hole of 2 vertices is reported, a short ring survives simplification
    square = [(0, 0), (4, 0), (4, 4), (0, 4)]
    assert geometry.validate_polygon(Polygon.from_rings(square, [[(1, 1), (2, 2)]])) == (
        "part 0 hole 0: 2 vertices; a ring needs at least 3")
    line = Polygon.from_coco([[0, 0, 1, 1]])
    assert geometry.simplify_polygon(line, 0.5) == line
    # values that do not fit the label dtype, and boxes in narrow integer types
    one = rle.encode(np.ones((2, 2), bool))
    with pytest.raises(ValueError, match=re.escape("paint values must fit uint8 (0..255)")):
        geometry.paint([one], [np.int64(300)], 2, 2, dtype=np.uint8)
    assert geometry.xywh_to_xyxy(np.array([200, 0, 100, 1], np.uint8)).tolist() == [200, 0, 300, 1]
    assert geometry.xyxy_to_xywh(np.array([5, 0, 3, 1], np.uint16)).tolist() == [5, 0, -2, 1]


@given(masks(max_side=12))
def test_trace_round_trip_is_exact(m):
    r = rle.encode(m)
    poly = geometry.mask_to_polygon(r)
    assert geometry.polygon_to_rle(poly, *m.shape) == r
    for part in poly.parts:
        assert geometry.ring_area(part.exterior) > 0
        assert all(geometry.ring_area(h) < 0 for h in part.holes)
        assert geometry.validate_polygon(Polygon(parts=(part,))) is None


def test_trace_keeps_parts_and_nested_holes():
    m = np.zeros((9, 9), bool)
    m[0:9, 0:9] = True
    m[1:8, 1:8] = False  # a frame ...
    m[3:6, 3:6] = True  # ... around an island ...
    m[4, 4] = False  # ... with a hole
    m[0, 0] = False
    poly = geometry.mask_to_polygon(m)
    assert len(poly.parts) == 2
    assert sorted(len(p.holes) for p in poly.parts) == [1, 1]
    assert geometry.polygon_to_rle(poly, 9, 9) == rle.encode(m)


def test_trace_diagonal_pixels_are_separate_parts():
    m = np.array([[1, 0], [0, 1]], bool)
    poly = geometry.mask_to_polygon(m)
    assert [p.exterior.tolist() for p in poly.parts] == [[[0, 0], [1, 0], [1, 1], [0, 1]],
                                                          [[1, 1], [2, 1], [2, 2], [1, 2]]]


def test_trace_blob_with_simplification():
    yy, xx = np.mgrid[:60, :80]
    m = ((yy - 30) / 20) ** 2 + ((xx - 40) / 30) ** 2 < 1
    exact = geometry.mask_to_polygon(m)
    simple = geometry.mask_to_polygon(m, tolerance=1.0)
    assert len(simple.parts[0].exterior) < len(exact.parts[0].exterior)
    back = geometry.polygon_to_rle(simple, 60, 80)
    assert rle.iou([back], [rle.encode(m)])[0, 0] > 0.95


def test_empty_mask_traces_to_no_parts():
    assert geometry.mask_to_polygon(np.zeros((3, 3), bool)).parts == ()


def test_validate_polygon_reports_self_intersection():
    assert geometry.validate_polygon([[0, 0, 10, 10, 10, 0, 0, 10]]) == "part 0: Self-intersection[5 5]"
    assert geometry.validate_polygon([[0, 0, 1, 1]]) == "part 0: 2 vertices; a polygon needs at least 3"


def test_shapes_to_rles_every_kind():
    from annoconv.model import Box, Ellipse, Keypoints, Mask, Polyline

    m = np.zeros((10, 10), bool)
    m[2:4, 3:7] = True
    out = geometry.shapes_to_rles(
        [Box(x0=0, y0=0, x1=3, y1=2), Mask.from_array(m), square_10,
         Ellipse(cx=5, cy=5, rx=3, ry=3), Polyline(points=[[0, 0], [5, 5]]),
         Keypoints(points=[[1, 1]], visibility=[2]), None],
        10, 10,
    )
    assert [None if r is None else rle.area(r) for r in out[:3]] == [6, 8, 100]
    assert 25 <= rle.area(out[3]) <= 32  # a 64-gon of radius 3
    assert out[4:] == [None, None, None]
    rotated = geometry.shapes_to_rles([Box(x0=2, y0=2, x1=8, y1=4, rotation=90)], 10, 10)[0]
    assert rle.to_bbox(rotated).tolist() == [4, 0, 2, 6]
    with pytest.raises(ValueError, match="mask is 10x10 but the image is 5x5"):
        geometry.shapes_to_rles([Mask.from_array(m)], 5, 5)


def test_paint_back_to_front_counts_hidden_pixels():
    a = rle.encode(np.ones((3, 3), bool))
    b = rle.encode(np.eye(3, dtype=bool))
    c = rle.empty(3, 3)
    img, hidden = geometry.paint([a, b, c], [7, 300, 9], 3, 3, dtype=np.uint16)
    assert img.dtype == np.uint16 and img.flags.c_contiguous
    assert img.tolist() == [[300, 7, 7], [7, 300, 7], [7, 7, 300]]
    assert hidden == [3, 0, 0]


@given(polygon_parts(max_parts=2).map(lambda parts: [[v * 7.3 for v in p] for p in parts]))
def test_rasteriser_matches_pycocotools_long_edges(parts):
    # coordinates up to ~250 px, so edges span many columns and rows
    for h, w in ((120, 200), (257, 31)):
        ours = geometry.polygon_to_rle(parts, h, w)
        ref = coco_mask.merge(coco_mask.frPyObjects(parts, h, w))
        assert rle.to_string(ours.counts) == ref["counts"].decode()


def test_trace_many_pinches_is_linear_and_exact():
    m = np.tile(np.array([[1, 1, 1], [1, 0, 1], [1, 1, 0]], bool), (1, 1200))
    poly = geometry.mask_to_polygon(m)
    assert geometry.polygon_to_rle(poly, *m.shape) == rle.encode(m)
    assert all(geometry.validate_polygon(Polygon(parts=(p,))) is None for p in poly.parts[:50])
