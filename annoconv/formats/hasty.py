"""Hasty (CloudFactory) ``json_v1.1`` export (format ``hasty``); spec: specs/hasty.md.

One JSON object: ``project_name``, dates, ``export_format_version`` ("1.1"), ``label_classes``
(``class_name``, ``class_type`` object | background, ``color`` "#RRGGBBAA", ``norder``, the
attribute names that apply), top-level ``attributes`` (``name``, ``type`` SELECTION |
MULTIPLE-SELECTION | TEXT | INT | FLOAT | BOOL, ``values``), ``images`` (``image_name``,
``dataset_name``, ``width``, ``height``, ``image_status``, ``tags``, ``labels``). 2024 exports
add ``image_id``, ``class_id``, ``keypoint_schemas``, ``tag_groups`` and name the label id
``id`` (older files: ``label_id``). A label refers to its class by name and carries
``bbox`` ``[x_min, y_min, x_max, y_max]`` (max edges exclusive, integer pixels), ``polygon``
``[[x, y], ...]``, ``mask``, ``z_index`` (higher in front), ``keypoints`` and ``attributes``.

The mask is NOT COCO counts: it covers only the bbox crop (``y_max - y_min`` rows by
``x_max - x_min`` columns) read row by row, as ``(start, length)`` pairs with 1-based starts.
The crop ``[[0, 1, 1, 0], [1, 1, 1, 1], [0, 1, 0, 0]]`` in bbox ``[2, 1, 6, 4]`` is
``[2, 2, 5, 4, 10, 1]`` (codec: :func:`annoconv.rle.from_hasty` / :func:`~annoconv.rle.to_hasty`).

Model mapping: a class is a :class:`Category` (id 1..N in file order; object -> "thing",
background -> "stuff"; keypoint names and skeleton from ``keypoint_schemas``); a label's shape
is its mask if any (a full-image RLE; ``bbox`` kept as ``stored_bbox``), else its polygon (an
open ring; ``bbox`` kept only when it differs from the polygon's vertex box), else its
:class:`Box`, else its keypoints; keypoints beside a region go to ``Annotation.keypoints``
(``visible`` false -> visibility 1). Statuses: NEW new, IN PROGRESS in_progress, TO REVIEW
to_review, DONE done, COMPLETED reviewed, SKIPPED skipped, AUTO-LABELLED prelabeled; other
strings are kept verbatim (status None, counted ``status_unknown``).

Exact round trip: every key the model has no field for goes to ``extra["hasty"]`` /
``info["hasty"]`` verbatim; what the writer would not reproduce by itself is kept there too
(``_keys``: the record's key order when it is not the 2024 order; raw values such as a
non-canonical mask, ``"mask": []``, a ``null`` bbox, an open polygon ring ``_open``). The
writer rebuilds each record from the model and uses those raw values only while they still
agree with the model (a mask is re-checked pixel for pixel).

Choices where the spec is unsure: polygons are written closed (first vertex repeated) and a
polygon label gets ``bbox`` = its vertex box; a polygon with holes or several parts, which
Hasty cannot hold, is written as a mask (counted ``polygon_to_mask``); an empty mask keeps
only its box (``empty_mask``); data from other formats gets the 2024 key set with
deterministic UUIDs (uuid5 of names and ids), ``dataset_name`` "default" when absent, status
NEW when absent, rejected -> IN PROGRESS (``status_merged``), dates ``null``; label
attributes the data does not define get a definition typed from their values; an annotation
with only a stored box (COCO ``"segmentation": []``) is a box label unless the box merely spans
its keypoints. A ``.zip`` holding one ``.json`` is read too. Unlike the SDK, which never
validates a mask, the reader rejects masks whose runs overlap or leave their box.

What the writer never does is write a file its reader rejects: an image without a
width/height takes them from its masks (an RLE knows its image's size), is skipped when it has
no labels (``size_unknown``) and is refused (ConversionError) when it has labels and no mask; a
class name used by several categories (COCO "car" under two supercategories) stays with the
first and becomes ``car_2``, ``car_3``... for the next, in category order (``renamed``; labels
follow). Data from other formats: Hasty coordinates are integer pixels, so boxes are rounded
outward (min edges floored, max edges ceiled: COCO ``[0.5, 0.5, 2.25, 2]`` ->
``[0, 0, 3, 3]``) and polygon vertices and keypoints to the nearest integer (halves up),
counted ``coordinates_rounded`` per label; attribute definitions that share a name (Segments
defines them per category) become one Hasty attribute when their Hasty type is the same (their
values united, ``field_dropped`` when they differed) and ``name_2``, ``name_3``... in order
otherwise (``renamed``; the labels' attribute keys follow). Data read from Hasty is written
back as it was.
"""

from __future__ import annotations

import json
import math
import re
import uuid
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from .. import geometry
from .. import rle as _rle
from .._io import load_json_bytes, read_json, write_json
from ..errors import ConversionError, ParseError, describe_value, json_pointer
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
    Polyline,
    Sample,
    Status,
    rgba_from_hex,
    rgba_to_hex,
)
from ..registry import FormatSpec
from ..report import ConversionReport, count_category_fields, foreign_data

__all__ = ["FORMAT", "STATUS_FROM_HASTY", "STATUS_TO_HASTY", "emit", "parse", "read", "sniff",
           "write"]

NS = "hasty"

#: Hasty image status -> canonical status.
STATUS_FROM_HASTY: dict[str, Status] = {
    "NEW": Status.NEW,
    "IN PROGRESS": Status.IN_PROGRESS,
    "TO REVIEW": Status.TO_REVIEW,
    "DONE": Status.DONE,
    "COMPLETED": Status.REVIEWED,
    "SKIPPED": Status.SKIPPED,
    "AUTO-LABELLED": Status.PRELABELED,
}
#: canonical status -> Hasty image status (rejected has no Hasty value: IN PROGRESS).
STATUS_TO_HASTY: dict[Status, str] = {v: k for k, v in STATUS_FROM_HASTY.items()}
STATUS_TO_HASTY[Status.REJECTED] = "IN PROGRESS"

ATTR_FROM_HASTY = {
    "SELECTION": "select",
    "MULTIPLE-SELECTION": "multiselect",
    "TEXT": "text",
    "INT": "int",
    "FLOAT": "float",
    "BOOL": "bool",
}
ATTR_TO_HASTY = {v: k for k, v in ATTR_FROM_HASTY.items()}

# Key order of a 2024 export (specs/hasty.md §2): a record in this order needs no "_keys".
TOP_KEYS = ("project_name", "create_date", "export_format_version", "export_date",
            "label_classes", "keypoint_schemas", "tag_groups", "images", "attributes")
CLASS_KEYS = ("class_id", "parent_class_id", "class_name", "class_type", "color", "norder",
              "icon_url", "attributes", "description", "use_description_as_prompt")
ATTRIBUTE_KEYS = ("name", "type", "values")
IMAGE_KEYS = ("image_id", "width", "height", "image_name", "image_mode", "dataset_name",
              "image_status", "labels", "tags", "tag_groups")
LABEL_KEYS = ("id", "class_name", "bbox", "polygon", "mask", "z_index", "keypoints",
              "attributes")
KEYPOINT_KEYS = ("x", "y", "id", "norder", "visible", "created_by", "updated_by",
                 "create_date", "update_date", "keypoint_class_id")

