"""Benchmark: Scale task JSON through annoconv against plain-Python references.

Run: ``python benchmarks/bench_scale.py [--tasks N] [--masks N]``.

Data (seeded): ``--tasks`` imageannotation tasks of 640x480 images, each with 24 objects
(10 boxes, 4 rotated boxes with vertices, 6 polygons of 40-160 vertices, 2 lines, 2 points),
float coordinates as Scale returns them; and ``--masks`` 480x640 segmentation label images
with 12 blob instances each (the decoded ``indexedImage`` of a segmentannotation task).

Rows (each pair does the same work in one process; "vs." is the ratio to the reference):
- parse: Scale tasks -> records. annoconv ``scale.parse`` (validated, located errors, model
  objects, exact round-trip bookkeeping) vs a FiftyOne-style loop that reads the same keys
  into dicts with no checks.
- to COCO fields: the parsed tasks -> per-annotation ``bbox`` / flat ``segmentation`` /
  ``area`` (annoconv model + ``geometry.polygon_area`` vs the same arithmetic in plain Python).
- emit: model -> Scale JSON (annoconv ``scale.emit``) vs ``copy.deepcopy`` of the input (a
  floor: what rebuilding the same nested dicts costs at least).
- label image -> RLEs: annoconv ``rle.encode_labels`` (one pass for all indices) vs pycocotools
  ``mask.encode`` of ``lab == index`` per index (the usual recipe); outputs are checked equal.
"""

from __future__ import annotations

import argparse
import copy
import gc
import math
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import annoconv
from annoconv import geometry, rle
from annoconv.formats import scale
from annoconv.model import Box, Keypoints, Polygon, Polyline

W, H = 640, 480


def _blob_polygon(rng: np.random.Generator, n: int) -> list[dict[str, float]]:
    cx, cy = rng.uniform(60, W - 60), rng.uniform(60, H - 60)
    t = np.sort(rng.uniform(0, 2 * math.pi, n))
    r = rng.uniform(20, 50) * (1 + 0.3 * np.sin(3 * t + rng.uniform(0, 6)))
    xs, ys = (cx + r * np.cos(t)).round(2), (cy + r * np.sin(t)).round(2)
    return [{"x": float(x), "y": float(y)} for x, y in zip(xs, ys)]


