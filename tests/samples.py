"""Named example objects used across the tests (define once, import everywhere)."""

from __future__ import annotations

import numpy as np

from annoconv import rle
from annoconv.model import Polygon

#: pycocotools' worked example (specs/coco.md §5.4): h = 4, w = 6
WORKED_MASK = np.array(
    [
        [0, 0, 1, 1, 0, 0],
        [0, 1, 1, 1, 1, 0],
        [0, 1, 1, 1, 1, 0],
        [0, 0, 1, 1, 0, 0],
    ],
    bool,
)
WORKED_COUNTS = [5, 2, 1, 8, 1, 2, 5]
WORKED_STRING = "52160J4"

#: a second mask of the same size: rows 0-1 x columns 0-2
WORKED_MASK_2 = np.zeros((4, 6), bool)
WORKED_MASK_2[0:2, 0:3] = True

square_10 = Polygon.from_coco([[0, 0, 10, 0, 10, 10, 0, 10]])
polygon_with_hole = Polygon.from_rings(
    [(0, 0), (6, 0), (6, 6), (0, 6)], [[(2, 2), (2, 4), (4, 4), (4, 2)]]
)
two_part_polygon = Polygon.from_coco(
    [[10.5, 20.0, 60.25, 20.0, 60.25, 70.5, 10.5, 70.5], [80.0, 30.0, 120.0, 30.0, 100.0, 65.0]]
)
empty_mask = rle.empty(4, 6)
full_mask = rle.from_counts([0, 24], 4, 6)
corner_pixel_mask = rle.encode(np.eye(1, 24, 23, dtype=bool).reshape(6, 4).T.copy())
#: the crowd annotation of specs/coco.md §11 (compressed RLE, 230 x 352)
crowd_rle = {"size": [230, 352], "counts": "P`f06P7LRI0n6400Xeg1"}


def blob(rng: np.random.Generator, h: int, w: int, n: int = 4) -> np.ndarray:
    """An image-sized object mask: a seeded union of ellipses (runs of realistic length)."""
    yy, xx = np.mgrid[:h, :w]
    m = np.zeros((h, w), bool)
    for _ in range(n):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(h / 20, h / 3) + 0.5, rng.uniform(w / 20, w / 3) + 0.5
        m |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
    return m
