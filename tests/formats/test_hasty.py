"""Hasty json_v1.1: read, write, exact masks (hasty SDK as oracle), round trips, errors."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import zipfile
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from hasty.label_utils import (
    check_bbox_format,
    check_rle_mask,
    polygon2box,
    rle_decode,
    rle_encoding,
)
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as npst

import annoconv
from annoconv import geometry, rle
from annoconv.errors import ConversionError, ParseError
from annoconv.formats import hasty
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

from ..samples import polygon_with_hole, two_part_polygon
from ..strategies import masks

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "fixtures" / "hasty" / "example_v1.1.json"
LEGACY = ROOT / "fixtures" / "hasty" / "legacy_label_id.json"
SCHEMA = jsonschema.Draft202012Validator(json.loads((ROOT / "schemas" / "hasty.json").read_text()))

#: specs/hasty.md §3.3: bbox [2, 1, 6, 4] in an 8x6 image
WORKED_CROP = np.array([[0, 1, 1, 0], [1, 1, 1, 1], [0, 1, 0, 0]], bool)
WORKED_PAIRS = [2, 2, 5, 4, 10, 1]


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def full_mask(crop: np.ndarray, xyxy: list[int], height: int, width: int) -> np.ndarray:
    out = np.zeros((height, width), bool)
    x0, y0, x1, y1 = xyxy
    out[y0:y1, x0:x1] = crop
    return out


# --------------------------------------------------------------------------------------
# sanity: the fixtures read as their files say
# --------------------------------------------------------------------------------------


def test_read_2024_example():
    ds = annoconv.load(EXAMPLE)
    assert ds.info["name"] == "annoconv-example"
    assert ds.info["hasty"]["export_format_version"] == "1.1"
    car, road, ped = ds.categories
    assert (car.id, car.name, car.kind, car.color) == (1, "car", "thing", (31, 120, 180, 77))
    assert (road.id, road.kind, road.color) == (2, "stuff", (106, 61, 154, 77))
    assert ped.keypoint_names == ("head",) and ped.skeleton == ()
    assert car.extra["hasty"]["class_id"] == "11111111-1111-4111-8111-111111111111"
    assert car.extra["hasty"]["norder"] == 10.0
    occluded, paint = ds.attribute_specs
    assert (occluded.name, occluded.type, occluded.category_ids) == ("occluded", "bool", (1, 3))
    assert (paint.type, paint.values, paint.category_ids) == ("select", ("red", "blue"), (1,))

    s1, s2, s3 = ds.samples
    assert (s1.id, s1.file_name, s1.width, s1.height, s1.subset) == (
        "77777777-7777-4777-8777-777777777777", "img_0001.jpg", 8, 6, "train")
    assert (s1.status, s2.status, s3.status) == (Status.DONE, Status.TO_REVIEW, Status.REVIEWED)
    assert s1.tags == ("night",) and s1.extra["hasty"]["image_status"] == "DONE"
    assert s1.extra["hasty"]["tag_groups"] == {"Default": ["night"]}
    box, masked = s1.annotations
    assert box.id == "88888888-8888-4888-8888-888888888881"
    assert box.shape == Box(x0=0, y0=0, x1=3, y1=2) and box.z_index == 1
    assert box.attributes == {"occluded": False, "paint": "red"}
    assert masked.stored_bbox == Box(x0=2, y0=1, x1=6, y1=4) and masked.z_index == 2
    assert np.array_equal(masked.shape.to_array(), full_mask(WORKED_CROP, [2, 1, 6, 4], 6, 8))
    # the spec's pycocotools string for the same pixels
    assert rle.to_coco(masked.shape.rle) == {"size": [6, 8], "counts": ">142OO2O:"}

    road_label, point = s2.annotations
    assert road_label.shape.parts[0].exterior.tolist() == [[0, 5], [10, 5], [10, 10], [0, 10]]
    assert road_label.stored_bbox is None  # equal to the polygon's vertex box
    assert isinstance(point.shape, Keypoints)
    assert point.shape.points.tolist() == [[4, 2]] and point.shape.visibility.tolist() == [2]
    assert point.shape.names == ("head",)

    edge = s3.annotations[1]  # a mask whose box touches the right and bottom image edges
    crop = np.array([[0, 1, 1], [1, 1, 1], [1, 0, 1]], bool)
    assert np.array_equal(edge.shape.to_array(), full_mask(crop, [4, 2, 7, 5], 5, 7))


def test_read_legacy_key_set():
    report = ConversionReport()
    ds = annoconv.load(LEGACY, report=report)
    assert [s.status for s in ds.samples] == [
        Status.IN_PROGRESS, Status.PRELABELED, None, Status.SKIPPED, Status.NEW]
    assert ds.samples[2].extra["hasty"]["image_status"] == "ARCHIVED"
    assert report.count("status_unknown") == 1
    assert report.examples["status_unknown"] == ["image 'frame_003.png': 'ARCHIVED'"]
    assert [s.id for s in ds.samples] == [1, 2, 3, 4, 5]  # no image_id: position from 1
    vehicle, sky = ds.categories
    assert vehicle.color == (227, 26, 28, 255) and vehicle.extra["hasty"]["color"] == "#E31A1C"
    assert sky.kind == "stuff" and sky.color == (166, 206, 227, 128)
    assert [(a.name, a.type) for a in ds.attribute_specs] == [
        ("kind", "multiselect"), ("confidence", "float"), ("count", "int"), ("note", "text")]
    m, poly = ds.samples[0].annotations
    assert m.id == "lbl-1" and m.attributes["kind"] == ["sedan", "van"]
    assert m.shape.area == 5
    assert poly.id == "lbl-2" and isinstance(poly.shape, Polygon)
    assert poly.extra["hasty"]["reviewed_by"] == "ann@example.org"  # an unknown key, kept
    assert poly.extra["hasty"]["bbox"] is None and poly.extra["hasty"]["mask"] == []
    assert ds.samples[0].extra["hasty"]["ds_image_name"] is None


@pytest.mark.parametrize("path", [EXAMPLE, LEGACY], ids=["2024", "legacy"])
def test_fixtures_match_schema_and_sdk_checks(path):
    doc = load(path)
    assert not list(SCHEMA.iter_errors(doc))
    for img in doc["images"]:
        for lab in img["labels"]:
            if lab.get("bbox") is not None:
                assert check_bbox_format(lab["bbox"])
                x0, y0, x1, y1 = lab["bbox"]
                assert 0 <= x0 < x1 <= img["width"] and 0 <= y0 < y1 <= img["height"]
            if lab.get("mask"):
                assert check_rle_mask(lab["bbox"], lab["mask"])
            if lab.get("polygon") and lab.get("bbox"):
                assert polygon2box(lab["polygon"]) == lab["bbox"]


def test_detect_and_sniff(tmp_path):
    assert annoconv.detect_format(EXAMPLE) == "hasty"
    assert annoconv.detect_format(LEGACY) == "hasty"
    assert hasty.sniff(EXAMPLE, b'{"label_classes": [], "images": []}') == 2
    assert hasty.sniff(EXAMPLE, b'{"label_classes": [{"images": 1}]') == 1
    assert hasty.sniff(EXAMPLE, b'{"a": {"label_classes": [], "images": []}}') == 0
    assert hasty.sniff(EXAMPLE, b'[{"png_index": 1, "name": "a"}]') == 0
    assert hasty.sniff(EXAMPLE, b'{"images": [], "annotations": [], "categories": []}') == 0


def test_read_zip(tmp_path):
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.write(EXAMPLE, "annoconv-example.json")
    assert annoconv.detect_format(z) == "hasty"
    assert annoconv.load(z) == annoconv.load(EXAMPLE)
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("a.json", "{}")
        f.writestr("b.json", "{}")
    with pytest.raises(ParseError) as e:
        annoconv.load(z, "hasty")
    assert str(e.value) == f"{z}: expected a zip holding one .json file, got 2"
    # a damaged archive: one located line, not zipfile's exception
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("export.json", json.dumps({"label_classes": [], "images": []}))
    data = bytearray(z.read_bytes())
    data[data.find(b'"label') + 2] ^= 0x20
    z.write_bytes(bytes(data))
    with pytest.raises(ParseError) as e:
        annoconv.load(z, "hasty")
    assert str(e.value) == f"{z}: not a readable zip: Bad CRC-32 for file 'export.json'"


# --------------------------------------------------------------------------------------
# invalid input: one located ParseError, nothing written
# --------------------------------------------------------------------------------------


def _broken(change) -> dict:
    doc = load(EXAMPLE)
    change(doc)
    return doc


def _set(path, value):
    def change(doc):
        obj = doc
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value
    return change


def _delete(path):
    def change(doc):
        obj = doc
        for k in path[:-1]:
            obj = obj[k]
        del obj[path[-1]]
    return change


INVALID = [
    (_delete(("images", 0, "width")), "$.images[0]: missing required key 'width'"),
    (_delete(("label_classes",)), "$: missing required key 'label_classes'"),
    (_delete(("images", 1, "labels", 0, "class_name")),
     "$.images[1].labels[0]: missing required key 'class_name'"),
    (_set(("images", 0, "labels", 0, "bbox"), [5, 1, 2, 4]),
     "$.images[0].labels[0].bbox: expected bbox [x_min, y_min, x_max, y_max] with "
     "x_min <= x_max and y_min <= y_max, got [5, 1, 2, 4]"),
    (_set(("images", 0, "labels", 0, "bbox"), [0, 0, 3]),
     "$.images[0].labels[0].bbox: expected bbox [x_min, y_min, x_max, y_max], got an array"),
    (_set(("images", 0, "labels", 1, "mask"), [2, 2, 5, 4, 10, 4]),
     "$.images[0].labels[1].mask: mask run ends at pixel 13 but its box [2, 1, 6, 4] holds "
     "3x4 = 12 pixels"),
    (_set(("images", 0, "labels", 1, "mask"), [2, 2, 5]),
     "$.images[0].labels[1].mask: mask has 3 values; expected (start, length) pairs"),
    (_set(("images", 0, "labels", 1, "mask"), [2, 2, 3, 4]),
     "$.images[0].labels[1].mask: mask runs overlap or are not in increasing order"),
    (_set(("images", 0, "labels", 1, "mask"), [2, 2.5]),
     "$.images[0].labels[1].mask: expected integer (start, length) pairs, got 2.5"),
    (_set(("images", 0, "labels", 1, "bbox"), None),
     "$.images[0].labels[1].bbox: expected a bbox: a mask is relative to its bbox, got null"),
    (_set(("images", 0, "labels", 1, "bbox"), [2, 1, 9, 4]),
     "$.images[0].labels[1].bbox: expected a bbox inside the 8x6 (width x height) image, "
     "got [2, 1, 9, 4]"),
    (_set(("images", 0, "labels", 0, "class_name"), "truck"),
     "$.images[0].labels[0].class_name: expected the class_name of a label class, got 'truck'"),
    (_set(("images", 1, "labels", 0, "polygon"), [[0, 5], [10]]),
     "$.images[1].labels[0].polygon: expected polygon [[x, y], ...] of number pairs"),
    (_set(("images", 1, "labels", 1, "keypoints", 0, "x"), "4"),
     "$.images[1].labels[1].keypoints[0].x: expected a number, got '4'"),
    (_set(("images", 0, "height"), -6), "$.images[0].height: expected a non-negative integer, got -6"),
    (_set(("images", 0, "labels"), {}), "$.images[0].labels: expected an array of labels, got an object"),
    (_set(("label_classes", 1, "class_name"), "car"),
     "$.label_classes[1].class_name: class name 'car' appears more than once"),
    (_set(("images", 0, "labels", 0, "z_index"), "1"),
     "$.images[0].labels[0].z_index: expected a number, got '1'"),
]


@pytest.mark.parametrize(("change", "message"), INVALID, ids=[m.split(":")[0] + str(i) for i, (_, m) in enumerate(INVALID)])
def test_invalid_input(tmp_path, change, message):
    src = tmp_path / "export.json"
    src.write_text(json.dumps(_broken(change)))
    dst = tmp_path / "out.json"
    with pytest.raises(ParseError) as e:
        annoconv.convert(src, dst, to="hasty", from_="hasty")
    assert str(e.value) == f"{src}: {message}"
    assert not dst.exists()


def test_not_json_and_not_an_object(tmp_path):
    src = tmp_path / "export.json"
    src.write_text("label_classes: []")
    with pytest.raises(ParseError) as e:
        annoconv.load(src, "hasty")
    assert str(e.value) == f"{src}: invalid JSON at line 1 column 1: Expecting value"
    src.write_text("[]")
    with pytest.raises(ParseError) as e:
        annoconv.load(src, "hasty")
    assert str(e.value) == f"{src}: $: expected a Hasty json_v1.1 object, got an array"


@pytest.mark.parametrize("cut", [1, 17, 100, 1000, 3000, 5000, -40, -2])
def test_truncated_file(tmp_path, cut):
    data = EXAMPLE.read_bytes()
    src = tmp_path / "export.json"
    src.write_bytes(data[:cut])
    with pytest.raises(ParseError) as e:
        annoconv.load(src, "hasty")
    assert str(e.value).startswith(f"{src}: invalid JSON at line ")


def test_unknown_status_is_kept_not_rejected():
    doc = _broken(_set(("images", 0, "image_status"), "ON HOLD"))
    report = ConversionReport()
    ds = hasty.parse(doc, "x.json", report=report)
    assert ds.samples[0].status is None and report.count("status_unknown") == 1
    assert hasty.emit(ds) == doc


# --------------------------------------------------------------------------------------
# round trips
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [EXAMPLE, LEGACY], ids=["2024", "legacy"])
def test_same_format_round_trip_is_exact(tmp_path, path):
    out = tmp_path / "back.json"
    report = annoconv.convert(path, out, to="hasty")
    assert set(report.counts) <= {"status_unknown"}  # the reader's count of 'ARCHIVED'
    assert json.loads(out.read_text()) == load(path)
    # key order too: the same text once both are dumped the same way
    assert json.dumps(json.loads(out.read_text())) == json.dumps(load(path))
    assert report.samples == len(load(path)["images"])


def test_raw_values_are_written_only_while_they_agree_with_the_model():
    label = {"id": "l1", "class_name": "car", "bbox": [2, 1, 6, 4], "mask": [1, 2, 3, 2],  # touching runs
             "polygon": [[2, 1], [6, 1], [6, 4]]}  # a polygon beside the mask
    doc = {"project_name": "p", "label_classes": [{"class_name": "car"}], "images": [{
        "image_name": "a.jpg", "dataset_name": "t", "width": 8, "height": 6, "labels": [label]}]}
    ds = hasty.parse(doc)
    same = hasty.emit(ds)["images"][0]["labels"][0]
    assert (same["mask"], same["polygon"]) == (label["mask"], label["polygon"])
    s = ds.samples[0]
    for shape in (Box(x0=0, y0=0, x1=1, y1=1), Mask.from_array(np.eye(6, 8, dtype=bool))):
        a = dataclasses.replace(s.annotations[0], shape=shape, stored_bbox=None)
        out = hasty.emit(dataclasses.replace(ds, samples=(dataclasses.replace(s, annotations=(a,)),)))
        lab = out["images"][0]["labels"][0]
        assert lab["polygon"] is None and lab["mask"] != label["mask"]
        back = hasty.parse(out).samples[0].annotations[0].shape
        assert back == shape or (isinstance(shape, Mask) and back.rle == shape.rle)


def test_what_hasty_refuses_from_other_formats(tmp_path):
    from hasty.label_utils import check_bbox_format

    anns = (Annotation(id="z", category_id=1, shape=Box(x0=2, y0=2, x1=2, y1=5)),  # no width
            Annotation(id="l", category_id=1, shape=Polygon.from_rings([(1, 1), (5, 1), (9, 1)])),  # a line
            Annotation(id="a", category_id=1, shape=Box(x0=1, y0=1, x1=3, y1=3), attributes={"n": 3}),
            Annotation(id="b", category_id=1, shape=Box(x0=4, y0=4, x1=6, y1=6), attributes={"n": "three"}))
    ds = Dataset(categories=(Category(id=1, name="car"),), samples=(
        Sample(id="i", file_name="a.jpg", width=10, height=10, annotations=anns),))
    report = annoconv.save(ds, tmp_path / "h.json", "hasty", report=ConversionReport(max_examples=10))
    doc = load(tmp_path / "h.json")
    labels = doc["images"][0]["labels"]
    assert [lab["id"] for lab in labels] == ["a", "b"] and all(check_bbox_format(lab["bbox"]) for lab in labels)
    assert report.examples["shape_dropped"] == ["image 'a.jpg' label z: no area", "image 'a.jpg' label l: no area"]
    # an attribute holding an int and a string is declared TEXT, the int written as "3"
    assert [a for a in doc["attributes"] if a["name"] == "n"] == [{"name": "n", "type": "TEXT", "values": []}]
    assert [lab["attributes"] for lab in labels] == [{"n": "3"}, {"n": "three"}]
    assert report.examples["attribute_converted"] == ["image 'a.jpg' label a: 'n' 3 -> '3'"]


def test_streamed_foreign_dataset_and_attributes_with_no_value():
    ds = annoconv.load(ROOT / "fixtures" / "coco" / "instances_sample.json")
    streamed = dataclasses.replace(ds, samples=iter(tuple(ds.samples)))
    assert hasty.emit(streamed) == hasty.emit(ds)  # attribute types are read first: not a second pass
    anns = tuple(Annotation(id=str(k), category_id=1, shape=Box(x0=k, y0=0, x1=k + 1, y1=1), attributes=a)
                 for k, a in enumerate(({"occluded": True}, {"occluded": None}, {"n": 2}, {"n": None})))
    doc = hasty.emit(Dataset(categories=(Category(id=1, name="car"),), samples=(
        Sample(id="i", file_name="a.jpg", width=9, height=9, annotations=anns),)))
    assert {a["name"]: a["type"] for a in doc["attributes"]} == {"occluded": "BOOL", "n": "INT"}
    assert [lab["attributes"] for lab in doc["images"][0]["labels"]] == [
        {"occluded": True}, {"occluded": None}, {"n": 2}, {"n": None}]


def test_statuses_map_both_ways():
    doc = load(EXAMPLE)
    for status in hasty.STATUS_FROM_HASTY:
        doc["images"][0]["image_status"] = status
        ds = hasty.parse(doc)
        assert hasty.STATUS_TO_HASTY[ds.samples[0].status] == status
        assert hasty.emit(ds)["images"][0]["image_status"] == status


def test_writer_follows_model_changes():
    """Raw values kept for the round trip give way when the model no longer agrees."""
    import dataclasses

    ds = annoconv.load(LEGACY)
    s0 = ds.samples[0]
    m = s0.annotations[0]
    bigger = Mask(rle=rle.merge([m.shape.rle, rle.encode(np.eye(4, 6, dtype=bool))]))
    s0 = dataclasses.replace(s0, status=Status.DONE, annotations=(
        dataclasses.replace(m, shape=bigger), *s0.annotations[1:]))
    cats = (dataclasses.replace(ds.categories[0], color=(1, 2, 3, 255)), ds.categories[1])
    doc = hasty.emit(dataclasses.replace(ds, categories=cats, samples=(s0, *ds.samples[1:])))
    assert doc["label_classes"][0]["color"] == "#010203ff"
    img = doc["images"][0]
    assert img["image_status"] == "DONE"
    lab = img["labels"][0]
    assert lab["bbox"] == [0, 0, 4, 4]  # the stored box no longer holds the mask: tight box
    assert np.array_equal(
        full_mask(rle_decode(lab["mask"], (4, 4)).astype(bool), lab["bbox"], 4, 6), bigger.to_array())


# hypothesis: small documents of every key set and label kind ---------------------------

STATUSES = [*hasty.STATUS_FROM_HASTY, "ARCHIVED"]


@st.composite
def hasty_docs(draw: st.DrawFn) -> dict:
    modern = draw(st.booleans())
    n_classes = draw(st.integers(1, 3))
    kp_class = "55555555-5555-4555-8555-555555555555"
    classes = []
    for i in range(n_classes):
        color = draw(st.sampled_from(["#1f78b44d", "#6A3D9A", "#ff0004f7", "teal"]))
        c = {"class_name": f"c{i}", "class_type": draw(st.sampled_from(["object", "background"])),
             "color": color, "attributes": draw(st.sampled_from([[], ["a0"], ["a1", "a0"]]))}
        if modern:
            c = {"class_id": f"class-{i}", "parent_class_id": None, **c, "norder": 10.0 + i,
                 "icon_url": None, "description": None, "use_description_as_prompt": False}
            c["attributes"] = c.pop("attributes")
        if draw(st.booleans()):
            c["custom"] = draw(st.integers(0, 3))
        classes.append(c)
    attrs = [{"name": "a0", "type": "BOOL", "values": []},
             {"name": "a1", "type": draw(st.sampled_from(["SELECTION", "MULTIPLE-SELECTION", "TEXT", "INT", "FLOAT", "COLOR"])),
              "values": ["x", "y"]}]
    images = []
    for i in range(draw(st.integers(0, 3))):
        h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
        labels = []
        for _j in range(draw(st.integers(0, 3))):
            labels.append(draw(hasty_labels(h, w, n_classes, modern, kp_class)))
        img = {"image_name": f"im{i}.png", "dataset_name": draw(st.sampled_from(["train", "val", None])),
               "width": w, "height": h, "image_status": draw(st.sampled_from(STATUSES)),
               "tags": draw(st.sampled_from([[], ["t"], None]))}
        if modern:
            img = {"image_id": f"img-{i}", "width": w, "height": h, "image_name": img["image_name"],
                   "image_mode": "RGB", "dataset_name": img["dataset_name"],
                   "image_status": img["image_status"], "labels": labels, "tags": img["tags"] or [],
                   "tag_groups": {"Default": img["tags"]} if img["tags"] else {}}
        else:
            img["labels"] = labels
        images.append(img)
    doc = {"project_name": "p", "create_date": "2019-10-22 19:04:16Z",
           "export_format_version": "1.1", "export_date": "2020-01-15T09:12:00Z",
           "label_classes": classes}
    if modern:
        doc["keypoint_schemas"] = [{
            "keypoint_schema_id": "s", "keypoint_schema_name": "s", "keypoint_schema_type": "points",
            "associated_label_classes": ["class-0"],
            "keypoint_classes": [{"keypoint_class_id": kp_class, "keypoint_class_name": "head",
                                  "norder": 1, "editor_x": None, "editor_y": None,
                                  "max_points": 1, "min_points": 0}],
            "keypoint_skeleton": []}]
        doc["tag_groups"] = []
        doc["images"] = images
        doc["attributes"] = attrs
    else:
        doc["attributes"] = attrs
        doc["images"] = images
    if draw(st.booleans()):
        del doc["create_date"]
    return doc


@st.composite
def hasty_labels(draw: st.DrawFn, h: int, w: int, n_classes: int, modern: bool, kp_class: str) -> dict:
    kind = draw(st.sampled_from(["box", "polygon", "mask", "keypoints", "none"]))
    x0, x1 = sorted(draw(st.lists(st.integers(0, w), min_size=2, max_size=2, unique=True)))
    y0, y1 = sorted(draw(st.lists(st.integers(0, h), min_size=2, max_size=2, unique=True)))
    bbox, polygon, mask, keypoints = None, None, None, []
    if kind == "box":
        bbox = [x0, y0, x1, y1]
    elif kind == "polygon":
        ring = [[x0, y0], [x1, y0], [draw(st.integers(0, w)), y1]]
        polygon = [*ring, ring[0]] if draw(st.booleans()) else ring
        bbox = draw(st.sampled_from([None, polygon2box(polygon), [x0, y0, x1, y1]]))
    elif kind == "mask":
        crop = draw(npst.arrays(np.uint8, (y1 - y0, x1 - x0), elements=st.integers(0, 1)))
        bbox = [x0, y0, x1, y1]
        mask = [int(v) for v in rle_encoding(crop)] or None
        if draw(st.booleans()) and mask and len(mask) == 2 and mask[1] > 1:
            mask = [mask[0], 1, mask[0] + 1, mask[1] - 1]  # touching runs: not what we write
        polygon = draw(st.sampled_from([None, [], [[x0, y0], [x1, y0], [x1, y1]]]))
    elif kind == "keypoints" and modern:
        keypoints = [{"x": draw(st.integers(0, w)), "y": draw(st.integers(0, h)), "id": "k",
                      "norder": 0, "visible": draw(st.booleans()), "created_by": None,
                      "updated_by": None, "create_date": None, "update_date": None,
                      "keypoint_class_id": kp_class}]
        if draw(st.booleans()):
            bbox = [x0, y0, x1, y1]
    lab = {"id": f"l{draw(st.integers(0, 99))}", "class_name": f"c{draw(st.integers(0, n_classes - 1))}",
           "bbox": bbox, "polygon": polygon, "mask": mask if mask is not None else draw(st.sampled_from([None, []])),
           "z_index": draw(st.one_of(st.integers(-2, 5), st.just(1.5))),
           "keypoints": keypoints if modern else None,
           "attributes": draw(st.sampled_from([{}, {"a0": True}, {"a1": ["x"]}]))}
    if not modern:
        lab["label_id"] = lab.pop("id")
        lab = {k: lab[k] for k in ["label_id", "class_name", "bbox", "polygon", "mask", "z_index", "attributes"]}
    if draw(st.booleans()):
        lab["note"] = "kept"
    return lab


@given(hasty_docs())
def test_round_trip_generated_documents(doc):
    assert not list(SCHEMA.iter_errors(doc))
    back = hasty.emit(hasty.parse(copy.deepcopy(doc)))
    assert back == doc
    assert json.dumps(back) == json.dumps(doc)


# --------------------------------------------------------------------------------------
# masks: pixel-exact with the hasty SDK, both directions
# --------------------------------------------------------------------------------------


@st.composite
def mask_in_image(draw: st.DrawFn):
    """(crop, xyxy, height, width): a crop mask in a box of an image, boxes often touching the
    image's right/bottom edges."""
    crop = draw(masks(max_side=8, min_side=1))
    ch, cw = crop.shape
    h = ch + draw(st.integers(0, 3))
    w = cw + draw(st.integers(0, 3))
    x0 = draw(st.sampled_from([w - cw, 0, draw(st.integers(0, w - cw))]))
    y0 = draw(st.sampled_from([h - ch, 0, draw(st.integers(0, h - ch))]))
    return crop, [x0, y0, x0 + cw, y0 + ch], h, w


