"""The canonical label model: every reader produces it, every writer consumes it.

A :class:`Dataset` is a header (categories, attribute specs, info) plus samples; a
:class:`Sample` is one image with its :class:`Annotation` s; an annotation has one shape:
:class:`Box`, :class:`Polygon` (parts, each an exterior ring plus holes), :class:`Mask`
(an :class:`~annoconv.rle.RLE`, never a dense array), :class:`Polyline`, :class:`Keypoints`
or :class:`Ellipse`; ``shape=None`` is an image-level (classification) annotation.

Coordinates are continuous pixel-edge coordinates: origin at the top-left corner of pixel
(0, 0), x to the right, y down; pixel (r, c) covers ``[c, c+1) x [r, r+1)``::

    (0,0) ──── x ────▶ (W,0)
      │  ┌───┬───┐
      │  │0,0│0,1│      Box(x0=0, y0=0, x1=2, y1=1) covers pixels (0,0) and (0,1):
      y  ├───┼───┤      COCO [x, y, w, h] = [0, 0, 2, 1]; Hasty [x0, y0, x1, y1] = [0, 0, 2, 1]
      │  │1,0│1,1│
      ▼  └───┴───┘

Every type is a frozen, slotted, keyword-only dataclass; numpy arrays inside are read-only.
``extra`` dicts hold what the model has no field for (so a same-format round trip is exact),
in one namespace dict per format: ``extra["coco"] = {"license": 4, ...}``,
``extra["hasty"] = {"image_id": ...}``; a writer of another format ignores those namespaces
and counts what it cannot hold. The model imports no format module.

>>> box = Box(x0=10, y0=20, x1=50, y1=60)
>>> ann = Annotation(id=1, category_id=3, shape=box)
>>> ann.bbox.to_xywh()
(10, 20, 40, 40)
"""

from __future__ import annotations

import enum
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from . import rle as _rle
from .rle import RLE

__all__ = [
    "Annotation",
    "AttributeSpec",
    "Box",
    "Category",
    "Dataset",
    "Ellipse",
    "Keypoints",
    "Mask",
    "Polygon",
    "PolygonPart",
    "Polyline",
    "Sample",
    "Shape",
    "Status",
    "Visibility",
]

Number: TypeAlias = int | float
JSONDict: TypeAlias = dict[str, Any]

_frozen = dataclass(frozen=True, slots=True, kw_only=True)
_NUMBER_TYPES = (int, float)


def _strings(value: Any, what: str) -> tuple[Any, ...]:
    """A sequence as a tuple; a lone string is refused (``tuple("abc")`` would be 3 names)."""
    if isinstance(value, str):
        raise TypeError(f"{what} must be a sequence of strings, got the string {value!r}")
    return tuple(value)


def _rebuild(cls: type, fields: dict[str, Any]) -> Any:
    """Unpickle through the constructor, so that arrays come back checked and read-only."""
    return cls(**fields)


class _Rebuilt:
    """Pickling (and deepcopy) through the constructor, for the shapes holding arrays."""

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), {f.name: getattr(self, f.name) for f in fields(self)}))


class Status(str, enum.Enum):
    """The canonical annotation status every platform's status maps to.

    The original string always stays in the sample's ``extra`` (e.g.
    ``extra["hasty.image_status"]``), so a same-format round trip gives it back.
    """

    NEW = "new"
    IN_PROGRESS = "in_progress"
    TO_REVIEW = "to_review"
    DONE = "done"
    REVIEWED = "reviewed"
    REJECTED = "rejected"
    SKIPPED = "skipped"
    PRELABELED = "prelabeled"

    def __str__(self) -> str:
        return self.value


