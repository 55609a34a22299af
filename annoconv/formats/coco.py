r"""COCO instances / keypoints JSON (``coco``) and COCO panoptic (``coco-panoptic``).

Instances file: one JSON object ``{info, licenses, images, annotations, categories}``.

- ``images[]``: ``{id, file_name, height, width}`` plus ``license``, ``coco_url``,
  ``flickr_url``, ``date_captured`` and anything else (kept verbatim).
- ``annotations[]``: ``{id, image_id, category_id, segmentation, area, bbox, iscrowd}``;
  ``bbox`` is ``[x, y, w, h]`` in pixel-edge coordinates (``[0, 0, 1, 1]`` is pixel (0, 0)).
  ``segmentation`` is one of: polygons ``[[x0, y0, x1, y1, ...], ...]`` (parts are united;
  no holes), uncompressed RLE ``{"size": [h, w], "counts": [int, ...]}`` or compressed RLE
  ``{"size": [h, w], "counts": "<string>"}`` (column-major runs, see :mod:`annoconv.rle`).
  The reader decides by JSON type, never by length as pycocotools' ``frPyObjects`` does.
  Keypoint files add ``keypoints`` ``[x, y, v, ...]`` and ``num_keypoints``; results files add
  ``score``.
- ``categories[]``: ``{id, name, supercategory}`` (+ ``keypoints``, 1-based ``skeleton``);
  ids are kept as they are (COCO 2017 has gaps: 12, 26, 29, ...).

Reading is exact and compact: the file is decoded by msgspec into typed records with each
``segmentation`` kept as its raw JSON text; polygons are checked structurally (nested lists of
numbers, an even count >= 6 per part) without building Python floats, and become
:class:`~annoconv.model.Polygon` objects parsed on first use. A COCO -> COCO round trip writes
that text back unchanged: the output parses to JSON equal to the input (same ids, order,
numbers, int versus float, info, licenses, unknown keys). Key order follows the first image and
annotation of the file. Annotations whose image or category does not exist are a located
``ParseError`` (``strict=False``: counted in the report and skipped / kept).

Writing from any model (choices where the spec leaves room):

- masks: compressed RLE (``mask_as="rle"``, pycocotools-identical strings) or traced polygons
  (``mask_as="polygon"``: exact pixel-edge outlines; a mask with holes stays RLE and is counted
  as ``hole_to_rle`` unless ``holes="drop"``). A polygon with holes (FastLabel, traced masks)
  is written as RLE for the same reason. RLE read uncompressed is written uncompressed.
- an annotation from another format with no geometry at all (an image-level label, a polygon
  with no part of 3 points) is not written (``shape_dropped``): COCOeval needs a bbox.
- boxes: ``segmentation: []``; a rotated box becomes its 4-corner polygon and its bbox the
  axis-aligned bounds (``rotation_applied``); an ellipse a 64-gon (``shape_converted``);
  polylines cannot be held (``shape_dropped``).
- ``bbox`` and ``area`` stored by the source are kept. When absent they are computed as
  COCO's own files are: ``bbox`` = vertex extents for polygons, ``toBbox`` for masks; ``area`` =
  the rasterised pixel count (what pycocotools computes for results and datumaro writes) or,
  with ``area="shoelace"``, the geometric polygon area as the official annotations store it.
- ids: annotation ids are kept when they are positive unique ints, otherwise assigned in input
  order above the largest kept id (never 0: COCOeval ignores id 0); image ids likewise;
  category ids always kept.
- statuses, tags, image attributes, z_index and track ids have no COCO field: they are counted
  in the report, and with ``keep_extra=True`` written under an ``"annoconv"`` key per image /
  annotation / category that pycocotools ignores. This reader reads back the status, tags,
  attributes, subset, z_index, track id, and a category's colour and stuff kind; a source's
  own non-COCO ids (Hasty's label ids, say) stay there for reference, as the COCO ids are the
  ones a COCO file is joined on.

Panoptic (``coco-panoptic``): a JSON whose ``annotations`` hold one record per image
``{image_id, file_name, segments_info: [{id, category_id, area, bbox, iscrowd}]}`` and a
folder of RGB PNGs (default: the JSON path without ``.json``) where a pixel's segment id is
``R + 256 G + 65536 B`` (0 = void). Categories carry ``isthing`` (-> ``Category.kind``) and
``color``. Every PNG id must be listed and every listed id present (panopticapi raises
otherwise). Written ids are kept when valid, else assigned 1, 2, ... per image (counted);
overlapping masks are flattened back to front (``z_index``, then order) and hidden pixels
counted; shapes other than masks are rasterised (``polygon_to_mask``). PNGs stay inside the
output folder: ``png_dir`` must be relative, and a record ``file_name`` that is absolute or
climbs with ``..`` is written as its bare name (``renamed``). An image without a size takes
its PNG's (and is written back without one).
"""

from __future__ import annotations

import functools
import json
import mmap
import re
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import msgspec
import numpy as np
from msgspec import UNSET, Raw, UnsetType

from .. import geometry
from .. import rle as _rle
from .._io import (
    atomic_folder,
    atomic_write,
    ids_to_rgb,
    load_json_bytes,
    read_png,
    rgb_to_ids,
    validate_schema,
    write_png,
)
from ..errors import ConversionError, OptionError, ParseError, RLEError, describe, json_pointer
from ..model import (
    Annotation,
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
    trusted_annotation,
)
from ..registry import FormatSpec
from ..report import ConversionReport, count_category_fields
from .native import is_native

__all__ = [
    "FORMAT",
    "PANOPTIC_FORMAT",
    "emit",
    "iter_samples",
    "parse",
    "read",
    "read_panoptic",
    "write",
    "write_panoptic",
]

NS = "coco"  # the namespace of COCO-only fields in the model's extra dicts

# --------------------------------------------------------------------------------------
# typed records (msgspec): the fast path decodes the whole file in one C call
# --------------------------------------------------------------------------------------

_IMAGE_KEYS = ("id", "file_name", "height", "width")
_IMAGE_EXTRA_KEYS = ("license", "coco_url", "flickr_url", "date_captured")
_OPT = UnsetType

_SIZE = Annotated[int, msgspec.Meta(ge=0)] | Annotated[float, msgspec.Meta(ge=0)]
_BBOX = tuple[int | float, int | float, _SIZE, _SIZE]  # [x, y, width, height], checked in C

# Field types of the records; a record type is made per key order (the first object's), so
# that encoding a record gives its keys back in the file's order.
_IMAGE_FIELDS: dict[str, Any] = {
    "id": int, "file_name": str | _OPT, "height": int | float | _OPT, "width": int | float | _OPT,
    "license": Any, "coco_url": Any, "flickr_url": Any, "date_captured": Any,
    "annoconv": dict[str, Any] | _OPT,
}
_ANN_FIELDS: dict[str, Any] = {
    "id": int, "image_id": int, "category_id": int | _OPT, "segmentation": Raw | _OPT,
    "area": int | float | _OPT, "bbox": _BBOX | _OPT, "iscrowd": int | bool | _OPT,
    "keypoints": list[int | float] | _OPT, "num_keypoints": int | _OPT,
    "score": int | float | _OPT, "attributes": Any,
    "annoconv": dict[str, Any] | _OPT,
}
_REQUIRED = {"id", "image_id"}
_DEFAULT_IMAGE_ORDER = ("license", "file_name", "coco_url", "height", "width", "date_captured",
                        "flickr_url", "id")
_DEFAULT_ANN_ORDER = ("segmentation", "area", "iscrowd", "image_id", "bbox", "category_id", "id")


@functools.lru_cache(maxsize=64)
def _record_type(kind: str, order: tuple[str, ...]) -> type:
    fields = _IMAGE_FIELDS if kind == "image" else _ANN_FIELDS
    names = [k for k in order if k in fields] + [k for k in fields if k not in order]
    spec = [(n, fields[n]) if n in _REQUIRED else (n, fields[n], UNSET) for n in names]
    # gc=False: records of decoded JSON cannot form reference cycles, and 100k tracked
    # objects would make the cyclic collector re-walk them while the file is decoded
    return msgspec.defstruct(f"_{kind}_{len(order)}", spec, kw_only=True,
                             forbid_unknown_fields=True, gc=False)


def _doc_type(image_type: type, ann_type: type) -> type:
    return msgspec.defstruct("_doc", [
        ("info", Any, UNSET), ("licenses", Any, UNSET), ("images", list[image_type], []),
        ("annotations", list[ann_type], []), ("categories", list[dict[str, Any]], []),
    ], forbid_unknown_fields=True)


_ERR_AT = re.compile(r"^(.*) - at `(\$[^`]*)`$", re.S)
_TYPE_NAMES = {"object": "an object", "array": "an array", "str": "a string", "int": "an integer",
               "float": "a number", "bool": "a boolean", "null": "null"}


def _msgspec_error(e: msgspec.ValidationError, file: Any, prefix: str = "") -> ParseError:
    """Turn msgspec's ``Expected `int`, got `str` - at `$.images[0].id``` into our text."""
    text = str(e)
    m = _ERR_AT.match(text)
    pointer = None
    if m:
        text, pointer = m.group(1), m.group(2)
        if prefix:
            pointer = prefix + pointer[1:]
    elif prefix:
        pointer = prefix
    t = re.match(r"Expected `(.+?)`, got `(.+?)`", text)
    if t:
        want = " or ".join(_TYPE_NAMES.get(w.strip(), w.strip()) for w in t.group(1).split("|"))
        text = f"expected {want}, got {_TYPE_NAMES.get(t.group(2), t.group(2))}"
    elif text.startswith("Expected `array` of length 4") and pointer and pointer.endswith(".bbox"):
        text = "expected [x, y, width, height]: 4 numbers"
    elif re.match(r"Expected `(int|float)` >= 0", text) and pointer and ".bbox[" in pointer:
        text = "bbox width and height must be >= 0"
    elif text.startswith("Object missing required field"):
        field = re.search(r"`(.+?)`", text)
        text = f"missing key {field.group(1)!r}" if field else text
    return ParseError(file, pointer, text)


def _syntax_error(data: bytes, file: Any, e: Exception) -> ParseError:
    try:
        load_json_bytes(data, file)  # raises with line and column (or the UTF-8 offset)
    except ParseError as located:
        return located
    return ParseError(file, None, f"invalid JSON: {e}")


# --------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------

_WS = b" \t\r\n"
_NUMBER_CHARS = b"0123456789.eE+-,"


