"""What a conversion approximated or dropped, counted: the :class:`ConversionReport`.

Every reader and writer that must change the data (a mask traced to a polygon, a polygon
rasterised, a field the target has no place for, overlapping masks flattened, an unknown
status kept verbatim) calls :meth:`ConversionReport.add` with a short kind and, for the first
few cases, where it happened. Nothing is dropped silently.

>>> r = ConversionReport(source="hasty", target="coco")
>>> r.add("mask_to_polygon", where="image 'a.jpg' label 3")
>>> r.add("mask_to_polygon")
>>> r.count("mask_to_polygon")
2
>>> print(r)
hasty -> coco: 0 samples, 0 annotations written
  mask_to_polygon: 2  (mask traced to a polygon; e.g. image 'a.jpg' label 3)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BOOKKEEPING", "KINDS", "ConversionReport", "count_category_fields", "foreign_data", "unique_ids"]

#: The loss kinds annoconv reports, with their meaning (formats may add their own).
KINDS: dict[str, str] = {
    "mask_to_polygon": "mask traced to a polygon",
    "mask_to_polygon_simplified": "mask traced and simplified (pixels may differ)",
    "polygon_to_mask": "polygon rasterised to a mask",
    "hole_to_rle": "polygon with holes written as RLE (a COCO polygon cannot hold holes)",
    "hole_dropped": "polygon hole dropped (the target cannot hold holes)",
    "rotation_applied": "rotated box written as its axis-aligned bounds",
    "shape_dropped": "annotation dropped: the target cannot hold its shape",
    "shape_converted": "shape converted to another kind the target can hold",
    "overlap_hidden": "pixels hidden by an overlapping label (flattened to one layer)",
    "status_unmapped": "status the target cannot hold",
    "status_unknown": "status not in the known vocabulary (kept verbatim)",
    "status_merged": "status mapped many-to-one into the target's vocabulary",
    "attribute_dropped": "attribute values the target has no place for",
    "tag_dropped": "image tags the target has no place for",
    "field_dropped": "fields the target has no place for",
    "z_index_dropped": "z_index the target has no place for",
    "track_dropped": "track ids the target has no place for",
    "keypoints_dropped": "keypoints the target has no place for",
    "score_dropped": "scores the target has no place for",
    "bbox_recomputed": "stored bbox replaced by one computed from the shape",
    "area_computed": "area computed (the source stored none)",
    "area_recomputed": "stored area replaced by the pixel count the target requires",
    "empty_mask": "empty mask (no pixels)",
    "invalid_part_dropped": "polygon part with < 3 points or an odd count dropped",
    "invalid_polygon": "self-intersecting or otherwise invalid polygon (kept, even-odd rule)",
    "box_normalised": "box given max-first, normalised",
    "reference_missing": "annotation referring to a missing image or category (skipped)",
    "id_assigned": "ids assigned where the source had none",
    "id_zero_kept": "annotation or image id 0 kept as read (COCOeval ignores id 0)",
    "category_added": "category created for a label with an unknown class",
    "clipped": "geometry clipped to the image",
    "renamed": "file, class or attribute name changed so that two do not collide",
    "coordinates_rounded": "coordinates rounded to the target's integer pixels",
    "empty_image": "image of 0 pixels: no label image written",
    "png_mode_changed": "label PNG written in another mode than it was read (values did not fit)",
    "box_vertices_used": "rotated box rebuilt from its vertices (they disagreed with its rotation)",
    "label_missing": "annotation without a label, given a placeholder category",
    "size_unknown": "image without a known width/height",
    "mask_unavailable": "mask file not available, label kept without pixels",
    "mask_index_unknown": "mask pixel index not listed in the annotations",
    "mask_not_written": "mask the target writer does not re-encode (kept as a reference)",
    "attribute_converted": "attribute value converted to the target's type",
    "attribute_type_unknown": "attribute of a type not in the known vocabulary (kept verbatim)",
    "name_duplicate": "name used by more than one item (kept; lookups by name are ambiguous)",
    "category_dropped": "category no annotation uses (the target lists classes only through its labels)",
    "instances_merged": "annotations of one class merged into one region (the target holds a class per pixel)",
}


@dataclass
class ConversionReport:
    """Counts per kind of approximation or loss, with up to ``max_examples`` locations each.

    ``samples`` and ``annotations`` count what the writer wrote; ``files`` lists the files it
    wrote (relative to the destination when possible).
    """

    source: str | None = None
    target: str | None = None
    samples: int = 0
    annotations: int = 0
    files: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    max_examples: int = 3

    def add(self, kind: str, n: int = 1, *, where: str | None = None) -> None:
        """Count ``n`` cases of ``kind``; ``where`` locates one (kept for the first few)."""
        if n <= 0:
            return
        self.counts[kind] += n
        if where is not None:
            ex = self.examples.setdefault(kind, [])
            if len(ex) < self.max_examples:
                ex.append(where)

    def count(self, kind: str) -> int:
        return self.counts.get(kind, 0)

    @property
    def lossless(self) -> bool:
        """True when nothing was approximated or dropped."""
        return not any(self.counts.values())

    def merge(self, other: ConversionReport) -> None:
        """Add another report's counts (e.g. from a worker process)."""
        self.samples += other.samples
        self.annotations += other.annotations
        self.files += other.files
        for k, n in other.counts.items():
            self.counts[k] += n
        for k, ex in other.examples.items():
            mine = self.examples.setdefault(k, [])
            mine.extend(ex[: max(0, self.max_examples - len(mine))])

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "samples": self.samples,
            "annotations": self.annotations,
            "files": list(self.files),
            "counts": dict(sorted(self.counts.items())),
            "examples": {k: list(v) for k, v in sorted(self.examples.items())},
        }

    def __str__(self) -> str:
        head = (
            f"{self.source or '?'} -> {self.target or '?'}: {self.samples} samples, "
            f"{self.annotations} annotations written"
        )
        lines = [head]
        for kind, n in sorted(self.counts.items()):
            what = KINDS.get(kind, kind.replace("_", " "))
            ex = self.examples.get(kind)
            eg = f"; e.g. {', '.join(ex)}" if ex else ""
            lines.append(f"  {kind}: {n}  ({what}{eg})")
        return "\n".join(lines)


