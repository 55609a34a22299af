"""Semantic segmentation PNGs: Hasty's ``semantic_png`` export (format ``semantic-png``) and a
plain folder of index PNGs with a class map (format ``index-png``); spec: specs/hasty.md §4.

``semantic-png`` layout (one folder; Hasty ships it zipped)::

    label_classes.json        [{"id": uuid, "color": "#rrggbbaa", "png_index": 1,
                                "name": "car", "type": "object" | "background"}, ...]
    <dataset_name>/<image stem>.png      one 8-bit PNG per image (16-bit past 255 classes)

Pixel values: ``gs_asc`` / ``gs_desc`` write a grayscale PNG whose value is the ``png_index``
of the class that wins the pixel, 0 = background (no label); ``gs_asc`` numbers the classes
1..N in class order (Hasty's ``norder`` ascending), ``gs_desc`` N..1. ``class_color`` writes
an RGB PNG painted with each class's colour (alpha dropped), background black. Where labels
overlap one class wins: labels are drawn back to front sorted by ``labels_order`` (a list of
``z_index`` = higher in front, ``class_type`` = background classes behind objects,
``class_order`` = later classes in front; the first entry is the primary key, ties keep file
order); each label is rasterised from its mask, else its polygon, else its box (keypoints
and lines are not drawn). Every hidden pixel is counted (``overlap_hidden``).

``index-png`` layout, the one segmentation trainers read (mmsegmentation, Pascal VOC style)::

    class_map.json     {"background": 0, "classes": [{"index": 1, "name": "car",
                         "color": [31, 120, 180]}, ...]}
    [<subset>/]<stem>.png     8-bit palette PNG ("P", colours from the class map) or
                              grayscale; 16-bit grayscale when an index exceeds 255

Reading either gives one stuff-like mask annotation per class present in an image (id = the
category id); ``png_index`` / ``index`` stay in ``Category.extra`` and are reused on writing,
so a read -> write round trip gives the same pixel values. The reader never recomputes
indices: it maps pixel values through the class table (a value missing from it is an error).
For an RGB semantic PNG it matches pixel colours to class colours, and reads a gray pixel
(R = G = B) as an index when no class has that colour (a file whose labelled pixels are all
gray is written back gray). A PNG's mode (palette "P" with its palette and tRNS transparency,
bilevel "1", 16-bit "I;16", "LA", "RGBA"; 8-bit grayscale too for index-png) is kept in
``Sample.extra`` and a same-format write (semantic_format unchanged) saves the PNG in it again
(alpha written 255, counted ``field_dropped`` where it was not); when the pixels no longer fit
that mode the default one is used, counted ``png_mode_changed``.

Writing: ``png_index`` values read (any of 1..65535) are kept; a class without one gets the
smallest free index (``id_assigned``); data from other formats gets 1..N / N..1. PNGs are 8-bit,
16-bit grayscale when an index exceeds 255 (Hasty itself never has more than 255 classes).
Classes without a colour get Hasty's 12-colour palette by position, then distinct generated
colours (:func:`generated_colors`), never black nor another class's colour, so class_color
holds any number of classes. An image of width or height 0 gets no PNG (``empty_image``).
The output folder then holds exactly the new export: a new or empty folder is filled; a
folder holding a previous export of the same format (``label_classes.json`` /
``class_map.json``) has its class table and PNGs replaced, the PNGs the new export does not
write are deleted after the new files are in place (other files are left alone); any other
non-empty folder is refused (WriteError), as its files are not the writer's to replace.

Choices where the spec is unsure: ``gs_desc`` = indices N..1 over the ``gs_asc`` order;
``class_color`` = RGB with black background; the default ``labels_order`` is ``("z_index",)``;
every image gets a PNG, an all-zero one when it has no labels; ``label_classes.json`` keeps
class order. Class ids and descriptions come from Hasty's ``extra["hasty"]`` when the data
was read from Hasty JSON (same platform), else are uuid5 of the class name.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import geometry
from .. import rle as _rle
from .._io import atomic_folder, map_parallel, read_json, read_png, write_json
from ..errors import (
    ConversionError,
    OptionError,
    ParseError,
    WriteError,
    describe_value,
    json_pointer,
)
from ..model import (
    Annotation,
    Box,
    Category,
    Dataset,
    Ellipse,
    Keypoints,
    Mask,
    Polygon,
    Sample,
    rgba_from_hex,
    rgba_to_hex,
)
from ..registry import FormatSpec
from ..report import ConversionReport, count_category_fields
from .hasty import PALETTE, _uuid

__all__ = ["FORMAT", "INDEX_FORMAT", "LABELS_ORDERS", "SEMANTIC_FORMATS", "generated_colors", "read",
           "read_index", "render", "sniff", "sniff_index", "write", "write_index"]

NS = "semantic_png"
INDEX_NS = "index_png"
CLASSES_FILE = "label_classes.json"
CLASS_MAP_FILE = "class_map.json"
SEMANTIC_FORMATS = ("gs_asc", "gs_desc", "class_color")
LABELS_ORDERS = ("z_index", "class_type", "class_order")
CLASS_KEYS = ("id", "color", "png_index", "name", "type")
INDEX_CLASS_KEYS = ("index", "name", "color")


# --------------------------------------------------------------------------------------
# rendering (pure, per sample: runs in worker processes)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What :func:`render` needs besides the sample: the pixel value of each category id,
    its class-type rank (0 background, 1 object) and class-order rank, the draw order, an
    optional (V, 3) colour table (class_color) and the PNG settings."""

    values: Mapping[int, int]
    kind_rank: Mapping[int, int]
    order_rank: Mapping[int, int]
    labels_order: tuple[str, ...] = ("z_index",)
    colors: npt.NDArray[np.uint8] | None = None
    palette: list[int] | None = None
    dtype: str = "uint8"
    background: int = 0
    compress_level: int = 6


def _where(s: Sample) -> str:
    return f"image {s.file_name!r}"


