"""Scale AI task JSON: sanity, invalid input, truncated files, round trips, scaleapi oracles."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from scaleapi import ScaleClient
from scaleapi.tasks import Task, TaskReviewStatus, TaskStatus, TaskType

import annoconv
from annoconv import geometry
from annoconv.errors import ConversionError, ParseError
from annoconv.formats import scale
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
    Polyline,
    Sample,
    Status,
)
from annoconv.report import ConversionReport

from ..samples import WORKED_MASK, polygon_with_hole, two_part_polygon

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scale"
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "scale.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
VECTOR_FIXTURES = ["tasks.json", "legacy_annotation.json", "callback.json", "page.json"]


def load_fixture(name: str) -> object:
    return json.loads((FIXTURES / name).read_text())


def task(annotations: list, **extra: object) -> dict:
    """A small valid imageannotation task (size in metadata) around some annotations."""
    return {"task_id": "t1", "type": "imageannotation", "status": "completed",
            "metadata": {"width": 64, "height": 48}, "response": {"annotations": annotations}, **extra}


# --------------------------------------------------------------------------------------
# sanity: read the fixtures, check concrete values
# --------------------------------------------------------------------------------------


def test_sanity_spec_example():
    report = ConversionReport()
    ds = annoconv.load(FIXTURES / "tasks.json", report=report)
    assert report.lossless
    assert [(c.id, c.name, c.supercategory) for c in ds.categories] == [
        (1, "car", None), (2, "sign", None), (3, "hydrant", None), (4, "lane", None),
        (5, "wheel", None), (6, "truck", "vehicle"), (7, "van", "vehicle")]
    assert ds.info["name"] == "streets" and ds.info["scale"] == {"layout": "array"}
    [occluded] = ds.attribute_specs
    assert (occluded.name, occluded.type, occluded.values) == ("occluded", "select", ("yes", "no"))
    s1, s2, s3 = ds.samples
    assert (s1.id, s1.file_name, s1.width, s1.height) == ("6a1f00000000000000000001", "0001.jpg", 64, 48)
    assert (s1.status, s1.subset, s1.tags, s1.attributes) == (
        Status.REVIEWED, "streets-b1", ("pilot",), {"night": "no"})
    assert s1.extra["scale"]["status"] == "completed"
    assert s1.extra["scale"]["customer_review_status"] == "accepted"
    car, rotated, sign, hydrant = s1.annotations
    # spec §7: first car COCO [4, 6, 16, 12], area 192
    assert car.id == "11111111-1111-4111-8111-111111111111"
    assert car.shape.to_xywh() == (4.0, 6.0, 16.0, 12.0) and car.shape.area == 192
    assert car.attributes == {"occluded": "no"} and car.extra == {}
    # the second car: the 10x4 box x 30..40, y 10..14 turned pi/2 clockwise about (35, 12)
    assert rotated.shape == Box(x0=30.0, y0=10.0, x1=40.0, y1=14.0, rotation=90.0)
    assert rotated.shape.corners().tolist() == [[37, 7], [37, 17], [33, 17], [33, 7]]
    assert rotated.bbox == Box(x0=33.0, y0=7.0, x1=37.0, y1=17.0)
    assert sign.shape.to_coco() == [[2.5, 30.0, 10.0, 30.0, 6.25, 40.0]]
    assert geometry.polygon_area(sign.shape) == 37.5
    assert hydrant.shape == Keypoints(points=[[50.5, 40.25]], visibility=[2])
    assert hydrant.category_id == 3 and hydrant.attributes == {}
    assert (s2.file_name, s2.width, s2.height, s2.status, s2.subset) == (
        "0002.jpg", 320, 240, Status.DONE, "streets-b1")
    lane, wheel, truck = s2.annotations
    assert lane.shape == Polyline(points=[[0.0, 239.0], [160.0, 120.0], [170.5, 100.0]])
    assert wheel.shape == Ellipse(cx=123.0, cy=113.0, rx=50.0, ry=21.0, rotation=0.0)
    assert truck.category_id == 6 and truck.shape.names == scale.CUBOID_VERTICES
    assert truck.shape.points[4].tolist() == [216.0, 65.0]
    assert truck.extra["scale"]["edges"][0]["description"] == "face-top"
    assert truck.bbox == Box(x0=37.0, y0=65.0, x1=216.0, y1=218.0)
    assert (s3.status, s3.annotations, s3.subset) == (Status.NEW, (), None)


def test_sanity_legacy_annotation_task():
    report = ConversionReport()
    ds = annoconv.load(FIXTURES / "legacy_annotation.json", report=report)
    assert report.count("id_assigned") == 3 and report.count("label_missing") == 1
    [s] = ds.samples
    assert s.file_name == "v4cBreD.jpg" and (s.width, s.height) == (640, 480)
    assert [a.id for a in s.annotations] == [f"576ba74eec471ff9b01557cc:{i}" for i in range(3)]
    assert [ds.category_by_id(a.category_id).name for a in s.annotations] == ["baby cow", "adult cow", "object"]
    assert s.annotations[0].shape == Box(x0=123, y0=10, x1=244, y1=49)
    assert isinstance(s.annotations[0].shape.x1, int)
    assert s.annotations[2].shape.to_xywh() == (8, 400, 30.5, 12)
    assert ds.info["scale"]["layout"] == "task"


def test_sanity_callback_and_page():
    ds = annoconv.load(FIXTURES / "callback.json")
    [s] = ds.samples
    assert s.id == "6a1f00000000000000000010" and (s.width, s.height) == (200, 100)
    assert s.annotations[0].shape.to_coco() == [[123, 10, 140, 49, 67, 34]]
    assert geometry.polygon_area(s.annotations[0].shape) == 1296  # spec §4.2
    report = ConversionReport()
    ds = annoconv.load(FIXTURES / "page.json", report=report)
    assert [x.status for x in ds.samples] == [Status.SKIPPED, None]
    assert ds.samples[1].extra["scale"]["status"] == "error"
    assert report.count("status_unknown") == 1
    assert report.examples["status_unknown"] == ["task '6a1f00000000000000000021' status 'error'"]
    assert ds.samples[1].annotations[0].shape.to_xywh()[0] == 0.1


def test_callback_without_task_infers_type():
    body = {"response": {"annotations": [{"left": 1, "top": 1, "width": 2, "height": 2}]},
            "task_id": "cb1"}
    ds = scale.parse(body, allow_missing_size=True)
    assert ds.samples[0].annotations[0].shape == Box(x0=1, y0=1, x1=3, y1=3)
    assert scale.emit(ds) == body


def test_sanity_segmentation(tmp_path):
    report = ConversionReport()
    ds = annoconv.load(FIXTURES / "segment.json", mask_dir=FIXTURES / "masks", report=report)
    assert [(c.name, c.kind, c.color) for c in ds.categories] == [
        ("sky", "stuff", (51, 153, 255, 255)), ("car", "thing", (255, 0, 0, 255))]
    [s] = ds.samples
    assert (s.width, s.height) == (12, 8)  # from the PNG
    label_image = np.asarray(Image.open(FIXTURES / "masks" / "seg-0001-indexed.png"))
    for a, index in zip(s.annotations, (1, 2, 3)):
        assert a.id == f"6a1f00000000000000000030:{index}"
        assert np.array_equal(a.shape.to_array(), label_image == index)
    assert [a.shape.area for a in s.annotations] == [36, 9, 16]
    assert [a.category_id for a in s.annotations] == [1, 2, 2]
    assert report.count("mask_index_unknown") == 1  # the pixel of index 9
    # without the PNG folder: labels only, counted
    report = ConversionReport()
    ds = annoconv.load(FIXTURES / "segment.json", report=report, allow_missing_size=True)
    assert ds.samples[0].annotations == () and report.count("mask_unavailable") == 1
    with pytest.raises(ParseError) as info:
        scale.parse(load_fixture("segment.json"), "s.json")
    assert str(info.value) == (
        "s.json: $[0]: image size unknown: no width/height in params.metadata or metadata; pass "
        "mask_dir= (-r mask_dir=DIR) to read the masks and their size, or allow_missing_size=True "
        "to leave it unknown")
    # extendedIndexedImage (index = R + 256 G + 65536 B), found as {task_id}.png
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[1, 1:3] = (4, 1, 0, 255)  # index 260
    Image.fromarray(rgba, "RGBA").save(tmp_path / "6a1f00000000000000000031.png")
    doc = {"task_id": "6a1f00000000000000000031", "type": "segmentannotation", "status": "completed",
           "response": {"labelMapping": {"road": {"index": 260, "color": "#000000"}},
                        "annotations": {"combined": {}}}}
    [s] = scale.parse([doc], mask_dir=tmp_path).samples
    assert (s.width, s.height) == (4, 3)
    assert [x.tolist() for x in s.annotations[0].shape.to_array().nonzero()] == [[1, 1], [1, 2]]


def test_size_from_image_dir(tmp_path):
    Image.new("RGB", (7, 5)).save(tmp_path / "a.png")
    doc = {"task_id": "t1", "type": "imageannotation",
           "params": {"attachment": "https://example.invalid/x/a.png?sig=1"}}
    [s] = scale.parse([doc], image_dir=tmp_path).samples
    assert (s.file_name, s.width, s.height) == ("a.png", 7, 5)
    with pytest.raises(ParseError) as info:
        scale.parse([doc], "t.json", image_dir=tmp_path / "none")
    assert str(info.value) == (
        f"t.json: $[0]: image size unknown: no width/height in params.metadata or metadata, "
        f"and no image {str(tmp_path / 'none' / 'a.png')!r} (image_dir=)")
    report = ConversionReport()
    [s] = scale.parse([doc], report=report, allow_missing_size=True).samples
    assert (s.width, s.height) == (None, None) and report.count("size_unknown") == 1


@pytest.mark.parametrize("name", [*VECTOR_FIXTURES, "segment.json"])
def test_sniff_and_schema(name):
    assert annoconv.detect_format(FIXTURES / name) == "scale"
    assert not list(VALIDATOR.iter_errors(load_fixture(name)))


@pytest.mark.parametrize(
    ("head", "score"),
    [
        (b'{"images": [{"id": 1}], "annotations": [], "categories": []}', 0),
        (b'[{"name": "a.jpg", "task_id_x": 1, "annotations": []}]', 0),
        (b'{"annoconv": 1, "samples": []}', 0),
        (b'[{"note": "{\\"task_id\\": 1}", "b": 2}]', 0),  # braces and keys inside a string
        (b'[{"task_id": "a"}]', 1),
        (b'  [ {"task_id": "a", "response": {}} ]', 2),
        (b'{"docs": [{"task_id": "a", "params": {"x": 1}}], "total": 1', 2),  # cut mid-file
        (b'{"response": {"annotations": []}, "task_id": "a", "task": {', 2),
        (b"\x89PNG\r\n", 0),
    ],
)
def test_sniff_heads(head, score):
    assert scale.sniff(Path("x.json"), head) == score


# --------------------------------------------------------------------------------------
# invalid input: one located ParseError each, with the exact message
# --------------------------------------------------------------------------------------

A = "t.json: $[0].response.annotations[0]"
BOX = {"uuid": "u", "type": "box", "label": "car", "left": 1, "top": 2, "width": 3, "height": 4}


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        ({"type": "polygon", "label": "a", "vertices": [{"x": 0, "y": 0}, {"x": 1, "y": 1}]},
         f"{A}.vertices: a polygon needs at least 3 vertices, got 2"),
        ({"type": "line", "label": "a", "vertices": []}, f"{A}.vertices: a line needs at least 1 vertices, got 0"),
        ({"type": "ellipse", "label": "a", "vertices": [{"x": 0, "y": 0}] * 3},
         f"{A}.vertices: an ellipse needs 4 vertices, got 3"),
        ({**BOX, "rotation": 0.5, "vertices": [{"x": 0, "y": 0}] * 5},
         f"{A}.vertices: a rotated box needs 4 vertices, got 5"),
        ({"type": "cuboid", "label": "a", "vertices": [{"x": 0, "y": 0, "description": "face-topleft"}] * 7},
         f"{A}.vertices: a cuboid needs 4 to 6 vertices, got 7"),
        ({"type": "box", "label": "a", "vertices": [{"x": 0, "y": 0}] * 4},
         f"{A}: a box needs left, top, width and height; got keys label, type, vertices"),
        ({"type": "polygon", "label": "a", "left": 1, "top": 1, "width": 1, "height": 1},
         f"{A}: a polygon needs 'vertices'; got keys height, label, left, top, type, width"),
        ({"type": "circle", "label": "a"},
         f"{A}.type: expected one of box, polygon, line, point, ellipse, cuboid, got the string 'circle'"),
        ({"label": "a", "color": "red"}, f"{A}: annotation has no 'type' and its keys (color, label) name no geometry"),
        ({**BOX, "width": -3}, f"{A}: box width and height must be >= 0, got -3 x 4"),
        ({**BOX, "top": "2"}, f"{A}.top: expected a number, got the string '2'"),
        ({**BOX, "left": True}, f"{A}.left: expected a number, got a boolean"),
        ({"type": "point", "label": "a", "x": 1}, f"{A}: missing key 'y'"),
        ({"type": "polygon", "label": "a", "vertices": [{"x": 0, "y": 0}, [1, 1], {"x": 2, "y": 0}]},
         f"{A}.vertices[1]: expected a vertex {{x, y}}, got an array of 2"),
        ({"type": "line", "label": "a", "vertices": [{"x": 0, "y": 0}, {"x": 1, "y": None}]},
         f"{A}.vertices[1].y: expected a number, got null"),
        ({"type": "cuboid", "label": "a", "vertices": [{"x": 0, "y": 0, "description": "front"}] * 4},
         f"{A}.vertices[0].description: expected one of " + ", ".join(scale.CUBOID_VERTICES)
         + ", got the string 'front'"),
        ({"type": "cuboid", "label": "a", "vertices": [{"x": 0, "y": 0, "description": "face-topleft"}] * 4},
         f"{A}.vertices[1].description: cuboid vertex 'face-topleft' appears twice"),
        ({**BOX, "label": 3}, f"{A}.label: expected a string, got the number 3"),
        ({**BOX, "attributes": []}, f"{A}.attributes: expected an object, got an array of 0"),
        ({**BOX, "uuid": 12}, f"{A}.uuid: expected a string, got the number 12"),
        ("box", f"{A}: expected an annotation object, got the string 'box'"),
        ({**BOX, "type": ["box"]},
         f"{A}.type: expected one of box, polygon, line, point, ellipse, cuboid, got an array of 1"),
    ],
)
def test_malformed_annotation(annotation, message, tmp_path):
    with pytest.raises(ParseError) as info:
        scale.parse([task([annotation])], "t.json")
    assert str(info.value) == message
    # through the file API, nothing is written when reading fails mid-conversion
    src = tmp_path / "t.json"
    src.write_text(json.dumps([task([annotation])]))
    with pytest.raises(ParseError):
        annoconv.convert(src, tmp_path / "out.json", "scale")
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([task([]), task([])], "t.json: $[1].task_id: duplicate task_id 't1' (first at $[0])"),
        ({"docs": [task([]), task([])]}, "t.json: $.docs[1].task_id: duplicate task_id 't1' (first at $.docs[0])"),
        ([{"task_id": "t1", "type": "imageannotation", "response": {"annotations": []}}],
         "t.json: $[0]: image size unknown: no width/height in params.metadata or metadata; pass "
         "image_dir= (-r image_dir=DIR) to read it from the images, or allow_missing_size=True to "
         "leave it unknown"),
        ([task([], metadata={"width": 64})], "t.json: $[0].metadata: has 'width' but no 'height'"),
        ([task([], metadata={"width": 64, "height": 0})],
         "t.json: $[0].metadata.height: expected a positive integer, got the number 0"),
        ([{**task([]), "params": {"metadata": {"width": 6.5, "height": 4}}}],
         "t.json: $[0].params.metadata.width: expected a positive integer, got the number 6.5"),
        ([{**task([]), "type": "videoannotation"}],
         "t.json: $[0].type: task type the string 'videoannotation' is not an image annotation task; "
         "annoconv reads imageannotation, annotation, polygonannotation, lineannotation, "
         "pointannotation, cuboidannotation, segmentannotation"),
        ([{"type": "imageannotation"}], "t.json: $[0]: missing key 'task_id'"),
        ([{**task([]), "task_id": 5}], "t.json: $[0].task_id: expected a string, got the number 5"),
        ([{**task([]), "type": ["imageannotation"]}],
         "t.json: $[0].type: task type an array of 1 is not an image annotation task; annoconv reads "
         "imageannotation, annotation, polygonannotation, lineannotation, pointannotation, "
         "cuboidannotation, segmentannotation"),
        ([3], "t.json: $[0]: expected a task object, got the number 3"),
        ("tasks", "t.json: $: expected a Scale task, an array of tasks, a callback body or a task list "
                  "page, got the string 'tasks'"),
        ({"docs": {}}, "t.json: $.docs: expected an array of tasks, got an object"),
        ([{**task([]), "response": []}], "t.json: $[0].response: expected an object, got an array of 0"),
        ([{**task([]), "response": {"annotations": {}}}],
         "t.json: $[0].response.annotations: expected an array, got an object"),
        ([{**task([]), "response": {"annotations": [], "global_attributes": "x"}}],
         "t.json: $[0].response.global_attributes: expected an object, got the string 'x'"),
        ([{**task([]), "tags": "a"}], "t.json: $[0].tags: expected an array of strings, got the string 'a'"),
        ([{**task([]), "params": {"geometries": {"box": {"objects_to_annotate": ["a", 3]}}}}],
         "t.json: $[0].params.geometries.box.objects_to_annotate[1]: expected a label string or "
         "{choice, ...}, got the number 3"),
        ({"response": {}, "task_id": "a", "task": {**task([]), "task_id": "b"}},
         "t.json: $.task_id: callback task_id 'a' differs from task.task_id 'b'"),
        ([{"task_id": "s", "type": "segmentannotation", "metadata": {"width": 2, "height": 2},
           "response": {"labelMapping": {"a": {"index": 1}, "b": [{"index": 1}]}}}],
         "t.json: $[0].response.labelMapping.b[0].index: index 1 is also used by 'a'"),
        ([{"task_id": "s", "type": "segmentannotation", "metadata": {"width": 2, "height": 2},
           "response": {"labelMapping": {"a": {"index": "1"}}}}],
         "t.json: $[0].response.labelMapping.a: expected {index: int >= 0, color}, got an object"),
    ],
)
def test_malformed_task(doc, message):
    with pytest.raises(ParseError) as info:
        scale.parse(doc, "t.json")
    assert str(info.value) == message


def test_segmentation_mask_errors(tmp_path):
    doc = load_fixture("segment.json")
    with pytest.raises(ParseError) as info:
        scale.parse(doc, "s.json", mask_dir=tmp_path)
    assert str(info.value) == (
        f"s.json: $[0].response.annotations.combined: no local copy of the indexed mask in "
        f"{str(tmp_path)!r} (looked for 'seg-0001-indexed.png', '6a1f00000000000000000030.png'; mask_dir=)")
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(tmp_path / "seg-0001-indexed.png")
    doc[0]["metadata"] = {"width": 12, "height": 8}
    with pytest.raises(ParseError) as info:
        scale.parse(doc, "s.json", mask_dir=tmp_path)
    assert str(info.value) == (f"{tmp_path / 'seg-0001-indexed.png'}: mask is 3x3 (width x height) "
                               "but the task's metadata says 12x8")


def test_unknown_statuses_are_kept_and_counted():
    report = ConversionReport()
    doc = [task([], status="on_hold", customer_review_status="escalated")]
    ds = scale.parse(doc, report=report)
    assert ds.samples[0].status is None and report.count("status_unknown") == 2
    assert scale.emit(ds) == doc


def test_rotated_box_vertices_disagreeing_with_rotation():
    # rotation says pi/2 but the vertices are the unrotated box: the vertices win (spec §9 Q1)
    box = {**BOX, "left": 30.0, "top": 10.0, "width": 10.0, "height": 4.0, "rotation": math.pi / 2,
           "vertices": [{"x": 30.0, "y": 10.0}, {"x": 40.0, "y": 10.0}, {"x": 40.0, "y": 14.0}, {"x": 30.0, "y": 14.0}]}
    report = ConversionReport()
    ds = scale.parse([task([box])], report=report)
    assert ds.samples[0].annotations[0].shape == Box(x0=30.0, y0=10.0, x1=40.0, y1=14.0, rotation=0.0)
    assert report.count("box_vertices_used") == 1
    assert scale.emit(ds) == [task([box])]


def test_validate_option(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps([task([{**BOX, "width": "3"}])]))
    with pytest.raises(ParseError) as info:
        annoconv.load(path, validate=True)
    assert str(info.value) == f"{path}: $[0].response.annotations[0].width: schema: '3' is not of type 'number'"
    assert annoconv.load(FIXTURES / "tasks.json", validate=True).samples


# --------------------------------------------------------------------------------------
# truncated files
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VECTOR_FIXTURES)
@pytest.mark.parametrize("keep", [0.0, 0.01, 0.25, 0.5, 0.9, 0.999])
def test_truncated(name, keep, tmp_path):
    data = (FIXTURES / name).read_bytes().rstrip()
    path = tmp_path / name
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ParseError) as info:
        annoconv.load(path, format="scale")
    assert str(info.value).startswith(f"{path}: ")


# --------------------------------------------------------------------------------------
# save / round trip
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VECTOR_FIXTURES)
def test_round_trip_fixture(name, tmp_path):
    report = annoconv.convert(FIXTURES / name, tmp_path / name, "scale")
    assert report.files == [name]
    written = json.loads((tmp_path / name).read_text())
    # equal field for field, int vs float and key order too (tasks.json's cuboid vertices
    # are written y before x)
    assert json.dumps(written) == json.dumps(load_fixture(name))
    assert scale._same(written, load_fixture(name))
    if name == "tasks.json":
        assert (report.samples, report.annotations) == (3, 7)


def test_same_minds_key_order():
    assert scale._same({"x": 1, "y": 2.0}, {"x": 1, "y": 2.0})
    assert not scale._same({"x": 1, "y": 2}, {"y": 2, "x": 1})
    assert not scale._same([{"x": 1, "y": 2}], [{"x": 1, "y": 2.0}])
    vertices = [{"y": 1, "x": 0}, {"y": 1, "x": 4}, {"y": 5, "x": 2}]
    doc = [task([{"uuid": "u", "type": "polygon", "label": "a", "vertices": vertices}])]
    doc[0]["response"] = {"global_attributes": {"n": 1}, **doc[0]["response"]}
    assert json.dumps(scale.emit(scale.parse(copy.deepcopy(doc)))) == json.dumps(doc)


def test_round_trip_segmentation(tmp_path):
    report = ConversionReport()
    ds = annoconv.load(FIXTURES / "segment.json", mask_dir=FIXTURES / "masks")
    annoconv.save(ds, tmp_path / "s.json", "scale", report=report)
    assert json.loads((tmp_path / "s.json").read_text()) == load_fixture("segment.json")
    assert report.count("mask_not_written") == 3 and report.count("mask_to_polygon") == 0


def test_model_edits_are_written():
    ds = annoconv.load(FIXTURES / "tasks.json")
    s1 = ds.samples[0]
    edited = Sample(**{**{f: getattr(s1, f) for f in s1.__slots__}, "status": Status.REJECTED,
                       "tags": ("a", "b"), "subset": "b2", "attributes": {"night": "yes"},
                       "annotations": s1.annotations[:1]})
    out = scale.emit(Dataset(categories=ds.categories, samples=(edited,)))[0]
    assert (out["status"], out["customer_review_status"], out["tags"], out["batch"]) == (
        "completed", "rejected", ["a", "b"], "b2")
    assert out["response"] == {"annotations": [load_fixture("tasks.json")[0]["response"]["annotations"][0]],
                               "global_attributes": {"night": "yes"}}
    moved = Annotation(id="m", category_id=1, shape=Box(x0=1.5, y0=2, x1=3, y1=4, rotation=30))
    out = scale.emit(Dataset(categories=ds.categories, samples=(
        Sample(**{**{f: getattr(s1, f) for f in s1.__slots__}, "status": Status.DONE, "annotations": (moved,)}),)))[0]
    assert "customer_review_status" not in out and out["status"] == "completed"
    [box] = out["response"]["annotations"]
    assert (box["left"], box["top"], box["width"], box["height"]) == (1.5, 2, 1.5, 2)
    assert box["rotation"] == pytest.approx(math.pi / 6)
    assert np.allclose([[v["x"], v["y"]] for v in box["vertices"]], moved.shape.corners())


def every_shape_dataset() -> Dataset:
    anns = (
        Annotation(id=1, category_id=1, shape=Box(x0=1, y0=2, x1=3.5, y1=4, rotation=12.5),
                   z_index=3, attributes={"occluded": True}, extra={"hasty": {"k": 1}}),
        Annotation(id="p", category_id=2, shape=two_part_polygon, area=3212.375),
        Annotation(id=3, category_id=2, shape=polygon_with_hole, iscrowd=True, score=0.5),
        Annotation(id=4, category_id=1, shape=Mask.from_array(WORKED_MASK), track_id=7),
        Annotation(id=5, category_id=1, shape=Polyline(points=[[0, 0], [1.5, 2]], closed=True)),
        Annotation(id=6, category_id=1, shape=Keypoints(points=[[1, 2], [0, 0], [3, 3]], visibility=[2, 0, 1])),
        Annotation(id=7, category_id=1, shape=Ellipse(cx=5, cy=5, rx=2, ry=1.5, rotation=30)),
        Annotation(id=None, category_id=None, attributes={"weather": "rain"}),
    )
    return Dataset(
        categories=(Category(id=1, name="a"), Category(id=2, name="b")),
        attribute_specs=(AttributeSpec(name="occluded", type="bool"),
                         AttributeSpec(name="kind", type="multiselect", values=("x", "y"))),
        samples=(Sample(id=1, file_name="a.png", width=6, height=4, subset="train", status=Status.IN_PROGRESS,
                        tags=("t",), attributes={"weather": "sun"}, annotations=anns, extra={"hasty": {}}),
                 Sample(id="s2", file_name="b.png", width=6, height=4)),
        info={"name": "proj"},
    )


def test_write_from_another_format(tmp_path):
    report = ConversionReport()
    annoconv.save(every_shape_dataset(), tmp_path / "o.json", "scale", report=report, attachment_prefix="s3://b/")
    doc = json.loads((tmp_path / "o.json").read_text())
    assert not list(VALIDATOR.iter_errors(doc))
    t1, t2 = doc
    assert (t1["task_id"], t1["type"], t1["status"], t1["project"], t1["batch"], t1["tags"]) == (
        "1", "imageannotation", "pending", "proj", "train", ["t"])
    assert t1["params"]["attachment"] == "s3://b/a.png"
    assert t1["metadata"] == {"filename": "a.png", "width": 6, "height": 4}
    assert list(t1["params"]["geometries"]) == ["box", "polygon", "line", "point", "ellipse"]
    assert t1["params"]["geometries"]["box"] == {"objects_to_annotate": ["a", "b"]}
    assert t1["params"]["annotation_attributes"] == {
        "occluded": {"type": "category", "description": "occluded", "choices": ["true", "false"]},
        "kind": {"type": "category", "description": "kind", "choices": ["x", "y"], "allow_multiple": True}}
    anns = t1["response"]["annotations"]
    assert [(a["uuid"], a["type"]) for a in anns] == [
        ("1", "box"), ("p", "polygon"), ("p:1", "polygon"), ("3", "polygon"), ("4", "polygon"),
        ("5", "line"), ("6", "point"), ("6:1", "point"), ("7", "ellipse")]
    assert anns[0]["attributes"] == {"occluded": "true"}
    assert anns[0]["rotation"] == pytest.approx(math.radians(12.5))
    assert anns[1]["vertices"][0] == {"x": 10.5, "y": 20.0}
    assert [[v["x"], v["y"]] for v in anns[3]["vertices"]] == [[0, 0], [6, 0], [6, 6], [0, 6]]
    # the traced mask rasterises back to the same pixels
    traced = Polygon.from_rings([[v["x"], v["y"]] for v in anns[4]["vertices"]])
    assert np.array_equal(geometry.polygon_to_rle(traced, 4, 6), Mask.from_array(WORKED_MASK).rle)
    assert t1["response"]["global_attributes"] == {"weather": "sun"}
    assert t2 == {"task_id": "s2", "type": "imageannotation", "status": "completed",
                  "params": {"attachment": "s3://b/b.png", "attachment_type": "image",
                             "geometries": {"box": {"objects_to_annotate": ["a", "b"]}},
                             "annotation_attributes": t1["params"]["annotation_attributes"]},
                  "project": "proj", "metadata": {"filename": "b.png", "width": 6, "height": 4},
                  "response": {"annotations": []}} | {"project": "proj"}
    assert dict(report.counts) == {
        "z_index_dropped": 1, "field_dropped": 5, "attribute_converted": 1, "shape_converted": 3,
        "hole_dropped": 1, "score_dropped": 1, "track_dropped": 1, "mask_to_polygon": 1,
        "keypoints_dropped": 1, "reference_missing": 1, "status_merged": 1, "status_unmapped": 1}
    assert (report.samples, report.annotations) == (2, 9)
    # what Scale can hold reads back as it was
    back = annoconv.load(tmp_path / "o.json")
    b = back.samples[0].annotations
    assert b[1].shape == Polygon.from_rings(two_part_polygon.parts[0].exterior)
    assert b[5].shape == Polyline(points=[[0, 0], [1.5, 2]])
    assert b[0].shape.rotation == pytest.approx(12.5) and b[0].shape.to_xyxy() == (1, 2, 3.5, 4)
    e = b[8].shape
    assert np.allclose([e.cx, e.cy, e.rx, e.ry, e.rotation], [5, 5, 2, 1.5, 30])


def test_shapes_scale_cannot_hold_are_dropped_and_counted(tmp_path):
    box = Box(x0=1, y0=1, x1=3, y1=3)
    anns = (
        Annotation(id=1, category_id=1, shape=Polygon.from_rings([(1, 1), (5, 5)])),  # 2 vertices
        Annotation(id=2, category_id=1, shape=Polygon(parts=())),
        Annotation(id=3, category_id=1, shape=Keypoints(points=[[5, 6]], visibility=[1])),
        Annotation(id=4, category_id=None, shape=box),
        Annotation(id=5, category_id=7, shape=box),  # a category the dataset does not list
        Annotation(id=6, category_id=1, shape=box),
    )
    ds = Dataset(categories=(Category(id=1, name="car"),), samples=(
        Sample(id=1, file_name="a.jpg", width=20, height=16, annotations=anns),
        Sample(id=2, file_name="empty.jpg", width=0, height=0)))
    report = annoconv.save(ds, tmp_path / "o.json", "scale", report=ConversionReport(max_examples=20))
    doc = json.loads((tmp_path / "o.json").read_text())
    assert not list(VALIDATOR.iter_errors(doc))
    assert [a["uuid"] for a in doc[0]["response"]["annotations"]] == ["3", "6"]
    assert doc[1]["metadata"] == {"filename": "empty.jpg"}  # no 0 size: Scale's are positive
    assert report.count("invalid_part_dropped") == 1 and report.count("shape_dropped") == 2
    assert report.count("reference_missing") == 2
    assert "sample 1 annotation 3 (occluded keypoints written as points)" in report.examples["field_dropped"]
    assert report.examples["size_unknown"] == ["sample 2 (0x0: no size written)"]
    back = annoconv.load(tmp_path / "o.json", allow_missing_size=True)  # and Scale's reader takes it
    assert [a.id for a in back.samples[0].annotations] == ["3", "6"]


@pytest.mark.parametrize(
    ("status", "written"),
    [
        (Status.NEW, ("pending", None)), (Status.IN_PROGRESS, ("pending", None)),
        (Status.PRELABELED, ("pending", None)), (Status.TO_REVIEW, ("completed", None)),
        (Status.DONE, ("completed", None)), (Status.REVIEWED, ("completed", "accepted")),
        (Status.REJECTED, ("completed", "rejected")), (Status.SKIPPED, ("canceled", None)),
    ],
)
def test_status_written_through_canonical(status, written):
    report = ConversionReport()
    [t] = scale.emit(Dataset(samples=(Sample(id="x", file_name="x.png", status=status),)), report)
    assert (t["status"], t.get("customer_review_status")) == written
    assert report.count("status_merged") == (status in (Status.IN_PROGRESS, Status.PRELABELED, Status.TO_REVIEW))
    # the SDK's enums accept what we write (oracle)
    TaskStatus(t["status"])
    if "customer_review_status" in t:
        TaskReviewStatus(t["customer_review_status"])
    assert TaskType(t["type"]) is TaskType.ImageAnnotation


def test_layouts_and_write_atomicity(tmp_path, monkeypatch):
    ds = annoconv.load(FIXTURES / "tasks.json")
    out = tmp_path / "o.json"
    out.write_text("old")
    with pytest.raises(ConversionError) as info:
        annoconv.save(ds, out, "scale", layout="task")
    assert str(info.value) == ("layout 'task' holds one task but the dataset has 3 samples; write "
                               "layout='array' (-w layout=array)")
    assert out.read_text() == "old"
    # a writer failing midway (third task) leaves the target as it was
    real = scale._emit_task
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(scale, "_emit_task", failing)
    with pytest.raises(RuntimeError):
        annoconv.save(ds, out, "scale")
    assert out.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["o.json"]
    monkeypatch.undo()
    page = scale.emit(ds, layout="page")
    assert list(page) == ["docs", "total", "limit", "offset", "has_more"] and page["total"] == 3
    one = Dataset(categories=ds.categories, samples=ds.samples[:1], info=ds.info)
    assert scale.emit(one, layout="task") == load_fixture("tasks.json")[0]
    body = scale.emit(one, layout="callback")
    first = load_fixture("tasks.json")[0]
    assert body == {"response": first["response"], "task_id": first["task_id"], "task": first}
    assert list(body) == ["response", "task_id", "task"]
    cb = annoconv.load(FIXTURES / "callback.json")
    assert scale.emit(cb, layout="array") == [load_fixture("callback.json")["task"]]


def test_attached_keypoints_become_points():
    person = Annotation(id="p1", category_id=1, shape=Box(x0=0, y0=0, x1=4, y1=8),
                        keypoints=Keypoints(points=[[1, 1], [2, 2], [3, 3]], visibility=[2, 0, 2],
                                            names=("nose", "eye", "ear")))
    report = ConversionReport()
    [t] = scale.emit(Dataset(categories=(Category(id=1, name="person"),),
                             samples=(Sample(id="s", file_name="s.png", width=4, height=8, annotations=(person,)),)),
                     report)
    assert [(a["uuid"], a["type"], a.get("x"), a.get("y")) for a in t["response"]["annotations"]] == [
        ("p1", "box", None, None), ("p1:1", "point", 1, 1), ("p1:2", "point", 3, 3)]
    assert report.count("keypoints_dropped") == 1 and report.count("shape_converted") == 1


def test_emit_is_deterministic():
    ds = every_shape_dataset()
    assert json.dumps(scale.emit(ds)) == json.dumps(scale.emit(ds))


# --------------------------------------------------------------------------------------
# hypothesis: small generated documents round-trip exactly and match the schema
# --------------------------------------------------------------------------------------

num = st.one_of(st.integers(-5, 120), st.floats(-5, 120, allow_nan=False, width=64),
                st.integers(-50, 1200).map(lambda v: v / 10))
pos = st.one_of(st.integers(0, 60), st.floats(0, 60, allow_nan=False), st.integers(0, 600).map(lambda v: v / 10))


def vertex(extra_keys: bool = False) -> st.SearchStrategy[dict]:
    base = st.one_of(st.fixed_dictionaries({"x": num, "y": num}),
                     st.builds(lambda x, y: {"y": y, "x": x}, num, num))  # either key order
    if extra_keys:
        base = st.one_of(base, st.fixed_dictionaries({"x": num, "y": num, "id": st.integers(0, 3)}))
    return base


@st.composite
def geometry_keys(draw: st.DrawFn, kind: str) -> dict:
    if kind == "box":
        out = {"left": draw(num), "top": draw(num), "width": draw(pos), "height": draw(pos)}
        mode = draw(st.sampled_from(["plain", "rotated", "rotated_rounded", "vertices_only", "bad_vertices"]))
        if mode != "plain":
            rot = draw(st.floats(-7, 7, allow_nan=False))
            b = Box.from_xywh(out["left"], out["top"], out["width"], out["height"], rotation=math.degrees(rot))
            corners = b.corners()
            if mode == "rotated_rounded":
                corners = corners.round(2)
            verts = [{"x": x, "y": y} for x, y in corners.tolist()]
            if mode == "bad_vertices":
                verts = draw(st.lists(vertex(), min_size=4, max_size=4))
            if mode != "vertices_only":
                out["rotation"] = rot
            out["vertices"] = verts
        return out
    if kind == "point":
        return {"x": draw(num), "y": draw(num)}
    if kind == "cuboid":
        names = draw(st.permutations(scale.CUBOID_VERTICES))[: draw(st.integers(4, 6))]
        vertices = [{"description": n, "x": draw(num), "y": draw(num)} for n in names]
        if draw(st.booleans()):  # the key order of tasks.json's truck
            vertices = [{"description": v["description"], "y": v["y"], "x": v["x"]} for v in vertices]
        return {"vertices": vertices}
    n = {"polygon": (3, 8), "line": (1, 6), "ellipse": (4, 4)}[kind]
    return {"vertices": draw(st.lists(vertex(extra_keys=True), min_size=n[0], max_size=n[1]))}


@st.composite
def scale_annotation(draw: st.DrawFn, legacy: bool) -> dict:
    kind = "box" if legacy else draw(st.sampled_from(list(scale.GEOMETRY_KEYS)))
    a: dict = {}
    if not legacy:
        a["uuid"] = draw(st.sampled_from(["u1", "2f6b", "x-y"]))
        a["type"] = kind
    label = draw(st.sampled_from(["car", "person", None, "absent"]))
    if label != "absent":
        a["label"] = label
    if draw(st.booleans()):
        a["attributes"] = draw(st.dictionaries(st.sampled_from(["occ", "n"]),
                                               st.one_of(st.text(max_size=3), st.integers(0, 9)), max_size=2))
    a.update(draw(geometry_keys(kind)))
    if draw(st.booleans()):
        a["note"] = draw(st.sampled_from([None, 1, "x", [1, {"k": 2.5}]]))
    if draw(st.booleans()):  # any key order
        a = dict(draw(st.permutations(list(a.items()))))
    return a


@st.composite
def scale_task(draw: st.DrawFn, i: int) -> dict:
    ttype = draw(st.sampled_from(["imageannotation", "imageannotation", "annotation"]))
    t: dict = {"task_id": f"t{i}", "type": ttype}
    status = draw(st.sampled_from(["pending", "completed", "canceled", "error", "x", None]))
    if status is not None:
        t["status"] = status
    if draw(st.booleans()):
        t["customer_review_status"] = draw(st.sampled_from(["accepted", "fixed", "rejected", "commented", "pending"]))
    if draw(st.booleans()):
        t["tags"] = draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=2))
    if draw(st.booleans()):
        t["batch"] = draw(st.sampled_from(["b1", "b2"]))
    where = draw(st.sampled_from(["metadata", "params"]))
    size = {"width": draw(st.integers(1, 12)), "height": draw(st.integers(1, 12))}
    t.update({"metadata": size} if where == "metadata" else {"params": {"metadata": size}})
    if status != "pending" or draw(st.booleans()):
        response: dict = {}
        if draw(st.integers(0, 9)):
            response["annotations"] = draw(st.lists(scale_annotation(ttype == "annotation"), max_size=4))
        if draw(st.booleans()):
            response["global_attributes"] = {"night": draw(st.sampled_from(["yes", "no"]))}
        if draw(st.booleans()):
            response = dict(reversed(list(response.items())))
        t["response"] = response
    if draw(st.booleans()):
        t = dict(draw(st.permutations(list(t.items()))))
    return t


@st.composite
def scale_documents(draw: st.DrawFn) -> object:
    n = draw(st.integers(1, 3))
    tasks = [draw(scale_task(i)) for i in range(n)]
    layout = draw(st.sampled_from(["array", "task", "page", "callback"]))
    if layout == "array" or (n > 1 and layout != "page"):
        return tasks
    if layout == "page":
        return {"docs": tasks, "total": n, "limit": 100, "offset": 0, "has_more": False, "next_token": None}
    if layout == "task":
        return tasks[0]
    return {"response": tasks[0].get("response", {}), "task_id": tasks[0]["task_id"], "task": tasks[0]}


@given(scale_documents())
def test_round_trip_generated_documents(doc):
    doc = json.loads(json.dumps(doc))
    ds = scale.parse(copy.deepcopy(doc))
    out = scale.emit(ds)
    assert json.dumps(out) == json.dumps(doc)  # key order too
    assert not list(VALIDATOR.iter_errors(out))
    assert scale.emit(scale.parse(json.loads(json.dumps(out)))) == out


ints = st.integers(-20, 200)


@st.composite
def model_shapes(draw: st.DrawFn) -> object:
    kind = draw(st.sampled_from(["box", "polygon", "line", "point", "ellipse", "cuboid"]))
    if kind == "box":
        x0, y0 = draw(ints), draw(ints)
        return Box(x0=x0, y0=y0, x1=x0 + draw(st.integers(0, 50)), y1=y0 + draw(st.integers(0, 50)),
                   rotation=draw(st.sampled_from([0, 15.0, -90.0, 33.3])))
    if kind == "polygon":
        return Polygon.from_rings(draw(st.lists(st.tuples(ints, ints), min_size=3, max_size=8)))
    if kind == "line":
        return Polyline(points=draw(st.lists(st.tuples(ints, ints), min_size=1, max_size=6)))
    if kind == "point":
        return Keypoints(points=[draw(st.tuples(ints, ints))], visibility=[2])
    if kind == "cuboid":
        names = draw(st.permutations(scale.CUBOID_VERTICES))[:draw(st.integers(4, 6))]
        return Keypoints(points=draw(st.lists(st.tuples(ints, ints), min_size=len(names), max_size=len(names))),
                         visibility=[2] * len(names), names=tuple(names))
    return Ellipse(cx=draw(ints), cy=draw(ints), rx=draw(st.integers(0, 30)), ry=draw(st.integers(0, 30)),
                   rotation=draw(st.sampled_from([0, 10.0, 45.0, -60.0])))


def close_shapes(a: object, b: object) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, Ellipse) and a.rx == a.ry == 0:  # a point: no rotation to keep
        return np.allclose([a.cx, a.cy, b.rx, b.ry], [b.cx, b.cy, 0, 0])
    if isinstance(a, (Box, Ellipse)):
        fa = [getattr(a, f) for f in a.__slots__]
        fb = [getattr(b, f) for f in b.__slots__]
        return np.allclose(fa, fb, atol=1e-9)
    return a == b


@given(st.lists(model_shapes(), max_size=5), st.sampled_from(list(Status)))
def test_model_round_trip_through_scale(shapes, status):
    anns = tuple(Annotation(id=f"a{i}", category_id=1 + i % 2, shape=s) for i, s in enumerate(shapes))
    ds = Dataset(categories=(Category(id=1, name="a"), Category(id=2, name="b")),
                 samples=(Sample(id="t", file_name="t.png", width=9, height=7, status=status, annotations=anns),))
    report = ConversionReport()
    doc = json.loads(json.dumps(scale.emit(ds, report)))
    assert not list(VALIDATOR.iter_errors(doc))
    [s] = scale.parse(doc).samples
    assert [a.id for a in s.annotations] == [a.id for a in anns]
    assert all(close_shapes(a.shape, b.shape) for a, b in zip(s.annotations, anns))
    assert [a.category_id for a in s.annotations] == [a.category_id for a in anns]
    merged = status in (Status.IN_PROGRESS, Status.PRELABELED, Status.TO_REVIEW)
    assert (s.status == status) is not merged and report.count("status_merged") == merged


# --------------------------------------------------------------------------------------
# scaleapi SDK oracles (offline: HTTP session patched, dummy key)
# --------------------------------------------------------------------------------------


class _Response:
    def __init__(self, payload: object) -> None:
        self.status_code = 200
        self._payload = payload
        self.text = json.dumps(payload)

    def json(self) -> object:
        return copy.deepcopy(self._payload)


def serve(monkeypatch: pytest.MonkeyPatch, handler) -> list:
    calls: list = []

    def request(self, method, url, **kwargs):  # replaces requests.Session.request
        calls.append((method, url, kwargs.get("params")))
        return _Response(handler(method, url, kwargs.get("params") or {}))

    monkeypatch.setattr(requests.Session, "request", request)
    return calls


def test_sdk_pages_through_what_we_write(tmp_path, monkeypatch):
    annoconv.convert(FIXTURES / "tasks.json", tmp_path / "o.json", "scale")
    written = json.loads((tmp_path / "o.json").read_text())

    def handler(method, url, params):
        start = int(params.get("next_token") or 0)
        docs = written[start:start + 2]
        more = start + 2 < len(written)
        return {"docs": docs, "total": len(written), "limit": 2, "offset": start, "has_more": more,
                "next_token": str(start + 2) if more else None}

    calls = serve(monkeypatch, handler)
    client = ScaleClient("test_dummy_key")
    tasks = list(client.get_tasks(project_name="streets", limit=2))
    assert [c[:2] for c in calls] == [("GET", "https://api.scale.com/v1/tasks")] * 2
    assert calls[0][2]["project"] == "streets" and calls[1][2]["next_token"] == "2"
    assert [t.id for t in tasks] == [s["task_id"] for s in written]
    dumped = [t.as_dict() for t in tasks]
    assert scale.emit(scale.parse(dumped)) == load_fixture("tasks.json")
    for t in tasks:  # the SDK's enums accept every value we wrote
        TaskType(t.type)
        TaskStatus(t.status)
    assert TaskReviewStatus(tasks[0].customer_review_status) is TaskReviewStatus.Accepted
    # one page as the raw list response
    page = client.tasks(project="streets")
    assert scale.parse({"docs": [t.as_dict() for t in page.docs], "total": page.total,
                        "limit": page.limit, "offset": page.offset, "has_more": page.has_more,
                        "next_token": page.next_token}).samples[0].id == written[0]["task_id"]


def test_sdk_get_task_and_task_wrapper(monkeypatch):
    ds = annoconv.load(FIXTURES / "legacy_annotation.json")
    written = scale.emit(ds)
    serve(monkeypatch, lambda method, url, params: written)
    t = ScaleClient("test_dummy_key").get_task(written["task_id"])
    assert t.id == "576ba74eec471ff9b01557cc" and TaskType(t.type) is TaskType.Annotation
    assert scale.emit(scale.parse(t.as_dict())) == load_fixture("legacy_annotation.json")
    # Task() needs task_id: everything we write has one
    for doc in (scale.emit(every_shape_dataset())):
        assert Task(doc, None).id == doc["task_id"]
    with pytest.raises(KeyError):
        Task({}, None)


def test_vocabularies_match_the_sdk():
    assert set(scale.STATUS_IN) == {s.value for s in TaskStatus}
    assert set(scale.REVIEW_KNOWN) == {s.value for s in TaskReviewStatus}
    assert {*scale.VECTOR_TASKS, scale.SEGMENT_TASK} <= {t.value for t in TaskType}
    with pytest.raises(ValueError):  # the SDK rejects v2's 'error': we keep it (counted) instead
        TaskStatus("error")


# --------------------------------------------------------------------------------------
# cross-format: Scale -> COCO checked by pycocotools, COCO -> Scale
# --------------------------------------------------------------------------------------


def _needs_coco() -> None:
    spec = annoconv.get_format("coco")
    if spec.read is None or spec.write is None:
        pytest.skip("the COCO format module has no reader/writer yet")


def _coco_shapes(ds: Dataset) -> list[tuple[Sample, Annotation]]:
    """The annotations COCO can hold, in the order a COCO writer emits them."""
    return [(s, a) for s in ds.samples for a in s.annotations if not isinstance(a.shape, Polyline)]


@pytest.mark.parametrize(("name", "options", "n_pixel_checks"),
                         [("tasks.json", {}, 3), ("segment.json", {"mask_dir": FIXTURES / "masks"}, 3)])
def test_scale_to_coco_matches_pycocotools(name, options, n_pixel_checks, tmp_path):
    _needs_coco()
    from pycocotools.coco import COCO

    ds = annoconv.load(FIXTURES / name, **options)
    report = annoconv.convert(FIXTURES / name, tmp_path / "instances.json", "coco", read_options=options)
    assert report.count("shape_dropped") == (name == "tasks.json")  # the line
    coco = COCO(str(tmp_path / "instances.json"))
    images = {im["file_name"]: im for im in coco.dataset["images"]}
    pairs = _coco_shapes(ds)
    anns = coco.dataset["annotations"]
    assert len(anns) == len(pairs)
    label_image = np.asarray(Image.open(FIXTURES / "masks" / "seg-0001-indexed.png"))
    checked = 0
    for ann, (s, a) in zip(anns, pairs):
        im = images[s.file_name]
        assert ann["image_id"] == im["id"] and (im["width"], im["height"]) == (s.width, s.height)
        assert coco.cats[ann["category_id"]]["name"] == ds.category_by_id(a.category_id).name
        if isinstance(a.shape, Mask):  # decoded from the indexed PNG
            assert np.array_equal(coco.annToMask(ann).astype(bool), label_image == a.extra["scale"]["index"])
            checked += 1
        elif isinstance(a.shape, (Polygon, Ellipse)) or (isinstance(a.shape, Box) and a.shape.rotation):
            [ours] = geometry.shapes_to_rles([a.shape], s.height, s.width)
            assert np.array_equal(coco.annToMask(ann).astype(bool), annoconv.rle.decode(ours))
            checked += 1
        if isinstance(a.shape, Box) and not a.shape.rotation:
            assert ann["bbox"] == list(a.shape.to_xywh())
    assert checked == n_pixel_checks  # rotated box, sign, ellipse / the three masks
    if name == "tasks.json":  # spec §7: first car [4, 6, 16, 12], area 192
        assert anns[0]["bbox"] == [4.0, 6.0, 16.0, 12.0] and anns[0]["area"] == 192


def test_coco_to_scale(tmp_path):
    _needs_coco()
    from pycocotools.coco import COCO

    src = annoconv.load(FIXTURES / "segment.json", mask_dir=FIXTURES / "masks")
    annoconv.save(src, tmp_path / "in.json", "coco")
    coco_ds = annoconv.load(tmp_path / "in.json", format="coco")
    report = annoconv.save(coco_ds, tmp_path / "scale.json", "scale")
    assert report.count("mask_to_polygon") == 3
    doc = json.loads((tmp_path / "scale.json").read_text())
    assert not list(VALIDATOR.iter_errors(doc))
    for t in doc:
        TaskType(t["type"])
        TaskStatus(t["status"])
    back = annoconv.load(tmp_path / "scale.json")
    [s] = back.samples
    assert (s.width, s.height) == (12, 8)
    # each mask came back as a polygon covering exactly its pixels (pycocotools decides)
    annoconv.save(back, tmp_path / "again.json", "coco")
    coco = COCO(str(tmp_path / "again.json"))
    label_image = np.asarray(Image.open(FIXTURES / "masks" / "seg-0001-indexed.png"))
    masks = [coco.annToMask(a).astype(bool) for a in coco.dataset["annotations"]]
    assert [m.sum() for m in masks] == [36, 9, 16]
    for m, index in zip(masks, (1, 2, 3)):
        assert np.array_equal(m, label_image == index)


# --------------------------------------------------------------------------------------
# box-only records, legacy callbacks, cuboid keypoint names, label names, mask PNG modes
# --------------------------------------------------------------------------------------


def test_box_only_records_become_boxes():
    """COCO detection records (``segmentation: []``): the reader gives shape None and the
    stored box; keypoints-only records add their points."""
    anns = (Annotation(id=3, category_id=1, stored_bbox=Box.from_xywh(1, 2, 3, 4), area=12),
            Annotation(id=4, category_id=1, stored_bbox=Box.from_xywh(0, 0, 5, 5),
                       keypoints=Keypoints.from_coco([1, 1, 2, 0, 0, 0])),
            Annotation(id=5, category_id=1))
    ds = Dataset(categories=(Category(id=1, name="car"),),
                 samples=(Sample(id="s", file_name="s.png", width=8, height=8, annotations=anns),))
    report = ConversionReport()
    [t] = scale.emit(ds, report)
    assert t["response"]["annotations"] == [
        {"uuid": "3", "type": "box", "label": "car", "left": 1, "top": 2, "width": 3, "height": 4},
        {"uuid": "4", "type": "box", "label": "car", "left": 0, "top": 0, "width": 5, "height": 5},
        {"uuid": "4:1", "type": "point", "label": "car", "x": 1, "y": 1},
    ]
    assert report.examples["field_dropped"] == ["sample 's' annotation 3 (iscrowd/area/bbox)"]  # the area
    assert report.examples["shape_dropped"] == ["sample 's' annotation 5 (no geometry)"]
    assert report.count("keypoints_dropped") == 1  # the unlabelled one


def test_callback_without_task_reads_legacy_geometries_by_their_keys():
    body = {"response": {"annotations": [
        {"label": "sign", "vertices": [{"x": 1, "y": 1}, {"x": 5, "y": 1}, {"x": 3, "y": 4}]},
        {"label": "car", "left": 1, "top": 2, "width": 3, "height": 4},
        {"label": "hydrant", "x": 6.5, "y": 7}]},
        "task_id": "t1", "metadata": {"width": 8, "height": 8}}
    ds = scale.parse(copy.deepcopy(body))
    assert [a.shape for a in ds.samples[0].annotations] == [
        Polygon.from_rings([(1, 1), (5, 1), (3, 4)]), Box(x0=1, y0=2, x1=4, y1=6),
        Keypoints(points=[[6.5, 7]], visibility=[2])]
    assert json.dumps(scale.emit(ds)) == json.dumps(body)
    # a task that states its legacy type still decides the geometry
    with pytest.raises(ParseError) as info:
        scale.parse({**body, "type": "annotation"}, "t.json")
    assert str(info.value) == ("t.json: $.response.annotations[0]: a box needs left, top, width and "
                               "height; got keys label, vertices")


def test_cuboid_categories_get_keypoint_names_and_skeleton():
    ds = annoconv.load(FIXTURES / "tasks.json")
    truck = ds.category_by_name("truck")
    assert truck.keypoint_names == scale.CUBOID_VERTICES
    assert truck.skeleton == ((1, 3),)  # the face-top edge joins face-topleft and face-topright
    assert ds.category_by_name("hydrant").keypoint_names is None  # single points: no names
    # cuboids naming different vertices: no common list
    cuboid = {"uuid": "c", "type": "cuboid", "label": "box",
              "vertices": [{"description": d, "x": i, "y": i} for i, d in enumerate(scale.CUBOID_VERTICES[:4])]}
    five = {**cuboid, "uuid": "d", "vertices": [*cuboid["vertices"], {"description": "side-topcorner", "x": 9, "y": 9}]}
    assert scale.parse([task([cuboid, cuboid])]).categories[0].keypoint_names == scale.CUBOID_VERTICES[:4]
    assert scale.parse([task([cuboid, five])]).categories[0].keypoint_names is None


def test_cuboid_to_coco_keeps_vertex_names(tmp_path):
    _needs_coco()
    annoconv.convert(FIXTURES / "tasks.json", tmp_path / "c.json", "coco")
    coco = json.loads((tmp_path / "c.json").read_text())
    [truck] = [c for c in coco["categories"] if c["name"] == "truck"]
    assert truck["keypoints"] == list(scale.CUBOID_VERTICES) and truck["skeleton"] == [[1, 3]]


def test_categories_sharing_a_name_get_unique_labels():
    cats = (Category(id=1, name="car", supercategory="vehicle"), Category(id=7, name="car", supercategory="toy"),
            Category(id=8, name="car_7"))
    anns = tuple(Annotation(id=c.id, category_id=c.id, shape=Box(x0=0, y0=0, x1=1, y1=1)) for c in cats)
    ds = Dataset(categories=cats, samples=(Sample(id="s", file_name="s.png", width=4, height=4, annotations=anns),))
    report = ConversionReport()
    [t] = scale.emit(ds, report)
    assert [a["label"] for a in t["response"]["annotations"]] == ["car", "car_7", "car_7_8"]
    assert t["params"]["geometries"]["box"]["objects_to_annotate"] == ["car", "car_7", "car_7_8"]
    assert report.examples["renamed"] == ["category 7 'car' -> 'car_7'", "category 8 'car_7' -> 'car_7_8'"]
    back = scale.parse(json.loads(json.dumps([t])))
    assert [c.name for c in back.categories] == ["car", "car_7", "car_7_8"]


def test_grey_alpha_indexed_mask(tmp_path):
    la = np.zeros((3, 4, 2), np.uint8)
    la[1, 1:3] = (5, 255)
    la[2, 0] = (7, 0)  # alpha ignored, as for extendedIndexedImage
    Image.fromarray(la, "LA").save(tmp_path / "m1.png")
    doc = {"task_id": "m1", "type": "segmentannotation", "status": "completed",
           "response": {"labelMapping": {"road": {"index": 5}, "sky": {"index": 7}},
                        "annotations": {"combined": {}}}}
    [s] = scale.parse([doc], mask_dir=tmp_path).samples
    assert (s.width, s.height) == (4, 3)
    road, sky = s.annotations
    assert [x.tolist() for x in road.shape.to_array().nonzero()] == [[1, 1], [1, 2]]
    assert [x.tolist() for x in sky.shape.to_array().nonzero()] == [[2], [0]]