def _check_polygon_text(text: bytes) -> str | None:
    """None if ``text`` is ``[[n, n, ...], ...]`` with an even count >= 6 per part, else why.

    Works on bytes with C-speed string methods (no Python floats are built)."""
    t = text.translate(None, _WS)
    if t == b"[]":
        return None
    if not (t.startswith(b"[[") and t.endswith(b"]]")):
        if t.startswith(b"[") and not t.startswith(b"[["):
            return "expected a list of polygon parts [[x, y, ...], ...], got a flat list"
        return "expected a list of polygon parts [[x, y, ...], ...]"
    inner = t[2:-2]
    parts = inner.split(b"],[")
    for i, part in enumerate(parts):
        if not part:
            return f"part {i} is empty; expected an even count >= 6 of numbers"
        if part.translate(None, _NUMBER_CHARS):
            return f"part {i} holds something other than numbers"
        n = part.count(b",") + 1
        if n < 6 or n % 2:
            return f"part {i} has {n} values; expected an even count >= 6"
    return None


_POLYGON_CHARS = b"0123456789.eE+-,[]\x00"


def _first_bad_polygon(indices: Sequence[int], anns: Sequence[Any]) -> int | None:
    """The first annotation index whose segmentation text :func:`_check_polygon_text`
    rejects, or None: the same verdict, vectorized over chunks of polygons (the texts are
    valid JSON already: msgspec parsed them)."""
    chunk = 4096
    for s in range(0, len(indices), chunk):
        part = indices[s : s + chunk]
        joined = b"\x00".join([anns[i].segmentation for i in part])
        if b" " in joined or b"\n" in joined or b"\t" in joined or b"\r" in joined:
            joined = joined.translate(None, _WS)
        bad = _first_bad_in_chunk(joined, len(part))
        if bad is not None:
            return part[bad]
    return None


def _first_bad_in_chunk(joined: bytes, n: int) -> int | None:
    if joined.translate(None, _POLYGON_CHARS):
        return _first_bad_slowly(joined)
    b = np.frombuffer(joined, np.uint8)
    sep = np.flatnonzero(b == 0)
    starts = np.concatenate(([0], sep + 1))
    ends = np.concatenate((sep, [b.size]))  # exclusive
    if ((ends - starts) < 4).any():  # shorter than [[]]
        return _first_bad_slowly(joined)
    opens = np.flatnonzero(b == 91)
    closes = np.flatnonzero(b == 93)
    # Every text is one complete JSON value, so its brackets balance: removing each text's
    # first "[" and last "]" leaves the parts' brackets, paired in order.
    bad = ~((b[starts] == 91) & (b[starts + 1] == 91) & (b[ends - 1] == 93) & (b[ends - 2] == 93))
    pid_o = np.searchsorted(starts, opens, side="right") - 1
    pid_c = np.searchsorted(starts, closes, side="right") - 1
    part_open = opens[opens != starts[pid_o]]
    part_close = closes[closes != ends[pid_c] - 1]
    if part_open.size != part_close.size:  # pragma: no cover - impossible for valid JSON
        return _first_bad_slowly(joined)
    pid = np.searchsorted(starts, part_open, side="right") - 1
    # parts are flat and follow each other as "],[": open < close < next open
    ok = part_close > part_open + 1  # non-empty
    if part_open.size > 1:
        ok[:-1] &= part_close[:-1] < part_open[1:]
    after = part_close + 1
    last_of_text = after == ends[pid] - 1
    top = b.size - 1
    between = (b[np.minimum(after, top)] == 44) & (b[np.minimum(after + 1, top)] == 91)
    # numbers per part: the commas between its brackets, plus one (bytes.count: C speed)
    count = joined.count
    values = np.fromiter((count(b",", o, c) for o, c in zip(part_open.tolist(), part_close.tolist())),
                         np.int64, part_open.size) + 1
    ok &= (last_of_text | between) & (values >= 6) & (values % 2 == 0)
    bad[pid[~ok]] = True
    # the first part opens right after the text's own "["
    first = np.minimum(np.searchsorted(part_open, starts + 1), max(part_open.size - 1, 0))
    if part_open.size:
        bad |= part_open[first] != starts + 1
    else:
        bad[:] = True
    return int(np.argmax(bad)) if bad.any() else None


def _first_bad_slowly(joined: bytes) -> int | None:
    for i, text in enumerate(joined.split(b"\x00")):
        if _check_polygon_text(text) is not None:
            return i
    return None  # pragma: no cover - the fast check found a problem


def _first_object_keys(data: bytes, key: bytes) -> list[str] | None:
    """Key order of the first element of the top-level array ``key`` (cheap: one regex
    search and a bounded parse), or None."""
    m = re.search(rb'"' + key + rb'"\s*:\s*\[\s*\{', data)
    if not m:
        return None
    start = m.end() - 1
    for size in (1 << 16, 1 << 22, len(data)):
        chunk = data[start : start + size].decode("utf-8", "ignore")
        try:
            obj, _ = json.JSONDecoder().raw_decode(chunk)
        except json.JSONDecodeError:
            continue
        return list(obj) if isinstance(obj, dict) else None
    return None


def _category(c: Any, i: int, file: Any) -> Category:
    ptr = json_pointer("categories", i)
    if not isinstance(c, dict):
        raise ParseError(file, ptr, f"expected an object, got {describe(c)}")
    cid = c.get("id")
    if type(cid) is not int:
        raise ParseError(file, ptr + ".id", f"expected an integer, got {describe(cid)}")
    name = c.get("name", "")
    if not isinstance(name, str):
        raise ParseError(file, ptr + ".name", f"expected a string, got {describe(name)}")
    known = {"id", "name", "supercategory", "keypoints", "skeleton", "isthing", "color"}
    ns: dict[str, Any] = {k: v for k, v in c.items() if k not in known}
    ns["_keys"] = list(c)
    if "isthing" in c:
        ns["isthing"] = c["isthing"]
    if "supercategory" in c and not isinstance(c["supercategory"], str):
        ns["supercategory"] = c["supercategory"]  # e.g. null: kept verbatim
    if "name" not in c:
        ns["_absent"] = ["name"]
    for key in ("keypoints", "skeleton"):
        if key in c and not isinstance(c[key], list):
            ns[key] = c[key]  # e.g. null: kept verbatim
    color, rgba = c.get("color"), None
    if isinstance(color, list) and len(color) in (3, 4) and all(
        type(v) is int and 0 <= v <= 255 for v in color
    ):
        rgba = tuple(color)
        if len(color) == 3:
            ns["color_rgb"] = True
    elif color is not None:
        ns["color"] = color  # not an RGB(A) list: kept verbatim
    kept = c.get("annoconv") if isinstance(c.get("annoconv"), dict) else {}
    if rgba is None and color is None and isinstance(kept.get("color"), list) and \
            len(kept["color"]) in (3, 4) and all(type(v) is int and 0 <= v <= 255 for v in kept["color"]):
        rgba = tuple(kept["color"])  # keep_extra's colour, from another format
        ns["_color_kept"] = True
    stuff = c.get("isthing", 1) == 0 or ("isthing" not in c and kept.get("kind") == "stuff")
    try:
        return Category(
            id=cid,
            name=name,
            supercategory=c["supercategory"] if isinstance(c.get("supercategory"), str) else None,
            keypoint_names=c["keypoints"] if isinstance(c.get("keypoints"), list) else None,
            skeleton=c["skeleton"] if isinstance(c.get("skeleton"), list) else None,
            kind="stuff" if stuff else "thing",
            color=rgba,  # type: ignore[arg-type]
            extra={NS: ns},
        )
    except (TypeError, ValueError) as e:
        raise ParseError(file, ptr, str(e)) from None


_STATUS_BY_VALUE = {s.value: s for s in Status}


def _check_kept(kept: dict[str, Any], file: Any, pointer: str) -> None:
    """Our own ``keep_extra`` key: z_index a number, track_id an int or a string."""
    z, track = kept.get("z_index"), kept.get("track_id")
    if z is not None and (type(z) not in (int, float)):
        raise ParseError(file, pointer + ".z_index", f"expected a number, got {describe(z)}")
    if track is not None and type(track) not in (int, str):
        raise ParseError(file, pointer + ".track_id", f"expected an integer or a string, got {describe(track)}")


class _Parsed:
    """What decoding found: the document's parts, and unknown keys where there were any."""

    def __init__(self, info: Any, licenses: Any, images: list[Any], annotations: list[Any],
                 categories: list[Any], img_unknown: list[dict[str, Any]] | None = None,
                 ann_unknown: list[dict[str, Any]] | None = None,
                 top_unknown: dict[str, Any] | None = None) -> None:
        self.info, self.licenses = info, licenses
        self.images, self.annotations, self.categories = images, annotations, categories
        self.img_unknown, self.ann_unknown = img_unknown, ann_unknown
        self.top_unknown = top_unknown or {}


def _decode(data: bytes, file: Any, image_type: type, ann_type: type) -> _Parsed:
    """Decode by the fast typed path (one C call), or, when some object carries keys the
    typed records do not know, by the tolerant one (items decoded one by one)."""
    try:
        doc = msgspec.json.decode(data, type=_doc_type(image_type, ann_type))
        return _Parsed(doc.info, doc.licenses, doc.images, doc.annotations, doc.categories)
    except msgspec.ValidationError as e:
        if "unknown field" not in str(e):
            raise _msgspec_error(e, file) from None
    except msgspec.DecodeError as e:
        raise _syntax_error(data, file, e) from None
    try:
        top = msgspec.json.decode(data, type=dict[str, Raw])
    except msgspec.DecodeError as e:  # the typed path stopped at an unknown key before
        raise _syntax_error(data, file, e) from None
    known = {"info", "licenses", "images", "annotations", "categories"}

    def part(key: str, typ: Any, default: Any) -> Any:
        if key not in top:
            return default
        try:
            return msgspec.json.decode(top[key], type=typ)
        except msgspec.ValidationError as e:
            raise _msgspec_error(e, file, "$." + key) from None

    images, img_unknown = _decode_items(part("images", list[Raw], []), image_type, "images", file)
    anns, ann_unknown = _decode_items(part("annotations", list[Raw], []), ann_type, "annotations", file)
    return _Parsed(
        part("info", Any, UNSET), part("licenses", Any, UNSET), images, anns,
        part("categories", list[dict[str, Any]], []), img_unknown, ann_unknown,
        {k: msgspec.json.decode(v) for k, v in top.items() if k not in known},
    )


def _decode_items(items: list[Raw], typ: type, key: str, file: Any
                  ) -> tuple[list[Any], list[dict[str, Any]]]:
    dec = msgspec.json.Decoder(typ)
    fields = set(typ.__struct_fields__)
    out, unknown = [], []
    for i, item in enumerate(items):
        try:
            out.append(dec.decode(item))
            unknown.append({})
            continue
        except msgspec.ValidationError as e:
            if "unknown field" not in str(e):
                raise _msgspec_error(e, file, json_pointer(key, i)) from None
        generic = msgspec.json.decode(item)
        known = {k: v for k, v in generic.items() if k in fields}
        if "segmentation" in known:
            known["segmentation"] = Raw(msgspec.json.encode(known["segmentation"]))
        try:
            out.append(msgspec.convert(known, typ))
        except msgspec.ValidationError as e:
            raise _msgspec_error(e, file, json_pointer(key, i)) from None
        extra = {k: v for k, v in generic.items() if k not in fields}
        extra["_keys"] = list(generic)
        unknown.append(extra)
    return out, unknown