def _points_array(points: npt.ArrayLike, what: str, min_points: int = 0) -> npt.NDArray[Any]:
    """A read-only (n, 2) coordinate array; ints stay int64, anything else float64."""
    arr = np.asarray(points)
    if arr.size == 0:
        arr = arr.reshape(0, 2).astype(np.float64)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise ValueError(f"{what}: coordinates must be numbers, got {arr.dtype}")
    if arr.ndim == 1:
        if arr.size % 2:
            raise ValueError(f"{what}: {arr.size} coordinates; expected (x, y) pairs")
        arr = arr.reshape(-1, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{what}: expected shape (n, 2), got {arr.shape}")
    arr = arr.astype(np.int64 if arr.dtype.kind in "iu" else np.float64, copy=True)
    if arr.dtype == np.float64 and not np.isfinite(arr).all():
        raise ValueError(f"{what}: coordinates must be finite")
    if arr.shape[0] < min_points:
        raise ValueError(f"{what}: {arr.shape[0]} points; expected at least {min_points}")
    arr.flags.writeable = False
    return arr


def _span(lo: Number, hi: Number) -> Number:
    """``hi - lo``, as the shortest decimal d with ``lo + d == hi`` when floats are involved."""
    d = hi - lo
    if d.__class__ is int:
        return d
    for digits in range(16):
        r = round(d, digits)
        if lo + r == hi:
            return r
    return d


_HEX_COLOR = re.compile(r"#([0-9a-fA-F]{6})([0-9a-fA-F]{2})?")


def rgba_from_hex(text: object, *, alpha: bool = True) -> tuple[int, int, int, int] | None:
    """``"#RRGGBB"`` (or ``"#RRGGBBAA"`` when ``alpha``) as an RGBA tuple, alpha 255 when
    absent; None for anything else.

    >>> rgba_from_hex("#1f78b44d"), rgba_from_hex("#6A3D9A"), rgba_from_hex("red")
    ((31, 120, 180, 77), (106, 61, 154, 255), None)
    >>> rgba_from_hex("#1f78b44d", alpha=False) is None
    True
    """
    if not isinstance(text, str):
        return None
    m = _HEX_COLOR.fullmatch(text)
    if m is None or (m.group(2) and not alpha):
        return None
    rgb, a = m.group(1), m.group(2) or "ff"
    return (int(rgb[0:2], 16), int(rgb[2:4], 16), int(rgb[4:6], 16), int(a, 16))


def rgba_to_hex(rgba: Sequence[int], *, alpha: bool = True) -> str:
    """Lower-case ``"#rrggbbaa"`` (``"#rrggbb"`` without ``alpha``).

    >>> rgba_to_hex((31, 120, 180, 77)), rgba_to_hex((31, 120, 180, 77), alpha=False)
    ('#1f78b44d', '#1f78b4')
    """
    return "#" + "".join(f"{v:02x}" for v in (rgba if alpha else rgba[:3]))


def _array_eq(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b))


# --------------------------------------------------------------------------------------
# shapes
# --------------------------------------------------------------------------------------


