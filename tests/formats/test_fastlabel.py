"""FastLabel task JSON: sanity, invalid input, truncated files, round trips, SDK oracles.

The oracles run the official SDK (``fastlabel==0.26.0``) offline: ``converters.to_coco``,
``Client("offline").export_semantic_segmentation`` (the token is only checked for presence),
``mask_to_fastlabel_segmentation_points`` and ``utils.is_clockwise``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import annoconv
from annoconv import geometry, rle
from annoconv._io import dump_json_bytes
from annoconv.errors import ParseError
from annoconv.formats import fastlabel as fl
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
from annoconv.report import ConversionReport

from ..samples import polygon_with_hole, two_part_polygon
from ..strategies import masks, polygon_parts

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "fastlabel"
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "fastlabel.json").read_text())
FIXTURES = ["image_tasks", "sequential_tasks", "video_tasks", "classification_tasks", "single_task"]


def load_fixture(name: str) -> Any:
    return json.loads((FIX / f"{name}.json").read_text())


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON text: int vs float and key order count."""
    return dump_json_bytes(a) == dump_json_bytes(b)


def validate(doc: Any) -> None:
    import jsonschema

    jsonschema.validate(doc, SCHEMA)


# --------------------------------------------------------------------------------------
# sanity
# --------------------------------------------------------------------------------------


def test_sanity_image_tasks():
    report = ConversionReport()
    ds = annoconv.load(FIX / "image_tasks.json", report=report)
    assert [c.name for c in ds.categories] == ["car", "road", "sign", "lane", "light", "wheel", "person"]
    assert [c.id for c in ds.categories] == [1, 2, 3, 4, 5, 6, 7]
    car = ds.categories[0]
    assert car.color == (0xD1, 0x00, 0x69, 255)
    assert car.extra["fastlabel"] == {"type": "bbox", "title": "Car", "color": "#D10069"}
    s0, s1 = ds.samples
    assert (s0.id, s0.file_name, s0.width, s0.height) == (
        "7f1c2a64-0d1e-4c5e-9a53-1b2c3d4e5f60", "street/0001.jpg", 64, 48)
    assert s0.status is Status.REVIEWED and s0.extra["fastlabel"]["status"] == "approved"
    assert s0.extra["fastlabel"]["externalStatus"] == "registered"
    assert s0.extra["fastlabel"]["approver"] is None
    assert s0.tags == ("batch-a",)
    car_ann, road, sign, lane = s0.annotations
    assert car_ann.id == "a0000000-0000-4000-8000-000000000001"
    assert car_ann.shape == Box(x0=4, y0=6, x1=20, y1=18)
    assert car_ann.bbox.to_xywh() == (4, 6, 16, 12) and car_ann.shape.area == 192
    assert car_ann.attributes == {"occluded": True, "kind": "sedan"}
    assert car_ann.score is None
    # the road: outer ring clockwise (+720), hole counter-clockwise (-80), 640 pixels
    part = road.shape.parts[0]
    assert part.exterior.tolist() == [[30, 20], [60, 20], [60, 44], [30, 44]]
    assert part.holes[0].tolist() == [[40, 28], [40, 36], [50, 36], [50, 28]]
    assert geometry.ring_area(part.exterior) == 720 and geometry.ring_area(part.holes[0]) == -80
    assert rle.area(geometry.polygon_to_rle(road.shape, 48, 64)) == 640
    assert geometry.polygon_area(road.shape) == 640
    assert sign.shape == Polygon.from_coco([[2, 30, 10, 30, 6, 40]]) and sign.score == 0.87
    assert lane.shape == Polyline(points=[[0, 47], [20, 30], [40, 25]])
    assert s0.extra["fastlabel"]["relations"][0]["end"] == car_ann.id
    # second task: old status, reversed rotated box, donut + square, keypoint, circle, pose
    assert s1.status is Status.REJECTED and s1.extra["fastlabel"]["customerReviewer"] == "dave"
    box, donut, light, wheel, person = s1.annotations
    assert box.shape == Box(x0=10, y0=10, x1=50, y1=50, rotation=30)
    assert box.extra["fastlabel"]["points"] == [50, 10, 10, 50]
    assert report.count("box_normalised") == 1
    assert len(donut.shape.parts) == 2 and geometry.polygon_area(donut.shape) == 400
    assert rle.area(geometry.polygon_to_rle(donut.shape, 56, 60)) == 400
    assert light.shape == Keypoints(points=[[12.5, 3.25]], visibility=[2])
    assert wheel.shape == Ellipse(cx=30, cy=52, rx=3.5, ry=3.5)
    assert person.shape.names == ("head", "right_shoulder", "left_shoulder")
    assert person.shape.visibility.tolist() == [2, 1, 0]
    assert person.shape.points.tolist()[:2] == [[50.59, 23.04], [56.5, 30.25]]
    cat = ds.category_by_name("person")
    assert cat.keypoint_names == ("head", "right_shoulder", "left_shoulder")
    assert cat.skeleton == ((1, 2), (1, 3))
    specs = {(a.scope, a.name): a for a in ds.attribute_specs}
    assert specs["annotation", "occluded"].type == "bool"
    assert specs["annotation", "occluded"].category_ids == (1,)
    assert specs["annotation", "kind"].type == "select" and specs["annotation", "kind"].values == ("sedan",)
    assert specs["annotation", "text"].extra["fastlabel"] == {"name": "Text", "type": "text"}


def test_sanity_sequential_task():
    ds = annoconv.load(FIX / "sequential_tasks.json")
    a, b = ds.samples
    assert (a.id, a.file_name, a.width, a.height) == (
        "5e0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3/01.jpg", "drive-01/01.jpg", 32, 24)
    assert b.file_name == "drive-01/02.jpg"
    assert a.status is b.status is Status.DONE and a.tags == ("seq",)
    assert [x.shape for x in a.annotations] == [Box(x0=20, y0=2, x1=28, y1=10)]
    assert a.annotations[0].attributes == {"colour": ["black", "white"]}
    assert [type(x.shape).__name__ for x in b.annotations] == ["Polygon", "Box"]
    assert [x.extra["fastlabel"]["@index"] for x in b.annotations] == [0, 2]
    assert a.extra["fastlabel"]["externalStatus"] == "customer_declined"
    specs = {a.name: a for a in ds.attribute_specs}
    assert specs["colour"].type == "multiselect" and specs["colour"].values == ("black", "white")


def test_sanity_video_one_sample_per_frame():
    ds = annoconv.load(FIX / "video_tasks.json")
    assert [s.file_name for s in ds.samples] == ["clips/cat_0.jpg", "clips/cat_1.jpg",
                                                  "clips/cat_2.jpg", "clips/cat_3.jpg"]
    assert ds.samples[0].id == "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d/1"
    assert [len(s.annotations) for s in ds.samples] == [1, 2, 1, 1]
    f2 = ds.samples[1]
    cat_box, lane = f2.annotations
    assert cat_box.shape == Box(x0=3, y0=3, x1=13, y1=13)
    assert cat_box.track_id == "c0000000-0000-4000-8000-000000000001"
    assert cat_box.id == "c0000000-0000-4000-8000-000000000001/2"
    assert cat_box.extra["fastlabel"]["@frame"]["autogenerated"] is True
    assert lane.shape == Polyline(points=[[0, 28], [20, 14], [39, 9]])
    assert (f2.width, f2.height, f2.status) == (40, 30, Status.NEW)


def test_video_frames_option():
    doc = [{"id": "v", "name": "v.mp4", "width": 8, "height": 8, "frameCount": 12,
            "annotations": [{"type": "keypoint", "value": "p", "points": {
                "3": {"value": [1, 2], "autogenerated": False},
                "11": {"value": [2, 3], "autogenerated": False}}}]}]
    every = fl.parse(doc)
    assert len(every.samples) == 12
    assert every.samples[0].file_name == "v_00.jpg" and every.samples[11].file_name == "v_11.jpg"
    annotated = fl.parse(doc, video_frames="annotated")
    assert [s.id for s in annotated.samples] == ["v/3", "v/11"]
    assert annotated.samples[1].annotations[0].track_id == 0  # no id: the annotation's index
    for ds in (every, annotated):
        assert same_json(fl.emit(ds), doc)
    with pytest.raises(ValueError, match="video_frames must be"):
        fl.parse(doc, video_frames="some")


def test_sanity_classification_tasks():
    ds = annoconv.load(FIX / "classification_tasks.json")
    image, left, right = ds.samples
    assert image.annotations == () and image.attributes == {"kind": "Scottish field", "indoor": True}
    assert left.attributes == right.attributes == {"attribute-key-1": "attribute-value-1", "weather": "rain"}
    assert (right.width, right.height) == (120, 90)
    assert left.status is Status.IN_PROGRESS
    assert left.extra["fastlabel"]["status"] == "workflow_2_completed"
    specs = {a.name: a for a in ds.attribute_specs}
    assert all(a.scope == "image" for a in ds.attribute_specs)
    assert specs["indoor"].type == "bool" and specs["weather"].type == "select"


def test_single_task_file_is_written_back_as_one_object(tmp_path):
    ds = annoconv.load(FIX / "single_task.json")
    assert ds.info["fastlabel"] == {"single": True} and ds.samples[0].status is Status.NEW
    annoconv.save(ds, tmp_path / "out.json", "fastlabel")
    assert json.loads((tmp_path / "out.json").read_text()) == load_fixture("single_task")


@pytest.mark.parametrize("status, canonical", [
    ("registered", Status.NEW), ("pending", Status.NEW), ("in_progress", Status.IN_PROGRESS),
    ("completed", Status.DONE), ("in_review", Status.TO_REVIEW),
    ("customer_in_review", Status.TO_REVIEW), ("reviewed", Status.REVIEWED),
    ("approved", Status.REVIEWED), ("customer_approved", Status.REVIEWED),
    ("sent_back", Status.REJECTED), ("send_backed", Status.REJECTED),
    ("customer_sent_back", Status.REJECTED), ("customer_send_backed", Status.REJECTED),
    ("declined", Status.REJECTED), ("customer_declined", Status.REJECTED),
    ("skipped", Status.SKIPPED), ("workflow_3_declined", Status.IN_PROGRESS),
])
def test_status_vocabulary_old_and_new(status, canonical):
    doc = [{"name": "a.jpg", "width": 1, "height": 1, "status": status, "annotations": []}]
    ds = fl.parse(doc)
    assert ds.samples[0].status is canonical
    assert same_json(fl.emit(ds), doc)


