"""annoconv.rle against pycocotools (the oracle) and the specs' worked examples."""

from __future__ import annotations

import pickle
import tracemalloc
from unittest import mock

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pycocotools import mask as coco_mask

from annoconv import rle
from annoconv.errors import ParseError, RLEError

from .samples import (
    WORKED_COUNTS,
    WORKED_MASK,
    WORKED_MASK_2,
    WORKED_STRING,
    blob,
    corner_pixel_mask,
    crowd_rle,
    empty_mask,
    full_mask,
)
from .strategies import masks


def coco_encode(m: np.ndarray) -> dict:
    return coco_mask.encode(np.asfortranarray(m.astype(np.uint8)))


# ---- worked examples -------------------------------------------------------------------


def test_worked_example_counts_string_area_bbox():
    r = rle.encode(WORKED_MASK)
    assert r.counts.tolist() == WORKED_COUNTS
    assert rle.to_string(r.counts) == WORKED_STRING
    assert rle.to_coco(r) == {"size": [4, 6], "counts": WORKED_STRING}
    assert rle.area(r) == 12
    assert rle.to_bbox(r).tolist() == [1.0, 0.0, 4.0, 4.0]


def test_worked_example_2_negative_groups():
    r = rle.from_counts([2, 20, 3, 1, 14], 5, 8)
    assert rle.to_string(r.counts) == "2d03]O;"
    assert rle.area(r) == 21
    assert rle.to_bbox(r).tolist() == [0.0, 0.0, 6.0, 5.0]


@pytest.mark.parametrize(
    ("value", "chars"),
    [(0, "0"), (1, "1"), (15, "?"), (16, "`0"), (31, "o0"), (32, "P1"), (511, "o?"),
     (512, "P`0"), (-1, "O"), (-16, "@"), (-17, "_O"), (-20, "\\O"), (-32, "PO"), (-33, "oN")],
)
def test_single_value_encodings(value, chars):
    # counts [0, 100, 0, 100 + v]: the fourth value is stored as the delta v
    assert rle.to_string([0, 100, 0, 100 + value]) == "0" + rle.to_string([100]) + "0" + chars


def test_merge_and_iou_worked_example():
    a, b = rle.encode(WORKED_MASK), rle.encode(WORKED_MASK_2)
    assert rle.to_string(rle.merge([a, b]).counts) == "0221O50J4"
    assert rle.to_string(rle.merge([a, b], intersect=True).counts) == "5121<"
    assert rle.iou([a], [b]).tolist() == [[0.2]]
    assert rle.iou([a], [b], [1]).tolist() == [[0.25]]


def test_named_samples():
    assert rle.area(empty_mask) == 0 and rle.to_bbox(empty_mask).tolist() == [0, 0, 0, 0]
    assert rle.area(full_mask) == 24 and rle.to_bbox(full_mask).tolist() == [0, 0, 6, 4]
    assert rle.to_bbox(corner_pixel_mask).tolist() == [5, 3, 1, 1]
    crowd = rle.from_coco(crowd_rle)
    assert crowd.counts.tolist() == [23040, 6, 224, 2, 2, 2, 224, 6, 224, 6, 57224]
    assert rle.area(crowd) == 22


# ---- properties against pycocotools --------------------------------------------------------


@given(masks(min_side=1))
@example(np.zeros((1, 1), bool))
@example(np.ones((1, 1), bool))
@example(np.ones((1, 9), bool))
@example(np.eye(9, 1, dtype=bool))
def test_encode_matches_pycocotools(m):
    r = rle.encode(m)
    ref = coco_encode(m)
    assert rle.to_string(r.counts) == ref["counts"].decode()
    assert rle.to_coco(r)["counts"] == ref["counts"].decode()
    assert rle.area(r) == int(coco_mask.area(ref))
    assert rle.to_bbox(r).tolist() == coco_mask.toBbox(ref).tolist()
    # decode: same pixels, Fortran-ordered like pycocotools
    d = rle.decode(r)
    assert d.dtype == np.bool_ and d.shape == m.shape and d.flags.f_contiguous
    np.testing.assert_array_equal(d, coco_mask.decode(ref).astype(bool))
    # pycocotools' own dict (bytes counts) passes straight in
    assert rle.from_coco(ref) == r