@_frozen
class Box:
    """An axis-aligned box ``[x0, x1) x [y0, y1)`` in pixel-edge coordinates, optionally
    rotated by ``rotation`` degrees (clockwise on screen, about its centre), as FastLabel
    and Scale store rotated boxes. Numbers keep their type (int or float).

    >>> Box.from_xywh(10, 20, 30, 40)
    Box(x0=10, y0=20, x1=40, y1=60, rotation=0)
    >>> Box(x0=0, y0=0, x1=1, y1=1).to_xywh()
    (0, 0, 1, 1)
    """

    x0: Number
    y0: Number
    x1: Number
    y1: Number
    rotation: Number = 0

    def __post_init__(self) -> None:
        for name in ("x0", "y0", "x1", "y1", "rotation"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"Box.{name} must be a finite number, got {v!r}")
        if self.x1 < self.x0 or self.y1 < self.y0:
            raise ValueError(
                f"Box needs x0 <= x1 and y0 <= y1, got x0={self.x0}, y0={self.y0}, "
                f"x1={self.x1}, y1={self.y1}"
            )

    @classmethod
    def _trusted(cls, x0: Number, y0: Number, x1: Number, y1: Number) -> Box:
        """A box from numbers a reader has already checked (finite, x0 <= x1, y0 <= y1)."""
        self = object.__new__(cls)
        _set = object.__setattr__
        _set(self, "x0", x0)
        _set(self, "y0", y0)
        _set(self, "x1", x1)
        _set(self, "y1", y1)
        _set(self, "rotation", 0)
        return self

    @classmethod
    def from_xywh(cls, x: Number, y: Number, w: Number, h: Number, rotation: Number = 0) -> Box:
        """From COCO's ``[x, y, width, height]``."""
        return cls(x0=x, y0=y, x1=x + w, y1=y + h, rotation=rotation)

    @classmethod
    def from_xyxy(cls, x0: Number, y0: Number, x1: Number, y1: Number) -> Box:
        """From ``[x0, y0, x1, y1]`` (Hasty's bbox, max edges exclusive)."""
        return cls(x0=x0, y0=y0, x1=x1, y1=y1)

    def to_xywh(self) -> tuple[Number, Number, Number, Number]:
        """``(x, y, width, height)``; a float width is the shortest decimal that gives x1
        back (``Box.from_xywh(0.1, 0, 0.2, 1).to_xywh()[2]`` is 0.2, not
        0.20000000000000004), which is the source's own width for ordinary numbers. It
        cannot be when ``x + w`` lost digits (``w`` = 0.30000000000000004, or 0.3 at x = 1e15):
        readers that must be exact keep such numbers as read (COCO's does).

        >>> Box.from_xywh(0.1, 0.7, 0.2, 0.1).to_xywh()
        (0.1, 0.7, 0.2, 0.1)
        """
        return (self.x0, self.y0, _span(self.x0, self.x1), _span(self.y0, self.y1))

    def to_xyxy(self) -> tuple[Number, Number, Number, Number]:
        return (self.x0, self.y0, self.x1, self.y1)

    @property
    def width(self) -> Number:
        return _span(self.x0, self.x1)

    @property
    def height(self) -> Number:
        return _span(self.y0, self.y1)

    @property
    def area(self) -> Number:
        return (self.x1 - self.x0) * (self.y1 - self.y0)

    def corners(self) -> npt.NDArray[np.float64]:
        """The four corners (x, y) in order top-left, top-right, bottom-right, bottom-left,
        rotated about the centre when ``rotation`` is not 0 (clockwise on screen, y down)."""
        pts = np.array(
            [[self.x0, self.y0], [self.x1, self.y0], [self.x1, self.y1], [self.x0, self.y1]],
            np.float64,
        )
        if self.rotation:
            cx, cy = (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2
            t = math.radians(self.rotation)
            c, s = math.cos(t), math.sin(t)
            if self.rotation % 90 == 0:  # exact at right angles (cos 90 deg is 6e-17 in floats)
                c, s = round(c), round(s)
            d = pts - (cx, cy)
            pts = np.stack([cx + d[:, 0] * c - d[:, 1] * s, cy + d[:, 0] * s + d[:, 1] * c], 1)
        return pts

    def bounds(self) -> Box:
        """The axis-aligned box around this (possibly rotated) box."""
        if not self.rotation:
            return self
        c = self.corners()
        return Box(
            x0=float(c[:, 0].min()), y0=float(c[:, 1].min()),
            x1=float(c[:, 0].max()), y1=float(c[:, 1].max()),
        )


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class PolygonPart(_Rebuilt):
    """One connected piece: an exterior ring and zero or more holes, each an (n, 2) array of
    (x, y) vertices, the ring implicitly closed (the first vertex is not repeated)."""

    exterior: npt.NDArray[Any]
    holes: tuple[npt.NDArray[Any], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "exterior", _points_array(self.exterior, "polygon exterior"))
        object.__setattr__(
            self, "holes", tuple(_points_array(h, "polygon hole") for h in self.holes)
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PolygonPart):
            return NotImplemented
        return (
            _array_eq(self.exterior, other.exterior)
            and len(self.holes) == len(other.holes)
            and all(_array_eq(a, b) for a, b in zip(self.holes, other.holes, strict=True))
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        holes = f", holes=<{len(self.holes)}>" if self.holes else ""
        return f"PolygonPart(exterior=<{len(self.exterior)} points>{holes})"


class Polygon:
    """A polygon of one or more parts, each with holes.

    >>> p = Polygon.from_coco([[0, 0, 10, 0, 10, 10, 0, 10]])
    >>> p.parts[0].exterior.tolist()
    [[0, 0], [10, 0], [10, 10], [0, 10]]
    >>> p.to_coco(), p.has_holes
    ([[0, 0, 10, 0, 10, 10, 0, 10]], False)

    A reader may build a polygon from its JSON text in COCO's flat layout
    (:meth:`from_flat_json`): the parts are then parsed on first use, and writers of that
    layout emit the text as it was read (exact, and no float formatting cost).
    """

    __slots__ = ("_parts", "_source", "_where")

    _parts: tuple[PolygonPart, ...] | None
    _source: bytes | None
    _where: str | None

    def __init__(self, *, parts: Iterable[PolygonPart]) -> None:
        parts = tuple(parts)
        if not all(isinstance(p, PolygonPart) for p in parts):
            raise TypeError("Polygon.parts must be PolygonPart objects")
        object.__setattr__(self, "_parts", parts)
        object.__setattr__(self, "_source", None)
        object.__setattr__(self, "_where", None)

    @classmethod
    def from_flat_json(cls, text: bytes, *, where: str | None = None) -> Polygon:
        """A polygon backed by the JSON text ``[[x0, y0, x1, y1, ...], ...]`` (no holes),
        parsed on first access to :attr:`parts`. The caller has checked the structure;
        ``where`` names the source location for an error raised when parsing."""
        self = object.__new__(cls)
        object.__setattr__(self, "_parts", None)
        object.__setattr__(self, "_source", bytes(text))
        object.__setattr__(self, "_where", where)
        return self

    @property
    def parts(self) -> tuple[PolygonPart, ...]:
        parts = self._parts
        if parts is None:
            parts = _parse_flat_json(self._source or b"[]", self._where)
            object.__setattr__(self, "_parts", parts)
        return parts

    @property
    def flat_json(self) -> bytes | None:
        """The JSON text this polygon was read from (COCO flat layout), or None."""
        return self._source

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Polygon is immutable")

    def __reduce__(self):
        if self._source is not None:
            return (_polygon_from_json, (self._source, self._where))
        return (_polygon_from_parts, (self.parts,))

    def __repr__(self) -> str:
        return f"Polygon(parts={self.parts!r})"

    @classmethod
    def from_coco(cls, parts: Sequence[Sequence[Number]]) -> Polygon:
        """From COCO's list of flat ``[x0, y0, x1, y1, ...]`` parts (no holes)."""
        return cls(parts=tuple(PolygonPart(exterior=p) for p in parts))

    @classmethod
    def from_rings(
        cls, exterior: npt.ArrayLike, holes: Sequence[npt.ArrayLike] = ()
    ) -> Polygon:
        """A one-part polygon from an exterior ring and holes, each ``[(x, y), ...]``."""
        return cls(parts=(PolygonPart(exterior=exterior, holes=tuple(holes)),))  # type: ignore[arg-type]

    def to_coco(self) -> list[list[Number]]:
        """Flat exterior rings, one per part (holes are not representable: see has_holes)."""
        return [p.exterior.reshape(-1).tolist() for p in self.parts]

    @property
    def has_holes(self) -> bool:
        if self._parts is None and self._source is not None:
            return False  # the flat layout holds no holes
        return any(p.holes for p in self.parts)

    def rings(self) -> Iterator[npt.NDArray[Any]]:
        """Every ring: each part's exterior followed by its holes."""
        for p in self.parts:
            yield p.exterior
            yield from p.holes

    def bounds(self) -> Box | None:
        """Vertex extents as a Box (None when there are no vertices)."""
        ext = [p.exterior for p in self.parts if len(p.exterior)]
        if not ext:
            return None
        pts = np.concatenate(ext)
        lo, hi = pts.min(axis=0).tolist(), pts.max(axis=0).tolist()
        return Box(x0=lo[0], y0=lo[1], x1=hi[0], y1=hi[1])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Polygon):
            return NotImplemented
        if self._source is not None and self._source == other._source:
            return True
        return len(self.parts) == len(other.parts) and all(
            a == b for a, b in zip(self.parts, other.parts, strict=True)
        )

    __hash__ = None  # type: ignore[assignment]


def _polygon_from_json(source: bytes, where: str | None) -> Polygon:
    return Polygon.from_flat_json(source, where=where)


def _polygon_from_parts(parts: tuple[PolygonPart, ...]) -> Polygon:
    return Polygon(parts=parts)


def _parse_flat_json(text: bytes, where: str | None) -> tuple[PolygonPart, ...]:
    import msgspec

    try:
        raw = msgspec.json.decode(text, type=list[list[int | float]])
        return tuple(PolygonPart(exterior=p) for p in raw)
    except (msgspec.DecodeError, ValueError) as e:
        from .errors import ParseError

        raise ParseError(None, where, f"invalid polygon: {e}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Mask:
    """A binary mask held as an RLE of the full image (never a dense array).

    >>> import numpy as np
    >>> m = Mask.from_array(np.eye(3, dtype=bool))
    >>> m.area, m.bounds().to_xyxy()
    (3, (0, 0, 3, 3))
    """

    rle: RLE

    def __post_init__(self) -> None:
        if not isinstance(self.rle, RLE):
            raise TypeError(f"Mask.rle must be an annoconv.rle.RLE, got {type(self.rle).__name__}")

    @classmethod
    def from_array(cls, mask: npt.ArrayLike) -> Mask:
        return cls(rle=_rle.encode(mask))

    def to_array(self) -> npt.NDArray[np.bool_]:
        """A dense (height, width) bool array: for one step only, not for storage."""
        return _rle.decode(self.rle)

    @property
    def area(self) -> int:
        return _rle.area(self.rle)

    @property
    def height(self) -> int:
        return self.rle.height

    @property
    def width(self) -> int:
        return self.rle.width

    def bounds(self) -> Box | None:
        xyxy = _rle.to_xyxy(self.rle)
        return None if xyxy is None else Box(x0=xyxy[0], y0=xyxy[1], x1=xyxy[2], y1=xyxy[3])


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Polyline(_Rebuilt):
    """An open line through (n, 2) points (``closed=True`` for a ring drawn as a line)."""

    points: npt.NDArray[Any]
    closed: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", _points_array(self.points, "polyline"))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Polyline):
            return NotImplemented
        return self.closed == other.closed and _array_eq(self.points, other.points)

    __hash__ = None  # type: ignore[assignment]

    def bounds(self) -> Box | None:
        if not len(self.points):
            return None
        lo, hi = self.points.min(axis=0).tolist(), self.points.max(axis=0).tolist()
        return Box(x0=lo[0], y0=lo[1], x1=hi[0], y1=hi[1])


_VISIBILITIES = np.array([0, 1, 2])


class Visibility(enum.IntEnum):
    """Keypoint visibility, COCO's v: 0 not labelled, 1 labelled but hidden, 2 visible."""

    NOT_LABELED = 0
    OCCLUDED = 1
    VISIBLE = 2


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Keypoints(_Rebuilt):
    """K points with a COCO visibility each; ``names`` come from the category (or here for
    formats that name each point). Points of unlabelled keypoints are kept as given."""

    points: npt.NDArray[Any]
    visibility: npt.NDArray[np.int8]
    names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        pts = _points_array(self.points, "keypoints")
        raw = np.asarray(self.visibility).reshape(-1)
        if raw.shape[0] != pts.shape[0]:
            raise ValueError(f"keypoints: {pts.shape[0]} points but {raw.shape[0]} visibilities")
        if raw.size and not np.isin(raw, _VISIBILITIES).all():  # before int8 could wrap 258 to 2
            raise ValueError("keypoints: visibility must be 0, 1 or 2")
        vis = raw.astype(np.int8)  # a copy, also when it already was int8
        vis.flags.writeable = False
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "visibility", vis)
        if self.names is not None:
            object.__setattr__(self, "names", _strings(self.names, "Keypoints.names"))
            if len(self.names) != pts.shape[0]:
                raise ValueError(f"keypoints: {pts.shape[0]} points but {len(self.names)} names")

    @classmethod
    def from_coco(cls, flat: Sequence[Number]) -> Keypoints:
        """From COCO's flat ``[x1, y1, v1, x2, y2, v2, ...]``."""
        a = np.asarray(flat)
        if a.size % 3:
            raise ValueError(f"keypoints: {a.size} values; expected (x, y, v) triplets")
        a = a.reshape(-1, 3)
        vis, pts = a[:, 2], a[:, :2]
        if vis.size and not np.isin(vis, _VISIBILITIES).all():
            raise ValueError("keypoints: visibility must be 0, 1 or 2")
        if pts.dtype == object:  # integers beyond 64 bits somewhere: as doubles
            try:
                pts = pts.astype(np.float64)
            except (TypeError, ValueError, OverflowError):
                raise ValueError("keypoints: coordinates must be numbers") from None
        return cls(points=pts, visibility=vis)

    def to_coco(self) -> list[Number]:
        out: list[Number] = []
        for (x, y), v in zip(self.points.tolist(), self.visibility.tolist(), strict=True):
            out += [x, y, v]
        return out

    @property
    def num_labeled(self) -> int:
        """COCO's ``num_keypoints``: how many have visibility > 0."""
        return int((self.visibility > 0).sum())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Keypoints):
            return NotImplemented
        return (
            _array_eq(self.points, other.points)
            and _array_eq(self.visibility, other.visibility)
            and self.names == other.names
        )

    __hash__ = None  # type: ignore[assignment]

    def bounds(self) -> Box | None:
        pts = self.points[self.visibility > 0]
        if not len(pts):
            return None
        lo, hi = pts.min(axis=0).tolist(), pts.max(axis=0).tolist()
        return Box(x0=lo[0], y0=lo[1], x1=hi[0], y1=hi[1])