#: uuid5 namespace of the ids this writer must invent (classes, schemas, labels...).
UUID_NAMESPACE = uuid.UUID("5b0b7a39-0c39-4c38-9d0e-6a6e6e6f636f")

#: ColorBrewer "Paired", the palette of Hasty's own class colours, for classes without one.
PALETTE = ("#a6cee3", "#1f78b4", "#b2df8a", "#33a02c", "#fb9a99", "#e31a1c", "#fdbf6f",
           "#ff7f00", "#cab2d6", "#6a3d9a", "#ffff99", "#b15928")


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(UUID_NAMESPACE, ":".join(str(p) for p in parts)))


# --------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class _Reader:
    """The state of one parse: the file name for errors, the report, interned key lists."""

    def __init__(self, file: str | Path | None, report: ConversionReport | None) -> None:
        self.file = file
        self.report = report
        self._key_lists: dict[tuple[str, ...], list[str]] = {}

    def error(self, path: tuple[Any, ...], message: str) -> ParseError:
        return ParseError(self.file, json_pointer(*path), message)

    def obj(self, v: object, path: tuple[Any, ...], what: str) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise self.error(path, f"expected {what} object, got {describe_value(v)}")
        return v

    def arr(self, v: object, path: tuple[Any, ...], what: str) -> list[Any]:
        if not isinstance(v, list):
            raise self.error(path, f"expected {what}, got {describe_value(v)}")
        return v

    def required(self, rec: dict[str, Any], key: str, path: tuple[Any, ...]) -> Any:
        if key not in rec:
            raise self.error(path, f"missing required key '{key}'")
        return rec[key]

    def keep_order(self, rec: dict[str, Any], canonical: tuple[str, ...], ns: dict[str, Any],
                   mapped: Iterable[str] = ()) -> None:
        """Store the record's key order in ``ns["_keys"]`` unless it is ``canonical`` followed
        by its unknown keys (the writer's own order)."""
        keys = tuple(rec)
        if keys == canonical:
            return
        known = set(canonical) | set(mapped)
        expected = canonical + tuple(k for k in keys if k not in known)
        if keys == expected:
            return
        lst = self._key_lists.get(keys)
        if lst is None:
            lst = self._key_lists[keys] = list(keys)
        ns["_keys"] = lst


def parse(doc: Any, file: str | Path | None = None, *,
          report: ConversionReport | None = None) -> Dataset:
    """The model from a parsed json_v1.1 document (pure). Errors are located ParseErrors.

    >>> doc = {"project_name": "p", "label_classes": [{"class_name": "car",
    ...        "class_type": "object", "color": "#1f78b44d"}], "images": [{"image_name": "a.jpg",
    ...        "dataset_name": "train", "width": 8, "height": 6, "image_status": "DONE",
    ...        "labels": [{"id": "l1", "class_name": "car", "bbox": [2, 1, 6, 4],
    ...        "polygon": None, "mask": [2, 2, 5, 4, 10, 1], "z_index": 1}]}]}
    >>> ds = parse(doc)
    >>> ann = ds.samples[0].annotations[0]
    >>> ann.shape.area, ann.bbox.to_xyxy(), ds.samples[0].status
    (7, (2, 1, 6, 4), <Status.DONE: 'done'>)
    >>> emit(ds, ConversionReport()) == doc
    True
    """
    r = _Reader(file, report)
    top = r.obj(doc, (), "a Hasty json_v1.1")
    classes = r.arr(r.required(top, "label_classes", ()), ("label_classes",),
                    "an array of label classes")
    images = r.arr(r.required(top, "images", ()), ("images",), "an array of images")
    attrs = r.arr(top.get("attributes", []), ("attributes",), "an array of attributes")
    info_ns: dict[str, Any] = {k: v for k, v in top.items()
                               if k not in ("project_name", "label_classes", "images", "attributes")}
    r.keep_order(top, TOP_KEYS, info_ns)
    schemas = info_ns.get("keypoint_schemas")
    kp_names, kp_of_class = _keypoint_index(schemas)

    # label classes
    categories: list[Category] = []
    by_name: dict[str, int] = {}
    class_attr_lists: dict[int, list[Any]] = {}
    for i, c in enumerate(classes):
        path = ("label_classes", i)
        c = r.obj(c, path, "a label class")
        name = r.required(c, "class_name", path)
        if not isinstance(name, str):
            raise r.error((*path, "class_name"), f"expected a string, got {describe_value(name)}")
        if name in by_name:
            raise r.error((*path, "class_name"), f"class name {name!r} appears more than once")
        cns = {k: v for k, v in c.items()
               if k not in ("class_name", "class_type", "color", "attributes")}
        r.keep_order(c, CLASS_KEYS, cns)
        ctype = c.get("class_type", "object")
        if ctype not in ("object", "background"):
            cns["class_type"] = ctype
        color = rgba_from_hex(c.get("color"))
        if "color" in c and (color is None or rgba_to_hex(color) != c["color"]):
            cns["color"] = c["color"]
        if "attributes" in c:
            names = c["attributes"]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise r.error((*path, "attributes"),
                              f"expected an array of attribute names, got {describe_value(names)}")
            class_attr_lists[i + 1] = names
        keypoint_names = skeleton = None
        schema = kp_of_class.get(c.get("class_id")) if isinstance(c.get("class_id"), str) else None
        if schema is not None:
            keypoint_names, skeleton = schema
        categories.append(Category(
            id=i + 1, name=name, color=color, kind="stuff" if ctype == "background" else "thing",
            keypoint_names=keypoint_names, skeleton=skeleton, extra={NS: cns} if cns else {},
        ))
        by_name[name] = i + 1

    # attribute definitions
    specs: list[AttributeSpec] = []
    for i, a in enumerate(attrs):
        path = ("attributes", i)
        a = r.obj(a, path, "an attribute")
        name = r.required(a, "name", path)
        atype = r.required(a, "type", path)
        values = a.get("values", [])
        if not isinstance(name, str):
            raise r.error((*path, "name"), f"expected a string, got {describe_value(name)}")
        r.arr(values, (*path, "values"), "an array of values")
        ans = {k: v for k, v in a.items() if k not in ("name", "type", "values")}
        r.keep_order(a, ATTRIBUTE_KEYS, ans)
        mtype = ATTR_FROM_HASTY.get(atype) if isinstance(atype, str) else None
        if mtype is None:
            ans["type"] = atype
            mtype = "text"
        cat_ids = None
        if class_attr_lists:
            cat_ids = tuple(cid for cid, names in class_attr_lists.items() if name in names)
        specs.append(AttributeSpec(name=name, type=mtype, values=tuple(values),  # type: ignore[arg-type]
                                   category_ids=cat_ids, extra={NS: ans} if ans else {}))
    # a class's list of attribute names, when the writer would not rebuild it as it is
    spec_names = [s.name for s in specs]
    for cid, names in class_attr_lists.items():
        derived = [n for n in spec_names if n in names]
        if names != derived:
            cat = categories[cid - 1]
            cat.extra.setdefault(NS, {})["attributes"] = names

    samples = [_parse_image(r, img, i, by_name, kp_names) for i, img in enumerate(images)]
    info: dict[str, Any] = {}
    if "project_name" in top:
        info["name"] = top["project_name"]
    info[NS] = info_ns
    return Dataset(categories=tuple(categories), attribute_specs=tuple(specs),
                   samples=tuple(samples), info=info)