@given(masks(min_side=1))
def test_encode_word_scan_matches_pycocotools(m):
    # masks this small are scanned byte by byte; force the 8-byte word scan (and its tail)
    with mock.patch.object(rle, "_SHORT", 0):
        r = rle.encode(m)
    assert rle.to_string(r.counts) == coco_encode(m)["counts"].decode()


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("shape", [(61, 83), (480, 640), (97, 1)])
def test_encode_image_sized_masks(shape, order):
    rng = np.random.default_rng(7)
    for m in (blob(rng, *shape), rng.random(shape) < 0.5):
        m = np.asfortranarray(m) if order == "F" else np.ascontiguousarray(m)
        m[0, 0] = True  # a leading zero run
        assert rle.to_string(rle.encode(m).counts) == coco_encode(m)["counts"].decode()


@pytest.mark.parametrize("shape", [(0, 4), (4, 0), (0, 0)])
def test_zero_area_masks_encode_as_pycocotools(shape):
    m = np.zeros(shape, bool)
    for r in (rle.encode(m), rle.encode_batch(m[None])[0], rle.empty(*shape)):
        assert rle.to_coco(r) == {"size": list(shape), "counts": coco_encode(m)["counts"].decode()} == {
            "size": list(shape), "counts": "0"}
        assert rle.decode(r).shape == shape and rle.area(r) == 0
        assert rle.from_coco(rle.to_coco(r)) == r == rle.from_counts([], *shape)


@given(masks())
def test_encode_properties(m):
    r = rle.encode(m)
    c = r.counts
    assert c.dtype == np.uint32 and not c.flags.writeable
    assert int(c.sum()) == m.size
    if c.size > 1:
        assert (c[1:] > 0).all(), "no zero-length run except the first"
    np.testing.assert_array_equal(rle.decode(r), m)


@given(masks(min_side=1), masks(min_side=1))
def test_merge_iou_match_pycocotools(m1, m2):
    h, w = min(m1.shape[0], m2.shape[0]), min(m1.shape[1], m2.shape[1])
    m1, m2 = m1[:h, :w], m2[:h, :w]
    a, b = rle.encode(m1), rle.encode(m2)
    ra, rb = coco_encode(m1), coco_encode(m2)
    for inter in (0, 1):
        ours = rle.merge([a, b], intersect=bool(inter))
        assert rle.to_string(ours.counts) == coco_mask.merge([ra, rb], intersect=inter)["counts"].decode()
    for crowd in (0, 1):
        np.testing.assert_allclose(rle.iou([a], [b], [crowd]), coco_mask.iou([ra], [rb], [crowd]))
    np.testing.assert_array_equal(rle.decode(rle.difference(a, [b])), m1 & ~m2)


@given(masks(min_side=1), masks(min_side=1))
def test_iou_of_masks_of_different_sizes_matches_pycocotools(m1, m2):
    # -1 where the boxes overlap, 0 where they do not (pycocotools compares boxes first)
    a, b = rle.encode(m1), rle.encode(m2)
    for crowd in (0, 1):
        np.testing.assert_allclose(rle.iou([a], [b], [crowd]),
                                   coco_mask.iou([coco_encode(m1)], [coco_encode(m2)], [crowd]))


@given(
    st.lists(
        st.one_of(st.integers(0, 40), st.integers(0, 2**16), st.integers(0, 2**32 - 1)),
        min_size=1,
        max_size=30,
    )
)
@example([2**32 - 1, 0, 2**32 - 1, 0, 2**32 - 1])
@example([0, 2**32 - 1, 0, 1, 2**32 - 1, 2**29, 2**29 - 1, 2**14, 2**14 - 1, 0])
def test_string_round_trip_of_any_counts(counts):
    s = rle.to_string(counts)
    total = sum(counts)
    assert rle.to_string(np.array(counts, np.uint32)) == s
    assert rle.from_string(s, 1, total, max_pixels=total).counts.tolist() == counts
    ref = coco_mask.frPyObjects({"counts": counts, "size": [1, total]}, 1, total)
    assert s == ref["counts"].decode()


