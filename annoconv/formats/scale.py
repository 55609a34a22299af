"""Scale AI task JSON (format ``scale``): completed image annotation tasks, read and written.

What a file holds (specs/scale.md). A Scale *task* is one image::

    {"task_id": "6a1f...01", "type": "imageannotation", "status": "completed",
     "params": {"attachment": "https://.../0001.jpg", "geometries": {"box": {
                "objects_to_annotate": ["car"]}}, "metadata": {"width": 64, "height": 48}},
     "metadata": {"filename": "0001.jpg"}, "tags": ["pilot"], "batch": "b1",
     "response": {"annotations": [
        {"uuid": "1111...", "type": "box", "label": "car", "attributes": {"occluded": "no"},
         "left": 4.0, "top": 6.0, "width": 16.0, "height": 12.0}],
                  "global_attributes": {"night": "no"}}}

A file is one task, an array of tasks (a dump of ``client.get_tasks()``), a callback body
``{"response", "task_id", "task"?}`` or a list page ``{"docs": [...], "total", "limit",
"offset", "has_more", "next_token"}``; all four are read, and written back in the layout read.
Coordinates are pixel-edge floats (origin at the image's top-left border), annoconv's own
convention: no half-pixel shift. Geometries and what they become in the model:

============  ============================================  ==================================
Scale type    response keys                                 model shape
============  ============================================  ==================================
box           left, top, width, height (+ rotation in       Box (rotation in degrees,
              radians clockwise, vertices: 4 corners)       clockwise, about the centre)
polygon       vertices [{x, y}] (>= 3, one ring, no holes)  Polygon (one part)
line          vertices [{x, y}] (>= 1)                      Polyline
point         x, y                                          Keypoints (1 point, visible)
ellipse       vertices: the 4 extremal points               Ellipse (centre = mean; rx from
                                                            vertices 1-3, ry from 0-2)
cuboid        vertices [{description, x, y}] (4..6; the     Keypoints, ``names`` = the vertex
              6 face-/side- descriptions), edges, ...       descriptions; edges etc. in extra
============  ============================================  ==================================

Legacy tasks (``annotation``, ``polygonannotation``, ``lineannotation``, ``pointannotation``,
``cuboidannotation``) carry annotations without ``type`` and ``uuid``: the type comes from
the task type, or, when the task type itself was inferred (a callback body without its
task), from each annotation's keys (``left``+``width`` box, ``vertices`` polygon, ``x``+``y``
point; spec §4.7); the id is ``"{task_id}:{index}"``; without ``label``
(``with_labels: false``) the class is ``"object"`` (counted ``label_missing``).
``segmentannotation`` responses hold PNG URLs only: with ``mask_dir=`` the reader decodes the
local copy of ``indexedImage`` (or ``extendedIndexedImage``, index = R + 256 G + 65536 B),
found by URL basename or as ``{task_id}.png``, into one RLE per ``labelMapping`` index
(a list value = instance label: one annotation per instance, kind "thing"; a dict = "stuff").
PNG modes: one channel (L, P, I;16, I, 1) is the index, grey + alpha (LA) its grey channel,
RGB(A) R + 256 G + 65536 B (alpha ignored); other modes are a located error.

Model mapping. ``Sample.id`` = task_id, ``file_name`` = ``metadata.filename`` (or
``file_name``) else the attachment URL's basename, ``subset`` = batch, ``tags`` = tags,
``attributes`` = response.global_attributes, ``Dataset.info["name"]`` = the project when all
tasks share one. Categories are the label names in file order (params' objects_to_annotate,
leaves of nested LabelDescriptions with the parent choice as ``supercategory``, then labels
seen in responses), ids 1..N; a category whose keypoint annotations (cuboids) all name the
same vertices gets them as ``keypoint_names``, and as ``skeleton`` the vertex pairs its
cuboids' ``edges`` join (an edge end lying on a vertex). Status: pending -> new, completed -> done (reviewed when
``customer_review_status`` is accepted or fixed, rejected when rejected), canceled ->
skipped; anything else (v2's ``error`` too: the spec suggested "new", but an errored task is
not new) is kept verbatim, status None, counted. Image size: ``params.metadata`` or
``metadata`` width/height, else the image in ``image_dir=`` (the indexed PNG for segmentation),
else a ParseError naming the option (``allow_missing_size=True`` leaves it None).

API: ``parse(doc, file, *, report, image_dir, mask_dir, allow_missing_size)`` -> Dataset,
``emit(ds, report, *, layout, attachment_prefix)`` -> JSON-ready object, ``read(path, ...,
validate=False)`` (``validate`` also checks ``schemas/scale.json``), ``write(ds, path, *,
layout, attachment_prefix, indent)``, ``sniff``. Writer layouts: array, task, callback, page.

Round trip. ``Sample.extra["scale"]`` is the task itself minus ``response.annotations`` (so the
original status string is ``extra["scale"]["status"]``); the writer writes it back with the
model's values laid over it wherever the model differs from what the reader derived (status,
tags, batch, task_id, global attributes, annotations; not file name or size, whose source
fields stay as read).
``Annotation.extra["scale"]`` holds the annotation's unknown keys verbatim, and under
``"_annoconv"`` what exactness needs: absent keys, the key order when it is not the default,
and the original geometry when recomputing it from the model would not give the same JSON
(float ``left + width - left``, rotation radians <-> degrees, ellipse axes, mixed int/float,
vertex keys not in x, y order). Round trips keep key order everywhere (``_same`` compares it).

Choices where the spec is unsure: a rotated box whose ``vertices`` disagree (> 0.01 px) with
``rotation`` + left/top/width/height is rebuilt from the vertices (spec §9 Q1, counted
``box_vertices_used``); a point without ``x``/``y`` uses ``vertices[0]``; the writer builds
``params.geometries`` of a task from another format as every category name under each geometry
the task uses, writes size and file name to ``metadata``, traces masks to polygons (holes
dropped), splits multi-part polygons and keypoint groups into one Scale object per part or point,
writes a box-only record (COCO ``segmentation: []``) as its stored box, and gives categories
sharing a name unique labels (``<name>_<category id>``, counted ``renamed``: Scale
tells classes by label only). What Scale's reader would refuse is not written, and counted:
polygon parts under 3 vertices, annotations without a listed category, a 0x0 size (Scale's
are positive: no size is written), repeated task ids (``1`` and ``"1"``: ``_2`` appended).
Segmentation tasks are written back as read (their PNGs are not re-encoded: counted).
Differences from peers: the scaleapi SDK has no converter; FiftyOne's ``import_from_scale``
ignores ``rotation``, ellipses and cuboids and needs sizes from the images.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np

from .. import rle as _rle
from .._io import read_json, read_png, rgb_to_ids, validate_schema, write_json
from ..errors import ConversionError, OptionError, ParseError, json_pointer
from ..geometry import mask_to_polygon
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
    Shape,
    Status,
    rgba_from_hex,
)
from ..registry import FormatSpec
from ..report import ConversionReport, count_category_fields, unique_ids

__all__ = ["FORMAT", "emit", "parse", "read", "sniff", "write"]

NS = "scale"
CONTROL = "_annoconv"

#: task type -> the geometry its annotations have when they carry no ``type`` (None: any)
VECTOR_TASKS: dict[str, str | None] = {
    "imageannotation": None,
    "annotation": "box",
    "polygonannotation": "polygon",
    "lineannotation": "line",
    "pointannotation": "point",
    "cuboidannotation": "cuboid",
}
SEGMENT_TASK = "segmentannotation"
GEOMETRY_KEYS: dict[str, tuple[str, ...]] = {
    "box": ("left", "top", "width", "height", "rotation", "vertices"),
    "polygon": ("vertices",),
    "line": ("vertices",),
    "point": ("x", "y", "vertices"),
    "ellipse": ("vertices",),
    "cuboid": ("vertices",),
}
COMMON_KEYS = ("uuid", "type", "label", "attributes")
_ORDER = {kind: COMMON_KEYS + keys for kind, keys in GEOMETRY_KEYS.items()}  # default key order
_OWN = {kind: frozenset(keys) for kind, keys in _ORDER.items()}
CUBOID_VERTICES = (
    "face-topleft", "face-bottomleft", "face-topright", "face-bottomright",
    "side-topcorner", "side-bottomcorner",
)
STATUS_IN: dict[str, Status] = {
    "pending": Status.NEW, "completed": Status.DONE, "canceled": Status.SKIPPED,
}
REVIEW_IN: dict[str, Status] = {
    "accepted": Status.REVIEWED, "fixed": Status.REVIEWED, "rejected": Status.REJECTED,
}
REVIEW_KNOWN = ("accepted", "fixed", "commented", "rejected", "pending")
#: canonical status -> (status, customer_review_status or None, many-to-one merge?)
STATUS_OUT: dict[Status, tuple[str, str | None, bool]] = {
    Status.NEW: ("pending", None, False),
    Status.IN_PROGRESS: ("pending", None, True),
    Status.PRELABELED: ("pending", None, True),
    Status.TO_REVIEW: ("completed", None, True),
    Status.DONE: ("completed", None, False),
    Status.REVIEWED: ("completed", "accepted", False),
    Status.REJECTED: ("completed", "rejected", False),
    Status.SKIPPED: ("canceled", None, False),
}
_GET_X, _GET_Y = operator.itemgetter("x"), operator.itemgetter("y")
#: how close (px) a rotated box's vertices must be to the corners its rotation gives
VERTEX_TOLERANCE = 0.01
_UNLABELED = "object"


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------


def _kind(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return f"the number {v!r}"
    if isinstance(v, str):
        return f"the string {v!r}" if len(v) < 40 else "a string"
    if isinstance(v, list):
        return f"an array of {len(v)}"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def _same(a: Any, b: Any) -> bool:
    """JSON equality that also tells int from float, bool from int and minds key order
    (what an exact round trip keeps).

    >>> _same({"x": 1, "y": 2}, {"x": 1, "y": 2}), _same({"x": 1, "y": 2}, {"y": 2, "x": 1})
    (True, False)
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def _is_number(v: object) -> bool:
    return (type(v) is int) or (type(v) is float and math.isfinite(v))


