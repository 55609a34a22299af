r"""Run-length encoded binary masks: the COCO codec, vectorized, plus Hasty's variant.

COCO RLE (what pycocotools calls "uncompressed RLE")
----------------------------------------------------
A binary mask of ``height`` rows and ``width`` columns is flattened in **column-major**
(Fortran) order, pixel (r, c) at linear index ``c * height + r``. ``counts`` are the lengths
of the alternating runs, **starting with a run of zeros** (of length 0 when pixel (0, 0) is
set). They sum to ``height * width``. Worked by hand, h = 2, w = 3::

    mask        column-major      counts
    0 1 1       0 1 | 1 0 | 1 1   [1, 2, 1, 2]   (1 zero, 2 ones, 1 zero, 2 ones)
    1 0 1

Compressed string (pycocotools ``rleToString``): each count becomes a signed value, raw for
indices 0, 1 and 2 and ``counts[i] - counts[i - 2]`` from index 3 on. A value is written as
little-endian groups of 5 bits, ``g = v & 0x1f; v >>= 5`` (arithmetic shift); the group is the
last one when ``v == 0`` and bit 0x10 of g is clear, or ``v == -1`` and bit 0x10 is set;
otherwise bit 0x20 (continuation) is set. Each group is written as ``chr(g + 48)``, so the
alphabet is ``'0'`` (48) to ``'o'`` (111). The counts above: ``1, 2, 1`` raw, then ``2 - 2 = 0``
gives ``"1210"``. The mask of pycocotools' worked example (h = 4, w = 6), counts
``[5, 2, 1, 8, 1, 2, 5]``, gives ``"52160J4"`` (-6 is the group 26 with the sign bit, ``'J'``).

Hasty RLE
---------
Hasty stores a mask relative to its label's box ``[x0, y0, x1, y1]`` (max edges exclusive):
the crop of ``y1 - y0`` rows and ``x1 - x0`` columns is flattened **row-major**, and the mask is
a flat list of ``(start, length)`` pairs with **1-based** starts. The crop ``[[0, 1], [1, 1]]``
in box ``[3, 4, 5, 6]`` is ``[2, 3]``. See :func:`to_hasty` / :func:`from_hasty`.

API
---
``encode(mask) -> RLE``; ``decode(rle) -> bool (h, w)``; ``encode_batch`` / ``decode_batch``;
``to_coco`` / ``from_coco``; ``to_string`` / ``from_string``; ``area``; ``to_bbox`` (xywh,
pycocotools ``toBbox``); ``merge`` (union or intersection); ``iou``; ``crop`` / ``paste`` (a
box-relative mask and back); ``to_hasty`` / ``from_hasty``. Every function is pure and works
on whole arrays: no Python loop runs per pixel or per run.

Pixel convention: pixel (r, c) covers ``[c, c+1) x [r, r+1)``; a bbox ``[0, 0, 1, 1]`` (xywh)
encloses exactly the first pixel.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import RLEError, describe

__all__ = [
    "MAX_PIXELS",
    "RLE",
    "area",
    "crop",
    "decode",
    "decode_batch",
    "difference",
    "empty",
    "encode",
    "encode_batch",
    "encode_labels",
    "from_coco",
    "from_counts",
    "from_hasty",
    "from_string",
    "iou",
    "merge",
    "paste",
    "to_bbox",
    "to_coco",
    "to_hasty",
    "to_string",
]

#: Largest mask (height * width) accepted by default; pass ``max_pixels=`` to change it.
MAX_PIXELS = 2**31

_U32 = np.uint32
_I64 = np.int64
#: Below this many bytes `_diff_positions` compares byte by byte.
_SHORT = 4096


class RLE:
    """An immutable binary mask in COCO run-length form.

    ``counts`` is a read-only ``uint32`` array of alternating run lengths (zeros first) in
    column-major order, summing to ``height * width``. Build one with :func:`encode`,
    :func:`from_coco`, :func:`from_counts` or :func:`empty`; the constructor trusts its
    arguments' types but checks the sum.

    >>> r = from_counts([1, 2, 1, 2], height=2, width=3)
    >>> r
    RLE(counts=[1, 2, 1, 2], height=2, width=3)
    >>> area(r), to_bbox(r).tolist()
    (4, [0.0, 0.0, 3.0, 2.0])

    Two RLEs are equal when they describe the same mask (zero-length interior runs are
    ignored). RLEs pickle, so they cross process boundaries (Dask) as they are.
    """

    __slots__ = ("_counts", "_height", "_width")

    _counts: npt.NDArray[np.uint32]
    _height: int
    _width: int

    def __init__(self, counts: npt.ArrayLike, height: int, width: int) -> None:
        arr = np.array(counts, dtype=_U32, copy=True)
        if arr.ndim != 1:
            raise RLEError(message=f"counts must be 1-D, got shape {arr.shape}")
        _check_total(int(arr.sum(dtype=np.uint64)), height, width)
        arr.flags.writeable = False
        object.__setattr__(self, "_counts", arr)
        object.__setattr__(self, "_height", int(height))
        object.__setattr__(self, "_width", int(width))

    @classmethod
    def _make(cls, counts: npt.NDArray[np.uint32], height: int, width: int) -> RLE:
        """Wrap counts this module computed itself (owned, uint32, correct sum): no copy."""
        self = object.__new__(cls)
        counts.flags.writeable = False
        object.__setattr__(self, "_counts", counts)
        object.__setattr__(self, "_height", height)
        object.__setattr__(self, "_width", width)
        return self

    @property
    def counts(self) -> npt.NDArray[np.uint32]:
        """Alternating run lengths (zeros first), column-major, read-only uint32."""
        return self._counts

    @property
    def height(self) -> int:
        return self._height

    @property
    def width(self) -> int:
        return self._width

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)``, COCO's ``size`` order."""
        return (self._height, self._width)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("RLE is immutable")

    def __reduce__(self):
        return (RLE, (self._counts, self._height, self._width))

    def __repr__(self) -> str:
        counts = self._counts
        shown = counts.tolist() if counts.size <= 12 else f"<{counts.size} runs>"
        return f"RLE(counts={shown}, height={self._height}, width={self._width})"

    def canonical(self) -> RLE:
        """The same mask with no zero-length run except possibly the first (pycocotools'
        canonical form). Returns ``self`` when already canonical.

        >>> RLE([2, 0, 3, 1, 0], 2, 3).canonical()
        RLE(counts=[5, 1], height=2, width=3)
        """
        c = self._counts
        if (c.size <= 1 or c[1:].all()) and not (c.size == 1 and c[0] == 0):
            return self
        return RLE._make(_canonical_counts(c), self._height, self._width)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RLE):
            return NotImplemented
        if self.size != other.size:
            return False
        a, b = self.canonical()._counts, other.canonical()._counts
        return a.shape == b.shape and bool(np.array_equal(a, b))

    def __hash__(self) -> int:
        return hash((self._height, self._width, self.canonical()._counts.tobytes()))

    @property
    def nbytes(self) -> int:
        return int(self._counts.nbytes)