@given(masks(min_side=1))
def test_crop_paste_hasty(m):
    h, w = m.shape
    r = rle.encode(m)
    box = (w // 4, h // 4, w - w // 4, h - h // 3)
    x0, y0, x1, y1 = box
    c = rle.crop(r, box)
    np.testing.assert_array_equal(rle.decode(c), m[y0:y1, x0:x1])
    inside = np.zeros_like(m)
    inside[y0:y1, x0:x1] = m[y0:y1, x0:x1]
    assert rle.paste(c, box, h, w) == rle.encode(inside)
    xyxy, pairs = rle.to_hasty(rle.encode(inside), box)
    assert xyxy == list(box)
    assert rle.from_hasty(pairs, xyxy, h, w) == rle.encode(inside)
    tight, tpairs = rle.to_hasty(r)
    if m.any():
        assert rle.from_hasty(tpairs, tight, h, w) == r


def test_hasty_worked_example():
    # specs/hasty.md §3.3
    r = rle.from_hasty([2, 2, 5, 4, 10, 1], (2, 1, 6, 4), 6, 8)
    assert r.counts.tolist() == [14, 1, 4, 3, 3, 2, 5, 1, 15]
    assert rle.to_string(r.counts) == ">142OO2O:"
    assert rle.to_hasty(r) == ([2, 1, 6, 4], [2, 2, 5, 4, 10, 1])
    # a run wraps from one crop row into the next
    wrap = rle.from_hasty([3, 2], (0, 0, 3, 2), 2, 3)
    assert rle.decode(wrap).astype(int).tolist() == [[0, 0, 1], [1, 0, 0]]


@pytest.mark.parametrize("short", [rle._SHORT, 0])
def test_batch_encode_decode(short):
    rng = np.random.default_rng(0)
    stack = rng.random((6, 7, 9)) < 0.3
    stack[::2, 0, 0] = True  # leading zero runs
    stack[1::2, -1, -1] = True  # a change across two masks that must not leak
    hwn = np.asfortranarray(stack.transpose(1, 2, 0))  # pycocotools' layout
    expected = [r["counts"].decode() for r in coco_mask.encode(hwn.view(np.uint8))]
    orders = (stack, np.asfortranarray(stack), hwn.transpose(2, 0, 1), stack.astype(np.uint8),
              hwn.view(np.uint8).transpose(2, 0, 1), (stack * 7).astype(np.uint8), list(stack))
    with mock.patch.object(rle, "_SHORT", short):
        for ordered in orders:
            assert [rle.to_string(r.counts) for r in rle.encode_batch(ordered)] == expected
    np.testing.assert_array_equal(rle.decode_batch(rle.encode_batch(stack)), stack)


def test_rle_value_semantics():
    r = rle.encode(WORKED_MASK)
    assert pickle.loads(pickle.dumps(r)) == r
    assert hash(r) == hash(rle.from_counts(WORKED_COUNTS, 4, 6))
    assert rle.RLE([5, 0, 0, 2, 1, 8, 1, 2, 5], 4, 6) == r  # non-canonical input, same mask
    with pytest.raises(AttributeError):
        r.counts = None  # type: ignore[misc]
    with pytest.raises(ValueError):
        r.counts[0] = 1


# ---- hostile input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"size": [4, 6], "counts": [5, 2]}, "counts sum to 7, expected height*width = 4*6 = 24"),
        ({"size": [4, 6], "counts": [30, -6]}, "counts[1] is -6; counts must be >= 0"),
        ({"size": [4, 6], "counts": [20.0, 4.0]}, "counts must be integers, got floats"),
        ({"size": [4, 6], "counts": "52160J"}, "counts sum to 19, expected height*width = 4*6 = 24"),
        ({"size": [4, 6], "counts": "5216P"}, "compressed counts string is truncated (ends inside a value)"),
        ({"size": [4, 6], "counts": "52 60J4"}, "compressed counts string has character ' ' at offset 2; expected characters '0' to 'o' (codes 48-111)"),
        ({"size": [4, 6], "counts": "0O"}, "compressed counts decode to a negative count at run 1"),
        ({"size": [4], "counts": "0"}, "expected size [height, width] of two integers, got [4]"),
        ({"size": [4, 6]}, "expected counts as a string or a list, got null"),
        ([1, 2], "expected an RLE object {size, counts}, got an array"),
        ({"size": [100000, 100000], "counts": "0"}, "size [100000, 100000] has 10000000000 pixels, over the limit of 2147483648 (pass max_pixels= to allow larger masks)"),
    ],
)
def test_hostile_rle_input(obj, message):
    with pytest.raises(RLEError) as info:
        rle.from_coco(obj)
    assert str(info.value) == message
    assert isinstance(info.value, ParseError)


def test_huge_size_rejected_before_allocating():
    tracemalloc.start()
    with pytest.raises(RLEError):
        rle.from_coco({"size": [2**20, 2**20], "counts": [2**40]})
    with pytest.raises(RLEError):
        rle.from_coco({"size": [40000, 40000], "counts": "0" * 10}, max_pixels=2**32)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1_000_000


