r"""Segments.ai release files: segmentation-bitmap and vector image labels (format ``segments``).

A **release** is one JSON file (``specs/segments.md``)::

    {"name": "v1.0", "description": "...", "created_at": "...",
     "dataset": {"name": "streets", "owner": "jane", "task_type": "segmentation-bitmap",
                 "task_attributes": {"format_version": "0.1",
                     "categories": [{"id": 1, "name": "car", "color": [255, 0, 0],
                                     "has_instances": true, "attributes": [DEF, ...]}],
                     "image_attributes": [DEF, ...]},
                 "labelsets": [{"name": "ground-truth", "description": ""}],
                 "samples": [{"uuid": "...", "name": "a.jpg", "metadata": {},
                              "attributes": {"image": {"url": "..."}},
                              "labels": {"ground-truth": LABEL | null}}]}}
    LABEL = {"label_status": "REVIEWED", "score": null,
             "attributes": {"format_version": "0.1", "image_attributes": {...},
                            "annotations": [ANN, ...],
                            "segmentation_bitmap": {"url": "..."}}}     # bitmap releases only
    DEF = {"name", "input_type": select|multiselect|text|number|checkbox, "values", "default_value", ...}

A release holds one task type. **Bitmap** labels (``segmentation-bitmap[-highres]``): ``ANN =
{"id", "category_id", "attributes"?}`` and an 8-bit RGBA PNG of the image's size whose pixel
``(R, G, B, A)`` holds instance id ``R + 256 G + 65536 B`` (0 = unlabelled, at most 2^24 - 1,
alpha written 255 and ignored). **Vector** labels (``vector``, ``bboxes``, ``keypoints``): ``ANN =
{"id", "category_id", "type", "points", "attributes"?, "track_id"?}`` with type ``bbox`` (2 points,
upper-left then lower-right), ``polygon`` (>= 3, open ring, no holes), ``polyline`` (>= 2) or
``point`` (1), in pixel-edge coordinates taken as they are (no 0.5 shift; the spec leaves it open).

Model mapping: sample ``uuid`` -> ``Sample.id``, ``name`` -> ``file_name``; one labelset is read
(``labelset=``, default ``ground-truth`` or the first); ``label_status`` -> ``Sample.status``
(UNLABELED or a null label -> new, LABELING_IN_PROGRESS -> in_progress, LABELED -> done,
REVIEWING_IN_PROGRESS -> to_review, REVIEWED and VERIFIED -> reviewed (VERIFIED counted as
``status_merged``), REJECTED, SKIPPED, PRELABELED); ``image_attributes`` -> ``Sample.attributes``;
the label ``score`` is copied to each annotation; bitmap instances -> ``Mask`` (an RLE of the
whole image, from one pass over the id image with :func:`annoconv.rle.encode_labels`); bbox ->
``Box``, polygon -> ``Polygon``, polyline -> ``Polyline``, point -> ``Keypoints`` (one point,
visibility 2); ``has_instances`` -> ``Category.kind`` (absent: thing); attribute definitions ->
``AttributeSpec`` (checkbox -> bool, number -> int when ``step`` and bounds are integral, else
float). Everything else, other labelsets included, stays verbatim in ``extra["segments"]`` /
``info["segments"]`` (``order``: the source's keys, ``other``: keys the model has no field for), so
a same-format round trip gives back the same JSON and pixel-identical bitmaps: the pixels of
bitmap ids that no annotation lists (``unlisted``, as COCO RLE) and annotations whose category
is not defined (kept in the model, as COCO's reader keeps them; other formats' writers skip
them) are written back, and so are vector ids outside 1..2^31 - 1 (0, negative, huge) that were
read. :func:`read` also records where it found the PNG of each other labelset's bitmap
(``bitmap_files``), so that :func:`write` copies those PNGs into the output.

Writing: the task type is the source's, else ``segmentation-bitmap`` when any annotation is a
mask, else ``vector`` (``task_type=``). A bitmap label paints masks, and boxes / polygons /
ellipses rasterised as pycocotools does (``polygon_to_mask``), back to front by ``z_index`` then
order, counting hidden pixels (``overlap_hidden``); lines and points cannot be held
(``shape_dropped``). A vector label writes a box as ``bbox`` (rotated: ``polygon``), each polygon
part as one ``polygon`` (holes dropped), a mask traced on pixel edges (``mask_to_polygon``),
keypoints as ``point`` s, an annotation's own keypoints (a COCO person's) as ``point`` s after its
shape (counted ``shape_converted``; unlabelled ones and those of bitmap and bboxes releases
``keypoints_dropped``). Ids are kept when they are distinct integers in 1..2^24 - 1 and no
annotation was split, else numbered 1..N in order (``id_assigned``; ``ids="keep"`` makes that
an error; a vector release keeps any integer id it read); more than 2^24 - 1 instances in one
bitmap is an error. Status is the table's
inverse (new without annotations: a null label; no status: LABELED); the label score is the
annotations' common score. PNGs are written by annoconv itself (:func:`encode_bitmap`); an
image of width or height 0 gets its annotations and a null URL (``empty_image``). Other
labelsets' bitmaps found on reading are copied (their relative path kept, a remote URL's PNG
put in the bitmap folder by its file name, renamed on collisions with the URL following); one
not found stays a URL with no file (``mask_not_written``). All files are written in a hidden
temporary folder inside the release's folder and moved into place at the end (only that
folder needs to be writable).

Choices where the spec is unsure: bitmap URLs are never downloaded. A relative URL is a path
beside the release; any other URL is found by its file name in ``bitmaps=`` (default: the
release's folder and ``<release stem>_bitmaps/`` beside it). RGB and palette PNGs are decoded by
their colours (counted as ``bitmap_mode``); grayscale and 16-bit PNGs are refused with the
reason. Pixels whose id has no annotation are left out of the model and counted
(``unlisted_id``; kept for a Segments writer, see above), an
annotation without pixels becomes an empty mask (``empty_mask``), a category id that is not
defined is counted (``reference_missing``), a ``format_version`` other than 0.1 is
kept and counted; ``strict=True`` makes each an error. ``images=`` reads image sizes from the
image files' headers and checks each bitmap against them. The writer keeps a bitmap's original
URL only when the pixels it writes are the ones read (a digest of the instance RLEs), else it
names the PNG ``<folder>/<name stem>_<labelset>.png``.

Versus the SDK's own ``export_dataset(..., "coco-instance")`` (segments-ai 1.33.0), our
Segments -> COCO gives the same ``bbox``, ``area`` and RLE for every bitmap instance and the same
category ids, and differs on purpose: (1) ids above 65535 stay exact (the SDK's cached loader
clips them to 65535 through a 16-bit PNG, merging instances) and decoding uses explicit shifts
(the SDK reinterprets bytes in the machine's order); (2) image width/height come from the bitmap
(the SDK leaves them null unless it downloads the image; a vector release takes them from
``images=``); (3) an annotation without pixels is kept as an empty mask and counted (the SDK
skips it with a log line); (4) unlabelled samples (null label) stay as images with status
``new`` (the SDK leaves them out: use ``filter_by=`` to do the same); (5) vector polygons become
real COCO ``segmentation`` polygons with area (the SDK writes a non-COCO ``points`` key, a stub
for polylines and ``[x, y, 1]`` keypoints; we write visibility 2, labelled and visible); (6)
object attributes are kept (the SDK drops them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import re
import shutil
import struct
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal, TypeAlias
from urllib.parse import unquote, urlparse

import numpy as np
import numpy.typing as npt

from .. import geometry
from .. import rle as _rle
from .._io import atomic_folder, dump_json_bytes, map_parallel, read_json, rgb_to_ids
from ..errors import ConversionError, OptionError, ParseError, json_pointer
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
)
from ..registry import FormatSpec
from ..report import ConversionReport, count_category_fields, foreign_data
from ..rle import RLE
from .native import is_native

__all__ = [
    "FORMAT",
    "MAX_ID",
    "decode_bitmap",
    "emit",
    "encode_bitmap",
    "parse",
    "read",
    "sniff",
    "write",
]

NS = "segments"
#: Largest instance id a bitmap can hold (24 bits in R, G, B).
MAX_ID = 2**24 - 1
BITMAP_TASKS = ("segmentation-bitmap", "segmentation-bitmap-highres")
VECTOR_TASKS = ("vector", "bboxes", "keypoints")
DEFAULT_LABELSET = "ground-truth"

STATUS_TO_MODEL: dict[str, Status] = {
    "UNLABELED": Status.NEW,
    "LABELING_IN_PROGRESS": Status.IN_PROGRESS,
    "LABELED": Status.DONE,
    "REVIEWING_IN_PROGRESS": Status.TO_REVIEW,
    "REVIEWED": Status.REVIEWED,
    "VERIFIED": Status.REVIEWED,
    "REJECTED": Status.REJECTED,
    "SKIPPED": Status.SKIPPED,
    "PRELABELED": Status.PRELABELED,
}
STATUS_FROM_MODEL: dict[Status, str] = {
    Status.NEW: "UNLABELED",
    Status.IN_PROGRESS: "LABELING_IN_PROGRESS",
    Status.DONE: "LABELED",
    Status.TO_REVIEW: "REVIEWING_IN_PROGRESS",
    Status.REVIEWED: "REVIEWED",
    Status.REJECTED: "REJECTED",
    Status.SKIPPED: "SKIPPED",
    Status.PRELABELED: "PRELABELED",
}
_INPUT_TYPES: dict[str, str] = {
    "select": "select",
    "multiselect": "multiselect",
    "text": "text",
    "checkbox": "bool",
    "number": "float",
}
_TYPE_TO_INPUT = {"select": "select", "multiselect": "multiselect", "text": "text",
                  "bool": "checkbox", "int": "number", "float": "number"}
_VECTOR_TYPES = ("bbox", "polygon", "polyline", "point")
_KNOWN_VERSIONS = ("0.1", 0.1)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

PathLike: TypeAlias = str | Path
#: What a bitmap resolver returns: a PNG file, its bytes, or an already decoded id image.
BitmapSource: TypeAlias = Path | bytes | npt.NDArray[Any]


# --------------------------------------------------------------------------------------
# the bitmap codec
# --------------------------------------------------------------------------------------


def decode_bitmap(
    data: bytes, file: PathLike | None = None
) -> tuple[npt.NDArray[np.uint32], str]:
    """Decode a bitmap PNG to its ``(height, width)`` uint32 id image and PIL mode.

    RGBA (the platform's files) and RGB are read as ``R + 256 G + 65536 B`` with explicit
    little-endian arithmetic; palette PNGs through their palette colours. Grayscale and
    16-bit PNGs are refused with the reason (their ids would be guesses).

    >>> png = encode_bitmap(np.array([[0, 1, 300], [65536, 1193046, 16777215]]))
    >>> ids, mode = decode_bitmap(png)
    >>> ids.tolist(), mode
    ([[0, 1, 300], [65536, 1193046, 16777215]], 'RGBA')
    """
    from PIL import Image

    if not data.startswith(_PNG_SIGNATURE):
        raise ParseError(file, None, "not a PNG file (a Segments bitmap is an RGBA PNG)")
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise ParseError(file, None, "truncated or corrupt PNG: no IHDR header")
    depth, color_type = data[24], data[25]
    if color_type in (0, 4):
        raise ParseError(file, None, (
            f"{depth}-bit grayscale PNG: a Segments bitmap stores each instance id in the R, "
            "G and B channels (id = R + 256 G + 65536 B); a gray PNG (such as the SDK's "
            "'instance' export, clipped at 65535) does not say which ids its values are"
        ))
    if depth == 16:
        raise ParseError(file, None, (
            f"16-bit {'RGBA' if color_type == 6 else 'RGB'} PNG: a Segments bitmap has 8 bits "
            "per channel (reading it would keep only the high byte of each channel, which is "
            "how the SDK silently misreads such files)"
        ))
    try:
        with Image.open(io.BytesIO(data)) as im:
            rgba = None
            if im.mode == "RGBA" and color_type == 6 and data[28] == 0:
                rgba = _decode_into_array(im)
            else:
                im.load()
            mode = im.mode
            if mode == "RGBA":
                if rgba is None:
                    rgba = np.array(im, dtype=np.uint8)
                # the bytes R, G, B, A of a pixel read as one little-endian word, alpha masked off
                ids = rgba.view(np.dtype("<u4"))[..., 0]
                ids &= np.uint32(0xFFFFFF)
            elif mode == "RGB":
                ids = rgb_to_ids(np.asarray(im, dtype=np.uint8))
            elif mode == "P":
                pal = np.zeros((256, 3), np.uint8)
                flat = np.asarray(im.getpalette() or [], np.uint8).reshape(-1, 3)[:256]
                pal[: len(flat)] = flat
                ids = rgb_to_ids(pal)[np.asarray(im, dtype=np.uint8)]
            else:
                raise ParseError(file, None, (
                    f"PNG mode {mode}: expected an RGBA (or RGB / palette) PNG holding "
                    "id = R + 256 G + 65536 B"
                ))
    except ParseError:
        raise
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, zlib errors...
        raise ParseError(file, None, f"truncated or corrupt PNG: {e}") from None
    return np.ascontiguousarray(ids, dtype=np.uint32), mode


def _decode_into_array(im: Any) -> npt.NDArray[np.uint8] | None:
    """Decode an opened, not yet loaded RGBA PNG straight into a NumPy buffer (Pillow decodes
    into a pre-set image memory of the right mode and size; this saves its ``tobytes`` copy,
    about a fifth of the decode). None, after a normal load, if Pillow did not use the buffer."""
    from PIL import Image

    width, height = im.size
    buf = np.empty((height, width, 4), np.uint8)
    core = Image.frombuffer("RGBA", (width, height), buf, "raw", "RGBA", 0, 1).im
    im.im = core
    im.load()
    return buf if im.im is core else None


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def encode_bitmap(ids: npt.ArrayLike, *, compress_level: int = 1) -> bytes:
    """The RGBA PNG of a ``(height, width)`` id image (alpha 255), as the platform stores it.

    Written directly (one IDAT stream): rows unfiltered at ``compress_level`` 0-1 (fastest to
    write and to read back), with PNG's Up filter at 2-9 (smaller files). Ids must be in
    ``0..MAX_ID`` (2^24 - 1); larger ones raise ValueError instead of wrapping (the SDK's
    ``bitmap2file`` silently stores ``id mod 2^24``).

    >>> encode_bitmap(np.array([[2**24]]))
    Traceback (most recent call last):
    ...
    ValueError: instance id 16777216 does not fit a Segments bitmap (ids 0..16777215)
    """
    arr = np.asarray(ids)
    if arr.ndim != 2:
        raise ValueError(f"ids must be 2-D (height, width), got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"ids must be integers, got {arr.dtype}")
    h, w = arr.shape
    if not h or not w:
        raise ValueError(f"a PNG needs a width and height of at least 1, got {w}x{h} (width x height)")
    if not 0 <= compress_level <= 9:
        raise ValueError(f"compress_level must be 0-9, got {compress_level}")
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0:
        raise ValueError(f"instance id {lo} is negative")
    if hi > MAX_ID:
        raise ValueError(f"instance id {hi} does not fit a Segments bitmap (ids 0..{MAX_ID})")
    words = (arr.astype(np.uint32) | np.uint32(0xFF000000)).astype(np.dtype("<u4"))
    rgba = np.ascontiguousarray(words).view(np.uint8).reshape(h, w * 4)  # bytes R, G, B, A
    rows = np.empty((h, w * 4 + 1), np.uint8)  # each row: its filter type byte, then the bytes
    if compress_level <= 1:
        rows[:, 0] = 0  # None
        rows[:, 1:] = rgba
    else:
        rows[:, 0] = 2  # Up: each byte minus the byte above it, mod 256 (row 0: as it is)
        rows[0, 1:] = rgba[0]
        np.subtract(rgba[1:], rgba[:-1], out=rows[1:, 1:])
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)  # 8 bits, RGBA, deflate, no interlace
    z = zlib.compress(rows, compress_level)
    step = 1 << 20
    idat = b"".join(_png_chunk(b"IDAT", z[i:i + step]) for i in range(0, len(z), step))
    return _PNG_SIGNATURE + _png_chunk(b"IHDR", ihdr) + idat + _png_chunk(b"IEND", b"")


def _digest(height: int, width: int, labels: Mapping[int, RLE]) -> str:
    """A fingerprint of an id image's instances (ids and run lengths), so a writer can tell
    that the pixels it writes are the ones a reader read without keeping the image."""
    h = hashlib.blake2b(digest_size=16)
    h.update(struct.pack("<QQ", height, width))
    for k in sorted(labels):
        c = labels[k].counts
        h.update(struct.pack("<QQ", k, c.size))
        h.update(c.astype(np.dtype("<u4"), copy=False).tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------------
# small located checks
# --------------------------------------------------------------------------------------


def _describe(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return repr(v) if len(v) <= 40 else repr(v[:37] + "...")
    if isinstance(v, list):
        try:
            text = json.dumps(v, separators=(", ", ": "))
        except (TypeError, ValueError):
            text = ""
        return text if text and len(text) <= 60 else f"a list of {len(v)} items"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class _Ctx:
    """Where parsing is (file), what it counts (report) and whether warnings are errors."""

    file: str | None
    report: ConversionReport
    strict: bool

    def fail(self, path: Sequence[Any], message: str) -> ParseError:
        return ParseError(self.file, json_pointer(*path), message)

    def warn(self, kind: str, path: Sequence[Any], message: str, where: str, n: int = 1) -> None:
        if self.strict:
            raise self.fail(path, message)
        self.report.add(kind, n, where=where)

    def obj(self, v: Any, path: Sequence[Any]) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise self.fail(path, f"expected an object, got {_describe(v)}")
        return v

    def key(self, d: dict[str, Any], key: str, path: Sequence[Any]) -> Any:
        if key not in d:
            raise self.fail(path, f"missing required key {key!r}")
        return d[key]

    def typed(self, d: dict[str, Any], key: str, path: Sequence[Any], check: Callable[[Any], bool],
              expected: str, required: bool = True) -> Any:
        if key not in d:
            if required:
                raise self.fail(path, f"missing required key {key!r}")
            return None
        v = d[key]
        if not check(v):
            raise self.fail((*path, key), f"expected {expected}, got {_describe(v)}")
        return v


def _book(d: Mapping[str, Any], modelled: Iterable[str]) -> dict[str, Any]:
    """The bookkeeping a writer needs for an exact round trip: the source's key order and
    the keys the model has no field for (verbatim)."""
    skip = set(modelled)
    other = {k: v for k, v in d.items() if k not in skip}
    out: dict[str, Any] = {"order": list(d)}
    if other:
        out["other"] = other
    return out


def _assemble(values: dict[str, Any], book: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge model-derived ``values`` with the verbatim ``other`` keys (model wins) in the
    source's key order when known (new keys after)."""
    if not book:
        return values
    merged = dict(values)
    for k, v in book.get("other", {}).items():
        merged.setdefault(k, v)
    order = book.get("order")
    if not order:
        return merged
    out = {k: merged[k] for k in order if k in merged}
    for k, v in merged.items():
        if k not in out:
            out[k] = v
    return out


def _present(book: Mapping[str, Any] | None) -> frozenset[str]:
    """Keys the source had (so an empty or null value is written back as it was)."""
    if not book:
        return frozenset()
    return frozenset(book.get("order", ())) - frozenset(book.get("other", {}))


def _seg(extra: Mapping[str, Any]) -> dict[str, Any]:
    v = extra.get(NS)
    return v if isinstance(v, dict) else {}


# --------------------------------------------------------------------------------------
# reading: header
# --------------------------------------------------------------------------------------


def _check_version(d: dict[str, Any], path: tuple[Any, ...], ctx: _Ctx, where: str) -> None:
    """Count a ``format_version`` other than 0.1 (kept verbatim; no document says what changes)."""
    v = d.get("format_version")
    if v is not None and v not in _KNOWN_VERSIONS:
        ctx.warn("format_version_unknown", (*path, "format_version"),
                 f"format_version {v!r} is not 0.1, the version annoconv knows", f"{where}: {v!r}")


def _parse_attribute_def(
    d: Any, path: tuple[Any, ...], ctx: _Ctx, category_id: int | None
) -> AttributeSpec:
    d = ctx.obj(d, path)
    name = ctx.typed(d, "name", path, lambda v: isinstance(v, str), "a string")
    input_type = ctx.typed(d, "input_type", path, lambda v: isinstance(v, str), "a string")
    values = d.get("values")
    if values is not None and not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
        raise ctx.fail((*path, "values"), f"expected a list of strings, got {_describe(values)}")
    kind = _INPUT_TYPES.get(input_type, "text")
    if input_type == "number":
        def integral(v: Any) -> bool:
            if isinstance(v, str):
                try:
                    v = float(v)
                except ValueError:
                    return False
            return _is_num(v) and float(v).is_integer()

        step_ok = "step" in d and integral(d["step"])
        bounds_ok = all(d.get(k) in (None, "") or integral(d[k]) for k in ("min", "max"))
        kind = "int" if step_ok and bounds_ok else "float"
    book = _book(d, ("name", "values", "default_value"))
    # input_type stays in "other" only when the model cannot say it again
    if _TYPE_TO_INPUT.get(kind) == input_type:
        book.get("other", {}).pop("input_type", None)
        if not book.get("other"):
            book.pop("other", None)
    return AttributeSpec(
        name=name, type=kind, values=tuple(values or ()),  # type: ignore[arg-type]
        category_ids=None if category_id is None else (category_id,),
        scope="image" if category_id is None else "annotation",
        default=d.get("default_value"), extra={NS: book},
    )


def _parse_color(v: Any, path: tuple[Any, ...], ctx: _Ctx) -> tuple[int, int, int, int]:
    if not (isinstance(v, list) and len(v) in (3, 4) and all(_is_num(c) and 0 <= c <= 255 for c in v)):
        raise ctx.fail(path, f"expected [r, g, b] or [r, g, b, a] with numbers 0-255, got {_describe(v)}")
    c = [round(x) for x in v]
    return (c[0], c[1], c[2], c[3] if len(c) == 4 else 255)


def _parse_header(
    doc: Any, ctx: _Ctx, labelset: str | None
) -> tuple[str, str, list[Category], list[AttributeSpec], dict[str, Any], list[Any]]:
    """(task_type, labelset, categories, attribute specs, info, samples) of a release."""
    top = ctx.obj(doc, ())
    ds = ctx.obj(ctx.key(top, "dataset", ()), ("dataset",))
    p = ("dataset",)
    task = ctx.typed(ds, "task_type", p, lambda v: isinstance(v, str), "a string")
    if task not in BITMAP_TASKS + VECTOR_TASKS:
        raise ctx.fail((*p, "task_type"), (
            f"task type {task!r} is not supported; annoconv reads "
            f"{', '.join(BITMAP_TASKS + VECTOR_TASKS)}"
        ))
    sets = ctx.typed(ds, "labelsets", p, lambda v: isinstance(v, list), "a list")
    names = []
    for i, ls in enumerate(sets):
        ls = ctx.obj(ls, (*p, "labelsets", i))
        names.append(ctx.typed(ls, "name", (*p, "labelsets", i), lambda v: isinstance(v, str), "a string"))
    if labelset is None:
        if not names:
            raise ctx.fail((*p, "labelsets"), "expected at least one labelset, got an empty list")
        labelset = DEFAULT_LABELSET if DEFAULT_LABELSET in names else names[0]
    elif labelset not in names:
        raise ctx.fail((*p, "labelsets"), (
            f"no labelset named {labelset!r}; the release has "
            f"{', '.join(map(repr, names)) or 'none'} (choose one with labelset=)"
        ))
    ta = ctx.obj(ctx.key(ds, "task_attributes", p), (*p, "task_attributes"))
    pta = (*p, "task_attributes")
    cats_json = ctx.typed(ta, "categories", pta, lambda v: isinstance(v, list), "a list")
    cats: list[Category] = []
    specs: list[AttributeSpec] = []
    for j, c in enumerate(cats_json):
        pc = (*pta, "categories", j)
        c = ctx.obj(c, pc)
        cid = ctx.typed(c, "id", pc, _is_int, "an integer")
        name = ctx.typed(c, "name", pc, lambda v: isinstance(v, str), "a string")
        color = None
        book = _book(c, ("id", "name", "has_instances", "attributes", "color"))
        if c.get("color") is not None:
            color = _parse_color(c["color"], (*pc, "color"), ctx)
            if c["color"] != _color_json(color):
                book["color"] = c["color"]
        elif "color" in c:
            book.setdefault("other", {})["color"] = None
        hi = c.get("has_instances")
        if hi is not None and not isinstance(hi, bool):
            raise ctx.fail((*pc, "has_instances"), f"expected true or false, got {_describe(hi)}")
        if "has_instances" in c and hi is None:
            book.setdefault("other", {})["has_instances"] = None
        attrs = c.get("attributes")
        if attrs is None:
            if "attributes" in c:
                book.setdefault("other", {})["attributes"] = None
        elif not isinstance(attrs, list):
            raise ctx.fail((*pc, "attributes"), f"expected a list, got {_describe(attrs)}")
        else:
            specs.extend(_parse_attribute_def(a, (*pc, "attributes", k), ctx, cid) for k, a in enumerate(attrs))
        cats.append(Category(id=cid, name=name, color=color,
                             kind="stuff" if hi is False else "thing", extra={NS: book}))
    seen: set[int] = set()
    for j, c in enumerate(cats):
        if c.id in seen:
            raise ctx.fail((*pta, "categories", j, "id"), f"category id {c.id} appears more than once")
        seen.add(c.id)
    _check_version(ta, pta, ctx, "task_attributes")
    ta_book = _book(ta, ("categories", "image_attributes"))
    ia = ta.get("image_attributes")
    if ia is None:
        if "image_attributes" in ta:
            ta_book.setdefault("other", {})["image_attributes"] = None
    elif not isinstance(ia, list):
        raise ctx.fail((*pta, "image_attributes"), f"expected a list, got {_describe(ia)}")
    else:
        specs.extend(_parse_attribute_def(a, (*pta, "image_attributes", k), ctx, None) for k, a in enumerate(ia))
    samples = ctx.typed(ds, "samples", p, lambda v: isinstance(v, list), "a list")
    if not samples:
        ctx.warn("empty_release", (*p, "samples"), "the release has no samples", "$.dataset.samples")
    name = ds.get("name")
    info: dict[str, Any] = {}
    if isinstance(name, str):
        info["name"] = name
    info[NS] = {
        "release": _book(top, ("dataset",)),
        "dataset": _book(ds, ("name", "task_attributes", "samples")),
        "task_attributes": ta_book,
        "labelset": labelset,
    }
    return task, labelset, cats, specs, info, samples


# --------------------------------------------------------------------------------------
# reading: samples (pure per-sample functions, picklable jobs)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SampleJob:
    index: int
    sample: Any
    labelset: str
    bitmap_task: bool
    categories: frozenset[int]
    source: BitmapSource | None
    source_name: str | None
    image_size: tuple[int, int] | None  # (width, height) of the image, when known
    file: str | None
    strict: bool
    other_files: tuple[tuple[str, str], ...] = ()  # (labelset, PNG path) of other labelsets


def _label_and_source(
    sample: Any, i: int, labelset: str, ctx: _Ctx
) -> tuple[dict[str, Any], Any]:
    """Checks the parts of a sample the main process needs (to find its bitmap)."""
    ps = ("dataset", "samples", i)
    s = ctx.obj(sample, ps)
    labels = ctx.typed(s, "labels", ps, lambda v: isinstance(v, dict), "an object")
    return s, labels.get(labelset)


def _bitmap_url(label: Any, path: tuple[Any, ...], ctx: _Ctx) -> str | None:
    label = ctx.obj(label, path)
    la = ctx.obj(ctx.key(label, "attributes", path), (*path, "attributes"))
    pa = (*path, "attributes")
    sb = ctx.obj(ctx.key(la, "segmentation_bitmap", pa), (*pa, "segmentation_bitmap"))
    url = sb.get("url")
    if url is not None and not isinstance(url, str):
        raise ctx.fail((*pa, "segmentation_bitmap", "url"), f"expected a string, got {_describe(url)}")
    return url or None


def _parse_points(
    pts: Any, kind: str, path: tuple[Any, ...], ctx: _Ctx
) -> tuple[npt.NDArray[Any], bool]:
    """An (n, 2) array of a vector annotation's points (ints kept when all are ints) and
    whether the raw list mixes ints and floats (then the writer needs the raw list)."""
    if not isinstance(pts, list):
        raise ctx.fail(path, f"expected a list of [x, y] points, got {_describe(pts)}")
    n_ints = 0
    for k, pt in enumerate(pts):
        if not (isinstance(pt, list) and len(pt) == 2 and all(_is_num(v) for v in pt)):
            raise ctx.fail((*path, k), f"expected [x, y] with two finite numbers, got {_describe(pt)}")
        n_ints += _is_int(pt[0]) + _is_int(pt[1])
    need = {"bbox": (2, "exactly 2"), "point": (1, "exactly 1"), "polygon": (3, "at least 3"),
            "polyline": (2, "at least 2")}[kind]
    n = len(pts)
    if (kind in ("bbox", "point") and n != need[0]) or n < need[0]:
        raise ctx.fail(path, f"a {kind} needs {need[1]} point{'s' if need[0] > 1 else ''}, got {n}")
    try:
        arr = np.array(pts, dtype=np.int64 if n_ints == 2 * n else np.float64)
    except OverflowError:  # an integer beyond 64 bits (JSON numbers have no limit)
        k, v = next((k, v) for k, pt in enumerate(pts) for v in pt
                    if _is_int(v) and not -(2**63) <= v < 2**63)
        raise ctx.fail((*path, k), f"coordinate {v} is beyond the 64-bit integer range") from None
    return arr, 0 < n_ints < 2 * n


def _parse_annotation(
    a: Any, path: tuple[Any, ...], ctx: _Ctx, vector: bool, where: str
) -> tuple[int, int, dict[str, Any], Any, dict[str, Any], Any]:
    """(id, category id, attributes, track id, extra, shape or None) of one annotation."""
    a = ctx.obj(a, path)
    aid = ctx.typed(a, "id", path, _is_int, "an integer")
    cid = ctx.typed(a, "category_id", path, _is_int, "an integer")
    attrs = a.get("attributes")
    if attrs is not None and not isinstance(attrs, dict):
        raise ctx.fail((*path, "attributes"), f"expected an object, got {_describe(attrs)}")
    track = ctx.typed(a, "track_id", path, _is_int, "an integer", required=False)
    modelled = ["id", "category_id", "track_id"] + (["attributes"] if attrs is not None else [])
    shape: Any = None
    raw_points = None
    if vector:
        kind = ctx.typed(a, "type", path, lambda v: isinstance(v, str), "a string")
        if kind not in _VECTOR_TYPES:
            raise ctx.fail((*path, "type"), f"expected 'bbox', 'polygon', 'polyline' or 'point', got {kind!r}")
        pts, mixed = _parse_points(ctx.key(a, "points", path), kind, (*path, "points"), ctx)
        modelled += ["type", "points"]
        if mixed:
            raw_points = a["points"]
        if kind == "bbox":
            (x0, y0), (x1, y1) = pts.tolist()
            if x1 < x0 or y1 < y0:
                ctx.warn("box_normalised", (*path, "points"),
                         f"bbox points are not upper-left then lower-right: {a['points']!r}", where)
                raw_points = a["points"]
            shape = Box(x0=min(x0, x1), y0=min(y0, y1), x1=max(x0, x1), y1=max(y0, y1))
        elif kind == "polygon":
            shape = Polygon.from_rings(pts)
        elif kind == "polyline":
            shape = Polyline(points=pts)
        else:
            shape = Keypoints(points=pts, visibility=[2])
    book = _book(a, modelled)
    if raw_points is not None:
        book["points"] = raw_points
    return aid, cid, attrs or {}, track, {NS: book}, shape


def _parse_sample(job: _SampleJob) -> tuple[Sample, ConversionReport]:
    """One sample of a release -> a model Sample (decoding its bitmap), and what it counted."""
    report = ConversionReport()
    ctx = _Ctx(job.file, report, job.strict)
    i, s = job.index, job.sample
    ps: tuple[Any, ...] = ("dataset", "samples", i)
    s = ctx.obj(s, ps)
    uuid = ctx.typed(s, "uuid", ps, lambda v: isinstance(v, str) or _is_int(v), "a string")
    name = ctx.typed(s, "name", ps, lambda v: isinstance(v, str), "a string")
    labels = ctx.typed(s, "labels", ps, lambda v: isinstance(v, dict), "an object")
    where = f"sample {name!r}"
    seg = _book(s, ("uuid", "name", "labels"))
    seg["labels_order"] = list(labels)
    others = {k: v for k, v in labels.items() if k != job.labelset}
    if others:
        seg["labels"] = others
    if job.other_files:
        seg["bitmap_files"] = dict(job.other_files)
    width = height = None
    if job.image_size is not None:
        width, height = job.image_size
    label = labels.get(job.labelset)
    pl = (*ps, "labels", job.labelset)
    if label is None:
        seg["label_status"] = None
        seg["label"] = None
        return Sample(id=uuid, file_name=name, width=width, height=height, status=Status.NEW,
                      extra={NS: seg}), report
    label = ctx.obj(label, pl)
    raw_status = ctx.typed(label, "label_status", pl, lambda v: isinstance(v, str), "a string")
    status = STATUS_TO_MODEL.get(raw_status)
    if status is None:
        ctx.warn("status_unknown", (*pl, "label_status"), f"unknown label_status {raw_status!r}", where)
    elif raw_status == "VERIFIED":
        report.add("status_merged", where=f"{where}: VERIFIED -> reviewed")
    score = label.get("score")
    if score is not None and not _is_num(score):
        raise ctx.fail((*pl, "score"), f"expected a number or null, got {_describe(score)}")
    la = ctx.obj(ctx.key(label, "attributes", pl), (*pl, "attributes"))
    pa = (*pl, "attributes")
    _check_version(la, pa, ctx, where)
    anns_json = ctx.typed(la, "annotations", pa, lambda v: isinstance(v, list), "a list")
    image_attrs = la.get("image_attributes")
    if image_attrs is not None and not isinstance(image_attrs, dict):
        raise ctx.fail((*pa, "image_attributes"), f"expected an object, got {_describe(image_attrs)}")
    seg["label_status"] = raw_status
    lbook = _book(label, ("label_status", "attributes", "score"))
    if "score" in label:
        lbook["score"] = score
    abook = _book(la, ("annotations",) + (("image_attributes",) if image_attrs is not None else ())
                  + (("segmentation_bitmap",) if job.bitmap_task else ()))
    lbook["attributes"] = abook
    seg["label"] = lbook

    parsed = []
    ids_seen: dict[int, int] = {}
    for j, a in enumerate(anns_json):
        aid, cid, attrs, track, extra, shape = _parse_annotation(
            a, (*pa, "annotations", j), ctx, not job.bitmap_task, f"{where} annotation {j}")
        if aid in ids_seen:
            raise ctx.fail((*pa, "annotations", j, "id"),
                           f"id {aid} appears twice in this label (also annotation {ids_seen[aid]})")
        ids_seen[aid] = j
        if job.bitmap_task and not 1 <= aid <= MAX_ID:
            raise ctx.fail((*pa, "annotations", j, "id"), f"expected an instance id in 1..{MAX_ID}, got {aid}")
        if track is not None and track != aid:
            report.add("track_id_mismatch", where=f"{where} annotation {j}: id {aid}, track_id {track}")
        parsed.append((j, aid, cid, attrs, track, extra, shape))

    if job.bitmap_task:
        url = _bitmap_url(label, pl, ctx)
        abook["segmentation_bitmap"] = la["segmentation_bitmap"]
        if job.source is None:
            if url is None and parsed:
                ctx.warn("empty_mask", (*pa, "segmentation_bitmap", "url"),
                         "the label has annotations but no bitmap url", where, n=len(parsed))
        else:
            ids, mode = _load_ids(job.source, job.source_name)
            if mode in ("RGB", "P"):
                report.add("bitmap_mode", where=f"{job.source_name} ({mode})")
            h, w = ids.shape
            if job.image_size is not None and (w, h) != job.image_size:
                raise ParseError(job.source_name or job.file, None, (
                    f"bitmap is {w}x{h} (width x height) but the image of sample {name!r} is "
                    f"{job.image_size[0]}x{job.image_size[1]}"))
            width, height = w, h
            masks = _rle.encode_labels(ids)
            del ids
            abook["digest"] = _digest(h, w, masks)
            shapes = {}
            for j, aid, *_ in parsed:
                r = masks.pop(aid, None)
                if r is None:
                    ctx.warn("empty_mask", (*pa, "annotations", j),
                             f"annotation id {aid} has no pixels in the bitmap", f"{where} annotation {j}")
                    r = _rle.empty(h, w)
                shapes[j] = Mask(rle=r)
            if masks:
                extra_ids = sorted(masks)
                px = sum(_rle.area(masks[k]) for k in extra_ids)
                shown = ", ".join(map(str, extra_ids[:5])) + (", ..." if len(extra_ids) > 5 else "")
                ctx.warn("unlisted_id", (*pa, "annotations"),
                         f"bitmap ids {shown} ({px} pixels) have no annotation", f"{where} ids {shown}",
                         n=len(extra_ids))
                # no annotation, so no place in the model: kept for a Segments writer
                seg["unlisted"] = [[k, _rle.to_coco(masks[k])] for k in extra_ids]
            parsed = [(j, aid, cid, at, tr, ex, shapes.get(j)) for j, aid, cid, at, tr, ex, _ in parsed]
    anns = []
    for j, aid, cid, attrs, track, extra, shape in parsed:
        if cid not in job.categories:  # kept (writers of other formats skip it)
            ctx.warn("reference_missing", (*pa, "annotations", j, "category_id"),
                     f"category id {cid} is not in the release's categories", f"{where} annotation {j}")
        anns.append(Annotation(id=aid, category_id=cid, shape=shape, attributes=attrs,
                               track_id=track, score=score, extra=extra))
    return Sample(id=uuid, file_name=name, width=width, height=height, status=status,
                  attributes=dict(image_attrs or {}), annotations=tuple(anns),
                  extra={NS: seg}), report


def _load_ids(source: BitmapSource, name: str | None) -> tuple[npt.NDArray[Any], str | None]:
    """(id image, PNG mode or None for an array) of a bitmap source."""
    if isinstance(source, np.ndarray):
        if source.ndim != 2 or source.dtype.kind not in "iu":
            raise ParseError(name, None, f"expected a 2-D integer id image, got {source.dtype} {source.shape}")
        return source, None
    if isinstance(source, Path):
        try:
            data = source.read_bytes()
        except OSError as e:
            raise ParseError(source, None, f"cannot read: {e.strerror or e}") from None
        return decode_bitmap(data, name or source)
    return decode_bitmap(bytes(source), name)


def parse(
    doc: Any,
    file: PathLike | None = None,
    *,
    report: ConversionReport | None = None,
    labelset: str | None = None,
    bitmaps: Callable[[str, str], BitmapSource] | None = None,
    image_sizes: Callable[[dict[str, Any]], tuple[int, int] | None] | None = None,
    filter_by: Sequence[str] | str | None = None,
    strict: bool = False,
    workers: int = 1,
    other_bitmaps: Callable[[str], Path | None] | None = None,
) -> Dataset:
    """A release document (parsed JSON) -> Dataset.

    ``bitmaps(url, pointer)`` gives each bitmap label's PNG (a path, bytes, or an already
    decoded id image) and raises a located ParseError when it cannot; it is needed only for
    bitmap releases. ``image_sizes(sample_json)`` may give ``(width, height)`` of each image.
    ``filter_by`` keeps samples whose label status is listed (as the SDK: null label =
    ``UNLABELED``). Warnings are counted in ``report`` (errors when ``strict``).
    ``other_bitmaps(url)`` may give the PNG file of a bitmap of another labelset (None when
    it has none): the label stays verbatim, the file is recorded so a writer can copy it.

    >>> doc = {"name": "v1", "dataset": {"name": "d", "owner": "me", "task_type": "vector",
    ...     "labelsets": [{"name": "ground-truth"}],
    ...     "task_attributes": {"categories": [{"id": 1, "name": "car"}]},
    ...     "samples": [{"uuid": "u1", "name": "a.jpg", "metadata": {}, "labels": {
    ...         "ground-truth": {"label_status": "LABELED", "attributes": {"annotations": [
    ...             {"id": 1, "category_id": 1, "type": "bbox", "points": [[1, 2], [5, 6]]}]}}}}]}}
    >>> ds = parse(doc)
    >>> s = ds.samples[0]
    >>> s.status, s.annotations[0].shape
    (<Status.DONE: 'done'>, Box(x0=1, y0=2, x1=5, y1=6, rotation=0))
    """
    rep = report if report is not None else ConversionReport()
    fname = None if file is None else str(file)
    ctx = _Ctx(fname, rep, strict)
    task, labelset, cats, specs, info, samples = _parse_header(doc, ctx, labelset)
    bitmap_task = task in BITMAP_TASKS
    wanted = None
    if filter_by is not None:
        wanted = {filter_by.upper()} if isinstance(filter_by, str) else {f.upper() for f in filter_by}
    cat_ids = frozenset(c.id for c in cats)
    jobs = []
    for i, sample in enumerate(samples):
        s, label = _label_and_source(sample, i, labelset, ctx)
        if wanted is not None:
            st = label.get("label_status") if isinstance(label, dict) else "UNLABELED"
            if st not in wanted:
                continue
        source = source_name = None
        if bitmap_task and label is not None:
            pl = ("dataset", "samples", i, "labels", labelset)
            url = _bitmap_url(label, pl, ctx)
            if url is not None:
                pointer = json_pointer(*pl, "attributes", "segmentation_bitmap", "url")
                if bitmaps is None:
                    raise ParseError(fname, pointer, "a bitmap release needs its label PNGs (pass bitmaps=)")
                source = bitmaps(url, pointer)
                source_name = str(source) if isinstance(source, Path) else url
        size = image_sizes(s) if image_sizes is not None else None
        other_files = ()
        if bitmap_task and other_bitmaps is not None:
            other_files = tuple(_other_bitmap_files(s.get("labels"), labelset, other_bitmaps))
        jobs.append(_SampleJob(i, s, labelset, bitmap_task, cat_ids, source, source_name, size, fname, strict,
                               other_files))
    results = map_parallel(_parse_sample, jobs, workers)
    out = []
    for sample, r in results:
        rep.merge(r)
        out.append(sample)
    return Dataset(categories=tuple(cats), attribute_specs=tuple(specs), samples=tuple(out), info=info)


def _other_url(label: Any) -> str | None:
    """The bitmap URL of a label of another labelset (kept verbatim, so not validated)."""
    la = label.get("attributes") if isinstance(label, dict) else None
    sb = la.get("segmentation_bitmap") if isinstance(la, dict) else None
    url = sb.get("url") if isinstance(sb, dict) else None
    return url if isinstance(url, str) and url else None


def _other_bitmap_files(labels: Any, labelset: str,
                        find: Callable[[str], Path | None]) -> Iterable[tuple[str, str]]:
    for name, label in labels.items() if isinstance(labels, dict) else ():
        url = _other_url(label) if name != labelset else None
        found = find(url) if url is not None else None
        if found is not None:
            yield name, str(found.absolute())


# --------------------------------------------------------------------------------------
# reading: files
# --------------------------------------------------------------------------------------


def default_bitmap_folder(release: PathLike) -> str:
    """The folder (beside the release) where :func:`write` puts the PNGs: ``<stem>_bitmaps``."""
    return f"{Path(release).stem}_bitmaps"


def _is_local(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme == "" or (len(parsed.scheme) == 1 and url[1:3] in (":\\", ":/"))


def _url_basename(url: str) -> str:
    return PurePosixPath(unquote(urlparse(url).path)).name


class _FileResolver:
    """Finds the PNG of a bitmap URL on disk (the converter never downloads).

    A URL's file is looked for at its own path and then by its file name in the bitmap
    folders. Two different URLs can share a file name; the first URL to find a file owns it,
    and a later URL that would reach the same file gets none (an error for the labelset being
    read, a ``mask_not_written`` reference for another labelset), never another label's PNG.
    """

    def __init__(self, release: Path, bitmaps: PathLike | None) -> None:
        self.release = release
        base = release.parent
        if bitmaps is not None:
            self.folders = [Path(bitmaps)]
        else:
            self.folders = [base, base / default_bitmap_folder(release)]
        self.base = base
        self._owner: dict[Path, str] = {}  # resolved file -> the URL that found it first

    def candidates(self, url: str) -> list[Path]:
        tried: list[Path] = []
        parsed = urlparse(url)
        if parsed.scheme == "file":
            p = Path(unquote(parsed.path))
            tried.append(p)
        elif _is_local(url):
            p = Path(url)
            tried += [p] if p.is_absolute() else [self.base / p] + [f / p for f in self.folders]
        name = _url_basename(url)
        if name:
            tried += [f / name for f in self.folders]
        return list(dict.fromkeys(tried))

    def _lookup(self, url: str) -> tuple[Path | None, str | None]:
        """(the PNG file of ``url`` or None, the other URL that owns that file or None)."""
        found = next((p for p in self.candidates(url) if p.is_file()), None)
        if found is None:
            return None, None
        owner = self._owner.setdefault(found.resolve(), url)
        return (found, None) if owner == url else (None, owner)

    def find(self, url: str) -> Path | None:
        """The PNG file of ``url``, or None (none found, or only another URL's file)."""
        return self._lookup(url)[0]

    def __call__(self, url: str, pointer: str) -> Path:
        found, owner = self._lookup(url)
        if found is not None:
            return found
        if owner is not None:
            raise ParseError(self.release, pointer, (
                f"bitmap {url!r} would be read from the file already found for {owner!r} "
                "(the two URLs share a file name); pass bitmaps= a folder where each label's "
                "PNG has a name of its own"
            ))
        seen = self.candidates(url)
        raise ParseError(self.release, pointer, (
            f"bitmap {url!r} not found (looked for {', '.join(str(p) for p in seen) or 'nothing'}); "
            "the converter never downloads: save the label PNGs in one folder and pass bitmaps="
        ))


class _ImageSizes:
    """Image sizes read from image file headers in a folder (by sample name or URL name)."""

    def __init__(self, folder: PathLike, report: ConversionReport) -> None:
        self.folder = Path(folder)
        self.report = report

    def __call__(self, s: dict[str, Any]) -> tuple[int, int] | None:
        from PIL import Image

        names = [s.get("name")]
        image = s.get("attributes")
        image = image.get("image") if isinstance(image, dict) else None
        url = image.get("url") if isinstance(image, dict) else None
        if isinstance(url, str):
            names.append(_url_basename(url))
        for n in names:
            if isinstance(n, str) and n and (self.folder / n).is_file():
                try:
                    with Image.open(self.folder / n) as im:
                        w, h = im.size
                        orientation = im.getexif().get(0x0112, 1)
                except Exception as e:
                    raise ParseError(self.folder / n, None, f"not a readable image: {e}") from None
                return (h, w) if orientation in (5, 6, 7, 8) else (w, h)
        self.report.add("image_missing", where=f"sample {s.get('name')!r}")
        return None


def read(
    path: PathLike,
    *,
    report: ConversionReport | None = None,
    bitmaps: PathLike | None = None,
    images: PathLike | None = None,
    labelset: str | None = None,
    filter_by: Sequence[str] | str | None = None,
    strict: bool = False,
    workers: int = 1,
) -> Dataset:
    """Read a release JSON; bitmap PNGs are looked up on disk (see the module docstring)."""
    p = Path(path)
    rep = report if report is not None else ConversionReport()
    sizes = _ImageSizes(images, rep) if images is not None else None
    resolver = _FileResolver(p, bitmaps)
    return parse(read_json(p), p, report=rep, labelset=labelset, bitmaps=resolver,
                 image_sizes=sizes, filter_by=filter_by, strict=strict, workers=workers,
                 other_bitmaps=resolver.find)


_SNIFF_KEYS = (b'"task_type"', b'"labelsets"', b'"task_attributes"')


def sniff(path: Path, head: bytes) -> int:
    """2 for a JSON object with ``dataset`` holding ``task_type``, ``labelsets`` and
    ``task_attributes`` (seen in the first 64 KiB), 1 when only some are seen."""
    text = head.lstrip()
    if not text.startswith(b"{") or is_native(head) or not re.search(rb'"dataset"\s*:\s*\{', text):
        return 0
    found = sum(k in text for k in _SNIFF_KEYS)
    return 2 if found == 3 else 1 if found else 0


# --------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------


def _color_json(c: tuple[int, int, int, int]) -> list[int]:
    return list(c[:3]) if c[3] == 255 else list(c)


def _attribute_def_json(spec: AttributeSpec) -> dict[str, Any]:
    book = _seg(spec.extra)
    present = _present(book)
    raw_input = book.get("other", {}).get("input_type")
    if raw_input is None or (_INPUT_TYPES.get(raw_input, "text") != spec.type
                             and not (raw_input == "number" and spec.type in ("int", "float"))):
        raw_input = _TYPE_TO_INPUT[spec.type]
    values: dict[str, Any] = {"name": spec.name, "input_type": raw_input}
    if spec.values or ("values" in present):
        values["values"] = [v if isinstance(v, str) else str(v) for v in spec.values]  # options are strings
    if spec.default is not None or "default_value" in present:
        values["default_value"] = spec.default
    if spec.type == "int" and not book:
        values["step"] = 1  # so that it reads back as an integer attribute
    return _assemble(values, book)


@dataclass(frozen=True)
class _WriteHeader:
    """What every per-sample writer job needs (picklable)."""

    task_type: str
    labelset: str
    ids: str
    categories: frozenset[int]
    out_dir: Path | None
    compress_level: int
    # (name, category id or None for all, scope) of the attributes whose values are options
    selects: frozenset[tuple[str, Any, str]] = frozenset()

    def is_select(self, name: str, scope: str, category_id: Any = None) -> bool:
        return (name, None, scope) in self.selects or (name, category_id, scope) in self.selects

    @property
    def bitmap(self) -> bool:
        return self.task_type in BITMAP_TASKS


@dataclass(frozen=True)
class _WriteJob:
    sample: Sample
    header: _WriteHeader
    png_name: str | None  # relative path of the PNG to write (bitmap releases)
    keep_url: bool  # the original URL may be kept if the pixels are unchanged
    # other labelsets' bitmaps: (labelset, source PNG or None, relative PNG name, URL to write)
    others: tuple[tuple[str, str | None, str | None, str], ...] = ()


def _choose_task(samples: Sequence[Sample], info: Mapping[str, Any], task_type: str | None) -> str:
    if task_type is not None:
        if task_type not in BITMAP_TASKS + VECTOR_TASKS:
            raise OptionError(f"task_type must be one of {', '.join(BITMAP_TASKS + VECTOR_TASKS)}, got {task_type!r}")
        return task_type
    src = _seg(info).get("dataset", {}).get("other", {}).get("task_type")
    if src in BITMAP_TASKS + VECTOR_TASKS:
        return src
    for s in samples:
        if any(isinstance(a.shape, Mask) for a in s.annotations):
            return "segmentation-bitmap"
    return "vector"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "sample"


class _Names:
    """Relative PNG names taken so far (case-insensitively: the output may be on a
    case-insensitive file system), and the rules to pick one for a bitmap URL."""

    def __init__(self, folder: str, keep_paths: bool) -> None:
        self.folder = folder
        self.keep_paths = keep_paths
        self.taken: set[str] = set()

    def take(self, name: str) -> str | None:
        if name.lower() in self.taken:
            return None
        self.taken.add(name.lower())
        return name

    def pick(self, url: Any, file_name: str, labelset: str) -> tuple[str, bool]:
        """(relative PNG name, whether ``url`` still finds it): the URL's own path when it
        is relative (and paths are kept), else its file name in ``folder``; otherwise, or on
        a collision, ``<folder>/<name stem>_<labelset>.png`` (``_2``, ``_3``...)."""
        got: str | None = None
        if isinstance(url, str) and url:
            local = _is_local(url) and urlparse(url).scheme == ""
            if local and not self.keep_paths:
                pass  # a new folder was asked for: a new name below
            elif local:
                rel = PurePosixPath(url.replace("\\", "/"))
                if not rel.is_absolute() and ".." not in rel.parts and rel.suffix.lower() == ".png":
                    got = self.take(str(rel))
            elif _url_basename(url).lower().endswith(".png"):
                got = self.take(f"{self.folder}/{_safe(_url_basename(url))}")
        if got is not None:
            return got, True
        stem = f"{self.folder}/{_safe(PurePosixPath(file_name).stem)}_{_safe(labelset)}"
        name, k = self.take(f"{stem}.png"), 2
        while name is None:
            name, k = self.take(f"{stem}_{k}.png"), k + 1
        return name, False


def _png_names(samples: Sequence[Sample], labelled: Sequence[bool], labelset: str,
               folder: str, keep_paths: bool, others: bool = False
               ) -> list[tuple[str | None, bool, tuple[tuple[str, str | None, str | None, str], ...]]]:
    """(relative PNG name, may keep the original URL, other labelsets' PNGs) per sample,
    deterministic in input order (see :meth:`_Names.pick`): the written labelset's PNGs are
    named first, then, when ``others``, each other labelset's bitmap that the reader found
    (``extra["segments"]["bitmap_files"]``) as ``(labelset, source file, name, URL)``; one it
    did not find keeps its URL with no file (name None)."""
    names = _Names(folder, keep_paths)
    main: list[tuple[str | None, bool]] = []
    for s, has_label in zip(samples, labelled):
        if not has_label:
            main.append((None, False))
            continue
        label = _seg(s.extra).get("label")
        url = None
        if isinstance(label, dict):
            sb = label.get("attributes", {}).get("segmentation_bitmap")
            url = sb.get("url") if isinstance(sb, dict) else None
        main.append(names.pick(url, s.file_name, labelset))
    out = []
    for s, (name, keep) in zip(samples, main):
        extra: list[tuple[str, str | None, str | None, str]] = []
        seg = _seg(s.extra)
        files = seg.get("bitmap_files") or {}
        for ls, label in (seg.get("labels") or {}).items() if others else ():
            url = _other_url(label)
            if url is None:
                continue
            src = files.get(ls)
            if src is None:
                extra.append((ls, None, None, url))
                continue
            rel, same = names.pick(url, s.file_name, ls)
            extra.append((ls, src, rel, url if same else rel))
        out.append((name, keep, tuple(extra)))
    return out


def _assign_ids(anns: Sequence[Annotation], n_out: int, policy: str, limit: int, where: str,
                report: ConversionReport, read_any: bool = False) -> list[int] | None:
    """The Segments ids of a sample's annotations: theirs when they are valid (integers in
    1..limit, unique; with ``read_any``, any integer a Segments reader read, as a vector
    release holds them) and no annotation was split, else None (number them 1..n_out)."""
    ids = [a.id for a in anns]
    seen: set[Any] = set()
    dup = None
    for i in ids:
        if i in seen:
            dup = i
            break
        seen.add(i)
    bad = next((a.id for a in anns if not (_is_int(a.id) and (
        1 <= a.id <= limit or (read_any and NS in a.extra)))), None)
    valid = n_out == len(anns) and dup is None and bad is None and all(_is_int(i) for i in ids)
    if policy == "keep" and not valid:
        if n_out != len(anns):
            why = "an annotation became several Segments annotations"
        elif bad is not None or not all(_is_int(i) for i in ids):
            why = f"annotation id {bad!r} is not an integer in 1..{limit}"
        else:
            why = f"annotation id {dup!r} appears twice"
        raise ConversionError(f"{where}: {why}; pass ids='renumber' (or 'auto') to number them 1..N")
    if n_out > limit:
        raise ConversionError(f"{where}: {n_out} instances; a Segments bitmap holds at most {limit} ids")
    if policy == "renumber" or not valid:
        if policy == "auto" and n_out:
            report.add("id_assigned", n_out, where=where)
        return None
    return list(ids)  # type: ignore[arg-type]




def _label_score(anns: Sequence[Annotation], lbook: Mapping[str, Any], where: str,
                 report: ConversionReport) -> tuple[bool, Any]:
    """(emit?, value) of the label-level score: the annotations' common score (the label's
    own when it has no annotations); differing scores cannot be stored and are counted."""
    present = _present(lbook)
    scores = {a.score for a in anns}
    if not scores:
        return "score" in present, lbook.get("score")
    if len(scores) == 1:
        (v,) = scores
        return v is not None or "score" in present, v
    report.add("score_dropped", sum(a.score is not None for a in anns),
               where=f"{where}: annotations have different scores")
    return False, None


def _out_status(s: Sample, has_annotations: bool) -> str | None:
    """The label_status to write, or None for a null label (no label in this labelset)."""
    seg = _seg(s.extra)
    raw = seg.get("label_status")
    if raw is not None and (STATUS_TO_MODEL.get(raw) == s.status
                            or (s.status is None and raw not in STATUS_TO_MODEL)):
        return raw
    if s.status is Status.NEW and not has_annotations:
        return None
    return "LABELED" if s.status is None else STATUS_FROM_MODEL[s.status]


def _usable(s: Sample, hd: _WriteHeader, report: ConversionReport | None) -> list[Annotation]:
    """The annotations that can be written (a known category), counting what is dropped."""
    where = f"sample {s.file_name!r}"
    anns = []
    for k, a in enumerate(s.annotations):
        aw = f"{where} annotation {a.id if a.id is not None else k}"
        if (a.category_id is None or a.category_id not in hd.categories) and not (
                NS in a.extra and _is_int(a.category_id)):  # Segments' own: kept as read
            if report is not None:
                report.add("reference_missing", where=f"{aw}: category {a.category_id}")
            continue
        if report is not None:
            if a.iscrowd:
                report.add("field_dropped", where=f"{aw}: iscrowd")
            if a.track_id is not None and not _is_int(a.track_id):
                report.add("track_dropped", where=aw)
            if foreign_data(a.extra, NS):
                report.add("field_dropped", where=f"{aw}: {', '.join(k for k in a.extra if k != NS)} extras")
        attributes = _attributes_out(a.attributes, lambda n, c=a.category_id: hd.is_select(n, "annotation", c),
                                     report, aw)
        anns.append(a if attributes is a.attributes else dataclasses.replace(a, attributes=attributes))
    return anns


def _attributes_out(attrs: dict[str, Any], is_select: Callable[[str], bool],
                    report: ConversionReport | None, where: str) -> dict[str, Any]:
    """Attribute values as Segments' SDK takes them (a string, bool, number, list of strings
    or null; an option of a select is a string): others converted, counted
    ``attribute_converted``. The same dict when nothing changes."""
    out = dict(attrs)
    changed = False
    for name, v in attrs.items():
        if v is None or isinstance(v, str):
            continue
        if isinstance(v, (bool, int, float)):
            if not is_select(name):
                continue
            new: Any = str(v).lower() if isinstance(v, bool) else str(v)
        elif isinstance(v, list) and all(isinstance(x, str) for x in v):
            continue
        elif isinstance(v, (list, tuple)):
            new = [x if isinstance(x, str) else str(x) for x in v]
        else:
            new = json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)
        out[name] = new
        changed = True
        if report is not None:
            report.add("attribute_converted", where=f"{where}: {name!r} {v!r} -> {new!r}")
    return out if changed else attrs


def _vector_pieces(a: Annotation, task: str, where: str, report: ConversionReport) -> list[tuple[str, Any]]:
    """A model annotation as Segments vector (type, points) pieces, counting conversions:
    its shape's, then its keypoints (``Annotation.keypoints``, a COCO person's) as ``point`` s
    where the task holds points (vector, keypoints), else counted ``keypoints_dropped``."""
    kp = a.keypoints
    pieces = _shape_pieces(a.shape, task, where, report) if a.shape is not None or kp is None else []
    if kp is not None and len(kp.visibility):
        if task in ("vector", "keypoints"):
            points = _keypoint_pieces(kp, where, report)
            if points:
                report.add("shape_converted", where=f"{where}: {len(points)} keypoints -> point annotations")
            pieces += points
        else:
            report.add("keypoints_dropped", len(kp.visibility), where=f"{where}: keypoints in a {task} release")
    return pieces


def _keypoint_pieces(kp: Keypoints, where: str, report: ConversionReport) -> list[tuple[str, Any]]:
    """Labelled keypoints as ``point`` pieces (a point cannot say "not labelled": those are
    counted ``keypoints_dropped``)."""
    keep = [p for p, v in zip(kp.points.tolist(), kp.visibility.tolist()) if v > 0]
    if len(keep) < len(kp.visibility):
        report.add("keypoints_dropped", len(kp.visibility) - len(keep), where=f"{where}: unlabelled keypoints")
    if (kp.visibility == 1).any():  # a point has no visibility: read back as visible
        report.add("field_dropped", where=f"{where}: occluded keypoints written as points")
    return [("point", [p]) for p in keep]


def _shape_pieces(s: Any, task: str, where: str, report: ConversionReport) -> list[tuple[str, Any]]:
    if task == "bboxes" and s is not None and not (isinstance(s, Box) and not s.rotation):
        b = s.bounds()
        if b is None:
            report.add("shape_dropped", where=where)
            return []
        report.add("shape_converted", where=f"{where}: {type(s).__name__} -> bbox (bounds)")
        s = b
    if task == "keypoints" and not isinstance(s, Keypoints):
        report.add("shape_dropped", where=f"{where}: {type(s).__name__ if s is not None else 'no shape'} in a keypoints release")
        return []
    if isinstance(s, Box):
        if not s.rotation:
            return [("bbox", [[s.x0, s.y0], [s.x1, s.y1]])]
        report.add("shape_converted", where=f"{where}: rotated box -> polygon")
        s = geometry.shape_to_polygon(s)
    elif isinstance(s, Ellipse):
        report.add("shape_converted", where=f"{where}: ellipse -> polygon")
        s = geometry.ellipse_to_polygon(s)
    elif isinstance(s, Mask):
        report.add("mask_to_polygon", where=where)
        s = geometry.mask_to_polygon(s.rle)
        if not s.parts:
            report.add("shape_dropped", where=f"{where}: empty mask")
            return []
    if isinstance(s, Polygon):
        out = []
        for part in s.parts:
            if part.holes:
                report.add("hole_dropped", len(part.holes), where=where)
            if len(part.exterior) < 3:
                report.add("invalid_part_dropped", where=where)
                continue
            out.append(("polygon", part.exterior.tolist()))
        if not s.parts:
            report.add("shape_dropped", where=f"{where}: polygon with no part")
        if len(out) > 1:
            report.add("shape_converted", where=f"{where}: {len(out)}-part polygon -> {len(out)} polygons")
        return out
    if isinstance(s, Polyline):
        pts = s.points.tolist()
        if s.closed and pts:
            report.add("shape_converted", where=f"{where}: closed polyline -> open polyline")
            pts.append(pts[0])
        if len(pts) < 2:
            report.add("shape_dropped", where=f"{where}: polyline with {len(pts)} point(s)")
            return []
        return [("polyline", pts)]
    if isinstance(s, Keypoints):
        points = _keypoint_pieces(s, where, report)
        if len(points) > 1 or s.names:
            report.add("shape_converted", where=f"{where}: {len(points)} keypoints -> point annotations")
        return points
    report.add("shape_dropped", where=f"{where}: no shape")
    return []


def _same_points(raw: Any, pts: list[list[Any]], kind: str) -> bool:
    try:
        a = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    b = np.asarray(pts, dtype=np.float64)
    if kind == "bbox" and a.shape == (2, 2):
        a = np.array([a.min(axis=0), a.max(axis=0)])
    return a.shape == b.shape and bool(np.array_equal(a, b))


def _annotation_json(a: Annotation, new_id: int, kind: str | None, pts: Any, cont: bool) -> dict[str, Any]:
    """One Segments annotation; ``cont`` marks the 2nd+ piece of a split annotation."""
    book = {} if cont else _seg(a.extra)
    present = _present(book)
    values: dict[str, Any] = {"id": new_id, "category_id": a.category_id}
    if _is_int(a.track_id):
        values["track_id"] = a.track_id
    if kind is not None:
        raw = book.get("points")
        values["type"] = kind
        values["points"] = raw if raw is not None and _same_points(raw, pts, kind) else pts
    if a.attributes or "attributes" in present:
        values["attributes"] = dict(a.attributes)
    return _assemble(values, book)


def _emit_sample(job: _WriteJob) -> tuple[dict[str, Any], ConversionReport, npt.NDArray[np.uint32] | None, str | None]:
    """One model Sample -> (its Segments sample JSON, what it counted, the id image when
    not written to ``header.out_dir``, the PNG name written)."""
    s, hd = job.sample, job.header
    report = ConversionReport()
    where = f"sample {s.file_name!r}"
    seg = _seg(s.extra)
    if s.tags:
        report.add("tag_dropped", len(s.tags), where=where)
    if s.subset is not None:
        report.add("field_dropped", where=f"{where}: subset {s.subset!r}")
    if foreign_data(s.extra, NS):
        report.add("field_dropped", where=f"{where}: {', '.join(k for k in s.extra if k != NS)} extras")
    anns = _usable(s, hd, report)
    out_status = _out_status(s, bool(anns))
    if s.status is None and out_status is not None and seg.get("label_status") is None:
        report.add("status_unmapped", where=f"{where} (no status: {out_status!r} written)")
    image = None
    png = None
    label: dict[str, Any] | None = None
    if out_status is not None:
        lbook = seg.get("label") or {}
        abook = lbook.get("attributes") or {}
        la: dict[str, Any] = {} if abook else {"format_version": "0.1"}
        if hd.bitmap:
            la["annotations"], la["segmentation_bitmap"], image, png = _bitmap_label(job, anns, abook, where, report)
        else:
            la["annotations"] = _vector_annotations(anns, hd, where, report)
        if s.attributes or "image_attributes" in _present(abook):
            la["image_attributes"] = _attributes_out(s.attributes, lambda n: hd.is_select(n, "image"), report, where)
        label = {"label_status": out_status, "attributes": _assemble(la, abook)}
        emit_score, score = _label_score(anns, lbook, where, report)
        if emit_score:
            label["score"] = score
        label = _assemble(label, lbook)
        report.annotations += len(la["annotations"])
    labels_out: dict[str, Any] = {}
    others = seg.get("labels", {})
    for name in seg.get("labels_order", [hd.labelset]):
        labels_out[name] = label if name == hd.labelset else others.get(name)
    labels_out.setdefault(hd.labelset, label)
    for name, src, rel, url in job.others:
        labels_out[name] = _other_label(labels_out[name], src, rel, url, hd.out_dir,
                                        f"{where} labelset {name!r}", report)
    values: dict[str, Any] = {"uuid": s.id if isinstance(s.id, str) or seg else str(s.id), "name": s.file_name}
    if not seg:
        values["attributes"] = {"image": {"url": s.file_name}}
        values["metadata"] = {}
        if png is None and s.width is not None and s.height is not None:
            # a release holds an image's size only in a bitmap (the reader's images= finds it)
            report.add("field_dropped", where=f"{where}: width/height")
    values["labels"] = labels_out
    report.samples += 1
    return _assemble(values, seg), report, image, png


def _other_label(label: dict[str, Any], src: str | None, rel: str | None, url: str,
                 out_dir: Path | None, where: str, report: ConversionReport) -> dict[str, Any]:
    """A label of another labelset, kept verbatim but for its bitmap: the PNG the reader found
    is copied to ``rel`` in ``out_dir`` (its URL set to ``url``); one that was not found (or no
    folder to copy to: :func:`emit`) stays a reference, counted ``mask_not_written``."""
    if src is None or rel is None or out_dir is None:
        report.add("mask_not_written", where=f"{where}: bitmap {url!r} not copied")
        return label
    target = out_dir / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, target)
    report.files.append(rel)
    sb = label["attributes"]["segmentation_bitmap"]
    if sb.get("url") == url:
        return label
    new_sb = {k: v for k, v in sb.items() if k != "signed_url"}
    new_sb["url"] = url
    return {**label, "attributes": {**label["attributes"], "segmentation_bitmap": new_sb}}