def _keypoint_index(
    schemas: Any,
) -> tuple[dict[str, str], dict[str, tuple[tuple[str, ...], tuple[tuple[int, int], ...] | None]]]:
    """From ``keypoint_schemas``: keypoint class id -> name, and label class id -> (names,
    skeleton as 1-based pairs or None). Malformed schemas are passed through, not parsed."""
    kp_names: dict[str, str] = {}
    of_class: dict[str, tuple[tuple[str, ...], tuple[tuple[int, int], ...] | None]] = {}
    if not isinstance(schemas, list):
        return kp_names, of_class
    for s in schemas:
        if not isinstance(s, dict) or not isinstance(s.get("keypoint_classes"), list):
            continue
        ids, names = [], []
        for k in s["keypoint_classes"]:
            if isinstance(k, dict) and isinstance(k.get("keypoint_class_name"), str):
                ids.append(k.get("keypoint_class_id"))
                names.append(k["keypoint_class_name"])
        if len(names) != len(s["keypoint_classes"]):
            continue
        kp_names.update({i: n for i, n in zip(ids, names) if isinstance(i, str)})
        skeleton: tuple[tuple[int, int], ...] | None = None
        edges = s.get("keypoint_skeleton")
        if isinstance(edges, list):
            pos = {i: j + 1 for j, i in enumerate(ids) if isinstance(i, str)}
            pairs = [tuple(pos.get(x) if isinstance(x, str) else None for x in e)
                     if isinstance(e, list) and len(e) == 2 else None for e in edges]
            if all(p is not None and None not in p for p in pairs):
                skeleton = tuple(pairs)  # type: ignore[arg-type]
        assoc = s.get("associated_label_classes")
        for cid in assoc if isinstance(assoc, list) else ():
            if isinstance(cid, str) and cid not in of_class:
                of_class[cid] = (tuple(names), skeleton)
    return kp_names, of_class


def _parse_image(r: _Reader, img: Any, i: int, by_name: Mapping[str, int],
                 kp_names: Mapping[str, str]) -> Sample:
    path: tuple[Any, ...] = ("images", i)
    img = r.obj(img, path, "an image")
    name = r.required(img, "image_name", path)
    if not isinstance(name, str):
        raise r.error((*path, "image_name"), f"expected a string, got {describe_value(name)}")
    size = []
    for key in ("width", "height"):
        v = r.required(img, key, path)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise r.error((*path, key), f"expected a non-negative integer, got {describe_value(v)}")
        size.append(v)
    width, height = size
    labels = r.arr(r.required(img, "labels", path), (*path, "labels"), "an array of labels")
    ns: dict[str, Any] = {k: v for k, v in img.items() if k not in (
        "image_id", "width", "height", "image_name", "dataset_name", "labels", "tags")}
    r.keep_order(img, IMAGE_KEYS, ns)
    sid = img.get("image_id", i + 1)
    if not isinstance(sid, (str, int)) or isinstance(sid, bool):
        raise r.error((*path, "image_id"), f"expected a string, got {describe_value(sid)}")
    if "image_id" in img and not isinstance(sid, str):
        ns["image_id"] = sid
    subset = img.get("dataset_name")
    if subset is not None and not isinstance(subset, str):
        raise r.error((*path, "dataset_name"), f"expected a string, got {describe_value(subset)}")
    if "dataset_name" in img and subset is None:
        ns["dataset_name"] = None
    tags = img.get("tags")
    if tags is None:
        if "tags" in img:
            ns["tags"] = None
        tags = []
    elif not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise r.error((*path, "tags"), f"expected an array of strings, got {describe_value(tags)}")
    status = None
    raw_status = img.get("image_status")
    if raw_status is not None:
        status = STATUS_FROM_HASTY.get(raw_status) if isinstance(raw_status, str) else None
        if status is None and r.report is not None:
            r.report.add("status_unknown", where=f"image {name!r}: {raw_status!r}")
    anns = tuple(
        _parse_label(r, lab, (*path, "labels", j), by_name, kp_names, height, width)
        for j, lab in enumerate(labels)
    )
    return Sample(id=sid, file_name=name, width=width, height=height, subset=subset,
                  status=status, tags=tuple(tags), annotations=anns,
                  extra={NS: ns} if ns else {})


def _parse_box(r: _Reader, v: Any, path: tuple[Any, ...]) -> Box | None:
    if v is None:
        return None
    if not (isinstance(v, list) and len(v) == 4 and all(_is_num(x) for x in v)):
        raise r.error(path, f"expected bbox [x_min, y_min, x_max, y_max], got {describe_value(v)}")
    if v[2] < v[0] or v[3] < v[1]:
        raise r.error(path, f"expected bbox [x_min, y_min, x_max, y_max] with x_min <= x_max "
                            f"and y_min <= y_max, got {v}")
    return Box(x0=v[0], y0=v[1], x1=v[2], y1=v[3])


def _parse_polygon(r: _Reader, v: list[Any], path: tuple[Any, ...]) -> tuple[Polygon, bool]:
    """An open-ring Polygon and whether the source ring was closed."""
    # type checks through map(): C loops, as a polygon may have thousands of vertices
    ok = set(map(type, v)) <= {list} and set(map(len, v)) <= {2} and \
        set(map(type, chain.from_iterable(v))) <= {int, float}
    if not ok:
        raise r.error(path, "expected polygon [[x, y], ...] of number pairs")
    closed = len(v) >= 2 and v[0] == v[-1]
    ring = v[:-1] if closed else v
    try:
        return Polygon.from_rings(ring), closed
    except ValueError as e:  # e.g. an integer beyond 64 bits
        raise r.error(path, str(e)) from None