def test_max_pixels_is_configurable():
    assert rle.area(rle.from_coco({"size": [3, 3], "counts": [0, 9]}, max_pixels=9)) == 9
    with pytest.raises(RLEError, match="over the limit of 8"):
        rle.from_coco({"size": [3, 3], "counts": [9]}, max_pixels=8)


@pytest.mark.parametrize(
    ("pairs", "box", "message"),
    [
        ([1], (0, 0, 2, 2), "mask has 1 values; expected (start, length) pairs"),
        ([0, 1], (0, 0, 2, 2), "mask run start < 1 (starts are 1-based)"),
        ([1, 0], (0, 0, 2, 2), "mask run length < 1"),
        ([3, 2, 1, 1], (0, 0, 2, 2), "mask runs overlap or are not in increasing order"),
        ([4, 2], (0, 0, 2, 2), "mask run ends at pixel 5 but its box [0, 0, 2, 2] holds 2x2 = 4 pixels"),
        ([1, 1], (0, 0, 9, 2), "box [0, 0, 9, 2] (x0, y0, x1, y1) must lie inside the 4x4 (height x width) image with x0 <= x1 and y0 <= y1"),
        # values that int64 arithmetic would wrap around (a crash in np.repeat before)
        ([2, 2**63 - 1], (0, 0, 2, 2), f"mask value {2**63 - 1} is outside its box [0, 0, 2, 2] of 2x2 = 4 pixels"),
        ([2**63 - 1, 2**63 - 1], (0, 0, 2, 2), f"mask value {2**63 - 1} is outside its box [0, 0, 2, 2] of 2x2 = 4 pixels"),
        ([-(2**63), 1], (0, 0, 2, 2), f"mask value {-(2**63)} is outside its box [0, 0, 2, 2] of 2x2 = 4 pixels"),
    ],
)
def test_hostile_hasty_input(pairs, box, message):
    with pytest.raises(RLEError) as info:
        rle.from_hasty(pairs, box, 4, 4)
    assert str(info.value) == message


def test_located_error_text():
    with pytest.raises(RLEError) as info:
        rle.from_coco({"size": [4, 6], "counts": [5, 2]})
    located = info.value.located("instances.json", "$.annotations[3].segmentation")
    assert str(located) == (
        "instances.json: $.annotations[3].segmentation: counts sum to 7, expected "
        "height*width = 4*6 = 24"
    )


@given(masks(min_side=1), masks(min_side=1))
def test_encode_labels_matches_per_label_encode(m1, m2):
    h, w = min(m1.shape[0], m2.shape[0]), min(m1.shape[1], m2.shape[1])
    lab = m1[:h, :w].astype(np.int64) * 300 + m2[:h, :w].astype(np.int64) * 70000
    out = rle.encode_labels(lab)
    assert sorted(out) == sorted(set(np.unique(lab).tolist()) - {0})
    for value, r in out.items():
        assert r == rle.encode(lab == value)
        assert r.counts[1:].all() if r.counts.size > 1 else True
    assert set(rle.encode_labels(lab, background=None)) == set(np.unique(lab).tolist())


def reference_to_hasty(m: np.ndarray, box: list[int]) -> list[int]:
    """Hasty pairs the plain way: crop, read row by row, (1-based start, length) of runs."""
    x0, y0, x1, y1 = box
    flat = m[y0:y1, x0:x1].reshape(-1).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flat, [0]))))
    starts, stops = edges[0::2], edges[1::2]
    return [int(v) for pair in zip(starts + 1, stops - starts) for v in pair]


@st.composite
def sparse_masks(draw: st.DrawFn) -> np.ndarray:
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    m = np.zeros((h, w), bool)
    for _ in range(draw(st.integers(0, 12))):
        m[draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))] = True
    return m


@given(st.one_of(sparse_masks(), masks(max_side=12, min_side=1)), st.booleans())
@example(np.eye(30, dtype=bool), False)
def test_to_hasty_sparse_and_dense_paths(m, pad):
    r = rle.encode(m)
    tight = rle.to_xyxy(r)
    if tight is None:
        assert rle.to_hasty(r) == ([0, 0, 0, 0], [])
        return
    box = [0, 0, m.shape[1], m.shape[0]] if pad else list(tight)
    assert rle.to_hasty(r, box) == (box, reference_to_hasty(m, box))
    assert rle.to_hasty(r) == (list(tight), reference_to_hasty(m, list(tight)))
    if tight[2] - tight[0] > 1:  # a box that leaves pixels out is refused
        with pytest.raises(ValueError, match="foreground outside its box"):
            rle.to_hasty(r, [tight[0] + 1, tight[1], tight[2], tight[3]])