@given(mask_in_image())
@example((np.ones((3, 4), bool), [4, 3, 8, 6], 6, 8))
@example((np.eye(2, 3, 2, dtype=bool), [0, 0, 3, 2], 2, 3))
def test_our_masks_decode_with_the_sdk(case):
    crop, xyxy, h, w = case
    r = rle.paste(rle.encode(crop), xyxy, h, w)
    box, pairs = rle.to_hasty(r, xyxy)
    assert box == xyxy
    x0, y0, x1, y1 = xyxy
    assert np.array_equal(rle_decode(pairs, (x1 - x0, y1 - y0)).astype(bool), crop)
    if pairs:
        assert check_rle_mask(xyxy, pairs)
        tight, tpairs = rle.to_hasty(r)
        tx0, ty0, tx1, ty1 = tight
        dec = rle_decode(tpairs, (tx1 - tx0, ty1 - ty0)).astype(bool)
        assert np.array_equal(full_mask(dec, tight, h, w), full_mask(crop, xyxy, h, w))
        # and through the writer: the label's bbox and mask as the SDK reads them
        ds = Dataset(categories=(Category(id=1, name="c"),), samples=(Sample(
            id="i", file_name="a.png", width=w, height=h,
            annotations=(Annotation(id="l", category_id=1, shape=Mask(rle=r)),)),))
        lab = hasty.emit(ds)["images"][0]["labels"][0]
        bx0, by0, bx1, by1 = lab["bbox"]
        dec = rle_decode(lab["mask"], (bx1 - bx0, by1 - by0)).astype(bool)
        assert np.array_equal(full_mask(dec, lab["bbox"], h, w), full_mask(crop, xyxy, h, w))