def _vector_annotations(anns: Sequence[Annotation], hd: _WriteHeader, where: str,
                        report: ConversionReport) -> list[dict[str, Any]]:
    pieces: list[tuple[Annotation, list[tuple[str, Any]]]] = []
    for a in anns:
        aw = f"{where} annotation {a.id}"
        if a.z_index is not None:
            report.add("z_index_dropped", where=aw)
        pieces.append((a, _vector_pieces(a, hd.task_type, aw, report)))
    kept = [(a, p) for a, p in pieces if p]
    n_out = sum(len(p) for _, p in kept)
    ids = _assign_ids([a for a, _ in kept], n_out, hd.ids, 2**31 - 1, where, report, read_any=True)
    out = []
    k = 0
    for n, (a, ps) in enumerate(kept):
        for m, (kind, pts) in enumerate(ps):
            new_id = ids[n] if ids is not None else k + 1
            out.append(_annotation_json(a, new_id, kind, pts, m > 0))
            k += 1
    return out


def _bitmap_label(job: _WriteJob, anns: Sequence[Annotation], abook: Mapping[str, Any], where: str,
                  report: ConversionReport) -> tuple[list[dict[str, Any]], dict[str, Any], Any, str | None]:
    """(annotations JSON, segmentation_bitmap object, id image unless written, PNG name
    written) of a bitmap label: masks painted back to front (z_index, then input order)."""
    s, hd = job.sample, job.header
    areas, kept = [], []
    for a in anns:
        if a.keypoints is not None and len(a.keypoints.visibility):
            report.add("keypoints_dropped", len(a.keypoints.visibility),
                       where=f"{where} annotation {a.id}: keypoints in a {hd.task_type} release")
        if a.shape is None and NS in a.extra:
            kept.append(a)  # a Segments annotation read without a bitmap: an entry, no pixels
            continue
        if isinstance(a.shape, (Polyline, Keypoints)) or a.shape is None:
            kind = type(a.shape).__name__ if a.shape is not None else "no shape"
            report.add("shape_dropped", where=f"{where} annotation {a.id}: {kind} in a bitmap release")
            continue
        if not isinstance(a.shape, Mask):
            report.add("polygon_to_mask", where=f"{where} annotation {a.id}")
        areas.append(a)
        kept.append(a)
    height, width = s.height, s.width
    masks = [a.shape for a in areas if isinstance(a.shape, Mask)]
    if (height is None or width is None) and masks:
        height, width = masks[0].rle.height, masks[0].rle.width
    ids = _assign_ids(kept, len(kept), hd.ids, MAX_ID, where, report)
    out_ids = ids if ids is not None else list(range(1, len(kept) + 1))
    ann_json = [_annotation_json(a, i, None, None, False) for a, i in zip(kept, out_ids)]
    sb = abook.get("segmentation_bitmap") if abook else None
    if height is None or width is None or not height or not width:
        if areas and (height is None or width is None):
            raise ConversionError(f"{where}: no image size (width, height) to rasterise its shapes into a bitmap")
        if height is not None and width is not None:  # a 0-pixel image: no PNG can hold it
            report.add("empty_image", where=f"{where}: {width}x{height} (width x height), no bitmap PNG")
        url_obj = dict(sb) if isinstance(sb, dict) and not sb.get("url") else {}
        url_obj["url"] = url_obj.get("url")
        return ann_json, url_obj, None, None
    area_ids = [i for a, i in zip(kept, out_ids) if a.shape is not None]
    try:
        rles = geometry.shapes_to_rles([a.shape for a in areas], height, width)
    except ValueError as e:
        raise ConversionError(f"{where}: {e}") from None
    order = sorted(range(len(areas)), key=lambda k: (areas[k].z_index if areas[k].z_index is not None else 0, k))
    under_ids, under = _unlisted(s, set(out_ids), height, width, where, report)
    image, hidden = geometry.paint(under + [rles[k] for k in order], under_ids + [area_ids[k] for k in order],
                                   height, width, dtype=np.uint32)  # type: ignore[misc]
    for k, n in zip(order, hidden[len(under):]):
        if n:
            report.add("overlap_hidden", n, where=f"{where} annotation {areas[k].id}")
    url_obj: dict[str, Any]
    if job.keep_url and isinstance(sb, dict) and abook.get("digest") == _digest(height, width, _rle.encode_labels(image)):
        url_obj = sb
    else:
        url_obj = dict(sb) if isinstance(sb, dict) else {}
        url_obj.pop("signed_url", None)
        url_obj["url"] = job.png_name
    if hd.out_dir is not None and job.png_name is not None:
        target = hd.out_dir / job.png_name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(encode_bitmap(image, compress_level=hd.compress_level))
        return ann_json, url_obj, None, job.png_name
    return ann_json, url_obj, image, None


