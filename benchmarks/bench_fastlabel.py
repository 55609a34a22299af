"""FastLabel -> COCO: annoconv against the FastLabel SDK's own ``converters.to_coco``.

Run: ``python benchmarks/bench_fastlabel.py [--tasks 10000] [--seed 0]``

Generates seeded FastLabel image tasks (640x480) shaped like real exports: each task has two
segmentations traced from blob masks on pixel edges (FastLabel's own mask tool output: integer
corners, hundreds of vertices, some regions with holes, some annotations with two regions), a
box and a polygon. Both sides start from the same file and end with a COCO JSON file:

* SDK: ``json.load`` + ``converters.to_coco("image_segmentation", tasks, out)`` + ``json.dump``
* annoconv: ``annoconv.load(src, "fastlabel")`` then ``annoconv.save(ds, dst, "coco")`` (what
  ``annoconv.convert(src, dst, to="coco")`` does; holes as RLE), timed apart; ``--shoelace``
  adds the writer's ``area="shoelace"`` variant (no rasterising of hole-free polygons)

Then both outputs are checked against the truth, pycocotools' ``annToMask`` of each annotation
vs. the pixels of the FastLabel polygon with its holes (outer rings rasterised by pycocotools,
holes subtracted): annoconv must be exact; the SDK's misses are counted (its defects C1/C2:
holes dropped, area without holes).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

import annoconv
from annoconv import geometry
from annoconv.formats.fastlabel import parse_points

WIDTH, HEIGHT = 640, 480


def blob_pool(rng: np.random.Generator, n: int = 48, side: int = 120) -> list[list[list[list[int]]]]:
    """FastLabel segmentation points of ``n`` blob masks (unions of ellipses, some with an
    elliptic hole, some in two pieces), traced on pixel edges as FastLabel's tool stores them."""
    yy, xx = np.mgrid[0:side, 0:side]
    pool = []
    while len(pool) < n:
        m = np.zeros((side, side), bool)
        for _ in range(rng.integers(2, 5)):
            cx, cy = rng.uniform(30, side - 30, 2)
            rx, ry = rng.uniform(8, 28, 2)
            m |= ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
        if rng.random() < 0.5:
            cx, cy = np.argwhere(m)[rng.integers(m.sum())][::-1]
            m &= ((xx - cx) / 5) ** 2 + ((yy - cy) / 4) ** 2 > 1
        poly = geometry.mask_to_polygon(m)
        points = []
        for part in poly.parts:
            region = []
            for k, ring in enumerate((part.exterior, *part.holes)):
                flat = ring.reshape(-1).tolist()
                region.append(flat + flat[:2])
                assert (geometry.ring_area(ring) > 0) == (k == 0)
            points.append(region)
        pool.append(points)
    return pool


def shift(points: list, dx: int, dy: int) -> list:
    return [[[v + (dx if i % 2 == 0 else dy) for i, v in enumerate(ring)] for ring in region]
            for region in points]