def test_unknown_status_kept_and_counted():
    doc = [{"id": "t", "name": "a.jpg", "width": 1, "height": 1, "status": "archived"}]
    report = ConversionReport()
    ds = fl.parse(doc, report=report)
    assert ds.samples[0].status is None and ds.samples[0].extra["fastlabel"]["status"] == "archived"
    assert report.count("status_unknown") == 1
    assert report.examples["status_unknown"] == ["task 'a.jpg' status 'archived'"]
    assert same_json(fl.emit(ds), doc)


def test_duplicate_names_are_counted_not_rejected():
    doc = [{"id": f"t{i}", "name": "a.jpg", "width": 1, "height": 1} for i in range(3)]
    report = ConversionReport()
    assert len(fl.parse(doc, report=report).samples) == 3
    assert report.count("name_duplicate") == 2


def test_unknown_attribute_type_passes_through_once_counted():
    doc = [{"name": f"{i}.jpg", "width": 1, "height": 1, "annotations": [
        {"type": "keypoint", "value": "p", "points": [0, 0],
         "attributes": [{"key": "depth", "name": "Depth", "type": "slider", "value": 2.5}]}]}
        for i in range(2)]
    report = ConversionReport()
    ds = fl.parse(doc, report=report)
    assert report.count("attribute_type_unknown") == 1
    assert ds.attribute_specs[0].type == "float"
    assert ds.attribute_specs[0].extra["fastlabel"]["type"] == "slider"
    assert same_json(fl.emit(ds), doc)


@pytest.mark.parametrize("name", FIXTURES)
def test_sniff_detects_every_fixture(name):
    assert annoconv.detect_format(FIX / f"{name}.json") == "fastlabel"


@pytest.mark.parametrize("head, score", [
    (b'[{"id": "t", "name": "a.jpg", "externalStatus": "registered"', 2),
    (b'[{"name": "a.jpg", "status": "registered", "width": 4, "annotations": []}]', 2),
    (b'[{"name": "a.jpg", "width": 4, "annotations": []}]', 1),
    (b'{"images": [], "annotations": [], "categories": []}', 0),
    (b'[[1, 2], {"name": "a", "annotations": [], "width": 1}]', 0),
    (b'[{"task_id": "x", "status": "completed", "response": {"annotations": []}}]', 0),
    (b"not json", 0),
    # classification tasks of SDKs before 0.10 (no externalStatus) and tasks without annotations
    (b'[{"id": "t", "name": "a.jpg", "width": 4, "height": 3, "url": "u", "status": "completed", '
     b'"tags": [], "assignee": null, "attributes": [{"key": "k", "value": "v"}]}]', 2),
    (b'[{"id": "t", "name": "pair", "contents": [], "status": "registered", "attributes": []}]', 2),
    (b'[{"id": "t", "name": "a.jpg", "width": 4, "height": 3, "status": "registered", '
     b'"customerReviewer": null}]', 2),
    (b'[{"id": "t", "name": "a.jpg", "width": 4, "height": 3, "status": "registered"}]', 1),
    (b'{"id": "t", "name": "a.jpg", "width": 4, "height": 3, "url": "u", "createdAt": "x"}', 1),
    # other formats' files: a Scale task with a name, a Segments release, a bare size
    (b'[{"task_id": "x", "name": "a.jpg", "width": 4, "status": "completed", "response": {}}]', 0),
    (b'{"name": "v1", "description": "", "created_at": "x", "dataset": {"task_type": "x"}}', 0),
    (b'[{"name": "a.jpg", "width": 4, "height": 3}]', 0),
])
def test_sniff_looks_at_the_first_task_keys(head, score):
    assert fl.sniff(Path("x.json"), head) == score


@pytest.mark.parametrize("doc", [
    [{"id": "t", "name": "cat.jpg", "width": 100, "height": 80, "url": "u", "status": "completed",
      "priority": 0, "tags": [], "assignee": "alice", "reviewer": None, "customerReviewer": None,
      "attributes": [{"key": "kind", "name": "Kind", "type": "text", "value": "tabby"}],
      "createdAt": "2021-02-22T11:25:27.158Z", "updatedAt": "2021-02-22T11:25:27.158Z"}],
    [{"id": "t", "name": "cat.jpg", "width": 100, "height": 80, "url": "u", "status": "registered",
      "tags": [], "assignee": None, "reviewer": None}],
])
def test_detects_old_classification_tasks_and_tasks_without_annotations(tmp_path, doc):
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(doc))
    assert annoconv.detect_format(path) == "fastlabel"
    assert same_json(fl.emit(annoconv.load(path)), doc)


# --------------------------------------------------------------------------------------
# invalid input: one located error each, nothing written
# --------------------------------------------------------------------------------------


def _ann(i: int):
    return lambda d: d[0]["annotations"][i]


def _set(i: int, key: str, value: Any):
    return lambda d: d[0]["annotations"][i].__setitem__(key, value)


INVALID = [
    (_set(0, "points", [1, 2, 3, 4, 5, 6]),
     "$[0].annotations[0].points: bbox points: expected 4 numbers [x1, y1, x2, y2], got 6"),
    (_set(0, "points", [[[1, 2, 3, 4, 5, 6, 1, 2]]]),
     "$[0].annotations[0].points: bbox points: expected a flat list of 4 numbers [x1, y1, x2, "
     "y2], got a nested list (the segmentation layout)"),
    (_set(0, "rotation", "30"),
     "$[0].annotations[0].rotation: bbox rotation: expected a number of degrees, got '30'"),
    (_set(2, "points", [1, 2, 3, 4, 5]),
     "$[0].annotations[2].points: polygon points: expected a flat list of at least 3 (x, y) "
     "pairs, got 5 numbers"),
    (_set(3, "points", [1, 2]),
     "$[0].annotations[3].points: line points: expected a flat list of at least 2 (x, y) pairs, "
     "got 2 numbers"),
    (_set(3, "points", [1, "2", 3, 4]),
     "$[0].annotations[3].points[1]: line points: expected a number, got '2'"),
    (_set(3, "points", [1, True, 3, 4]),
     "$[0].annotations[3].points[1]: line points: expected a number, got true"),
    (_set(1, "points", [30, 20, 60, 20, 60, 44]),
     "$[0].annotations[1].points: segmentation points: expected a list of regions [[outer ring, "
     "hole, ...], ...] of flat closed rings, got a flat list of numbers (the polygon layout)"),
    (_set(1, "points", [[30, 20, 60, 20, 60, 44, 30, 20]]),
     "$[0].annotations[1].points: segmentation points: expected a list of regions [[outer ring, "
     "hole, ...], ...] of flat closed rings, got rings without their region list (one nesting "
     "level missing)"),
    (_set(1, "points", [[[30, 20, 60, 20, 30, 20]]]),
     "$[0].annotations[1].points[0][0]: segmentation ring: expected at least 3 distinct (x, y) "
     "points, got 2"),
    (_set(1, "points", [[[30, 20, 60, 20, 60, 44, 30]]]),
     "$[0].annotations[1].points[0][0]: segmentation ring: expected (x, y) pairs, got 7 numbers"),
    (_set(1, "points", [[]]),
     "$[0].annotations[1].points[0]: segmentation region: expected [outer ring, hole, ...], got "
     "a list of 0 items"),
    (_set(1, "points", {"1": {"value": [[[0, 0, 1, 0, 1, 1, 0, 0]]]}}),
     "$[0].annotations[0].points: expected per-frame points {\"<frame>\": {value, "
     "autogenerated}} as in the rest of this video task, got a list of 4 items"),
    (_set(0, "type", "cuboid"),
     "$[0].annotations[0].type: expected an annotation type (bbox, polygon, keypoint, line, "
     "circle, segmentation, pose_estimation, classification), got 'cuboid'"),
    (lambda d: _ann(0)(d).pop("value"),
     "$[0].annotations[0]: missing key 'value' (the annotation's class)"),
    (lambda d: _ann(3)(d).pop("points"),
     "$[0].annotations[3]: missing key 'points' (a line annotation's geometry)"),
    (_set(0, "attributes", [{"name": "x"}]),
     "$[0].annotations[0].attributes[0].key: attribute: expected a key string, got null"),
    (_set(0, "id", ["a"]),
     "$[0].annotations[0].id: expected an annotation id string, got a list of 1 items"),
    (lambda d: d[0].pop("width"),
     "$[0]: missing key 'width' (every image task needs 'width' and 'height')"),
    (lambda d: d[0].pop("height"),
     "$[0]: missing key 'height' (every image task needs 'width' and 'height')"),
    (lambda d: d[0].__setitem__("height", 48.0),
     "$[0].height: expected the image task's height as an integer >= 0, got 48.0"),
    (lambda d: d.append(copy.deepcopy(d[0])),
     "$[2].id: expected a unique task id, got '7f1c2a64-0d1e-4c5e-9a53-1b2c3d4e5f60' again "
     "(first at $[0].id)"),
    (lambda d: d[0].__setitem__("status", 3), "$[0].status: expected a status string, got 3"),
    (lambda d: d[0].__setitem__("tags", "a"), "$[0].tags: expected a list of tag strings, got 'a'"),
    (lambda d: d.__setitem__(0, "x"), "$[0]: expected a task object, got 'x'"),
    (lambda d: d[0].pop("name"), "$[0]: missing key 'name' (the task's image or video name)"),
    (lambda d: d[1]["annotations"][4]["keypoints"][0].__setitem__("value", [1, 2, 2]),
     "$[1].annotations[4].keypoints[0].value[2]: pose keypoint visibility: expected 0 or 1, got 2"),
    (lambda d: d[1]["annotations"][4]["keypoints"][0].__setitem__("value", [1, 2]),
     "$[1].annotations[4].keypoints[0].value: pose keypoint value: expected [x, y, visibility] "
     "or [], got 2 numbers"),
    (lambda d: d[1]["annotations"][3].__setitem__("points", [1, 2, 3, 4]),
     "$[1].annotations[3].points: circle points: expected 3 numbers [cx, cy, r], got 4"),
    (lambda d: d[1]["annotations"][3].__setitem__("points", [1, 2, -3]),
     "$[1].annotations[3].points: circle points: expected a radius >= 0, got -3"),
    (lambda d: d[1]["annotations"][2].__setitem__("points", [1, 2, 3]),
     "$[1].annotations[2].points: keypoint points: expected 2 numbers [x, y], got 3"),
    # values that used to escape as TypeErrors
    (lambda d: d[1]["annotations"][4]["keypoints"][0].__setitem__("edges", 5),
     "$[1].annotations[4].keypoints[0].edges: pose keypoint edges: expected a list of keypoint "
     "keys, got 5"),
    (lambda d: d[1]["annotations"][4]["keypoints"][0].__setitem__("edges", [[1]]),
     "$[1].annotations[4].keypoints[0].edges[0]: pose keypoint edge: expected a keypoint key "
     "string, got a list of 1 items"),
    (lambda d: d[1]["annotations"][4]["keypoints"][2].__setitem__("key", "head"),
     "$[1].annotations[4].keypoints[2].key: pose keypoint: key 'head' appears twice in one "
     "annotation"),
    (lambda d: d[0]["annotations"][0]["attributes"][0].__setitem__("type", ["x"]),
     "$[0].annotations[0].attributes[0].type: attribute: expected a type string, got a list of "
     "1 items"),
    (lambda d: d[0]["attributes"].append({"key": "k", "type": {}, "value": 1}) if "attributes" in d[0]
     else d[0].__setitem__("attributes", [{"key": "k", "type": {}, "value": 1}]),
     "$[0].attributes[0].type: attribute: expected a type string, got an object"),
    # the legacy prototype layout ({x, y} objects) is named as such (spec §4.6)
    (_set(3, "points", [{"x": 0, "y": 47}, {"x": 20, "y": 30}]),
     "$[0].annotations[3].points: line points: expected a flat list of at least 2 (x, y) pairs, "
     "got {x, y} objects: the legacy prototype format (FastLabel SDK <= 0.2), which annoconv does "
     "not read"),
    (lambda d: d[1]["annotations"][2].__setitem__("points", {"x": 12.5, "y": 3.25}),
     "$[1].annotations[2].points: keypoint points: expected 2 numbers [x, y], got {x, y} objects: "
     "the legacy prototype format (FastLabel SDK <= 0.2), which annoconv does not read"),
    (_set(1, "points", [[{"x": 30, "y": 20}, {"x": 60, "y": 20}, {"x": 60, "y": 44}]]),
     "$[0].annotations[1].points: segmentation points: expected a list of regions [[outer ring, "
     "hole, ...], ...] of flat closed rings, got {x, y} objects: the legacy prototype format "
     "(FastLabel SDK <= 0.2), which annoconv does not read"),
]