def _basename(url: str) -> str:
    """The last path segment of a URL or path, unquoted (``a/b/c.jpg?sig=1`` -> ``c.jpg``)."""
    path = urlsplit(url).path if "://" in url else url
    return PurePosixPath(unquote(path)).name


class _Where:
    """``task 'id' annotation 3``, formatted only when a report needs it."""

    __slots__ = ("index", "task_id")

    def __init__(self, task_id: str, index: int) -> None:
        self.task_id, self.index = task_id, index

    def __str__(self) -> str:
        return f"task {self.task_id!r} annotation {self.index}"


@dataclass
class _Ctx:
    """What every per-task step needs: where it is, the header, options, the report."""

    file: str | Path | None
    categories: dict[str, int]
    report: ConversionReport | None
    image_dir: Path | None = None
    mask_dir: Path | None = None
    allow_missing_size: bool = False
    seen: dict[str, str] = field(default_factory=dict)

    def fail(self, ptr: tuple[Any, ...], message: str) -> ParseError:
        return ParseError(self.file, json_pointer(*ptr), message)

    def add(self, kind: str, n: int = 1, where: object = None) -> None:
        if self.report is not None:
            self.report.add(kind, n, where=None if where is None else str(where))


# --------------------------------------------------------------------------------------
# reading: geometry
# --------------------------------------------------------------------------------------


def _number(a: Mapping[str, Any], key: str, ptr: tuple[Any, ...], ctx: _Ctx) -> int | float:
    if key not in a:
        raise ctx.fail(ptr, f"missing key '{key}'")
    v = a[key]
    if not _is_number(v):
        raise ctx.fail((*ptr, key), f"expected a number, got {_kind(v)}")
    return v


def _vertices(
    verts: Any, ptr: tuple[Any, ...], ctx: _Ctx, what: str, count: tuple[int, int | None]
) -> tuple[np.ndarray, bool]:
    """(n, 2) array of ``[{x, y}, ...]`` (int64 when all ints) and whether writing the array
    back gives the same JSON (no mixed int/float, no other keys in a vertex, x before y)."""
    if not isinstance(verts, list):
        raise ctx.fail(ptr, f"expected an array of {{x, y}} vertices, got {_kind(verts)}")
    lo, hi = count
    if len(verts) < lo or (hi is not None and len(verts) > hi):
        want = f"{lo}" if hi == lo else f"at least {lo}" if hi is None else f"{lo} to {hi}"
        raise ctx.fail(ptr, f"{what} needs {want} vertices, got {len(verts)}")
    try:
        xs = list(map(_GET_X, verts))
        ys = list(map(_GET_Y, verts))
    except (TypeError, KeyError):
        xs = ys = None
    types = set(map(type, xs)) | set(map(type, ys)) if xs is not None else {object}
    if not types <= {int, float}:
        for i, v in enumerate(verts):
            if not isinstance(v, dict):
                raise ctx.fail((*ptr, i), f"expected a vertex {{x, y}}, got {_kind(v)}")
            for k in ("x", "y"):
                if k not in v:
                    raise ctx.fail((*ptr, i), f"missing key '{k}'")
                if not _is_number(v[k]):
                    raise ctx.fail((*ptr, i, k), f"expected a number, got {_kind(v[k])}")
    arr = np.array([xs, ys]).T if verts else np.zeros((0, 2), np.int64)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        i = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise ctx.fail((*ptr, i), "coordinates must be finite")
    exact = len(types) <= 1 and sum(map(len, verts)) == 2 * len(verts) and \
        "y" not in set(map(next, map(iter, verts)))  # every vertex x first
    return arr, exact


def _box(a: Mapping[str, Any], ptr: tuple[Any, ...], ctx: _Ctx, where: object) -> Box:
    if not all(k in a for k in ("left", "top", "width", "height")):
        raise ctx.fail(ptr, f"a box needs left, top, width and height; got keys {_keys(a)}")
    left, top = _number(a, "left", ptr, ctx), _number(a, "top", ptr, ctx)
    width, height = _number(a, "width", ptr, ctx), _number(a, "height", ptr, ctx)
    if width < 0 or height < 0:
        raise ctx.fail(ptr, f"box width and height must be >= 0, got {width} x {height}")
    rotation = _number(a, "rotation", ptr, ctx) if "rotation" in a else 0
    box = Box.from_xywh(left, top, width, height, rotation=math.degrees(rotation) if "rotation" in a else 0)
    if "vertices" in a:
        verts, _ = _vertices(a["vertices"], (*ptr, "vertices"), ctx, "a rotated box", (4, 4))
        given = verts.tolist()
        far = max(min(math.hypot(x - vx, y - vy) for vx, vy in given) for x, y in _corners(box))
        if far > VERTEX_TOLERANCE:
            ctx.add("box_vertices_used", where=where)
            return _box_from_vertices(verts.astype(np.float64))
    return box


def _corners(box: Box) -> list[tuple[float, float]]:
    """:meth:`Box.corners` in plain floats (same arithmetic, no array overhead for 4 points):
    top-left, top-right, bottom-right, bottom-left, rotated clockwise about the centre."""
    pts = [(float(box.x0), float(box.y0)), (float(box.x1), float(box.y0)),
           (float(box.x1), float(box.y1)), (float(box.x0), float(box.y1))]
    if not box.rotation:
        return pts
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    t = math.radians(box.rotation)
    c, s = math.cos(t), math.sin(t)
    return [(cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c) for x, y in pts]


def _box_from_vertices(v: np.ndarray) -> Box:
    """The rectangle through 4 corners listed around it: centre, side lengths, angle of the
    first side (degrees, clockwise on screen)."""
    cx, cy = v.mean(axis=0).tolist()
    w = float(np.hypot(*(v[1] - v[0])))
    h = float(np.hypot(*(v[2] - v[1])))
    rot = math.degrees(math.atan2(v[1, 1] - v[0, 1], v[1, 0] - v[0, 0]))
    return Box(x0=cx - w / 2, y0=cy - h / 2, x1=cx + w / 2, y1=cy + h / 2, rotation=rot)