@given(mask_in_image())
def test_sdk_masks_decode_with_ours(case):
    crop, xyxy, h, w = case
    pairs = [int(v) for v in rle_encoding(crop.astype(np.uint8))]
    expected = full_mask(crop, xyxy, h, w)
    assert np.array_equal(rle.decode(rle.from_hasty(pairs, xyxy, h, w)), expected)
    doc = {"label_classes": [{"class_name": "c"}], "images": [{
        "image_name": "a.png", "width": w, "height": h, "labels": [
            {"id": "l", "class_name": "c", "bbox": xyxy, "polygon": None,
             "mask": pairs or None, "z_index": 0}]}]}
    ds = hasty.parse(doc)
    ann = ds.samples[0].annotations[0]
    got = ann.shape.to_array() if isinstance(ann.shape, Mask) else np.zeros((h, w), bool)
    assert np.array_equal(got, expected)
    assert hasty.emit(ds) == doc  # and our encoder writes the SDK's pairs back


def test_worked_example_and_inclusive_convention():
    # specs/hasty.md §3.3 and the inclusive-edges negative test of §3.2
    assert rle.to_hasty(rle.paste(rle.encode(WORKED_CROP), [2, 1, 6, 4], 6, 8)) == (
        [2, 1, 6, 4], WORKED_PAIRS)
    assert np.array_equal(rle_decode(WORKED_PAIRS, (4, 3)).astype(bool), WORKED_CROP)
    scrambled = rle_decode(WORKED_PAIRS, (5, 4)).tolist()
    assert scrambled == [[0, 1, 1, 0, 1], [1, 1, 1, 0, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    assert rle.to_hasty(rle.from_hasty([3, 2], [0, 0, 3, 2], 2, 3)) == ([0, 0, 3, 2], [3, 2])


# --------------------------------------------------------------------------------------
# writing data from other formats
# --------------------------------------------------------------------------------------


def foreign_dataset() -> Dataset:
    m = np.zeros((80, 130), bool)
    m[2:9, 3:11] = True
    m[4:6, 5:7] = False  # a hole
    anns = (
        Annotation(id=1, category_id=1, shape=Box(x0=1.0, y0=2.0, x1=5.0, y1=6.5), z_index=2,
                   attributes={"occluded": True, "kind": ["a", "b"]}, score=0.5),
        Annotation(id=2, category_id=1, shape=Box(x0=1, y0=2, x1=5, y1=6, rotation=30)),
        Annotation(id=3, category_id=2, shape=two_part_polygon, iscrowd=True),
        Annotation(id=4, category_id=2, shape=polygon_with_hole),
        Annotation(id=5, category_id=1, shape=Mask.from_array(m), track_id=7,
                   stored_bbox=Box(x0=3.0, y0=2.0, x1=11.0, y1=9.0)),
        Annotation(id=6, category_id=1, shape=Polyline(points=[[0, 0], [1, 2]])),
        Annotation(id=None, category_id=3, shape=Keypoints(points=[[1, 2], [0, 0], [5, 5]], visibility=[2, 0, 1])),
        Annotation(id=8, category_id=2, shape=Ellipse(cx=10, cy=10, rx=3, ry=2)),
        Annotation(id=9, category_id=99, shape=Box(x0=0, y0=0, x1=1, y1=1)),
        Annotation(id=10, category_id=1, shape=Mask(rle=rle.empty(80, 130))),
        Annotation(id=11, category_id=1, shape=Polygon.from_rings([[0, 0], [4, 0], [4, 3]])),
    )
    return Dataset(
        categories=(Category(id=1, name="car", color=(1, 2, 3, 255), supercategory="vehicle"),
                    Category(id=2, name="road", kind="stuff"),
                    Category(id=3, name="person", keypoint_names=("nose", "eye", "ear"),
                             skeleton=((1, 2), (2, 3)))),
        attribute_specs=(AttributeSpec(name="occluded", type="bool", category_ids=(1,)),
                         AttributeSpec(name="weather", type="select", values=("rain",), scope="image")),
        samples=(Sample(id=7, file_name="a.jpg", width=130, height=80, status=Status.REJECTED,
                        tags=("t1", "t2"), attributes={"weather": "rain"}, annotations=anns,
                        extra={"coco": {"license": 1}}),
                 Sample(id="b", file_name="b.jpg", width=4, height=4)),
        info={"name": "from coco"},
    )


def test_write_foreign_dataset(tmp_path):
    ds = foreign_dataset()
    report = annoconv.save(ds, tmp_path / "out.json", "hasty")
    doc = load(tmp_path / "out.json")
    assert not list(SCHEMA.iter_errors(doc))
    assert dict(report.counts) == {
        "attribute_dropped": 2, "field_dropped": 3, "score_dropped": 1, "rotation_applied": 1,
        "polygon_to_mask": 2, "track_dropped": 1, "shape_dropped": 1, "id_assigned": 1,
        "shape_converted": 1, "reference_missing": 1, "empty_mask": 1, "status_merged": 1,
        "coordinates_rounded": 3,  # the box with y1 6.5, the rotated box's bounds, the ellipse
        "keypoints_dropped": 1,  # the person's unlabelled (v=0) keypoint
    }
    assert report.samples == 2 and report.annotations == 8
    assert doc["project_name"] == "from coco"
    car, road, person = doc["label_classes"]
    assert (car["color"], car["class_type"], road["class_type"]) == ("#010203ff", "object", "background")
    assert car["attributes"] == ["occluded", "kind"]  # "kind" declared from the labels' values
    assert doc["attributes"][1] == {"name": "kind", "type": "MULTIPLE-SELECTION", "values": ["a", "b"]}
    schema = doc["keypoint_schemas"][0]
    assert schema["associated_label_classes"] == [person["class_id"]]
    ids = [k["keypoint_class_id"] for k in schema["keypoint_classes"]]
    assert [k["keypoint_class_name"] for k in schema["keypoint_classes"]] == ["nose", "eye", "ear"]
    assert schema["keypoint_skeleton"] == [[ids[0], ids[1]], [ids[1], ids[2]]]
    img = doc["images"][0]
    assert (img["image_id"], img["image_status"], img["dataset_name"]) == ("7", "IN PROGRESS", "default")
    assert doc["tag_groups"][0]["tags"] == ["t1", "t2"] and img["tag_groups"] == {"Default": ["t1", "t2"]}
    box, rotated, parts, holes, masked, kp, ellipse, tri = img["labels"]
    assert box["bbox"] == [1, 2, 5, 7] and box["z_index"] == 2  # rounded outward
    x0, y0, x1, y1 = Box(x0=1, y0=2, x1=5, y1=6, rotation=30).bounds().to_xyxy()
    assert rotated["bbox"] == [math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1)]
    for lab, poly in ((parts, two_part_polygon), (holes, polygon_with_hole)):
        x0, y0, x1, y1 = lab["bbox"]
        dec = full_mask(rle_decode(lab["mask"], (x1 - x0, y1 - y0)).astype(bool), lab["bbox"], 80, 130)
        assert np.array_equal(dec, rle.decode(geometry.polygon_to_rle(poly, 80, 130)))
    assert masked["bbox"] == [3, 2, 11, 9]
    assert np.array_equal(rle_decode(masked["mask"], (8, 7)).astype(bool), np.asarray(ds.samples[0].annotations[4].shape.to_array())[2:9, 3:11])
    assert [(p["x"], p["y"], p["visible"], p["keypoint_class_id"]) for p in kp["keypoints"]] == [
        (1, 2, True, ids[0]), (5, 5, False, ids[2])]
    assert kp["bbox"] is None
    assert len(ellipse["polygon"]) == 65 and ellipse["polygon"][0] == ellipse["polygon"][-1]
    assert all(type(v) is int for pt in ellipse["polygon"] for v in pt)
    assert tri["polygon"] == [[0, 0], [4, 0], [4, 3], [0, 0]] and tri["bbox"] == [0, 0, 4, 3]
    # and it reads back
    back = annoconv.load(tmp_path / "out.json")
    assert back.samples[0].annotations[3].shape.area == rle.area(geometry.polygon_to_rle(polygon_with_hole, 80, 130))


@given(st.lists(masks(max_side=8, min_side=1), min_size=1, max_size=3))
def test_foreign_masks_round_trip_pixel_exact(ms):
    samples = tuple(
        Sample(id=i, file_name=f"{i}.png", width=m.shape[1], height=m.shape[0],
               annotations=(Annotation(id=i, category_id=1, shape=Mask.from_array(m)),))
        for i, m in enumerate(ms))
    ds = Dataset(categories=(Category(id=1, name="x"),), samples=samples)
    doc = hasty.emit(ds)
    assert not list(SCHEMA.iter_errors(doc))
    back = hasty.parse(doc)
    for m, s in zip(ms, back.samples):
        got = [a.shape.to_array() for a in s.annotations if isinstance(a.shape, Mask)]
        assert np.array_equal(got[0] if got else np.zeros_like(m), m)


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    dst = tmp_path / "out.json"
    calls = []

    def failing(r, xyxy=None):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return real(r, xyxy)

    real = rle.to_hasty
    monkeypatch.setattr(hasty._rle, "to_hasty", failing)
    with pytest.raises(RuntimeError):
        annoconv.convert(EXAMPLE, dst, to="hasty")
    assert not dst.exists() and list(tmp_path.iterdir()) == []
    dst.write_text("old")
    calls.clear()
    with pytest.raises(RuntimeError):
        annoconv.convert(EXAMPLE, dst, to="hasty")
    assert dst.read_text() == "old" and list(tmp_path.iterdir()) == [dst]


# --------------------------------------------------------------------------------------
# conversions users run: Hasty <-> COCO, Hasty -> semantic PNG
# --------------------------------------------------------------------------------------


def _coco_ready() -> bool:
    return annoconv.get_format("coco").write is not None


needs_coco = pytest.mark.skipif(not _coco_ready(), reason="COCO module not built yet")


@needs_coco
@pytest.mark.parametrize("mask_as", ["rle", "polygon"])
def test_hasty_to_coco_pixels_match_pycocotools(tmp_path, mask_as):
    from pycocotools.coco import COCO

    ds = annoconv.load(EXAMPLE)
    annoconv.save(ds, tmp_path / "coco.json", "coco", mask_as=mask_as)
    coco = COCO(str(tmp_path / "coco.json"))
    anns = coco.loadAnns(coco.getAnnIds())
    ours = [(s, a) for s in ds.samples for a in s.annotations]
    assert len(anns) == len(ours)
    for (s, a), c in zip(ours, anns):
        assert coco.loadImgs(c["image_id"])[0]["file_name"] == s.file_name
        assert coco.loadCats(c["category_id"])[0]["name"] == ds.category_by_id(a.category_id).name
        if isinstance(a.shape, (Mask, Polygon)):
            want = a.shape.to_array() if isinstance(a.shape, Mask) else rle.decode(
                geometry.polygon_to_rle(a.shape, s.height, s.width))
            assert np.array_equal(coco.annToMask(c).astype(bool), want)
        if a.bbox is not None and not isinstance(a.shape, Keypoints):
            assert c["bbox"] == list(a.bbox.to_xywh())


@needs_coco
def test_hasty_to_coco_to_hasty_keeps_geometry_z_and_status(tmp_path):
    annoconv.convert(EXAMPLE, tmp_path / "coco.json", to="coco", keep_extra=True)
    annoconv.convert(tmp_path / "coco.json", tmp_path / "back.json", to="hasty")
    src, back = load(EXAMPLE), load(tmp_path / "back.json")
    assert [c["class_name"] for c in back["label_classes"]] == [c["class_name"] for c in src["label_classes"]]
    for a, b in zip(src["images"], back["images"]):
        assert (b["image_name"], b["image_status"], b["dataset_name"], b["tags"]) == (
            a["image_name"], a["image_status"], a["dataset_name"], a["tags"])
        for la, lb in zip(a["labels"], b["labels"], strict=True):
            assert lb["class_name"] == la["class_name"] and lb["z_index"] == la["z_index"]
            assert lb["polygon"] == la["polygon"] and lb["mask"] == la["mask"]
            if la["bbox"] is not None:
                assert lb["bbox"] == la["bbox"]
            assert [(k["x"], k["y"]) for k in lb["keypoints"]] == [(k["x"], k["y"]) for k in la["keypoints"]]
    # without keep_extra, what COCO cannot hold is counted, not silently lost
    report = annoconv.convert(EXAMPLE, tmp_path / "plain.json", to="coco")
    assert report.count("status_unmapped") == 3 and report.count("z_index_dropped") == 6


@needs_coco
def test_coco_to_hasty_masks_decode_with_the_sdk(tmp_path):
    from pycocotools.coco import COCO

    m = np.zeros((6, 8), np.uint8)
    m[1:5, 2:7] = 1
    m[2, 3] = 0
    coco_doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 8, "height": 6}],
        "categories": [{"id": 5, "name": "blob", "supercategory": ""}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 5, "iscrowd": 1, "area": int(m.sum()),
             "bbox": [2, 1, 5, 4], "segmentation": rle.to_coco(rle.encode(m))},
            {"id": 2, "image_id": 1, "category_id": 5, "iscrowd": 0, "area": 6.0,
             "bbox": [0.5, 0, 4, 3], "segmentation": [[0.5, 0, 4.5, 0, 4.5, 3]]},
            {"id": 3, "image_id": 1, "category_id": 5, "iscrowd": 0, "area": 4,
             "bbox": [0, 0, 2, 2], "segmentation": [[0, 0, 2, 0, 2, 2, 0, 2], [5, 5, 7, 5, 7, 6]]},
        ],
    }
    (tmp_path / "coco.json").write_text(json.dumps(coco_doc))
    report = annoconv.convert(tmp_path / "coco.json", tmp_path / "hasty.json", to="hasty")
    assert report.count("field_dropped") >= 1  # iscrowd
    assert report.count("polygon_to_mask") == 1  # a two-part polygon
    coco = COCO(str(tmp_path / "coco.json"))
    doc = load(tmp_path / "hasty.json")
    assert not list(SCHEMA.iter_errors(doc))
    labels = doc["images"][0]["labels"]
    for lab, ann in zip(labels, coco.loadAnns([1, 2, 3])):
        if lab["mask"] is not None:
            x0, y0, x1, y1 = lab["bbox"]
            got = full_mask(rle_decode(lab["mask"], (x1 - x0, y1 - y0)).astype(bool), lab["bbox"], 6, 8)
            assert np.array_equal(got, coco.annToMask(ann).astype(bool))
    # Hasty coordinates are integer pixels: vertices rounded (halves up), the box from them
    assert labels[1]["polygon"] == [[1, 0], [5, 0], [5, 3], [1, 0]] and labels[1]["bbox"] == [1, 0, 5, 3]
    assert report.count("coordinates_rounded") == 1


