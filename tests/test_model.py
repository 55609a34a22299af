"""annoconv.model: immutability, validation at construction, helpers users expect."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from annoconv import rle
from annoconv.model import (
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
    Status,
)

from .samples import WORKED_MASK, two_part_polygon


def small_dataset() -> Dataset:
    cats = (Category(id=1, name="person"), Category(id=18, name="dog", color=(255, 0, 0)))
    anns = (
        Annotation(id=1, category_id=18, shape=two_part_polygon),
        Annotation(id=2, category_id=1, shape=Box(x0=0, y0=0, x1=5, y1=5)),
        Annotation(id=3, category_id=1, shape=Mask.from_array(WORKED_MASK)),
    )
    samples = (
        Sample(id=1, file_name="a.jpg", width=6, height=4, status=Status.DONE, annotations=anns),
        Sample(id=2, file_name="b.jpg", width=6, height=4),
    )
    return Dataset(categories=cats, samples=samples)


def test_frozen_and_slotted():
    box = Box(x0=0, y0=0, x1=1, y1=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        box.x0 = 3  # type: ignore[misc]
    assert not hasattr(box, "__dict__")
    poly = Polygon.from_coco([[0, 0, 1, 0, 1, 1]])
    with pytest.raises(ValueError):
        poly.parts[0].exterior[0, 0] = 5


def test_arrays_are_copies():
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    line = Polyline(points=pts)
    pts[0, 0] = 9
    assert line.points[0, 0] == 0


def test_keyword_only():
    with pytest.raises(TypeError):
        Box(0, 0, 1, 1)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Box(x0=5, y0=0, x1=1, y1=1), "Box needs x0 <= x1 and y0 <= y1, got x0=5, y0=0, x1=1, y1=1"),
        (lambda: Box(x0=float("nan"), y0=0, x1=1, y1=1), "Box.x0 must be a finite number, got nan"),
        (lambda: Polygon.from_coco([[0, 0, 1]]), "polygon exterior: 3 coordinates; expected (x, y) pairs"),
        (lambda: Keypoints(points=[[0, 0]], visibility=[3]), "keypoints: visibility must be 0, 1 or 2"),
        # checked before the int8 cast, which would wrap 258 and -254 to 2
        (lambda: Keypoints(points=[[0, 0]], visibility=[258]), "keypoints: visibility must be 0, 1 or 2"),
        (lambda: Keypoints.from_coco([1, 2, -254]), "keypoints: visibility must be 0, 1 or 2"),
        (lambda: Keypoints.from_coco([1, 2, 1e10]), "keypoints: visibility must be 0, 1 or 2"),
        (lambda: Keypoints.from_coco([1, 2, 1.5]), "keypoints: visibility must be 0, 1 or 2"),
        (lambda: Category(id=1, name="a", kind="blob"), "Category.kind must be 'thing' or 'stuff', got 'blob'"),
        (lambda: Dataset(categories=(Category(id=1, name="a"), Category(id=1, name="b"))), "category id 1 appears more than once"),
        (lambda: Ellipse(cx=0, cy=0, rx=-1, ry=1), "Ellipse radii must be >= 0"),
        (lambda: Annotation(id=1, category_id=1, score=float("nan")), "Annotation.score must be a finite number or None, got nan"),
    ],
)
def test_validation_at_construction(make, message):
    with pytest.raises(ValueError) as info:
        make()
    assert str(info.value) == message


def test_numbers_keep_their_type():
    assert Polygon.from_coco([[0, 0, 1, 0, 1, 1]]).to_coco() == [[0, 0, 1, 0, 1, 1]]
    assert isinstance(Polygon.from_coco([[0, 0, 1, 0, 1, 1]]).to_coco()[0][0], int)
    assert Polygon.from_coco([[0.0, 0, 1, 0, 1, 1]]).to_coco() == [[0.0, 0.0, 1.0, 0.0, 1.0, 1.0]]
    assert Box.from_xywh(1, 2, 3, 4).to_xywh() == (1, 2, 3, 4)


def test_bbox_derivation():
    ds = small_dataset()
    anns = ds.samples[0].annotations
    assert anns[0].bbox.to_xywh() == (10.5, 20.0, 109.5, 50.5)
    assert anns[1].bbox == Box(x0=0, y0=0, x1=5, y1=5)
    assert anns[2].bbox.to_xywh() == (1, 0, 4, 4)
    stored = Annotation(id=9, category_id=1, shape=anns[2].shape, stored_bbox=Box(x0=0, y0=0, x1=6, y1=4))
    assert stored.bbox.to_xywh() == (0, 0, 6, 4)
    assert Annotation(id=1, category_id=1).bbox is None


def test_rotated_box_bounds():
    b = Box(x0=0, y0=0, x1=2, y1=2, rotation=45)
    bb = b.bounds()
    assert pytest.approx([bb.x0, bb.y0, bb.x1, bb.y1]) == [1 - 2**0.5, 1 - 2**0.5, 1 + 2**0.5, 1 + 2**0.5]


def test_keypoints_coco_round_trip():
    flat = [170, 60, 2, 0, 0, 0, 176, 59, 1]
    kp = Keypoints.from_coco(flat)
    assert kp.to_coco() == flat and kp.num_labeled == 2
    assert kp.bounds().to_xyxy() == (170, 59, 176, 60)


def test_dataset_helpers():
    ds = small_dataset()
    assert ds.category_by_id(18).name == "dog"
    assert ds.category_by_name("person").id == 1
    assert ds.category_by_id(18).color == (255, 0, 0, 255)
    with pytest.raises(KeyError):
        ds.category_by_id(2)
    assert [a.id for _, a in ds.iter_annotations()] == [1, 2, 3]
    assert ds.stats() == {
        "samples": 2,
        "annotations": 3,
        "categories": 2,
        "per_category": {"dog": 1, "person": 2},
        "per_shape": {"polygon": 1, "box": 1, "mask": 1},
        "per_status": {"done": 1, "none": 1},
    }


def test_streaming_dataset():
    ds = small_dataset()
    streamed = dataclasses.replace(ds, samples=iter(ds.samples))
    assert streamed.is_streaming
    assert streamed.materialize().samples == ds.samples


def test_equality_and_pickle():
    ds = small_dataset()
    assert pickle.loads(pickle.dumps(ds)) == ds
    assert Mask(rle=rle.encode(WORKED_MASK)) == Mask.from_array(np.asfortranarray(WORKED_MASK))
    assert Status("done") is Status.DONE and str(Status.DONE) == "done"


def test_core_review_model_edge_cases():
    import copy
    import pickle

    part = pickle.loads(pickle.dumps(PolygonPart(exterior=[[0, 0], [1, 0], [1, 1]])))
    kp = copy.deepcopy(Keypoints(points=[[1, 2]], visibility=[2]))
    for arr in (part.exterior, kp.visibility, pickle.loads(pickle.dumps(Polyline(points=[[0, 0], [1, 1]]))).points):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 7  # still read-only after pickling and copying
    a = Annotation(id=1, category_id=1, score=np.float64(0.5), area=np.int64(3))  # a model's outputs
    assert (a.score, type(a.score), a.area, type(a.area)) == (0.5, float, 3, int)
    with pytest.raises(TypeError, match=r"Sample\.tags must be a sequence of strings"):
        Sample(id=1, file_name="a", tags="abc")  # not ("a", "b", "c")
    with pytest.raises(ValueError, match=r"AttributeSpec\.scope"):
        AttributeSpec(name="x", type="text", scope="bogus")
    with pytest.raises(TypeError, match="stored_bbox must be a Box"):
        Annotation(id=1, category_id=1, stored_bbox=[0, 0, 1, 1])
    # right-angle rotations are exact (no 1e-16 noise in the bounds writers use)
    assert Box(x0=0, y0=0, x1=4, y1=2, rotation=180).bounds() == Box(x0=0, y0=0, x1=4, y1=2)
    assert Box(x0=0, y0=0, x1=4, y1=2, rotation=90).bounds() == Box(x0=1, y0=-1, x1=3, y1=3)