def _ellipse(verts: np.ndarray) -> Ellipse:
    v = verts.astype(np.float64)
    cx, cy = v.mean(axis=0).tolist()
    rx = float(np.hypot(*(v[1] - v[3]))) / 2
    ry = float(np.hypot(*(v[0] - v[2]))) / 2
    if rx > 0:  # the angle of the x axis (vertex 3 -> 1)
        rot = math.degrees(math.atan2(v[1, 1] - v[3, 1], v[1, 0] - v[3, 0]))
    elif ry > 0:  # a flat ellipse: the y axis (vertex 0 -> 2) is 90 degrees further on
        rot = math.degrees(math.atan2(v[2, 1] - v[0, 1], v[2, 0] - v[0, 0])) - 90
        rot = (rot + 180) % 360 - 180
    else:
        rot = 0.0
    return Ellipse(cx=cx, cy=cy, rx=rx, ry=ry, rotation=rot)


def _shape(
    kind: str, a: Mapping[str, Any], ptr: tuple[Any, ...], ctx: _Ctx, where: object
) -> tuple[Shape, bool]:
    """The model shape of one annotation, and whether :func:`_geometry_out` of it gives the
    source's geometry keys back exactly (True: nothing to keep)."""
    vptr = (*ptr, "vertices")
    if kind == "box" and "rotation" not in a and "vertices" not in a:  # the common case, fast
        if not all(k in a for k in ("left", "top", "width", "height")):
            raise ctx.fail(ptr, f"a box needs left, top, width and height; got keys {_keys(a)}")
        left, top, width, height = a["left"], a["top"], a["width"], a["height"]
        if not (_is_number(left) and _is_number(top) and _is_number(width) and _is_number(height)):
            return _box(a, ptr, ctx, where), False  # raises the located error
        if width < 0 or height < 0:
            raise ctx.fail(ptr, f"box width and height must be >= 0, got {width} x {height}")
        box = Box(x0=left, y0=top, x1=left + width, y1=top + height)
        return box, _same(box.x1 - left, width) and _same(box.y1 - top, height)
    if kind == "box":
        box = _box(a, ptr, ctx, where)
        return box, _same(_geometry_out(box, "box"), {k: a[k] for k in GEOMETRY_KEYS["box"] if k in a})
    if kind in ("polygon", "line"):
        if "vertices" not in a:
            raise ctx.fail(ptr, f"a {kind} needs 'vertices'; got keys {_keys(a)}")
        lo = 3 if kind == "polygon" else 1
        verts, exact = _vertices(a["vertices"], vptr, ctx, f"a {kind}", (lo, None))
        shape: Shape = Polygon.from_rings(verts) if kind == "polygon" else Polyline(points=verts)
        return shape, exact
    if kind == "point":
        if "x" in a or "y" in a or "vertices" not in a:
            x, y = _number(a, "x", ptr, ctx), _number(a, "y", ptr, ctx)
            kp = Keypoints(points=[[x, y]], visibility=[2])
            return kp, type(x) is type(y) and "vertices" not in a
        else:
            pts, _ = _vertices(a["vertices"], vptr, ctx, "a point", (1, 1))
        kp = Keypoints(points=pts, visibility=[2])
        return kp, _same(_geometry_out(kp, "point"), {k: a[k] for k in GEOMETRY_KEYS["point"] if k in a})
    if kind == "ellipse":
        if "vertices" not in a:
            raise ctx.fail(ptr, f"an ellipse needs 'vertices'; got keys {_keys(a)}")
        verts, _ = _vertices(a["vertices"], vptr, ctx, "an ellipse", (4, 4))
        el = _ellipse(verts)
        return el, _same(_geometry_out(el, "ellipse"), {"vertices": a["vertices"]})
    # cuboid
    if "vertices" not in a:
        raise ctx.fail(ptr, f"a cuboid needs 'vertices'; got keys {_keys(a)}")
    verts, _ = _vertices(a["vertices"], vptr, ctx, "a cuboid", (4, len(CUBOID_VERTICES)))
    names = []
    for i, v in enumerate(a["vertices"]):
        d = v.get("description")
        if d not in CUBOID_VERTICES:
            raise ctx.fail((*vptr, i, "description"),
                           f"expected one of {', '.join(CUBOID_VERTICES)}, got {_kind(d)}")
        if d in names:
            raise ctx.fail((*vptr, i, "description"), f"cuboid vertex {d!r} appears twice")
        names.append(d)
    kp = Keypoints(points=verts, visibility=[2] * len(names), names=tuple(names))
    return kp, _same(_geometry_out(kp, "cuboid"), {"vertices": a["vertices"]})


def _keys(a: Mapping[str, Any]) -> str:
    return ", ".join(sorted(a)) or "none"


# --------------------------------------------------------------------------------------
# reading: annotations, labels, tasks
# --------------------------------------------------------------------------------------


def _infer_kind(a: Mapping[str, Any], task_kind: str | None) -> str | None:
    if task_kind is not None:
        return task_kind
    if "left" in a and "width" in a:
        return "box"
    if "vertices" in a:
        return "polygon"
    if "x" in a and "y" in a:
        return "point"
    return None


def _read_annotation(
    a: Any, index: int, ptr: tuple[Any, ...], task_id: str, task_kind: str | None, ctx: _Ctx
) -> Annotation:
    if not isinstance(a, dict):
        raise ctx.fail(ptr, f"expected an annotation object, got {_kind(a)}")
    where = _Where(task_id, index)
    absent = [k for k in COMMON_KEYS if a.get(k) is None]  # missing, or null (kept as null)
    kind = a.get("type")
    if kind is None:
        kind = _infer_kind(a, task_kind)
        if kind is None:
            raise ctx.fail(ptr, f"annotation has no 'type' and its keys ({_keys(a)}) name no geometry")
    elif not isinstance(kind, str) or kind not in GEOMETRY_KEYS:
        raise ctx.fail((*ptr, "type"),
                       f"expected one of {', '.join(GEOMETRY_KEYS)}, got {_kind(kind)}")
    shape, exact = _shape(kind, a, ptr, ctx, where)
    label = a.get("label")
    if label is None:
        label = _UNLABELED
        ctx.add("label_missing", where=where)
    elif not isinstance(label, str):
        raise ctx.fail((*ptr, "label"), f"expected a string, got {_kind(label)}")
    attributes = a.get("attributes", {})
    if not isinstance(attributes, dict):
        raise ctx.fail((*ptr, "attributes"), f"expected an object, got {_kind(attributes)}")
    uuid = a.get("uuid")
    if uuid is None:
        uuid = f"{task_id}:{index}"
        ctx.add("id_assigned", where=where)
    elif not isinstance(uuid, str):
        raise ctx.fail((*ptr, "uuid"), f"expected a string, got {_kind(uuid)}")
    own = _OWN[kind] if not absent else {k for k in _OWN[kind] if k not in absent}
    ns: dict[str, Any] = {k: v for k, v in a.items() if k not in own}
    control: dict[str, Any] = {}
    if absent:
        control["absent"] = absent
    if not exact:
        control["geometry"] = {k: a[k] for k in GEOMETRY_KEYS[kind] if k in a}
    keys = list(a)
    if keys != [k for k in _ORDER[kind] if k in own and k in a] + list(ns):
        control["order"] = keys
    if control:
        ns[CONTROL] = control
    return Annotation(
        id=uuid, category_id=ctx.categories[label], shape=shape,
        attributes=dict(attributes), extra={NS: ns} if ns else {},
    )


def _label_leaves(
    items: Any, ptr: tuple[Any, ...], parent: str | None, ctx: _Ctx
) -> Iterable[tuple[str, str | None, bool]]:
    """(name, parent choice, instance_label) of every leaf of an objects_to_annotate list."""
    if not isinstance(items, list):
        raise ctx.fail(ptr, f"expected an array of labels, got {_kind(items)}")
    for i, item in enumerate(items):
        if isinstance(item, str):
            yield item, parent, False
        elif isinstance(item, dict) and isinstance(item.get("choice"), str):
            subs = item.get("subchoices")
            if subs:
                yield from _label_leaves(subs, (*ptr, i, "subchoices"), item["choice"], ctx)
            else:
                yield item["choice"], parent, bool(item.get("instance_label", False))
        else:
            raise ctx.fail((*ptr, i), f"expected a label string or {{choice, ...}}, got {_kind(item)}")


_ATTRIBUTE_TYPES = {"category": "select", "number": "float", "angle": "float", "text": "text"}