def _check_total(total: int, height: int, width: int) -> None:
    if total != height * width:
        raise RLEError(
            message=f"counts sum to {total}, expected height*width = "
            f"{height}*{width} = {height * width}"
        )


def _canonical_counts(counts: npt.NDArray[Any]) -> npt.NDArray[np.uint32]:
    """Drop zero-length runs (merging their neighbours) except a leading zero run."""
    c = counts.astype(_I64, copy=False)
    if c.size == 0:
        return c.astype(_U32)
    # Toggle positions; a zero-length run makes two equal positions, which cancel.
    ends = np.cumsum(c)
    total = int(ends[-1])
    toggles = ends[:-1]
    toggles = _odd_multiplicity(toggles)
    return _counts_from_toggles(toggles, total)


def _odd_multiplicity(sorted_positions: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Given sorted positions, keep each value that occurs an odd number of times, once."""
    p = sorted_positions
    if p.size < 2:
        return p
    if not (p[1:] == p[:-1]).any():
        return p
    vals, cnt = np.unique(p, return_counts=True)
    return vals[(cnt & 1) == 1]


def _counts_from_toggles(toggles: npt.NDArray[np.int64], total: int) -> npt.NDArray[np.uint32]:
    """Counts from sorted, distinct toggle positions in [0, total] (a toggle at 0 gives a
    leading zero run; a toggle at ``total`` is ignored)."""
    if total == 0:
        return np.zeros(0, _U32)
    if toggles.size and toggles[-1] >= total:
        toggles = toggles[toggles < total]
    k = toggles.size
    bounds = np.empty(k + 2, _I64)
    bounds[0] = 0
    bounds[1 : k + 1] = toggles
    bounds[k + 1] = total
    out = np.empty(k + 1, _U32)
    np.subtract(bounds[1:], bounds[:-1], out=out, casting="unsafe")
    return out


# --------------------------------------------------------------------------------------
# construction
# --------------------------------------------------------------------------------------


def _check_size(height: int, width: int, max_pixels: int | None) -> None:
    if not (isinstance(height, (int, np.integer)) and isinstance(width, (int, np.integer))):
        raise RLEError(message=f"size must be two integers, got [{height!r}, {width!r}]")
    if height < 0 or width < 0:
        raise RLEError(message=f"size must be non-negative, got [{height}, {width}]")
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    if height * width > limit:
        raise RLEError(
            message=f"size [{height}, {width}] has {height * width} pixels, over the limit of "
            f"{limit} (pass max_pixels= to allow larger masks)"
        )


def empty(height: int, width: int) -> RLE:
    """The all-background mask.

    >>> empty(2, 3).counts.tolist(), empty(0, 3).counts.tolist()
    ([6], [0])
    """
    counts = np.array([height * width], _U32)
    return RLE._make(counts, int(height), int(width))


def from_counts(
    counts: Sequence[int] | npt.ArrayLike,
    height: int,
    width: int,
    *,
    max_pixels: int | None = None,
) -> RLE:
    """An RLE from uncompressed COCO counts, validated (integers, non-negative, sum).

    >>> from_counts([5, 2, 1, 8, 1, 2, 5], 4, 6).counts.tolist()
    [5, 2, 1, 8, 1, 2, 5]
    >>> from_counts([5, 2], 4, 6)
    Traceback (most recent call last):
    ...
    annoconv.errors.RLEError: counts sum to 7, expected height*width = 4*6 = 24
    """
    _check_size(height, width, max_pixels)
    arr = np.asarray(counts)
    if arr.ndim != 1:
        raise RLEError(message=f"counts must be a flat list, got shape {arr.shape}")
    if arr.size == 0:
        if height * width == 0:
            return RLE(np.zeros(0, _U32), height, width)
        raise RLEError(message="counts is empty")
    if arr.dtype.kind not in "iu":
        raise RLEError(message=f"counts must be integers, got {_dtype_name(arr)}")
    if arr.dtype.kind == "i" and arr.size and int(arr.min()) < 0:
        i = int(np.argmax(arr < 0))
        raise RLEError(message=f"counts[{i}] is {int(arr[i])}; counts must be >= 0")
    if arr.size and int(arr.max()) > 2**32 - 1:
        raise RLEError(message="a count exceeds 2^32 - 1")
    return RLE(arr, height, width)


def encode(mask: npt.ArrayLike) -> RLE:
    """Encode a 2-D mask (bool, or integers where non-zero is foreground), C or F ordered.

    Run boundaries are found in the mask's own memory order; the mask is never transposed.

    >>> import numpy as np
    >>> encode(np.array([[0, 1, 1], [1, 0, 1]], bool)).counts.tolist()
    [1, 2, 1, 2]
    >>> encode(np.zeros((0, 4), bool)).counts.tolist()  # pycocotools' "0"
    [0]
    """
    m = _as_mask_bytes(mask)
    h, w = m.shape
    return RLE._make(_encode_u8(m), h, w)


def _as_mask_bytes(mask: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """A 2-D uint8 0/1 view (or copy) of ``mask`` in whatever memory order it has."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D (height, width), got shape {m.shape}")
    if m.dtype == np.bool_:
        return m.view(np.uint8)
    if m.dtype == np.uint8 and m.size and int(m.max()) <= 1:
        return m
    return (m != 0).view(np.uint8)