@_frozen
class Ellipse:
    """An ellipse (a circle when rx == ry) centred at (cx, cy), rotated ``rotation`` degrees
    clockwise on screen."""

    cx: Number
    cy: Number
    rx: Number
    ry: Number
    rotation: Number = 0

    def __post_init__(self) -> None:
        for name in ("cx", "cy", "rx", "ry", "rotation"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"Ellipse.{name} must be a finite number, got {v!r}")
        if self.rx < 0 or self.ry < 0:
            raise ValueError("Ellipse radii must be >= 0")

    def bounds(self) -> Box:
        t = math.radians(self.rotation)
        hw = math.hypot(self.rx * math.cos(t), self.ry * math.sin(t))
        hh = math.hypot(self.rx * math.sin(t), self.ry * math.cos(t))
        return Box(x0=self.cx - hw, y0=self.cy - hh, x1=self.cx + hw, y1=self.cy + hh)


Shape: TypeAlias = Box | Polygon | Mask | Polyline | Keypoints | Ellipse
SHAPE_TYPES: tuple[type, ...] = (Box, Polygon, Mask, Polyline, Keypoints, Ellipse)


def shape_bounds(shape: Shape | None) -> Box | None:
    """The axis-aligned box around a shape (vertex extents for polygons and lines, the tight
    pixel box for masks, labelled points for keypoints), or None."""
    return None if shape is None else shape.bounds()