def render(sample: Sample, plan: Plan) -> tuple[npt.NDArray[Any], list[tuple[str, int, str]]]:
    """The label image of one sample and the losses to report as ``(kind, n, where)``.

    >>> from annoconv.model import Annotation, Box, Sample
    >>> s = Sample(id=1, file_name="a.jpg", width=4, height=2, annotations=(
    ...     Annotation(id=1, category_id=1, shape=Box(x0=0, y0=0, x1=3, y1=2), z_index=2),
    ...     Annotation(id=2, category_id=2, shape=Box(x0=2, y0=0, x1=4, y1=2), z_index=1)))
    >>> img, losses = render(s, Plan(values={1: 1, 2: 2}, kind_rank={1: 1, 2: 1},
    ...                              order_rank={1: 0, 2: 1}))
    >>> img.tolist(), losses
    ([[1, 1, 1, 2], [1, 1, 1, 2]], [('overlap_hidden', 2, "image 'a.jpg'")])
    """
    where = _where(sample)
    losses: list[tuple[str, int, str]] = []
    drawn: list[tuple[Annotation, Any]] = []
    for a in sample.annotations:
        shape: Any = a.shape
        if shape is None and a.stored_bbox is not None and a.keypoints is None:
            shape = a.stored_bbox  # a box-only annotation (COCO "segmentation": [])
        if a.category_id not in plan.values:
            losses.append(("reference_missing", 1, where))
        elif isinstance(shape, (Mask, Polygon, Box, Ellipse)):
            drawn.append((a, shape))
        elif not isinstance(shape, Keypoints) and a.keypoints is None:
            losses.append(("shape_dropped", 1, where))
        if isinstance(shape, Keypoints) or a.keypoints is not None:
            losses.append(("keypoints_dropped", 1, where))
        if a.attributes:
            losses.append(("attribute_dropped", len(a.attributes), where))
        aw = f"{where} annotation {a.id}"
        if a.iscrowd:
            losses.append(("field_dropped", 1, f"{aw}: iscrowd"))
        if a.score is not None:
            losses.append(("score_dropped", 1, aw))
        if a.track_id is not None:
            losses.append(("track_dropped", 1, aw))
    height, width = sample.height, sample.width
    if height is None or width is None:
        sizes = [shape.rle.size for _, shape in drawn if isinstance(shape, Mask)]
        if not sizes:
            raise ConversionError(f"{where} has no width/height and no mask to take them from")
        height, width = sizes[0]

    def key(item: tuple[Annotation, Any]) -> tuple[Any, ...]:
        a = item[0]
        out: list[Any] = []
        for order in plan.labels_order:
            if order == "z_index":
                out.append(a.z_index if a.z_index is not None else 0)
            elif order == "class_type":
                out.append(plan.kind_rank[a.category_id])  # type: ignore[index]
            else:
                out.append(plan.order_rank[a.category_id])  # type: ignore[index]
        return tuple(out)

    drawn.sort(key=key)
    try:
        rles = geometry.shapes_to_rles([shape for _, shape in drawn], height, width)
    except ValueError as e:
        raise ConversionError(f"{where}: {e}") from None
    values = [plan.values[a.category_id] for a, _ in drawn]  # type: ignore[index]
    img, hidden = geometry.paint([r for r in rles if r is not None], values, height, width,
                                 dtype=np.dtype(plan.dtype), background=plan.background)
    if sum(hidden):
        losses.append(("overlap_hidden", sum(hidden), where))
    per_class: Counter[Any] = Counter()
    for (a, _), r in zip(drawn, rles, strict=True):
        if r is None:
            continue
        if _rle.area(r):
            per_class[a.category_id] += 1
        else:  # e.g. a box thinner than a pixel centre
            losses.append(("shape_dropped", 1, f"{where} annotation {a.id}: no pixels"))
    merged = sum(n - 1 for n in per_class.values())
    if merged:  # one region per class: which pixels were which instance is lost
        losses.append(("instances_merged", merged, where))
    if plan.colors is not None:
        img = plan.colors[img]
    return img, losses


def _save_png(path: str, array: npt.NDArray[Any], palette: list[int] | None,
              compress_level: int, mode: str | None = None, transparency: Any = None) -> None:
    """Encode a label image straight into the writer's temporary folder (the folder is what
    makes the output atomic, so no per-file temporary name and rename as _io.write_png);
    ``mode`` "1" / "LA" / "RGBA" for a bilevel, gray + alpha, RGBA file; ``transparency``
    a palette's tRNS (an index, or one alpha per entry) as read."""
    from PIL import Image

    arr = np.ascontiguousarray(array)
    if mode == "1":
        arr = arr.astype(bool)
    elif mode in ("LA", "RGBA"):
        arr = np.dstack([arr, np.full(arr.shape[:2], 255, np.uint8)])
    im = Image.fromarray(arr)
    if palette is not None:
        im.putpalette(palette)
    extra = {} if transparency is None else {
        "transparency": bytes(transparency) if isinstance(transparency, list) else transparency}
    im.save(path, format="PNG", compress_level=compress_level, **extra)


def _transparency(path: Path) -> Any:
    """A palette PNG's tRNS as JSON (an index, or a list of alphas), None without one."""
    from PIL import Image

    with Image.open(path) as im:
        t = im.info.get("transparency")
    return list(t) if isinstance(t, bytes) else t