def _encode_u8(m: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint32]:
    h, w = m.shape
    n = h * w
    if n == 0:  # one zero-length run, as pycocotools encodes an empty image ("0")
        return np.zeros(1, _U32)
    if m.flags.f_contiguous:
        flat = m.T.reshape(-1)
        return _counts_from_diffs(_diff_positions(flat, 1), int(flat[0]), n)
    if m.flags.c_contiguous:
        toggles = _toggles_c(m)
    else:
        toggles = _toggles_c(np.ascontiguousarray(m))
    return _counts_from_toggles(toggles, n)


def _diff_positions(flat: npt.NDArray[np.uint8], lag: int) -> npt.NDArray[np.int64]:
    """Sorted i in [0, n - lag) with flat[i + lag] != flat[i], for a contiguous 0/1 byte
    array.

    Eight bytes are compared at a time (uint64 views, possibly unaligned). The xor of two
    differing words has 0/1 bytes, so it is read as bools to find which bytes differ.
    Short arrays take one byte compare: there the word machinery's fixed cost dominates.
    """
    m = flat.size - lag
    if m <= 0:
        return np.zeros(0, _I64)
    if m < _SHORT:
        return (flat[lag:] != flat[:m]).nonzero()[0]
    m8 = m - m % 8
    a = flat[lag : lag + m8].view(np.uint64)
    b = flat[:m8].view(np.uint64)
    words = (a != b).nonzero()[0]
    nz = (a[words] ^ b[words]).view(np.bool_).nonzero()[0]
    p = (words[nz >> 3] << 3) | (nz & 7)
    if m8 < m:
        tail = (flat[lag + m8 :] != flat[m8:m]).nonzero()[0]
        if tail.size:
            p = np.concatenate((p, tail + m8))
    return p


def _counts_from_diffs(p: npt.NDArray[np.int64], first: int, n: int) -> npt.NDArray[np.uint32]:
    """Counts of an n-pixel 0/1 sequence from its sorted change positions ``p`` (``flat[i + 1]
    != flat[i]``, as `_diff_positions` with lag 1 gives) and its first value: the run
    boundaries are ``p + 1``, written as ``p`` between -1 and n - 1 so that no +1 pass is
    needed; a first value of 1 adds the leading zero run."""
    k = p.size + first
    bounds = np.empty(k + 2, _I64)
    bounds[: first + 1] = -1
    bounds[first + 1 : k + 1] = p
    bounds[k + 1] = n - 1
    out = np.empty(k + 1, _U32)
    np.subtract(bounds[1:], bounds[:-1], out=out, casting="unsafe")
    return out