def make_tasks(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    labels = ["car", "person", "sign", "bike", "truck"]
    tasks = []
    for i in range(n):
        anns: list[dict[str, Any]] = []
        for k in range(24):
            base = {"uuid": f"{i:06d}-{k:04d}", "label": labels[k % 5], "attributes": {"occluded": "no"}}
            if k < 14:
                left, top = rng.uniform(0, W - 100, 2).round(2)
                w, h = rng.uniform(5, 100, 2).round(2)
                box = {"type": "box", **base, "left": float(left), "top": float(top),
                       "width": float(w), "height": float(h)}
                if k >= 10:
                    rot = float(rng.uniform(-math.pi, math.pi))
                    c = Box.from_xywh(box["left"], box["top"], w, h, rotation=math.degrees(rot)).corners()
                    box["rotation"] = rot
                    box["vertices"] = [{"x": x, "y": y} for x, y in c.round(2).tolist()]
                anns.append(box)
            elif k < 20:
                anns.append({"type": "polygon", **base, "vertices": _blob_polygon(rng, int(rng.integers(40, 160)))})
            elif k < 22:
                anns.append({"type": "line", **base, "vertices": _blob_polygon(rng, 12)})
            else:
                anns.append({"type": "point", **base, "x": round(float(rng.uniform(0, W)), 2),
                             "y": round(float(rng.uniform(0, H)), 2)})
        tasks.append({
            "task_id": f"{i:024x}", "type": "imageannotation", "status": "completed",
            "created_at": "2026-11-01T09:00:00.000Z", "project": "bench",
            "params": {"attachment": f"https://example.invalid/img/{i:06d}.jpg", "attachment_type": "image",
                       "geometries": {g: {"objects_to_annotate": labels} for g in ("box", "polygon", "line", "point")}},
            "metadata": {"filename": f"{i:06d}.jpg", "width": W, "height": H},
            "response": {"annotations": anns, "global_attributes": {"night": "no"}},
        })
    return tasks


def make_label_images(n: int, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    out = []
    for _ in range(n):
        lab = np.zeros((H, W), np.uint8)
        for idx in range(1, 13):
            cx, cy = rng.uniform(0, W), rng.uniform(0, H)
            rx, ry = rng.uniform(20, 120), rng.uniform(20, 120)
            lab[((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1] = idx
        out.append(lab)
    return out


# ---- references ----------------------------------------------------------------------


def ref_parse(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a hand-written importer does: read the keys into dicts, no checks."""
    out = []
    for t in tasks:
        anns = []
        for a in t["response"]["annotations"]:
            kind = a["type"]
            if kind == "box":
                g = (a["left"], a["top"], a["width"], a["height"], a.get("rotation", 0))
            elif kind == "point":
                g = (a["x"], a["y"])
            else:
                g = [(v["x"], v["y"]) for v in a["vertices"]]
            anns.append({"id": a["uuid"], "label": a["label"], "type": kind, "geometry": g,
                         "attributes": a.get("attributes", {})})
        md = t["metadata"]
        out.append({"id": t["task_id"], "file_name": md["filename"], "width": md["width"],
                    "height": md["height"], "annotations": anns})
    return out


def ref_coco_fields(samples: list[dict[str, Any]]) -> int:
    n = 0
    for s in samples:
        for a in s["annotations"]:
            g = a["geometry"]
            if a["type"] == "box":
                x, y, w, h, _ = g
                rec = {"bbox": [x, y, w, h], "area": w * h}
            elif a["type"] == "polygon":
                xs, ys = [p[0] for p in g], [p[1] for p in g]
                area = 0.5 * abs(sum(xs[i] * ys[i - 1] - xs[i - 1] * ys[i] for i in range(len(xs))))
                flat = [c for p in g for c in p]
                rec = {"bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)],
                       "segmentation": [flat], "area": area}
            else:
                continue
            n += len(rec)
    return n


def annoconv_coco_fields(ds: annoconv.Dataset) -> int:
    n = 0
    for s in ds.samples:
        for a in s.annotations:
            shape = a.shape
            if isinstance(shape, Box):
                rec = {"bbox": list(shape.to_xywh()), "area": shape.area}
            elif isinstance(shape, Polygon):
                rec = {"bbox": list(a.bbox.to_xywh()), "segmentation": shape.to_coco(),
                       "area": geometry.polygon_area(shape)}
            elif isinstance(shape, (Polyline, Keypoints)):
                continue
            n += len(rec)
    return n


def ref_labels_to_rles(lab: np.ndarray) -> dict[int, Any]:
    from pycocotools import mask as cocomask

    return {int(v): cocomask.encode(np.asfortranarray(lab == v)) for v in np.unique(lab) if v}


# ---- harness -------------------------------------------------------------------------


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--masks", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    tasks = make_tasks(args.tasks)
    labs = make_label_images(args.masks)
    n_ann = sum(len(t["response"]["annotations"]) for t in tasks)
    n_vert = sum(len(a.get("vertices", ())) for t in tasks for a in t["response"]["annotations"])
    rows = []

    t_a, ds = best(lambda: scale.parse(tasks), args.repeat)
    t_r, ref = best(lambda: ref_parse(tasks), args.repeat)
    rows.append(("parse Scale tasks", t_a, t_r, "FiftyOne-style dict loop"))

    t_a, na = best(lambda: annoconv_coco_fields(ds), args.repeat)
    t_r, nr = best(lambda: ref_coco_fields(ref), args.repeat)
    assert na == nr
    rows.append(("bbox/segmentation/area", t_a, t_r, "same arithmetic, plain Python"))

    t_a, out = best(lambda: scale.emit(ds), args.repeat)
    assert out == tasks, "emit must give the input back"
    t_r, _ = best(lambda: copy.deepcopy(tasks), args.repeat)
    rows.append(("emit Scale tasks", t_a, t_r, "copy.deepcopy of the input (floor)"))

    t_a, ours = best(lambda: [rle.encode_labels(lab) for lab in labs], args.repeat)
    t_r, theirs = best(lambda: [ref_labels_to_rles(lab) for lab in labs], args.repeat)
    for o, t in zip(ours, theirs):
        assert set(o) == set(t)
        assert all(rle.to_coco(o[k])["counts"] == t[k]["counts"].decode() for k in o)
    rows.append(("label image -> RLEs", t_a, t_r, "pycocotools encode per index"))

    import pycocotools

    try:
        from importlib.metadata import version
        pcv = version("pycocotools")
    except Exception:  # pragma: no cover
        pcv = getattr(pycocotools, "__version__", "?")
    print(f"annoconv {annoconv.__version__}, numpy {np.__version__}, pycocotools {pcv}, "
          f"Python {platform.python_version()}, {platform.machine()} ({platform.processor() or 'cpu'})")
    print(f"data: {args.tasks} tasks, {n_ann} annotations, {n_vert} vertices; "
          f"{args.masks} label images {H}x{W} with 12 instances; best of {args.repeat}")
    print()
    print(f"| {'step':<24} | {'annoconv':>10} | {'reference':>10} | {'vs.':>6} | reference")
    print(f"|{'-' * 26}|{'-' * 12}|{'-' * 12}|{'-' * 8}|{'-' * 36}")
    for name, a, r, what in rows:
        print(f"| {name:<24} | {a * 1000:>8.1f}ms | {r * 1000:>8.1f}ms | {a / r:>5.2f}x | {what}")


if __name__ == "__main__":
    main()
