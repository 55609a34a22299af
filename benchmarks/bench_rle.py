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


def median_us(fn: Callable[[], object], repeat: int, number: int = 1) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t) / number)
    return statistics.median(times) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows: list[tuple[str, float, float]] = []
    for h, w in ((480, 640), (1080, 1920)):
        masks = [blob_mask(rng, h, w) for _ in range(5)]
        rep = max(5, args.repeat // (4 if h > 1000 else 1))
        for order in ("C", "F"):
            ms = [np.asfortranarray(m) if order == "F" else np.ascontiguousarray(m) for m in masks]
            u8 = [m.view(np.uint8) for m in ms]
            ours = median_us(lambda ms=ms: [rle.encode(m) for m in ms], rep) / len(ms)
            if order == "F":
                theirs = median_us(lambda u8=u8: [coco_mask.encode(m) for m in u8], rep) / len(ms)
            else:
                theirs = median_us(lambda u8=u8: [coco_mask.encode(np.asfortranarray(m)) for m in u8], rep) / len(ms)
            rows.append((f"encode {h}x{w} {order}-order", ours, theirs))
        ours_rles = [rle.encode(m) for m in masks]
        coco_rles = [coco_mask.encode(np.asfortranarray(m.view(np.uint8))) for m in masks]
        for a, b in zip(ours_rles, coco_rles, strict=True):  # same bytes, or the figures mean nothing
            assert rle.to_string(a.counts) == b["counts"].decode()
        rows.append((f"decode {h}x{w} (RLE object -> mask)",
                     median_us(lambda: [rle.decode(r) for r in ours_rles], rep) / 5,
                     median_us(lambda: [coco_mask.decode(r) for r in coco_rles], rep) / 5))
        fm = [np.asfortranarray(m.view(np.uint8)) for m in masks]
        rows.append((f"mask -> compressed string {h}x{w} (F-order)",
                     median_us(lambda: [rle.to_coco(rle.encode(m)) for m in fm], rep) / 5,
                     median_us(lambda: [coco_mask.encode(m) for m in fm], rep) / 5))
        cm = [np.ascontiguousarray(m) for m in masks]
        rows.append((f"mask -> compressed string {h}x{w} (C-order)",
                     median_us(lambda: [rle.to_coco(rle.encode(m)) for m in cm], rep) / 5,
                     median_us(lambda: [coco_mask.encode(np.asfortranarray(m.view(np.uint8))) for m in cm], rep) / 5))
        strings = [r["counts"] for r in coco_rles]
        rows.append((f"compressed string -> mask {h}x{w}",
                     median_us(lambda: [rle.decode(rle.from_string(s, h, w)) for s in strings], rep) / 5,
                     median_us(lambda: [coco_mask.decode({"size": [h, w], "counts": s}) for s in strings], rep) / 5))
    # batch of 100 masks at 480x640
    batch = np.stack([blob_mask(rng, 480, 640) for _ in range(100)])  # (n, h, w), C order
    hwn = np.asfortranarray(batch.transpose(1, 2, 0).view(np.uint8))
    rep = max(3, args.repeat // 5)
    rows.append(("batch encode 100 x 480x640 (n,h,w) C stack",
                 median_us(lambda: rle.encode_batch(batch), rep),
                 median_us(lambda: coco_mask.encode(np.asfortranarray(batch.transpose(1, 2, 0).view(np.uint8))), rep)))
    rows.append(("batch encode 100 x 480x640, pycocotools' native (h,w,n) F",
                 median_us(lambda: rle.encode_batch(batch), rep),
                 median_us(lambda: coco_mask.encode(hwn), rep)))
    ours_batch = rle.encode_batch(batch)
    coco_batch = coco_mask.encode(hwn)
    rows.append(("batch decode 100 x 480x640",
                 median_us(lambda: rle.decode_batch(ours_batch), rep),
                 median_us(lambda: coco_mask.decode(coco_batch), rep)))

    # polygon -> RLE (pycocotools frPyObjects + merge, as COCO.annToRLE), 200 polygons
    from annoconv import geometry

    theta = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    polys = []
    for _ in range(200):
        cx, cy, r = rng.uniform(100, 540), rng.uniform(100, 380), rng.uniform(10, 90)
        rad = r * (1 + 0.25 * rng.standard_normal(theta.size)).clip(0.3, 1.8)
        polys.append([np.round(np.stack([cx + rad * np.cos(theta), cy + rad * np.sin(theta)], 1).ravel(), 2).tolist()])
    rows.append(("polygon -> RLE, 200 x 40-vertex polygons, per polygon (batched)",
                 median_us(lambda: geometry.polygons_to_rles(polys, 480, 640), rep) / 200,
                 median_us(lambda: [coco_mask.merge(coco_mask.frPyObjects(p, 480, 640)) for p in polys], rep) / 200))
    rows.append(("polygon -> RLE, one call per polygon",
                 median_us(lambda: [geometry.polygon_to_rle(p, 480, 640) for p in polys], rep) / 200,
                 median_us(lambda: [coco_mask.merge(coco_mask.frPyObjects(p, 480, 640)) for p in polys], rep) / 200))
    for a, p in zip(geometry.polygons_to_rles(polys, 480, 640), polys, strict=True):
        assert rle.to_string(a.counts) == coco_mask.merge(coco_mask.frPyObjects(p, 480, 640))["counts"].decode()

    print(f"annoconv {annoconv.__version__}, pycocotools {version('pycocotools')}, "
          f"numpy {np.__version__}, Python {platform.python_version()}, {platform.machine()}")
    print(f"{'operation':<58} {'annoconv µs':>12} {'pycocotools µs':>15} {'ratio':>7}")
    for name, ours, theirs in rows:
        print(f"{name:<58} {ours:>12.1f} {theirs:>15.1f} {ours / theirs:>7.2f}")


if __name__ == "__main__":
    main()
