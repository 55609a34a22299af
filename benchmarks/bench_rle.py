"""annoconv.rle against pycocotools' C codec, side by side in one process.

    python benchmarks/bench_rle.py [--repeat 30]

Masks are seeded blob-like shapes (unions of ellipses, as object masks look), at 480x640 and
1080x1920, given in C order (what numpy, PIL and most pipelines produce) and in Fortran order
(pycocotools' native layout). pycocotools needs Fortran order, so its C-order figure includes
the ``np.asfortranarray`` copy a user has to make. Each figure is the median over
``--repeat`` runs; ratio = annoconv / pycocotools (below 1 is faster). A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from importlib.metadata import version

import numpy as np
from pycocotools import mask as coco_mask

import annoconv
from annoconv import rle


def blob_mask(rng: np.random.Generator, h: int, w: int, n: int = 6) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    m = np.zeros((h, w), bool)
    for _ in range(n):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(h / 20, h / 4), rng.uniform(w / 20, w / 4)
        m |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
    return m


def paired_us(ours: Callable[[], object], theirs: Callable[[], object], repeat: int,
              per: int = 1) -> tuple[float, float]:
    """Median µs of each function, timed alternately so that noise on a shared machine
    hits both sides alike; ``per`` divides by the items one call handles."""
    ours(), theirs()
    a, b = [], []
    for _ in range(repeat):
        for fn, out in ((ours, a), (theirs, b)):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    return statistics.median(a) * 1e6 / per, statistics.median(b) * 1e6 / per


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows: list[tuple[str, float, float]] = []

    def row(name: str, ours: Callable[[], object], theirs: Callable[[], object], rep: int,
            per: int = 1) -> None:
        rows.append((name, *paired_us(ours, theirs, rep, per)))

    for h, w in ((480, 640), (1080, 1920)):
        masks = [blob_mask(rng, h, w) for _ in range(5)]
        rep = max(5, args.repeat // (4 if h > 1000 else 1))
        cm = [np.ascontiguousarray(m) for m in masks]
        fm = [np.asfortranarray(m) for m in masks]
        # pycocotools takes uint8 in Fortran order: C-ordered input costs it a copy
        row(f"encode {h}x{w} C-order", lambda: [rle.encode(m) for m in cm],
            lambda: [coco_mask.encode(np.asfortranarray(m.view(np.uint8))) for m in cm], rep, 5)
        row(f"encode {h}x{w} F-order", lambda: [rle.encode(m) for m in fm],
            lambda: [coco_mask.encode(m.view(np.uint8)) for m in fm], rep, 5)
        ours_rles = [rle.encode(m) for m in masks]
        coco_rles = [coco_mask.encode(m.view(np.uint8)) for m in fm]
        for a, b in zip(ours_rles, coco_rles, strict=True):  # same bytes, or the figures mean nothing
            assert rle.to_string(a.counts) == b["counts"].decode()
        row(f"decode {h}x{w} (RLE object -> mask)", lambda: [rle.decode(r) for r in ours_rles],
            lambda: [coco_mask.decode(r) for r in coco_rles], rep, 5)
        row(f"mask -> compressed string {h}x{w} (C-order)",
            lambda: [rle.to_coco(rle.encode(m)) for m in cm],
            lambda: [coco_mask.encode(np.asfortranarray(m.view(np.uint8))) for m in cm], rep, 5)
        row(f"mask -> compressed string {h}x{w} (F-order)",
            lambda: [rle.to_coco(rle.encode(m)) for m in fm],
            lambda: [coco_mask.encode(m.view(np.uint8)) for m in fm], rep, 5)
        strings = [r["counts"] for r in coco_rles]
        row(f"compressed string -> mask {h}x{w}",
            lambda: [rle.decode(rle.from_string(s, h, w)) for s in strings],
            lambda: [coco_mask.decode({"size": [h, w], "counts": s}) for s in strings], rep, 5)

    # batch of 100 masks at 480x640
    batch = np.stack([blob_mask(rng, 480, 640) for _ in range(100)])  # (n, h, w), C order
    hwn = np.asfortranarray(batch.transpose(1, 2, 0).view(np.uint8))  # pycocotools' layout
    rep = max(3, args.repeat // 5)
    row("batch encode 100 x 480x640 (n,h,w) C stack", lambda: rle.encode_batch(batch),
        lambda: coco_mask.encode(np.asfortranarray(batch.transpose(1, 2, 0).view(np.uint8))), rep)
    # the same (h, w, n) Fortran array for both; annoconv takes it as (n, h, w) via a view
    row("batch encode 100 x 480x640, (h,w,n) F array for both",
        lambda: rle.encode_batch(hwn.transpose(2, 0, 1)), lambda: coco_mask.encode(hwn), rep)
    ours_batch = rle.encode_batch(batch)
    coco_batch = coco_mask.encode(hwn)
    row("batch decode 100 x 480x640", lambda: rle.decode_batch(ours_batch),
        lambda: coco_mask.decode(coco_batch), rep)

    # polygon -> RLE (pycocotools frPyObjects + merge, as COCO.annToRLE), 200 polygons
    from annoconv import geometry

    theta = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    polys = []
    for _ in range(200):
        cx, cy, r = rng.uniform(100, 540), rng.uniform(100, 380), rng.uniform(10, 90)
        rad = r * (1 + 0.25 * rng.standard_normal(theta.size)).clip(0.3, 1.8)
        polys.append([np.round(np.stack([cx + rad * np.cos(theta), cy + rad * np.sin(theta)], 1).ravel(), 2).tolist()])

    def coco_polys() -> list:
        return [coco_mask.merge(coco_mask.frPyObjects(p, 480, 640)) for p in polys]

    row("polygon -> RLE, 200 x 40-vertex polygons, per polygon (batched)",
        lambda: geometry.polygons_to_rles(polys, 480, 640), coco_polys, rep, 200)
    row("polygon -> RLE, one call per polygon",
        lambda: [geometry.polygon_to_rle(p, 480, 640) for p in polys], coco_polys, rep, 200)
    for a, c in zip(geometry.polygons_to_rles(polys, 480, 640), coco_polys(), strict=True):
        assert rle.to_string(a.counts) == c["counts"].decode()

    print(f"annoconv {annoconv.__version__}, pycocotools {version('pycocotools')}, "
          f"numpy {np.__version__}, Python {platform.python_version()}, {platform.machine()}")
    print(f"{'operation':<58} {'annoconv µs':>12} {'pycocotools µs':>15} {'ratio':>7}")
    for name, ours, theirs in rows:
        print(f"{name:<58} {ours:>12.1f} {theirs:>15.1f} {ours / theirs:>7.2f}")


if __name__ == "__main__":
    main()