@dataclass
class _Header:
    """Categories and attribute specs collected over all tasks, in file order."""

    names: dict[str, dict[str, Any]] = field(default_factory=dict)
    attributes: dict[str, AttributeSpec] = field(default_factory=dict)

    def label(self, name: str, parent: str | None = None, kind: str = "thing",
              color: tuple[int, int, int, int] | None = None) -> None:
        if name not in self.names:
            self.names[name] = {"supercategory": parent, "kind": kind, "color": color}
        elif self.names[name]["color"] is None:
            self.names[name]["color"] = color

    def categories(self) -> tuple[Category, ...]:
        return tuple(Category(id=i, name=n, **v) for i, (n, v) in enumerate(self.names.items(), start=1))


def _collect_header(task: Any, ptr: tuple[Any, ...], header: _Header, ctx: _Ctx) -> None:
    """Pass 1 over one task: label names (params first, then the response) and attributes."""
    if not isinstance(task, dict):
        return
    params = task.get("params")
    if isinstance(params, dict):
        pptr = (*ptr, "params")
        geos = params.get("geometries")
        if isinstance(geos, dict):
            for g, spec in geos.items():
                if isinstance(spec, dict) and "objects_to_annotate" in spec:
                    for name, parent, _ in _label_leaves(
                        spec["objects_to_annotate"], (*pptr, "geometries", g, "objects_to_annotate"), None, ctx
                    ):
                        header.label(name, parent)
        if "objects_to_annotate" in params:
            for name, parent, _ in _label_leaves(params["objects_to_annotate"], (*pptr, "objects_to_annotate"), None, ctx):
                header.label(name, parent)
        if "labels" in params:
            for name, parent, inst in _label_leaves(params["labels"], (*pptr, "labels"), None, ctx):
                header.label(name, parent, "thing" if inst else "stuff")
        attrs = params.get("annotation_attributes")
        if isinstance(attrs, dict):
            for name, spec in attrs.items():
                if name in header.attributes or not isinstance(spec, dict):
                    continue
                scale_type = spec.get("type", "category")
                t = _ATTRIBUTE_TYPES.get(scale_type, "text") if isinstance(scale_type, str) else "text"
                if t == "select" and spec.get("allow_multiple"):
                    t = "multiselect"
                choices = spec.get("choices") if isinstance(spec.get("choices"), list) else ()
                header.attributes[name] = AttributeSpec(
                    name=name, type=t, values=tuple(choices), extra={NS: dict(spec)}  # type: ignore[arg-type]
                )
    response = task.get("response")
    if not isinstance(response, dict):
        return
    anns = response.get("annotations")
    if isinstance(anns, list):
        for a in anns:
            if isinstance(a, dict):
                label = a.get("label")
                label = _UNLABELED if label is None else label
                if isinstance(label, str):
                    header.label(label)
    mapping = response.get("labelMapping")
    if isinstance(mapping, dict):
        for name, v in mapping.items():
            first = v[0] if isinstance(v, list) and v else v
            color = rgba_from_hex(first.get("color"), alpha=False) if isinstance(first, dict) else None
            header.label(name, None, "thing" if isinstance(v, list) else "stuff", color)


def _status(status: Any, review: Any) -> Status | None:
    st = STATUS_IN.get(status) if isinstance(status, str) else None
    if st is Status.DONE and isinstance(review, str) and review in REVIEW_IN:
        return REVIEW_IN[review]
    return st


def _size(task: dict[str, Any], file_name: str, ptr: tuple[Any, ...], ctx: _Ctx) -> tuple[int | None, int | None]:
    """(width, height) from params.metadata or metadata, else the image in image_dir."""
    params = task.get("params")
    for where, md in ((("params", "metadata"), params.get("metadata") if isinstance(params, dict) else None),
                      (("metadata",), task.get("metadata"))):
        if not isinstance(md, dict) or ("width" not in md and "height" not in md):
            continue
        out = []
        for key in ("width", "height"):
            v = md.get(key)
            if key not in md:
                raise ctx.fail((*ptr, *where), f"has '{'height' if key == 'width' else 'width'}' but no '{key}'")
            if type(v) is not int or v <= 0:
                raise ctx.fail((*ptr, *where, key), f"expected a positive integer, got {_kind(v)}")
            out.append(v)
        return out[0], out[1]
    if ctx.image_dir is not None:
        path = ctx.image_dir / file_name
        if not path.is_file():
            raise ctx.fail(ptr, f"image size unknown: no width/height in params.metadata or metadata, "
                                f"and no image {str(path)!r} (image_dir=)")
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                w, h = im.size
        except (UnidentifiedImageError, OSError) as e:
            raise ParseError(path, None, f"not a readable image: {e}") from None
        return w, h
    if ctx.allow_missing_size:
        ctx.add("size_unknown", where=f"task {task.get('task_id')!r}")
        return None, None
    if task.get("type") == SEGMENT_TASK:
        raise ctx.fail(ptr, "image size unknown: no width/height in params.metadata or metadata; "
                            "pass mask_dir= (-r mask_dir=DIR) to read the masks and their size, "
                            "or allow_missing_size=True to leave it unknown")
    raise ctx.fail(ptr, "image size unknown: no width/height in params.metadata or metadata; "
                        "pass image_dir= (-r image_dir=DIR) to read it from the images, "
                        "or allow_missing_size=True to leave it unknown")


def _file_name(task: dict[str, Any]) -> str:
    md = task.get("metadata")
    if isinstance(md, dict):
        for key in ("filename", "file_name"):
            if isinstance(md.get(key), str) and md[key]:
                return md[key]
    params = task.get("params")
    att = params.get("attachment") if isinstance(params, dict) else None
    if isinstance(att, str) and _basename(att):
        return _basename(att)
    return str(task.get("task_id"))


def _read_task(task: Any, ptr: tuple[Any, ...], ctx: _Ctx) -> Sample:
    """One task -> one Sample (pure but for image_dir / mask_dir reads)."""
    if not isinstance(task, dict):
        raise ctx.fail(ptr, f"expected a task object, got {_kind(task)}")
    if "task_id" not in task:
        raise ctx.fail(ptr, "missing key 'task_id'")
    task_id = task["task_id"]
    if not isinstance(task_id, str):
        raise ctx.fail((*ptr, "task_id"), f"expected a string, got {_kind(task_id)}")
    if task_id in ctx.seen:
        raise ctx.fail((*ptr, "task_id"), f"duplicate task_id {task_id!r} (first at {ctx.seen[task_id]})")
    ctx.seen[task_id] = json_pointer(*ptr)
    response = task.get("response")
    if response is not None and not isinstance(response, dict):
        raise ctx.fail((*ptr, "response"), f"expected an object, got {_kind(response)}")
    ttype = task.get("type")
    inferred = ttype is None
    if inferred:  # a callback body without its task: tell by the response's shape
        if isinstance(response, dict) and "labelMapping" in response:
            ttype = SEGMENT_TASK
        else:
            anns = response.get("annotations") if response else None
            legacy = isinstance(anns, list) and anns and isinstance(anns[0], dict) and "type" not in anns[0]
            ttype = "annotation" if legacy else "imageannotation"
    if not isinstance(ttype, str) or (ttype != SEGMENT_TASK and ttype not in VECTOR_TASKS):
        raise ctx.fail((*ptr, "type"), f"task type {_kind(ttype)} is not an image annotation task; "
                       f"annoconv reads {', '.join([*VECTOR_TASKS, SEGMENT_TASK])}")
    status, review = task.get("status"), task.get("customer_review_status")
    canonical = _status(status, review)
    where = f"task {task_id!r}"
    if status is not None and canonical is None:
        ctx.add("status_unknown", where=f"{where} status {status!r}")
    if review is not None and review not in REVIEW_KNOWN:
        ctx.add("status_unknown", where=f"{where} customer_review_status {review!r}")
    tags = task.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ctx.fail((*ptr, "tags"), f"expected an array of strings, got {_kind(tags)}")
    batch = task.get("batch")
    file_name = _file_name(task)
    tpl = dict(task)
    if inferred:  # remembered for the writer, not written (an absent or null type stays so)
        tpl[CONTROL] = {"type": ttype}
    gattrs: dict[str, Any] = {}
    anns: list[Annotation] = []
    size: tuple[int | None, int | None] | None = None
    if isinstance(response, dict):
        rptr = (*ptr, "response")
        g = response.get("global_attributes", {})
        if not isinstance(g, dict):
            raise ctx.fail((*rptr, "global_attributes"), f"expected an object, got {_kind(g)}")
        gattrs = dict(g)
        if ttype == SEGMENT_TASK:
            anns, size = _read_segmentation(task, response, rptr, ctx)
        else:
            items = response.get("annotations", [])
            if not isinstance(items, list):
                raise ctx.fail((*rptr, "annotations"), f"expected an array, got {_kind(items)}")
            # a type the task states decides untyped annotations' geometry; an inferred one
            # does not: each then tells by its own keys (spec §4.7)
            kind = None if inferred else VECTOR_TASKS[ttype]
            anns = [_read_annotation(a, i, (*rptr, "annotations", i), task_id, kind, ctx)
                    for i, a in enumerate(items)]
            tpl["response"] = {k: v for k, v in response.items() if k != "annotations"}
            if "annotations" not in response:
                tpl["response"][CONTROL] = {"absent": ["annotations"]}
            elif next(iter(response)) != "annotations":
                tpl["response"][CONTROL] = {"order": list(response)}
    if size is None or size == (None, None):
        size = _size(task, file_name, ptr, ctx)
    return Sample(
        id=task_id, file_name=file_name, width=size[0], height=size[1],
        subset=batch if isinstance(batch, str) else None, status=canonical, tags=tuple(tags),
        attributes=gattrs, annotations=tuple(anns), extra={NS: tpl},
    )