@pytest.mark.parametrize("mutate, message", INVALID)
def test_invalid_image_tasks(tmp_path, mutate, message):
    doc = load_fixture("image_tasks")
    mutate(doc)
    src = tmp_path / "tasks.json"
    src.write_text(json.dumps(doc))
    dst = tmp_path / "out.json"
    with pytest.raises(ParseError) as e:
        annoconv.convert(src, dst, to="fastlabel", from_="fastlabel")
    assert str(e.value) == f"{src}: {message}"
    assert not dst.exists()
    assert json.loads(src.read_text()) == doc  # the input is untouched


INVALID_OTHER = [
    ("sequential_tasks", lambda d: d[0]["annotations"][0].__setitem__("content", "03.jpg"),
     "$[0].annotations[0].content: expected the name of one of the task's contents, got '03.jpg'"),
    ("sequential_tasks", lambda d: d[0]["annotations"][0].pop("content"),
     "$[0].annotations[0]: missing key 'content'; a task with several contents names each "
     "annotation's content"),
    ("sequential_tasks", lambda d: d[0]["contents"][1].__setitem__("name", "01.jpg"),
     "$[0].contents[1].name: duplicate content name '01.jpg' in one task"),
    ("sequential_tasks", lambda d: d[0]["contents"][0].pop("height"),
     "$[0].contents[0]: missing key 'height' (every content needs 'width' and 'height')"),
    ("sequential_tasks", lambda d: d[0]["annotations"][1].__setitem__("type", "bbox") or
     d[0]["annotations"][0].__setitem__("type", "bbox"),
     "$[0].annotations[0].points: bbox points: expected a flat list of 4 numbers [x1, y1, x2, "
     "y2], got a nested list (the segmentation layout)"),
    ("video_tasks", lambda d: d[0]["annotations"][0]["points"].__setitem__("0", {"value": [1, 1, 2, 2]}),
     "$[0].annotations[0].points['0']: expected a frame number >= 1 as the key, got '0'"),
    ("video_tasks", lambda d: d[0]["annotations"][1]["points"].__setitem__("9", {"value": [1, 1, 2, 2]}),
     "$[0].annotations[1].points['9']: frame 9 is beyond the task's frameCount 4"),
    ("video_tasks", lambda d: d[0]["annotations"][1]["points"]["2"].__setitem__("value", [0, 1]),
     "$[0].annotations[1].points['2'].value: line points: expected a flat list of at least 2 "
     "(x, y) pairs, got 2 numbers"),
    ("video_tasks", lambda d: d[0]["annotations"][1]["points"].__setitem__("2", [0, 1]),
     "$[0].annotations[1].points['2']: expected a frame object {value, autogenerated}, got a "
     "list of 2 items"),
    ("video_tasks", lambda d: d[0].__setitem__("frameCount", "4"),
     "$[0].frameCount: expected the frame count as an integer >= 0, got '4'"),
    ("video_tasks", lambda d: d[0]["annotations"][0]["points"].__setitem__("²", {"value": [1, 1, 2, 2]}),
     "$[0].annotations[0].points['²']: expected a frame number >= 1 as the key, got '²'"),
    ("video_tasks", lambda d: d[0]["annotations"][0].__setitem__("rotation", "30"),
     "$[0].annotations[0].rotation: bbox rotation: expected a number of degrees, got '30'"),
    ("video_tasks", lambda d: d[0]["annotations"][1]["points"]["2"].__setitem__("value", {"x": 0, "y": 28}),
     "$[0].annotations[1].points['2'].value: line points: expected a flat list of at least 2 "
     "(x, y) pairs, got {x, y} objects: the legacy prototype format (FastLabel SDK <= 0.2), which "
     "annoconv does not read"),
    ("sequential_tasks", lambda d: d[0]["annotations"][0].__setitem__("content", ["02.jpg"]),
     "$[0].annotations[0].content: expected the name of one of the task's contents, got a list "
     "of 1 items"),
    ("classification_tasks", lambda d: d[0].__setitem__("attributes", {"kind": "x"}),
     "$[0].attributes: attributes: expected a list of {key, value} objects, got an object"),
    ("classification_tasks", lambda d: d.__setitem__(0, d[0]["attributes"]),
     "$[0]: expected a task object, got a list of 2 items"),
]


@pytest.mark.parametrize("fixture, mutate, message", INVALID_OTHER)
def test_invalid_other_tasks(fixture, mutate, message):
    doc = load_fixture(fixture)
    mutate(doc)
    with pytest.raises(ParseError) as e:
        fl.parse(doc, "tasks.json")
    assert str(e.value) == f"tasks.json: {message}"


@pytest.mark.parametrize("doc, message", [
    ("tasks", "expected an array of FastLabel task objects (or one task object), got 'tasks'"),
    (3, "expected an array of FastLabel task objects (or one task object), got 3"),
])
def test_invalid_top_level(doc, message):
    with pytest.raises(ParseError) as e:
        fl.parse(doc, "t.json")
    assert str(e.value) == f"t.json: $: {message}"


def test_wrong_file_kind(tmp_path):
    p = tmp_path / "coco.json"
    p.write_text('{"images": [], "annotations": []}')
    with pytest.raises(ParseError) as e:
        annoconv.load(p, "fastlabel")  # a COCO object read as one task
    assert str(e.value) == f"{p}: $: missing key 'name' (the task's image or video name)"


# --------------------------------------------------------------------------------------
# truncated files
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["image_tasks", "video_tasks", "single_task"])
@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.1, 0.33, 0.5, 0.77, 0.99])
def test_truncated(tmp_path, name, fraction):
    data = (FIX / f"{name}.json").read_bytes().rstrip()
    cut = tmp_path / "cut.json"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ParseError) as e:
        annoconv.load(cut, "fastlabel")
    assert str(e.value).startswith(f"{cut}: ")


# --------------------------------------------------------------------------------------
# save and round trips
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FIXTURES)
def test_round_trip_fixture_exact(tmp_path, name):
    report = annoconv.convert(FIX / f"{name}.json", tmp_path / "out.json", to="fastlabel")
    out = json.loads((tmp_path / "out.json").read_text())
    doc = load_fixture(name)
    assert same_json(out, doc)  # field for field, int vs float and key order kept
    assert report.files == ["out.json"] and report.samples >= 1
    assert set(report.counts) <= {"box_normalised"}  # a reader note, not a writer loss
    validate(out)


@pytest.mark.parametrize("name", FIXTURES)
def test_round_trip_through_annoconv_native(tmp_path, name):
    ds = annoconv.load(FIX / f"{name}.json")
    annoconv.save(ds, tmp_path / "model.json", "annoconv")
    back = annoconv.load(tmp_path / "model.json", "annoconv")
    assert back == ds
    assert same_json(fl.emit(back), load_fixture(name))


def test_model_edits_win_over_kept_raw_values():
    ds = annoconv.load(FIX / "image_tasks.json")
    s1 = ds.samples[1]
    box = s1.annotations[0]  # read from reversed points [50, 10, 10, 50]
    moved = dataclasses.replace(box, shape=Box(x0=11, y0=10, x1=50, y1=50, rotation=30), score=0.5,
                                attributes={"occluded": True})
    s1 = dataclasses.replace(s1, status=Status.DONE, tags=("x",),
                             annotations=(moved, *s1.annotations[1:]))
    report = ConversionReport()
    out = fl.emit(dataclasses.replace(ds, samples=(ds.samples[0], s1)), report)
    task = out[1]
    assert task["status"] == "completed" and task["tags"] == ["x"]
    ann = task["annotations"][0]
    assert ann["points"] == [11, 10, 50, 50] and ann["rotation"] == 30
    assert ann["confidenceScore"] == 0.5
    assert ann["attributes"] == [{"key": "occluded", "name": "Occluded", "type": "switch", "value": True}]
    assert out[0] == load_fixture("image_tasks")[0]
    assert report.lossless


