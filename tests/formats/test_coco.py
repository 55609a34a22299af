"""COCO instances and panoptic: sanity on the fixtures, malformed input, truncation, exact
round trips, and pycocotools as the oracle for everything we write."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycocotools.coco import COCO

import annoconv
from annoconv import geometry, rle
from annoconv.errors import ConversionError, ParseError
from annoconv.formats import coco
from annoconv.model import (
    Annotation,
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

from ..samples import polygon_with_hole
from ..strategies import masks, polygon_parts

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "coco"
SAMPLE = FIXTURES / "instances_sample.json"


def materialized(ds: Dataset) -> Dataset:
    """The same dataset with ordinary model samples (forces the generic writer)."""
    return dataclasses.replace(ds, samples=tuple(ds.samples))


def write_and_reload(ds: Dataset, tmp_path: Path, **options) -> tuple[dict, annoconv.ConversionReport]:
    out = tmp_path / "out.json"
    report = annoconv.save(ds, out, "coco", **options)
    return json.loads(out.read_text()), report


def assert_pycocotools_pixels(path: Path, ds: Dataset) -> None:
    """pycocotools loads the file, and annToMask equals our pixels for every annotation."""
    api = COCO(str(path))
    ours = {}
    for s in ds.samples:
        for a in s.annotations:
            r = geometry.shapes_to_rles([a.shape], s.height, s.width)[0]
            ours[(s.file_name, len(ours))] = r
    written = [api.anns[k] for k in api.getAnnIds()]
    assert len(written) == len(ours)
    for ann in written:
        img = api.imgs[ann["image_id"]]
        if not ann["segmentation"]:
            continue
        m = api.annToMask(ann).astype(bool)
        assert m.shape == (img["height"], img["width"])
        rle_written = rle.from_coco(api.annToRLE(ann))
        assert rle.encode(m) == rle_written


# ---- sanity -------------------------------------------------------------------------------


def test_sample_fixture_values():
    ds = annoconv.load(SAMPLE)
    assert annoconv.detect_format(SAMPLE) == "coco"
    assert [c.id for c in ds.categories] == [1, 3, 18, 90]
    assert ds.category_by_id(1).keypoint_names[0] == "nose"
    assert ds.category_by_id(1).skeleton[0] == (16, 14)
    assert [s.id for s in ds.samples] == [397133, 37777, 3]
    s0 = ds.samples[0]
    assert (s0.width, s0.height, s0.file_name) == (640, 427, "000000397133.jpg")
    assert s0.extra["coco"]["license"] == 4
    dog, person = s0.annotations
    assert dog.id == 1768 and dog.category_id == 18 and dog.area == 3212.375
    assert len(dog.shape.parts) == 2 and dog.bbox.to_xywh() == (10.5, 20.0, 109.5, 50.5)
    assert person.keypoints.num_labeled == 15 and person.keypoints.to_coco()[:3] == [170, 60, 2]
    crowd = ds.samples[1].annotations[0]
    assert crowd.id == 900100037777 and crowd.iscrowd
    assert isinstance(crowd.shape, Mask) and crowd.shape.area == 22
    assert ds.samples[2].extra["coco"]["x_custom_split"] == "holdout"
    assert ds.stats()["per_shape"] == {"polygon": 3, "mask": 1}


def test_sample_pixels_match_pycocotools():
    ds = annoconv.load(SAMPLE)
    api = COCO(str(SAMPLE))
    for s in ds.samples:
        for a in s.annotations:
            ours = geometry.shapes_to_rles([a.shape], s.height, s.width)[0]
            np.testing.assert_array_equal(rle.decode(ours), api.annToMask(api.anns[a.id]).astype(bool))


# ---- round trips --------------------------------------------------------------------------


@pytest.mark.parametrize("generic", [False, True], ids=["records", "model"])
def test_round_trip_exact(tmp_path, generic):
    ds = annoconv.load(SAMPLE)
    doc, report = write_and_reload(materialized(ds) if generic else ds, tmp_path)
    source = json.loads(SAMPLE.read_text())
    assert doc == source
    assert list(doc) == list(source)
    # key order follows the file's first object (the sample's crowd annotation lists
    # num_keypoints before keypoints, the other person the reverse: one order is kept)
    first = list(source["annotations"][0])
    for a in doc["annotations"]:
        assert [k for k in a if k in first] == first
    assert [list(i)[:7] for i in doc["images"]] == [list(i)[:7] for i in source["images"]]
    assert report.lossless and report.annotations == 4


def test_round_trip_keeps_numbers_and_unknown_keys(tmp_path):
    src = {
        "type": "instances",
        "images": [{"id": 2, "file_name": "b.png", "width": 10, "height": 10, "site": {"x": 1}}],
        "annotations": [
            {"id": 5, "image_id": 2, "category_id": 1, "iscrowd": 0, "area": 12,
             "bbox": [0.1, 0.2, 0.7, 0.1], "segmentation": [[1, 1, 4, 1.5, 4, 4]],
             "attributes": {"occluded": True}, "source": "cvat"},
            {"id": 6, "image_id": 2, "category_id": 1, "iscrowd": False,
             "segmentation": {"counts": [0, 3, 97], "size": [10, 10]}, "bbox": [0, 0, 1, 3],
             "area": 3},
        ],
        "categories": [{"id": 1, "name": "a", "supercategory": None, "color": "red"}],
    }
    p = tmp_path / "in.json"
    p.write_text(json.dumps(src))
    ds = annoconv.load(p)
    a5 = ds.samples[0].annotations[0]
    assert a5.attributes == {"occluded": True} and a5.extra["coco"]["source"] == "cvat"
    for generic in (False, True):
        doc, _ = write_and_reload(materialized(ds) if generic else ds, tmp_path)
        assert doc == src
        seg = doc["annotations"][0]["segmentation"][0]
        assert [type(v) for v in seg[:4]] == [int, int, int, float]
        assert type(doc["annotations"][0]["area"]) is int
        assert doc["annotations"][1]["iscrowd"] is False


@st.composite
def coco_documents(draw):
    n_img = draw(st.integers(1, 3))
    images, anns = [], []
    cat_ids = draw(st.lists(st.integers(1, 300), min_size=1, max_size=3, unique=True))
    next_id = draw(st.integers(1, 2**40))
    for k in range(n_img):
        h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
        iid = draw(st.integers(1, 10**9)) * 10 + k
        images.append({"id": iid, "file_name": f"{k}.jpg", "height": h, "width": w})
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["poly", "rle", "urle", "box"]))
            ann = {"id": next_id, "image_id": iid, "category_id": draw(st.sampled_from(cat_ids)),
                   "iscrowd": 0}
            next_id += draw(st.integers(1, 5))
            if kind == "poly":
                ann["segmentation"] = draw(polygon_parts())
            elif kind in ("rle", "urle"):
                m = draw(masks(max_side=1))  # shape replaced below
                m = np.resize(m, (h, w)) if m.size else np.zeros((h, w), bool)
                obj = rle.to_coco(rle.encode(m), compressed=kind == "rle")
                ann["segmentation"] = obj
                ann["iscrowd"] = 1
            else:
                ann["segmentation"] = []
            ann["area"] = draw(st.one_of(st.integers(0, 100), st.floats(0, 100)))
            ann["bbox"] = [draw(st.floats(-5, 20)), draw(st.floats(-5, 20)),
                           draw(st.floats(0, 20)), draw(st.integers(0, 20))]
            anns.append(ann)
    order = draw(st.permutations(list(range(len(anns)))))
    return {"images": images, "annotations": [anns[i] for i in order],
            "categories": [{"id": c, "name": f"c{c}", "supercategory": "s"} for c in cat_ids]}


@given(coco_documents())
def test_generated_documents_round_trip(doc):
    data = json.dumps(doc).encode()
    ds = coco.parse(data, "gen.json")
    for source in (ds, materialized(ds)):
        out = json.loads(coco.dumps(coco.emit(source)))
        assert out == doc
        assert [list(a) for a in out["annotations"]] == [list(a) for a in doc["annotations"]]


def test_iter_samples_streams_the_same_samples():
    assert tuple(coco.iter_samples(SAMPLE)) == tuple(annoconv.load(SAMPLE).samples)


# ---- writing from other models: pycocotools is the oracle ---------------------------------


def other_format_dataset() -> Dataset:
    m = np.zeros((30, 40), bool)
    m[5:20, 5:25] = True
    m[10:14, 10:14] = False  # a hole
    blob = np.zeros((30, 40), bool)
    blob[2:8, 30:38] = True
    anns = (
        Annotation(id="uuid-1", category_id=2, shape=Mask.from_array(m), z_index=2),
        Annotation(id="uuid-2", category_id=2, shape=Mask.from_array(blob)),
        Annotation(id=None, category_id=5, shape=Box(x0=1, y0=1, x1=10, y1=6)),
        Annotation(id=None, category_id=5, shape=Box(x0=10, y0=10, x1=20, y1=14, rotation=30)),
        Annotation(id=None, category_id=5, shape=polygon_with_hole),
        Annotation(id=None, category_id=5, shape=Polygon.from_coco([[20, 20, 30, 20, 25, 28]])),
        Annotation(id=None, category_id=5, shape=Ellipse(cx=30, cy=20, rx=4, ry=3)),
        Annotation(id=None, category_id=5, shape=Polyline(points=[[0, 0], [5, 5]])),
        Annotation(id=None, category_id=7, shape=Keypoints(points=[[3, 4], [0, 0]], visibility=[2, 0])),
    )
    cats = (Category(id=2, name="blob", color=(255, 0, 0, 255)), Category(id=5, name="shape"),
            Category(id=7, name="pose", keypoint_names=("a", "b"), skeleton=((1, 2),)))
    return Dataset(categories=cats, samples=(
        Sample(id="img-a", file_name="a.png", width=40, height=30, status=Status.DONE,
               tags=("sunny",), annotations=anns),
        Sample(id="img-b", file_name="b.png", width=40, height=30),
    ), info={"name": "demo"})


@pytest.mark.parametrize("mask_as", ["rle", "polygon"])
def test_write_other_model_loads_in_pycocotools(tmp_path, mask_as):
    ds = other_format_dataset()
    out = tmp_path / "out.json"
    report = annoconv.save(ds, out, "coco", mask_as=mask_as)
    doc = json.loads(out.read_text())
    api = COCO(str(out))
    assert [a["id"] for a in doc["annotations"]] == list(range(1, 9))  # never 0
    assert [i["id"] for i in doc["images"]] == [1, 2]
    assert report.count("shape_dropped") == 1  # the polyline
    assert report.count("rotation_applied") == 1 and report.count("shape_converted") == 1
    assert report.count("hole_to_rle") == (2 if mask_as == "polygon" else 1)
    assert report.count("mask_to_polygon") == (1 if mask_as == "polygon" else 0)
    assert report.count("status_unmapped") == 1 and report.count("tag_dropped") == 1
    assert report.count("z_index_dropped") == 1
    # pixels: what pycocotools rasterises equals our model's pixels
    kept = [a for a in ds.samples[0].annotations if not isinstance(a.shape, Polyline)]
    for written, a in zip(doc["annotations"], kept, strict=True):
        if not written["segmentation"]:
            continue
        ours = geometry.shapes_to_rles([a.shape], 30, 40)[0]
        if isinstance(a.shape, Ellipse):
            ours = geometry.polygon_to_rle(geometry.ellipse_to_polygon(a.shape), 30, 40)
        theirs = api.annToMask(api.anns[written["id"]]).astype(bool)
        np.testing.assert_array_equal(rle.decode(ours), theirs)
    box = doc["annotations"][2]
    assert box["segmentation"] == [] and box["bbox"] == [1, 1, 9, 5] and box["area"] == 45
    mask = doc["annotations"][0]
    assert mask["area"] == int(ds.samples[0].annotations[0].shape.area)
    assert mask["bbox"] == [5.0, 5.0, 20.0, 15.0]
    kp = doc["annotations"][-1]
    assert kp["keypoints"] == [3, 4, 2, 0, 0, 0] and kp["num_keypoints"] == 1
    assert doc["categories"][2]["keypoints"] == ["a", "b"]
    assert doc["info"]["description"].startswith("demo (converted by annoconv")


def test_keep_extra_round_trips_model_fields(tmp_path):
    ds = other_format_dataset()
    out = tmp_path / "out.json"
    annoconv.save(ds, out, "coco", keep_extra=True)
    back = annoconv.load(out)
    s = back.samples[0]
    assert s.status is Status.DONE and s.tags == ("sunny",)
    assert s.annotations[0].z_index == 2
    # category colour and stuff kind too; and written back as they were, no colour key added
    stuff = Category(id=9, name="road", kind="stuff", color=(1, 2, 3, 77))
    ds = dataclasses.replace(ds, categories=(*ds.categories, stuff))
    annoconv.save(ds, out, "coco", keep_extra=True)
    back = annoconv.load(out)
    assert [(c.color, c.kind) for c in back.categories] == [(c.color, c.kind) for c in ds.categories]
    annoconv.save(back, tmp_path / "again.json", "coco", mask_as="polygon")
    assert json.loads((tmp_path / "again.json").read_text())["categories"] == json.loads(out.read_text())["categories"]


def test_one_missing_id_renumbers_nothing_else(tmp_path):
    box = Box(x0=0, y0=0, x1=2, y1=2)
    ds = Dataset(categories=(Category(id=1, name="a"),), samples=(
        Sample(id=397133, file_name="a.jpg", width=10, height=10, annotations=(
            Annotation(id=900100037777, category_id=1, shape=box),
            Annotation(id=None, category_id=1, shape=box),
            Annotation(id=42, category_id=1, shape=box),
            Annotation(id="l7", category_id=1, shape=box),
            Annotation(id=42, category_id=1, shape=box))),
        Sample(id=None, file_name="b.jpg", width=10, height=10)))
    doc, report = write_and_reload(ds, tmp_path)
    assert [i["id"] for i in doc["images"]] == [397133, 397134]
    assert [a["id"] for a in doc["annotations"]] == [900100037777, 900100037778, 42, 900100037779, 900100037780]
    assert report.count("id_assigned") == 4


def test_holes_drop_option(tmp_path):
    ds = Dataset(categories=(Category(id=1, name="a"),), samples=(
        Sample(id=1, file_name="a", width=8, height=8,
               annotations=(Annotation(id=1, category_id=1, shape=polygon_with_hole),)),))
    doc, report = write_and_reload(ds, tmp_path, holes="drop")
    assert doc["annotations"][0]["segmentation"] == [[0, 0, 6, 0, 6, 6, 0, 6]]
    assert report.count("hole_dropped") == 1


def test_computed_area_modes(tmp_path):
    tri = Polygon.from_coco([[0.5, 0.5, 9.5, 0.5, 0.5, 9.5]])
    ds = Dataset(categories=(Category(id=1, name="a"),), samples=(
        Sample(id=1, file_name="a", width=12, height=12,
               annotations=(Annotation(id=1, category_id=1, shape=tri),)),))
    pixels, _ = write_and_reload(ds, tmp_path)
    shoelace, _ = write_and_reload(ds, tmp_path, area="shoelace")
    assert pixels["annotations"][0]["area"] == rle.area(geometry.polygon_to_rle(tri, 12, 12))
    assert shoelace["annotations"][0]["area"] == 40.5
    assert pixels["annotations"][0]["bbox"] == [0.5, 0.5, 9.0, 9.0]


@pytest.mark.parametrize("fmt", ["coco", "coco-panoptic"])
def test_polygon_far_outside_the_image_is_a_located_error(tmp_path, fmt):
    far = Polygon.from_coco([[0, 0, 2e9, 0, 2e9, 5, 0, 5]])
    ds = Dataset(categories=(Category(id=1, name="a"),), samples=(
        Sample(id=1, file_name="a", width=8, height=6, annotations=(
            Annotation(id=1, category_id=1, shape=polygon_with_hole),
            Annotation(id=7, category_id=1, shape=far),)),))
    where = "image 1 annotation 7" if fmt == "coco" else "image 1"
    with pytest.raises(ConversionError, match=f"^{where}: polygon too large to rasterise"):
        annoconv.save(ds, tmp_path / "x.json", fmt)
    assert list(tmp_path.iterdir()) == []


def test_mask_without_image_size_is_a_conversion_error(tmp_path):
    ds = Dataset(categories=(Category(id=1, name="a"),), samples=(
        Sample(id=1, file_name="a", annotations=(
            Annotation(id=1, category_id=1, shape=polygon_with_hole),)),))
    with pytest.raises(ConversionError, match="the image has no width/height"):
        annoconv.save(ds, tmp_path / "x.json", "coco")
    assert not (tmp_path / "x.json").exists()


def test_failed_write_leaves_previous_file(tmp_path, monkeypatch):
    out = tmp_path / "out.json"
    out.write_text("previous")

    def boom(*a, **k):
        raise RuntimeError("encoder failed")

    monkeypatch.setattr(coco, "dumps", boom)
    with pytest.raises(RuntimeError):
        annoconv.save(annoconv.load(SAMPLE), out, "coco")
    assert out.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


# ---- malformed input ------------------------------------------------------------------------

BASE = {"images": [{"id": 1, "file_name": "a.jpg", "height": 4, "width": 6}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 2, 0, 2, 2]],
                         "area": 2, "bbox": [0, 0, 2, 2], "iscrowd": 0}],
        "categories": [{"id": 1, "name": "a"}]}


def with_annotation(**changes):
    doc = json.loads(json.dumps(BASE))
    doc["annotations"][0].update(changes)
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (with_annotation(segmentation=[[0, 0, 2, 0, 2]]), "$.annotations[0].segmentation: part 0 has 5 values; expected an even count >= 6 (strict=False drops such parts)"),
        (with_annotation(segmentation=[[0, 0, 2, 0]]), "$.annotations[0].segmentation: part 0 has 4 values; expected an even count >= 6 (strict=False drops such parts)"),
        (with_annotation(segmentation=[0, 0, 2, 0, 2, 2]), "$.annotations[0].segmentation: expected a list of polygon parts [[x, y, ...], ...], got a flat list (strict=False drops such parts)"),
        (with_annotation(segmentation=[["a", 0, 2, 0, 2, 2]]), "$.annotations[0].segmentation: part 0 holds something other than numbers (strict=False drops such parts)"),
        (with_annotation(segmentation=5), "$.annotations[0].segmentation: expected a polygon list or an RLE object, got an integer"),
        (with_annotation(segmentation={"size": [4, 6], "counts": [5, 2]}), "$.annotations[0].segmentation: counts sum to 7, expected height*width = 4*6 = 24"),
        (with_annotation(segmentation={"size": [4, 6], "counts": "52160J4x"}), "$.annotations[0].segmentation: compressed counts string has character 'x' at offset 7; expected characters '0' to 'o' (codes 48-111)"),
        (with_annotation(segmentation={"size": [5, 6], "counts": [30]}), "$.annotations[0].segmentation.size: RLE size [5, 6] differs from the image's [height, width] = [4, 6]"),
        (with_annotation(id="seven"), "$.annotations[0].id: expected an integer, got a string"),
        (with_annotation(image_id=9), "$.annotations[0].image_id: image id 9 is not in $.images (strict=False skips it)"),
        (with_annotation(category_id=4), "$.annotations[0].category_id: category id 4 is not in $.categories (strict=False keeps it)"),
        (with_annotation(bbox=[0, 0, 2]), "$.annotations[0].bbox: expected [x, y, width, height]: 4 numbers"),
        (with_annotation(bbox=[0, 0, -2, 2]), "$.annotations[0].bbox[2]: bbox width and height must be >= 0"),
        (with_annotation(keypoints=[1, 2]), "$.annotations[0].keypoints: 2 values; expected (x, y, v) triplets"),
        (with_annotation(keypoints=[1, 2, 3]), "$.annotations[0].keypoints: visibility values must be 0, 1 or 2"),
        (with_annotation(keypoints=[2**70, 1, 2]), "$.annotations[0].keypoints: a coordinate is beyond +-2^53"),
        ({**BASE, "images": [{"file_name": "a.jpg"}]}, "$.images[0]: missing key 'id'"),
        ({**BASE, "images": [BASE["images"][0], BASE["images"][0]]}, "$.images[1].id: image id 1 appears more than once"),
        ({**BASE, "categories": [{"id": "x", "name": "a"}]}, "$.categories[0].id: expected an integer, got a string"),
        ({**BASE, "images": {"id": 1}}, "$.images: expected an array, got an object"),
        ([BASE], "expected an object, got an array"),
    ],
)
def test_malformed(tmp_path, doc, message):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(doc))
    out = tmp_path / "out.json"
    with pytest.raises(ParseError) as info:
        annoconv.convert(p, out, "coco", from_="coco")
    assert str(info.value) == f"{p}: {message}"
    assert not out.exists()


def test_unknown_keys_do_not_hide_errors(tmp_path):
    doc = with_annotation(extra_key=1, bbox=[0, 0, 2])
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(ParseError, match=r"\$\.annotations\[0\]\.bbox: expected \[x, y, width, height\]: 4 numbers"):
        annoconv.load(p)


def test_non_strict_skips_and_counts(tmp_path):
    doc = with_annotation(image_id=9)
    p = tmp_path / "in.json"
    p.write_text(json.dumps(doc))
    report = annoconv.ConversionReport()
    ds = annoconv.load(p, report=report, strict=False)
    assert ds.stats()["annotations"] == 0 and report.count("reference_missing") == 1
    out, _ = write_and_reload(ds, tmp_path)
    assert out["annotations"] == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"images": [{"id": 1,', "invalid JSON at line 1 column 22: Expecting property name enclosed in double quotes"),
        (b'{"images": [{"id": 1, "file_name": "\xff"}]}', "not UTF-8 text: byte 0xff at offset 36"),
    ],
)
def test_syntax_errors(tmp_path, data, message):
    p = tmp_path / "bad.json"
    p.write_bytes(data)
    with pytest.raises(ParseError) as info:
        annoconv.load(p, "coco")
    assert str(info.value) == f"{p}: {message}"


@pytest.mark.parametrize("cut", [1, 10, 100, 500, -2])
def test_truncated_file(tmp_path, cut):
    data = SAMPLE.read_bytes()
    p = tmp_path / "cut.json"
    p.write_bytes(data[:cut])
    with pytest.raises(ParseError, match="invalid JSON at line"):
        annoconv.load(p, "coco")


def test_other_formats_are_not_detected_as_coco(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"project_name": "x", "label_classes": [], "images": []}')
    assert coco.sniff(p, p.read_bytes()) < 2


def test_schema_validation(tmp_path):
    annoconv.load(SAMPLE, validate=True)
    doc = with_annotation(area=-1)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(ParseError) as info:
        annoconv.load(p, validate=True)
    assert str(info.value) == f"{p}: $.annotations[0].area: -1 is less than the minimum of 0"


# ---- panoptic -------------------------------------------------------------------------------


def panoptic_dataset() -> Dataset:
    lab = np.zeros((12, 16), np.int64)
    lab[:6] = 1  # sky (stuff)
    lab[7:11, 2:6] = 2  # car 1
    lab[7:11, 8:12] = 3  # car 2
    labels = rle.encode_labels(lab)
    anns = (
        Annotation(id=1, category_id=184, shape=Mask(rle=labels[1])),
        Annotation(id=2, category_id=3, shape=Mask(rle=labels[2])),
        Annotation(id=3, category_id=3, shape=Mask(rle=labels[3]), iscrowd=True),
    )
    cats = (Category(id=3, name="car", color=(0, 0, 142)),
            Category(id=184, name="sky", kind="stuff", color=(70, 130, 180)))
    return Dataset(categories=cats, samples=(
        Sample(id=42, file_name="000042.jpg", width=16, height=12, annotations=anns),))


def test_panoptic_write_read_round_trip(tmp_path):
    ds = panoptic_dataset()
    out = tmp_path / "panoptic_val.json"
    report = annoconv.save(ds, out, "coco-panoptic")
    assert report.files == ["panoptic_val.json", "panoptic_val/000042.png"]
    doc = json.loads(out.read_text())
    assert doc["categories"] == [
        {"id": 3, "name": "car", "supercategory": "", "isthing": 1, "color": [0, 0, 142]},
        {"id": 184, "name": "sky", "supercategory": "", "isthing": 0, "color": [70, 130, 180]}]
    seg = doc["annotations"][0]["segments_info"]
    assert seg == [
        {"id": 1, "category_id": 184, "area": 96, "bbox": [0, 0, 16, 6], "iscrowd": 0},
        {"id": 2, "category_id": 3, "area": 16, "bbox": [2, 7, 4, 4], "iscrowd": 0},
        {"id": 3, "category_id": 3, "area": 16, "bbox": [8, 7, 4, 4], "iscrowd": 1}]
    from PIL import Image

    png = np.asarray(Image.open(tmp_path / "panoptic_val" / "000042.png"))
    png = png.astype(np.uint32)
    ids = png[..., 0] + 256 * png[..., 1] + 65536 * png[..., 2]
    assert set(np.unique(ids).tolist()) == {0, 1, 2, 3}
    assert annoconv.detect_format(out) == "coco-panoptic"
    back = annoconv.load(out)
    assert back.category_by_id(184).kind == "stuff"
    for a, b in zip(back.samples[0].annotations, ds.samples[0].annotations, strict=True):
        assert a.shape == b.shape and a.category_id == b.category_id and a.iscrowd == b.iscrowd
    out2 = tmp_path / "again" / "panoptic_val.json"
    annoconv.save(back, out2, "coco-panoptic")
    assert json.loads(out2.read_text()) == doc
    assert (tmp_path / "again" / "panoptic_val" / "000042.png").read_bytes() == (tmp_path / "panoptic_val" / "000042.png").read_bytes()


def test_panoptic_to_instances_matches_pycocotools(tmp_path):
    ds = panoptic_dataset()
    out = tmp_path / "instances.json"
    annoconv.save(ds, out, "coco")
    api = COCO(str(out))
    for a in ds.samples[0].annotations:
        np.testing.assert_array_equal(api.annToMask(api.anns[a.id]).astype(bool), a.shape.to_array())


def test_panoptic_overlaps_are_flattened_and_counted(tmp_path):
    full = rle.encode(np.ones((4, 4), bool))
    corner = rle.encode(np.eye(4, dtype=bool))
    ds = Dataset(categories=(Category(id=1, name="a"),), samples=(
        Sample(id=1, file_name="x.jpg", width=4, height=4, annotations=(
            Annotation(id=1, category_id=1, shape=Mask(rle=full), z_index=0),
            Annotation(id=2, category_id=1, shape=Mask(rle=corner), z_index=1),
            Annotation(id=3, category_id=1, shape=Mask(rle=corner), z_index=0))),))
    report = annoconv.save(ds, tmp_path / "p.json", "coco-panoptic")
    segs = json.loads((tmp_path / "p.json").read_text())["annotations"][0]["segments_info"]
    assert [(s["id"], s["area"]) for s in segs] == [(1, 12), (2, 4)]
    # segment 1 partly hidden; segment 3 wholly hidden: dropped, counted once
    assert report.examples["overlap_hidden"] == ["image 1 segment 1"]
    assert report.examples["shape_dropped"] == ["image 1 segment 3: hidden by others"]


def test_panoptic_unlisted_ids_are_errors(tmp_path):
    ds = panoptic_dataset()
    out = tmp_path / "p.json"
    annoconv.save(ds, out, "coco-panoptic")
    doc = json.loads(out.read_text())
    doc["annotations"][0]["segments_info"].pop()
    out.write_text(json.dumps(doc))
    with pytest.raises(ParseError, match=r"segment ids \[3\] are in the PNG but not in \$\.annotations\[0\]\.segments_info"):
        annoconv.load(out)
    report = annoconv.ConversionReport()
    back = annoconv.load(out, strict=False, report=report)
    assert len(back.samples[0].annotations) == 2 and report.count("reference_missing") == 1


# ---- command line on the fixture --------------------------------------------------------------


def test_cli_on_fixture(tmp_path, capsys):
    from annoconv import cli

    out = tmp_path / "out.json"
    assert cli.main(["convert", str(SAMPLE), str(out), "--to", "coco"]) == 0
    assert json.loads(out.read_text()) == json.loads(SAMPLE.read_text())
    assert cli.main(["info", str(SAMPLE)]) == 0
    assert "samples: 3, annotations: 4, categories: 4" in capsys.readouterr().out
    assert cli.main(["validate", str(SAMPLE)]) == 0
    assert "valid coco (3 samples, 4 annotations)" in capsys.readouterr().out


# ---- the vectorized polygon check agrees with the one-polygon check ------------------------


@st.composite
def polygon_texts(draw):
    number = st.one_of(st.integers(-50, 50), st.floats(-50, 50, allow_nan=False).map(lambda v: round(v, 2)))
    element = st.one_of(number, number, number, st.just("a"), st.none(), st.lists(number, max_size=2))
    part = st.lists(st.one_of(number, element) if draw(st.booleans()) else number, max_size=10)
    value = draw(st.one_of(st.lists(part, min_size=1, max_size=3), st.lists(number, min_size=6, max_size=6)))
    sep = draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    return json.dumps(value, separators=sep).encode()


@given(st.lists(polygon_texts(), min_size=1, max_size=6))
def test_batch_polygon_check_agrees(texts):
    class A:
        def __init__(self, t):
            self.segmentation = t

    expected = next((i for i, t in enumerate(texts) if coco._check_polygon_text(t) is not None), None)
    assert coco._first_bad_polygon(list(range(len(texts))), [A(t) for t in texts]) == expected


def test_bad_annoconv_key_is_located(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(with_annotation(annoconv={"z_index": "top"})))
    with pytest.raises(ParseError) as info:
        annoconv.load(p)
    assert str(info.value) == f"{p}: $.annotations[0].annoconv.z_index: expected a number, got a string"


def test_panoptic_fixture(tmp_path):
    path = FIXTURES / "panoptic_sample.json"
    assert annoconv.detect_format(path) == "coco-panoptic"
    ds = annoconv.load(path)
    sky, car, crowd = ds.samples[0].annotations
    assert (sky.category_id, sky.shape.area, ds.category_by_id(184).kind) == (184, 96, "stuff")
    assert car.shape.bounds().to_xyxy() == (2, 7, 6, 11) and crowd.iscrowd
    out = tmp_path / "copy.json"
    annoconv.save(ds, out, "coco-panoptic")
    assert json.loads(out.read_text()) == json.loads(path.read_text())
    # a file without info and licenses gets none; an unknown top-level key is kept, in place
    doc = json.loads(path.read_text())
    doc = {"release": "v2", **{k: v for k, v in doc.items() if k not in ("info", "licenses")}}
    (tmp_path / "copy").rename(tmp_path / "bare")
    (tmp_path / "bare.json").write_text(json.dumps(doc))
    annoconv.save(annoconv.load(tmp_path / "bare.json"), tmp_path / "again.json", "coco-panoptic")
    assert json.loads((tmp_path / "again.json").read_text()) == doc
    assert list(json.loads((tmp_path / "again.json").read_text())) == list(doc)


def test_panoptic_found_past_a_long_images_list_and_read_without_image_sizes(tmp_path):
    import shutil

    doc = json.loads((FIXTURES / "panoptic_sample.json").read_text())
    shutil.copytree(FIXTURES / "panoptic_sample", tmp_path / "pan")
    # panoptic_val2017.json lists 5000 images before its annotations
    doc["images"] += [{"id": 1000 + i, "file_name": f"x{i}.jpg", "height": 12, "width": 16} for i in range(1500)]
    doc["info"]["description"] = "annotations"  # the word, not the key
    for img in doc["images"][:1]:
        del img["height"], img["width"]  # sizes come from the PNG
    (tmp_path / "pan.json").write_text(json.dumps(doc))
    assert (tmp_path / "pan.json").stat().st_size > 65536
    assert annoconv.detect_format(tmp_path / "pan.json") == "coco-panoptic"
    ds = annoconv.load(tmp_path / "pan.json")
    assert (ds.samples[0].height, ds.samples[0].width) == (12, 16)
    annoconv.save(ds, tmp_path / "again.json", "coco-panoptic")
    assert json.loads((tmp_path / "again.json").read_text()) == doc  # still no size written
    # to instances: the size is written (pycocotools needs it), no panoptic bookkeeping
    report = annoconv.convert(tmp_path / "pan.json", tmp_path / "inst.json", to="coco")
    inst = json.loads((tmp_path / "inst.json").read_text())
    assert inst["images"][0] == {"id": 42, "file_name": "000042.jpg", "height": 12, "width": 16}
    assert annoconv.detect_format(tmp_path / "inst.json") == "coco" and report.lossless
    COCO(str(tmp_path / "inst.json")).annToMask(inst["annotations"][0])


def test_panoptic_writer_counts_what_it_changes_and_stays_in_its_folder(tmp_path):
    ds = panoptic_dataset()
    s = ds.samples[0]
    anns = (dataclasses.replace(s.annotations[0], id=900100037777, score=0.5), *s.annotations[1:])
    ds = dataclasses.replace(ds, samples=(dataclasses.replace(s, annotations=anns),))
    report = annoconv.save(ds, tmp_path / "p.json", "coco-panoptic")
    assert report.examples["id_assigned"] == ["image 42 annotation 900100037777 -> segment 1"]
    assert report.count("score_dropped") == 1
    for bad in (str(tmp_path / "abs"), "../side"):
        with pytest.raises(annoconv.OptionError, match="png_dir must be a relative folder"):
            annoconv.save(ds, tmp_path / "q" / "p.json", "coco-panoptic", png_dir=bad)
    assert not (tmp_path / "abs").exists() and not (tmp_path / "side").exists()


def test_annotations_without_geometry_are_not_written_without_a_bbox(tmp_path):
    ds = Dataset(categories=(Category(id=1, name="a"),), samples=(
        Sample(id=1, file_name="a", width=8, height=8, annotations=(
            Annotation(id=1, category_id=1),  # an image-level label (FastLabel classification)
            Annotation(id=2, category_id=1, shape=Polygon.from_rings([(1, 1), (5, 5)])),
            Annotation(id=3, category_id=1, shape=Box(x0=1, y0=1, x1=2, y1=2)))),))
    doc, report = write_and_reload(ds, tmp_path)
    assert [(a["id"], a["bbox"]) for a in doc["annotations"]] == [(3, [1, 1, 1, 1])]
    assert report.count("shape_dropped") == 2


def test_both_write_paths_report_alike(tmp_path):
    doc = with_annotation(id=0)
    doc["annotations"][0]["segmentation"] = {"size": [2, 2], "counts": [0, 4], "x": None}
    doc["images"][0].update(height=2, width=2)
    p = tmp_path / "in.json"
    p.write_text(json.dumps(doc))
    fast = annoconv.convert(p, tmp_path / "a.json", to="coco")
    generic = annoconv.convert(p, tmp_path / "b.json", to="coco", rle="compressed")
    assert fast.count("id_zero_kept") == generic.count("id_zero_kept") == 1
    poly = annoconv.convert(p, tmp_path / "c.json", to="coco", mask_as="polygon")
    assert "image 1 annotation 0: RLE keys x" in poly.examples["field_dropped"]


def test_review_regressions_of_the_second_pass(tmp_path):
    # an image key named "panoptic", non-ASCII keys escaped as \\u, a destination name with ":"
    doc = json.loads(SAMPLE.read_text())
    doc["images"][0]["panoptic"] = 3
    doc = {"données": {"v": 1}, **doc, "zé": 2}
    p = tmp_path / "in.json"
    p.write_text(json.dumps(doc))  # ensure_ascii: "donn\\u00e9es"
    round_trip_both(tmp_path, doc)
    assert list(json.loads((tmp_path / "out.json").read_text())) == list(doc)
    pan = annoconv.load(FIXTURES / "panoptic_sample.json")
    annoconv.save(pan, tmp_path / "panoptic_2024-05-01T12:00.json", "coco-panoptic")
    assert annoconv.load(tmp_path / "panoptic_2024-05-01T12:00.json").samples[0].annotations[0].shape.area == 96
    # an image key that starts with "_" is the image's, not annoconv's: kept
    raw = json.loads((FIXTURES / "panoptic_sample.json").read_text())
    raw["images"][0]["_meta"] = 1
    (tmp_path / "meta.json").write_text(json.dumps(raw))
    (tmp_path / "meta").symlink_to(FIXTURES / "panoptic_sample", target_is_directory=True)
    report = annoconv.save(annoconv.load(tmp_path / "meta.json"), tmp_path / "m2.json", "coco-panoptic")
    assert json.loads((tmp_path / "m2.json").read_text()) == raw and report.lossless
    # explicit null sizes come back null (the PNG gives the model its size)
    raw = json.loads((FIXTURES / "panoptic_sample.json").read_text())
    raw["images"][0].update(height=None, width=None)
    (tmp_path / "nulls.json").write_text(json.dumps(raw))
    (tmp_path / "nulls").symlink_to(FIXTURES / "panoptic_sample", target_is_directory=True)
    annoconv.save(annoconv.load(tmp_path / "nulls.json"), tmp_path / "n2.json", "coco-panoptic")
    assert json.loads((tmp_path / "n2.json").read_text()) == raw


# ---- edge cases found in review: valid but unusual files round-trip through both writers ----


def round_trip_both(tmp_path, doc):
    p = tmp_path / "in.json"
    p.write_text(json.dumps(doc))
    ds = annoconv.load(p)
    for source in (ds, materialized(ds)):
        out, _ = write_and_reload(source, tmp_path)
        assert out == doc
        assert [a["id"] for a in out.get("annotations", [])] == [a["id"] for a in doc.get("annotations", [])]
    return ds


def test_top_level_key_order_is_found_past_look_alike_strings(tmp_path):
    # an image named "annotations" does not make annotations look first; {} stays {}
    doc = {"données": 1, "images": [{"id": 1, "file_name": "annotations", "height": 4, "width": 6}],
           "categories": [{"id": 1, "name": "a"}], "annotations": []}
    for source in (doc, {}):
        p = tmp_path / "in.json"
        p.write_text(json.dumps(source, ensure_ascii=False))
        for ds in (annoconv.load(p, "coco"), materialized(annoconv.load(p, "coco"))):
            annoconv.save(ds, tmp_path / "out.json", "coco")
            assert list(json.loads((tmp_path / "out.json").read_text())) == list(source)


def test_file_order_recorded_by_annoconv_0_1_0_is_still_restored(tmp_path):
    a = with_annotation()["annotations"][0]
    doc = {"images": [{"id": 1, "file_name": "a", "height": 4, "width": 6},
                      {"id": 2, "file_name": "b", "height": 4, "width": 6}],
           "annotations": [{**a, "id": 1, "image_id": 2}, {**a, "id": 2, "image_id": 1}, {**a, "id": 3, "image_id": 2}],
           "categories": [{"id": 1, "name": "a"}]}
    (tmp_path / "in.json").write_text(json.dumps(doc))
    annoconv.save(annoconv.load(tmp_path / "in.json"), tmp_path / "n.json", "annoconv")
    native = json.loads((tmp_path / "n.json").read_text())
    native["info"]["coco"]["annotation_order"] = [1, 2, 3]  # ids alone, as 0.1.0 wrote them
    (tmp_path / "n.json").write_text(json.dumps(native))
    annoconv.save(annoconv.load(tmp_path / "n.json"), tmp_path / "out.json", "coco")
    assert json.loads((tmp_path / "out.json").read_text())["annotations"] == doc["annotations"]


def test_file_order_survives_ids_repeated_across_images(tmp_path):
    a = with_annotation()["annotations"][0]
    doc = {"images": [{"id": 1, "file_name": "a", "height": 4, "width": 6},
                      {"id": 2, "file_name": "b", "height": 4, "width": 6}],
           "annotations": [{**a, "id": 7, "image_id": 2, "area": 1}, {**a, "id": 7, "image_id": 1, "area": 2},
                           {**a, "id": 7, "image_id": 2, "area": 3}, {**a, "id": 8, "image_id": 1, "area": 4}],
           "categories": [{"id": 1, "name": "a"}]}
    round_trip_both(tmp_path, doc)


def test_unusual_but_valid_files_round_trip(tmp_path):
    doc = {
        "images": [{"id": 1, "file_name": "é.jpg", "height": 427.0, "width": 8},
                   {"id": 2, "file_name": "b.jpg", "height": 4, "width": 6}],
        "annotations": [
            {"id": 0, "image_id": 2, "category_id": 1, "keypoints": [1, 2.5, 2, 0, 0, 0],
             "bbox": [195.56868360131864, 10.5, 436.82691195017117, 20.0], "iscrowd": 2,
             "attributes": [], "annoconv": {"z_index": 3, "note": "kept"}},
            {"id": 42, "image_id": 1, "category_id": 1, "segmentation":  # non-canonical "P0"
                {"size": [427, 8], "counts": "P0" + rle.to_string([0, 3416])[1:], "source": "sam"},
             "area": 1},
            {"id": 42, "image_id": 2, "category_id": 1, "segmentation": [], "attributes": None},
        ],
        "categories": [{"id": 1, "keypoints": None, "skeleton": None}],
    }
    round_trip_both(tmp_path, doc)


def test_absent_top_level_keys_stay_absent(tmp_path):
    round_trip_both(tmp_path, {"images": [{"id": 5, "file_name": "a", "height": 2, "width": 2}]})


def test_keypoints_without_num_keypoints(tmp_path):
    doc = with_annotation(keypoints=[1, 1, 2])
    del doc["annotations"][0]["segmentation"]
    ds = round_trip_both(tmp_path, doc)
    out, _ = write_and_reload(materialized(ds), tmp_path, mask_as="polygon")
    assert "num_keypoints" not in out["annotations"][0]


def test_float_keypoints_keep_their_numbers(tmp_path):
    doc = with_annotation(keypoints=[1.5, 2.5, 2.0, 0.0, 0.0, 0.0], num_keypoints=1)
    ds = round_trip_both(tmp_path, doc)
    out, _ = write_and_reload(materialized(ds), tmp_path, mask_as="polygon")
    assert out["annotations"][0]["keypoints"] == [1.5, 2.5, 2.0, 0.0, 0.0, 0.0]
    assert [type(v) for v in out["annotations"][0]["keypoints"]] == [float] * 6


def test_no_size_and_no_area_is_not_an_error(tmp_path):
    doc = json.loads(SAMPLE.read_text())
    for img in doc["images"]:
        del img["height"], img["width"]
    for a in doc["annotations"]:
        del a["area"]
    doc["annotations"] = [a for a in doc["annotations"] if not isinstance(a["segmentation"], dict)]
    round_trip_both(tmp_path, doc)


def test_strict_false_drops_bad_parts_and_counts(tmp_path):
    doc = with_annotation(segmentation=[[0, 0, 2, 0, 2, 2], [7, 7, 8]])
    p = tmp_path / "in.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(ParseError, match="part 1 has 3 values"):
        annoconv.load(p)
    report = annoconv.ConversionReport()
    ds = annoconv.load(p, strict=False, report=report)
    assert report.count("invalid_part_dropped") == 1
    assert ds.samples[0].annotations[0].shape.to_coco() == [[0, 0, 2, 0, 2, 2]]
    # what is written is what was reported: the good parts only, and an edit wins
    annoconv.save(ds, tmp_path / "out.json", "coco")
    assert json.loads((tmp_path / "out.json").read_text())["annotations"][0]["segmentation"] == [[0, 0, 2, 0, 2, 2]]
    s = ds.samples[0]
    edited = dataclasses.replace(s.annotations[0], shape=Polygon.from_coco([[1, 1, 5, 1, 5, 3]]), area=None,
                                 stored_bbox=None)
    annoconv.save(dataclasses.replace(ds, samples=(dataclasses.replace(s, annotations=(edited,)),)),
                  tmp_path / "edited.json", "coco")
    out = json.loads((tmp_path / "edited.json").read_text())["annotations"][0]
    assert (out["segmentation"], out["bbox"]) == ([[1, 1, 5, 1, 5, 3]], [1, 1, 4, 2])


def test_keys_absent_in_the_source_are_written_once_the_model_has_them(tmp_path):
    doc = with_annotation()
    for key in ("bbox", "area", "iscrowd"):
        del doc["annotations"][0][key]
    p = tmp_path / "in.json"
    p.write_text(json.dumps(doc))
    ds = annoconv.load(p)
    annoconv.save(ds, tmp_path / "same.json", "coco", mask_as="polygon")  # the generic writer
    assert json.loads((tmp_path / "same.json").read_text())["annotations"] == doc["annotations"]
    s = ds.samples[0]
    a = dataclasses.replace(s.annotations[0], stored_bbox=Box(x0=0, y0=0, x1=2, y1=2), area=2, iscrowd=True)
    annoconv.save(dataclasses.replace(ds, samples=(dataclasses.replace(s, annotations=(a,)),)),
                  tmp_path / "edited.json", "coco", mask_as="polygon")
    out = json.loads((tmp_path / "edited.json").read_text())["annotations"][0]
    assert (out["bbox"], out["area"], out["iscrowd"]) == ([0, 0, 2, 2], 2, 1)


def test_overflowing_polygon_numbers_are_located(tmp_path):
    p = tmp_path / "in.json"
    p.write_text(json.dumps(with_annotation()).replace("[[0, 0, 2, 0, 2, 2]]", "[[0, 0, 2, 0, 2, 2e400]]"))
    with pytest.raises(ParseError, match=r"\$\.annotations\[0\]\.segmentation: a coordinate is not a finite double"):
        annoconv.load(p)


def test_writer_drops_degenerate_parts(tmp_path):
    poly = Polygon.from_coco([[1, 1, 5, 1, 5, 5], [7, 7, 8, 8]])
    ds = Dataset(categories=(Category(id=1, name="a"),), samples=(
        Sample(id=1, file_name="a", width=8, height=8, annotations=(Annotation(id=1, category_id=1, shape=poly),)),))
    out, report = write_and_reload(ds, tmp_path)
    assert out["annotations"][0]["segmentation"] == [[1, 1, 5, 1, 5, 5]]
    assert report.count("invalid_part_dropped") == 1
    annoconv.load(tmp_path / "out.json")  # our own reader takes what we wrote


def test_shared_polygon_on_images_of_two_sizes(tmp_path):
    anns = (Annotation(id=1, category_id=1, shape=polygon_with_hole),)
    ds = Dataset(categories=(Category(id=1, name="a"),), samples=(
        Sample(id=1, file_name="a", width=10, height=10, annotations=anns),
        Sample(id=2, file_name="b", width=20, height=30, annotations=(
            Annotation(id=2, category_id=1, shape=polygon_with_hole),)),))
    out, _ = write_and_reload(ds, tmp_path)
    assert [a["segmentation"]["size"] for a in out["annotations"]] == [[10, 10], [30, 20]]
    assert [a["area"] for a in out["annotations"]] == [32, 32]


def test_duplicate_category_ids_are_located(tmp_path):
    doc = {**BASE, "categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}
    p = tmp_path / "in.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(ParseError, match=r"\$\.categories\[1\]\.id: category id 1 appears more than once"):
        annoconv.load(p)


def test_ids_from_other_sources_are_positions(tmp_path):
    ds = other_format_dataset()
    out, report = write_and_reload(ds, tmp_path)
    assert [a["id"] for a in out["annotations"]] == list(range(1, 9))
    assert [i["id"] for i in out["images"]] == [1, 2]
    assert report.count("id_assigned") == 10  # 8 annotations and 2 images had string ids


def test_bad_option_value_is_a_usage_error(tmp_path, capsys):
    from annoconv import cli

    assert cli.main(["convert", str(SAMPLE), str(tmp_path / "o.json"), "--to", "coco", "-w", "rle=foo"]) == 2
    assert "rle must be 'compressed', 'uncompressed' or 'auto', got 'foo'" in capsys.readouterr().err


def test_native_indented_file_is_detected(tmp_path):
    ds = annoconv.load(SAMPLE)
    out = tmp_path / "ds.json"
    annoconv.save(ds, out, "annoconv", indent=True)
    assert annoconv.detect_format(out) == "annoconv"
    assert annoconv.load(out).stats()["annotations"] == 4


def test_panoptic_png_names_do_not_collide(tmp_path):
    m = rle.encode(np.eye(3, dtype=bool))
    ds = Dataset(categories=(Category(id=1, name="a"),), samples=tuple(
        Sample(id=i, file_name=f"{split}/0001.jpg", width=3, height=3, annotations=(
            Annotation(id=1, category_id=1, shape=Mask(rle=m if i == 1 else rle.encode(np.ones((3, 3), bool)))),))
        for i, split in ((1, "train"), (2, "val"))))
    report = annoconv.save(ds, tmp_path / "p.json", "coco-panoptic")
    assert report.count("renamed") == 1
    back = annoconv.load(tmp_path / "p.json")
    assert [s.annotations[0].shape.area for s in back.samples] == [3, 9]


@pytest.mark.parametrize(
    ("segment", "message"),
    [({"bbox": [0, 0, "1", 1]}, "segments_info[0].bbox: expected [x, y, width, height]"),
     ({"area": "1"}, "segments_info[0].area: expected a number, got a string"),
     ({"category_id": {}}, "segments_info[0].category_id: expected an integer, got an object"),
     ({"id": 2}, "segments_info[1].id: segment id 2 is listed twice")],
)
def test_panoptic_bad_segment_fields(tmp_path, segment, message):
    ds = panoptic_dataset()
    out = tmp_path / "p.json"
    annoconv.save(ds, out, "coco-panoptic")
    doc = json.loads(out.read_text())
    doc["annotations"][0]["segments_info"][0].update(segment)
    out.write_text(json.dumps(doc))
    with pytest.raises(ParseError, match=re.escape(message)):
        annoconv.load(out)


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [(("categories",), None, "$.categories: expected a list, got null"),
     (("images",), 5, "$.images: expected a list, got an integer"),
     (("annotations", 0, "segments_info"), None, "$.annotations[0].segments_info: expected a list, got null"),
     (("annotations", 0, "image_id"), [42], "$.annotations[0]: expected an object with an integer image_id"),
     (("images", 0, "height"), 12.0, "$.images[0].height: expected a non-negative integer"),
     (("images", 0, "width"), "16", "$.images[0].width: expected a non-negative integer, got a string")],
)
def test_panoptic_malformed_structure(tmp_path, where, value, message):
    out = tmp_path / "p.json"
    annoconv.save(panoptic_dataset(), out, "coco-panoptic")
    doc = json.loads(out.read_text())
    node = doc
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    out.write_text(json.dumps(doc))
    with pytest.raises(ParseError, match=re.escape(message)):
        annoconv.load(out, format="coco-panoptic")


def test_panoptic_two_records_for_one_image_are_an_error(tmp_path):
    out = tmp_path / "p.json"
    annoconv.save(panoptic_dataset(), out, "coco-panoptic")
    doc = json.loads(out.read_text())
    doc["annotations"].append(dict(doc["annotations"][0], segments_info=[]))
    out.write_text(json.dumps(doc))
    with pytest.raises(ParseError, match=re.escape(
            "$.annotations[1].image_id: image id 42 already has a record at $.annotations[0]")):
        annoconv.load(out)


def test_panoptic_png_is_never_written_outside_its_folder(tmp_path):
    src = tmp_path / "in" / "p.json"
    annoconv.save(panoptic_dataset(), src, "coco-panoptic")
    doc = json.loads(src.read_text())
    outside = tmp_path / "in" / "p" / "000042.png"
    doc["annotations"][0]["file_name"] = str(outside)  # an absolute path, as some tools write
    src.write_text(json.dumps(doc))
    before = outside.read_bytes()
    ds = annoconv.load(src)
    for name in (str(outside), "../../in/p/000042.png"):
        s = ds.samples[0]
        ns = {**s.extra["coco"], "_record": {**s.extra["coco"]["_record"], "file_name": name}}
        one = dataclasses.replace(ds, samples=(dataclasses.replace(s, extra={"coco": ns}),))
        report = annoconv.save(one, tmp_path / "out" / "q.json", "coco-panoptic", compress_level=0)
        assert report.files == ["q.json", "q/000042.png"] and report.count("renamed") == 1
        assert json.loads((tmp_path / "out" / "q.json").read_text())["annotations"][0]["file_name"] == "000042.png"
    assert outside.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["000042.png", "q", "q.json"]


def test_panoptic_to_instances_numbers_segments_apart(tmp_path):
    # segment ids are unique per image only: two images both with segment 1
    ds = panoptic_dataset()
    s = ds.samples[0]
    two = dataclasses.replace(ds, samples=(s, dataclasses.replace(s, id=43, file_name="000043.jpg")))
    annoconv.save(two, tmp_path / "p.json", "coco-panoptic")
    report = annoconv.convert(tmp_path / "p.json", tmp_path / "i.json", to="coco")
    ids = [a["id"] for a in json.loads((tmp_path / "i.json").read_text())["annotations"]]
    assert ids == [1, 2, 3, 4, 5, 6] and report.count("id_assigned") == 3
    assert len(COCO(str(tmp_path / "i.json")).anns) == 6


def test_panoptic_skips_samples_without_size_or_labels(tmp_path):
    ds = panoptic_dataset()
    ds = dataclasses.replace(ds, samples=(*ds.samples, Sample(id=7, file_name="unlabelled.jpg")))
    report = annoconv.save(ds, tmp_path / "p.json", "coco-panoptic")
    assert report.count("size_unknown") == 1
    assert [i["id"] for i in json.loads((tmp_path / "p.json").read_text())["images"]] == [42]


def test_what_coco_cannot_hold_is_counted(tmp_path):
    ds = Dataset(
        categories=(Category(id=1, name="a", color=(1, 2, 3, 255), extra={"hasty": {"class_id": "u"}}),),
        attribute_specs=(annoconv.AttributeSpec(name="occluded", type="bool"),),
        samples=(Sample(id=1, file_name="a.jpg", subset="train", extra={"hasty": {"image_id": "x"}},
                        annotations=(Annotation(id=1, category_id=1, extra={"hasty": {"id": "y"}},
                                                shape=Polygon.from_coco([[0, 0, 4, 0, 4, 3]])),)),))
    out, report = write_and_reload(ds, tmp_path)
    assert report.count("field_dropped") == 5  # subset, image, category colour and fields, label
    assert report.count("attribute_dropped") == 1
    assert out["annotations"][0]["area"] == 6.0  # no image size: the geometric area