_ABSENT_KEYS = ("category_id", "segmentation", "area", "bbox", "iscrowd", "num_keypoints")


def _bad_polygons(indices: Sequence[int], anns: Sequence[Any]) -> Iterator[int]:
    """Annotation indices whose polygon text may be bad: every one the batch check rejects,
    and those with an exponent (1e400 overflows a double), in order."""
    chunk = 4096
    for s in range(0, len(indices), chunk):
        part = indices[s : s + chunk]
        joined = b"\x00".join([anns[i].segmentation for i in part])
        if b" " in joined or b"\n" in joined or b"\t" in joined or b"\r" in joined:
            joined = joined.translate(None, _WS)
        if _first_bad_in_chunk(joined, len(part)) is not None or b"e" in joined or b"E" in joined:
            yield from part  # rare: look at each polygon of this chunk


def _check_polygon_numbers(text: bytes) -> str | None:
    try:
        msgspec.json.decode(text, type=list[list[float]])
    except msgspec.ValidationError as e:
        return f"a coordinate is not a finite double ({e})"
    return None


def _salvage_parts(text: bytes) -> tuple[list[list[float]], int]:
    """The valid parts of a bad polygon (numbers only, even count >= 6), and how many
    parts were dropped."""
    value = msgspec.json.decode(text)
    parts = value if isinstance(value, list) else []
    good = [p for p in parts if isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0
            and all(type(v) in (int, float) and abs(v) < 1e300 for v in p)]
    return good, max(len(parts) - len(good), 1)


class _Records:
    """A decoded and validated COCO file: the typed records plus what the checks found.
    Model objects are built from it on demand (:class:`CocoSamples`)."""

    def __init__(self, data: bytes, file: Any, report: ConversionReport | None, strict: bool) -> None:
        self.file = file
        img_keys = _first_object_keys(data, b"images") or _DEFAULT_IMAGE_ORDER
        ann_keys = _first_object_keys(data, b"annotations") or _DEFAULT_ANN_ORDER
        self.image_type = _record_type("image", tuple(img_keys))
        self.ann_type = _record_type("annotation", tuple(ann_keys))
        doc = _decode(data, file, self.image_type, self.ann_type)
        self.doc = doc
        self.categories = tuple(_category(c, i, file) for i, c in enumerate(doc.categories))
        seen_cats: set[int] = set()
        for i, c in enumerate(self.categories):
            if c.id in seen_cats:
                raise ParseError(file, json_pointer("categories", i, "id"),
                                 f"category id {c.id} appears more than once")
            seen_cats.add(c.id)
        images, anns = doc.images, doc.annotations
        index: dict[int, int] = {}
        for j, img in enumerate(images):
            if img.id in index:
                raise ParseError(file, json_pointer("images", j, "id"),
                                 f"image id {img.id} appears more than once")
            index[img.id] = j
        for j, img in enumerate(images):
            for key in ("height", "width"):
                v = getattr(img, key)
                if v.__class__ is float and not v.is_integer():
                    raise ParseError(file, json_pointer("images", j, key),
                                     f"expected a whole number of pixels, got {v}")
        self.sizes = [(int(im.height), int(im.width)) if im.height is not UNSET and im.width is not UNSET
                      else None for im in images]
        cat_ids = {c.id for c in self.categories}
        per_image: list[list[int]] = [[] for _ in images]
        self.masks: dict[int, Mask] = {}
        self.rle_notes: dict[int, dict[str, Any]] = {}
        self.skipped: list[int] = []
        polygons: list[int] = []  # annotations with polygon text, checked in one batch below
        masks_at = self._check_rle
        for i, a in enumerate(anns):  # once per annotation: kept lean
            j = index.get(a.image_id)
            if j is None:
                if strict:
                    raise ParseError(file, json_pointer("annotations", i, "image_id"),
                                     f"image id {a.image_id} is not in $.images (strict=False skips it)")
                if report is not None:
                    report.add("reference_missing", where=json_pointer("annotations", i))
                self.skipped.append(i)
                continue
            cid = a.category_id
            if cid not in cat_ids and cat_ids and cid is not UNSET:
                if strict:
                    raise ParseError(file, json_pointer("annotations", i, "category_id"),
                                     f"category id {cid} is not in $.categories (strict=False keeps it)")
                if report is not None:
                    report.add("reference_missing", where=json_pointer("annotations", i))
            seg = a.segmentation
            if seg is not UNSET:
                view = memoryview(seg)  # no copy of the text
                if view[0] == 91:  # "["
                    if len(view) != 2:  # not "[]"
                        polygons.append(i)
                else:
                    masks_at(bytes(seg), i, self.sizes[j])
            if a.annoconv is not UNSET:
                _check_kept(a.annoconv, file, json_pointer("annotations", i, "annoconv"))
            if a.keypoints is not UNSET:
                kp = a.keypoints
                if len(kp) % 3:
                    raise ParseError(file, json_pointer("annotations", i, "keypoints"),
                                     f"{len(kp)} values; expected (x, y, v) triplets")
                if any(v not in (0, 1, 2) for v in kp[2::3]):
                    raise ParseError(file, json_pointer("annotations", i, "keypoints"),
                                     "visibility values must be 0, 1 or 2")
                if kp and (max(kp) > 2**53 or min(kp) < -(2**53)):  # beyond exact doubles
                    raise ParseError(file, json_pointer("annotations", i, "keypoints"),
                                     "a coordinate is beyond +-2^53")
            per_image[j].append(i)
        self.salvaged: dict[int, Polygon | None] = {}
        for bad in _bad_polygons(polygons, anns):
            text = bytes(anns[bad].segmentation)
            ptr = json_pointer("annotations", bad, "segmentation")
            why = _check_polygon_text(text) or _check_polygon_numbers(text)
            if why is None:
                continue
            if strict:
                raise ParseError(file, ptr, why + " (strict=False drops such parts)")
            # keep the good parts, as detectron2 and mmdet do; count what was dropped
            kept_parts, dropped = _salvage_parts(text)
            self.salvaged[bad] = Polygon.from_coco(kept_parts) if kept_parts else None
            if report is not None:
                report.add("invalid_part_dropped", dropped, where=ptr)
        self.per_image = per_image
        kept_order = [i for js in per_image for i in js]
        info: dict[str, Any] = {}
        if doc.info is not UNSET:
            info["info"] = doc.info
        if doc.licenses is not UNSET:
            info["licenses"] = doc.licenses
        if doc.top_unknown:
            info["top"] = doc.top_unknown
        info["_keys"] = {"top": _top_keys(data, doc.top_unknown),
                         "images": list(img_keys), "annotations": list(ann_keys)}
        if kept_order != sorted(kept_order):  # the file does not list annotations image by image
            # (image id, annotation id): ids may repeat from image to image
            info["annotation_order"] = [[anns[i].image_id, anns[i].id] for i in sorted(kept_order)]
        self.info = {NS: info}

    # validation (eager, no model objects) ------------------------------------------------

    def _check_rle(self, text: bytes, i: int, size: tuple[int, int] | None) -> None:
        ptr = json_pointer("annotations", i, "segmentation")
        obj = msgspec.json.decode(text)
        if not isinstance(obj, dict):
            raise ParseError(self.file, ptr, f"expected a polygon list or an RLE object, got {describe(obj)}")
        try:
            r = _rle.from_coco(obj)
        except RLEError as e:
            raise e.located(self.file, ptr) from None
        if size is not None and r.size != size:
            raise ParseError(self.file, ptr + ".size",
                             f"RLE size [{r.height}, {r.width}] differs from the image's "
                             f"[height, width] = [{size[0]}, {size[1]}]")
        self.masks[i] = Mask(rle=r)
        notes: dict[str, Any] = {}
        counts = obj.get("counts")
        if isinstance(counts, list):
            notes["rle"] = "uncompressed"
        elif _rle.to_string(r.counts) != counts:
            notes["rle_counts"] = counts  # a non-canonical string: written back as read
        if list(obj) != ["size", "counts"]:
            notes["rle_keys"] = list(obj)
            others = {k: v for k, v in obj.items() if k not in ("size", "counts")}
            if others:
                notes["rle_extra"] = others
        if notes:
            self.rle_notes[i] = notes

    # building model objects ------------------------------------------------------------

    def annotation(self, i: int) -> Annotation:
        a = self.doc.annotations[i]
        unknown = self.doc.ann_unknown[i] if self.doc.ann_unknown else None
        extra: dict[str, Any] = dict(unknown) if unknown else {}
        seg = a.segmentation
        if seg is UNSET:
            shape = None
        elif i in self.masks:
            shape = self.masks[i]
            extra.update(self.rle_notes.get(i, ()))
        elif i in self.salvaged:
            shape = self.salvaged[i]
        else:
            text = bytes(seg)
            shape = None if text == b"[]" else Polygon.from_flat_json(
                text, where=f"{self.file}: $.annotations[{i}].segmentation" if self.file else
                f"$.annotations[{i}].segmentation")
        cid, area, bbox, iscrowd = a.category_id, a.area, a.bbox, a.iscrowd
        nkp = a.num_keypoints
        if cid is UNSET or seg is UNSET or area is UNSET or bbox is UNSET or iscrowd is UNSET or \
                (nkp is UNSET and a.keypoints is not UNSET):
            extra["_absent"] = [k for k in _ABSENT_KEYS if getattr(a, k) is UNSET]
        stored_bbox = None
        if bbox is not UNSET:
            x, y, w, h = bbox
            stored_bbox = Box._trusted(x, y, x + w, y + h)
            _, _, dw, dh = stored_bbox.to_xywh()
            if dw != w or dh != h or dw.__class__ is not w.__class__ or dh.__class__ is not h.__class__:
                extra["bbox"] = bbox  # x + w - x != w in floating point: keep the numbers
        if iscrowd is not UNSET and (iscrowd.__class__ is not int or iscrowd not in (0, 1)):
            extra["iscrowd"] = iscrowd
        keypoints = None
        if a.keypoints is not UNSET:
            kp = a.keypoints
            keypoints = Keypoints.from_coco(kp)
            if nkp is not UNSET and nkp != keypoints.num_labeled:
                extra["num_keypoints"] = nkp
            if len({v.__class__ for v in kp}) > 1 or (kp and kp[2].__class__ is not int):
                extra["keypoints"] = kp  # mixed ints and floats, or 2.0: the numbers as written
        elif nkp is not UNSET:
            extra["num_keypoints"] = nkp
        kept = a.annoconv
        z_index = track_id = None
        if kept is not UNSET:
            z_index, track_id = kept.get("z_index"), kept.get("track_id")
            extra["annoconv"] = kept  # written back, with the model's values laid over it
        attributes = a.attributes
        if attributes is UNSET:
            attributes = {}
        elif attributes.__class__ is not dict:
            extra["attributes"] = attributes  # not an object: kept as it is
            attributes = {}
        score = a.score
        # validated when the file was read (typed decoding and the checks): nothing to repeat
        return trusted_annotation(
            id=a.id,
            category_id=None if cid is UNSET else cid,
            shape=shape,
            stored_bbox=stored_bbox,
            area=None if area is UNSET else area,
            iscrowd=bool(iscrowd) if iscrowd is not UNSET else False,
            score=None if score is UNSET else score,
            attributes=attributes,
            keypoints=keypoints,
            z_index=z_index,
            track_id=track_id,
            extra={NS: extra} if extra else {},
        )

    def sample(self, j: int) -> Sample:
        img = self.doc.images[j]
        extra: dict[str, Any] = {}
        for k in _IMAGE_EXTRA_KEYS:
            v = getattr(img, k)
            if v is not UNSET:
                extra[k] = v
        unknown = self.doc.img_unknown[j] if self.doc.img_unknown else None
        if unknown:
            extra.update(unknown)
        if img.file_name is UNSET:
            extra["_absent"] = ["file_name"]
        kept = img.annoconv if img.annoconv is not UNSET else {}
        if kept:
            extra["annoconv"] = kept  # written back, with the model's values laid over it
        for key in ("height", "width"):
            if getattr(img, key).__class__ is float:
                extra[key] = getattr(img, key)  # 427.0: written back as read
        status = kept.get("status")
        return Sample(
            id=img.id,
            file_name="" if img.file_name is UNSET else img.file_name,
            width=None if img.width is UNSET else int(img.width),
            height=None if img.height is UNSET else int(img.height),
            subset=kept.get("subset"),
            status=_STATUS_BY_VALUE.get(status) if isinstance(status, str) else None,
            tags=tuple(kept.get("tags", ())),
            attributes=kept.get("attributes", {}),
            annotations=tuple(self.annotation(i) for i in self.per_image[j]),
            extra={NS: extra} if extra else {},
        )