def test_polygon_far_outside_the_image_is_a_located_error(tmp_path):
    far = Polygon.from_coco([[0, 0, 2e9, 0, 2e9, 5, 0, 5], [0, 0, 1, 0, 1, 1]])  # two parts: a mask
    ds = Dataset(categories=(Category(id=1, name="a"),), samples=(
        Sample(id="i", file_name="a.jpg", width=8, height=6, annotations=(
            Annotation(id="x", category_id=1, shape=far),)),))
    with pytest.raises(ConversionError, match=r"^image 'a\.jpg' label x: polygon too large to rasterise"):
        annoconv.save(ds, tmp_path / "h.json", "hasty")
    assert list(tmp_path.iterdir()) == []


def test_hasty_to_semantic_png(tmp_path):
    from annoconv._io import read_png

    report = annoconv.convert(EXAMPLE, tmp_path / "sem", to="semantic-png")
    img, mode, _ = read_png(tmp_path / "sem" / "train" / "img_0001.png")
    # specs/hasty.md §6: the box's 6 pixels and the mask's 7 are car (1), the rest background
    want = full_mask(WORKED_CROP, [2, 1, 6, 4], 6, 8)
    want[0:2, 0:3] = True
    assert mode == "L" and np.array_equal(img, want.astype(np.uint8))
    assert report.count("overlap_hidden") == 5 and report.count("keypoints_dropped") == 1
    classes = json.loads((tmp_path / "sem" / "label_classes.json").read_text())
    assert [(c["name"], c["png_index"], c["type"]) for c in classes] == [
        ("car", 1, "object"), ("road", 2, "background"), ("pedestrian_point", 3, "object")]