def _label_mapping(mapping: Any, ptr: tuple[Any, ...], ctx: _Ctx) -> list[tuple[str, int, Any]]:
    """(label, index, entry) for every labelMapping entry; indices must be unique."""
    if not isinstance(mapping, dict):
        raise ctx.fail(ptr, f"expected an object label -> {{index, color}}, got {_kind(mapping)}")
    out: list[tuple[str, int, Any]] = []
    seen: dict[int, str] = {}
    for name, v in mapping.items():
        entries = v if isinstance(v, list) else [v]
        for j, e in enumerate(entries):
            eptr = (*ptr, name, j) if isinstance(v, list) else (*ptr, name)
            if not isinstance(e, dict) or type(e.get("index")) is not int or e["index"] < 0:
                raise ctx.fail(eptr, f"expected {{index: int >= 0, color}}, got {_kind(e)}")
            idx = e["index"]
            if idx in seen:
                raise ctx.fail((*eptr, "index"), f"index {idx} is also used by {seen[idx]!r}")
            seen[idx] = name
            out.append((name, idx, e))
    return out


def _mask_indices(arr: np.ndarray, mode: str, path: Path) -> np.ndarray:
    """The (H, W) label indices of an indexed mask PNG: one channel (L, P, I;16, I, 1) as
    is; grey + alpha (LA) the grey channel; RGB(A) R + 256 G + 65536 B (alpha ignored, as
    ``extendedIndexedImage`` is defined); any other mode is a located error."""
    if arr.ndim == 2 and arr.dtype.kind in "biu":
        if arr.dtype.kind == "i" and arr.size and int(arr.min()) < 0:
            raise ParseError(path, None, f"mask has negative indices (mode {mode})")
        return arr.astype(np.uint8) if arr.dtype.kind == "b" else arr
    if arr.ndim == 3 and mode == "LA":
        return arr[..., 0]
    if arr.ndim == 3 and mode in ("RGB", "RGBA"):
        return rgb_to_ids(arr)
    raise ParseError(path, None, f"mask mode {mode} is not an indexed image (expected L, P, "
                                 "I;16, I, 1, LA, RGB or RGBA)")


def _read_segmentation(
    task: dict[str, Any], response: dict[str, Any], ptr: tuple[Any, ...], ctx: _Ctx
) -> tuple[list[Annotation], tuple[int | None, int | None] | None]:
    task_id = task["task_id"]
    entries = _label_mapping(response.get("labelMapping", {}), (*ptr, "labelMapping"), ctx)
    if ctx.mask_dir is None:
        ctx.add("mask_unavailable", where=f"task {task_id!r} (pass mask_dir=)")
        return [], None
    combined = response.get("annotations", {}).get("combined") if isinstance(response.get("annotations"), dict) else None
    combined = combined if isinstance(combined, dict) else {}
    candidates = [combined[k] for k in ("extendedIndexedImage", "indexedImage") if isinstance(combined.get(k), str)]
    names = [_basename(u) for u in candidates] + [f"{task_id}.png"]
    path = next((ctx.mask_dir / n for n in names if n and (ctx.mask_dir / n).is_file()), None)
    if path is None:
        raise ctx.fail((*ptr, "annotations", "combined"),
                       f"no local copy of the indexed mask in {str(ctx.mask_dir)!r} (looked for "
                       f"{', '.join(repr(n) for n in dict.fromkeys(names))}; mask_dir=)")
    labels = _mask_indices(*read_png(path)[:2], path)
    h, w = labels.shape
    md_size = None
    params = task.get("params")
    for md in (params.get("metadata") if isinstance(params, dict) else None, task.get("metadata")):
        if isinstance(md, dict) and type(md.get("width")) is int and type(md.get("height")) is int:
            md_size = (md["width"], md["height"])
            break
    if md_size is not None and md_size != (w, h):
        raise ParseError(path, None, f"mask is {w}x{h} (width x height) but the task's metadata says "
                                     f"{md_size[0]}x{md_size[1]}")
    rles = _rle.encode_labels(labels)
    known = {idx for _, idx, _ in entries}
    stray = sorted(set(rles) - known)
    if stray:
        n = sum(_rle.area(rles[v]) for v in stray)
        ctx.add("mask_index_unknown", n, where=f"task {task_id!r} indices {stray[:5]}")
    anns = []
    for name, idx, e in entries:
        r = rles.get(idx)
        if r is None:
            continue
        extra = {k: v for k, v in e.items() if k != "index"}
        anns.append(Annotation(
            id=f"{task_id}:{idx}", category_id=ctx.categories[name], shape=Mask(rle=r),
            extra={NS: {"index": idx, **extra}},
        ))
    return anns, (w, h)


def _keypoint_categories(categories: tuple[Category, ...], samples: Iterable[Sample]) -> tuple[Category, ...]:
    """The categories, those whose keypoint annotations (cuboids) all name the same
    vertices given ``keypoint_names`` (the descriptions) and a ``skeleton``: the vertex
    pairs that the cuboids' ``edges`` join (an edge end at a vertex's coordinates)."""
    names_of: dict[int, tuple[str, ...] | None] = {}
    pairs_of: dict[int, dict[tuple[int, int], None]] = {}
    for s in samples:
        for a in s.annotations:
            kp, cid = a.shape, a.category_id
            if not isinstance(kp, Keypoints) or cid is None:
                continue
            if cid in names_of and names_of[cid] != kp.names:
                names_of[cid] = None
                continue
            names_of[cid] = kp.names
            edges = (a.extra.get(NS) or {}).get("edges")
            if kp.names is None or not isinstance(edges, list):
                continue
            at: dict[tuple[Any, Any], int] = {}
            for i, xy in enumerate(kp.points.tolist()):
                at.setdefault(tuple(xy), i + 1)
            pairs = pairs_of.setdefault(cid, {})
            for e in edges:
                if not isinstance(e, dict):
                    continue
                ends = [(e.get(f"x{n}"), e.get(f"y{n}")) for n in (1, 2)]
                if not all(_is_number(v) for xy in ends for v in xy):
                    continue
                i, j = at.get(ends[0]), at.get(ends[1])  # type: ignore[arg-type]
                if i and j and i != j and (j, i) not in pairs:
                    pairs[(i, j)] = None
    out = []
    for c in categories:
        names = names_of.get(c.id)
        if names is not None:
            c = replace(c, keypoint_names=names, skeleton=tuple(pairs_of.get(c.id, ())))
        out.append(c)
    return tuple(out)