class CocoSamples(Sequence[Sample]):
    """The samples of a COCO file, each built when it is accessed from the decoded and
    validated records (so loading stays fast and compact: 100k annotations need no 100k
    model objects until they are used). Immutable; random access; pickles as a tuple.

    A COCO writer given these samples unchanged writes the records back directly.
    """

    def __init__(self, records: _Records) -> None:
        self._records = records

    def __len__(self) -> int:
        return len(self._records.per_image)

    def __getitem__(self, j: Any) -> Any:
        if isinstance(j, slice):
            return tuple(self._records.sample(k) for k in range(len(self))[j])
        n = len(self)
        if j < 0:
            j += n
        if not 0 <= j < n:
            raise IndexError("sample index out of range")
        return self._records.sample(j)

    def __iter__(self) -> Iterator[Sample]:
        rec = self._records
        for j in range(len(rec.per_image)):
            yield rec.sample(j)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<CocoSamples: {len(self)} samples of {self._records.file or 'a COCO document'}>"

    def __reduce__(self):
        return (tuple, (tuple(self),))


def parse(
    data: bytes,
    file: str | Path | None = None,
    *,
    report: ConversionReport | None = None,
    strict: bool = True,
) -> Dataset:
    """A Dataset from the bytes of a COCO instances / keypoints file (pure). Everything is
    validated now; the samples are built when accessed (:class:`CocoSamples`).

    >>> ds = parse(b'{"images": [{"id": 7, "file_name": "a.jpg", "height": 4, "width": 6}],'
    ...            b' "annotations": [{"id": 1, "image_id": 7, "category_id": 3,'
    ...            b' "segmentation": [[0, 0, 2, 0, 2, 2]], "area": 2.0, "bbox": [0, 0, 2, 2],'
    ...            b' "iscrowd": 0}], "categories": [{"id": 3, "name": "car"}]}')
    >>> ann = ds.samples[0].annotations[0]
    >>> ann.shape.to_coco(), ann.bbox.to_xywh(), ds.category_by_id(3).name
    ([[0, 0, 2, 0, 2, 2]], (0, 0, 2, 2), 'car')
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("parse takes the file's bytes")
    records = _Records(bytes(data), file, report, strict)
    return Dataset(categories=records.categories, samples=CocoSamples(records), info=records.info)


def _key_at(data: bytes | mmap.mmap, quoted: bytes) -> int:
    """Where ``quoted`` first stands as a key (followed by a colon), or -1."""
    at = data.find(quoted)
    while at >= 0 and not data[at + len(quoted) : at + len(quoted) + 64].lstrip().startswith(b":"):
        at = data.find(quoted, at + 1)
    return at


def _top_keys(data: bytes, unknown: dict[str, Any]) -> list[str]:
    """Top-level key order from where each key first appears (cheap byte searches)."""
    keys = ["info", "licenses", "images", "annotations", "categories", *unknown]
    pos = {}
    for k in keys:  # as a key (followed by a colon), not a string value such as a file name
        found = [at for spelling in {json.dumps(k, ensure_ascii=a).encode() for a in (False, True)}
                 if (at := _key_at(data, spelling)) >= 0]  # raw UTF-8, or \u-escaped
        if found:
            pos[k] = min(found)
    return sorted(pos, key=pos.__getitem__)


def read(
    path: str | Path,
    *,
    report: ConversionReport | None = None,
    strict: bool = True,
    validate: bool = False,
) -> Dataset:
    """Read a COCO instances / keypoints file. ``validate=True`` also checks it against
    ``schemas/coco_instances.schema.json`` (slower; for ``annoconv validate``)."""
    p = Path(path)
    data = _read_bytes(p)
    if validate:
        validate_schema(load_json_bytes(data, p), "coco_instances.schema.json", p)
    return parse(data, p, report=report, strict=strict)


def iter_samples(
    path: str | Path, *, report: ConversionReport | None = None, strict: bool = True
) -> Iterator[Sample]:
    """The samples of a COCO file one at a time: the file is decoded and checked once, and
    the model objects of only one image exist at a time."""
    yield from read(path, report=report, strict=strict).samples


def _read_bytes(p: Path) -> bytes:
    """The file's bytes, without a UTF-8 byte order mark (which JSON parsers refuse)."""
    try:
        data = p.read_bytes()
        return data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    except FileNotFoundError:
        raise ParseError(p, None, "file not found") from None
    except IsADirectoryError:
        raise ParseError(p, None, "expected a JSON file, got a folder") from None


# --------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------

MaskAs = Literal["rle", "polygon"]


class _Writer:
    def __init__(self, report: ConversionReport, *, mask_as: MaskAs, holes: str, rle: str,
                 area: str, keep_extra: bool) -> None:
        if mask_as not in ("rle", "polygon"):
            raise OptionError(f"mask_as must be 'rle' or 'polygon', got {mask_as!r}")
        if holes not in ("rle", "drop"):
            raise OptionError(f"holes must be 'rle' or 'drop', got {holes!r}")
        if rle not in ("compressed", "uncompressed", "auto"):
            raise OptionError(f"rle must be 'compressed', 'uncompressed' or 'auto', got {rle!r}")
        if area not in ("pixels", "shoelace"):
            raise OptionError(f"area must be 'pixels' or 'shoelace', got {area!r}")
        self.report = report
        self.mask_as = mask_as
        self.holes = holes
        self.rle = rle
        self.area = area
        self.keep_extra = keep_extra
        self._rasters: dict[tuple[int, int, int], _rle.RLE] = {}

    def prefetch(self, samples: Sequence[Sample], writable: Sequence[Sequence[Annotation]]) -> None:
        """Rasterise, in one batch per image size, every polygon these samples will need as
        pixels (holes written as RLE, areas computed from pixels): one vectorized call
        instead of one per polygon."""
        self._rasters = {}
        todo: dict[tuple[int, int], list[Polygon]] = {}
        for s, anns in zip(samples, writable, strict=True):
            if s.height is None or s.width is None:
                continue
            for a in anns:
                poly = self._needs_raster(a)
                if poly is not None:
                    todo.setdefault((s.height, s.width), []).append(poly)
        for (h, w), polys in todo.items():
            try:
                rles = geometry.polygons_to_rles(polys, h, w)
            except ValueError:  # a polygon that cannot be drawn: found, located, by raster()
                continue
            for poly, r in zip(polys, rles, strict=True):
                self._rasters[(id(poly), h, w)] = r

    def _needs_raster(self, a: Annotation) -> Polygon | None:
        shape = a.shape
        if isinstance(shape, Polygon):
            if shape.has_holes and self.holes == "rle":
                return shape
            if a.area is None and self.area == "pixels" and not shape.has_holes:
                return shape
        return None

    def raster(self, poly: Polygon, size: tuple[int | None, int | None], where: str) -> _rle.RLE:
        h, w = self._size(size, where)
        r = self._rasters.get((id(poly), h, w))
        if r is not None:
            return r
        try:
            return geometry.polygon_to_rle(poly, h, w)
        except ValueError as e:  # e.g. coordinates far outside any image
            raise ConversionError(f"{where}: {e}") from None

    def rle_json(self, r: _rle.RLE, ns: dict[str, Any]) -> Any:
        uncompressed = self.rle == "uncompressed" or (self.rle == "auto" and ns.get("rle") == "uncompressed")
        obj = _rle.to_coco(r, compressed=not uncompressed)
        raw = ns.get("rle_counts")  # a non-canonical string as read, if it is still this mask
        if raw is not None and self.rle == "auto" and _rle.from_string(raw, *r.size) == r:
            obj["counts"] = raw
        obj.update(ns.get("rle_extra", ()))
        keys = ns.get("rle_keys")
        if keys:
            obj = _ordered(obj, keys)
        return obj

    def segmentation(self, ann: Annotation, sample: Sample, where: str, ns: dict[str, Any]
                     ) -> tuple[Any, _rle.RLE | None, Polygon | None]:
        """(segmentation JSON, its RLE if it is one, its polygon if it is one)."""
        shape = ann.shape
        size = (sample.height, sample.width)
        if isinstance(shape, Polygon):
            if not shape.has_holes:
                if shape.flat_json is not None:
                    return Raw(shape.flat_json), None, shape
                seg = shape.to_coco()
                if any(len(p) < 6 for p in seg):  # COCO readers reject parts of < 3 points
                    self.report.add("invalid_part_dropped", sum(len(p) < 6 for p in seg), where=where)
                    seg = [p for p in seg if len(p) >= 6]
                    shape = Polygon.from_coco(seg)
                    if not seg:
                        return [], None, None
                return seg, None, shape
            if self.holes == "drop":
                self.report.add("hole_dropped", where=where)
                outer = Polygon.from_coco([p.exterior.reshape(-1).tolist() for p in shape.parts])
                return outer.to_coco(), None, outer
            self.report.add("hole_to_rle", where=where)
            r = self.raster(shape, size, where)
            return self.rle_json(r, ns), r, None
        if isinstance(shape, Mask):
            r = shape.rle
            if sample.height is not None and r.size != size:
                raise ConversionError(f"{where}: mask is {r.height}x{r.width} but the image is "
                                      f"{sample.height}x{sample.width} (height x width)")
            if self.mask_as == "polygon":
                poly = geometry.mask_to_polygon(r)
                if not poly.has_holes and poly.parts:
                    self.report.add("mask_to_polygon", where=where)
                    if ns.get("rle_extra"):  # keys beside size and counts: no polygon holds them
                        self.report.add("field_dropped", where=f"{where}: RLE keys {', '.join(ns['rle_extra'])}")
                    return poly.to_coco(), r, poly
                if poly.has_holes and self.holes == "drop":
                    self.report.add("hole_dropped", where=where)
                    outer = Polygon.from_coco([p.exterior.reshape(-1).tolist() for p in poly.parts])
                    return outer.to_coco(), None, outer
                if poly.has_holes:
                    self.report.add("hole_to_rle", where=where)
            return self.rle_json(r, ns), r, None
        if isinstance(shape, Box):
            if shape.rotation:
                self.report.add("rotation_applied", where=where)
                poly = geometry.shape_to_polygon(shape)
                return poly.to_coco(), None, poly
            return [], None, None
        if isinstance(shape, Ellipse):
            self.report.add("shape_converted", where=where)
            poly = geometry.ellipse_to_polygon(shape)
            return poly.to_coco(), None, poly
        return [], None, None

    @staticmethod
    def _size(size: tuple[int | None, int | None], where: str) -> tuple[int, int]:
        h, w = size
        if h is None or w is None:
            raise ConversionError(f"{where}: the image has no width/height, which COCO needs to "
                                  "rasterise this annotation (give the reader the image sizes, e.g. "
                                  "the segments reader's images= option); "
                                  "rasterise this annotation")
        return h, w

    def bbox_area(self, ann: Annotation, sample: Sample, seg_rle: _rle.RLE | None,
                  poly: Polygon | None, where: str, ns: dict[str, Any]) -> tuple[list[Any] | None, Any]:
        shape = ann.shape
        absent = ns.get("_absent", ())
        if "bbox" in absent and ann.stored_bbox is None:
            bbox = None
        elif ann.stored_bbox is not None:
            b = ann.stored_bbox
            if b.rotation:
                b = b.bounds()
                self.report.add("rotation_applied", where=where)
            kept = ns.get("bbox")
            if kept is not None and kept[0] == b.x0 and kept[1] == b.y0 and \
                    kept[0] + kept[2] == b.x1 and kept[1] + kept[3] == b.y1:
                bbox = kept  # the numbers as read (x + w - x != w in floating point)
            else:
                bbox = list(b.to_xywh())
        elif isinstance(shape, Mask) or seg_rle is not None:
            r = seg_rle if seg_rle is not None else shape.rle  # type: ignore[union-attr]
            bbox = _rle.to_bbox(r).tolist()
        elif poly is not None:
            bbox = geometry.polygon_bbox(poly)
        elif isinstance(shape, Box):
            bbox = list(shape.bounds().to_xywh())
        elif ann.keypoints is not None or isinstance(shape, Keypoints):
            kp = ann.keypoints if ann.keypoints is not None else shape
            b = kp.bounds()  # type: ignore[union-attr]
            bbox = list(b.to_xywh()) if b is not None else [0, 0, 0, 0]
        else:
            bbox = None
        if ann.area is not None or "area" in absent:
            return bbox, ann.area
        if isinstance(shape, Mask) or seg_rle is not None:
            r = seg_rle if seg_rle is not None else shape.rle  # type: ignore[union-attr]
            area: Any = _rle.area(r)
        elif poly is not None:
            if self.area == "shoelace" or sample.height is None or sample.width is None:
                # no image size (a Segments vector release, say): the geometric area, as
                # COCO's own files store it, is the only one there is
                area = geometry.polygon_area(poly)
            else:
                area = _rle.area(self.raster(poly, (sample.height, sample.width), where))
        elif bbox is not None:
            area = bbox[2] * bbox[3]
        else:
            area = 0
        self.report.add("area_computed")
        return bbox, area