def _parse_label(r: _Reader, lab: Any, path: tuple[Any, ...], by_name: Mapping[str, int],
                 kp_names: Mapping[str, str], height: int, width: int) -> Annotation:
    lab = r.obj(lab, path, "a label")
    id_key = "id" if "id" in lab or "label_id" not in lab else "label_id"
    ns: dict[str, Any] = {k: v for k, v in lab.items() if k not in LABEL_KEYS and k != id_key}
    r.keep_order(lab, LABEL_KEYS, ns, (id_key,))
    cname = r.required(lab, "class_name", path)
    cat_id = by_name.get(cname) if isinstance(cname, str) else None
    if cat_id is None:
        raise r.error((*path, "class_name"),
                      f"expected the class_name of a label class, got {describe_value(cname)}")
    ann_id = lab.get(id_key)
    if ann_id is not None and (not isinstance(ann_id, (str, int)) or isinstance(ann_id, bool)):
        raise r.error((*path, id_key), f"expected a string, got {describe_value(ann_id)}")
    if (ann_id is None and id_key in lab) or (ann_id is not None and not isinstance(ann_id, str)):
        ns[id_key] = ann_id
    z = lab.get("z_index")
    if z is not None and not _is_num(z):
        raise r.error((*path, "z_index"), f"expected a number, got {describe_value(z)}")
    if z is None and "z_index" in lab:
        ns["z_index"] = None
    attrs = lab.get("attributes")
    if attrs is None:
        if "attributes" in lab:
            ns["attributes"] = None
        attrs = {}
    elif not isinstance(attrs, dict):
        raise r.error((*path, "attributes"), f"expected an object, got {describe_value(attrs)}")

    bbox = _parse_box(r, lab.get("bbox"), (*path, "bbox"))
    raw_poly = lab.get("polygon")
    if raw_poly is not None and not isinstance(raw_poly, list):
        raise r.error((*path, "polygon"), f"expected polygon [[x, y], ...], got {describe_value(raw_poly)}")
    raw_mask = lab.get("mask")
    if raw_mask is not None and not isinstance(raw_mask, list):
        raise r.error((*path, "mask"), f"expected a list of (start, length) pairs, got "
                                       f"{describe_value(raw_mask)}")
    raw_kps = lab.get("keypoints")
    if raw_kps is not None and not isinstance(raw_kps, list):
        raise r.error((*path, "keypoints"), f"expected an array of keypoints, got {describe_value(raw_kps)}")

    shape: Any = None
    stored: Box | None = None
    attached: Keypoints | None = None
    if raw_mask:
        shape = Mask(rle=_parse_mask(r, raw_mask, lab.get("bbox"), path, height, width))
        stored = bbox
        if not _canonical_pairs(raw_mask):
            ns["mask"] = raw_mask
    elif raw_poly:
        shape, closed = _parse_polygon(r, raw_poly, (*path, "polygon"))
        if not closed:
            ns["_open"] = True
        if len({type(v) for p in raw_poly for v in p}) > 1:
            ns["polygon"] = raw_poly  # ints and floats mixed: the model holds floats
        if bbox is None:
            if "bbox" in lab:
                ns["bbox"] = None
        elif not _same_numbers(lab["bbox"], _norm(_vertex_box(shape))):
            stored = bbox
    elif bbox is not None:
        shape = bbox
    if raw_kps:
        kps = _parse_keypoints(r, raw_kps, (*path, "keypoints"), kp_names)
        if shape is None:
            shape = kps
        else:
            attached = kps
    if bbox is not None and not _same_numbers(lab["bbox"], _norm(lab["bbox"])):
        ns["bbox"] = lab["bbox"]  # integral floats: written as ints otherwise
    if raw_mask is not None and not raw_mask:
        ns["mask"] = raw_mask  # "mask": [] (third-party writers)
    if raw_poly is not None and not isinstance(shape, Polygon):
        ns["polygon"] = raw_poly  # beside a mask, or []
        if raw_poly and isinstance(shape, Mask):  # written back only beside this same mask
            ns["_polygon_for"] = _rle.to_string(shape.rle.counts)
    if raw_kps != [] and "keypoints" in lab:
        ns["keypoints"] = raw_kps  # null, or the keypoints' own fields (ids, dates, ...)
    return Annotation(id=ann_id, category_id=cat_id, shape=shape, stored_bbox=stored,
                      z_index=z, attributes=attrs, keypoints=attached,
                      extra={NS: ns} if ns else {})


def _parse_mask(r: _Reader, raw: list[Any], bbox: Any, path: tuple[Any, ...],
                height: int, width: int) -> _rle.RLE:
    if bbox is None:
        raise r.error((*path, "bbox"), "expected a bbox: a mask is relative to its bbox, got null")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in bbox):
        raise r.error((*path, "bbox"), f"expected integer pixel edges for a mask label, got {bbox}")
    x0, y0, x1, y1 = bbox
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise r.error((*path, "bbox"), f"expected a bbox inside the {width}x{height} "
                                       f"(width x height) image, got {bbox}")
    if not set(map(type, raw)) <= {int}:  # a C loop: masks hold thousands of values
        bad = next(v for v in raw if type(v) is not int)
        raise r.error((*path, "mask"), f"expected integer (start, length) pairs, got {describe_value(bad)}")
    try:
        return _rle.from_hasty(raw, bbox, height, width)
    except ParseError as e:
        raise e.located(r.file, json_pointer(*path, "mask")) from None


def _canonical_pairs(raw: list[int]) -> bool:
    """True when no run touches the next one (what the writer emits for the same pixels)."""
    if len(raw) <= 2:
        return True
    a = np.asarray(raw, np.int64)
    return not bool((a[2::2] == a[0:-2:2] + a[1:-1:2]).any())


def _vertex_box(poly: Polygon) -> list[Any]:
    ext = poly.parts[0].exterior
    return [*ext.min(axis=0).tolist(), *ext.max(axis=0).tolist()]


def _norm(values: Iterable[Any]) -> list[Any]:
    """Integral floats as ints (Hasty coordinates are integer pixels): [0.0, 2.5] -> [0, 2.5]."""
    return [int(v) if isinstance(v, float) and v.is_integer() else v for v in values]


