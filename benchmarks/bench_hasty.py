"""Hasty json_v1.1 benchmark: load, convert to COCO and to semantic PNG; the mask codec.

Run: ``python benchmarks/bench_hasty.py [--images 10000] [--workers 2]``

Generates a seeded Hasty export (640x480 images; per image 3 blob masks, one 40-vertex
polygon, one box, over 5 classes), then times, in one process:

- annoconv: ``load`` (JSON + every mask decoded to a full-image RLE), ``save`` to COCO (RLE
  strings) and to semantic PNG (rasterise, flatten by z_index, PNG-encode with ``workers``);
- the reference: what a user script does without annoconv, on a subset of images (rates per
  image are compared): ``json.load``, the hasty SDK's ``rle_decode`` pasted into a full image
  and pycocotools ``encode`` for COCO; for semantic PNG the same decode, pycocotools for the
  polygons, painting in z order and Pillow;
- the mask codec alone, per mask: Hasty pairs -> pixels and pixels -> pairs, annoconv against
  the hasty SDK (``rle_decode`` / ``rle_encoding``) and a plain-Python codec of the same format.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from _shapes import blob  # benchmarks/ is on sys.path when run as a script

import annoconv
from annoconv import rle

W, H = 640, 480
CLASSES = [("car", "object"), ("person", "object"), ("road", "background"),
           ("sky", "background"), ("sign", "object")]


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------


def pairs_of(crop: np.ndarray) -> list[int]:
    flat = crop.reshape(-1).astype(np.int8)
    d = np.diff(np.concatenate(([0], flat, [0])))
    s, e = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    out = np.empty(s.size * 2, np.int64)
    out[0::2], out[1::2] = s + 1, e - s
    return out.tolist()


def polygon(rng: np.random.Generator, n: int = 40) -> list[list[int]]:
    cx, cy = rng.uniform(80, W - 80), rng.uniform(80, H - 80)
    t = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = rng.uniform(30, 75, n)
    pts = np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1).round().astype(int)
    ring = pts.tolist()
    return [*ring, ring[0]]


def generate(n_images: int, seed: int = 0, pool: int = 500) -> dict:
    """A json_v1.1 document; masks are drawn from a pool of ``pool`` blob crops (40-200 px a
    side) placed at random, which keeps generating 10k images fast."""
    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(pool):
        h, w = (int(v) for v in rng.integers(40, 200, 2))
        crops.append((h, w, pairs_of(blob(rng, h, w))))
    statuses = ["DONE", "COMPLETED", "TO REVIEW", "IN PROGRESS"]
    images = []
    for i in range(n_images):
        labels = []
        for j in range(3):
            h, w, pairs = crops[int(rng.integers(0, pool))]
            x0, y0 = int(rng.integers(0, W - w)), int(rng.integers(0, H - h))
            labels.append({"id": f"{i}-{j}", "class_name": CLASSES[j][0],
                           "bbox": [x0, y0, x0 + w, y0 + h], "polygon": None,
                           "mask": list(pairs), "z_index": int(rng.integers(0, 10)),
                           "keypoints": [], "attributes": {}})
        poly = polygon(rng)
        xs, ys = [p[0] for p in poly], [p[1] for p in poly]
        labels.append({"id": f"{i}-p", "class_name": "sign",
                       "bbox": [min(xs), min(ys), max(xs), max(ys)], "polygon": poly,
                       "mask": None, "z_index": 5, "keypoints": [], "attributes": {}})
        x0, y0 = int(rng.integers(0, W - 100)), int(rng.integers(0, H - 100))
        labels.append({"id": f"{i}-b", "class_name": "person", "bbox": [x0, y0, x0 + 60, y0 + 90],
                       "polygon": None, "mask": None, "z_index": 7, "keypoints": [],
                       "attributes": {"occluded": bool(rng.integers(0, 2))}})
        images.append({"image_id": f"img-{i}", "width": W, "height": H,
                       "image_name": f"frame_{i:06d}.jpg", "image_mode": "RGB",
                       "dataset_name": "train" if i % 5 else "val",
                       "image_status": statuses[i % 4], "labels": labels, "tags": [],
                       "tag_groups": {}})
    return {
        "project_name": "bench", "create_date": "2024-01-01T00:00:00Z",
        "export_format_version": "1.1", "export_date": "2024-01-02T00:00:00Z",
        "label_classes": [{"class_id": f"c{k}", "parent_class_id": None, "class_name": n,
                           "class_type": t, "color": "#1f78b44d", "norder": float(k),
                           "icon_url": None, "attributes": ["occluded"] if n == "person" else [],
                           "description": None, "use_description_as_prompt": False}
                          for k, (n, t) in enumerate(CLASSES)],
        "keypoint_schemas": [], "tag_groups": [], "images": images,
        "attributes": [{"name": "occluded", "type": "BOOL", "values": []}],
    }


# --------------------------------------------------------------------------------------
# references: a user's script without annoconv
# --------------------------------------------------------------------------------------


def py_decode(pairs: list[int], w: int, h: int) -> bytearray:
    """Plain-Python Hasty decoder: the crop as h*w bytes, row by row."""
    out = bytearray(w * h)
    for k in range(0, len(pairs), 2):
        s, n = pairs[k] - 1, pairs[k + 1]
        out[s : s + n] = b"\x01" * n
    return out


def py_encode(crop: bytes) -> list[int]:
    """Plain-Python Hasty encoder over h*w bytes."""
    out: list[int] = []
    run = 0
    for i, v in enumerate(crop):
        if v:
            if run == 0:
                out.append(i + 1)
            run += 1
        elif run:
            out.append(run)
            run = 0
    if run:
        out.append(run)
    return out


def reference_to_coco(path: Path, dst: Path, n: int) -> None:
    doc = json.loads(path.read_text())
    cats = {c["class_name"]: k + 1 for k, c in enumerate(doc["label_classes"])}
    images, anns = [], []
    for i, img in enumerate(doc["images"][:n]):
        images.append({"id": i + 1, "file_name": img["image_name"], "width": img["width"],
                       "height": img["height"]})
        for lab in img["labels"]:
            x0, y0, x1, y1 = lab["bbox"]
            seg: object = []
            if lab["mask"]:
                r = sdk_full_rle(lab["mask"], lab["bbox"])
                seg = {"size": r["size"], "counts": r["counts"].decode()}
            elif lab["polygon"]:
                seg = [[v for p in lab["polygon"] for v in p]]
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": cats[lab["class_name"]],
                         "segmentation": seg, "bbox": [x0, y0, x1 - x0, y1 - y0], "iscrowd": 0})
    dst.write_text(json.dumps({"images": images, "annotations": anns, "categories": [
        {"id": k, "name": n} for n, k in cats.items()]}))


def reference_to_semantic(path: Path, dst: Path, n: int) -> None:
    from hasty.label_utils import rle_decode
    from PIL import Image
    from pycocotools import mask as mask_utils

    doc = json.loads(path.read_text())
    index = {c["class_name"]: k + 1 for k, c in enumerate(doc["label_classes"])}
    for img in doc["images"][:n]:
        h, w = img["height"], img["width"]
        out = np.zeros((h, w), np.uint8)
        for lab in sorted(img["labels"], key=lambda lb: lb["z_index"]):
            x0, y0, x1, y1 = lab["bbox"]
            if lab["mask"]:
                crop = rle_decode(lab["mask"], (x1 - x0, y1 - y0)).astype(bool)
                out[y0:y1, x0:x1][crop] = index[lab["class_name"]]
            elif lab["polygon"]:
                flat = [[v for p in lab["polygon"] for v in p]]
                m = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(flat, h, w)))
                out[m.astype(bool)] = index[lab["class_name"]]
            else:
                out[y0:y1, x0:x1] = index[lab["class_name"]]
        folder = dst / img["dataset_name"]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(out).save(folder / (Path(img["image_name"]).stem + ".png"))


# --------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t, out


def sdk_full_rle(pairs: list[int], xyxy: list[int]) -> dict:
    """What the reference converter does per mask: the SDK crop pasted into a full
    Fortran-ordered image, encoded by pycocotools."""
    from hasty.label_utils import rle_decode
    from pycocotools import mask as mask_utils

    x0, y0, x1, y1 = xyxy
    full = np.zeros((H, W), np.uint8, order="F")
    full[y0:y1, x0:x1] = rle_decode(pairs, (x1 - x0, y1 - y0))
    return mask_utils.encode(full)


def codec_rows(doc: dict, n_masks: int) -> list[tuple[str, str, float, float]]:
    from hasty.label_utils import rle_decode, rle_encoding

    labs = [lab for img in doc["images"] for lab in img["labels"] if lab["mask"]][:n_masks]
    boxes = [lab["bbox"] for lab in labs]
    pairs = [lab["mask"] for lab in labs]
    rows = []
    # pairs -> pixels
    t_ours, rles = timed(lambda: [rle.from_hasty(p, b, H, W) for p, b in zip(pairs, boxes)])
    t_crop, _ = timed(lambda: [rle.decode(rle.from_hasty(p, (0, 0, b[2] - b[0], b[3] - b[1]),
                                                          b[3] - b[1], b[2] - b[0]))
                               for p, b in zip(pairs, boxes)])
    t_sdk, crops = timed(lambda: [rle_decode(p, (b[2] - b[0], b[3] - b[1])) for p, b in zip(pairs, boxes)])
    t_py, _ = timed(lambda: [py_decode(p, b[2] - b[0], b[3] - b[1]) for p, b in zip(pairs, boxes)])
    t_full, _ = timed(lambda: [sdk_full_rle(p, b) for p, b in zip(pairs, boxes)])
    rows += [("decode", "annoconv from_hasty -> full-image RLE (the reader)", t_ours, t_sdk),
             ("decode", "SDK rle_decode + paste + pycocotools encode -> RLE", t_full, t_sdk),
             ("decode", "annoconv -> dense crop", t_crop, t_sdk),
             ("decode", "hasty SDK rle_decode -> dense crop", t_sdk, t_sdk),
             ("decode", "plain Python -> crop bytes", t_py, t_sdk)]
    # pixels -> pairs
    t_ours, out = timed(lambda: [rle.to_hasty(r, b)[1] for r, b in zip(rles, boxes)])
    assert out == pairs
    t_dense, _ = timed(lambda: [rle.to_hasty(rle.encode(c))[1] for c in crops])
    t_sdk, _ = timed(lambda: [rle_encoding(c) for c in crops])
    blobs = [c.tobytes() for c in crops]
    t_py, out = timed(lambda: [py_encode(c) for c in blobs])
    assert out == pairs
    rows += [("encode", "annoconv to_hasty from the model RLE (the writer)", t_ours, t_sdk),
             ("encode", "annoconv from a dense crop", t_dense, t_sdk),
             ("encode", "hasty SDK rle_encoding (dense crop)", t_sdk, t_sdk),
             ("encode", "plain Python (crop bytes)", t_py, t_sdk)]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--reference-images", type=int, default=300)
    ap.add_argument("--masks", type=int, default=1_000, help="masks for the codec table")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--compress-level", type=int, default=6)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_hasty."))
    try:
        t_gen, doc = timed(generate, args.images)
        src = tmp / "export.json"
        src.write_bytes(annoconv._io.dump_json_bytes(doc))
        n_masks = 3 * args.images
        print(f"data: {args.images} images {W}x{H}, {5 * args.images} labels "
              f"({n_masks} masks, {args.images} polygons, {args.images} boxes), "
              f"{src.stat().st_size / 1e6:.1f} MB JSON (generated in {t_gen:.1f} s)")

        rows = []
        t_load, ds = timed(annoconv.load, src)
        t_coco, _ = timed(annoconv.save, ds, tmp / "coco.json", "coco")
        t_sem, rep = timed(annoconv.save, ds, tmp / "sem", "semantic-png", workers=args.workers,
                           compress_level=args.compress_level)
        t_hasty, _ = timed(annoconv.save, ds, tmp / "back.json", "hasty")
        n_ref = min(args.reference_images, args.images)
        t_rc, _ = timed(reference_to_coco, src, tmp / "ref_coco.json", n_ref)
        t_rs, _ = timed(reference_to_semantic, src, tmp / "ref_sem", n_ref)
        # the reference runs on n_ref images: compare per-image rates
        ref_coco, ref_sem = t_rc / n_ref * args.images, t_rs / n_ref * args.images
        rows = [
            ("load (read + decode every mask)", t_load, None),
            ("Hasty -> COCO (load + save)", t_load + t_coco, ref_coco),
            (f"Hasty -> semantic PNG (load + save, workers={args.workers})", t_load + t_sem, ref_sem),
            ("save Hasty json_v1.1 (round trip)", t_hasty, None),
        ]
        print(f"\n{'conversion':58} {'annoconv':>9} {'img/s':>8} {'reference':>10} {'img/s':>8} {'vs.':>6}")
        for name, t, ref in rows:
            r = f"{ref:9.1f}s {args.images / ref:8.0f} {ref / t:5.1f}x" if ref else f"{'':>10} {'':>8} {'':>6}"
            print(f"{name:58} {t:8.1f}s {args.images / t:8.0f} {r}")
        print(f"(reference: json + hasty SDK rle_decode + pycocotools / Pillow, run on {n_ref} "
              "images and scaled; vs. = reference time / annoconv time)")
        print(f"semantic PNG report: {dict(rep.counts)}")

        crows = codec_rows(doc, args.masks)
        n = min(args.masks, n_masks)
        print(f"\nmask codec, {n} masks (crops 40-200 px a side), µs per mask")
        print(f"{'':7} {'implementation':52} {'µs':>9} {'vs. SDK':>8}")
        for kind, name, t, sdk in crows:
            print(f"{kind:7} {name:52} {t / n * 1e6:9.1f} {sdk / t:7.1f}x")
        print(f"\nannoconv {annoconv.__version__}, numpy {np.__version__}, hasty {version('hasty')}, "
              f"pycocotools {version('pycocotools')}, Pillow {version('pillow')}, "
              f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