# --------------------------------------------------------------------------------------
# the header and samples
# --------------------------------------------------------------------------------------


@_frozen
class Category:
    """A label class. ``id`` is kept as the source has it (COCO ids are not contiguous);
    formats that name classes only get ids assigned in file order from 1.

    ``kind`` is ``"thing"`` (countable objects: Hasty object, Segments has_instances,
    COCO panoptic isthing=1) or ``"stuff"``. ``color`` is RGBA 0-255 or None.
    """

    id: int
    name: str
    color: tuple[int, int, int, int] | None = None
    kind: Literal["thing", "stuff"] = "thing"
    supercategory: str | None = None
    keypoint_names: tuple[str, ...] | None = None
    skeleton: tuple[tuple[int, int], ...] | None = None  # 1-based pairs, as COCO
    extra: JSONDict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.id, bool) or not isinstance(self.id, int):
            raise ValueError(f"Category.id must be an int, got {self.id!r}")
        if self.kind not in ("thing", "stuff"):
            raise ValueError(f"Category.kind must be 'thing' or 'stuff', got {self.kind!r}")
        if self.color is not None:
            c = tuple(int(v) for v in self.color)
            if len(c) == 3:
                c = (*c, 255)
            if len(c) != 4 or not all(0 <= v <= 255 for v in c):
                raise ValueError(f"Category.color must be RGB(A) 0-255, got {self.color!r}")
            object.__setattr__(self, "color", c)
        if self.keypoint_names is not None:
            object.__setattr__(self, "keypoint_names", _strings(self.keypoint_names, "Category.keypoint_names"))
        if self.skeleton is not None:
            object.__setattr__(self, "skeleton", tuple(tuple(e) for e in self.skeleton))

    __hash__ = None  # type: ignore[assignment]