def _same_numbers(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(type(x) is type(y) and x == y for x, y in zip(a, b))


def _parse_keypoints(r: _Reader, raw: list[Any], path: tuple[Any, ...],
                     kp_names: Mapping[str, str]) -> Keypoints:
    pts, vis, names = [], [], []
    for k, kp in enumerate(raw):
        kp = r.obj(kp, (*path, k), "a keypoint")
        for key in ("x", "y"):
            if not _is_num(kp.get(key)):
                raise r.error((*path, k, key), f"expected a number, got {describe_value(kp.get(key))}")
        visible = kp.get("visible", True)
        if not isinstance(visible, bool):
            raise r.error((*path, k, "visible"), f"expected a boolean, got {describe_value(visible)}")
        pts.append((kp["x"], kp["y"]))
        vis.append(2 if visible else 1)
        kc = kp.get("keypoint_class_id")
        names.append(kp_names.get(kc) if isinstance(kc, str) else None)
    try:
        return Keypoints(points=pts, visibility=vis,
                         names=tuple(names) if None not in names else None)  # type: ignore[arg-type]
    except ValueError as e:  # e.g. an integer beyond 64 bits
        raise r.error(path, str(e)) from None


# --------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------


def _ns(extra: Mapping[str, Any]) -> dict[str, Any]:
    v = extra.get(NS)
    return v if isinstance(v, dict) else {}




def _ordered(values: dict[str, Any], ns: Mapping[str, Any], canonical: tuple[str, ...],
             skip: Iterable[str] = ()) -> dict[str, Any]:
    """The record in its source key order (``_keys``) or the canonical one, unknown keys
    (in ``ns``) after; a value from ``ns`` overrides a computed one."""
    keys = ns.get("_keys")
    if keys is None:
        skip = set(skip)
        keys = [k for k in canonical if k not in skip]
        keys += [k for k in ns if k not in canonical and not k.startswith("_")]
    return {k: ns[k] if k in ns else values.get(k) for k in keys}


@dataclass
class _AttrOut:
    """One Hasty attribute definition to write: its (possibly disambiguated) name, the spec it
    comes from (merged specs: the first), its values and the category ids it applies to."""

    name: str
    spec: AttributeSpec
    values: list[Any]
    category_ids: tuple[int, ...] | None


class _Writer:
    def __init__(self, ds: Dataset, report: ConversionReport | None) -> None:
        self.report = report if report is not None else ConversionReport()
        # attribute names found on labels but not declared (data from other formats):
        # name -> (Hasty type, values seen for MULTIPLE-SELECTION, category ids)
        self.declared = {s.name for s in ds.attribute_specs if s.scope == "annotation"}
        self.foreign = NS not in ds.info  # data from another format (not read from Hasty)
        self.infer = self.foreign
        self.undeclared: dict[str, tuple[str, dict[Any, None], set[int]]] = {}
        if self.infer:  # one type per undeclared attribute, from all its values (INT + FLOAT
            kinds: dict[str, set[str]] = {}  # is FLOAT, any other mix TEXT)
            for smp in ds.samples:
                for a in smp.annotations:
                    for name, v in a.attributes.items():
                        if name not in self.declared:
                            kinds.setdefault(name, set())
                            if v is not None:  # no value: says nothing of the type
                                kinds[name].add(_value_type(v))
            for name, ks in kinds.items():
                atype = (ks.pop() if len(ks) == 1 else "FLOAT" if ks and ks <= {"INT", "FLOAT"}
                         else "TEXT")
                self.undeclared[name] = (atype, {}, set())
        self.categories = {c.id: c for c in ds.categories}
        self.class_names = _unique_class_names(self, ds.categories)
        # (attribute name, category id or None) -> the Hasty attribute name it is written as
        self.attr_names: dict[tuple[str, int | None], str] = {}
        self.class_ids: dict[int, Any] = {}
        # category id -> {keypoint name: keypoint class id}, and schemas made for foreign data
        self.kp_ids: dict[int, dict[str, Any]] = {}
        self.new_schemas: dict[int, dict[str, Any]] = {}
        self.tags: dict[str, None] = {}

    def add(self, kind: str, where: str, n: int = 1) -> None:
        self.report.add(kind, n, where=where)

    def attr_name(self, name: str, category_id: int) -> str:
        """The Hasty name of a label's attribute (renamed when definitions clashed)."""
        out = self.attr_names.get((name, category_id))
        if out is None:
            out = self.attr_names.get((name, None), name)
        return out


def _free_name(base: str, taken: set[str]) -> str:
    """``base_2``, ``base_3``... the first not in ``taken`` (which it joins)."""
    k = 2
    while f"{base}_{k}" in taken:
        k += 1
    taken.add(f"{base}_{k}")
    return f"{base}_{k}"


def _unique_class_names(w: _Writer, categories: Iterable[Category]) -> dict[int, str]:
    """Class name per category id: a label refers to its class by name, so a name used by
    several categories (COCO "car" under two supercategories) is made unique in file order:
    the first keeps it, the next get ``car_2``, ``car_3``... (counted ``renamed``)."""
    cats = list(categories)
    taken = {c.name for c in cats}
    seen: set[str] = set()
    out: dict[int, str] = {}
    for c in cats:
        name = c.name
        if name in seen:
            name = _free_name(c.name, taken)
            w.add("renamed", f"class {c.name!r} (category id {c.id}) -> {name!r}: the name "
                             "is used by an earlier class")
        seen.add(name)
        out[c.id] = name
    return out


def _hasty_type(s: AttributeSpec) -> str:
    ns = _ns(s.extra)
    return ns["type"] if "type" in ns and s.type == "text" else ATTR_TO_HASTY[s.type]


def _plan_attributes(w: _Writer, specs: list[AttributeSpec],
                     names: Mapping[int, str]) -> list[_AttrOut]:
    """The attribute definitions to write. Hasty names attributes once for the project, so
    definitions from other formats that share a name (Segments defines attributes per
    category) are merged when they have the same Hasty type (their values united, counted
    ``field_dropped`` when they differed) and renamed ``name_2``... in order otherwise
    (counted ``renamed``); labels' attribute keys follow. Data read from Hasty is kept as it is."""
    if not w.foreign:
        out = [_AttrOut(s.name, s, list(s.values), s.category_ids) for s in specs]
        for s in specs:
            for cid in s.category_ids if s.category_ids is not None else (None,):
                w.attr_names.setdefault((s.name, cid), s.name)
        return out
    taken = {s.name for s in specs}
    groups: dict[tuple[str, str], list[AttributeSpec]] = {}
    for s in specs:
        groups.setdefault((s.name, _hasty_type(s)), []).append(s)
    out = []
    first_type: dict[str, str] = {}
    for (name, atype), group in groups.items():
        new = name
        if first_type.setdefault(name, atype) != atype:
            new = _free_name(name, taken)
            classes = sorted({names.get(c, str(c)) for s in group for c in s.category_ids or ()})
            w.add("renamed", f"attribute {name!r} ({atype}"
                             f"{' of class ' + ', '.join(map(repr, classes)) if classes else ''}) "
                             f"-> {new!r}: {name!r} is {first_type[name]} for another class")
        values: dict[Any, Any] = {}
        for s in group:
            for v in s.values:
                values.setdefault(_hashable(v), v)
        if len({tuple(map(_hashable, s.values)) for s in group}) > 1:
            w.add("field_dropped", f"attribute {new!r}: per-class value lists united")
        cat_ids: tuple[int, ...] | None = None
        if all(s.category_ids is not None for s in group):
            cat_ids = tuple(dict.fromkeys(c for s in group for c in s.category_ids or ()))
        for s in group:
            for cid in s.category_ids if s.category_ids is not None else (None,):
                w.attr_names.setdefault((name, cid), new)
        out.append(_AttrOut(new, group[0], list(values.values()), cat_ids))
    return out


def _hashable(v: Any) -> Any:
    return json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) else v


def emit(dataset: Dataset, report: ConversionReport | None = None) -> dict[str, Any]:
    """A json_v1.1 document from the model (pure); approximations are counted in ``report``.

    >>> from annoconv.model import Box, Category, Dataset, Sample, Annotation
    >>> ds = Dataset(categories=(Category(id=1, name="car", color=(31, 120, 180, 77)),),
    ...              samples=(Sample(id="i1", file_name="a.jpg", width=4, height=3,
    ...                              annotations=(Annotation(id="l1", category_id=1,
    ...                                           shape=Box(x0=0, y0=0, x1=2, y1=1)),)),))
    >>> doc = emit(ds)
    >>> doc["label_classes"][0]["color"], doc["images"][0]["labels"][0]["bbox"]
    ('#1f78b44d', [0, 0, 2, 1])
    """
    dataset = dataset.materialize()  # read twice: attribute types first, then the labels
    w = _Writer(dataset, report)
    info_ns = _ns(dataset.info)
    specs = [s for s in dataset.attribute_specs if s.scope == "annotation"]
    for s in dataset.attribute_specs:
        if s.scope != "annotation":
            w.add("attribute_dropped", f"image-level attribute {s.name!r}")

    plan = _plan_attributes(w, specs, w.class_names)
    classes = [_emit_class(w, i, c, plan) for i, c in enumerate(dataset.categories)]
    if "keypoint_schemas" in info_ns:
        schemas = info_ns["keypoint_schemas"]
        _index_schemas(w, schemas)
    else:
        schemas = None
        for c in dataset.categories:
            if c.keypoint_names:
                _foreign_schema(w, c, c.keypoint_names)
    images = [img for i, s in enumerate(dataset.samples)
              if (img := _emit_image(w, i, s)) is not None]
    if schemas is None:
        schemas = list(w.new_schemas.values())
    elif w.new_schemas:
        schemas = [*schemas, *w.new_schemas.values()]
    tag_groups = info_ns.get("tag_groups")
    if "tag_groups" not in info_ns:
        tag_groups = [{"group_id": _uuid("tag_group", "Default"), "group_name": "Default",
                       "group_type": "MULTIPLE-SELECTION", "tags": list(w.tags)}] if w.tags else []
    attributes = [_emit_attribute(w, a) for a in plan]
    for name, (atype, seen, cat_ids) in w.undeclared.items():
        attributes.append({"name": name, "type": atype,
                           "values": list(seen) if atype == "MULTIPLE-SELECTION" else []})
        for cls, c in zip(classes, dataset.categories):
            if c.id in cat_ids and isinstance(cls.get("attributes"), list):
                cls["attributes"].append(name)
    values = {
        "project_name": dataset.info.get("name", "annoconv"),
        "create_date": None,
        "export_format_version": "1.1",
        "export_date": None,
        "label_classes": classes,
        "keypoint_schemas": schemas,
        "tag_groups": tag_groups,
        "images": images,
        "attributes": attributes,
    }
    return _ordered(values, info_ns, TOP_KEYS)