def test_canonical_orientation_on_write():
    # outer ring counter-clockwise, hole clockwise, rings not closed: kept on a round trip ...
    raw = [[[0, 0, 0, 10, 10, 10, 10, 0], [2, 2, 6, 2, 6, 6, 2, 6]]]
    doc = [{"name": "a.png", "width": 12, "height": 12, "annotations": [
        {"type": "segmentation", "value": "x", "points": raw}]}]
    ds = fl.parse(doc)
    part = ds.samples[0].annotations[0].shape.parts[0]
    assert geometry.ring_area(part.exterior) < 0 and geometry.ring_area(part.holes[0]) > 0
    assert rle.area(geometry.polygon_to_rle(ds.samples[0].annotations[0].shape, 12, 12)) == 84
    assert same_json(fl.emit(ds), doc)
    # ... and written canonically once the shape comes from the model
    shape = Polygon(parts=(PolygonPart(exterior=part.exterior, holes=part.holes),))
    ann = dataclasses.replace(ds.samples[0].annotations[0], shape=shape, extra={})
    out = fl.emit(dataclasses.replace(ds, samples=(dataclasses.replace(ds.samples[0], annotations=(ann,)),)))
    outer, hole = out[0]["annotations"][0]["points"][0]
    assert outer == [0, 0, 10, 0, 10, 10, 0, 10, 0, 0]
    assert hole == [2, 2, 2, 6, 6, 6, 6, 2, 2, 2]
    from fastlabel import utils

    assert utils.is_clockwise(outer) and not utils.is_clockwise(hole)


class _Boom(RuntimeError):
    pass


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    ds = annoconv.load(FIX / "image_tasks.json")
    dst = tmp_path / "out.json"
    dst.write_text("old")
    calls = {"n": 0}
    real = fl._Writer.annotation

    def failing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # midway: the second task's first annotation
            raise _Boom("disk on fire")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(fl._Writer, "annotation", failing)
    with pytest.raises(_Boom):
        annoconv.save(ds, dst, "fastlabel")
    assert dst.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


# hypothesis: small generated FastLabel documents round-trip exactly

num = st.one_of(st.integers(-5, 40), st.integers(-50, 400).map(lambda v: v / 10))
nonneg = st.one_of(st.integers(0, 9), st.integers(0, 90).map(lambda v: v / 10))
ints = st.integers(0, 40)


def _pairs(n_min: int, n_max: int, elem=num):
    return st.integers(n_min, n_max).flatmap(lambda n: st.lists(elem, min_size=2 * n, max_size=2 * n))


@st.composite
def ring(draw):
    flat = draw(_pairs(3, 6, ints).filter(lambda f: f[:2] != f[-2:]))
    if draw(st.booleans()):
        flat = flat + flat[:2]
    return flat


@st.composite
def geometry_points(draw, ftype: str):
    if ftype == "bbox":
        return draw(st.lists(num, min_size=4, max_size=4))
    if ftype == "polygon":
        flat = draw(_pairs(3, 6).filter(lambda f: f[:2] != f[-2:]))
        return flat + flat[:2] if draw(st.booleans()) else flat
    if ftype == "keypoint":
        return draw(st.lists(num, min_size=2, max_size=2))
    if ftype == "line":
        return draw(_pairs(2, 5))
    if ftype == "circle":
        return [draw(num), draw(num), draw(nonneg)]
    return draw(st.lists(st.lists(ring(), min_size=1, max_size=2), min_size=0, max_size=2))


ATTRIBUTE = st.one_of(
    st.builds(lambda k, v: {"key": k, "name": k.title(), "type": "switch", "value": v},
              st.sampled_from(["occluded", "truncated"]), st.booleans()),
    st.builds(lambda v: {"key": "kind", "name": "Kind", "type": "select", "value": v},
              st.sampled_from(["a", "b"])),
    st.builds(lambda v: {"key": "tags", "type": "checkbox", "value": v},
              st.lists(st.sampled_from(["x", "y"]), max_size=2)),
    st.builds(lambda v: {"key": "depth", "name": "Depth", "type": "slider", "value": v}, num),
    st.just({"key": "note", "title": "Note", "value": None}),
    st.builds(lambda v: {"key": "occluded", "value": v}, st.booleans()),  # no name/type here
)


def _shuffled(draw, d: dict) -> dict:
    if draw(st.booleans()):
        return d
    return dict(draw(st.permutations(list(d.items()))))


@st.composite
def annotation_doc(draw, video_frames: list[int] | None = None, content: str | None = None):
    types = ["bbox", "polygon", "keypoint", "line", "circle", "segmentation"]
    if video_frames is None:
        types += ["pose_estimation", "classification"]
    ftype = draw(st.sampled_from(types))
    value = draw(st.sampled_from(["car", "road", "person"]))
    d: dict[str, Any] = {}
    if draw(st.booleans()):
        d["id"] = f"a{draw(st.integers(0, 10**6))}"
    d["type"] = ftype
    d["value"] = value
    if draw(st.booleans()):
        d["title"] = draw(st.sampled_from([value.title(), "Other"]))
    if draw(st.booleans()):
        d["color"] = draw(st.sampled_from(["#D10069", "#4f8ff1", "bad"]))
    d["attributes"] = draw(st.one_of(st.lists(ATTRIBUTE, max_size=2), st.just(None)))
    if ftype == "pose_estimation":
        keys = draw(st.lists(st.sampled_from(["head", "neck", "tail"]), unique=True, max_size=3))
        d["keypoints"] = [
            {"name": k.upper(), "key": k,
             "value": draw(st.one_of(st.just([]), st.tuples(num, num, st.sampled_from([0, 1])).map(list))),
             "edges": [e for e in keys if e != k][:1]}
            for k in keys
        ]
    elif ftype == "classification":
        if draw(st.booleans()):
            d["points"] = []
    elif video_frames is not None:
        frames = draw(st.lists(st.sampled_from(video_frames), min_size=0, max_size=3, unique=True))
        d["points"] = {str(k): _shuffled(draw, {"value": draw(geometry_points(ftype)),
                                                  "autogenerated": draw(st.booleans())})
                       for k in frames}
    else:
        d["points"] = draw(geometry_points(ftype))
    if ftype == "bbox" or draw(st.booleans()):
        d["rotation"] = draw(st.one_of(st.just(0), num)) if ftype == "bbox" else 0
    if ftype != "pose_estimation" and draw(st.booleans()):
        d["keypoints"] = []
    if draw(st.booleans()):
        d["confidenceScore"] = draw(st.one_of(st.just(-1), st.just(-1.0), nonneg.map(lambda v: v / 10)))
    if content is not None:
        d["content"] = content
    return _shuffled(draw, d)


STATUSES = st.sampled_from(["registered", "approved", "send_backed", "workflow_1_completed",
                            "archived", None])


@st.composite
def task_doc(draw, index: int):
    kind = draw(st.sampled_from(["image", "image", "contents", "video", "classification"]))
    d: dict[str, Any] = {"id": f"t{index}", "name": f"img/{index}.jpg"}
    if kind == "contents":
        d["contents"] = [{"name": f"{j}.jpg", "url": "u", "width": 40, "height": 30} for j in range(2)]
        d["annotations"] = [draw(annotation_doc(content=f"{draw(st.integers(0, 1))}.jpg"))
                            for _ in range(draw(st.integers(0, 3)))]
    else:
        d["width"], d["height"] = draw(ints), draw(ints)
        if kind == "video":
            d["frameCount"] = draw(st.integers(1, 4))
            d["fps"] = 30.0
            d["annotations"] = [draw(annotation_doc(video_frames=list(range(1, d["frameCount"] + 1))))
                                for _ in range(draw(st.integers(0, 3)))]
        elif kind == "classification":
            d["attributes"] = draw(st.lists(ATTRIBUTE, max_size=3))
        else:
            d["annotations"] = [draw(annotation_doc()) for _ in range(draw(st.integers(0, 4)))]
    if draw(st.booleans()):
        d["status"] = draw(STATUSES)
    if draw(st.booleans()):
        d["tags"] = draw(st.one_of(st.just(None), st.lists(st.sampled_from(["a", "b"]), max_size=2)))
    if draw(st.booleans()):
        d["assignee"] = draw(st.sampled_from(["alice", None]))
    return _shuffled(draw, d)


fl_docs = st.integers(0, 3).flatmap(lambda n: st.tuples(*[task_doc(i) for i in range(n)]).map(list))


@given(fl_docs, st.sampled_from(["all", "annotated"]))
@settings(max_examples=80)
def test_round_trip_generated_documents(doc, video_frames):
    ds = fl.parse(doc, video_frames=video_frames)
    out = fl.emit(ds)
    assert same_json(out, doc)
    validate(out)
    again = fl.parse(json.loads(dump_json_bytes(out)), video_frames=video_frames)
    assert again == ds


# --------------------------------------------------------------------------------------
# models from other formats -> FastLabel
# --------------------------------------------------------------------------------------


def _render(tasks: list[dict], classes: list[str], tmp_path: Path) -> list[np.ndarray]:
    """The SDK's own semantic PNG export of ``tasks`` (index 1.. per class, 0 background)."""
    import fastlabel
    from PIL import Image

    out = tmp_path / "png"
    fastlabel.Client("offline").export_semantic_segmentation(tasks, output_dir=str(out), classes=classes)
    return [np.asarray(Image.open(out / Path(t["name"]).with_suffix(".png"))) for t in tasks]


@given(masks(max_side=10, min_side=1))
@example(np.eye(4, dtype=bool))  # diagonal touching pixels: 4 parts
@example(np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], bool))  # a one-pixel hole
@settings(max_examples=40)
def test_masks_written_as_segmentations_render_the_same_pixels_in_the_sdk(tmp_path_factory, m):
    h, w = m.shape
    ds = Dataset(categories=(Category(id=1, name="x"),), samples=(Sample(
        id=1, file_name="m.png", width=w, height=h,
        annotations=(Annotation(id=1, category_id=1, shape=Mask(rle=rle.encode(m))),)),))
    report = ConversionReport()
    doc = fl.emit(ds, report)
    validate(doc)
    assert report.count("mask_to_polygon") == 1
    ann = doc[0]["annotations"][0]
    assert ann["type"] == "segmentation"
    # we read back the same pixels ...
    back = fl.parse(doc).samples[0].annotations[0].shape
    assert rle.decode(geometry.polygon_to_rle(back, h, w)).tolist() == m.tolist()
    # ... and so does FastLabel's own renderer
    (png,) = _render(doc, ["x"], tmp_path_factory.mktemp("sdk"))
    assert (png == 1).tolist() == m.tolist()
    from fastlabel import utils

    for region in ann["points"]:
        assert utils.is_clockwise(region[0]) and not any(utils.is_clockwise(r) for r in region[1:])