def _ordered(d: dict[str, Any], keys: Sequence[str] | None) -> dict[str, Any]:
    if not keys:
        return d
    out = {k: d[k] for k in keys if k in d}
    if len(out) != len(d):
        out.update((k, v) for k, v in d.items() if k not in out)
    return out


def _assign_ids(values: list[Any], keep_ints: bool, rep: ConversionReport, what: str) -> list[int]:
    """Ids to write. From a COCO source every integer id is kept as read. Otherwise each
    positive integer id is kept (its first use, when it repeats), and the others (none, a
    string, 0, a repeat) are numbered in input order above the largest kept id: never 0, and
    one missing id renumbers nothing else."""
    if keep_ints and all(type(v) is int for v in values):
        zero = sum(v == 0 for v in values)
        if zero:
            rep.add("id_zero_kept", zero, where=what)
        return values
    out: list[Any] = [None] * len(values)
    seen: set[int] = set()
    for k, v in enumerate(values):
        if type(v) is int and v > 0 and v not in seen:
            seen.add(v)
            out[k] = v
    nxt = max(seen, default=0) + 1
    todo = [k for k, v in enumerate(out) if v is None]
    for k in todo:
        out[k] = nxt
        nxt += 1
    if todo:
        rep.add("id_assigned", len(todo), where=what)
    return out


def _restore_order(annotations: list[dict[str, Any]], source_ids: list[Any],
                   order: list[Any]) -> list[dict[str, Any]]:
    """Put annotations back in the file's order, matching the source (image id, annotation
    id) pairs in turn (a pair that appears twice takes its positions first come, first
    served: in the file and in the model, one image's annotations keep their order)."""
    slots: dict[Any, list[int]] = {}
    for k, v in enumerate(order):
        slots.setdefault(v, []).append(k)
    positions = []
    for v in source_ids:
        free = slots.get(v)
        if not free:
            return annotations  # the annotations changed since reading: keep image order
        positions.append(free.pop(0))
    out: list[dict[str, Any]] = [{}] * len(annotations)
    for p, a in zip(positions, annotations, strict=True):
        out[p] = a
    return out


def emit(
    ds: Dataset,
    report: ConversionReport | None = None,
    *,
    mask_as: MaskAs = "rle",
    holes: str = "rle",
    rle: str = "auto",
    area: str = "pixels",
    keep_extra: bool = False,
) -> dict[str, Any]:
    """The COCO document of a Dataset, as a dict ready for ``msgspec.json.encode``
    (polygons read from COCO are :class:`msgspec.Raw` text). Pure apart from the report.

    >>> from annoconv.model import Category, Sample, Annotation, Box
    >>> ds = Dataset(categories=(Category(id=3, name="car"),), samples=(Sample(id=1,
    ...     file_name="a.jpg", width=8, height=6, annotations=(Annotation(id=None,
    ...     category_id=3, shape=Box(x0=1, y0=1, x1=4, y1=3)),)),))
    >>> emit(ds)["annotations"]
    [{'id': 1, 'image_id': 1, 'category_id': 3, 'segmentation': [], 'area': 6, 'bbox': [1, 1, 3, 2], 'iscrowd': 0}]
    """
    rep = report if report is not None else ConversionReport()
    wr = _Writer(rep, mask_as=mask_as, holes=holes, rle=rle, area=area, keep_extra=keep_extra)
    if isinstance(ds.samples, CocoSamples) and mask_as == "rle" and rle == "auto" \
            and not ds.samples._records.salvaged:  # parts dropped on reading: not as read
        return _emit_records(ds, ds.samples._records, rep, keep_extra)
    samples = list(ds.samples)
    info_ns: dict[str, Any] = ds.info.get(NS, {}) if isinstance(ds.info.get(NS), dict) else {}
    keys = info_ns.get("_keys") or {}
    from_coco = NS in ds.info  # ids as read, even 0 or repeated: a round trip is exact
    image_ids = _assign_ids([s.id for s in samples], from_coco, rep, "image ids")
    writable = [[a for a in s.annotations if _writable(a)] for s in samples]
    source_ids = [a.id for anns in writable for a in anns]
    # panoptic segment ids repeat from image to image: instances need ids of their own
    from_instances = from_coco and not info_ns.get("_panoptic")
    ann_ids = iter(_assign_ids(source_ids, from_instances, rep, "annotation ids"))
    template = _annotation_template(keys.get("annotations"))
    images, annotations = [], []
    chunk = 512  # samples rasterised per batch (bounded memory, amortised numpy calls)
    for k, (s, iid, anns) in enumerate(zip(samples, image_ids, writable, strict=True)):
        if k % chunk == 0:
            wr.prefetch(samples[k : k + chunk], writable[k : k + chunk])
        ns = s.extra.get(NS, {})
        img: dict[str, Any] = {"id": iid, "file_name": s.file_name, "height": s.height, "width": s.width}
        if s.height is None:
            del img["height"]
        if s.width is None:
            del img["width"]
        for key in ns.get("_absent", ()):
            if not (key == "file_name" and s.file_name):
                img.pop(key, None)
        img.update((key, v) for key, v in ns.items() if key not in _IMAGE_INTERNAL)
        record = ns.get("_record", {})  # a panoptic source's per-image record: its PNG is gone
        if set(record) - {"image_id", "file_name", "_keys"}:
            rep.add("field_dropped", where=f"image {iid}: panoptic record fields")
        written = keep_extra or "annoconv" in ns
        kept = _sample_leftovers(s, iid, None if written else rep)
        if (kept and keep_extra) or "annoconv" in ns:
            img["annoconv"] = {**ns.get("annoconv", {}), **kept}
        images.append(_ordered(img, ns.get("_keys") or keys.get("images")))
        if len(anns) != len(s.annotations):
            for a in s.annotations:
                if not _writable(a):
                    rep.add("shape_dropped", where=f"image {iid} annotation {a.id}")
        for a in anns:
            annotations.append(_emit_annotation(a, s, iid, next(ann_ids), wr, template))
    order = info_ns.get("annotation_order")
    if order is not None and len(order) == len(annotations):
        if all(isinstance(p, list) and len(p) == 2 for p in order):  # (image id, annotation id)
            pairs = [(s.id, a.id) for s, anns in zip(samples, writable, strict=True) for a in anns]
            annotations = _restore_order(annotations, pairs, [tuple(p) for p in order])
        else:  # ids alone, as annoconv 0.1.0 recorded them (native files it wrote)
            annotations = _restore_order(annotations, source_ids, order)
    categories = [_emit_category(c, rep, keep_extra) for c in ds.categories]
    if ds.attribute_specs:
        rep.add("attribute_dropped", len(ds.attribute_specs), where="attribute definitions")
    doc = _header(ds)
    top = keys.get("top")
    for key, value in (("images", images), ("annotations", annotations), ("categories", categories)):
        if value or top is None or key in top:  # a key the COCO source lacked stays absent
            doc[key] = value
    rep.samples += len(images)
    rep.annotations += len(annotations)
    return _ordered(doc, keys.get("top"))