AttributeType = Literal["select", "multiselect", "text", "int", "float", "bool"]


@_frozen
class AttributeSpec:
    """An attribute definition: its name, value type, allowed values (for select types) and
    the category ids it applies to (``None``: all; image-level attributes use ``scope``)."""

    name: str
    type: AttributeType
    values: tuple[Any, ...] = ()
    category_ids: tuple[int, ...] | None = None
    scope: Literal["annotation", "image"] = "annotation"
    default: Any = None
    extra: JSONDict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in ("select", "multiselect", "text", "int", "float", "bool"):
            raise ValueError(f"AttributeSpec.type {self.type!r} is not a known type")
        if self.scope not in ("annotation", "image"):
            raise ValueError(f"AttributeSpec.scope must be 'annotation' or 'image', got {self.scope!r}")
        object.__setattr__(self, "values", tuple(self.values))
        if self.category_ids is not None:
            object.__setattr__(self, "category_ids", tuple(self.category_ids))

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True, kw_only=True)
class Annotation:
    """One label on an image.

    ``keypoints`` are points attached to an object whose ``shape`` is its region (a COCO
    person: polygon + 17 keypoints); a keypoints-only label has ``shape=Keypoints(...)``.

    ``bbox`` is the source's own box when it stored one (COCO ``bbox``, Hasty ``bbox``),
    otherwise derived from the shape (see :func:`shape_bounds`); read it with
    :attr:`bbox`, which falls back to the shape's bounds. ``area`` likewise keeps a stored
    value (COCO's ``area``) or is None.
    """

    id: int | str | None
    category_id: int | None
    shape: Shape | None = None
    stored_bbox: Box | None = None
    area: Number | None = None
    z_index: Number | None = None
    iscrowd: bool = False
    score: float | None = None
    attributes: JSONDict = field(default_factory=dict)
    track_id: int | str | None = None
    keypoints: Keypoints | None = None
    extra: JSONDict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Runs for every annotation of a dataset: kept to a few cheap checks.
        kp, shape = self.keypoints, self.shape
        if kp is not None and kp.__class__ is not Keypoints and not isinstance(kp, Keypoints):
            raise TypeError("Annotation.keypoints must be Keypoints or None")
        if shape is not None and shape.__class__ not in SHAPE_TYPES and not isinstance(shape, SHAPE_TYPES):
            raise TypeError(f"Annotation.shape must be a shape type, got {type(shape).__name__}")
        if self.stored_bbox is not None and self.stored_bbox.__class__ is not Box:
            raise TypeError(f"Annotation.stored_bbox must be a Box or None, got {type(self.stored_bbox).__name__}")
        for name, v in (("area", self.area), ("z_index", self.z_index), ("score", self.score)):
            if v is None or (v.__class__ in _NUMBER_TYPES and math.isfinite(v)):
                continue
            if isinstance(v, (np.integer, np.floating)) and math.isfinite(v):  # a model's score
                object.__setattr__(self, name, v.item())  # as a Python number, for every writer
                continue
            raise ValueError(f"Annotation.{name} must be a finite number or None, got {v!r}")

    @property
    def bbox(self) -> Box | None:
        """The stored box if the source had one, else the shape's bounds."""
        return self.stored_bbox if self.stored_bbox is not None else shape_bounds(self.shape)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    """One image: its identity, size, split, status, tags, image-level attributes and
    annotations."""

    id: int | str
    file_name: str
    width: int | None = None
    height: int | None = None
    subset: str | None = None
    status: Status | None = None
    tags: tuple[str, ...] = ()
    attributes: JSONDict = field(default_factory=dict)
    annotations: tuple[Annotation, ...] = ()
    extra: JSONDict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "annotations", tuple(self.annotations))
        object.__setattr__(self, "tags", _strings(self.tags, "Sample.tags"))
        if self.status is not None and not isinstance(self.status, Status):
            object.__setattr__(self, "status", Status(self.status))

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True, kw_only=True)
class Dataset:
    """A header (categories, attribute specs, info) and samples.

    ``samples`` is a tuple, or any iterable for streaming (a reader's ``iter_samples``):
    a streamed dataset can be consumed once (:attr:`is_streaming`).

    >>> ds = Dataset(categories=(Category(id=1, name="cat"),), samples=())
    >>> ds.category_by_name("cat").id
    1
    """

    categories: tuple[Category, ...] = ()
    samples: Sequence[Sample] | Iterable[Sample] = ()
    attribute_specs: tuple[AttributeSpec, ...] = ()
    info: JSONDict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", tuple(self.categories))
        object.__setattr__(self, "attribute_specs", tuple(self.attribute_specs))
        if isinstance(self.samples, list):
            object.__setattr__(self, "samples", tuple(self.samples))
        ids = [c.id for c in self.categories]
        if len(set(ids)) != len(ids):
            dup = next(i for i, n in Counter(ids).items() if n > 1)
            raise ValueError(f"category id {dup} appears more than once")

    __hash__ = None  # type: ignore[assignment]

    @property
    def is_streaming(self) -> bool:
        return not isinstance(self.samples, Sequence)

    def category_by_id(self, category_id: int) -> Category:
        """The category with this id (KeyError if none)."""
        for c in self.categories:
            if c.id == category_id:
                return c
        raise KeyError(f"no category with id {category_id}")

    def category_by_name(self, name: str) -> Category:
        """The first category with this name (KeyError if none)."""
        for c in self.categories:
            if c.name == name:
                return c
        raise KeyError(f"no category named {name!r}")

    def iter_annotations(self) -> Iterator[tuple[Sample, Annotation]]:
        """Every (sample, annotation) pair in order."""
        for s in self.samples:
            for a in s.annotations:
                yield s, a

    def materialize(self) -> Dataset:
        """The same dataset with its samples read into a tuple (a no-op if they are)."""
        if not self.is_streaming:
            return self
        return replace(self, samples=tuple(self.samples))

    def stats(self) -> dict[str, Any]:
        """Counts: samples, annotations, per category name, per shape kind, per status.

        >>> Dataset(samples=(Sample(id=1, file_name="a.png"),)).stats()["samples"]
        1
        """
        names = {c.id: c.name for c in self.categories}
        per_cat: Counter[str] = Counter()
        per_shape: Counter[str] = Counter()
        per_status: Counter[str] = Counter()
        n_samples = n_ann = 0
        for s in self.samples:
            n_samples += 1
            per_status[s.status.value if s.status else "none"] += 1
            for a in s.annotations:
                n_ann += 1
                per_cat[names.get(a.category_id, str(a.category_id))] += 1  # type: ignore[arg-type]
                per_shape[type(a.shape).__name__.lower() if a.shape is not None else "none"] += 1
        return {
            "samples": n_samples,
            "annotations": n_ann,
            "categories": len(self.categories),
            "per_category": dict(per_cat),
            "per_shape": dict(per_shape),
            "per_status": dict(per_status),
        }


def _trusted_constructor(cls: type) -> Any:
    """A constructor that skips ``__post_init__`` checks, for readers that have validated
    their input already (it sets every field; keyword-only, no defaults). About twice as fast
    as the dataclass ``__init__``, which matters for 100k-annotation files."""
    names = [f.name for f in fields(cls)]
    body = "".join(f"    _set(o, {n!r}, {n})\n" for n in names)
    src = f"def trusted(*, {', '.join(names)}):\n    o = _new(cls)\n{body}    return o\n"
    scope: dict[str, Any] = {"_new": object.__new__, "_set": object.__setattr__, "cls": cls}
    exec(src, scope)  # the same technique dataclasses uses to build __init__
    return scope["trusted"]


trusted_annotation = _trusted_constructor(Annotation)


def category_index(categories: Iterable[Category]) -> Mapping[int, Category]:
    """``{id: category}`` for fast lookups."""
    return {c.id: c for c in categories}