@given(polygon_parts(max_parts=3), st.booleans())
@settings(max_examples=40)
def test_other_formats_polygons_keep_every_part_and_pixel(parts, with_hole):
    poly = Polygon.from_coco(parts)
    if with_hole:
        first = poly.parts[0]
        poly = Polygon(parts=(PolygonPart(exterior=first.exterior, holes=(first.exterior[::-1] / 2,)),
                              *poly.parts[1:]))
    ds = Dataset(categories=(Category(id=1, name="x"),), samples=(Sample(
        id=1, file_name="p.png", width=40, height=30,
        annotations=(Annotation(id=1, category_id=1, shape=poly),)),))
    doc = fl.emit(ds)
    validate(doc)
    ann = doc[0]["annotations"][0]
    assert ann["type"] == ("polygon" if len(parts) == 1 and not with_hole else "segmentation")
    back = fl.parse(json.loads(dump_json_bytes(doc))).samples[0].annotations[0].shape
    assert len(back.parts) == len(poly.parts)
    assert [len(p.holes) for p in back.parts] == [len(p.holes) for p in poly.parts]
    assert geometry.polygon_to_rle(back, 30, 40) == geometry.polygon_to_rle(poly, 30, 40)


@st.composite
def separate_rectangles(draw):
    """A few rectangles on a grid of 6x6 cells (no two touch), some with a one-pixel hole."""
    rects = []
    for cy in range(2):
        for cx in range(2):
            if draw(st.booleans()):
                x0, y0 = 6 * cx + draw(st.integers(0, 1)), 6 * cy + draw(st.integers(0, 1))
                rects.append((x0, y0, x0 + draw(st.integers(1, 4)), y0 + draw(st.integers(1, 4)),
                              draw(st.booleans())))
    return rects


@given(separate_rectangles())
@settings(max_examples=30)
def test_sdk_renders_our_boxes_and_holes_like_our_rasteriser(tmp_path_factory, rects):
    anns = []
    for i, (x0, y0, x1, y1, hole) in enumerate(rects):
        if hole and x1 - x0 >= 3 and y1 - y0 >= 3:
            shape = Polygon.from_rings([(x0, y0), (x1, y0), (x1, y1), (x0, y1)],
                                       [[(x0 + 1, y0 + 1), (x0 + 2, y0 + 1), (x0 + 2, y0 + 2), (x0 + 1, y0 + 2)]])
        else:
            shape = Box(x0=x0, y0=y0, x1=x1, y1=y1)
        anns.append(Annotation(id=i, category_id=1 + i % 2, shape=shape))
    ds = Dataset(categories=(Category(id=1, name="a"), Category(id=2, name="b")),
                 samples=(Sample(id=1, file_name="r.png", width=12, height=12, annotations=tuple(anns)),))
    doc = fl.emit(ds)
    (png,) = _render(doc, ["a", "b"], tmp_path_factory.mktemp("sdk"))
    rles = geometry.shapes_to_rles([a.shape for a in anns], 12, 12)
    ours, hidden = geometry.paint(rles, [a.category_id for a in anns], 12, 12, dtype=np.uint8)
    assert not any(hidden)
    assert png.tolist() == ours.tolist()


def test_fixture_pixels_match_the_sdk_renderer(tmp_path):
    """Task 1 without the diagonal-edged polygon and line: the SDK paints 640 road pixels."""
    doc = load_fixture("image_tasks")[:1]
    doc[0]["annotations"] = doc[0]["annotations"][:2]
    (png,) = _render(doc, ["car", "road"], tmp_path)
    ds = fl.parse(doc)
    anns = ds.samples[0].annotations
    ours, _ = geometry.paint(geometry.shapes_to_rles([a.shape for a in anns], 48, 64),
                             [a.category_id for a in anns], 48, 64, dtype=np.uint8)
    assert int((png == 2).sum()) == 640
    assert png.tolist() == ours.tolist()


@st.composite
def blob_mask(draw):
    """4-connected rectangles (apart) with interior holes: what the SDK's tracer handles."""
    m = np.zeros((12, 14), bool)
    for x0, y0, x1, y1, hole in draw(separate_rectangles()):
        m[y0:y1, x0:x1] = True
        if hole and x1 - x0 >= 3 and y1 - y0 >= 3:
            m[y0 + 1, x0 + 1] = False
    return m


@given(blob_mask())
@settings(max_examples=30)
def test_we_decode_what_the_sdk_traces(m):
    import fastlabel

    points = fastlabel.Client("offline").mask_to_fastlabel_segmentation_points(m.astype(np.uint8))
    doc = [{"name": "m.png", "width": 14, "height": 12,
            "annotations": [{"type": "segmentation", "value": "x", "points": points}]}]
    ds = fl.parse(doc)
    shape = ds.samples[0].annotations[0].shape
    assert rle.decode(geometry.polygon_to_rle(shape, 12, 14)).tolist() == m.tolist()
    assert same_json(fl.emit(ds), doc)


def test_what_fastlabel_refuses_is_not_written(tmp_path):
    line = Annotation(id=1, category_id=1, shape=Polyline(points=[[1, 1]]))  # one point
    box = Annotation(id=2, category_id=1, shape=Box(x0=1, y0=1, x1=3, y1=3))
    ds = Dataset(categories=(Category(id=1, name="cat"),), samples=(
        Sample(id=1, file_name="a.jpg", width=8, height=8, annotations=(line, box)),
        Sample(id="1", file_name="b.jpg", width=8, height=8)))  # the same task id as a string
    report = annoconv.save(ds, tmp_path / "t.json", "fastlabel")
    doc = json.loads((tmp_path / "t.json").read_text())
    assert [t["id"] for t in doc] == ["1", "1_2"] and report.examples["id_assigned"] == ["task '1' -> '1_2'"]
    assert [a["id"] for a in doc[0]["annotations"]] == ["2"] and report.count("shape_dropped") == 1
    assert len(annoconv.load(tmp_path / "t.json").samples) == 2  # its own reader takes it
    # ids 1 and "1" read from FastLabel are two ids (its reader compares values): kept
    doc = load_fixture("image_tasks")
    doc[0]["id"], doc[1]["id"] = 1, "1"
    (tmp_path / "ids.json").write_text(json.dumps(doc))
    report = annoconv.convert(tmp_path / "ids.json", tmp_path / "ids2.json", to="fastlabel")
    assert [t["id"] for t in json.loads((tmp_path / "ids2.json").read_text())][:2] == [1, "1"]
    assert "id_assigned" not in report.counts


def test_a_streamed_dataset_is_written_alike(tmp_path):
    ds = annoconv.load(FIX / "image_tasks.json")
    report = ConversionReport()
    assert fl.emit(dataclasses.replace(ds, samples=iter(tuple(ds.samples))), report) == fl.emit(ds)
    assert report.lossless  # nothing counted twice over a consumed iterator


def test_unknown_image_size_is_written_readably(tmp_path):
    ds = Dataset(categories=(Category(id=1, name="cat"),), samples=(
        Sample(id=1, file_name="a.jpg", annotations=(
            Annotation(id=1, category_id=1, shape=Box(x0=1, y0=1, x1=3, y1=3)),)),))
    report = annoconv.save(ds, tmp_path / "t.json", "fastlabel")
    task = json.loads((tmp_path / "t.json").read_text())[0]
    assert (task["width"], task["height"]) == (0, 0)
    assert report.examples["size_unknown"] == ["image 'a.jpg' (0 written, as FastLabel's own tests allow)"]
    assert annoconv.load(tmp_path / "t.json").samples[0].annotations[0].shape == Box(x0=1, y0=1, x1=3, y1=3)


def test_coco_like_model_to_fastlabel():
    """What a COCO reader gives: a multi-part polygon, an RLE crowd mask, a box-only record."""
    m = np.zeros((20, 30), bool)
    m[2:8, 3:9] = True
    m[4, 5] = False
    anns = (
        Annotation(id=1, category_id=1, shape=two_part_polygon, area=3212.375),
        Annotation(id=2, category_id=1, shape=Mask.from_array(m), iscrowd=True),
        Annotation(id=3, category_id=2, stored_bbox=Box.from_xywh(1, 2, 3, 4)),
        Annotation(id=4, category_id=2, shape=Polygon.from_coco([[1, 1, 5, 1, 5, 5]])),
    )
    ds = Dataset(categories=(Category(id=1, name="cat", supercategory="animal"),
                             Category(id=2, name="dog", color=(1, 2, 3, 255))),
                 samples=(Sample(id=42, file_name="img/42.jpg", width=30, height=20, annotations=anns),))
    report = ConversionReport()
    doc = fl.emit(ds, report)
    validate(doc)
    task = doc[0]
    assert (task["id"], task["name"], task["status"]) == ("42", "img/42.jpg", "registered")
    assert report.examples["status_unmapped"] == ["image 'img/42.jpg' (no status: 'registered' written)"]
    poly, crowd, box, tri = task["annotations"]
    # every part of the multi-part polygon kept, as a segmentation of two regions
    assert poly["type"] == "segmentation" and len(poly["points"]) == 2
    assert poly["points"][0][0] == [10.5, 20.0, 60.25, 20.0, 60.25, 70.5, 10.5, 70.5, 10.5, 20.0]
    assert poly["color"] == fl._PALETTE[0] and poly["title"] == "cat"
    assert crowd["type"] == "segmentation" and len(crowd["points"][0]) == 2  # outer + hole
    assert box == {"id": "3", "type": "bbox", "value": "dog", "title": "dog", "color": "#010203",
                   "attributes": [], "points": [1, 2, 4, 6], "rotation": 0, "keypoints": [],
                   "confidenceScore": -1}
    assert tri["type"] == "polygon" and tri["points"] == [1, 1, 5, 1, 5, 5]
    assert report.count("mask_to_polygon") == 1 and report.count("field_dropped") == 2
    assert report.examples["field_dropped"] == ["category 'cat': supercategory", "image 'img/42.jpg' annotation 2 iscrowd"]
    back = fl.parse(doc).samples[0]
    assert back.annotations[0].shape == two_part_polygon.__class__(parts=tuple(
        PolygonPart(exterior=p.exterior) for p in two_part_polygon.parts))
    assert rle.decode(geometry.polygon_to_rle(back.annotations[1].shape, 20, 30)).tolist() == m.tolist()