def _emit_class(w: _Writer, i: int, c: Category, plan: list[_AttrOut]) -> dict[str, Any]:
    ns = _ns(c.extra)
    where = f"class {c.name!r}"
    count_category_fields(w.report, [c], color=True, alpha=True, kind=True, keypoints=True)
    if foreign_data(c.extra, NS):
        w.add("field_dropped", where)
    ctype = "object" if c.kind == "thing" else "background"
    if "class_type" in ns and c.kind == "thing":
        ctype = ns["class_type"]
    color = rgba_to_hex(c.color) if c.color else PALETTE[i % len(PALETTE)] + "ff"
    if "color" in ns and rgba_from_hex(ns["color"]) == c.color:
        color = ns["color"]
    derived = [a.name for a in plan if a.category_ids is None or c.id in a.category_ids]
    attrs = derived
    raw = ns.get("attributes")
    if isinstance(raw, list) and {n for n in raw if n in {a.name for a in plan}} == set(derived):
        attrs = raw
    name = w.class_names[c.id]
    values = {
        "class_id": _uuid("class", name), "parent_class_id": None, "class_name": name,
        "class_type": ctype, "color": color, "norder": float(i + 1), "icon_url": None,
        "attributes": attrs, "description": None, "use_description_as_prompt": False,
    }
    rest = {k: v for k, v in ns.items() if k not in ("class_type", "color", "attributes")}
    out = _ordered(values, rest, CLASS_KEYS)
    w.class_ids[c.id] = out.get("class_id")
    return out


def _emit_attribute(w: _Writer, a: _AttrOut) -> dict[str, Any]:
    s = a.spec
    ns = _ns(s.extra)
    values = {"name": a.name, "type": _hasty_type(s), "values": a.values}
    if foreign_data(s.extra, NS):
        w.add("field_dropped", f"attribute {s.name!r}")
    return _ordered(values, {k: v for k, v in ns.items() if k != "type"}, ATTRIBUTE_KEYS)


def _index_schemas(w: _Writer, schemas: Any) -> None:
    """Keypoint class ids by name for each category, from verbatim ``keypoint_schemas``."""
    if not isinstance(schemas, list):
        return
    by_class_uuid = {u: cid for cid, u in w.class_ids.items() if isinstance(u, str)}
    for s in schemas:
        if not isinstance(s, dict) or not isinstance(s.get("keypoint_classes"), list):
            continue
        ids = {k["keypoint_class_name"]: k.get("keypoint_class_id")
               for k in s["keypoint_classes"]
               if isinstance(k, dict) and isinstance(k.get("keypoint_class_name"), str)}
        assoc = s.get("associated_label_classes")
        for u in assoc if isinstance(assoc, list) else ():
            cid = by_class_uuid.get(u) if isinstance(u, str) else None
            if cid is not None and cid not in w.kp_ids:
                w.kp_ids[cid] = ids


def _foreign_schema(w: _Writer, c: Category, names: Iterable[str]) -> None:
    """A keypoint schema for a category from another format (one per category)."""
    names = list(names)
    cname = w.class_names.get(c.id, c.name)
    schema = w.new_schemas.get(c.id)
    if schema is None:
        schema = w.new_schemas[c.id] = {
            "keypoint_schema_id": _uuid("keypoint_schema", cname),
            "keypoint_schema_name": cname, "keypoint_schema_type": "points",
            "associated_label_classes": [w.class_ids.get(c.id)], "keypoint_classes": [],
            "keypoint_skeleton": [],
        }
        w.kp_ids[c.id] = {}
    ids = w.kp_ids[c.id]
    for n in names:
        if n not in ids:
            ids[n] = _uuid("keypoint_class", cname, n)
            schema["keypoint_classes"].append({
                "keypoint_class_id": ids[n], "keypoint_class_name": n,
                "norder": len(schema["keypoint_classes"]) + 1, "editor_x": None,
                "editor_y": None, "max_points": 1, "min_points": 0,
            })
    if c.skeleton and not schema["keypoint_skeleton"] and c.keypoint_names:
        kn = c.keypoint_names
        schema["keypoint_skeleton"] = [[ids[kn[a - 1]], ids[kn[b - 1]]] for a, b in c.skeleton
                                       if 0 < a <= len(kn) and 0 < b <= len(kn)]


def _image_size(w: _Writer, s: Sample, where: str) -> tuple[int, int] | None:
    """(width, height) to write: the sample's, else its masks' (an RLE knows its image's
    size). Hasty requires both: an image without them and without labels is skipped (counted
    ``size_unknown``); one with labels cannot be written."""
    masks = [(a, a.shape.rle.size) for a in s.annotations if isinstance(a.shape, Mask)]
    if s.width is not None and s.height is not None:
        for a, (mh, mw) in masks:
            if (mh, mw) != (s.height, s.width):
                raise ConversionError(
                    f"{where}: the mask of label {a.id!r} is {mw}x{mh} (width x height) but the "
                    f"image is {s.width}x{s.height}")
        return s.width, s.height
    sizes = list(dict.fromkeys(size for _, size in masks))
    if len(sizes) == 1:
        return sizes[0][1], sizes[0][0]
    if len(sizes) > 1:
        raise ConversionError(f"{where} has no width/height and masks of different sizes "
                              f"({', '.join(f'{mw}x{mh}' for mh, mw in sizes)}, width x height)")
    if not s.annotations:
        w.add("size_unknown", f"{where}: no width/height and no labels, not written")
        return None
    raise ConversionError(
        f"{where} has no width/height, which Hasty requires, and no mask to take them from "
        "(read the source with its image sizes, e.g. Segments' images= option)")


def _emit_image(w: _Writer, i: int, s: Sample) -> dict[str, Any] | None:
    ns = _ns(s.extra)
    where = f"image {s.file_name!r}"
    size = _image_size(w, s, where)
    if size is None:
        return None
    width, height = size
    if foreign_data(s.extra, NS):
        w.add("field_dropped", where)
    if s.attributes:
        w.add("attribute_dropped", where, len(s.attributes))
    raw_status = ns.get("image_status")
    if s.status is None:
        status = raw_status if "image_status" in ns else "NEW"
    elif isinstance(raw_status, str) and STATUS_FROM_HASTY.get(raw_status) is s.status:
        status = raw_status
    else:
        status = STATUS_TO_HASTY[s.status]
        if s.status is Status.REJECTED:
            w.add("status_merged", f"{where}: rejected -> IN PROGRESS")
    for t in s.tags:
        w.tags[t] = None
    labels = []
    for j, a in enumerate(s.annotations):
        lab = _emit_label(w, s, j, a, height, width)
        if lab is not None:
            labels.append(lab)
    values = {
        "image_id": s.id if isinstance(s.id, str) else str(s.id),
        "width": width, "height": height, "image_name": s.file_name,
        "dataset_name": s.subset if s.subset is not None else "default",
        "image_status": status, "labels": labels, "tags": list(s.tags),
        "tag_groups": {"Default": list(s.tags)} if s.tags else {},
    }
    w.report.samples += 1
    w.report.annotations += len(labels)
    skip = () if "image_mode" in ns else ("image_mode",)
    rest = {k: v for k, v in ns.items() if k != "image_status"}
    return _ordered(values, rest, IMAGE_KEYS, skip)