def make_tasks(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    pool = blob_pool(rng)
    tasks = []
    for t in range(n):
        anns = []
        for j in range(2):
            pts = pool[rng.integers(len(pool))]
            dx, dy = int(rng.integers(0, WIDTH - 120)), int(rng.integers(0, HEIGHT - 120))
            anns.append({"id": f"s{t}-{j}", "type": "segmentation", "value": ["road", "person"][j],
                         "title": ["Road", "Person"][j], "color": ["#4f8ff1", "#d10069"][j],
                         "attributes": [], "points": shift(pts, dx, dy), "rotation": 0,
                         "keypoints": [], "confidenceScore": -1})
        x, y = int(rng.integers(0, WIDTH - 5)), int(rng.integers(0, HEIGHT - 5))
        w, h = (int(v) for v in rng.integers(5, 120, 2))
        anns.append({"id": f"b{t}", "type": "bbox", "value": "car", "title": "Car",
                     "color": "#69d100", "attributes": [{"key": "occluded", "name": "Occluded",
                                                         "type": "switch", "value": bool(t % 2)}],
                     "points": [x, y, min(x + w, WIDTH), min(y + h, HEIGHT)], "rotation": 0,
                     "keypoints": [], "confidenceScore": -1})
        tri = rng.uniform(0, 400, 6).round(2).tolist()
        anns.append({"id": f"p{t}", "type": "polygon", "value": "sign", "title": "Sign",
                     "color": "#ffcc00", "attributes": [], "points": tri, "rotation": 0,
                     "keypoints": [], "confidenceScore": 0.9})
        tasks.append({"id": f"task-{t}", "name": f"images/{t:06d}.jpg", "width": WIDTH,
                      "height": HEIGHT, "url": "https://example.invalid/x", "status": "completed",
                      "externalStatus": "registered", "priority": 0, "tags": [], "assignee": "a",
                      "reviewer": None, "annotations": anns,
                      "createdAt": "2026-11-01T09:00:00.000Z",
                      "updatedAt": "2026-11-01T09:00:00.000Z"})
    return tasks


def run_sdk(src: Path, dst: Path) -> None:
    from fastlabel import converters

    with src.open() as f:
        tasks = json.load(f)
    coco = converters.to_coco("image_segmentation", tasks, str(dst.parent))
    with dst.open("w") as f:
        json.dump(coco, f)


def check(coco_path: Path, tasks: list[dict], sample: int, rng: np.random.Generator) -> tuple[int, int]:
    """(annotations checked, annotations whose pycocotools mask differs from the truth), on a
    random sample of segmentation annotations."""
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(coco_path))
    name_to_image = {img["file_name"]: img["id"] for img in coco.dataset["images"]}
    checked = bad = 0
    for t in rng.choice(len(tasks), size=min(sample, len(tasks)), replace=False):
        task = tasks[int(t)]
        iid = name_to_image[task["name"]]
        anns = [a for a in coco.imgToAnns[iid] if a["segmentation"]]
        segs = {a["value"]: a for a in task["annotations"] if a["type"] == "segmentation"}
        cats = {c["id"]: c["name"] for c in coco.dataset["categories"]}
        for a in anns:
            seg = segs.get(cats[a["category_id"]])  # one segmentation per class and task
            if seg is None:
                continue
            r = geometry.polygon_to_rle(parse_points("segmentation", seg["points"]), HEIGHT, WIDTH)
            want = annoconv.rle.decode(r)
            got = coco.annToMask(a).astype(bool)
            checked += 1
            bad += int(not np.array_equal(got, want)) or int(a["area"] != want.sum())
    return checked, bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check", type=int, default=300, help="tasks whose masks are verified")
    ap.add_argument("--shoelace", action="store_true",
                    help="also time the COCO writer with area='shoelace'")
    args = ap.parse_args()

    t0 = time.perf_counter()
    tasks = make_tasks(args.tasks, args.seed)
    n_seg = sum(a["type"] == "segmentation" for t in tasks for a in t["annotations"])
    n_holes = sum(len(r) > 1 for t in tasks for a in t["annotations"] if a["type"] == "segmentation"
                  for r in a["points"])
    n_vertices = sum(len(ring) // 2 for t in tasks for a in t["annotations"]
                     if a["type"] == "segmentation" for r in a["points"] for ring in r)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        src = d / "tasks.json"
        src.write_bytes(annoconv._io.dump_json_bytes(tasks))
        size_mb = src.stat().st_size / 2**20
        gen = time.perf_counter() - t0

        t0 = time.perf_counter()
        ds = annoconv.load(src, "fastlabel")
        t_read = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = annoconv.save(ds, d / "ours.json", "coco")
        t_write = time.perf_counter() - t0
        t_write_shoelace = None
        if args.shoelace:
            t0 = time.perf_counter()
            annoconv.save(ds, d / "ours_shoelace.json", "coco", area="shoelace")
            t_write_shoelace = time.perf_counter() - t0
        del ds
        t0 = time.perf_counter()
        run_sdk(src, d / "sdk.json")
        sdk = time.perf_counter() - t0

        rng = np.random.default_rng(args.seed + 1)
        ours_checked, ours_bad = check(d / "ours.json", tasks, args.check, rng)
        rng = np.random.default_rng(args.seed + 1)
        sdk_checked, sdk_bad = check(d / "sdk.json", tasks, args.check, rng)

    print(f"FastLabel -> COCO, {args.tasks} tasks ({n_seg} segmentations, {n_vertices} ring "
          f"vertices, {n_holes} regions with holes, {size_mb:.1f} MiB), generated in {gen:.1f} s")
    print(f"python {platform.python_version()}, numpy {np.__version__}, annoconv "
          f"{annoconv.__version__}, fastlabel {version('fastlabel')}, pycocotools "
          f"{version('pycocotools')}, {platform.machine()} {sys.platform}, "
          f"{os.cpu_count()} CPUs (shared: compare ratios of one run only)")
    print()
    ours = t_read + t_write
    rows = [
        ("annoconv: read FastLabel (load)", t_read, None),
        ("annoconv: write COCO (save, area = pixels)", t_write, None),
        ("annoconv: FastLabel -> COCO (read + write)", ours, (ours_bad, ours_checked)),
        ("SDK: json.load + converters.to_coco + json.dump", sdk, (sdk_bad, sdk_checked)),
    ]
    if t_write_shoelace is not None:
        rows.insert(3, ("annoconv: FastLabel -> COCO, area='shoelace'", t_read + t_write_shoelace, None))
    print(f"| {'pipeline':<50} | {'time s':>7} | {'vs. annoconv':>12} | masks wrong / checked |")
    print(f"|{'-' * 52}|{'-' * 9}|{'-' * 14}|{'-' * 23}|")
    for name, t, chk in rows:
        wrong = f"{chk[0]:>8} / {chk[1]:<12}" if chk else " " * 23
        print(f"| {name:<50} | {t:7.2f} | {t / ours:12.2f} |{wrong}|")
    print()
    print("annoconv write report:", dict(sorted(report.counts.items())))
    if ours_bad:
        raise SystemExit("annoconv wrote a wrong mask")


if __name__ == "__main__":
    main()