def _tasks(doc: Any, file: str | Path | None) -> tuple[list[tuple[Any, tuple[Any, ...]]], dict[str, Any]]:
    """The tasks of any of the four layouts, each with its pointer, and the layout info."""
    if isinstance(doc, list):
        return [(t, (i,)) for i, t in enumerate(doc)], {"layout": "array"}
    if not isinstance(doc, dict):
        raise ParseError(file, "$", f"expected a Scale task, an array of tasks, a callback body or "
                                    f"a task list page, got {_kind(doc)}")
    if "docs" in doc and "task_id" not in doc:
        docs = doc["docs"]
        if not isinstance(docs, list):
            raise ParseError(file, json_pointer("docs"), f"expected an array of tasks, got {_kind(docs)}")
        return [(t, ("docs", i)) for i, t in enumerate(docs)], {
            "layout": "page", "page": {k: v for k, v in doc.items() if k != "docs"}, "keys": list(doc)}
    if "task" in doc and isinstance(doc["task"], dict):  # callback body with the task
        body = {k: v for k, v in doc.items() if k not in ("task", "task_id")}
        if "response" in body and _same(body["response"], doc["task"].get("response")):
            body.pop("response")
            body[CONTROL] = "response"  # the body's response is the task's
        if "task_id" in doc and doc["task_id"] != doc["task"].get("task_id"):
            raise ParseError(file, json_pointer("task_id"), f"callback task_id {doc.get('task_id')!r} "
                             f"differs from task.task_id {doc['task'].get('task_id')!r}")
        return [(doc["task"], ("task",))], {"layout": "callback", "callback": body, "keys": list(doc)}
    if "type" not in doc and "params" not in doc and "response" in doc:  # callback without task
        return [(doc, ())], {"layout": "callback", "keys": list(doc)}
    return [(doc, ())], {"layout": "task"}


def parse(
    doc: Any,
    file: str | Path | None = None,
    *,
    report: ConversionReport | None = None,
    image_dir: str | Path | None = None,
    mask_dir: str | Path | None = None,
    allow_missing_size: bool = False,
) -> Dataset:
    """The model from parsed Scale task JSON (any of the four layouts).

    Errors are :class:`ParseError` located by JSON path; warnings (unknown statuses, missing
    labels, rebuilt rotated boxes) are counted in ``report``.

    >>> task = {"task_id": "t1", "type": "imageannotation", "status": "completed",
    ...         "metadata": {"filename": "a.jpg", "width": 8, "height": 6},
    ...         "response": {"annotations": [{"uuid": "u1", "type": "box", "label": "car",
    ...                      "left": 1, "top": 2, "width": 3, "height": 4}]}}
    >>> ds = parse([task])
    >>> s = ds.samples[0]
    >>> s.id, s.width, s.height, s.status.value, s.annotations[0].shape.to_xywh()
    ('t1', 8, 6, 'done', (1, 2, 3, 4))
    >>> parse([{"task_id": "t2", "response": {"annotations": []}}])
    Traceback (most recent call last):
    ...
    annoconv.errors.ParseError: $[0]: image size unknown: no width/height in params.metadata or metadata; pass image_dir= (-r image_dir=DIR) to read it from the images, or allow_missing_size=True to leave it unknown
    """
    tasks, layout = _tasks(doc, file)
    header = _Header()
    ctx = _Ctx(file=file, categories={}, report=report,
               image_dir=Path(image_dir) if image_dir is not None else None,
               mask_dir=Path(mask_dir) if mask_dir is not None else None,
               allow_missing_size=allow_missing_size)
    for task, ptr in tasks:
        _collect_header(task, ptr, header, ctx)
    categories = header.categories()
    ctx.categories = {c.name: c.id for c in categories}
    samples = []
    for task, ptr in tasks:
        try:
            samples.append(_read_task(task, ptr, ctx))
        except ValueError as e:  # a model check the reader did not anticipate
            if isinstance(e, ParseError):
                raise
            raise ctx.fail(ptr, str(e)) from None
    info: dict[str, Any] = {NS: layout}
    projects = [t.get("project") for t, _ in tasks if isinstance(t, dict)]
    if projects and all(isinstance(p, str) for p in projects) and len(set(projects)) == 1:
        info["name"] = projects[0]
    categories = _keypoint_categories(categories, samples)
    return Dataset(categories=categories, samples=tuple(samples),
                   attribute_specs=tuple(header.attributes.values()), info=info)


def read(
    path: str | Path,
    *,
    report: ConversionReport | None = None,
    image_dir: str | Path | None = None,
    mask_dir: str | Path | None = None,
    allow_missing_size: bool = False,
    validate: bool = False,
) -> Dataset:
    """Read a Scale task JSON file (see :func:`parse` for the options)."""
    doc = read_json(path)
    if validate:
        validate_schema(doc, "scale.json", path, prefix="schema: ")
    return parse(doc, path, report=report, image_dir=image_dir, mask_dir=mask_dir,
                 allow_missing_size=allow_missing_size)


# --------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------


def _verts(points: np.ndarray) -> list[dict[str, Any]]:
    return [{"x": x, "y": y} for x, y in points.tolist()]


def _geometry_out(shape: Shape, kind: str) -> dict[str, Any]:
    """The Scale geometry keys of one shape of type ``kind``."""
    if kind == "box":
        assert isinstance(shape, Box)
        out: dict[str, Any] = {"left": shape.x0, "top": shape.y0,
                               "width": shape.x1 - shape.x0, "height": shape.y1 - shape.y0}
        if shape.rotation:
            out["rotation"] = math.radians(shape.rotation)
            out["vertices"] = [{"x": x, "y": y} for x, y in _corners(shape)]
        return out
    if kind == "ellipse":
        assert isinstance(shape, Ellipse)
        t = math.radians(shape.rotation)
        u = np.array([math.cos(t), math.sin(t)]) * shape.rx
        w = np.array([-math.sin(t), math.cos(t)]) * shape.ry
        c = np.array([shape.cx, shape.cy], np.float64)
        return {"vertices": _verts(np.stack([c - w, c + u, c + w, c - u]))}
    if kind == "point":
        assert isinstance(shape, Keypoints)
        x, y = shape.points[0].tolist()
        return {"x": x, "y": y}
    if kind == "cuboid":
        assert isinstance(shape, Keypoints) and shape.names is not None
        return {"vertices": [{"description": n, "x": x, "y": y}
                             for n, (x, y) in zip(shape.names, shape.points.tolist())]}
    if kind == "polygon":
        assert isinstance(shape, Polygon)
        return {"vertices": _verts(shape.parts[0].exterior)}
    assert isinstance(shape, Polyline)
    return {"vertices": _verts(shape.points)}


def _stored_geometry(kind: str, stored: Mapping[str, Any], shape: Shape) -> dict[str, Any] | None:
    """The source's geometry keys if they still describe ``shape`` exactly, else None."""
    ctx = _Ctx(file=None, categories={}, report=None)
    try:
        again, _ = _shape(kind, stored, (), ctx, "")
    except (ParseError, ValueError):
        return None
    return dict(stored) if _shape_eq(again, shape) else None


def _shape_eq(a: Shape, b: Shape) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, (Polygon, Polyline, Keypoints)):
        return a == b and all(
            x.dtype == y.dtype for x, y in zip(_arrays(a), _arrays(b))
        )
    return _same(_fields(a), _fields(b))


def _arrays(s: Shape) -> list[np.ndarray]:
    if isinstance(s, Polygon):
        return list(s.rings())
    return [s.points]  # type: ignore[union-attr]


def _fields(s: Box | Ellipse | Mask) -> dict[str, Any]:
    if isinstance(s, Box):
        return {"x0": s.x0, "y0": s.y0, "x1": s.x1, "y1": s.y1, "rotation": s.rotation}
    if isinstance(s, Ellipse):
        return {"cx": s.cx, "cy": s.cy, "rx": s.rx, "ry": s.ry, "rotation": s.rotation}
    return {"mask": id(s)}


def _pieces(
    a: Annotation, where: str, report: ConversionReport | None
) -> list[tuple[str, Shape]]:
    """(Scale type, shape) pieces one model annotation is written as: its shape (a box-only
    record, COCO's ``segmentation: []``, is its stored box), then the keypoints attached to
    it (``Annotation.keypoints``) as separate points."""
    add = report.add if report is not None else (lambda *_, **__: None)
    shape = a.shape if a.shape is not None else a.stored_bbox
    kp = a.keypoints
    out = [] if shape is None and kp is not None else _shape_pieces(shape, where, add)
    if kp is not None:
        out += _shape_pieces(kp, f"{where} keypoints", add)
    return out