# --------------------------------------------------------------------------------------
# any damage: a located ParseError, or data that still round-trips
# --------------------------------------------------------------------------------------

JUNK = st.sampled_from([None, True, 0, -3, 2.5, "x", "", [], {}, [1], [[1, 2]], {"a": 1}, [None],
                        ["x"], 10**20, [1.5, 2], [[0, 0], [1, 1]], "DONE"])


def _paths(obj, path=()):
    yield path
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*path, i))


@given(st.sampled_from([EXAMPLE, LEGACY]), st.data())
def test_damaged_documents(path, data):
    doc = load(path)
    where = data.draw(st.sampled_from(list(_paths(doc))[1:]))
    parent = doc
    for k in where[:-1]:
        parent = parent[k]
    if isinstance(parent, dict) and data.draw(st.booleans()):
        del parent[where[-1]]
    else:
        parent[where[-1]] = data.draw(JUNK)
    try:
        ds = hasty.parse(copy.deepcopy(doc), "x.json")
    except ParseError as e:
        assert str(e).startswith("x.json: $")
        return
    assert json.dumps(hasty.emit(ds)) == json.dumps(doc)


# --------------------------------------------------------------------------------------
# review findings: files the reader accepts, integer pixels, names, sparse masks
# --------------------------------------------------------------------------------------