def _unlisted(s: Sample, taken: set[int], height: int, width: int, where: str,
              report: ConversionReport) -> tuple[list[int], list[RLE]]:
    """The pixels of bitmap ids the source listed no annotation for (``extra["segments"]
    ["unlisted"]``), painted again under the annotations so that a same-format round trip
    keeps the PNG; dropped (counted ``unlisted_id``) when their id is now an annotation's or
    the image size changed."""
    ids: list[int] = []
    rles: list[RLE] = []
    for uid, obj in _seg(s.extra).get("unlisted") or ():
        if uid in taken or obj.get("size") != [height, width]:
            report.add("unlisted_id", where=f"{where}: pixels of unlisted id {uid} dropped")
            continue
        ids.append(uid)
        rles.append(_rle.from_coco(obj))
    return ids, rles


def _header_json(ds: Dataset, task: str, labelset: str, report: ConversionReport) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(release top level without dataset, dataset without samples, task_attributes)."""
    info = _seg(ds.info)
    if foreign_data(ds.info, NS) and any(k not in (NS, "name") for k in ds.info):
        report.add("field_dropped", where="dataset info: " + ", ".join(k for k in ds.info if k not in (NS, "name")))
    rbook = info.get("release")
    top: dict[str, Any] = {"name": "annoconv-export"} if not rbook else {}
    dbook = info.get("dataset")
    dvalues: dict[str, Any] = {"name": ds.info.get("name", "dataset") if isinstance(ds.info.get("name"), str) else "dataset"}
    if not dbook:
        dvalues["owner"] = "annoconv"
    src_task = (dbook or {}).get("other", {}).get("task_type")
    if src_task != task:
        dvalues["task_type"] = task
    if not dbook or not (dbook.get("other", {}).get("labelsets")):
        dvalues["labelsets"] = [{"name": labelset, "description": ""}]
    else:
        names = [ls.get("name") for ls in dbook["other"]["labelsets"] if isinstance(ls, dict)]
        if labelset not in names:
            dvalues["labelsets"] = [*dbook["other"]["labelsets"], {"name": labelset, "description": ""}]
    tbook = info.get("task_attributes")
    for a in ds.attribute_specs:
        if not all(isinstance(v, str) for v in a.values):
            report.add("attribute_converted", where=f"attribute {a.name!r}: options written as strings")
    cats = []
    for c in ds.categories:
        cb = _seg(c.extra)
        cp = _present(cb)
        count_category_fields(report, [c], color=True, alpha=True, kind=True)
        if foreign_data(c.extra, NS):
            report.add("field_dropped", where=f"category {c.name!r}: other formats' fields")
        v: dict[str, Any] = {"id": c.id, "name": c.name}
        if c.color is not None:
            raw = cb.get("color")
            v["color"] = raw if raw is not None and _parse_color_quiet(raw) == c.color else _color_json(c.color)
        if "has_instances" in cp or not cb:
            v["has_instances"] = c.kind == "thing"
        elif c.kind == "stuff":
            v["has_instances"] = False
        defs = [_attribute_def_json(a) for a in ds.attribute_specs
                if a.scope == "annotation" and (a.category_ids is None or c.id in a.category_ids)]
        if defs or "attributes" in cp:
            v["attributes"] = defs
        cats.append(_assemble(v, cb))
    tvalues: dict[str, Any] = {"format_version": "0.1"} if not tbook else {}
    tvalues["categories"] = cats
    img_defs = [_attribute_def_json(a) for a in ds.attribute_specs if a.scope == "image"]
    if img_defs or "image_attributes" in _present(tbook):
        tvalues["image_attributes"] = img_defs
    return _assemble(top, rbook), _assemble(dvalues, dbook), _assemble(tvalues, tbook)


def _parse_color_quiet(raw: Any) -> tuple[int, ...] | None:
    if isinstance(raw, list) and len(raw) in (3, 4) and all(_is_num(c) for c in raw):
        c = [round(x) for x in raw]
        return (c[0], c[1], c[2], c[3] if len(c) == 4 else 255)
    return None


def _emit(ds: Dataset, report: ConversionReport, *, task_type: str | None, labelset: str | None,
          ids: str, bitmap_folder: str | None, default_folder: str, out_dir: Path | None,
          compress_level: int, workers: int, sink: dict[str, npt.NDArray[np.uint32]] | None) -> dict[str, Any]:
    if not 0 <= compress_level <= 9:
        raise OptionError(f"compress_level must be 0-9, got {compress_level}")
    if ids not in ("auto", "keep", "renumber"):
        raise OptionError(f"ids must be 'auto', 'keep' or 'renumber', got {ids!r}")
    folder = PurePosixPath((bitmap_folder or default_folder).replace("\\", "/"))
    if folder.is_absolute() or ".." in folder.parts or not folder.parts:
        raise OptionError(f"bitmap_folder must be a relative folder name without '..', got {bitmap_folder!r}")
    samples = list(ds.samples)
    task = _choose_task(samples, ds.info, task_type)
    if labelset is None:
        labelset = _seg(ds.info).get("labelset", DEFAULT_LABELSET)
    top, dataset, task_attrs = _header_json(ds, task, labelset, report)
    selects = frozenset((a.name, cid, a.scope) for a in ds.attribute_specs if a.type in ("select", "multiselect")
                        for cid in (a.category_ids if a.category_ids is not None else (None,)))
    hd = _WriteHeader(task, labelset, ids, frozenset(c.id for c in ds.categories), out_dir, compress_level,
                      selects)
    if hd.bitmap:
        labelled = [_out_status(s, bool(_usable(s, hd, None))) is not None for s in samples]
        names = _png_names(samples, labelled, labelset, str(folder), keep_paths=bitmap_folder is None,
                           others=True)
    else:
        names = [(None, False, ())] * len(samples)
    jobs = [_WriteJob(s, hd, n, keep, others) for s, (n, keep, others) in zip(samples, names)]
    results = map_parallel(_emit_sample, jobs, workers)
    samples_json = []
    for job, (sj, r, image, png) in zip(jobs, results):
        report.merge(r)
        samples_json.append(sj)
        if image is not None and sink is not None and job.png_name is not None:
            sink[job.png_name] = image
        if png is not None:
            report.files.append(png)
    dataset = dict(dataset)
    dataset["task_attributes"] = task_attrs
    dataset["samples"] = samples_json
    dbook = _seg(ds.info).get("dataset")
    dataset = _assemble(dataset, {"order": dbook["order"]} if dbook else None)
    out = dict(top)
    out["dataset"] = dataset
    rbook = _seg(ds.info).get("release")
    return _assemble(out, {"order": rbook["order"]} if rbook else None)


def emit(
    dataset: Dataset,
    report: ConversionReport | None = None,
    *,
    task_type: str | None = None,
    labelset: str | None = None,
    ids: Literal["auto", "keep", "renumber"] = "auto",
    bitmap_folder: str | None = None,
    bitmaps: dict[str, npt.NDArray[np.uint32]] | None = None,
) -> dict[str, Any]:
    """Dataset -> release document (pure). Bitmap releases also put each label's id image
    in ``bitmaps`` (relative PNG name -> ``(height, width)`` uint32 array) when given; new
    PNG names go in ``bitmap_folder`` (default ``bitmaps``).

    >>> from annoconv.model import Category, Sample, Annotation
    >>> ds = Dataset(categories=(Category(id=1, name="car"),), samples=(Sample(id="u1",
    ...     file_name="a.jpg", annotations=(Annotation(id=7, category_id=1,
    ...     shape=Box(x0=1, y0=2, x1=5, y1=6)),)),))
    >>> doc = emit(ds)
    >>> doc["dataset"]["task_type"], doc["dataset"]["samples"][0]["labels"]["ground-truth"]
    ('vector', {'label_status': 'LABELED', 'attributes': {'format_version': '0.1', 'annotations': [{'id': 7, 'category_id': 1, 'type': 'bbox', 'points': [[1, 2], [5, 6]]}]}})
    """
    rep = report if report is not None else ConversionReport()
    return _emit(dataset, rep, task_type=task_type, labelset=labelset, ids=ids, bitmap_folder=bitmap_folder,
                 default_folder="bitmaps", out_dir=None, compress_level=1, workers=1, sink=bitmaps)


def write(
    dataset: Dataset,
    path: PathLike,
    *,
    report: ConversionReport | None = None,
    task_type: str | None = None,
    labelset: str | None = None,
    ids: Literal["auto", "keep", "renumber"] = "auto",
    bitmap_folder: str | None = None,
    compress_level: int = 1,
    workers: int = 1,
    indent: bool = False,
) -> None:
    """Write a release JSON at ``path`` and, for bitmap releases, one RGBA PNG per labelled
    sample in ``bitmap_folder`` beside it (default ``<stem>_bitmaps``), named relative to the
    release (a PNG read from a relative URL keeps its path unless ``bitmap_folder`` is
    given). All files appear together or not at all.

    ``compress_level`` is zlib's (default 1: unfiltered rows, on full-HD id images about 4x
    faster to write and to read back than Pillow's PNG writer, for files of tens of KB;
    2-9: PNG's Up filter, the smallest files). See :func:`encode_bitmap`.
    ``workers`` > 1 paints and encodes the PNGs in that many processes."""
    dst = Path(path)
    rep = report if report is not None else ConversionReport()
    n_files = len(rep.files)
    with atomic_folder(dst.parent, inside=True) as tmp:
        doc = _emit(dataset, rep, task_type=task_type, labelset=labelset, ids=ids, bitmap_folder=bitmap_folder,
                    default_folder=default_bitmap_folder(dst), out_dir=tmp, compress_level=compress_level,
                    workers=workers, sink=None)
        (tmp / dst.name).write_bytes(dump_json_bytes(doc, indent=indent))
    rep.files.insert(n_files, dst.name)


FORMAT = FormatSpec(
    name="segments",
    description="Segments.ai release file with segmentation-bitmap (RGBA id PNG) or vector labels",
    extensions=(".json",),
    sniff=sniff,
    read=read,
    write=write,
    read_options={
        "bitmaps": "folder holding the label PNGs (found by the file name at the end of each URL; "
                   "default: beside the release and in <stem>_bitmaps/)",
        "images": "folder of the images: sizes are read from their headers and checked",
        "labelset": "labelset to read (default: ground-truth, else the first)",
        "filter_by": "keep samples with these label statuses (null label = UNLABELED)",
        "strict": "raise on unlisted bitmap ids, empty annotations, unknown categories/statuses",
        "workers": "processes decoding bitmaps (default 1)",
    },
    write_options={
        "task_type": "segmentation-bitmap (masks) or vector/bboxes/keypoints (default: the source's, "
                     "else bitmap when any mask)",
        "labelset": "labelset name to write (default: the one read, else ground-truth)",
        "ids": "auto (keep valid ids, else 1..N), keep (error if not representable), renumber",
        "bitmap_folder": "folder for the PNGs, relative to the release (default <stem>_bitmaps)",
        "compress_level": "PNG zlib level 0-9 (default 1: unfiltered, fastest; 2-9: Up filter, smaller)",
        "workers": "processes painting and encoding bitmaps (default 1)",
        "indent": "pretty-print the JSON",
    },
)