def _shape_pieces(s: Shape | None, where: str, add: Any) -> list[tuple[str, Shape]]:
    if isinstance(s, Box):
        return [("box", s)]
    if isinstance(s, Ellipse):
        return [("ellipse", s)]
    if isinstance(s, Polyline):
        if s.closed:
            add("shape_converted", where=f"{where} (closed line written open)")
        return [("line", s)]
    if isinstance(s, Mask):
        add("mask_to_polygon", where=where)
        s = mask_to_polygon(s.rle)
        if not s.parts:
            add("empty_mask", where=where)
            return []
    if isinstance(s, Polygon):
        if s.has_holes:
            add("hole_dropped", sum(len(p.holes) for p in s.parts), where=where)
        parts = [p for p in s.parts if len(p.exterior) >= 3]  # Scale needs 3 vertices
        if len(parts) < len(s.parts):
            add("invalid_part_dropped", len(s.parts) - len(parts), where=where)
        if not parts:
            add("shape_dropped", where=f"{where} (no polygon part of 3 vertices)")
            return []
        if len(parts) > 1:
            add("shape_converted", where=f"{where} ({len(parts)}-part polygon split)")
        if parts == list(s.parts) and len(parts) == 1 and not s.has_holes:
            return [("polygon", s)]
        return [("polygon", Polygon.from_rings(p.exterior)) for p in parts]
    if isinstance(s, Keypoints):
        if s.names is not None and len(s.names) >= 4 and set(s.names) <= set(CUBOID_VERTICES):
            return [("cuboid", s)]
        labelled = np.flatnonzero(s.visibility > 0)
        if len(labelled) < len(s.visibility):
            add("keypoints_dropped", len(s.visibility) - len(labelled), where=where)
        if (s.visibility == 1).any():  # a Scale point has no visibility: read back as visible
            add("field_dropped", where=f"{where} (occluded keypoints written as points)")
        if len(s.visibility) > 1 or s.names is not None:
            add("shape_converted", where=f"{where} (keypoints written as {len(labelled)} points)")
        return [("point", Keypoints(points=s.points[i:i + 1], visibility=[2])) for i in labelled]
    add("shape_dropped", where=f"{where} (no geometry)")
    return []


