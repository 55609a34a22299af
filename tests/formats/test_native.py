"""The annoconv native JSON format: lossless round trip of the whole model."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

import annoconv
from annoconv import rle
from annoconv.errors import ParseError
from annoconv.formats import native
from annoconv.model import (
    Annotation,
    AttributeSpec,
    Box,
    Category,
    Dataset,
    Ellipse,
    Keypoints,
    Mask,
    Polyline,
    Sample,
    Status,
)

from ..samples import WORKED_MASK, polygon_with_hole, two_part_polygon
from ..strategies import masks


def every_shape_dataset() -> Dataset:
    anns = (
        Annotation(id=1, category_id=1, shape=Box(x0=1, y0=2, x1=3.5, y1=4, rotation=12.5),
                   z_index=3, attributes={"occluded": True}, extra={"x.k": [1, 2]}),
        Annotation(id="uuid-2", category_id=2, shape=two_part_polygon, area=3212.375,
                   stored_bbox=Box(x0=10.5, y0=20, x1=120, y1=70.5)),
        Annotation(id=3, category_id=2, shape=polygon_with_hole, iscrowd=True, score=0.5),
        Annotation(id=4, category_id=1, shape=Mask.from_array(WORKED_MASK), track_id=7,
                   keypoints=Keypoints(points=[[1.5, 2]], visibility=[1])),
        Annotation(id=5, category_id=1, shape=Polyline(points=[[0, 0], [1.5, 2]], closed=True)),
        Annotation(id=6, category_id=1, shape=Keypoints(points=[[1, 2], [0, 0]], visibility=[2, 0], names=("a", "b"))),
        Annotation(id=7, category_id=1, shape=Ellipse(cx=5, cy=5, rx=2, ry=1.5, rotation=30)),
        Annotation(id=None, category_id=None, attributes={"weather": "rain"}),
    )
    return Dataset(
        categories=(
            Category(id=1, name="a", color=(1, 2, 3, 4), keypoint_names=("a", "b"), skeleton=((1, 2),)),
            Category(id=2, name="b", kind="stuff", supercategory="s", extra={"hasty.class_id": "u"}),
        ),
        attribute_specs=(AttributeSpec(name="occluded", type="bool", category_ids=(1,)),
                         AttributeSpec(name="weather", type="select", values=("rain", "sun"), scope="image")),
        samples=(Sample(id=1, file_name="a.png", width=6, height=4, subset="train", status=Status.REVIEWED,
                        tags=("t",), attributes={"weather": "sun"}, annotations=anns, extra={"k": None}),
                 Sample(id="s2", file_name="b.png")),
        info={"project": "x", "year": 2025},
    )


def test_round_trip_every_shape(tmp_path):
    ds = every_shape_dataset()
    report = annoconv.save(ds, tmp_path / "ds.json", "annoconv")
    assert report.lossless and report.samples == 2 and report.annotations == 8
    assert annoconv.detect_format(tmp_path / "ds.json") == "annoconv"
    back = annoconv.load(tmp_path / "ds.json")
    assert back == ds
    # int versus float survives
    doc = json.loads((tmp_path / "ds.json").read_text())
    shape = doc["samples"][0]["annotations"][0]["shape"]
    assert shape["xyxy"] == [1, 2, 3.5, 4] and isinstance(shape["xyxy"][0], int)


@given(st.lists(masks(max_side=6), max_size=4))
def test_round_trip_masks(ms):
    samples = tuple(
        Sample(id=i, file_name=f"{i}.png", width=m.shape[1], height=m.shape[0],
               annotations=(Annotation(id=i, category_id=1, shape=Mask(rle=rle.encode(m))),))
        for i, m in enumerate(ms)
    )
    ds = Dataset(categories=(Category(id=1, name="x"),), samples=samples)
    assert native.parse(json.loads(json.dumps(native.emit(ds)))) == ds


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"annoconv": 1, "samples": [{"id": 1}]}, "d.json: $.samples[0]: missing key 'file_name'"),
        ({"annoconv": 1, "samples": [{"id": 1, "file_name": "a", "annotations": [
            {"id": 1, "category_id": 1, "shape": {"type": "mask", "size": [2, 2], "counts": [1]}}]}]},
         "d.json: $.samples[0].annotations[0]: counts sum to 1, expected height*width = 2*2 = 4"),
        ({"annoconv": 1, "samples": [{"id": 1, "file_name": "a", "annotations": [
            {"id": 1, "category_id": 1, "shape": {"type": "blob"}}]}]},
         "d.json: $.samples[0].annotations[0]: unknown shape type 'blob'"),
        ([1], "d.json: $: expected an annoconv JSON object with key 'annoconv'"),
        ({"annoconv": 1, "samples": [1]}, "d.json: $.samples[0]: expected an object"),
        ({"annoconv": 1, "samples": [{"id": 1, "file_name": "a", "annotations": [
            {"id": 1, "category_id": 1, "bbox": [1, 2]}]}]}, "d.json: $.samples[0].annotations[0]: too few values"),
        ({"annoconv": 1, "samples": [{"id": 1, "file_name": "a", "annotations": ["x"]}]},
         "d.json: $.samples[0].annotations[0]: expected an object"),
    ],
)
def test_malformed(doc, message):
    with pytest.raises(ParseError) as info:
        native.parse(doc, "d.json")
    assert str(info.value) == message