def _toggles_flat(flat: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """Sorted positions i where the value changes from flat[i-1] to flat[i] (with an implicit
    0 before the start), for a contiguous 0/1 byte sequence."""
    pos = _diff_positions(flat, 1) + 1
    if flat.size and flat[0]:
        return np.concatenate((np.zeros(1, _I64), pos))
    return pos


def _toggles_c(m: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """Column-major toggle positions of a C-ordered (h, w) 0/1 array, found by comparing
    each row with the row above (vertical neighbours are column-major neighbours)."""
    h, w = m.shape
    if h == 1:
        # Every pixel is its own column: toggles wherever a pixel differs from its left one.
        return _toggles_flat(m.reshape(-1))
    # p indexes the (h - 1, w) difference array: row r compares rows r and r + 1.
    p = _diff_positions(m.reshape(-1), w)
    r = p // w
    idx = (p - r * w) * h + (r + 1)
    # Column starts: pixel (0, c) against pixel (h - 1, c - 1).
    top, bottom = m[0], m[-1]
    cb = (top[1:] != bottom[:-1]).nonzero()[0] + 1
    parts = [idx, cb * h]
    if top[0]:
        parts.append(np.zeros(1, _I64))
    out = np.concatenate(parts)
    out.sort()
    return out


def encode_labels(
    labels: npt.ArrayLike, *, background: int | None = 0
) -> dict[int, RLE]:
    """One RLE per label value of a 2-D integer label image (an id PNG, a semantic map), in
    a single vectorized pass: runs are found where the label changes down each column, then
    grouped by label. ``background`` (default 0; None keeps every value) gets no RLE.

    >>> lab = np.array([[0, 5, 5], [7, 7, 5]])
    >>> {k: v.counts.tolist() for k, v in encode_labels(lab).items()}
    {5: [2, 1, 1, 2], 7: [1, 1, 1, 1, 2]}
    """
    lab = np.asarray(labels)
    if lab.ndim != 2:
        raise ValueError(f"labels must be 2-D (height, width), got shape {lab.shape}")
    if lab.dtype.kind not in "iub":
        raise ValueError(f"labels must be integers, got {lab.dtype}")
    h, w = lab.shape
    n = h * w
    if n == 0:
        return {}
    lab = np.ascontiguousarray(lab)
    # run starts in column-major order: every column start, and wherever a pixel differs
    # from the one above it
    p = np.flatnonzero(lab[1:] != lab[:-1])
    r = p // w
    starts = np.concatenate([np.arange(w, dtype=_I64) * h, (p - r * w) * h + (r + 1)])
    starts.sort()
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = n
    values = lab[starts % h, starts // h]
    if background is not None:
        keep = values != background
        starts, ends, values = starts[keep], ends[keep], values[keep]
    order = np.argsort(values, kind="stable")
    starts, ends, values = starts[order], ends[order], values[order]
    cut = np.flatnonzero(values[1:] != values[:-1]) + 1
    out: dict[int, RLE] = {}
    for s, e, v in zip(np.split(starts, cut), np.split(ends, cut), values[np.r_[0, cut]] if values.size else []):
        toggles = np.empty(s.size * 2, _I64)
        toggles[0::2] = s
        toggles[1::2] = e
        out[int(v)] = RLE._make(_counts_from_toggles(_odd_multiplicity(toggles), n), h, w)
    return out


def decode(rle: RLE) -> npt.NDArray[np.bool_]:
    """The (height, width) bool mask, Fortran-ordered like pycocotools' (one ``np.repeat``).

    >>> decode(from_counts([1, 2, 1, 2], 2, 3)).astype(int).tolist()
    [[0, 1, 1], [1, 0, 1]]
    """
    values = np.zeros(rle.counts.size, np.bool_)
    values[1::2] = True
    flat = np.repeat(values, rle.counts)
    return flat.reshape(rle.width, rle.height).T


def encode_batch(masks: npt.ArrayLike | Iterable[npt.ArrayLike]) -> list[RLE]:
    """Encode N masks: an (n, height, width) array (any memory order) or an iterable of 2-D
    masks. A C-ordered stack is encoded in one vectorized pass.

    >>> import numpy as np
    >>> [r.counts.tolist() for r in encode_batch(np.eye(2, dtype=bool)[None].repeat(2, 0))]
    [[0, 1, 2, 1], [0, 1, 2, 1]]
    """
    if isinstance(masks, np.ndarray) and masks.ndim == 3:
        stack = masks
        n, h, w = stack.shape
        if n and h and w:
            if stack.flags.c_contiguous:
                return _encode_stack_c(_as_stack_bytes(stack))
            # each mask column-major, masks one after another: pycocotools' (h, w, n)
            # Fortran array, seen as (n, h, w) through ``.transpose(2, 0, 1)``
            if stack.transpose(0, 2, 1).flags.c_contiguous:
                return _encode_stack_f(_as_stack_bytes(stack))
        return [encode(m) for m in stack]
    return [encode(m) for m in masks]


def _as_stack_bytes(stack: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """A 0/1 byte view of a stack (as `_as_mask_bytes`; a 0/1 uint8 stack, pycocotools'
    own input, is used as it is rather than compared into a copy)."""
    if stack.dtype == np.bool_:
        return stack.view(np.uint8)
    if stack.dtype == np.uint8 and int(stack.max()) <= 1:
        return stack
    return (stack != 0).view(np.uint8)


def _encode_stack_c(stack: npt.NDArray[np.uint8]) -> list[RLE]:
    n, h, w = stack.shape
    hw = h * w
    # Vertical differences over the whole stack at once; differences that straddle two
    # masks (last row of mask k against first row of mask k+1) are dropped below.
    tall = stack.reshape(n * h, w)
    if h == 1:
        return [encode(m) for m in stack]
    flat = tall.reshape(-1)
    p = _diff_positions(flat, w)
    row = p // w  # row in the tall array whose next row differs
    col = p - row * w
    k = row // h
    rr = row - k * h  # row within mask k; rr == h - 1 straddles masks
    keep = rr != h - 1
    k, rr, col = k[keep], rr[keep], col[keep]
    idx = k * hw + col * h + (rr + 1)
    top = stack[:, 0, :]
    bottom = stack[:, -1, :]
    cbk, cbc = np.nonzero(top[:, 1:] != bottom[:, :-1])
    starts = np.flatnonzero(top[:, 0])
    allidx = np.concatenate((idx, cbk * hw + (cbc + 1) * h, starts * hw))
    allidx.sort()
    splits = np.searchsorted(allidx, np.arange(1, n) * hw)
    out = []
    for i, part in enumerate(np.split(allidx, splits)):
        out.append(RLE._make(_counts_from_toggles(part - i * hw, hw), h, w))
    return out


def _encode_stack_f(stack: npt.NDArray[np.uint8]) -> list[RLE]:
    """Encode an (n, h, w) stack whose masks are each column-major and consecutive in
    memory: one change scan over the whole buffer, then a split per mask (a change across
    two masks, at a mask's last pixel, is dropped)."""
    n, h, w = stack.shape
    hw = h * w
    flat = stack.transpose(0, 2, 1).reshape(-1)
    p = _diff_positions(flat, 1)
    starts = np.arange(n, dtype=_I64) * hw
    lo = np.searchsorted(p, starts)
    hi = np.searchsorted(p, starts + (hw - 1))
    first = flat[starts].tolist()
    return [
        RLE._make(_counts_from_diffs(p[lo[k] : hi[k]] - starts[k], first[k], hw), h, w)
        for k in range(n)
    ]


def decode_batch(rles: Sequence[RLE]) -> npt.NDArray[np.bool_]:
    """Decode N RLEs of one size into an (n, height, width) bool array (each mask
    Fortran-ordered in memory), with a single ``np.repeat``.

    >>> decode_batch([empty(2, 2), from_counts([0, 4], 2, 2)]).sum(axis=(1, 2)).tolist()
    [0, 4]
    """
    if not rles:
        return np.zeros((0, 0, 0), np.bool_)
    h, w = rles[0].size
    if any(r.size != (h, w) for r in rles):
        raise ValueError("decode_batch needs RLEs of one size")
    counts = np.concatenate([r.counts for r in rles])
    longest = max(r.counts.size for r in rles)
    alternate = np.zeros(longest, np.bool_)
    alternate[1::2] = True  # each mask's runs alternate from zero
    values = np.concatenate([alternate[: r.counts.size] for r in rles])
    flat = np.repeat(values, counts)
    return flat.reshape(len(rles), w, h).transpose(0, 2, 1)


# --------------------------------------------------------------------------------------
# compressed strings
# --------------------------------------------------------------------------------------

_GROUP_SHIFTS = np.arange(0, 40, 5, dtype=_I64)
#: Values in [-_HALF, _HALF) take at most three characters and come from a table.
_HALF = 1 << 14
#: A slot's characters are its bytes in memory order: little-endian on every machine.
_SLOT = np.dtype("<u8")


def _chars_slow(v: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    """pycocotools' characters for each value, zero-padded in an 8-byte slot.

    A character holds 5 bits plus 48, plus 32 when more follow; more follow while the rest
    of the value is not the sign extension of the character's top bit. Used to build the
    tables only.
    """
    x = v[:, None] >> _GROUP_SHIFTS
    low = x & 31
    more = np.zeros(x.shape, np.bool_)
    np.not_equal(x[:, 1:], -(low[:, :-1] >> 4), out=more[:, :-1])
    emit = np.ones(x.shape, np.bool_)
    emit[:, 1:] = more[:, :-1]  # once a character ends the value, none follow
    chars = np.where(emit, low + 48 + (more << 5), 0).astype(np.uint8)
    return chars.view(_SLOT).ravel()


@functools.cache
def _string_tables() -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """(slots of every value in [-_HALF, _HALF), slots of the three continued characters of
    every 15-bit value) -- 256 KiB each, built on first use."""
    small = _chars_slow(np.arange(-_HALF, _HALF, dtype=_I64))
    lo = np.arange(2 * _HALF, dtype=_SLOT)
    continued = (
        ((lo & 31) + 80) | (((lo >> 5) & 31) + 80) << 8 | (((lo >> 10) & 31) + 80) << 16
    )
    return small, continued


def _slots(v: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    """Each value's characters in an 8-byte slot, zero-padded, from the tables. A value
    outside [-_HALF, _HALF) needs four or more characters: its low 15 bits give three
    continued characters and the rest (``v >> 15``) is encoded like a value of its own."""
    small, continued = _string_tables()
    i = v + _HALF
    big = (i.view(np.uint64) >= 2 * _HALF).nonzero()[0]
    if big.size == 0:
        return small[i]
    i[big] = 0
    slots = small[i]
    vb = v[big]
    slots[big] = continued[vb & 0x7FFF] | (_slots(vb >> 15) << np.uint64(24))
    return slots


def to_string(counts: npt.ArrayLike) -> str:
    """pycocotools' compressed string of uncompressed counts (byte-identical).

    From index 3 on a value is stored as the delta to the count two places back. Each
    value's characters come from a table in an 8-byte slot; the unused zero bytes are
    deleted at the end.

    >>> to_string([5, 2, 1, 8, 1, 2, 5])
    '52160J4'
    """
    c = np.asarray(counts)
    if c.dtype.kind not in "iu":
        c = c.astype(_I64)
    n = c.size
    if n == 0:
        return ""
    v = np.empty(n, _I64)
    v[:3] = c[:3]
    if n > 3:
        np.subtract(c[3:], c[1:-2], out=v[3:], dtype=_I64)
    return _slots(v).tobytes().translate(None, b"\0").decode("ascii")


def from_string(
    s: str | bytes, height: int, width: int, *, max_pixels: int | None = None
) -> RLE:
    """Decode pycocotools' compressed string (``str``, or ``bytes`` as pycocotools returns).

    Validates the alphabet (``'0'``..``'o'``), a string that ends inside a value, negative
    counts and the sum, raising :class:`~annoconv.errors.RLEError`.

    >>> from_string("52160J4", 4, 6).counts.tolist()
    [5, 2, 1, 8, 1, 2, 5]
    """
    _check_size(height, width, max_pixels)
    try:
        raw = s.encode("ascii") if isinstance(s, str) else bytes(s)
    except UnicodeEncodeError:
        raise RLEError(
            message="compressed counts string has non-ASCII characters; expected '0' to 'o'"
        ) from None
    b = np.frombuffer(raw, np.uint8)
    if b.size == 0:
        if height * width == 0:
            return RLE(np.zeros(0, _U32), height, width)
        raise RLEError(message="compressed counts string is empty")
    if int(b.min()) < 48 or int(b.max()) > 111:
        bad = int(np.argmax((b < 48) | (b > 111)))
        raise RLEError(
            message=f"compressed counts string has character {chr(raw[bad])!r} at offset "
            f"{bad}; expected characters '0' to 'o' (codes 48-111)"
        )
    g = b.astype(_I64) - 48
    cont = (g & 0x20) != 0
    if cont[-1]:
        raise RLEError(message="compressed counts string is truncated (ends inside a value)")
    last = np.flatnonzero(~cont)  # index of the final group of each value
    first = np.empty_like(last)
    first[0] = 0
    first[1:] = last[:-1] + 1
    ngroups = last - first + 1
    if int(ngroups.max()) > 7:
        raise RLEError(message="compressed counts string holds a value over 35 bits")
    # values from their groups, one row per group level
    level = np.arange(int(ngroups.max()))[:, None]
    pos = np.minimum(first + level, g.size - 1)
    counts = (np.where(level < ngroups, g[pos] & 0x1F, 0) << _GROUP_SHIFTS[: level.size, None]).sum(axis=0)
    counts -= ((g[last] & 0x10) != 0) << (5 * ngroups)  # sign-extend negative values
    if counts.size > 3:  # from index 3 on a value is the delta to the count two places back
        counts[2::2] = np.cumsum(counts[2::2])
        counts[1::2] = np.cumsum(counts[1::2])
    if int(counts.min()) < 0:
        i = int(np.argmax(counts < 0))
        raise RLEError(message=f"compressed counts decode to a negative count at run {i}")
    if int(counts.max()) > 2**32 - 1:
        raise RLEError(message="compressed counts decode to a count over 2^32 - 1")
    _check_total(int(counts.sum()), height, width)
    return RLE._make(counts.astype(_U32), height, width)


def to_coco(rle: RLE, *, compressed: bool = True) -> dict[str, Any]:
    """COCO's ``{"size": [h, w], "counts": ...}``: a str (compressed) or a list of ints.

    >>> to_coco(from_counts([5, 2, 1, 8, 1, 2, 5], 4, 6))
    {'size': [4, 6], 'counts': '52160J4'}
    >>> to_coco(from_counts([1, 2, 1, 2], 2, 3), compressed=False)
    {'size': [2, 3], 'counts': [1, 2, 1, 2]}
    """
    counts = to_string(rle.counts) if compressed else rle.counts.tolist()
    return {"size": [rle.height, rle.width], "counts": counts}


def from_coco(obj: dict[str, Any], *, max_pixels: int | None = None) -> RLE:
    """An RLE from a COCO segmentation dict, compressed (str or bytes) or uncompressed.

    pycocotools' own dicts (bytes counts) pass straight in.

    >>> from_coco({"size": [4, 6], "counts": b"52160J4"}).counts.tolist()
    [5, 2, 1, 8, 1, 2, 5]
    """
    if not isinstance(obj, dict):
        raise RLEError(message=f"expected an RLE object {{size, counts}}, got {describe(obj)}")
    size = obj.get("size")
    if (
        not isinstance(size, (list, tuple))
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in size)
    ):
        raise RLEError(message=f"expected size [height, width] of two integers, got {size!r}")
    h, w = int(size[0]), int(size[1])
    counts = obj.get("counts")
    if isinstance(counts, (str, bytes)):
        return from_string(counts, h, w, max_pixels=max_pixels)
    if isinstance(counts, (list, tuple, np.ndarray)):
        _check_size(h, w, max_pixels)
        return from_counts(counts, h, w, max_pixels=max_pixels)
    raise RLEError(message=f"expected counts as a string or a list, got {describe(counts)}")


def _dtype_name(arr: npt.NDArray[Any]) -> str:
    return {"f": "floats", "b": "booleans", "U": "strings", "O": "mixed values"}.get(
        arr.dtype.kind, str(arr.dtype)
    )


# --------------------------------------------------------------------------------------
# measurements and set operations on runs
# --------------------------------------------------------------------------------------


def _fg_runs(rle: RLE) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(start, end) linear indices of the non-empty foreground runs, end exclusive."""
    c = rle.counts.astype(_I64)
    ends = np.cumsum(c)
    starts = ends - c
    s, e = starts[1::2], ends[1::2]
    nonempty = e > s
    return s[nonempty], e[nonempty]


def area(rle: RLE) -> int:
    """Number of foreground pixels (pycocotools ``area``).

    >>> area(from_counts([5, 2, 1, 8, 1, 2, 5], 4, 6))
    12
    """
    return int(rle.counts[1::2].sum(dtype=np.uint64))


def to_bbox(rle: RLE) -> npt.NDArray[np.float64]:
    """Tight pixel box ``[x, y, w, h]`` as float64 (pycocotools ``toBbox``); zeros if empty.

    >>> to_bbox(from_counts([5, 2, 1, 8, 1, 2, 5], 4, 6)).tolist()
    [1.0, 0.0, 4.0, 4.0]
    """
    h = rle.height
    s, e = _fg_runs(rle)
    if s.size == 0:
        return np.zeros(4, np.float64)
    last = e - 1
    c0, c1 = s // h, last // h
    x0, x1 = int(c0.min()), int(c1.max())
    if (c1 != c0).any():
        y0, y1 = 0, h - 1
    else:
        y0, y1 = int((s % h).min()), int((last % h).max())
    return np.array([x0, y0, x1 - x0 + 1, y1 - y0 + 1], np.float64)


def to_xyxy(rle: RLE) -> tuple[int, int, int, int] | None:
    """Tight box ``(x0, y0, x1, y1)`` with exclusive max edges, or None for an empty mask.

    >>> to_xyxy(from_counts([5, 2, 1, 8, 1, 2, 5], 4, 6))
    (1, 0, 5, 4)
    """
    x, y, w, h = to_bbox(rle).tolist()
    if w == 0:
        return None
    return int(x), int(y), int(x + w), int(y + h)


def merge(rles: Sequence[RLE], *, intersect: bool = False) -> RLE:
    """Union (default) or intersection of RLEs of one size, canonical (pycocotools ``merge``).

    >>> a = from_counts([5, 2, 1, 8, 1, 2, 5], 4, 6)
    >>> b = from_counts([0, 2, 2, 2, 2, 2, 14], 4, 6)
    >>> merge([a, b]).counts.tolist(), merge([a, b], intersect=True).counts.tolist()
    ([0, 2, 2, 3, 1, 8, 1, 2, 5], [5, 1, 2, 2, 14])
    """
    if not rles:
        raise ValueError("merge needs at least one RLE")
    h, w = rles[0].size
    for r in rles[1:]:
        if r.size != (h, w):
            raise ValueError(f"merge needs RLEs of one size, got {rles[0].size} and {r.size}")
    if len(rles) == 1:
        return rles[0].canonical()
    starts, ends = zip(*(_fg_runs(r) for r in rles), strict=True)
    pos = np.concatenate([*starts, *ends])
    delta = np.concatenate(
        [np.ones(sum(s.size for s in starts), _I64), -np.ones(sum(e.size for e in ends), _I64)]
    )
    if pos.size == 0:
        return empty(h, w)
    order = np.argsort(pos, kind="stable")
    pos, delta = pos[order], delta[order]
    # Coverage after all events at one position.
    uniq_last = np.flatnonzero(np.append(pos[1:] != pos[:-1], True))
    cover = np.cumsum(delta)[uniq_last]
    upos = pos[uniq_last]
    inside = cover >= (len(rles) if intersect else 1)
    change = np.flatnonzero(np.diff(np.concatenate(([False], inside))).astype(bool))
    return RLE._make(_counts_from_toggles(upos[change], h * w), h, w)


def difference(a: RLE, others: Sequence[RLE]) -> RLE:
    """The pixels of ``a`` that are in none of ``others`` (all of one size), canonical.

    >>> a = from_counts([0, 6], 2, 3)
    >>> difference(a, [from_counts([1, 1, 4], 2, 3)]).counts.tolist()
    [0, 1, 1, 4]
    """
    if not others:
        return a.canonical()
    b = merge(list(others))
    if b.size != a.size:
        raise ValueError(f"difference needs RLEs of one size, got {a.size} and {b.size}")
    sa, ea = _fg_runs(a)
    sb, eb = _fg_runs(b)
    pos = np.concatenate([sa, ea, sb, eb])
    if pos.size == 0:
        return empty(*a.size)
    delta = np.concatenate(
        [np.full(sa.size, 1, _I64), np.full(sa.size, -1, _I64),
         np.full(sb.size, 2, _I64), np.full(sb.size, -2, _I64)]
    )
    order = np.argsort(pos, kind="stable")
    pos, delta = pos[order], delta[order]
    uniq_last = np.flatnonzero(np.append(pos[1:] != pos[:-1], True))
    inside = np.cumsum(delta)[uniq_last] == 1  # in a (1), not in b (2)
    change = np.flatnonzero(np.diff(np.concatenate(([False], inside))).astype(bool))
    return RLE._make(_counts_from_toggles(pos[uniq_last][change], a.height * a.width), *a.size)


def _intersection_area(a: RLE, b: RLE) -> int:
    sa, ea = _fg_runs(a)
    sb, eb = _fg_runs(b)
    if sa.size == 0 or sb.size == 0:
        return 0
    # For each run of a, the overlapping runs of b form a contiguous range.
    lo = np.searchsorted(eb, sa, side="right")
    hi = np.searchsorted(sb, ea, side="left")
    n = np.maximum(hi - lo, 0)
    ia = np.repeat(np.arange(sa.size), n)
    ib = lo[ia] + _local_index(n)
    ov = np.minimum(ea[ia], eb[ib]) - np.maximum(sa[ia], sb[ib])
    return int(ov[ov > 0].sum())


def _local_index(n: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """For group sizes n, the index of each element within its group: [2, 3] -> 0 1 0 1 2."""
    total = int(n.sum())
    return np.arange(total, dtype=_I64) - np.repeat(np.cumsum(n) - n, n)


def iou(
    dt: Sequence[RLE], gt: Sequence[RLE], iscrowd: Sequence[bool | int] | None = None
) -> npt.NDArray[np.float64]:
    """Pairwise IoU, shape (len(dt), len(gt)), as pycocotools ``iou``: for a crowd gt the
    denominator is the area of the detection alone. Masks of different sizes give -1 where
    their bounding boxes overlap, else 0 (pycocotools compares the boxes first).

    >>> a = from_counts([5, 2, 1, 8, 1, 2, 5], 4, 6)
    >>> b = from_counts([0, 2, 2, 2, 2, 2, 14], 4, 6)
    >>> iou([a], [b]).tolist(), iou([a], [b], [1]).tolist()
    ([[0.2]], [[0.25]])
    """
    crowd = [False] * len(gt) if iscrowd is None else [bool(c) for c in iscrowd]
    if len(crowd) != len(gt):
        raise ValueError("iscrowd must have one entry per gt mask")
    out = np.zeros((len(dt), len(gt)), np.float64)
    dt_area = [area(d) for d in dt]
    gt_area = [area(g) for g in gt]
    for i, d in enumerate(dt):
        for j, g in enumerate(gt):
            if d.size != g.size:
                out[i, j] = -1.0 if _boxes_overlap(to_bbox(d), to_bbox(g)) else 0.0
                continue
            inter = _intersection_area(d, g)
            union = dt_area[i] if crowd[j] else dt_area[i] + gt_area[j] - inter
            out[i, j] = inter / union if union > 0 else 0.0
    return out


def _boxes_overlap(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> bool:
    """Whether two xywh boxes share some area."""
    return bool(min(a[0] + a[2], b[0] + b[2]) > max(a[0], b[0])
                and min(a[1] + a[3], b[1] + b[3]) > max(a[1], b[1]))


# --------------------------------------------------------------------------------------
# box-relative masks (crop / paste) and the Hasty encoding
# --------------------------------------------------------------------------------------


def _check_box(xyxy: Sequence[int], height: int, width: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (int(v) for v in xyxy)
    if not (0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height):
        raise ValueError(
            f"box [{x0}, {y0}, {x1}, {y1}] (x0, y0, x1, y1) must lie inside the "
            f"{height}x{width} (height x width) image with x0 <= x1 and y0 <= y1"
        )
    return x0, y0, x1, y1


def crop(rle: RLE, xyxy: Sequence[int]) -> RLE:
    """The part of the mask inside the integer box ``(x0, y0, x1, y1)`` (max edges
    exclusive), as an RLE of size ``(y1 - y0, x1 - x0)``. Only the box's columns are
    decoded.

    >>> r = from_counts([5, 2, 1, 8, 1, 2, 5], 4, 6)
    >>> decode(crop(r, (1, 0, 3, 2))).astype(int).tolist()
    [[0, 1], [1, 1]]
    """
    h, w = rle.size
    x0, y0, x1, y1 = _check_box(xyxy, h, w)
    cols = _decode_columns(rle, x0, x1)  # (h, x1 - x0), Fortran-ordered
    return encode(cols[y0:y1])


def _decode_columns(rle: RLE, x0: int, x1: int) -> npt.NDArray[np.bool_]:
    """Columns [x0, x1) of the mask as an (h, x1 - x0) bool array."""
    h = rle.height
    lo, hi = x0 * h, x1 * h
    c = rle.counts.astype(_I64)
    ends = np.cumsum(c)
    starts = ends - c
    clipped = np.clip(ends, lo, hi) - np.clip(starts, lo, hi)
    values = np.zeros(c.size, np.bool_)
    values[1::2] = True
    flat = np.repeat(values, clipped)
    return flat.reshape(x1 - x0, h).T


def paste(piece: RLE, xyxy: Sequence[int], height: int, width: int) -> RLE:
    """Place a box-relative mask (size ``(y1 - y0, x1 - x0)``) at ``(x0, y0, x1, y1)`` in an
    empty ``height`` x ``width`` image. Works on runs only; no dense image is built.

    >>> p = encode(np.ones((2, 2), bool))
    >>> paste(p, (1, 1, 3, 3), 4, 4).counts.tolist()
    [5, 2, 2, 2, 5]
    """
    x0, y0, x1, y1 = _check_box(xyxy, height, width)
    ph, pw = y1 - y0, x1 - x0
    if piece.size != (ph, pw):
        raise ValueError(
            f"piece is {piece.height}x{piece.width} (height x width) but the box "
            f"[{x0}, {y0}, {x1}, {y1}] is {ph}x{pw}"
        )
    s, e = _fg_runs(piece)
    if s.size == 0:
        return empty(height, width)
    # Split runs at crop-column boundaries, then map each piece to full-image indices.
    c0 = s // ph
    c1 = (e - 1) // ph
    n = c1 - c0 + 1
    run = np.repeat(np.arange(s.size), n)
    col = c0[run] + _local_index(n)
    lo = np.maximum(s[run], col * ph) - col * ph
    hi = np.minimum(e[run], (col + 1) * ph) - col * ph
    fs = (x0 + col) * height + y0 + lo
    fe = (x0 + col) * height + y0 + hi
    # Touching pieces (full-height columns) merge: drop equal end/start pairs.
    toggles = np.empty(fs.size * 2, _I64)
    toggles[0::2] = fs
    toggles[1::2] = fe
    toggles = _odd_multiplicity(toggles)
    return RLE._make(_counts_from_toggles(toggles, height * width), height, width)


def to_hasty(rle: RLE, xyxy: Sequence[int] | None = None) -> tuple[list[int], list[int]]:
    """Hasty's mask of ``rle`` relative to the box ``xyxy`` (default: the tight box).

    Returns ``(xyxy, pairs)``: the box ``[x0, y0, x1, y1]`` (max edges exclusive) and the flat
    list of 1-based ``(start, length)`` pairs over the crop read row by row. Foreground
    outside the box is an error (Hasty cannot hold it). An empty mask gives
    ``([0, 0, 0, 0], [])`` when no box is given.

    >>> r = from_hasty([2, 2, 5, 4, 10, 1], (2, 1, 6, 4), 6, 8)
    >>> to_hasty(r)
    ([2, 1, 6, 4], [2, 2, 5, 4, 10, 1])
    """
    h, w = rle.size
    if xyxy is None:
        tight = to_xyxy(rle)
        if tight is None:
            return [0, 0, 0, 0], []
        box = tight
    else:
        box = _check_box(xyxy, h, w)
    x0, y0, x1, y1 = box
    n = area(rle)
    if n == 0:
        return list(box), []
    if n * 16 < (x1 - x0) * (y1 - y0):
        # a sparse mask (scattered pixels in a large box): the crop's row-major positions
        # come straight from the runs, without decoding the box
        s, e = _fg_runs(rle)
        idx = np.repeat(s, e - s) + _local_index(e - s)
        col, row = np.divmod(idx, h)
        if xyxy is not None and bool(((col < x0) | (col >= x1) | (row < y0) | (row >= y1)).any()):
            raise ValueError(f"mask has foreground outside its box {list(box)}")
        pos = np.sort((row - y0) * (x1 - x0) + (col - x0))
        cut = np.flatnonzero(np.diff(pos) != 1) + 1
        starts = pos[np.concatenate(([0], cut))]
        stops = pos[np.concatenate((cut - 1, [n - 1]))] + 1
        pairs = np.empty(starts.size * 2, _I64)
        pairs[0::2] = starts + 1
        pairs[1::2] = stops - starts
        return list(box), pairs.tolist()
    dense = _decode_columns(rle, x0, x1)[y0:y1]
    if xyxy is not None and int(np.count_nonzero(dense)) != area(rle):
        raise ValueError(f"mask has foreground outside its box {list(box)}")
    flat = np.ascontiguousarray(dense).reshape(-1).view(np.uint8)
    if flat.size == 0:
        return list(box), []
    toggles = _toggles_flat(flat)
    if toggles.size % 2:
        toggles = np.append(toggles, flat.size)
    starts, stops = toggles[0::2], toggles[1::2]
    pairs = np.empty(starts.size * 2, _I64)
    pairs[0::2] = starts + 1
    pairs[1::2] = stops - starts
    return list(box), pairs.tolist()


def from_hasty(
    pairs: Sequence[int] | npt.ArrayLike, xyxy: Sequence[int], height: int, width: int
) -> RLE:
    """An image-sized RLE from Hasty's box-relative ``(start, length)`` pairs.

    Validates what the Hasty SDK does not: an even count, starts >= 1, lengths >= 1, runs
    increasing, not overlapping and inside the box (raises :class:`RLEError`).

    >>> decode(from_hasty([2, 2, 5, 4, 10, 1], (2, 1, 6, 4), 6, 8))[1:4, 2:6].astype(int).tolist()
    [[0, 1, 1, 0], [1, 1, 1, 1], [0, 1, 0, 0]]
    """
    _check_size(height, width, None)
    try:
        x0, y0, x1, y1 = _check_box(xyxy, height, width)
    except ValueError as e:
        raise RLEError(message=str(e)) from None
    ph, pw = y1 - y0, x1 - x0
    a = np.asarray(pairs)
    if a.size and a.dtype.kind not in "iu":
        raise RLEError(message=f"mask values must be integers, got {a.dtype}")
    if a.size:  # before any int64 arithmetic, which would wrap around
        bad = next((v for v in (int(a.min()), int(a.max())) if not 0 <= v <= ph * pw), None)
        if bad is not None:
            raise RLEError(
                message=f"mask value {bad} is outside its box [{x0}, {y0}, {x1}, {y1}] of "
                f"{ph}x{pw} = {ph * pw} pixels"
            )
    a = a.astype(_I64).reshape(-1)
    if a.size % 2:
        raise RLEError(message=f"mask has {a.size} values; expected (start, length) pairs")
    starts, lengths = a[0::2] - 1, a[1::2]
    if starts.size:
        if int(starts.min()) < 0:
            raise RLEError(message="mask run start < 1 (starts are 1-based)")
        if int(lengths.min()) < 1:
            raise RLEError(message="mask run length < 1")
        stops = starts + lengths
        if (starts[1:] < stops[:-1]).any():
            raise RLEError(message="mask runs overlap or are not in increasing order")
        if int(stops[-1]) > ph * pw:
            raise RLEError(
                message=f"mask run ends at pixel {int(stops[-1])} but its box "
                f"[{x0}, {y0}, {x1}, {y1}] holds {ph}x{pw} = {ph * pw} pixels"
            )
    # the crop, row-major, from alternating background/foreground run lengths
    runs = np.empty(starts.size * 2 + 1, _I64)
    runs[0:-1:2] = starts
    runs[1:-1:2] = lengths
    runs[2:-1:2] -= starts[:-1] + lengths[:-1]  # the gaps between runs
    runs[-1] = ph * pw - (int(starts[-1] + lengths[-1]) if starts.size else 0)
    values = np.zeros(runs.size, np.bool_)
    values[1::2] = True
    dense = np.repeat(values, runs).reshape(ph, pw)
    return paste(encode(dense), (x0, y0, x1, y1), height, width)