def _outward(box: list[Any]) -> tuple[list[Any], bool]:
    """A box on integer pixel edges holding ``box`` (min edges floored, max edges ceiled) and
    whether that changed it.

    >>> _outward([0.5, 0.5, 2.75, 2.5])
    ([0, 0, 3, 3], True)
    """
    out = [math.floor(box[0]), math.floor(box[1]), math.ceil(box[2]), math.ceil(box[3])]
    return out, any(a != b for a, b in zip(out, box))


def _round_points(pts: np.ndarray) -> tuple[np.ndarray, bool]:
    """(n, 2) points rounded to the nearest integer (halves up), as int64, and whether that
    changed them."""
    if pts.dtype.kind in "iu":
        return pts, False
    r = np.floor(pts + 0.5)
    return r.astype(np.int64), not bool(np.array_equal(r, pts))


def _int_box(b: Box | None) -> list[int] | None:
    """The box as integers when it has integral values (2.0 -> 2), else None."""
    if b is None or b.rotation:
        return None
    v = b.to_xyxy()
    if not all(float(x).is_integer() for x in v):
        return None
    return [int(x) for x in v]


def _emit_label(w: _Writer, s: Sample, j: int, a: Annotation, height: int,
                width: int) -> dict[str, Any] | None:
    ns = _ns(a.extra)
    where = f"image {s.file_name!r} label {a.id if a.id is not None else j}"
    cat = w.categories.get(a.category_id) if a.category_id is not None else None
    if cat is None:
        w.add("reference_missing", where)
        return None
    if foreign_data(a.extra, NS):
        w.add("field_dropped", where)
    if a.iscrowd:
        w.add("field_dropped", f"{where} iscrowd")
    if a.score is not None:
        w.add("score_dropped", where)
    if a.track_id is not None:
        w.add("track_dropped", where)

    shape: Any = a.shape
    bbox: Any = None
    polygon: Any = None
    mask: Any = None
    keypoints: Any = []
    if isinstance(shape, Ellipse):
        shape = geometry.ellipse_to_polygon(shape)
        w.add("shape_converted", f"{where}: ellipse -> polygon")
    if isinstance(shape, Box) and shape.rotation:
        shape = shape.bounds()
        w.add("rotation_applied", where)
    if isinstance(shape, Polygon) and (len(shape.parts) != 1 or shape.has_holes):
        try:
            shape = Mask(rle=geometry.polygon_to_rle(shape, height, width))
        except ValueError as e:  # e.g. coordinates far outside any image
            raise ConversionError(f"{where}: {e}") from None
        w.add("polygon_to_mask", f"{where}: {'holes' if a.shape.has_holes else 'parts'}")  # type: ignore[union-attr]
    if isinstance(shape, Polyline):
        w.add("shape_dropped", f"{where}: polyline")
        return None

    kps = shape if isinstance(shape, Keypoints) else a.keypoints
    stored = _norm(a.stored_bbox.to_xyxy()) if a.stored_bbox is not None else None
    rounded = False
    if isinstance(shape, Box):
        bbox = _norm(shape.to_xyxy())
        if w.foreign:
            bbox, rounded = _outward(bbox)
    elif isinstance(shape, Polygon):
        ext = shape.parts[0].exterior
        if w.foreign:
            if stored is not None and len(ext) and stored == _norm(_vertex_box(shape)):
                stored = None  # COCO's bbox of a polygon: the box of the rounded vertices
            ext, rounded = _round_points(ext)
            if stored is not None:
                stored, r = _outward(stored)
                rounded |= r
        ring = ext.tolist()
        polygon = ring if ns.get("_open") or not ring else [*ring, ring[0]]
        vbox = [*ext.min(axis=0).tolist(), *ext.max(axis=0).tolist()] if ring else None
        bbox = stored if stored is not None else (_norm(vbox) if vbox else None)
    elif isinstance(shape, Mask):
        bbox, mask = _emit_mask(w, shape, a.stored_bbox, ns, where)
        if mask is None and bbox is None:
            return None
    elif stored is not None and not (kps is not None and a.stored_bbox == kps.bounds()):
        bbox = stored  # a box-only label (COCO "segmentation": []), unless it only repeats
        # the extent of the keypoints (COCO requires a bbox on keypoint annotations)
        if w.foreign:
            bbox, rounded = _outward(bbox)
    if w.foreign and bbox is not None and (bbox[2] <= bbox[0] or bbox[3] <= bbox[1]):
        # a box of no width or height (a line of vertices): Hasty refuses it (check_bbox_format)
        w.add("shape_dropped", f"{where}: no area")
        return None
    if kps is not None:
        keypoints, r = _emit_keypoints(w, cat, kps, ns.get("keypoints"), s, j)
        rounded |= r
        unlabelled = int((kps.visibility == 0).sum())
        if unlabelled:  # a Hasty keypoint is placed, visible or not: COCO's v=0 has no place
            w.add("keypoints_dropped", f"{where}: {unlabelled} unlabelled keypoints")
    if rounded:
        w.add("coordinates_rounded", where)
    elif "keypoints" in ns:
        keypoints = ns["keypoints"]
    if "polygon" in ns:  # raw values only while they still agree with the model
        raw = ns["polygon"]
        if raw == [] or (raw == polygon if isinstance(shape, Polygon) else (
                isinstance(shape, Mask) and ns.get("_polygon_for") == _rle.to_string(shape.rle.counts))):
            polygon = raw
    if ns.get("mask") == [] and not isinstance(shape, Mask):
        mask = []
    if "bbox" in ns:
        raw = ns["bbox"]
        if raw is None and isinstance(shape, Polygon):
            bbox = None
        elif raw is not None and bbox is not None and [float(v) for v in raw] == bbox:
            bbox = raw
    attrs = dict(a.attributes)
    if w.infer:
        for name, v in a.attributes.items():
            if name not in w.declared:
                _infer_attribute(w, name, v, cat.id)
                if w.undeclared[name][0] == "TEXT" and not isinstance(v, (str, type(None))):  # mixed
                    attrs[name] = json.dumps(v) if isinstance(v, (list, dict)) else str(v)
                    w.add("attribute_converted", f"{where}: {name!r} {v!r} -> {attrs[name]!r}")
    attributes = {w.attr_name(k, cat.id): v for k, v in attrs.items()}

    ann_id = a.id
    if ann_id is None and "id" not in ns and "label_id" not in ns:
        ann_id = _uuid("label", s.id, j)
        w.add("id_assigned", where)
    elif not isinstance(ann_id, str):
        ann_id = str(ann_id)
    values = {
        "id": ann_id, "label_id": ann_id, "class_name": w.class_names[cat.id], "bbox": bbox,
        "polygon": polygon, "mask": mask,
        "z_index": a.z_index if a.z_index is not None else 0,
        "keypoints": keypoints, "attributes": attributes,
    }
    rest = {k: v for k, v in ns.items() if k not in ("bbox", "polygon", "mask", "keypoints")}
    return _ordered(values, rest, LABEL_KEYS)