def _emit_records(ds: Dataset, rec: _Records, rep: ConversionReport, keep_extra: bool
                  ) -> dict[str, Any]:
    """COCO -> COCO with the samples as they were read: the decoded records are written
    back as they are (their Raw segmentation text included), which is exact and fast."""
    doc = rec.doc
    images: list[Any] = doc.images
    if doc.img_unknown and any(doc.img_unknown):
        images = [_with_unknown(r, u) for r, u in zip(images, doc.img_unknown, strict=True)]
    anns: list[Any] = doc.annotations
    if doc.ann_unknown and any(doc.ann_unknown):
        anns = [_with_unknown(r, u) for r, u in zip(anns, doc.ann_unknown, strict=True)]
    kept = doc.annotations
    if rec.skipped:
        skip = set(rec.skipped)
        anns = [a for i, a in enumerate(anns) if i not in skip]
        kept = [a for i, a in enumerate(kept) if i not in skip]
    for what, records in (("image ids", doc.images), ("annotation ids", kept)):
        zero = sum(r.id == 0 for r in records)  # as the generic path counts them
        if zero:
            rep.add("id_zero_kept", zero, where=what)
    if ds.categories is rec.categories:
        categories: list[Any] = doc.categories
    else:
        categories = [_emit_category(c, rep, keep_extra) for c in ds.categories]
    out = _header(ds)
    info_ns = ds.info.get(NS, {}) if isinstance(ds.info.get(NS), dict) else {}
    top = (info_ns.get("_keys") or {}).get("top")
    for key, value in (("images", images), ("annotations", anns), ("categories", categories)):
        if value or top is None or key in top:  # a key the source lacked stays absent
            out[key] = value
    rep.samples += len(images)
    rep.annotations += len(anns)
    return _ordered(out, top)


def _with_unknown(record: Any, unknown: dict[str, Any]) -> Any:
    if not unknown:
        return record
    d = msgspec.structs.asdict(record)
    d = {k: v for k, v in d.items() if v is not UNSET}
    d.update((k, v) for k, v in unknown.items() if k != "_keys")
    return _ordered(d, unknown.get("_keys"))


def _header(ds: Dataset) -> dict[str, Any]:
    """info, licenses and unknown top-level keys: as read, or made up for other sources."""
    info_ns = ds.info.get(NS, {}) if isinstance(ds.info.get(NS), dict) else {}
    out: dict[str, Any] = {}
    if "info" in info_ns:
        out["info"] = info_ns["info"]
    elif NS not in ds.info:
        out["info"] = _default_info(ds)
    if "licenses" in info_ns:
        out["licenses"] = info_ns["licenses"]
    elif NS not in ds.info:
        out["licenses"] = []
    out.update(info_ns.get("top", {}))
    return out


def _default_info(ds: Dataset) -> dict[str, Any]:
    from .. import __version__

    name = ds.info.get("name")
    return {"description": f"{name} (converted by annoconv {__version__})" if name
            else f"converted by annoconv {__version__}"}


def _sample_leftovers(s: Sample, iid: int, rep: ConversionReport | None) -> dict[str, Any]:
    """What of a sample COCO has no field for; counted as dropped when ``rep`` is given
    (that is, when it is not written under the "annoconv" key)."""
    kept: dict[str, Any] = {}
    where = f"image {iid}"
    if s.status is not None:
        kept["status"] = s.status.value
        if rep is not None:
            rep.add("status_unmapped", where=where)
    if s.tags:
        kept["tags"] = list(s.tags)
        if rep is not None:
            rep.add("tag_dropped", where=where)
    if s.attributes:
        kept["attributes"] = s.attributes
        if rep is not None:
            rep.add("attribute_dropped", where=where)
    if s.subset is not None:
        kept["subset"] = s.subset
        if rep is not None:
            rep.add("field_dropped", where=f"{where}: subset")
    foreign = [k for k in s.extra if k != NS]
    if foreign and rep is not None:  # another format's own fields (Hasty image_id, ...)
        rep.add("field_dropped", where=f"{where}: {', '.join(foreign)} fields")
    if iid != s.id:
        kept["id"] = s.id
    return kept


def _writable(a: Annotation) -> bool:
    """COCO holds no polylines, and no annotation without a category or without any
    geometry (an image-level label: COCOeval needs a bbox), unless the COCO source had one."""
    if isinstance(a.shape, Polyline):
        return False
    if NS in a.extra:
        return a.category_id is not None or "category_id" in a.extra[NS].get("_absent", ())
    drawable = a.shape is not None and not (
        isinstance(a.shape, Polygon) and all(len(p.exterior) < 3 for p in a.shape.parts))
    return a.category_id is not None and (drawable or a.stored_bbox is not None or a.keypoints is not None)


_STANDARD_ANN_KEYS = ("id", "image_id", "category_id", "segmentation", "area", "bbox", "iscrowd")
_MISSING = object()


def _annotation_template(key_order: Sequence[str] | None) -> dict[str, Any]:
    """An empty annotation dict whose keys are in the file's order (standard keys first
    where the file has none): copied and filled per annotation, which keeps the order
    without sorting each dict."""
    order = list(key_order or ())
    order += [k for k in _STANDARD_ANN_KEYS if k not in order]
    return dict.fromkeys(order, _MISSING)


_NS_INTERNAL = frozenset(("_absent", "_keys", "bbox", "iscrowd", "num_keypoints", "rle", "rle_keys",
                          "rle_counts", "rle_extra", "keypoints", "annoconv"))


#: annoconv's own entries in an image's namespace (the others are the image's unknown keys,
#: "_meta" included, written back as they are)
_IMAGE_INTERNAL = frozenset(("_keys", "_absent", "_record", "_size_from_png"))


def _in_model(a: Annotation, key: str) -> bool:
    """Whether the model holds a value for an annotation key the source did not have."""
    if key == "category_id":
        return a.category_id is not None
    if key == "segmentation":
        return a.shape is not None
    if key == "area":
        return a.area is not None
    if key == "bbox":
        return a.stored_bbox is not None
    if key == "iscrowd":
        return a.iscrowd
    return False  # num_keypoints: derived from the keypoints, left out as in the source


def _emit_annotation(a: Annotation, s: Sample, iid: int, aid: int, wr: _Writer,
                     template: dict[str, Any]) -> dict[str, Any]:
    rep = wr.report
    where = f"image {iid} annotation {a.id if a.id is not None else aid}"
    ns: dict[str, Any] = a.extra.get(NS, _EMPTY)
    if len(a.extra) > (NS in a.extra):  # another format's own fields (Hasty label id, ...)
        rep.add("field_dropped", where=f"{where}: {', '.join(k for k in a.extra if k != NS)} fields")
    seg, seg_rle, poly = wr.segmentation(a, s, where, ns)
    bbox, area = wr.bbox_area(a, s, seg_rle, poly, where, ns)
    out = template.copy()
    out["id"] = aid
    out["image_id"] = iid
    out["category_id"] = a.category_id
    out["segmentation"] = seg
    out["area"] = area
    if bbox is not None:
        out["bbox"] = bbox
    out["iscrowd"] = ns["iscrowd"] if "iscrowd" in ns and bool(ns["iscrowd"]) == a.iscrowd else int(a.iscrowd)
    kp = a.keypoints if a.keypoints is not None else (a.shape if isinstance(a.shape, Keypoints) else None)
    if kp is not None:
        values = kp.to_coco()
        raw = ns.get("keypoints")
        out["keypoints"] = raw if raw is not None and raw == values else values
        out["num_keypoints"] = ns.get("num_keypoints", kp.num_labeled)
    elif "num_keypoints" in ns:
        out["num_keypoints"] = ns["num_keypoints"]
    if a.score is not None:
        out["score"] = a.score
    if a.attributes:
        out["attributes"] = a.attributes
    if ns:
        out.update((k, v) for k, v in ns.items() if k not in _NS_INTERNAL)
        for key in ns.get("_absent", ()):
            if not _in_model(a, key):  # absent in the source and not added since
                out[key] = _MISSING
    if a.z_index is not None or a.track_id is not None or (a.id is not None and a.id != aid):
        kept: dict[str, Any] = {}
        written = wr.keep_extra or "annoconv" in ns
        if a.z_index is not None:
            kept["z_index"] = a.z_index
            if not written:
                rep.add("z_index_dropped", where=where)
        if a.track_id is not None:
            kept["track_id"] = a.track_id
            if not written:
                rep.add("track_dropped", where=where)
        if a.id is not None and a.id != aid:
            kept["id"] = a.id
        if wr.keep_extra or "annoconv" in ns:
            out["annoconv"] = {**ns.get("annoconv", {}), **kept}
    elif "annoconv" in ns:
        out["annoconv"] = ns["annoconv"]
    if _MISSING in out.values():
        out = {k: v for k, v in out.items() if v is not _MISSING}
    own_keys = ns.get("_keys")
    return _ordered(out, own_keys) if own_keys else out


_EMPTY: dict[str, Any] = {}


def _emit_category(c: Category, rep: ConversionReport, keep_extra: bool,
                   panoptic: bool = False) -> dict[str, Any]:
    ns: dict[str, Any] = c.extra.get(NS, {})
    out: dict[str, Any] = {"id": c.id, "name": c.name}
    if c.supercategory is not None:
        out["supercategory"] = c.supercategory
    elif "_keys" not in ns:
        out["supercategory"] = ""
    if c.keypoint_names is not None:
        out["keypoints"] = list(c.keypoint_names)
    if c.skeleton is not None:
        out["skeleton"] = [list(e) for e in c.skeleton]
    if "isthing" in ns:
        out["isthing"] = ns["isthing"]
    if c.color is not None and "_keys" in ns and not (
            ns.get("_color_kept") and list(c.color) == ns.get("annoconv", {}).get("color")):
        out["color"] = list(c.color[:3]) if ns.get("color_rgb") else list(c.color)
    out.update((k, v) for k, v in ns.items()
               if k not in ("_keys", "_absent", "isthing", "color_rgb", "_color_kept"))
    for key in ns.get("_absent", ()):
        if not (key == "name" and c.name):
            out.pop(key, None)
    if out.get("supercategory", "") is None and "supercategory" not in ns:
        del out["supercategory"]
    if "_keys" not in ns:
        kept = {}
        if c.color is not None:
            kept["color"] = list(c.color)
        if c.kind == "stuff":
            kept["kind"] = "stuff"
        if kept and keep_extra:
            out["annoconv"] = kept
        elif panoptic:  # isthing and an RGB colour: the colour's alpha has no place
            count_category_fields(rep, [c], color=True, kind=True, supercategory=True, keypoints=True)
        else:
            count_category_fields(rep, [c], supercategory=True, keypoints=True)
        foreign = [k for k in c.extra if k != NS]
        if foreign:
            rep.add("field_dropped", where=f"category {c.id}: {', '.join(foreign)} fields")
    return _ordered(out, ns.get("_keys"))