def count_category_fields(
    report: ConversionReport | None,
    categories: Iterable[Any],
    *,
    color: bool = False,
    alpha: bool = False,
    kind: bool = False,
    supercategory: bool = False,
    keypoints: bool = False,
) -> None:
    """Count, as ``field_dropped``, the category fields a writer has no place for; the flags
    say what it can hold (``alpha``: the colour's alpha too; ``keypoints``: the keypoint
    names and skeleton).

    >>> from annoconv.model import Category
    >>> r = ConversionReport()
    >>> count_category_fields(r, [Category(id=1, name="road", kind="stuff", color=(9, 9, 9, 77))],
    ...                       color=True)
    >>> r.examples["field_dropped"]
    ["category 'road': colour alpha, stuff kind"]
    """
    if report is None:
        return
    for c in categories:
        lost = []
        if c.color is not None and not color:
            lost.append("colour")
        elif c.color is not None and not alpha and c.color[3] != 255:
            lost.append("colour alpha")
        if c.kind == "stuff" and not kind:
            lost.append("stuff kind")
        if c.supercategory and not supercategory:
            lost.append("supercategory")
        if (c.keypoint_names or c.skeleton) and not keypoints:
            lost.append("keypoint schema")
        if lost:
            report.add("field_dropped", where=f"category {c.name!r}: {', '.join(lost)}")


def unique_ids(ids: Iterable[Any], report: ConversionReport | None, what: str) -> list[Any]:
    """``ids`` with each repeat (by value: 1 and "1" differ) renamed ``"<id>_2"``,
    ``"<id>_3"``... (counted ``id_assigned``): sample ids ``1`` and ``"1"`` both written as
    the string "1", say.

    >>> unique_ids(["1", "1", 2, "2"], None, "task")
    ['1', '1_2', 2, '2']
    """
    out: list[Any] = []
    seen: set[Any] = set()
    for i in ids:
        new, n = i, 2
        while new in seen:
            new, n = f"{i}_{n}", n + 1
        if new != i and report is not None:
            report.add("id_assigned", where=f"{what} {i!r} -> {new!r}")
        seen.add(new)
        out.append(new)
    return out


#: Entries readers keep for their own writer (key order, keys a source lacked, a polygon's
#: open end...): not data another format loses. A source's own keys are data, "_meta" too.
BOOKKEEPING = frozenset(("_keys", "_absent", "_open", "_polygon_for", "_color_kept",
                         "_size_from_png", "_record", "_panoptic", "_annoconv"))  # _annoconv: Scale's


def foreign_data(extra: Mapping[str, Any], own: str) -> bool:
    """Whether ``extra`` holds another format's data (which a writer for ``own`` drops and
    counts): ``BOOKKEEPING`` entries are not data.

    >>> foreign_data({"coco": {"_keys": ["id", "name"]}}, "hasty"), foreign_data({"coco": {"_meta": 4}}, "hasty")
    (False, True)
    """
    return any(k != own and (any(x not in BOOKKEEPING for x in v) if isinstance(v, Mapping) else bool(v))
               for k, v in extra.items())