def test_image_without_size_is_sized_from_masks_skipped_or_refused(tmp_path):
    from annoconv.errors import ConversionError

    m = np.zeros((5, 7), bool)
    m[1:3, 2:4] = True
    ds = Dataset(categories=(Category(id=1, name="car"),), samples=(
        Sample(id=1, file_name="masked.png", annotations=(
            Annotation(id=1, category_id=1, shape=Mask.from_array(m)),)),
        Sample(id=2, file_name="unlabelled.png"),
    ))
    report = annoconv.save(ds, tmp_path / "out.json", "hasty")
    back = annoconv.load(tmp_path / "out.json")  # the reader accepts what the writer wrote
    assert [(s.file_name, s.width, s.height) for s in back.samples] == [("masked.png", 7, 5)]
    assert np.array_equal(back.samples[0].annotations[0].shape.to_array(), m)
    assert report.count("size_unknown") == 1
    assert report.examples["size_unknown"] == ["image 'unlabelled.png': no width/height and no labels, not written"]
    # labels that no mask can size: refused with the reason, nothing written
    dst = tmp_path / "vector.json"
    with pytest.raises(ConversionError) as e:
        annoconv.convert(ROOT / "fixtures" / "segments" / "release_vector.json", dst, to="hasty")
    assert str(e.value) == (
        "image 'street_002.jpg' has no width/height, which Hasty requires, and no mask to take "
        "them from (read the source with its image sizes, e.g. Segments' images= option)")
    assert not dst.exists()
    # a mask whose size is not the image's would give a box outside the image
    bad = Dataset(categories=(Category(id=1, name="car"),), samples=(
        Sample(id=1, file_name="a.png", width=4, height=4, annotations=(
            Annotation(id=9, category_id=1, shape=Mask.from_array(m)),)),))
    with pytest.raises(ConversionError) as e:
        hasty.emit(bad)
    assert str(e.value) == "image 'a.png': the mask of label 9 is 7x5 (width x height) but the image is 4x4"