def test_hasty_like_model_to_fastlabel():
    """What a Hasty reader gives: statuses, tags, subset, attributes of model types, z_index,
    masks, ellipses, keypoints with visibility, a hole."""
    anns = (
        Annotation(id="u1", category_id=1, shape=polygon_with_hole, z_index=2,
                   attributes={"occluded": True, "count": 3, "colour": ["red"], "note": "hi"}),
        Annotation(id="u2", category_id=1, shape=Ellipse(cx=5, cy=5, rx=3, ry=2, rotation=10)),
        Annotation(id="u3", category_id=1, shape=Ellipse(cx=5, cy=5, rx=3, ry=3)),
        Annotation(id="u4", category_id=2, shape=Keypoints(points=[[1, 2], [3, 4]], visibility=[2, 1],
                                                           names=("a", "b"))),
        Annotation(id="u5", category_id=2, shape=Polyline(points=[[0, 0], [4, 4]], closed=True)),
        Annotation(id="u6", category_id=2, shape=None, attributes={"x": 1}),
        Annotation(id="u7", category_id=9, shape=Box(x0=0, y0=0, x1=1, y1=1)),
        Annotation(id="u8", category_id=2, shape=Box(x0=0, y0=0, x1=1, y1=1, rotation=15.5),
                   track_id=3, score=0.25),
    )
    ds = Dataset(
        categories=(Category(id=1, name="blob", kind="stuff", extra={"hasty": {"class_id": "c"}}),
                    Category(id=2, name="pose", keypoint_names=("a", "b"), skeleton=((1, 2),))),
        attribute_specs=(AttributeSpec(name="occluded", type="bool"),
                         AttributeSpec(name="count", type="int"),
                         AttributeSpec(name="colour", type="multiselect", values=("red",)),
                         AttributeSpec(name="weather", type="select", scope="image")),
        samples=(Sample(id="i1", file_name="a.jpg", width=10, height=10, subset="train",
                        status=Status.TO_REVIEW, tags=("t1",), attributes={"weather": "sun"},
                        annotations=anns, extra={"hasty": {"image_id": "i1"}}),
                 Sample(id="i2", file_name="b.jpg", width=4, height=4, status=Status.DONE)),
    )
    report = ConversionReport()
    doc = fl.emit(ds, report)
    validate(doc)
    t1, t2 = doc
    assert t1["status"] == "completed" and t2["status"] == "completed"
    assert t1["tags"] == ["t1"]
    assert t1["attributes"] == [{"key": "weather", "name": "weather", "type": "select", "value": "sun"}]
    types = [a["type"] for a in t1["annotations"]]
    assert types == ["segmentation", "polygon", "circle", "pose_estimation", "line", "bbox"]
    holed = t1["annotations"][0]
    assert holed["attributes"] == [
        {"key": "occluded", "name": "occluded", "type": "switch", "value": True},
        {"key": "count", "name": "count", "type": "text", "value": "3"},
        {"key": "colour", "name": "colour", "type": "checkbox", "value": ["red"]},
        {"key": "note", "name": "note", "type": "text", "value": "hi"},
    ]
    assert holed["points"] == [[[0, 0, 6, 0, 6, 6, 0, 6, 0, 0], [2, 2, 2, 4, 4, 4, 4, 2, 2, 2]]]
    pose = t1["annotations"][3]
    assert pose["keypoints"] == [{"name": "a", "key": "a", "value": [1, 2, 1], "edges": ["b"]},
                                 {"name": "b", "key": "b", "value": [3, 4, 0], "edges": ["a"]}]
    assert "points" not in pose
    assert t1["annotations"][4]["points"] == [0, 0, 4, 4, 0, 0]
    assert t1["annotations"][5]["rotation"] == 15.5 and t1["annotations"][5]["confidenceScore"] == 0.25
    assert dict(report.counts) == {
        "status_merged": 1, "field_dropped": 4, "z_index_dropped": 1, "attribute_converted": 1,
        "shape_converted": 2, "shape_dropped": 1, "reference_missing": 1, "track_dropped": 1,
    }
    back = fl.parse(doc)
    assert back.samples[0].annotations[0].shape == polygon_with_hole
    assert back.samples[0].annotations[3].shape == anns[3].shape
    assert back.samples[0].annotations[5].shape == anns[7].shape


# --------------------------------------------------------------------------------------
# FastLabel -> COCO (our writer) and COCO -> FastLabel, checked with pycocotools and the SDK
# --------------------------------------------------------------------------------------


def _our_coco(doc: Any, tmp_path: Path, **options: Any) -> tuple[dict, ConversionReport]:
    src, dst = tmp_path / "fl.json", tmp_path / "coco.json"
    src.write_bytes(dump_json_bytes(doc))
    report = annoconv.convert(src, dst, to="coco", from_="fastlabel", **options)
    return json.loads(dst.read_text()), report


def _ann_to_mask(path: Path) -> dict[Any, np.ndarray]:
    """pycocotools' ``annToMask`` of every annotation with a segmentation, by id."""
    import contextlib
    import io

    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(path))
    return {aid: coco.annToMask(a).astype(bool) for aid, a in coco.anns.items() if a["segmentation"]}


def test_fastlabel_to_coco_keeps_holes_like_pycocotools(tmp_path):
    doc = load_fixture("image_tasks")
    coco, report = _our_coco(doc, tmp_path)
    assert report.count("hole_to_rle") == 2  # the two road segmentations with holes
    masks_by_id = _ann_to_mask(tmp_path / "coco.json")
    ds = fl.parse(doc)
    expected = [(s, a) for s in ds.samples for a in s.annotations if not isinstance(a.shape, Polyline)]
    assert len(coco["annotations"]) == len(expected) == 8
    for out, (s, a) in zip(coco["annotations"], expected):
        if isinstance(a.shape, Polygon):
            ours = rle.decode(geometry.polygon_to_rle(a.shape, s.height, s.width))
            assert masks_by_id[out["id"]].tolist() == ours.tolist()
            assert out["area"] == int(ours.sum())
    road = coco["annotations"][1]
    assert isinstance(road["segmentation"], dict) and road["area"] == 640


@given(masks(max_side=10, min_side=1))
@settings(max_examples=25)
def test_fastlabel_segmentations_with_holes_to_coco_ann_to_mask(tmp_path_factory, m):
    h, w = m.shape
    ds = Dataset(categories=(Category(id=1, name="x"),), samples=(Sample(
        id="t", file_name="m.png", width=w, height=h,
        annotations=(Annotation(id="a", category_id=1, shape=Mask(rle=rle.encode(m))),)),))
    tmp = tmp_path_factory.mktemp("coco")
    coco, report = _our_coco(fl.emit(ds), tmp)
    if m.any():
        (ann,) = coco["annotations"]
        assert ann["area"] == int(m.sum())
        (mask,) = _ann_to_mask(tmp / "coco.json").values()
        assert mask.tolist() == m.tolist()
    else:  # an empty segmentation has no box for COCOeval: not written, counted
        assert coco["annotations"] == [] and report.count("shape_dropped") == 1


def _sdk_coco(tasks: list[dict]) -> dict:
    from fastlabel import converters

    return converters.to_coco("image_bbox", copy.deepcopy(tasks), "unused")


def test_sdk_to_coco_agrees_on_holes_free_inputs(tmp_path):
    doc = load_fixture("image_tasks")[:1]
    sdk = _sdk_coco(doc)
    ours, _ = _our_coco(doc, tmp_path)
    assert [i["file_name"] for i in sdk["images"]] == [i["file_name"] for i in ours["images"]]
    assert [(i["width"], i["height"]) for i in sdk["images"]] == [(64, 48)]
    assert [(i["width"], i["height"]) for i in ours["images"]] == [(64, 48)]
    sdk_names = {c["id"]: c["name"] for c in sdk["categories"]}
    our_names = {c["id"]: c["name"] for c in ours["categories"]}
    sdk_by = {sdk_names[a["category_id"]]: a for a in sdk["annotations"]}
    our_by = {our_names[a["category_id"]]: a for a in ours["annotations"]}
    assert set(sdk_by) == {"car", "road", "sign"}  # both drop the line
    assert set(our_by) == {"car", "road", "sign"}
    for name in ("car", "sign"):
        assert our_by[name]["bbox"] == sdk_by[name]["bbox"]
        assert our_by[name]["area"] == sdk_by[name]["area"]
        assert our_by[name]["attributes"] == sdk_by[name]["attributes"]
    assert (our_by["car"]["bbox"], our_by["car"]["area"]) == ([4, 6, 16, 12], 192)
    assert (our_by["sign"]["bbox"], our_by["sign"]["area"]) == ([2, 30, 8, 10], 40)
    assert our_by["sign"]["segmentation"] == sdk_by["sign"]["segmentation"] == [[2, 30, 10, 30, 6, 40]]


DONUT = [[[10, 10, 30, 10, 30, 30, 10, 30, 10, 10], [15, 15, 15, 25, 25, 25, 25, 15, 15, 15]],
         [[40, 40, 50, 40, 50, 50, 40, 50, 40, 40]]]


def _one(ann: dict, **task: Any) -> list[dict]:
    base = {"color": "#112233", "attributes": [], "rotation": 0, "keypoints": []}
    return [{"id": "t", "name": "a.jpg", "width": 64, "height": 64, **task,
             "annotations": [{**base, **ann}]}]


def test_sdk_defect_c1_holes_dropped(tmp_path):
    doc = _one({"type": "segmentation", "value": "donut", "points": DONUT})
    (sdk,) = _sdk_coco(doc)["annotations"]
    assert sdk["segmentation"] == [DONUT[0][0], DONUT[1][0]]  # outer rings only
    assert rle.area(geometry.polygon_to_rle(sdk["segmentation"], 64, 64)) == 500
    ours, report = _our_coco(doc, tmp_path)
    assert isinstance(ours["annotations"][0]["segmentation"], dict)  # RLE: the hole is kept
    assert report.count("hole_to_rle") == 1
    (mask,) = _ann_to_mask(tmp_path / "coco.json").values()
    assert int(mask.sum()) == 400 and not mask[20, 20] and mask[12, 12]


def test_sdk_defect_c2_area_ignores_holes(tmp_path):
    doc = _one({"type": "segmentation", "value": "donut", "points": DONUT})
    (sdk,) = _sdk_coco(doc)["annotations"]
    ours, _ = _our_coco(doc, tmp_path)
    assert (sdk["area"], ours["annotations"][0]["area"]) == (500, 400)
    assert ours["annotations"][0]["bbox"] == sdk["bbox"] == [10, 10, 40, 40]


def test_sdk_defect_c3_negative_bbox_area(tmp_path):
    doc = _one({"type": "bbox", "value": "box", "points": [50, 10, 10, 50]})
    (sdk,) = _sdk_coco(doc)["annotations"]
    ours, _ = _our_coco(doc, tmp_path)
    (ann,) = ours["annotations"]
    assert (sdk["area"], ann["area"]) == (-1600, 1600)
    assert sdk["bbox"] == ann["bbox"] == [10, 10, 40, 40]