def _value_type(value: Any) -> str:
    """The Hasty attribute type a label value suggests."""
    return ("BOOL" if isinstance(value, bool) else "INT" if isinstance(value, int)
            else "FLOAT" if isinstance(value, float)
            else "MULTIPLE-SELECTION" if isinstance(value, list) else "TEXT")


def _infer_attribute(w: _Writer, name: str, value: Any, category_id: int) -> None:
    """Declare an attribute that labels carry but the dataset does not define (its type was
    chosen from all its values when the writer started)."""
    entry = w.undeclared[name]
    if entry[0] == "MULTIPLE-SELECTION" and isinstance(value, list):
        for v in value:
            if isinstance(v, str):
                entry[1][v] = None
    entry[2].add(category_id)


def _emit_mask(w: _Writer, shape: Mask, stored: Box | None, ns: Mapping[str, Any],
               where: str) -> tuple[list[int] | None, list[int] | None]:
    """(bbox, mask) of a mask label: the stored box when it is integral, inside the image and
    holds every pixel, else the tight box (counted)."""
    r = shape.rle
    box = _int_box(stored)
    if box is not None:
        x0, y0, x1, y1 = box
        if not (0 <= x0 <= x1 <= r.width and 0 <= y0 <= y1 <= r.height):
            box = None
    if _rle.area(r) == 0:
        w.add("empty_mask", where)
        if "mask" in ns and ns["mask"] == [] and box is not None:
            return box, []
        return box, None
    if box is not None:
        try:
            xyxy, pairs = _rle.to_hasty(r, box)
        except ValueError:
            box = None
    if box is None:
        xyxy, pairs = _rle.to_hasty(r)
        if stored is not None:
            w.add("bbox_recomputed", where)
    raw = ns.get("mask")
    if raw and raw != pairs:
        try:
            if _rle.from_hasty(raw, xyxy, r.height, r.width) == r:
                pairs = raw
        except ParseError:
            pass
    return list(xyxy), pairs


def _emit_keypoints(w: _Writer, cat: Category, shape: Keypoints, template: Any,
                    s: Sample, j: int) -> tuple[list[dict[str, Any]], bool]:
    """A label's ``keypoints`` list and whether coordinates were rounded (data from other
    formats: Hasty keypoints are on integer pixels)."""
    points, rounded = _round_points(shape.points) if w.foreign else (shape.points, False)
    pts = points.tolist()
    vis = shape.visibility.tolist()
    if isinstance(template, list) and len(template) == len(pts) and 0 not in vis:
        out = []
        for t, (x, y), v in zip(template, pts, vis):
            d = dict(t) if isinstance(t, dict) else {}
            if d.get("x") != x or d.get("y") != y:  # keep 4 as 4 when the model holds 4.0
                d["x"], d["y"] = x, y
            if "visible" in d or v != 2:
                d["visible"] = v == 2
            out.append(d)
        return out, rounded
    names = shape.names
    if names is None and cat.keypoint_names and len(cat.keypoint_names) == len(pts):
        names = cat.keypoint_names
    if names is None:
        names = tuple(str(k + 1) for k in range(len(pts)))
    if cat.id in w.new_schemas or cat.id not in w.kp_ids:
        _foreign_schema(w, cat, names)  # data from another format: name its keypoints
    ids = w.kp_ids.get(cat.id, {})
    out = []
    for k, ((x, y), v, n) in enumerate(zip(pts, vis, names)):
        if v == 0:
            continue
        out.append({"x": x, "y": y, "id": _uuid("keypoint", s.id, j, k), "norder": k,
                    "visible": v == 2, "created_by": None, "updated_by": None,
                    "create_date": None, "update_date": None, "keypoint_class_id": ids.get(n)})
    return out, rounded


# --------------------------------------------------------------------------------------
# I/O
# --------------------------------------------------------------------------------------


def _load(path: Path) -> tuple[Any, str]:
    if path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                members = [n for n in z.namelist() if n.lower().endswith(".json")]
                if len(members) != 1:
                    raise ParseError(path, None, f"expected a zip holding one .json file, got "
                                                 f"{len(members)}")
                name = f"{path}/{members[0]}"
                data = z.read(members[0])
        except (zipfile.BadZipFile, NotImplementedError, EOFError, OSError) as e:
            # a damaged archive (bad CRC, truncated) or a compression zipfile cannot read
            raise ParseError(path, None, f"not a readable zip: {e}") from None
        return load_json_bytes(data, name), name
    return read_json(path), str(path)


def read(path: str | Path, *, report: ConversionReport | None = None) -> Dataset:
    """Read a json_v1.1 export (``.json``, or a ``.zip`` holding one).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "export.json"
    >>> _ = p.write_text('{"label_classes": [{"class_name": "car"}], "images": []}')
    >>> [c.name for c in read(p).categories]
    ['car']
    """
    doc, name = _load(Path(path))
    return parse(doc, name, report=report)


def write(dataset: Dataset, path: str | Path, *, report: ConversionReport | None = None,
          indent: bool = False) -> None:
    """Write a json_v1.1 document atomically (nothing is left on failure).

    >>> import tempfile, pathlib
    >>> from annoconv.model import Category, Dataset
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "export.json"
    >>> write(Dataset(categories=(Category(id=1, name="car"),)), out)
    >>> read(out).categories[0].name
    'car'
    """
    rep = report if report is not None else ConversionReport()
    doc = emit(dataset, rep)
    write_json(path, doc, indent=indent)
    rep.files.append(Path(path).name)


_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"(\s*:)?|[{}\[\]]')


def top_level_keys(head: bytes) -> list[str] | None:
    """The keys of the top-level JSON object seen in ``head`` (None if it is no object).

    >>> top_level_keys(b'{"a": {"b": 1}, "c": "{", "d": [')
    ['a', 'c', 'd']
    """
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"{"):
        return None
    depth = 0
    keys: list[str] = []
    for m in _TOKEN.finditer(text):
        tok = m.group(0)
        if tok in (b"{", b"["):
            depth += 1
        elif tok in (b"}", b"]"):
            depth -= 1
            if depth == 0:
                break
        elif m.group(1) is not None and depth == 1:
            keys.append(tok[1 : tok.rindex(b'"')].decode("utf-8", "replace"))
    return keys


def sniff(path: Path, head: bytes) -> int:
    """2 for a JSON object with ``label_classes`` and ``images`` / ``project_name`` /
    ``export_format_version`` at the top; 1 with ``label_classes`` only."""
    if head.startswith(b"PK") and path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as z:
                members = [n for n in z.namelist() if n.lower().endswith(".json")]
                if len(members) != 1:
                    return 0
                with z.open(members[0]) as f:
                    head = f.read(65536)
        except (OSError, zipfile.BadZipFile):
            return 0
    keys = top_level_keys(head)
    if not keys or "label_classes" not in keys:
        return 0
    return 2 if {"images", "project_name", "export_format_version"} & set(keys) else 1


FORMAT = FormatSpec(
    name="hasty",
    description="Hasty json_v1.1 export (bbox, polygon, box-relative RLE masks, keypoints, "
                "attributes, tags, statuses)",
    extensions=(".json", ".zip"),
    sniff=sniff,
    read=read,
    write=write,
    write_options={"indent": "pretty-print with 2 spaces (default: compact)"},
)