def test_duplicate_class_names_are_made_unique(tmp_path):
    ds = Dataset(
        categories=(Category(id=3, name="car", supercategory="vehicle"),
                    Category(id=5, name="car", supercategory="toy"),
                    Category(id=6, name="car_2"),
                    Category(id=7, name="car")),
        samples=(Sample(id=1, file_name="a.png", width=8, height=8, annotations=tuple(
            Annotation(id=k, category_id=cid, shape=Box(x0=k, y0=0, x1=k + 1, y1=1))
            for k, cid in enumerate((3, 5, 6, 7)))),))
    report = annoconv.save(ds, tmp_path / "out.json", "hasty")
    doc = load(tmp_path / "out.json")
    names = [c["class_name"] for c in doc["label_classes"]]
    assert names == ["car", "car_3", "car_2", "car_4"]
    assert len({c["class_id"] for c in doc["label_classes"]}) == 4
    assert report.count("renamed") == 2
    assert report.examples["renamed"] == [
        "class 'car' (category id 5) -> 'car_3': the name is used by an earlier class",
        "class 'car' (category id 7) -> 'car_4': the name is used by an earlier class"]
    back = annoconv.load(tmp_path / "out.json")  # no "class name 'car' appears more than once"
    by_id = {c.id: c.name for c in back.categories}
    assert [by_id[a.category_id] for a in back.samples[0].annotations] == names


