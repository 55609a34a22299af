"""Seeded generator of realistic COCO instances files for the benchmarks.

Shape of the data (specs/coco.md §10): ~10 annotations per image, polygons of 1-3 parts with
12-36 vertices each (star-shaped blobs, coordinates with two decimals like the official files),
~1% crowd annotations as uncompressed RLE, 80 categories with COCO 2017's non-contiguous ids,
image ids that are not 1..N, crowd annotation ids above 2^32.

    python benchmarks/gen_coco.py out.json --images 10000   # "M": ~100k annotations, ~75 MB
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

COCO_CATEGORY_IDS = [i for i in range(1, 91) if i not in {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}]


def _polygon(rng: np.random.Generator, w: int, h: int) -> list[float]:
    k = int(rng.integers(12, 37))
    cx, cy = rng.uniform(0.1 * w, 0.9 * w), rng.uniform(0.1 * h, 0.9 * h)
    r = rng.uniform(8, min(w, h) / 5)
    theta = np.sort(rng.uniform(0, 2 * np.pi, k))
    rad = r * (1 + 0.25 * rng.standard_normal(k)).clip(0.3, 1.8)
    x = np.clip(cx + rad * np.cos(theta), 0, w)
    y = np.clip(cy + rad * np.sin(theta), 0, h)
    return np.round(np.stack([x, y], 1).ravel(), 2).tolist()


def _crowd_rle(rng: np.random.Generator, w: int, h: int) -> dict:
    yy, xx = np.mgrid[:h, :w]
    cx, cy, rx, ry = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(20, w / 3), rng.uniform(20, h / 3)
    m = (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) < 1
    flat = m.T.ravel()
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0]:
        counts = [0, *counts]
    return {"counts": counts, "size": [h, w]}


def generate(images: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    cats = [{"supercategory": f"super{i % 12}", "id": cid, "name": f"class_{cid}"}
            for i, cid in enumerate(COCO_CATEGORY_IDS)]
    imgs, anns = [], []
    ann_id = 1
    image_ids = rng.choice(np.arange(1, images * 50), size=images, replace=False)
    for i in range(images):
        w, h = int(rng.choice([640, 480, 612])), int(rng.choice([480, 427, 640]))
        iid = int(image_ids[i])
        imgs.append({"license": int(rng.integers(1, 8)), "file_name": f"{iid:012d}.jpg",
                     "coco_url": f"http://images.cocodataset.org/train2017/{iid:012d}.jpg",
                     "height": h, "width": w, "date_captured": "2013-11-14 17:02:52",
                     "flickr_url": f"http://farm4.staticflickr.com/{iid}.jpg", "id": iid})
        for _ in range(int(rng.integers(5, 16))):
            cid = int(rng.choice(COCO_CATEGORY_IDS))
            if rng.random() < 0.01:
                seg = _crowd_rle(rng, w, h)
                area = int(sum(seg["counts"][1::2]))
                anns.append({"segmentation": seg, "area": area, "iscrowd": 1, "image_id": iid,
                             "bbox": [float(v) for v in rng.integers(0, 100, 4)],
                             "category_id": cid, "id": 900100000000 + ann_id})
            else:
                parts = [_polygon(rng, w, h) for _ in range(int(rng.choice([1, 1, 1, 2, 3])))]
                pts = np.concatenate([np.array(p).reshape(-1, 2) for p in parts])
                x0, y0 = pts.min(0)
                x1, y1 = pts.max(0)
                anns.append({"segmentation": parts, "area": float(rng.uniform(10, 5e4)),
                             "iscrowd": 0, "image_id": iid,
                             "bbox": [round(float(x0), 2), round(float(y0), 2),
                                      round(float(x1 - x0), 2), round(float(y1 - y0), 2)],
                             "category_id": cid, "id": ann_id})
            ann_id += 1
    info = {"description": "annoconv synthetic COCO", "url": "", "version": "1.0", "year": 2025,
            "contributor": "annoconv benchmarks", "date_created": "2025/01/01"}
    licenses = [{"url": f"http://example.org/{i}", "id": i, "name": f"License {i}"} for i in range(1, 9)]
    return {"info": info, "licenses": licenses, "images": imgs, "annotations": anns, "categories": cats}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    doc = generate(args.images, args.seed)
    args.out.write_text(json.dumps(doc))
    print(f"{args.out}: {len(doc['images'])} images, {len(doc['annotations'])} annotations, "
          f"{args.out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