def dumps(doc: dict[str, Any], *, indent: bool = False) -> bytes:
    """Encode an emitted document (msgspec keeps Raw polygon text as it is)."""
    data = msgspec.json.encode(doc)
    return msgspec.json.format(data, indent=2) if indent else data


def write(
    ds: Dataset,
    path: str | Path,
    *,
    report: ConversionReport | None = None,
    mask_as: MaskAs = "rle",
    holes: str = "rle",
    rle: str = "auto",
    area: str = "pixels",
    keep_extra: bool = False,
    indent: bool = False,
) -> None:
    """Write a COCO instances file atomically (see the module docstring for the options)."""
    rep = report if report is not None else ConversionReport()
    doc = emit(ds, rep, mask_as=mask_as, holes=holes, rle=rle, area=area, keep_extra=keep_extra)
    data = dumps(doc, indent=indent)
    with atomic_write(path) as f:
        f.write(data)
    rep.files.append(Path(path).name)


def sniff(path: Path, head: bytes) -> int:
    """2 for an object with ``images`` and ``annotations`` or ``categories`` in the first
    64 KiB; 1 with ``images`` only, or with annotations that have an ``image_id`` (the
    ``images`` key further on, as when ``annotations`` comes first). A panoptic file is not
    COCO instances, also when its first record lies beyond the head."""
    head = head.removeprefix(b"\xef\xbb\xbf")
    if not head.lstrip().startswith(b"{") or is_native(head):
        return 0
    has_images = b'"images"' in head
    if _is_panoptic(path, head):
        return 0
    if has_images and (b'"annotations"' in head or b'"categories"' in head):
        return 2
    return 1 if has_images or (b'"annotations"' in head and b'"image_id"' in head) else 0


def _is_panoptic(path: Path, head: bytes) -> bool:
    """Whether the first annotations record has ``segments_info``: seen in the head, or,
    when ``annotations`` starts after it (a long ``images`` list, as panoptic_val2017.json
    has), found by one search of the memory-mapped file and a look at what follows."""
    if _key_at(head, b'"segments_info"') >= 0:
        return True
    at = _key_at(head, b'"annotations"')
    if (at >= 0 and at + 4096 <= len(head)) or not path.is_file():  # its first record was seen
        return False
    try:
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            at = _key_at(mm, b'"annotations"')  # the key, not the word in a description
            return at >= 0 and mm.find(b'"segments_info"', at, at + 4096) >= 0
    except (OSError, ValueError):  # an empty file cannot be mapped
        return False


# --------------------------------------------------------------------------------------
# panoptic
# --------------------------------------------------------------------------------------


def _panoptic_png_array(path: Path) -> np.ndarray:
    arr, mode, palette = read_png(path)
    if mode in ("RGB", "RGBA"):
        return rgb_to_ids(arr)
    if mode == "P" and palette is not None:
        return rgb_to_ids(np.array(palette, np.uint8).reshape(-1, 3))[arr]
    if mode in ("L", "I;16", "I"):
        return arr.astype(np.uint32)
    raise ParseError(path, None, f"expected an RGB panoptic PNG, got mode {mode}")


def read_panoptic(
    path: str | Path,
    *,
    report: ConversionReport | None = None,
    png_dir: str | Path | None = None,
    strict: bool = True,
) -> Dataset:
    """Read a COCO panoptic JSON and its PNG folder (default: the JSON path without
    ``.json``) into one Mask annotation per segment."""
    p = Path(path)
    doc = load_json_bytes(_read_bytes(p), p)
    if not isinstance(doc, dict):
        raise ParseError(p, "$", f"expected an object, got {describe(doc)}")
    folder = Path(png_dir) if png_dir is not None else p.with_suffix("")
    for key in ("categories", "annotations", "images"):
        if not isinstance(doc.get(key, []), list):
            raise ParseError(p, "$." + key, f"expected a list, got {describe(doc[key])}")
    categories = tuple(_category(c, i, p) for i, c in enumerate(doc.get("categories", [])))
    cat_ids = {c.id for c in categories}
    by_image: dict[int, tuple[int, dict[str, Any]]] = {}
    for i, a in enumerate(doc.get("annotations", [])):
        if not isinstance(a, dict) or type(a.get("image_id")) is not int:
            raise ParseError(p, json_pointer("annotations", i), "expected an object with an integer image_id")
        if a["image_id"] in by_image:  # two PNGs for one image: which one is meant?
            raise ParseError(p, json_pointer("annotations", i, "image_id"), (
                f"image id {a['image_id']} already has a record at "
                f"{json_pointer('annotations', by_image[a['image_id']][0])}"))
        by_image[a["image_id"]] = (i, a)
    samples = []
    for j, img in enumerate(doc.get("images", [])):
        ptr = json_pointer("images", j)
        if not isinstance(img, dict) or type(img.get("id")) is not int:
            raise ParseError(p, ptr, "expected an object with an integer id")
        h, w = img.get("height"), img.get("width")
        for key, v in (("height", h), ("width", w)):
            if v is not None and (type(v) is not int or v < 0):
                raise ParseError(p, f"{ptr}.{key}", f"expected a non-negative integer, got {describe(v)}")
        extra = {k: v for k, v in img.items() if k not in _IMAGE_KEYS}
        extra["_keys"] = list(img)
        anns: list[Annotation] = []
        found = by_image.pop(img["id"], None)
        if found is not None:
            i, rec = found
            anns, png_size = _panoptic_annotations(rec, i, folder, (h, w), cat_ids, p, report, strict)
            if h is None or w is None:  # the PNG's size is the image's: known to the model,
                h, w = png_size         # written back as panoptic as the source had it
                extra["_size_from_png"] = {k: img[k] for k in ("height", "width") if k in img}
            # the per-image record (an internal key: an image may have a key "panoptic")
            extra["_record"] = {k: v for k, v in rec.items() if k != "segments_info"}
            extra["_record"]["_keys"] = list(rec)
        samples.append(Sample(id=img["id"], file_name=img.get("file_name", ""), width=w, height=h,
                              annotations=tuple(anns), extra={NS: extra}))
    for image_id, (i, _) in by_image.items():
        if strict:
            raise ParseError(p, json_pointer("annotations", i, "image_id"),
                             f"image id {image_id} is not in $.images (strict=False skips it)")
        if report is not None:
            report.add("reference_missing", where=json_pointer("annotations", i))
    info = {k: doc[k] for k in ("info", "licenses") if k in doc}
    top = {k: v for k, v in doc.items() if k not in ("info", "licenses", "images", "annotations", "categories")}
    if top:
        info["top"] = top  # unknown top-level keys, written back
    info["_keys"] = {"top": list(doc)}
    info["_panoptic"] = True  # segment ids are unique per image only
    return Dataset(categories=categories, samples=tuple(samples), info={NS: info})


def _panoptic_annotations(rec: dict[str, Any], i: int, folder: Path, size: tuple[Any, Any],
                          cat_ids: set[int], file: Path, report: ConversionReport | None,
                          strict: bool) -> tuple[list[Annotation], tuple[int, int]]:
    """One record's segments as Mask annotations, and the (height, width) of its PNG."""
    ptr = json_pointer("annotations", i)
    name = rec.get("file_name")
    if not isinstance(name, str):
        raise ParseError(file, ptr + ".file_name", f"expected a string, got {describe(name)}")
    png = folder / name
    if not png.is_file():
        raise ParseError(file, ptr + ".file_name", f"PNG {png} not found (pass png_dir= to name its folder)")
    ids = _panoptic_png_array(png)
    h, w = size
    if (h, w) != (None, None) and ids.shape != (h, w):
        raise ParseError(png, None, f"PNG is {ids.shape[0]}x{ids.shape[1]} but the image is {h}x{w} (height x width)")
    masks = _rle.encode_labels(ids)
    infos = rec.get("segments_info", [])
    if not isinstance(infos, list):
        raise ParseError(file, ptr + ".segments_info", f"expected a list, got {describe(infos)}")
    out = []
    listed = set()
    for k, seg in enumerate(infos):
        sp = f"{ptr}.segments_info[{k}]"
        if not isinstance(seg, dict) or type(seg.get("id")) is not int:
            raise ParseError(file, sp, "expected an object with an integer id")
        sid = seg["id"]
        if sid in listed:
            raise ParseError(file, sp + ".id", f"segment id {sid} is listed twice")
        listed.add(sid)
        cid = seg.get("category_id")
        if type(cid) is not int:
            raise ParseError(file, sp + ".category_id", f"expected an integer, got {describe(cid)}")
        if cat_ids and cid not in cat_ids:
            if strict:
                raise ParseError(file, sp + ".category_id", f"category id {cid} is not in $.categories")
            if report is not None:
                report.add("reference_missing", where=sp)
        r = masks.get(sid)
        if r is None:
            if strict:
                raise ParseError(file, sp, f"segment id {sid} has no pixels in {name}")
            if report is not None:
                report.add("empty_mask", where=sp)
            r = _rle.empty(*ids.shape)
        bbox, area = seg.get("bbox"), seg.get("area")
        if bbox is not None and not (isinstance(bbox, list) and len(bbox) == 4 and all(
                type(v) in (int, float) for v in bbox) and bbox[2] >= 0 and bbox[3] >= 0):
            raise ParseError(file, sp + ".bbox", "expected [x, y, width, height]: 4 numbers, "
                             "width and height >= 0")
        if area is not None and type(area) not in (int, float):
            raise ParseError(file, sp + ".area", f"expected a number, got {describe(area)}")
        extra = {k2: v for k2, v in seg.items() if k2 not in ("id", "category_id", "area", "bbox", "iscrowd")}
        extra["_keys"] = list(seg)
        out.append(Annotation(
            id=sid, category_id=cid, shape=Mask(rle=r),
            stored_bbox=Box.from_xywh(*bbox) if bbox is not None else None,
            area=area, iscrowd=bool(seg.get("iscrowd", 0)),
            extra={NS: extra},
        ))
    unlisted = sorted(set(masks) - listed)
    if unlisted:
        if strict:
            raise ParseError(png, None, f"segment ids {unlisted[:5]} are in the PNG but not in "
                             f"{ptr}.segments_info (strict=False ignores them)")
        if report is not None:
            report.add("reference_missing", len(unlisted), where=str(png))
    return out, (int(ids.shape[0]), int(ids.shape[1]))


_NOT_SEGMENT_INFO = _NS_INTERNAL | {"segmentation", "image_id", "area", "id", "category_id"}


def _inside_name(name: str) -> bool:
    """Whether ``name`` is a relative path that stays inside its folder."""
    p = PurePosixPath(name.replace("\\", "/"))
    return bool(p.parts) and not p.is_absolute() and ".." not in p.parts and ":" not in p.parts[0]