def test_foreign_coordinates_are_rounded_to_integer_pixels():
    ds = Dataset(
        categories=(Category(id=1, name="car", keypoint_names=("a", "b")),),
        samples=(Sample(id=1, file_name="a.png", width=10, height=10, annotations=(
            Annotation(id=1, category_id=1, shape=Box.from_xywh(0.5, 0.5, 2.25, 2)),
            Annotation(id=2, category_id=1, shape=Polygon.from_rings([[0.5, 1.2], [4.49, 1.0], [4.0, 3.5]]),
                       keypoints=Keypoints(points=[[1.5, 2.25], [3, 4]], visibility=[2, 2])),
            Annotation(id=3, category_id=1, shape=Box(x0=1.0, y0=2.0, x1=3.0, y1=4.0)),  # integral
            Annotation(id=4, category_id=1, shape=None, stored_bbox=Box(x0=0.2, y0=0, x1=1, y1=1)),
        )),))
    report = ConversionReport()
    doc = hasty.emit(ds, report)
    box, poly, integral, box_only = doc["images"][0]["labels"]
    assert box["bbox"] == [0, 0, 3, 3]  # outward: holds the source box
    assert poly["polygon"] == [[1, 1], [4, 1], [4, 4], [1, 1]] and poly["bbox"] == [1, 1, 4, 4]
    assert [(k["x"], k["y"]) for k in poly["keypoints"]] == [(2, 2), (3, 4)]
    assert integral["bbox"] == [1, 2, 3, 4] and box_only["bbox"] == [0, 0, 1, 1]
    assert all(type(v) is int for lab in (box, poly, integral, box_only) for v in lab["bbox"])
    assert report.count("coordinates_rounded") == 3
    assert report.examples["coordinates_rounded"] == [
        "image 'a.png' label 1", "image 'a.png' label 2", "image 'a.png' label 4"]
    assert not list(SCHEMA.iter_errors(doc))
    # data read from Hasty keeps its numbers as they are
    src = load(EXAMPLE)
    src["images"][1]["labels"][0]["polygon"] = [[0.5, 5], [10, 5], [10, 10.25], [0.5, 5]]
    src["images"][1]["labels"][0]["bbox"] = [0.5, 5, 10, 10.25]
    report = ConversionReport()
    assert hasty.emit(hasty.parse(src), report) == src
    assert report.count("coordinates_rounded") == 0


def test_attribute_definitions_sharing_a_name_are_merged_or_renamed(tmp_path):
    car_road = ROOT / "fixtures" / "segments" / "release_vector.json"
    ds = annoconv.load(car_road)
    # Segments defines attributes per category: give road an "occluded" select and a "colour"
    # select with other values
    specs = (*ds.attribute_specs,
             AttributeSpec(name="occluded", type="select", values=("no", "partly"), category_ids=(2,)),
             AttributeSpec(name="colour", type="select", values=("blue", "grey"), category_ids=(2,)))
    sample = ds.samples[0]
    anns = list(sample.annotations)
    anns[1] = Annotation(id=anns[1].id, category_id=2, shape=anns[1].shape,
                         attributes={"occluded": "partly", "colour": "grey"})
    ds = Dataset(categories=ds.categories, attribute_specs=specs, info={"name": "streets"},
                 samples=(Sample(id=sample.id, file_name=sample.file_name, width=100, height=100,
                                 annotations=tuple(anns)),))
    report = annoconv.save(ds, tmp_path / "out.json", "hasty")
    doc = load(tmp_path / "out.json")
    assert doc["attributes"] == [
        {"name": "occluded", "type": "BOOL", "values": []},
        {"name": "colour", "type": "SELECTION", "values": ["red", "blue", "other", "grey"]},
        {"name": "occluded_2", "type": "SELECTION", "values": ["no", "partly"]},
    ]
    car, road = doc["label_classes"]
    assert car["attributes"] == ["occluded", "colour"] and road["attributes"] == ["colour", "occluded_2"]
    labels = doc["images"][0]["labels"]
    assert labels[0]["attributes"] == {"occluded": True, "colour": "blue"}
    assert labels[1]["attributes"] == {"occluded_2": "partly", "colour": "grey"}
    assert report.examples["renamed"] == [
        "attribute 'occluded' (SELECTION of class 'road') -> 'occluded_2': 'occluded' is BOOL for another class"]
    assert "attribute 'colour': per-class value lists united" in report.examples["field_dropped"]
    back = annoconv.load(tmp_path / "out.json")
    assert [s.name for s in back.attribute_specs] == ["occluded", "colour", "occluded_2"]
