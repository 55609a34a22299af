"""annoconv's own JSON: the canonical model written out field for field (format ``annoconv``).

Lossless by construction: ``load(save(ds))`` equals ``ds``, including ``extra`` dicts,
statuses, attribute specs and int-versus-float coordinates. Use it to cache a converted
dataset, to diff two datasets, or to hand data between pipeline steps.

Layout (one JSON object)::

    {"annoconv": 1,
     "info": {...},
     "categories": [{"id": 1, "name": "cat", "color": [r, g, b, a] | null, "kind": "thing",
                     "supercategory": null, "keypoint_names": null, "skeleton": null,
                     "extra": {}}],
     "attribute_specs": [{"name", "type", "values", "category_ids", "scope", "default", "extra"}],
     "samples": [{"id", "file_name", "width", "height", "subset", "status", "tags",
                  "attributes", "extra",
                  "annotations": [{"id", "category_id", "shape": SHAPE | null, "bbox": [x0, y0,
                                   x1, y1] | null, "area", "z_index", "iscrowd", "score",
                                   "attributes", "track_id", "keypoints": SHAPE | null,
                                   "extra"}]}]}

    SHAPE = {"type": "box", "xyxy": [x0, y0, x1, y1], "rotation": 0}
          | {"type": "polygon", "parts": [{"exterior": [[x, y], ...], "holes": [[[x, y], ...]]}]}
          | {"type": "mask", "size": [h, w], "counts": "<COCO compressed string>"}
          | {"type": "polyline", "points": [[x, y], ...], "closed": false}
          | {"type": "keypoints", "points": [[x, y], ...], "visibility": [0|1|2, ...], "names": [...] | null}
          | {"type": "ellipse", "cx": .., "cy": .., "rx": .., "ry": .., "rotation": 0}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .. import rle as _rle
from .._io import read_json, write_json
from ..errors import ParseError, json_pointer
from ..model import (
    Annotation,
    AttributeSpec,
    Box,
    Category,
    Dataset,
    Ellipse,
    Keypoints,
    Mask,
    Polygon,
    PolygonPart,
    Polyline,
    Sample,
    Shape,
    Status,
)
from ..registry import FormatSpec
from ..report import ConversionReport

VERSION = 1


def shape_to_json(shape: Shape | None) -> dict[str, Any] | None:
    if shape is None:
        return None
    if isinstance(shape, Box):
        return {"type": "box", "xyxy": list(shape.to_xyxy()), "rotation": shape.rotation}
    if isinstance(shape, Polygon):
        return {
            "type": "polygon",
            "parts": [
                {"exterior": p.exterior.tolist(), "holes": [h.tolist() for h in p.holes]}
                for p in shape.parts
            ],
        }
    if isinstance(shape, Mask):
        return {"type": "mask", **_rle.to_coco(shape.rle)}
    if isinstance(shape, Polyline):
        return {"type": "polyline", "points": shape.points.tolist(), "closed": shape.closed}
    if isinstance(shape, Keypoints):
        return {
            "type": "keypoints",
            "points": shape.points.tolist(),
            "visibility": shape.visibility.tolist(),
            "names": list(shape.names) if shape.names is not None else None,
        }
    if isinstance(shape, Ellipse):
        return {"type": "ellipse", "cx": shape.cx, "cy": shape.cy, "rx": shape.rx,
                "ry": shape.ry, "rotation": shape.rotation}
    raise TypeError(f"unknown shape {type(shape).__name__}")


def shape_from_json(obj: dict[str, Any] | None) -> Shape | None:
    if obj is None:
        return None
    kind = obj.get("type")
    if kind == "box":
        x0, y0, x1, y1 = obj["xyxy"]
        return Box(x0=x0, y0=y0, x1=x1, y1=y1, rotation=obj.get("rotation", 0))
    if kind == "polygon":
        return Polygon(parts=tuple(
            PolygonPart(exterior=p["exterior"], holes=tuple(p.get("holes", ())))
            for p in obj["parts"]
        ))
    if kind == "mask":
        return Mask(rle=_rle.from_coco(obj))
    if kind == "polyline":
        return Polyline(points=obj["points"], closed=bool(obj.get("closed", False)))
    if kind == "keypoints":
        names = obj.get("names")
        return Keypoints(points=obj["points"], visibility=obj["visibility"],
                         names=tuple(names) if names is not None else None)
    if kind == "ellipse":
        return Ellipse(cx=obj["cx"], cy=obj["cy"], rx=obj["rx"], ry=obj["ry"],
                       rotation=obj.get("rotation", 0))
    raise ValueError(f"unknown shape type {kind!r}")


def emit(ds: Dataset) -> dict[str, Any]:
    """The model as a JSON-ready dict (pure)."""
    return {
        "annoconv": VERSION,
        "info": ds.info,
        "categories": [
            {"id": c.id, "name": c.name, "color": list(c.color) if c.color else None,
             "kind": c.kind, "supercategory": c.supercategory,
             "keypoint_names": list(c.keypoint_names) if c.keypoint_names is not None else None,
             "skeleton": [list(e) for e in c.skeleton] if c.skeleton is not None else None,
             "extra": c.extra}
            for c in ds.categories
        ],
        "attribute_specs": [
            {"name": a.name, "type": a.type, "values": list(a.values),
             "category_ids": list(a.category_ids) if a.category_ids is not None else None,
             "scope": a.scope, "default": a.default, "extra": a.extra}
            for a in ds.attribute_specs
        ],
        "samples": [_sample_to_json(s) for s in ds.samples],
    }


def _sample_to_json(s: Sample) -> dict[str, Any]:
    return {
        "id": s.id, "file_name": s.file_name, "width": s.width, "height": s.height,
        "subset": s.subset, "status": s.status.value if s.status else None,
        "tags": list(s.tags), "attributes": s.attributes, "extra": s.extra,
        "annotations": [
            {"id": a.id, "category_id": a.category_id, "shape": shape_to_json(a.shape),
             "bbox": list(a.stored_bbox.to_xyxy()) if a.stored_bbox is not None else None,
             "bbox_rotation": a.stored_bbox.rotation if a.stored_bbox is not None else 0,
             "area": a.area, "z_index": a.z_index, "iscrowd": a.iscrowd, "score": a.score,
             "attributes": a.attributes, "track_id": a.track_id,
             "keypoints": shape_to_json(a.keypoints), "extra": a.extra}
            for a in s.annotations
        ],
    }


def parse(doc: Any, file: str | Path | None = None) -> Dataset:
    """The model from a parsed annoconv JSON document (pure). Errors are located."""
    if not isinstance(doc, dict) or "annoconv" not in doc:
        raise ParseError(file, "$", "expected an annoconv JSON object with key 'annoconv'")
    path: tuple[Any, ...] = ()
    try:
        path = ("categories",)
        cats = []
        for i, c in enumerate(doc.get("categories", [])):
            path = ("categories", i)
            cats.append(Category(
                id=c["id"], name=c["name"], color=tuple(c["color"]) if c.get("color") else None,
                kind=c.get("kind", "thing"), supercategory=c.get("supercategory"),
                keypoint_names=c.get("keypoint_names"),
                skeleton=c.get("skeleton"), extra=c.get("extra", {}),
            ))
        specs = []
        for i, a in enumerate(doc.get("attribute_specs", [])):
            path = ("attribute_specs", i)
            specs.append(AttributeSpec(
                name=a["name"], type=a["type"], values=tuple(a.get("values", ())),
                category_ids=a.get("category_ids"), scope=a.get("scope", "annotation"),
                default=a.get("default"), extra=a.get("extra", {}),
            ))
        samples = []
        for i, s in enumerate(doc.get("samples", [])):
            path = ("samples", i)
            anns = []
            for j, a in enumerate(s.get("annotations", [])):
                path = ("samples", i, "annotations", j)
                bbox = a.get("bbox")
                anns.append(Annotation(
                    id=a.get("id"), category_id=a.get("category_id"),
                    shape=shape_from_json(a.get("shape")),
                    stored_bbox=Box(x0=bbox[0], y0=bbox[1], x1=bbox[2], y1=bbox[3],
                                    rotation=a.get("bbox_rotation", 0)) if bbox else None,
                    area=a.get("area"), z_index=a.get("z_index"),
                    iscrowd=bool(a.get("iscrowd", False)), score=a.get("score"),
                    attributes=a.get("attributes", {}), track_id=a.get("track_id"),
                    keypoints=shape_from_json(a.get("keypoints")),  # type: ignore[arg-type]
                    extra=a.get("extra", {}),
                ))
            path = ("samples", i)
            status = s.get("status")
            samples.append(Sample(
                id=s["id"], file_name=s["file_name"], width=s.get("width"),
                height=s.get("height"), subset=s.get("subset"),
                status=Status(status) if status else None, tags=tuple(s.get("tags", ())),
                attributes=s.get("attributes", {}), annotations=tuple(anns),
                extra=s.get("extra", {}),
            ))
    except ParseError as e:
        raise e.located(file, json_pointer(*path)) from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as e:
        what = (f"missing key {e}" if isinstance(e, KeyError) else
                "expected an object" if isinstance(e, AttributeError) else
                "too few values" if isinstance(e, IndexError) else str(e))
        raise ParseError(file, json_pointer(*path), what) from None
    return Dataset(categories=tuple(cats), attribute_specs=tuple(specs),
                   samples=tuple(samples), info=doc.get("info", {}))


def read(path: str | Path, *, report: ConversionReport | None = None) -> Dataset:
    return parse(read_json(path), path)


def write(ds: Dataset, path: str | Path, *, report: ConversionReport | None = None,
          indent: bool = False) -> None:
    doc = emit(ds)
    write_json(path, doc, indent=indent)
    if report is not None:
        report.samples += len(doc["samples"])
        report.annotations += sum(len(s["annotations"]) for s in doc["samples"])
        report.files.append(Path(path).name)


def is_native(head: bytes) -> bool:
    """Whether a file's first bytes are annoconv's own JSON (emit() writes the "annoconv" key
    first, compact or indented): other JSON formats' sniffers say no to it, whatever keys
    the dump holds in its extras."""
    return re.match(rb'(?:\xef\xbb\xbf)?\s*\{\s*"annoconv"\s*:', head) is not None


def sniff(path: Path, head: bytes) -> int:
    return 2 if is_native(head) else 0


FORMAT = FormatSpec(
    name="annoconv",
    description="annoconv's own lossless JSON of the canonical model",
    extensions=(".json",),
    sniff=sniff,
    read=read,
    write=write,
    write_options={"indent": "pretty-print with 2 spaces (default: compact)"},
)