def _panoptic_record(args: tuple[Sample, int, str, list[tuple[int, int, Any, Annotation]], Path, int]
                     ) -> tuple[list[dict[str, Any]], list[tuple[str, Any]]]:
    """Paint one image's segments and write its PNG (a pure function of its arguments, so it
    can run in a worker process). Returns segments_info and report entries."""
    sample, iid, png_name, segs, folder, compress_level = args
    h, w = sample.height, sample.width
    try:
        rles = geometry.shapes_to_rles([a.shape for _, _, _, a in segs], h, w)  # type: ignore[arg-type]
    except ValueError as e:  # e.g. coordinates far outside any image
        raise ConversionError(f"image {iid}: {e}") from None
    order = sorted(range(len(segs)), key=lambda k: (segs[k][2] if segs[k][2] is not None else 0, k))
    painted = [rles[k] for k in order]
    img, hidden = geometry.paint(painted, [segs[k][0] for k in order], h, w)  # type: ignore[arg-type]
    notes: list[tuple[str, Any]] = []
    hid = dict(zip(order, hidden, strict=True))
    (folder / png_name).parent.mkdir(parents=True, exist_ok=True)
    write_png(folder / png_name, ids_to_rgb(img), compress_level=compress_level)
    infos = []
    labels = _rle.encode_labels(img)
    for k, (sid, cid, _, a) in enumerate(segs):
        r = labels.get(sid)
        if r is None:  # no pixel left: empty, or wholly under later segments
            why = ": hidden by others" if hid[k] else ""
            notes.append(("shape_dropped", f"image {iid} segment {sid}{why}"))
            continue
        if hid[k]:
            notes.append(("overlap_hidden", f"image {iid} segment {sid}"))
        ns = a.extra.get(NS, {})
        where = f"image {iid} segment {sid}"
        if a.keypoints is not None:
            notes.append(("keypoints_dropped", where))
        # panoptic area and bbox are the painted pixels' (panopticapi checks them)
        area = _rle.area(r)
        bbox = [int(v) for v in _rle.to_bbox(r)]
        if a.area is not None:
            if a.area == area:
                area = a.area
            else:
                notes.append(("area_recomputed", where))
        if a.stored_bbox is not None:
            if list(a.stored_bbox.to_xywh()) == bbox:
                bbox = list(a.stored_bbox.to_xywh())
            else:
                notes.append(("bbox_recomputed", where))
        info = {"id": sid, "category_id": cid, "area": area, "bbox": bbox, "iscrowd": int(a.iscrowd)}
        # a segment's own unknown fields; an instances annotation's fields and annoconv's
        # bookkeeping have no place in segments_info
        info.update((k2, v) for k2, v in ns.items() if k2 not in _NOT_SEGMENT_INFO)
        infos.append(_ordered(info, ns.get("_keys")))
    return infos, notes


def write_panoptic(
    ds: Dataset,
    path: str | Path,
    *,
    report: ConversionReport | None = None,
    png_dir: str | Path | None = None,
    workers: int = 1,
    compress_level: int = 6,
) -> None:
    """Write a COCO panoptic JSON plus one RGB PNG per image (in the folder named like the
    JSON without ``.json``, or ``png_dir`` relative to the JSON), atomically."""
    from .._io import map_parallel

    rep = report if report is not None else ConversionReport()
    dst = Path(path)
    folder_name = str(png_dir) if png_dir else dst.stem
    if png_dir and not _inside_name(folder_name):  # the PNGs are built in the temporary folder
        raise OptionError(f"png_dir must be a relative folder without '..', got {png_dir!r}")
    samples = list(ds.samples)
    image_ids = _assign_ids([s.id for s in samples], NS in ds.info, rep, "image ids")
    from_panoptic = isinstance(ds.info.get(NS), dict) and bool(ds.info[NS].get("_panoptic"))
    jobs = []
    with atomic_folder(dst.parent, inside=True) as tmp:
        (tmp / folder_name).mkdir(parents=True, exist_ok=True)
        records_meta = []
        png_names: set[str] = set()
        kept_images = []
        for s, iid in zip(samples, image_ids, strict=True):
            if s.height is None or s.width is None:
                if not s.annotations:  # e.g. an unlabelled sample: no PNG can be drawn
                    rep.add("size_unknown", where=f"image {iid}: no size and no labels, skipped")
                    continue
                raise ConversionError(f"image {iid}: panoptic PNGs need the image width and height")
            kept_images.append((s, iid))
            if from_panoptic and not s.annotations and "_record" not in s.extra.get(NS, {}):
                continue  # an image the source gave no record (and no PNG): none written
            segs = []
            used: set[int] = set()
            candidates = []
            _sample_leftovers(s, iid, rep)  # statuses, tags... counted: panoptic has no place
            for a in s.annotations:
                if a.category_id is None or isinstance(a.shape, (Polyline, Keypoints)) or a.shape is None:
                    rep.add("shape_dropped", where=f"image {iid} annotation {a.id}")
                    continue
                if a.attributes:
                    rep.add("attribute_dropped", where=f"image {iid} annotation {a.id}")
                if a.track_id is not None:
                    rep.add("track_dropped", where=f"image {iid} annotation {a.id}")
                if a.score is not None:
                    rep.add("score_dropped", where=f"image {iid} annotation {a.id}")
                if not isinstance(a.shape, Mask):  # a PNG holds pixels (as Segments' bitmaps)
                    rep.add("polygon_to_mask", where=f"image {iid} annotation {a.id}")
                candidates.append(a)
            for a in candidates:
                if type(a.id) is int and 0 < a.id < 2**24 and a.id not in used:
                    used.add(a.id)
            nxt = 1
            for a in candidates:
                if type(a.id) is int and 0 < a.id < 2**24 and a.id in used and all(x[0] != a.id for x in segs):
                    sid = a.id
                else:
                    while nxt in used:
                        nxt += 1
                    sid = nxt
                    used.add(sid)
                    if nxt >= 2**24:
                        raise ConversionError(f"image {iid}: more than 2^24 - 1 segments")
                    rep.add("id_assigned", where=f"image {iid} annotation {a.id} -> segment {sid}")
                segs.append((sid, a.category_id, a.z_index, a))
            ns = s.extra.get(NS, {})
            rec_extra = dict(ns.get("_record", {}))
            png_name = rec_extra.get("file_name") or (Path(s.file_name).stem or str(iid)) + ".png"
            if not _inside_name(png_name):  # absolute or with "..": never written outside the folder
                png_name = PurePosixPath(png_name.replace("\\", "/")).name or f"{iid}.png"
                rep.add("renamed", where=f"image {iid}: {png_name}")
            if png_name in png_names:  # train/0001.jpg and val/0001.jpg: keep both PNGs
                png_name = f"{Path(png_name).stem}_{iid}.png"
                rep.add("renamed", where=f"image {iid}: {png_name}")
            png_names.add(png_name)
            jobs.append((s, iid, png_name, segs, tmp / folder_name, compress_level))
            records_meta.append((iid, png_name, rec_extra))
        results = map_parallel(_panoptic_record, jobs, workers)
        annotations = []
        for (iid, png_name, rec_extra), (infos, notes) in zip(records_meta, results, strict=True):
            for kind, where in notes:
                rep.add(kind, where=where)
            rec = {"image_id": iid, "file_name": png_name, "segments_info": infos}
            rec.update((k, v) for k, v in rec_extra.items() if k not in ("_keys", "file_name"))
            annotations.append(_ordered(rec, rec_extra.get("_keys")))
            rep.files.append(f"{folder_name}/{png_name}")
        images = []
        for s, iid in kept_images:
            ns = s.extra.get(NS, {})
            img = {"id": iid, "file_name": s.file_name, "height": s.height, "width": s.width}
            if "_size_from_png" in ns:  # the source gave no size (or null): its PNG did
                del img["height"], img["width"]
                img.update(ns["_size_from_png"])
            img.update((k, v) for k, v in ns.items() if k not in _IMAGE_INTERNAL)
            images.append(_ordered(img, ns.get("_keys")))
        categories = []
        for c in ds.categories:
            cat = _emit_category(c, rep, keep_extra=False, panoptic=True)
            cat["isthing"] = 1 if c.kind == "thing" else 0
            if "color" not in cat:
                cat["color"] = list((c.color or _default_color(c.id))[:3])
            categories.append(_ordered(cat, c.extra.get(NS, {}).get("_keys")))
        info_ns = ds.info.get(NS, {}) if isinstance(ds.info.get(NS), dict) else {}
        doc = _header(ds)  # info, licenses, unknown keys: as read (none added), or made up
        doc["images"] = images
        doc["annotations"] = annotations
        doc["categories"] = categories
        doc = _ordered(doc, (info_ns.get("_keys") or {}).get("top"))
        (tmp / dst.name).write_bytes(msgspec.json.encode(doc))
    rep.samples += len(images)
    rep.annotations += sum(len(a["segments_info"]) for a in annotations)
    rep.files.insert(0, dst.name)


def _default_color(cid: int) -> tuple[int, int, int]:
    """A deterministic, well-spread colour per category id."""
    rng = np.random.default_rng(cid)
    return tuple(int(v) for v in rng.integers(0, 256, 3))  # type: ignore[return-value]


def sniff_panoptic(path: Path, head: bytes) -> int:
    head = head.removeprefix(b"\xef\xbb\xbf")
    return 2 if head.lstrip().startswith(b"{") and not is_native(head) and _is_panoptic(path, head) else 0


FORMAT = FormatSpec(
    name="coco",
    description="COCO instances / keypoints JSON (polygons, RLE, crowds, keypoints)",
    extensions=(".json",),
    sniff=sniff,
    read=read,
    write=write,
    read_options={
        "strict": "False: annotations whose image is missing are skipped and counted",
        "validate": "True: also check the file against the JSON Schema",
    },
    write_options={
        "mask_as": "'rle' (default) or 'polygon' (exact traced outlines)",
        "holes": "'rle' (default: such objects stay RLE) or 'drop' (outer rings only)",
        "rle": "'auto' (default: as read, else compressed), 'compressed' or 'uncompressed'",
        "area": "'pixels' (default) or 'shoelace' for areas the source did not store",
        "keep_extra": "True: keep statuses, tags, z_index... under an 'annoconv' key",
        "indent": "True: pretty-print",
    },
)

PANOPTIC_FORMAT = FormatSpec(
    name="coco-panoptic",
    description="COCO panoptic JSON + RGB id PNG folder",
    extensions=(".json",),
    sniff=sniff_panoptic,
    read=read_panoptic,
    write=write_panoptic,
    read_options={"png_dir": "folder of the PNGs (default: the JSON path without .json)",
                  "strict": "False: unlisted ids and missing references are counted, not errors"},
    write_options={"png_dir": "folder name for the PNGs, beside the JSON",
                   "workers": "processes encoding PNGs", "compress_level": "PNG zlib level 0-9"},
)