def test_sdk_defect_c4_rotation_ignored_in_bbox(tmp_path):
    doc = _one({"type": "bbox", "value": "box", "points": [50, 10, 10, 50], "rotation": 30})
    (sdk,) = _sdk_coco(doc)["annotations"]
    assert sdk["bbox"] == [10, 10, 40, 40] and sdk["rotation"] == 30
    ours, report = _our_coco(doc, tmp_path)
    (ann,) = ours["annotations"]
    assert report.count("rotation_applied") == 1
    half = 20 * (np.cos(np.radians(30)) + np.sin(np.radians(30)))  # the rotated square's bounds
    assert np.allclose(ann["bbox"], [30 - half, 30 - half, 2 * half, 2 * half])
    corners = np.array(ann["segmentation"][0]).reshape(-1, 2)
    assert np.allclose(corners, fl.parse(doc).samples[0].annotations[0].shape.corners())


def test_sdk_defect_c5_all_categories_one_colour():
    """COCO instances have no colour field; the model keeps each class's own colour (what a
    colour-carrying target such as a semantic PNG palette uses), the SDK gives all one."""
    doc = [{"id": "t", "name": "a.jpg", "width": 64, "height": 64, "annotations": [
        {"type": "bbox", "value": "cat", "color": "#aa0000", "points": [1, 1, 5, 5]},
        {"type": "polygon", "value": "bird", "color": "#00aa00", "points": [1, 1, 5, 1, 5, 5]},
        {"type": "keypoint", "value": "dot", "color": "#123456", "points": [1, 1]},
    ]}]
    sdk_colours = {c["name"]: c["color"] for c in _sdk_coco(doc)["categories"]}
    assert sdk_colours == {"bird": "#123456", "cat": "#123456"}  # the dropped keypoint's colour
    ours = {c.name: c.color[:3] for c in fl.parse(doc).categories}
    assert ours == {"cat": (0xAA, 0, 0), "bird": (0, 0xAA, 0), "dot": (0x12, 0x34, 0x56)}


def test_sdk_defect_c8_c9_pose_keypoints(tmp_path):
    doc = _one({"type": "pose_estimation", "value": "person",
                "keypoints": [{"key": "head", "value": [10.5, 20.25, 1]},
                              {"key": "hand", "value": [3, 4, 0]}]})
    (sdk,) = _sdk_coco(doc)["annotations"]
    assert (sdk["num_keypoints"], sdk["keypoints"]) == (2, [])  # C8: the values are lost
    ours, _ = _our_coco(doc, tmp_path)
    (ann,) = ours["annotations"]
    assert ann["keypoints"] == [10.5, 20.25, 2, 3.0, 4.0, 1]  # C9 mapping: 1 -> 2, 0 -> 1
    assert ann["num_keypoints"] == 2
    assert ours["categories"][0]["keypoints"] == ["head", "hand"]


def test_sdk_reads_our_coco_polygons_back(tmp_path):
    from fastlabel import converters

    doc = [{"id": f"t{i}", "name": f"{i}.jpg", "width": 64, "height": 64, "annotations": [
        {"type": "polygon", "value": v, "points": pts}
        for v, pts in (("a", [1, 1, 9, 1, 9.5, 7.25]), ("b", [20, 20, 40, 20, 40, 40, 20, 40]))]}
        for i in range(2)]
    ours, _ = _our_coco(doc, tmp_path)
    back = converters.execute_coco_to_fastlabel(ours, "polygon")
    assert sorted(back) == ["0.jpg", "1.jpg"]
    for task in doc:
        got = [(a["value"], a["type"], a["points"]) for a in back[task["name"]]]
        assert got == [(a["value"], "polygon", a["points"]) for a in task["annotations"]]