def _emit_annotations(
    s: Sample, names: Mapping[int, str], report: ConversionReport | None, cross: bool
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for k, a in enumerate(s.annotations):
        where = f"sample {s.id!r} annotation {a.id!r}"
        ns = a.extra.get(NS) if isinstance(a.extra.get(NS), dict) else {}
        control = ns.get(CONTROL, {})
        absent = control.get("absent", ())
        if report is not None:
            _count_dropped(a, where, report)
        if a.category_id not in names:  # no class, or one the dataset does not list: skipped
            if report is not None:
                report.add("reference_missing", where=f"{where} (category {a.category_id})")
            continue
        pieces = _pieces(a, where, report)
        for p, (kind, shape) in enumerate(pieces):
            obj: dict[str, Any] = {}
            if "uuid" not in absent:
                base = a.id if isinstance(a.id, str) else f"{s.id}:{k}" if a.id is None else str(a.id)
                obj["uuid"] = base if p == 0 else f"{base}:{p}"
            if "type" not in absent:
                obj["type"] = kind
            name = names[a.category_id]  # type: ignore[index]
            if not ("label" in absent and name == _UNLABELED):
                obj["label"] = name
            if a.attributes or ("attributes" not in absent and not cross):
                obj["attributes"] = _attributes_out(a.attributes, report, where) if cross else a.attributes
            stored = control.get("geometry")
            geo = _stored_geometry(kind, stored, shape) if stored is not None else None
            obj.update(geo if geo is not None else _geometry_out(shape, kind))
            obj.update({key: v for key, v in ns.items() if key != CONTROL and key not in obj})
            order = control.get("order")
            if order and set(order) == set(obj):
                obj = {key: obj[key] for key in order}
            out.append(obj)
    return out


def _label_names(categories: Iterable[Category], report: ConversionReport | None) -> dict[int, str]:
    """Each category's Scale label, unique (Scale tells classes by label only): a name an
    earlier category has (two COCO "car" under different supercategories) becomes
    ``<name>_<category id>``, counted ``renamed``."""
    out: dict[int, str] = {}
    used: set[str] = set()
    for c in categories:
        name = c.name
        if name in used:
            base = f"{c.name}_{c.id}"
            name, n = base, 2
            while name in used:
                name, n = f"{base}_{n}", n + 1
            if report is not None:
                report.add("renamed", where=f"category {c.id} {c.name!r} -> {name!r}")
        used.add(name)
        out[c.id] = name
    return out


def _attributes_out(attrs: Mapping[str, Any], report: ConversionReport | None, where: str) -> dict[str, Any]:
    out = {}
    for k, v in attrs.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
            if report is not None:
                report.add("attribute_converted", where=f"{where} {k!r} (bool as 'true'/'false')")
        out[k] = v
    return out


def _count_dropped(a: Annotation, where: str, report: ConversionReport) -> None:
    if a.z_index is not None:
        report.add("z_index_dropped", where=where)
    if a.score is not None:
        report.add("score_dropped", where=where)
    if a.track_id is not None:
        report.add("track_dropped", where=where)
    if a.iscrowd or a.area is not None or (a.stored_bbox is not None and a.shape is not None):
        report.add("field_dropped", where=f"{where} (iscrowd/area/bbox)")
    foreign = [k for k in a.extra if k != NS]
    if foreign:
        report.add("field_dropped", where=f"{where} (extra {', '.join(map(repr, foreign))})")


def _attribute_specs_out(specs: Iterable[AttributeSpec]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for spec in specs:
        if spec.scope != "annotation":
            continue
        if isinstance(spec.extra.get(NS), dict):
            out[spec.name] = spec.extra[NS]
        elif spec.type in ("select", "multiselect"):
            out[spec.name] = {"type": "category", "description": spec.name, "choices": list(spec.values),
                              **({"allow_multiple": True} if spec.type == "multiselect" else {})}
        elif spec.type == "bool":
            out[spec.name] = {"type": "category", "description": spec.name, "choices": ["true", "false"]}
        elif spec.type in ("int", "float"):
            out[spec.name] = {"type": "number", "description": spec.name}
        else:
            out[spec.name] = {"type": "text", "description": spec.name}
    return out


def _status_out(
    s: Sample, task: dict[str, Any], report: ConversionReport | None, cross: bool
) -> None:
    """Lay the sample's status over ``task`` unless it is what the task's own strings say."""
    if s.status is not None and s.status == _status(task.get("status"), task.get("customer_review_status")):
        return
    if s.status is None:
        if cross:
            task["status"] = "completed"
            if report is not None:
                report.add("status_unmapped", where=f"sample {s.id!r} (no status: 'completed' written)")
        return
    status, review, merged = STATUS_OUT[s.status]
    if merged and report is not None:
        report.add("status_merged", where=f"sample {s.id!r} {s.status.value} -> {status}")
    task["status"] = status
    if review is not None:
        task["customer_review_status"] = review
    elif task.get("customer_review_status") in REVIEW_IN:
        del task["customer_review_status"]


def _new_task(s: Sample, ds_categories: list[str], specs: dict[str, Any], project: str | None,
              kinds: list[str], attachment_prefix: str) -> dict[str, Any]:
    geometries = {g: {"objects_to_annotate": list(ds_categories)} for g in (kinds or ["box"])}
    params: dict[str, Any] = {"attachment": attachment_prefix + s.file_name, "attachment_type": "image",
                              "geometries": geometries}
    if specs:
        params["annotation_attributes"] = specs
    task: dict[str, Any] = {"task_id": str(s.id), "type": "imageannotation", "status": None}
    if project is not None:
        task["project"] = project
    if s.subset is not None:
        task["batch"] = s.subset
    task["params"] = params
    md: dict[str, Any] = {"filename": s.file_name}
    if s.width and s.height:  # Scale's metadata sizes are positive: none for an empty image
        md.update(width=s.width, height=s.height)
    task["metadata"] = md
    return task


def _emit_task(
    s: Sample, names: Mapping[int, str], specs: dict[str, Any], project: str | None,
    report: ConversionReport | None, attachment_prefix: str,
) -> dict[str, Any]:
    """One sample -> one task object (pure)."""
    tpl = s.extra.get(NS)
    cross = not (isinstance(tpl, dict) and "task_id" in tpl)
    if report is not None:
        foreign = [k for k in s.extra if k != NS]
        if foreign:
            report.add("field_dropped", where=f"sample {s.id!r} (extra {', '.join(map(repr, foreign))})")
    ttype = None if cross else tpl.get("type") or tpl.get(CONTROL, {}).get("type")  # type: ignore[union-attr]
    anns = [] if ttype == SEGMENT_TASK else _emit_annotations(s, names, report, cross)
    if cross:
        kinds = list(dict.fromkeys(a["type"] for a in anns))
        task = _new_task(s, list(names.values()), specs, project, kinds, attachment_prefix)
        if not (s.width and s.height) and report is not None:  # read back with allow_missing_size
            report.add("size_unknown", where=f"sample {s.id!r} ({s.width}x{s.height}: no size written)")
    else:
        task = dict(tpl)  # type: ignore[arg-type]
        if task.get("task_id") != s.id:
            task["task_id"] = s.id if isinstance(s.id, str) else str(s.id)
        batch = task.get("batch")
        if s.subset != (batch if isinstance(batch, str) else None):
            task["batch"] = s.subset
    _status_out(s, task, report, cross)
    tags = task.get("tags", [])
    if list(s.tags) != tags and (s.tags or "tags" in task):
        task["tags"] = list(s.tags)
    task.pop(CONTROL, None)
    if ttype == SEGMENT_TASK:
        n = sum(isinstance(a.shape, Mask) for a in s.annotations)
        if report is not None:
            report.add("mask_not_written", n, where=f"sample {s.id!r} (PNG URLs kept as read)")
        return task
    rest = task.get("response")
    if cross or anns or s.attributes or isinstance(rest, dict):
        rest = dict(rest) if isinstance(rest, dict) else {}
        control = rest.pop(CONTROL, {})
        response: dict[str, Any] = {}
        if anns or "annotations" not in control.get("absent", ()):
            response["annotations"] = anns
        response.update(rest)
        if s.attributes != rest.get("global_attributes", {}) or (s.attributes and "global_attributes" not in rest):
            response["global_attributes"] = dict(s.attributes)
        order = control.get("order")
        if order and set(order) == set(response):
            response = {k: response[k] for k in order}
        task["response"] = response
    return task


def emit(
    ds: Dataset,
    report: ConversionReport | None = None,
    *,
    layout: str | None = None,
    attachment_prefix: str = "",
) -> Any:
    """The dataset as Scale task JSON (pure): ``layout`` is ``"array"``, ``"task"``,
    ``"callback"`` or ``"page"`` (default: as read, else ``"array"``).

    >>> ds = Dataset(categories=(Category(id=1, name="car"),), samples=(Sample(
    ...     id=7, file_name="a.jpg", width=8, height=6, status=Status.DONE,
    ...     annotations=(Annotation(id=1, category_id=1, shape=Box(x0=1, y0=2, x1=4, y1=6)),)),))
    >>> task = emit(ds)[0]
    >>> task["task_id"], task["status"], task["response"]["annotations"]
    ('7', 'completed', [{'uuid': '1', 'type': 'box', 'label': 'car', 'left': 1, 'top': 2, 'width': 3, 'height': 4}])
    """
    info = ds.info.get(NS) if isinstance(ds.info.get(NS), dict) else {}
    layout = layout or info.get("layout", "array")
    if layout not in ("array", "task", "callback", "page"):
        raise OptionError(f"layout must be 'array', 'task', 'callback' or 'page', got {layout!r}")
    names = _label_names(ds.categories, report)
    if NS not in ds.info:  # new tasks list labels by name: colour, kind, supercategory have no place
        count_category_fields(report, ds.categories)
    specs = _attribute_specs_out(ds.attribute_specs)
    project = ds.info.get("name") if isinstance(ds.info.get("name"), str) else None
    tasks = [_emit_task(s, names, specs, project, report, attachment_prefix) for s in ds.samples]
    # sample ids 1 and "1" would both be task "1", which Scale's reader refuses
    for t, tid in zip(tasks, unique_ids([t["task_id"] for t in tasks], report, "task"), strict=True):
        t["task_id"] = tid
    if report is not None:
        report.samples += len(tasks)
        report.annotations += sum(
            len(r["annotations"]) for r in (t.get("response") for t in tasks)
            if isinstance(r, dict) and isinstance(r.get("annotations"), list)
        )
    if layout == "array":
        return tasks
    if layout == "page":
        page = dict(info.get("page") or {"total": len(tasks), "limit": len(tasks), "offset": 0, "has_more": False})
        page["docs"] = tasks
        order = info.get("keys") or ["docs", *[k for k in page if k != "docs"]]
        return {k: page[k] for k in order if k in page} | page
    if len(tasks) != 1:
        raise ConversionError(f"layout {layout!r} holds one task but the dataset has {len(tasks)} "
                              "samples; write layout='array' (-w layout=array)")
    task = tasks[0]
    if layout == "task":
        return task
    if info.get("layout") == "callback" and "callback" not in info:
        return task  # read from a callback body that had no task: the task is the body
    body = dict(info.get("callback") or {CONTROL: "response"})
    if body.pop(CONTROL, None) == "response":
        body["response"] = task.get("response")
    order = info.get("keys") or ["response", "task_id", "task"]
    if "task_id" in order:
        body["task_id"] = task["task_id"]
    body["task"] = task
    return {k: body[k] for k in order if k in body} | body


def write(
    ds: Dataset,
    path: str | Path,
    *,
    report: ConversionReport | None = None,
    layout: str | None = None,
    attachment_prefix: str = "",
    indent: bool = False,
) -> None:
    """Write Scale task JSON atomically (nothing is left behind on error)."""
    doc = emit(ds, report, layout=layout, attachment_prefix=attachment_prefix)
    write_json(path, doc, indent=indent)
    if report is not None:
        report.files.append(Path(path).name)


# --------------------------------------------------------------------------------------
# detection
# --------------------------------------------------------------------------------------

_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"(?:\s*:)?|[\[\]{}]')
_TASK_KEYS = {b"response", b"params", b"type", b"status", b"callback_url", b"completed_at"}


def _record_keys(head: bytes) -> set[bytes]:
    """Keys of the first task-like object in the head: the top-level object, the first
    element of a top-level array, or the first element of ``docs`` / the ``task`` object."""
    depth = 0
    keys: dict[int, set[bytes]] = {}
    first_array = head.lstrip()[:1] == b"["
    for m in _TOKEN.finditer(head):
        tok = m.group()
        if tok in (b"{", b"["):
            depth += 1
        elif tok in (b"}", b"]"):
            depth -= 1
            if depth <= (1 if first_array else 0):
                break
        elif tok.endswith(b":"):
            key = tok[1:tok.rindex(b'"')]
            keys.setdefault(depth, set()).add(key)
    top = keys.get(1, set())
    if first_array:
        return keys.get(2, set())
    if b"task_id" in top:
        return top
    return keys.get(3, set()) if b"docs" in top else top


def sniff(path: Path, head: bytes) -> int:
    """2 when the first task-like object has ``task_id`` and a task key, 1 with task_id only."""
    if head.lstrip()[:1] not in (b"{", b"["):
        return 0
    keys = _record_keys(head)
    if b"task_id" not in keys:
        return 0
    return 2 if keys & _TASK_KEYS else 1


FORMAT = FormatSpec(
    name="scale",
    description="Scale AI image annotation tasks (imageannotation, legacy annotation, segmentannotation)",
    extensions=(".json",),
    sniff=sniff,
    read=read,
    write=write,
    read_options={
        "image_dir": "folder of the images, to read sizes the tasks do not state",
        "mask_dir": "folder of the segmentannotation indexed PNGs (by URL basename or task_id.png)",
        "allow_missing_size": "leave unknown image sizes as None instead of failing",
        "validate": "also check the file against schemas/scale.json",
    },
    write_options={
        "layout": "array | task | callback | page (default: as read, else array)",
        "attachment_prefix": "prefix of params.attachment for images from other formats",
        "indent": "pretty-print with 2 spaces",
    },
)