def _png_mode(img: npt.NDArray[Any], plan: Plan, kept: Mapping[str, Any] | None,
              where: str) -> tuple[npt.NDArray[Any], list[int] | None, str | None,
                                   list[tuple[str, int, str]]]:
    """(pixels, palette, mode) to save a rendered image with: the plan's, or the PNG mode
    (and palette) the sample was read with when the pixels still fit it (counted
    ``png_mode_changed`` when they do not)."""
    mode = kept.get("mode") if kept else None
    if mode is None:
        return img, plan.palette, None, []
    top = int(img.max()) if img.size else 0
    if plan.colors is not None:  # class_color: an RGB image
        if mode in ("RGB", "RGBA"):
            return img, None, None if mode == "RGB" else "RGBA", []
    elif mode == "P" and isinstance(kept.get("palette"), list) and top < min(256, len(kept["palette"]) // 3):  # type: ignore[union-attr,index]
        return img.astype(np.uint8), kept["palette"], None, []  # type: ignore[index]
    elif mode == "1" and top <= 1:
        return img, None, "1", []
    elif mode in ("I;16", "I;16B", "I"):
        return img.astype(np.uint16), None, None, []
    elif mode in ("L", "LA") and top < 256:
        return img.astype(np.uint8), None, None if mode == "L" else "LA", []
    return img, plan.palette, None, [("png_mode_changed", 1, f"{where}: PNG mode {mode} cannot "
                                                              "hold the pixels written")]


def _render_to_file(job: tuple[Sample, Plan, str, Mapping[str, Any] | None]) -> list[tuple[str, int, str]]:
    sample, plan, path, kept = job
    if kept and kept.get("rgb") == "index" and plan.colors is not None and len(plan.colors) <= 256:
        # read as gray R = G = B = png_index: written back the same way
        gray = np.repeat(np.arange(len(plan.colors), dtype=np.uint8)[:, None], 3, axis=1)
        plan = dataclasses.replace(plan, colors=gray)
    img, losses = render(sample, plan)
    img, palette, mode, more = _png_mode(img, plan, kept, _where(sample))
    same_palette = kept is not None and palette is not None and palette == kept.get("palette")
    _save_png(path, img, palette, plan.compress_level, mode,
              kept.get("transparency") if same_palette else None)  # type: ignore[union-attr]
    return losses + more


def _out_name(s: Sample) -> str:
    """``[subset/]stem.png`` for a sample (refusing paths that would leave the folder)."""
    name = PurePosixPath(s.file_name.replace("\\", "/"))
    stem = name.stem
    suffix = name.suffix if name.suffix.lower() == ".png" else ".png"  # X.PNG stays X.PNG
    parts = [] if s.subset is None else [s.subset]
    rel = PurePosixPath(*parts, f"{stem}{suffix}")
    if rel.is_absolute() or ".." in rel.parts or not stem:
        raise ConversionError(f"{_where(s)}: cannot name a PNG for subset {s.subset!r}")
    return str(rel)


def _size(s: Sample) -> tuple[int, int] | None:
    """(height, width) of a sample's PNG: its own, else its first mask's (None if neither)."""
    if s.height is not None and s.width is not None:
        return s.height, s.width
    return next((a.shape.rle.size for a in s.annotations if isinstance(a.shape, Mask)), None)


def _write_pngs(dataset: Dataset, plan: Plan, tmp: Path, report: ConversionReport,
                workers: int, keep_modes: str | None = None) -> None:
    """Render and save every sample's PNG into ``tmp``; ``keep_modes``: the namespace whose
    ``mode`` / ``palette`` (recorded by the reader, none for 8-bit grayscale) to save each
    PNG with, if any."""
    seen: dict[str, str] = {}

    def jobs() -> Iterator[tuple[Sample, Plan, str, Mapping[str, Any] | None]]:
        for s in dataset.samples:
            if (s.height is None or s.width is None) and not s.annotations:
                report.add("size_unknown", where=f"{_where(s)}: no size and no labels, no PNG")
                continue  # e.g. an unlabelled Segments sample: nothing to draw, no size to draw on
            size = _size(s)
            if size is not None and 0 in size:
                report.add("empty_image", where=f"{_where(s)}: {size[1]}x{size[0]} (width x "
                                                 "height), no PNG can hold it")
                continue
            rel = _out_name(s)
            if rel in seen:
                raise ConversionError(f"images {seen[rel]!r} and {s.file_name!r} would both "
                                      f"be written to {rel}")
            seen[rel] = s.file_name
            if s.status is not None:
                report.add("status_unmapped", where=_where(s))
            if s.tags:
                report.add("tag_dropped", len(s.tags), where=_where(s))
            if s.attributes:
                report.add("attribute_dropped", len(s.attributes), where=_where(s))
            if any(isinstance(d, dict) and d.get("alpha") for d in (s.extra.get(NS), s.extra.get(INDEX_NS))):
                report.add("field_dropped", where=f"{_where(s)}: alpha channel (written opaque)")
            report.samples += 1
            report.annotations += len(s.annotations)
            report.files.append(rel)
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            kept = s.extra.get(keep_modes) if keep_modes is not None else None
            kept = kept if isinstance(kept, dict) else None
            if keep_modes == INDEX_NS and (kept is None or "mode" not in kept):
                kept = {**(kept or {}), "mode": "L"}  # read as 8-bit grayscale (index-png's
                # default is a palette): written so again
            yield s, plan, str(tmp / rel), kept

    if workers > 1:
        results: Iterable[list[tuple[str, int, str]]] = map_parallel(
            _render_to_file, list(jobs()), workers)
    else:
        results = (_render_to_file(j) for j in jobs())
    for losses in results:
        for kind, n, where in losses:
            report.add(kind, n, where=where)


def _previous_export(root: Path, table: str) -> list[str]:
    """The PNGs (relative paths) of the previous export in ``root`` that a new export
    replaces. A folder that is not empty (hidden entries aside) and holds no ``table`` is not
    an export of this format: refused (WriteError), its files are not ours to replace."""
    if not root.exists():
        return []
    if not root.is_dir():
        raise WriteError(f"{root}: cannot write: not a folder")
    if not any(not p.name.startswith(".") for p in root.iterdir()):
        return []
    if not (root / table).is_file():
        raise WriteError(f"{root}: cannot write: the folder is not empty and has no {table} "
                         "(it is not an export to replace); choose an empty or new folder")
    return [rel for rel, _ in _png_files(root)]


def _remove_stale(root: Path, previous: Iterable[str], written: Iterable[str]) -> None:
    """Delete the previous export's PNGs that the new one did not write (and the folders
    that leaves empty), so the folder holds exactly the new export."""
    keep = set(written)
    try:
        for rel in previous:
            if rel in keep:
                continue
            (root / rel).unlink(missing_ok=True)
            parent = (root / rel).parent
            while parent != root and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
    except OSError as e:
        raise WriteError(f"{root}: cannot remove the previous export's {rel}: "
                         f"{e.strerror or e}") from e


def _order_rank(categories: Sequence[Category]) -> dict[int, int]:
    """Class order: Hasty's ``norder`` ascending when every class has one, else list order."""
    norders = [c.extra.get("hasty", {}).get("norder") if isinstance(c.extra.get("hasty"), dict)
               else None for c in categories]
    idx = list(range(len(categories)))
    if categories and all(isinstance(n, (int, float)) and not isinstance(n, bool)
                          for n in norders):
        idx.sort(key=lambda i: norders[i])  # type: ignore[arg-type,return-value]
    return {categories[i].id: rank for rank, i in enumerate(idx)}


def _check_orders(labels_order: Sequence[str] | str) -> tuple[str, ...]:
    orders = (labels_order,) if isinstance(labels_order, str) else tuple(labels_order)
    for o in orders:
        if o not in LABELS_ORDERS:
            raise OptionError(f"labels_order {o!r} is not one of {', '.join(LABELS_ORDERS)}")
    return orders


def _colors(categories: Sequence[Category]) -> list[tuple[int, int, int, int]]:
    """Each category's colour: its own, else a distinct one (from Hasty's 12-colour palette
    by class position, then :func:`generated_colors`), never black nor another class's."""
    used = {(0, 0, 0)} | {c.color[:3] for c in categories if c.color is not None}
    spare = generated_colors()
    out = []
    for i, c in enumerate(categories):
        if c.color is not None:
            out.append(c.color)
            continue
        col = rgba_from_hex(PALETTE[i]) if i < len(PALETTE) else None
        while col is None or col[:3] in used:
            col = next(spare)
        used.add(col[:3])
        out.append(col)
    return out


def generated_colors() -> Iterator[tuple[int, int, int, int]]:
    """Distinct deterministic opaque colours, as many as RGB has (2^24 - 1, black excluded):
    ``k * 0x9E3779 mod 2^24`` for k = 1, 2, ... (an odd multiplier permutes the 24-bit values,
    so no colour repeats; neighbours in k are far apart in colour).

    >>> from itertools import islice
    >>> list(islice(generated_colors(), 2))
    [(158, 55, 121, 255), (60, 110, 242, 255)]
    """
    for k in range(1, 1 << 24):
        v = (k * 0x9E3779) & 0xFFFFFF
        yield (v >> 16, (v >> 8) & 255, v & 255, 255)


# --------------------------------------------------------------------------------------
# reading PNG folders (shared)
# --------------------------------------------------------------------------------------


def _png_files(root: Path) -> list[tuple[str, str | None]]:
    """``(relative path, subset)`` of every PNG under ``root``, sorted; the subset is the
    folder relative to ``root`` (None at the top). Hidden files and folders are skipped."""
    out: list[tuple[str, str | None]] = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if p.suffix.lower() != ".png" or any(part.startswith(".") for part in rel.parts):
            continue
        if p.is_file():
            parent = rel.parent.as_posix()
            out.append((rel.as_posix(), None if parent == "." else parent))
    out.sort()
    return out


def _pixel_values(arr: npt.NDArray[Any], mode: str, path: Path,
                  colors: Mapping[tuple[int, int, int], int] | None) -> tuple[npt.NDArray[Any], bool]:
    """A 2-D integer label image from a decoded PNG (RGB matched against ``colors``), and
    whether it is an RGB image whose every labelled pixel is gray ``R = G = B = png_index``
    (the other RGB layout, which the writer then keeps)."""
    if mode in ("L", "P", "I;16", "I;16B", "I", "1"):
        return (arr.astype(np.int64) if mode in ("I", "1") else arr), False
    if mode == "LA":
        return arr[..., 0], False
    if mode in ("RGB", "RGBA") and colors is not None:
        rgb = arr[..., :3].astype(np.uint32)
        key = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        uniq, inverse = np.unique(key, return_inverse=True)
        lut = np.zeros(uniq.size, np.int64)
        by_colour = by_gray = 0
        for i, k in enumerate(uniq.tolist()):  # once per distinct colour
            c = (k >> 16, (k >> 8) & 255, k & 255)
            if c == (0, 0, 0):
                continue
            value = colors.get(c)
            if value == _SHARED:
                y, x = np.argwhere(key == k)[0].tolist()
                raise ParseError(path, None, f"pixel colour {c} at (x={x}, y={y}) is the colour "
                                             "of two classes in label_classes.json")
            if value is not None:
                lut[i] = value
                by_colour += 1
            elif c[0] == c[1] == c[2]:
                lut[i] = c[0]
                by_gray += 1
            else:
                y, x = np.argwhere(key == k)[0].tolist()
                raise ParseError(path, None, f"pixel colour {c} at (x={x}, y={y}) is not the "
                                             "colour of a class in label_classes.json")
        return lut[inverse.reshape(key.shape)], by_gray > 0 and by_colour == 0
    raise ParseError(path, None, f"expected a single-channel index PNG, got mode {mode}")


_SHARED = -1  # in the colour table: a colour two classes share


def _read_one(job: tuple[Path, str, str | None, Mapping[int, int],
                         Mapping[tuple[int, int, int], int] | None, int, str, str]) -> Sample:
    root, rel, subset, by_value, colors, background, table, ns = job
    path = root / rel
    arr, mode, palette = read_png(path)  # refuses a PNG cut after its pixel data too
    labels, gray = _pixel_values(arr, mode, path, colors)
    height, width = labels.shape
    anns = []
    for value, r in sorted(_rle.encode_labels(labels, background=background).items()):
        cid = by_value.get(value)
        if cid is None:
            y, x = np.argwhere(labels == value)[0].tolist()
            raise ParseError(path, None, f"pixel value {value} at (x={x}, y={y}) is not a class "
                                         f"index of {table}")
        anns.append(Annotation(id=cid, category_id=cid, shape=Mask(rle=r)))
    anns.sort(key=lambda a: a.category_id)  # type: ignore[arg-type,return-value]
    sid = rel[: -len(PurePosixPath(rel).suffix)]
    kept: dict[str, Any] = {}
    if mode != "L":  # the default of a file read (index-png's writer keeps it: default_mode)
        kept["mode"] = mode
        if palette is not None:
            kept["palette"] = palette
            transparency = _transparency(path)
            if transparency is not None:
                kept["transparency"] = transparency
        if gray:
            kept["rgb"] = "index"  # R = G = B = png_index rather than the class colours
        if mode in ("LA", "RGBA") and arr.size and int(arr[..., -1].min()) < 255:
            kept["alpha"] = True  # written back opaque: counted by the writer
    return Sample(id=sid, file_name=PurePosixPath(rel).name, width=width, height=height,
                  subset=subset, annotations=tuple(anns), extra={ns: kept} if kept else {})


def _read_samples(root: Path, by_value: Mapping[int, int],
                  colors: Mapping[tuple[int, int, int], int] | None, background: int,
                  table: str, workers: int, ns: str) -> list[Sample]:
    jobs = [(root, rel, subset, by_value, colors, background, table, ns)
            for rel, subset in _png_files(root)]
    samples = map_parallel(_read_one, jobs, workers)
    palettes: dict[tuple[int, ...], list[int]] = {}  # one list per distinct palette
    for s in samples:
        kept = s.extra.get(ns)
        if kept and "palette" in kept:
            kept["palette"] = palettes.setdefault(tuple(kept["palette"]), kept["palette"])
    return samples


def _root(path: Path, table: str) -> Path:
    return path.parent if path.name == table and path.is_file() else path


def _keep_order(rec: dict[str, Any], canonical: tuple[str, ...], ns: dict[str, Any],
                mapped: Iterable[str]) -> None:
    """Keep the record's key order in ``ns["_keys"]`` unless it is the writer's own: every
    canonical key in order, then the unknown ones."""
    keys = list(rec)
    known = set(canonical) | set(mapped)
    if keys != [*canonical, *(k for k in keys if k not in known)]:
        ns["_keys"] = keys


def _ordered(values: dict[str, Any], ns: Mapping[str, Any],
             canonical: tuple[str, ...]) -> dict[str, Any]:
    keys = ns.get("_keys")
    if keys is None:
        keys = [*canonical, *(k for k in ns if k not in canonical and not k.startswith("_"))]
    return {k: ns[k] if k in ns else values.get(k) for k in keys}


# --------------------------------------------------------------------------------------
# semantic-png
# --------------------------------------------------------------------------------------


def parse_classes(doc: Any, file: str | Path | None = None) -> list[Category]:
    """Categories from a parsed ``label_classes.json`` (pure): id 1..N in file order,
    ``png_index`` and the other keys in ``extra["semantic_png"]``.

    >>> cats = parse_classes([{"id": "u1", "color": "#1f78b44d", "png_index": 1,
    ...                        "name": "Deep water", "type": "background"}])
    >>> cats[0].name, cats[0].kind, cats[0].color, cats[0].extra["semantic_png"]["png_index"]
    ('Deep water', 'stuff', (31, 120, 180, 77), 1)
    """
    if not isinstance(doc, list):
        raise ParseError(file, "$", f"expected an array of label classes, got {describe_value(doc)}")
    cats: list[Category] = []
    seen: dict[int, str] = {}
    for i, c in enumerate(doc):
        ptr = json_pointer(i)
        if not isinstance(c, dict):
            raise ParseError(file, ptr, f"expected a label class object, got {describe_value(c)}")
        name_key = "name" if "name" in c or "class_name" not in c else "class_name"
        type_key = "type" if "type" in c or "class_type" not in c else "class_type"
        name = c.get(name_key)
        if not isinstance(name, str):
            raise ParseError(file, json_pointer(i, name_key),
                             f"expected a class name string, got {describe_value(name)}")
        idx = c.get("png_index")
        if not isinstance(idx, int) or isinstance(idx, bool) or not 0 < idx < 65536:
            raise ParseError(file, json_pointer(i, "png_index"),
                             f"expected an integer 1..65535, got {describe_value(idx)}")
        if idx in seen:
            raise ParseError(file, json_pointer(i, "png_index"),
                             f"png_index {idx} is already the index of class {seen[idx]!r}")
        seen[idx] = name
        ns = {k: v for k, v in c.items() if k not in (name_key, type_key, "color")}
        _keep_order(c, CLASS_KEYS, ns, (name_key, type_key))
        ctype = c.get(type_key, "object")
        if ctype not in ("object", "background"):
            ns["type"] = ctype
        color = rgba_from_hex(c.get("color"))
        if "color" in c and (color is None or rgba_to_hex(color) != c["color"]):
            ns["color"] = c["color"]
        cats.append(Category(id=i + 1, name=name, color=color,
                             kind="stuff" if ctype == "background" else "thing",
                             extra={NS: ns}))
    return cats


def read(path: str | Path, *, report: ConversionReport | None = None,
         workers: int = 1) -> Dataset:
    """Read a semantic_png export folder (or its ``label_classes.json``).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> from annoconv.model import Annotation, Box, Category, Dataset, Sample
    >>> ds = Dataset(categories=(Category(id=1, name="car"),), samples=(Sample(id=1,
    ...     file_name="a.jpg", width=3, height=2, subset="train", annotations=(
    ...     Annotation(id=1, category_id=1, shape=Box(x0=0, y0=0, x1=2, y1=1)),)),))
    >>> write(ds, d)
    >>> back = read(d)
    >>> back.samples[0].id, back.samples[0].annotations[0].shape.area
    ('train/a', 2)
    """
    root = _root(Path(path), CLASSES_FILE)
    cats = parse_classes(read_json(root / CLASSES_FILE), root / CLASSES_FILE)
    by_value = {c.extra[NS]["png_index"]: c.id for c in cats}
    colors: dict[tuple[int, int, int], int] = {}
    for c in cats:
        if c.color is not None:
            rgb = c.color[:3]
            colors[rgb] = _SHARED if rgb in colors else c.extra[NS]["png_index"]
    samples = _read_samples(root, by_value, colors, 0, CLASSES_FILE, workers, NS)
    idx = [c.extra[NS]["png_index"] for c in cats]
    fmt: str | None = None
    if any(s.extra.get(NS, {}).get("mode") in ("RGB", "RGBA") for s in samples):
        fmt = "class_color"
    elif idx == list(range(1, len(idx) + 1)):
        fmt = "gs_asc"
    elif idx == list(range(len(idx), 0, -1)):
        fmt = "gs_desc"
    return Dataset(categories=tuple(cats), samples=tuple(samples),
                   info={NS: {"semantic_format": fmt}})


#: What a namespace holds that the other semantic table also holds (an index, a colour, a type)
_SHARED_CLASS_KEYS = {NS: {"png_index", "color", "type", "class_type", "name", "class_name"},
                      INDEX_NS: {"index", "color", "name"}}


def _count_foreign_class_fields(rep: ConversionReport, cats: Iterable[Category],
                                keep: tuple[str, ...]) -> None:
    """Count a class's fields from other namespaces (the other semantic table's extra keys,
    Hasty's class id and description in an index table) that this table has no place for."""
    for c in cats:
        lost = sorted({key for space, d in c.extra.items()
                       if space in (NS, INDEX_NS, "hasty") and space not in keep and isinstance(d, dict)
                       for key in d if not key.startswith("_") and key not in _SHARED_CLASS_KEYS.get(space, ())})
        if lost:
            rep.add("field_dropped", where=f"category {c.name!r}: {', '.join(lost)}")


def _png_indices(dataset: Dataset, semantic_format: str, reuse: bool,
                 rank: Mapping[int, int], report: ConversionReport) -> dict[int, int]:
    """``png_index`` per category id: the ones read (``reuse``, any 1..65535, kept as they
    are; a class without one gets the smallest free index, counted ``id_assigned``), else
    1..N (gs_asc, class_color) or N..1 (gs_desc) in class order."""
    cats = dataset.categories
    n = len(cats)
    if semantic_format == "gs_desc":
        base = {cid: n - r for cid, r in rank.items()}
    else:
        base = {cid: r + 1 for cid, r in rank.items()}
    if not reuse:
        return base
    kept: dict[int, int] = {}
    for c in cats:
        ns = c.extra.get(NS)
        v = ns.get("png_index") if isinstance(ns, dict) else None
        if isinstance(v, int) and not isinstance(v, bool) and 0 < v < 65536 \
                and v not in kept.values():
            kept[c.id] = v
    if not kept or len(kept) == n:
        return kept or base
    used = set(kept.values())
    free = (v for v in range(1, 65536) if v not in used)
    missing = [c for c in cats if c.id not in kept]
    for c in missing:
        kept[c.id] = next(free)
    report.add("id_assigned", len(missing), where=f"{CLASSES_FILE}: png_index of class "
                                                  f"{', '.join(repr(c.name) for c in missing)}")
    return {c.id: kept[c.id] for c in cats}


def write(dataset: Dataset, path: str | Path, *, report: ConversionReport | None = None,
          semantic_format: str | None = None, labels_order: Sequence[str] | str = ("z_index",),
          workers: int = 1, compress_level: int = 6) -> None:
    """Write a semantic_png export folder atomically: ``label_classes.json`` and one PNG per
    image (see the module docstring; doctest in :func:`read`). ``path`` must be a new or empty
    folder or hold a previous semantic_png export, which is replaced: afterwards the folder
    holds exactly this export's PNGs."""
    rep = report if report is not None else ConversionReport()
    orders = _check_orders(labels_order)
    info_ns = dataset.info.get(NS) if isinstance(dataset.info.get(NS), dict) else {}
    source_fmt = info_ns.get("semantic_format") if info_ns else None
    fmt = semantic_format or source_fmt or "gs_asc"
    if fmt not in SEMANTIC_FORMATS:
        raise OptionError(f"semantic_format {fmt!r} is not one of {', '.join(SEMANTIC_FORMATS)}")
    cats = dataset.categories
    if len(cats) > 65535:
        raise ConversionError(f"{len(cats)} classes; a semantic PNG holds at most 65535")
    rank = _order_rank(cats)
    same = semantic_format is None or semantic_format == source_fmt
    index = _png_indices(dataset, fmt, same, rank, rep)
    top = max(index.values(), default=0)
    rgba = _colors(cats)
    colors = None
    if fmt == "class_color":
        colors = np.zeros((top + 1, 3), np.uint8)
        owner: dict[tuple[int, ...], str] = {(0, 0, 0): "background"}
        for c, col in zip(cats, rgba):
            rgb = tuple(col[:3])
            if rgb in owner:
                raise ConversionError(f"class {c.name!r} has colour {rgb}, the colour of "
                                      f"{owner[rgb]!r}: class_color cannot tell them apart")
            owner[rgb] = c.name
            colors[index[c.id]] = rgb
    plan = Plan(values=index, kind_rank={c.id: 0 if c.kind == "stuff" else 1 for c in cats},
                order_rank=rank, labels_order=orders, colors=colors,
                dtype="uint8" if top < 256 else "uint16", compress_level=compress_level)
    count_category_fields(rep, cats, color=True, alpha=True, kind=True)
    _count_foreign_class_fields(rep, cats, keep=(NS, "hasty"))
    table = []
    for c, col in zip(cats, rgba):
        ns = c.extra.get(NS) if isinstance(c.extra.get(NS), dict) else {}
        hns = c.extra.get("hasty") if isinstance(c.extra.get("hasty"), dict) else {}
        ctype = "object" if c.kind == "thing" else "background"
        if "type" in ns and c.kind == "thing":
            ctype = ns["type"]
        color = rgba_to_hex(col)
        if "color" in ns and rgba_from_hex(ns["color"]) == c.color:
            color = ns["color"]
        values = {"id": hns.get("class_id", _uuid("class", c.name)), "color": color,
                  "png_index": index[c.id], "name": c.name, "class_name": c.name,
                  "type": ctype, "class_type": ctype}
        extra_keys = {k: hns[k] for k in ("description", "use_description_as_prompt")
                      if k in hns and not ns}
        rest = {k: v for k, v in ns.items() if k not in ("type", "color", "png_index")}
        table.append(_ordered(values, {**extra_keys, **rest}, CLASS_KEYS))
    stale = _previous_export(Path(path), CLASSES_FILE)
    n_files = len(rep.files)
    with atomic_folder(path, inside=True) as tmp:  # same file system as the PNGs (a mount point)
        _write_pngs(dataset, plan, tmp, rep, workers, NS if same else None)
        write_json(tmp / CLASSES_FILE, table, indent=True)
        rep.files.insert(n_files, CLASSES_FILE)
    _remove_stale(Path(path), stale, rep.files[n_files:])


def sniff(path: Path, head: bytes) -> int:
    """2 for a folder holding ``label_classes.json`` (or that file itself)."""
    if path.is_dir():
        p = path / CLASSES_FILE
        if not p.is_file():
            return 0
        try:
            with p.open("rb") as f:
                head = f.read(64)
        except OSError:
            return 0
    elif path.name != CLASSES_FILE:
        return 0
    return 2 if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[") else 0


# --------------------------------------------------------------------------------------
# index-png
# --------------------------------------------------------------------------------------


def parse_class_map(doc: Any, file: str | Path | None = None) -> tuple[list[Category], int]:
    """Categories and the background value from a parsed ``class_map.json`` (pure).

    >>> cats, bg = parse_class_map({"background": 0, "classes": [
    ...     {"index": 1, "name": "car", "color": [31, 120, 180]}]})
    >>> cats[0].name, cats[0].color, cats[0].extra["index_png"]["index"], bg
    ('car', (31, 120, 180, 255), 1, 0)
    """
    if not isinstance(doc, dict):
        raise ParseError(file, "$", f"expected a class map object, got {describe_value(doc)}")
    bg = doc.get("background", 0)
    if not isinstance(bg, int) or isinstance(bg, bool) or not 0 <= bg < 65536:
        raise ParseError(file, json_pointer("background"),
                         f"expected an integer 0..65535, got {describe_value(bg)}")
    classes = doc.get("classes")
    if not isinstance(classes, list):
        raise ParseError(file, json_pointer("classes"),
                         f"expected an array of classes, got {describe_value(classes)}")
    cats: list[Category] = []
    seen: dict[int, str] = {}
    for i, c in enumerate(classes):
        if not isinstance(c, dict):
            raise ParseError(file, json_pointer("classes", i),
                             f"expected a class object, got {describe_value(c)}")
        name, idx, color = c.get("name"), c.get("index"), c.get("color")
        if not isinstance(name, str):
            raise ParseError(file, json_pointer("classes", i, "name"),
                             f"expected a string, got {describe_value(name)}")
        if not isinstance(idx, int) or isinstance(idx, bool) or not 0 <= idx < 65536:
            raise ParseError(file, json_pointer("classes", i, "index"),
                             f"expected an integer 0..65535, got {describe_value(idx)}")
        if idx == bg or idx in seen:
            other = "the background value" if idx == bg else f"the index of {seen[idx]!r}"
            raise ParseError(file, json_pointer("classes", i, "index"),
                             f"index {idx} is already {other}")
        seen[idx] = name
        rgba = None
        if color is not None:
            ok = (isinstance(color, list) and len(color) in (3, 4)
                  and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255
                          for v in color))
            if not ok:
                raise ParseError(file, json_pointer("classes", i, "color"),
                                 f"expected [r, g, b] of integers 0..255, got {color}")
            rgba = tuple(color) if len(color) == 4 else (*color, 255)
        ns = {k: v for k, v in c.items() if k not in ("name", "color")}
        _keep_order(c, INDEX_CLASS_KEYS, ns, ())
        if color is not None and len(color) == 4:
            ns["color"] = color
        cats.append(Category(id=i + 1, name=name, color=rgba, extra={INDEX_NS: ns}))  # type: ignore[arg-type]
    return cats, bg


def read_index(path: str | Path, *, report: ConversionReport | None = None,
               workers: int = 1) -> Dataset:
    """Read a folder of index PNGs with ``class_map.json`` (or that file).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> from annoconv.model import Annotation, Box, Category, Dataset, Sample
    >>> ds = Dataset(categories=(Category(id=1, name="car"),), samples=(Sample(id=1,
    ...     file_name="a.jpg", width=3, height=2, annotations=(
    ...     Annotation(id=1, category_id=1, shape=Box(x0=0, y0=0, x1=2, y1=1)),)),))
    >>> write_index(ds, d)
    >>> sorted(p.name for p in d.iterdir())
    ['a.png', 'class_map.json']
    >>> read_index(d).samples[0].annotations[0].shape.area
    2
    """
    root = _root(Path(path), CLASS_MAP_FILE)
    doc = read_json(root / CLASS_MAP_FILE)
    cats, bg = parse_class_map(doc, root / CLASS_MAP_FILE)
    by_value = {c.extra[INDEX_NS]["index"]: c.id for c in cats}
    samples = _read_samples(root, by_value, None, bg, CLASS_MAP_FILE, workers, INDEX_NS)
    info: dict[str, Any] = {"background": bg}
    if isinstance(doc, dict) and list(doc) != ["background", "classes"]:
        info["_keys"] = list(doc)  # the table's keys as read (no background, other keys)
        info.update((k, v) for k, v in doc.items() if k not in ("background", "classes"))
    return Dataset(categories=tuple(cats), samples=tuple(samples), info={INDEX_NS: info})


def write_index(dataset: Dataset, path: str | Path, *, report: ConversionReport | None = None,
                background: int | None = None, palette: bool = True,
                labels_order: Sequence[str] | str = ("z_index",), workers: int = 1,
                compress_level: int = 6) -> None:
    """Write index PNGs and ``class_map.json`` atomically. Indices: the ones the data was read
    with, else 0, 1, 2... in class order skipping ``background``. ``path`` must be a new or
    empty folder or hold a previous index-png export, which is replaced (as :func:`write`).
    (Doctest in :func:`read_index`.)"""
    rep = report if report is not None else ConversionReport()
    orders = _check_orders(labels_order)
    if background is not None and not 0 <= background < 65536:
        raise OptionError(f"background must be an index 0-65535, got {background}")
    if background is None:
        info_ns = dataset.info.get(INDEX_NS)
        background = info_ns.get("background", 0) if isinstance(info_ns, dict) else 0
    cats = dataset.categories
    kept = [c.extra.get(INDEX_NS, {}).get("index") if isinstance(c.extra.get(INDEX_NS), dict)
            else None for c in cats]
    if all(isinstance(v, int) and 0 <= v < 65536 and v != background for v in kept) and \
            len(set(kept)) == len(kept):
        index = {c.id: v for c, v in zip(cats, kept)}
    else:
        free = (v for v in range(65536) if v != background)
        index = {c.id: next(free) for c in cats}
    top = max([background, *index.values()])
    dtype = "uint8" if top < 256 else "uint16"
    rgba = _colors(cats)
    pal = None
    if palette and dtype == "uint8":
        pal = [0] * (3 * (top + 1))  # only the entries in use: a 768-byte PLTE per file costs
        for c, col in zip(cats, rgba):
            pal[3 * index[c.id] : 3 * index[c.id] + 3] = list(col[:3])
    plan = Plan(values=index, kind_rank={c.id: 0 if c.kind == "stuff" else 1 for c in cats},
                order_rank=_order_rank(cats), labels_order=orders, palette=pal, dtype=dtype,
                background=background, compress_level=compress_level)
    classes = []
    for c, col in zip(cats, rgba):
        ns = c.extra.get(INDEX_NS) if isinstance(c.extra.get(INDEX_NS), dict) else {}
        as_read = isinstance(ns.get("color"), list) and tuple(ns["color"]) == c.color
        color = ns["color"] if as_read else list(col[:3])
        # class_map.json holds an index, a name and an RGB colour
        count_category_fields(rep, [c], color=True, alpha=as_read)
        _count_foreign_class_fields(rep, [c], keep=(INDEX_NS,))
        values = {"index": index[c.id], "name": c.name, "color": color}
        classes.append(_ordered(values, {k: v for k, v in ns.items() if k not in
                                         ("index", "color")}, INDEX_CLASS_KEYS))
    stale = _previous_export(Path(path), CLASS_MAP_FILE)
    n_files = len(rep.files)
    info_ns = dataset.info.get(INDEX_NS) if isinstance(dataset.info.get(INDEX_NS), dict) else {}
    table: dict[str, Any] = {"background": background, "classes": classes}
    table.update((k, v) for k, v in info_ns.items() if k not in ("background", "_keys"))
    keys = info_ns.get("_keys")
    if keys is not None and "background" not in keys and background == info_ns.get("background"):
        del table["background"]  # the source had none (0, the default, is what it meant)
    if keys is not None:  # the source's key order
        table = {**{k: table[k] for k in keys if k in table}, **{k: v for k, v in table.items() if k not in keys}}
    with atomic_folder(path, inside=True) as tmp:  # same file system as the PNGs (a mount point)
        # PNG modes and palettes as read, when this is the same index-png export again
        same = INDEX_NS in dataset.info and palette and background == info_ns.get("background")
        _write_pngs(dataset, plan, tmp, rep, workers, INDEX_NS if same else None)
        write_json(tmp / CLASS_MAP_FILE, table, indent=True)
        rep.files.insert(n_files, CLASS_MAP_FILE)
    _remove_stale(Path(path), stale, rep.files[n_files:])


def sniff_index(path: Path, head: bytes) -> int:
    """2 for a folder holding ``class_map.json`` (or that file itself)."""
    if path.is_dir():
        return 2 if (path / CLASS_MAP_FILE).is_file() else 0
    return 2 if path.name == CLASS_MAP_FILE else 0


_WRITE_OPTIONS = {
    "labels_order": "draw order where labels overlap: any of z_index, class_type, class_order "
                    "(first = primary key; default z_index)",
    "workers": "processes encoding PNGs in parallel (default 1)",
    "compress_level": "PNG zlib level 0-9 (default 6; 1 is ~1.5x faster, files ~1.5x larger)",
}

FORMAT = FormatSpec(
    name="semantic-png",
    description="Hasty semantic_png export: label_classes.json + one class-index PNG per image",
    extensions=(),
    sniff=sniff,
    read=read,
    write=write,
    folder=True,
    read_options={"workers": "processes decoding PNGs in parallel (default 1)"},
    write_options={"semantic_format": "gs_asc (default), gs_desc or class_color",
                   **_WRITE_OPTIONS},
)
INDEX_FORMAT = FormatSpec(
    name="index-png",
    description="folder of index PNGs (palette or grayscale) with class_map.json",
    extensions=(),
    sniff=sniff_index,
    read=read_index,
    write=write_index,
    folder=True,
    read_options={"workers": "processes decoding PNGs in parallel (default 1)"},
    write_options={"background": "pixel value of unlabelled pixels (default: as read, else 0)",
                   "palette": "write palette PNGs coloured by class (default true)",
                   **_WRITE_OPTIONS},
)