COCO_DOC = {
    "images": [{"id": 1, "file_name": "a.jpg", "width": 12, "height": 10}],
    "categories": [{"id": 1, "name": "cat", "supercategory": "animal"},
                   {"id": 7, "name": "dog", "supercategory": "animal"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 20, "bbox": [0, 0, 9, 9],
         "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4], [6, 6, 9, 6, 9, 9]]},
        {"id": 2, "image_id": 1, "category_id": 7, "iscrowd": 1, "area": 11, "bbox": [1, 1, 4, 4],
         "segmentation": {"size": [10, 12], "counts": [11, 4, 6, 4, 6, 1, 1, 2, 6, 4, 75]}},
        {"id": 3, "image_id": 1, "category_id": 7, "iscrowd": 0, "area": 6, "bbox": [5, 1, 3, 2],
         "segmentation": []},
    ],
}


def test_coco_to_fastlabel_rle_box_only_and_multipart(tmp_path):
    from fastlabel import converters

    src, dst = tmp_path / "coco.json", tmp_path / "fl.json"
    src.write_text(json.dumps(COCO_DOC))
    report = annoconv.convert(src, dst, to="fastlabel", from_="coco")
    out = json.loads(dst.read_text())
    validate(out)
    (task,) = out
    assert (task["name"], task["width"], task["height"]) == ("a.jpg", 12, 10)
    multi, crowd, box = task["annotations"]
    assert multi["type"] == "segmentation" and len(multi["points"]) == 2  # every part kept
    assert multi["points"][1][0] == [6, 6, 9, 6, 9, 9, 6, 6]
    assert crowd["type"] == "segmentation"
    assert box["type"] == "bbox" and box["points"] == [5, 1, 8, 3]
    assert report.count("mask_to_polygon") == 1
    masks_by_id = _ann_to_mask(src)
    back = fl.parse(out).samples[0].annotations
    for coco_id, ann in zip((1, 2), back[:2]):
        assert rle.decode(geometry.polygon_to_rle(ann.shape, 10, 12)).tolist() == masks_by_id[coco_id].tolist()
    # the SDK's importer: crashes on RLE (I1) and box-only records (I2), drops parts (I3)
    with pytest.raises(KeyError):
        converters.execute_coco_to_fastlabel({**COCO_DOC, "annotations": COCO_DOC["annotations"][1:2]}, "polygon")
    with pytest.raises(IndexError):
        converters.execute_coco_to_fastlabel({**COCO_DOC, "annotations": COCO_DOC["annotations"][2:]}, "bbox")
    sdk = converters.execute_coco_to_fastlabel({**COCO_DOC, "annotations": COCO_DOC["annotations"][:1]}, "polygon")
    assert sdk["a.jpg"][0]["points"] == [0, 0, 4, 0, 4, 4, 0, 4]


# --------------------------------------------------------------------------------------
# the other conversions users run: FastLabel -> semantic PNG, Hasty -> FastLabel
# --------------------------------------------------------------------------------------


def test_fastlabel_to_index_png_matches_the_sdk_export(tmp_path):
    from PIL import Image

    doc = load_fixture("image_tasks")[:1]
    doc[0]["annotations"] = doc[0]["annotations"][:2]  # car box and holed road: no overlap
    src = tmp_path / "fl.json"
    src.write_text(json.dumps(doc))
    report = annoconv.convert(src, tmp_path / "png", to="index-png", from_="fastlabel")
    assert report.count("overlap_hidden") == 0
    ours = np.asarray(Image.open(tmp_path / "png" / "0001.png"))
    (sdk,) = _render(doc, ["car", "road"], tmp_path / "sdk")  # same class order as ours
    assert ours.tolist() == sdk.tolist()
    assert int((ours == 2).sum()) == 640


def test_hasty_to_fastlabel_keeps_pixels_statuses_and_tags(tmp_path):
    hasty_file = Path(__file__).resolve().parents[2] / "fixtures" / "hasty" / "example_v1.1.json"
    ds = annoconv.load(hasty_file, "hasty")
    report = annoconv.save(ds, tmp_path / "fl.json", "fastlabel")
    out = json.loads((tmp_path / "fl.json").read_text())
    validate(out)
    back = annoconv.load(tmp_path / "fl.json")
    assert [s.file_name for s in back.samples] == [s.file_name for s in ds.samples]
    for s, b in zip(ds.samples, back.samples):
        expected = None if s.status is None else fl.STATUS_TO_MODEL[fl.STATUS_FROM_MODEL[s.status]]
        assert b.status == (expected or Status.NEW)
        assert b.tags == s.tags
        drawn = [a for a in s.annotations if isinstance(a.shape, (Box, Polygon, Mask))]
        got = [a for a in b.annotations if isinstance(a.shape, (Box, Polygon))]
        assert len(got) == len(drawn)
        for a, g in zip(drawn, got):
            want = geometry.shapes_to_rles([a.shape], s.height, s.width)[0]
            assert geometry.shapes_to_rles([g.shape], s.height, s.width)[0] == want
            assert back.category_by_id(g.category_id).name == ds.category_by_id(a.category_id).name
    assert report.count("mask_to_polygon") == sum(
        isinstance(a.shape, Mask) for s in ds.samples for a in s.annotations)


def test_parts_and_holes_of_fewer_than_three_vertices_are_dropped_and_counted():
    poly = Polygon(parts=(
        PolygonPart(exterior=[[0, 0], [8, 0], [8, 8], [0, 8]], holes=([[1, 1], [2, 2]],)),
        PolygonPart(exterior=[[20, 20], [22, 22]]),
    ))
    ds = Dataset(categories=(Category(id=1, name="x"),), samples=(Sample(
        id=1, file_name="p.png", width=30, height=30,
        annotations=(Annotation(id=1, category_id=1, shape=poly),)),))
    report = ConversionReport()
    (task,) = fl.emit(ds, report)
    assert task["annotations"][0]["type"] == "polygon"
    assert task["annotations"][0]["points"] == [0, 0, 8, 0, 8, 8, 0, 8]
    assert report.count("invalid_part_dropped") == 2


# --------------------------------------------------------------------------------------
# keypoints, pose classes, class names and round-trip corner cases
# --------------------------------------------------------------------------------------


def _person_dataset() -> Dataset:
    """What the COCO reader gives for person keypoints: a keypoints-only record (no
    segmentation: shape None, stored bbox), a polygon + keypoints record, unnamed Keypoints."""
    kp = Keypoints.from_coco([2, 2, 2, 3, 3, 1, 0, 0, 0])
    anns = (
        Annotation(id=1, category_id=1, stored_bbox=Box.from_xywh(1, 1, 5, 5), area=10, keypoints=kp),
        Annotation(id=2, category_id=1, shape=Polygon.from_coco([[1, 1, 6, 1, 6, 6]]),
                   keypoints=Keypoints.from_coco([2, 2, 2, 3, 3, 2, 4, 4, 2])),
        Annotation(id=3, category_id=1, shape=Keypoints.from_coco([5, 5, 2, 0, 0, 0, 7, 7, 1])),
    )
    return Dataset(categories=(Category(id=1, name="person", keypoint_names=("nose", "left_eye", "right_eye"),
                                        skeleton=((1, 2), (1, 3))),),
                   samples=(Sample(id=1, file_name="p.jpg", width=20, height=20, annotations=anns),))


def test_coco_keypoints_become_pose_estimation_keyed_by_the_category():
    report = ConversionReport()
    (task,) = fl.emit(_person_dataset(), report)
    validate([task])
    kinds = [(a.get("id"), a["type"]) for a in task["annotations"]]
    assert kinds == [("1", "bbox"), ("1/keypoints", "pose_estimation"), ("2", "polygon"),
                     ("2/keypoints", "pose_estimation"), ("3", "pose_estimation")]
    pose = task["annotations"][1]
    assert pose["keypoints"] == [
        {"name": "nose", "key": "nose", "value": [2, 2, 1], "edges": ["left_eye", "right_eye"]},
        {"name": "left_eye", "key": "left_eye", "value": [3, 3, 0], "edges": ["nose"]},
        {"name": "right_eye", "key": "right_eye", "value": [], "edges": ["nose"]},
    ]
    assert "points" not in pose and task["annotations"][0]["points"] == [1, 1, 6, 6]
    assert [k["key"] for k in task["annotations"][4]["keypoints"]] == ["nose", "left_eye", "right_eye"]
    assert report.count("shape_converted") == 2 and report.count("keypoints_dropped") == 0
    back = fl.parse([task])
    assert back.categories[0].keypoint_names == ("nose", "left_eye", "right_eye")
    assert back.categories[0].skeleton == ((1, 2), (1, 3))
    poses = [a.shape for a in back.samples[0].annotations if isinstance(a.shape, Keypoints)]
    assert [p.visibility.tolist() for p in poses] == [[2, 1, 0], [2, 2, 2], [2, 0, 1]]
    assert poses[1].points.tolist() == [[2, 2], [3, 3], [4, 4]]


def test_coco_person_keypoints_file_to_fastlabel(tmp_path):
    coco = {"images": [{"id": 1, "file_name": "p.jpg", "width": 20, "height": 20}],
            "categories": [{"id": 1, "name": "person", "supercategory": "person",
                            "keypoints": ["nose", "left_eye"], "skeleton": [[1, 2]]}],
            "annotations": [
                {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 25, "bbox": [1, 1, 5, 5],
                 "segmentation": [], "keypoints": [2, 2, 2, 3, 3, 1], "num_keypoints": 2},
                {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 12.5, "bbox": [1, 1, 5, 5],
                 "segmentation": [[1, 1, 6, 1, 6, 6]], "keypoints": [2, 2, 2, 0, 0, 0], "num_keypoints": 1}]}
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    annoconv.convert(tmp_path / "coco.json", tmp_path / "fl.json", to="fastlabel", from_="coco")
    (task,) = json.loads((tmp_path / "fl.json").read_text())
    assert [(a["type"], [k["key"] for k in a["keypoints"]]) for a in task["annotations"]] == [
        ("bbox", []), ("pose_estimation", ["nose", "left_eye"]),
        ("polygon", []), ("pose_estimation", ["nose", "left_eye"])]
    assert [k["value"] for k in task["annotations"][1]["keypoints"]] == [[2, 2, 1], [3, 3, 0]]
    assert [k["value"] for k in task["annotations"][3]["keypoints"]] == [[2, 2, 1], []]


POSE_DOC = [{"id": "t", "name": "a.jpg", "width": 64, "height": 64, "annotations": [
    {"type": "pose_estimation", "value": "person", "keypoints": [
        {"name": "Head", "key": "head", "value": [1, 2, 1], "edges": ["neck"]},
        {"name": "Neck", "key": "neck", "value": [3, 4, 0], "edges": ["head"]}]},
    {"type": "bbox", "value": "car", "points": [1, 1, 2, 2]},
    {"type": "pose_estimation", "value": "person", "keypoints": [
        {"name": "Tail", "key": "tail", "value": [9, 9, 1], "edges": ["neck"]},
        {"name": "Neck", "key": "neck", "value": [5, 6, 1], "edges": ["tail"]}]},
    {"type": "pose_estimation", "value": "person", "keypoints": []},
    {"type": "pose_estimation", "value": "person"},
]}]


def test_pose_keypoints_follow_the_class_key_order():
    ds = fl.parse(copy.deepcopy(POSE_DOC))
    person = ds.category_by_name("person")
    assert person.keypoint_names == ("head", "neck", "tail")  # every key, first-seen order
    assert person.skeleton == ((1, 2), (3, 2))
    a, b, c, d = (x.shape for x in ds.samples[0].annotations if x.category_id == person.id)
    for k in (a, b, c, d):
        assert k.names == ("head", "neck", "tail")
    assert (a.points.tolist(), a.visibility.tolist()) == ([[1, 2], [3, 4], [0, 0]], [2, 1, 0])
    assert (b.points.tolist(), b.visibility.tolist()) == ([[0, 0], [5, 6], [9, 9]], [0, 2, 2])
    assert c.visibility.tolist() == d.visibility.tolist() == [0, 0, 0]
    assert same_json(fl.emit(ds), POSE_DOC)  # each annotation keeps its own keys and order
    # an edited pose is written in the class's order
    edited = dataclasses.replace(ds.samples[0].annotations[2], shape=Keypoints(
        points=[[0, 0], [5, 6], [9, 10]], visibility=[0, 2, 2], names=("head", "neck", "tail")))
    anns = list(ds.samples[0].annotations)
    anns[2] = edited
    out = fl.emit(dataclasses.replace(ds, samples=(dataclasses.replace(ds.samples[0], annotations=tuple(anns)),)))
    assert [(k["key"], k["value"]) for k in out[0]["annotations"][2]["keypoints"]] == [
        ("head", []), ("neck", [5, 6, 1]), ("tail", [9, 10, 1])]


def test_pose_classes_to_coco_align_keypoints(tmp_path):
    coco, _ = _our_coco(POSE_DOC, tmp_path)
    (person,) = [c for c in coco["categories"] if c["name"] == "person"]
    assert person["keypoints"] == ["head", "neck", "tail"]
    kps = [a["keypoints"] for a in coco["annotations"] if a["category_id"] == person["id"]]
    assert kps[:2] == [[1, 2, 2, 3, 4, 1, 0, 0, 0], [0, 0, 0, 5, 6, 2, 9, 9, 2]]


def test_category_names_become_unique_fastlabel_keys():
    cats = (Category(id=1, name="traffic light", supercategory="x"),
            Category(id=2, name="traffic light", supercategory="y"),
            Category(id=3, name="猫"), Category(id=4, name="car"), Category(id=5, name="car"),
            Category(id=6, name="traffic_light"))
    anns = tuple(Annotation(id=c.id, category_id=c.id, shape=Box(x0=0, y0=0, x1=1, y1=1)) for c in cats)
    ds = Dataset(categories=cats, samples=(Sample(id=1, file_name="a.jpg", width=4, height=4, annotations=anns),))
    report = ConversionReport()
    (task,) = fl.emit(ds, report)
    assert [(a["value"], a["title"]) for a in task["annotations"]] == [
        ("traffic_light", "traffic light"), ("traffic_light_2", "traffic light"), ("_", "猫"),
        ("car", "car"), ("car_5", "car"), ("traffic_light_6", "traffic_light")]
    assert report.count("renamed") == 5
    assert report.examples["renamed"] == [
        "category 1 'traffic light' -> 'traffic_light'", "category 2 'traffic light' -> 'traffic_light_2'",
        "category 3 '猫' -> '_'"]
    back = fl.parse([task])
    assert len(back.categories) == 6  # nothing merged
    assert [c.extra["fastlabel"]["title"] for c in back.categories][:3] == ["traffic light", "traffic light", "猫"]


def test_attribute_names_seen_later_are_not_added_to_earlier_occurrences():
    doc = [{"name": "a.jpg", "width": 4, "height": 4, "attributes": [{"key": "w", "value": "sun"}],
            "annotations": [
                {"type": "bbox", "value": "car", "points": [0, 0, 1, 1],
                 "attributes": [{"key": "occ", "value": True}]},
                {"type": "bbox", "value": "car", "points": [0, 0, 1, 1],
                 "attributes": [{"key": "occ", "name": "Occluded", "type": "switch", "value": False}]}]},
           {"name": "b.jpg", "width": 4, "height": 4,
            "attributes": [{"key": "w", "name": "Weather", "type": "select", "value": "rain"}]}]
    ds = fl.parse(doc)
    assert same_json(fl.emit(ds), doc)
    specs = {(a.scope, a.name): a for a in ds.attribute_specs}
    assert specs["annotation", "occ"].type == "bool" and specs["image", "w"].type == "select"


def test_video_annotation_without_frames_is_kept():
    doc = load_fixture("video_tasks")
    doc[0]["annotations"].insert(1, {"id": "c3", "type": "bbox", "value": "dog", "title": "Dog",
                                     "attributes": [], "points": {}})
    for frames in ("all", "annotated"):
        ds = fl.parse(copy.deepcopy(doc), video_frames=frames)
        assert "dog" in [c.name for c in ds.categories]
        assert same_json(fl.emit(ds), doc)
    only = [{"id": "v", "name": "v.mp4", "width": 4, "height": 4, "annotations": [
        {"type": "line", "value": "lane", "points": {}}]}]
    assert same_json(fl.emit(fl.parse(only, video_frames="annotated")), only)


def test_keypoints_attached_to_video_frames_are_counted():
    ds = fl.parse(load_fixture("video_tasks"))
    frame = ds.samples[1]
    kp = Keypoints(points=[[1, 1], [2, 2]], visibility=[2, 2])
    anns = (dataclasses.replace(frame.annotations[0], keypoints=kp), *frame.annotations[1:])
    samples = list(ds.samples)
    samples[1] = dataclasses.replace(frame, annotations=anns)
    report = ConversionReport()
    out = fl.emit(dataclasses.replace(ds, samples=tuple(samples)), report)
    assert same_json(out, load_fixture("video_tasks"))
    assert report.count("keypoints_dropped") == 2
