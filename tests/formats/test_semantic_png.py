"""Semantic PNG (Hasty semantic_png) and index-png folders: read, write, draw order, errors."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as npst
from PIL import Image

import annoconv
from annoconv._io import read_png
from annoconv.errors import ConversionError, ParseError, WriteError
from annoconv.formats import semantic_png
from annoconv.model import Annotation, Box, Category, Dataset, Keypoints, Mask, Polygon, Sample

from ..strategies import masks, polygon_parts

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "fixtures" / "semantic_png"
GS, CC, IDX = FIX / "gs_asc", FIX / "class_color", FIX / "index_png"
SEM_SCHEMA = jsonschema.Draft202012Validator(
    json.loads((ROOT / "schemas" / "hasty_semantic_png.json").read_text()))
IDX_SCHEMA = jsonschema.Draft202012Validator(
    json.loads((ROOT / "schemas" / "hasty_index_png.json").read_text()))

# The pixels of fixtures/hasty/example_v1.1.json (specs/hasty.md §6), class by class.
CAR_1 = np.zeros((6, 8), bool)
CAR_1[0:2, 0:3] = True
CAR_1[1:4, 2:6] |= np.array([[0, 1, 1, 0], [1, 1, 1, 1], [0, 1, 0, 0]], bool)
CAR_3 = np.zeros((5, 7), bool)
CAR_3[2:5, 4:7] = np.array([[0, 1, 1], [1, 1, 1], [1, 0, 1]], bool)
ROAD_3 = np.zeros((5, 7), bool)
ROAD_3[3:5, :] = True
ROAD_3 &= ~CAR_3
ROAD_2 = np.zeros((10, 10), bool)
ROAD_2[5:, :] = True


def pixels(ds: Dataset) -> dict[str, dict[str, np.ndarray]]:
    names = {c.id: c.name for c in ds.categories}
    return {s.id: {names[a.category_id]: a.shape.to_array() for a in s.annotations}
            for s in ds.samples}


def png_arrays(folder: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(folder)): read_png(p)[0] for p in sorted(folder.rglob("*.png"))}


# --------------------------------------------------------------------------------------
# sanity: the fixtures
# --------------------------------------------------------------------------------------

EXPECTED = {
    "train/img_0001": {"car": CAR_1},
    "train/img_0003": {"car": CAR_3, "road": ROAD_3},
    "val/img_0002": {"road": ROAD_2},
}


@pytest.mark.parametrize("folder", [GS, CC, IDX], ids=["gs_asc", "class_color", "index_png"])
def test_read_fixture(folder):
    ds = annoconv.load(folder)
    assert [c.name for c in ds.categories] == ["car", "road", "pedestrian_point"]
    got = pixels(ds)
    assert got.keys() == EXPECTED.keys()
    for sid, want in EXPECTED.items():
        assert got[sid].keys() == want.keys()
        for name in want:
            assert np.array_equal(got[sid][name], want[name]), (sid, name)
    s = ds.samples[0]
    assert (s.file_name, s.subset, s.width, s.height) == ("img_0001.png", "train", 8, 6)
    assert [a.id for a in ds.samples[1].annotations] == [1, 2]


def test_read_fixture_details():
    gs = annoconv.load(GS)
    assert gs.info == {"semantic_png": {"semantic_format": "gs_asc"}}
    car, road, _ = gs.categories
    assert (car.kind, road.kind, road.color) == ("thing", "stuff", (106, 61, 154, 77))
    assert road.extra["semantic_png"] == {
        "id": "22222222-2222-4222-8222-222222222222", "png_index": 2,
        "description": "drivable surface", "use_description_as_prompt": False}
    cc = annoconv.load(CC)  # the documented key names: class_name, class_type, #RRGGBB
    assert cc.info == {"semantic_png": {"semantic_format": "class_color"}}
    assert [(c.name, c.kind, c.color) for c in cc.categories][:2] == [
        ("car", "thing", (31, 120, 180, 255)), ("road", "stuff", (106, 61, 154, 255))]
    assert read_png(CC / "train" / "img_0001.png")[1] == "RGB"
    idx = annoconv.load(IDX)
    assert idx.info == {"index_png": {"background": 0}}
    assert [c.extra["index_png"]["index"] for c in idx.categories] == [1, 2, 3]
    arr, mode, palette = read_png(IDX / "train" / "img_0003.png")
    assert mode == "P" and palette[3:9] == [31, 120, 180, 106, 61, 154]
    assert arr.tolist() == (CAR_3 * 1 + ROAD_3 * 2).tolist()


def test_fixture_tables_match_schemas():
    assert not list(SEM_SCHEMA.iter_errors(json.loads((GS / "label_classes.json").read_text())))
    assert not list(SEM_SCHEMA.iter_errors(json.loads((CC / "label_classes.json").read_text())))
    assert not list(IDX_SCHEMA.iter_errors(json.loads((IDX / "class_map.json").read_text())))


def test_detect():
    assert annoconv.detect_format(GS) == "semantic-png"
    assert annoconv.detect_format(GS / "label_classes.json") == "semantic-png"
    assert annoconv.detect_format(CC) == "semantic-png"
    assert annoconv.detect_format(IDX) == "index-png"
    assert annoconv.detect_format(IDX / "class_map.json") == "index-png"
    assert semantic_png.sniff(GS / "train", b"") == 0


# --------------------------------------------------------------------------------------
# round trips: same pixel values, same class table
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("folder", "table"), [(GS, "label_classes.json"), (CC, "label_classes.json"),
                                               (IDX, "class_map.json")])
def test_round_trip_same_pixels(tmp_path, folder, table):
    report = annoconv.convert(folder, tmp_path / "out", to=annoconv.detect_format(folder))
    assert report.lossless and report.samples == 3
    assert report.files[0] == table and sorted(report.files[1:]) == sorted(png_arrays(folder))
    a, b = png_arrays(folder), png_arrays(tmp_path / "out")
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k
        assert read_png(folder / k)[1:] == read_png(tmp_path / "out" / k)[1:]
    assert json.loads((folder / table).read_text()) == json.loads((tmp_path / "out" / table).read_text())


def _write_semantic(folder: Path, labels: list[np.ndarray], n_classes: int) -> None:
    folder.mkdir()
    table = [{"id": f"u{i}", "color": f"#{i:02x}{i:02x}80ff", "png_index": i, "name": f"c{i}",
              "type": "object" if i % 2 else "background"} for i in range(1, n_classes + 1)]
    (folder / "label_classes.json").write_text(json.dumps(table))
    (folder / "ds").mkdir()
    for i, lab in enumerate(labels):
        Image.fromarray(lab.astype(np.uint8)).save(folder / "ds" / f"im{i}.png")


@settings(max_examples=25)  # five folders written per example
@given(st.lists(npst.arrays(np.uint8, npst.array_shapes(min_dims=2, max_dims=2, max_side=8),
                            elements=st.integers(0, 4)), min_size=1, max_size=2))
def test_round_trip_generated_label_images(labels):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "src", Path(d) / "dst"
        _write_semantic(src, labels, 4)
        ds = annoconv.load(src)
        for s, lab in zip(ds.samples, labels):
            assert sum(a.shape.area for a in s.annotations) == int((lab > 0).sum())
        annoconv.save(ds, dst, "semantic-png")
        assert not list(SEM_SCHEMA.iter_errors(json.loads((dst / "label_classes.json").read_text())))
        for i, lab in enumerate(labels):
            assert np.array_equal(read_png(dst / "ds" / f"im{i}.png")[0], lab)
        # the same pictures as index PNGs, palette and grayscale
        annoconv.save(ds, Path(d) / "idx", "index-png")
        annoconv.save(ds, Path(d) / "gray", "index-png", palette=False)
        for name in ("idx", "gray"):
            cmap = json.loads((Path(d) / name / "class_map.json").read_text())
            assert not list(IDX_SCHEMA.iter_errors(cmap))
            back = annoconv.load(Path(d) / name)
            annoconv.save(back, Path(d) / f"{name}2", "index-png")
            for i, lab in enumerate(labels):
                assert np.array_equal(read_png(Path(d) / name / "ds" / f"im{i}.png")[0], lab)
                assert np.array_equal(read_png(Path(d) / f"{name}2" / "ds" / f"im{i}.png")[0], lab)


# --------------------------------------------------------------------------------------
# writing instance data: draw order, pixel-exact rasterising, counts
# --------------------------------------------------------------------------------------


def overlap_dataset() -> Dataset:
    """bg (a background class) under everything with the highest z; two objects of equal z."""
    anns = (
        Annotation(id="a", category_id=3, shape=Box(x0=0, y0=0, x1=6, y1=4), z_index=5),
        Annotation(id="b", category_id=1, shape=Box(x0=1, y0=1, x1=4, y1=3), z_index=1),
        Annotation(id="c", category_id=2, shape=Box(x0=3, y0=1, x1=5, y1=3), z_index=1),
    )
    return Dataset(
        categories=(Category(id=1, name="obj1", extra={"hasty": {"norder": 3.0}}),
                    Category(id=2, name="obj2", extra={"hasty": {"norder": 1.0}}),
                    Category(id=3, name="bg", kind="stuff", extra={"hasty": {"norder": 2.0}})),
        samples=(Sample(id=1, file_name="x.jpg", width=6, height=4, subset="s", annotations=anns),),
    )


# gs_asc numbers classes by norder: obj2 -> 1, bg -> 2, obj1 -> 3


@pytest.mark.parametrize(("order", "middle", "hidden"), [
    # z_index: a (z 5) hides both objects
    (["z_index"], [2, 2, 2, 2, 2, 2], 10),
    # class_type: background behind objects; b and c tie, c (later) in front
    (["class_type"], [2, 3, 3, 1, 1, 2], 10),
    (["class_type", "z_index"], [2, 3, 3, 1, 1, 2], 10),
    # class_order (norder): obj2 (1.0) < bg (2.0) < obj1 (3.0): bg hides obj2, obj1 in front
    (["class_order"], [2, 3, 3, 3, 2, 2], 10),
    # z_index first, then class_order among equal z
    (["z_index", "class_order"], [2, 2, 2, 2, 2, 2], 10),
])
def test_labels_order(tmp_path, order, middle, hidden):
    report = annoconv.save(overlap_dataset(), tmp_path / "o", "semantic-png", labels_order=order)
    img = read_png(tmp_path / "o" / "s" / "x.png")[0]
    classes = json.loads((tmp_path / "o" / "label_classes.json").read_text())
    assert [(c["name"], c["png_index"]) for c in classes] == [("obj1", 3), ("obj2", 1), ("bg", 2)]
    assert img[1].tolist() == middle and img[0].tolist() == [2] * 6
    assert report.count("overlap_hidden") == hidden


def test_gs_desc_and_class_color(tmp_path):
    ds = overlap_dataset()
    annoconv.save(ds, tmp_path / "d", "semantic-png", semantic_format="gs_desc", labels_order="class_type")
    classes = json.loads((tmp_path / "d" / "label_classes.json").read_text())
    assert [c["png_index"] for c in classes] == [1, 3, 2]  # norder ascending gets N..1
    assert read_png(tmp_path / "d" / "s" / "x.png")[0][1].tolist() == [2, 1, 1, 3, 3, 2]
    colored = Dataset(categories=(Category(id=1, name="obj1", color=(255, 0, 0, 77)),
                                  Category(id=2, name="obj2", color=(0, 255, 0, 255)),
                                  Category(id=3, name="bg", kind="stuff", color=(0, 0, 255, 255))),
                      samples=ds.samples)
    annoconv.save(colored, tmp_path / "c", "semantic-png", semantic_format="class_color",
                  labels_order=["class_type"])
    img, mode, _ = read_png(tmp_path / "c" / "s" / "x.png")
    assert mode == "RGB" and img[1].tolist() == [[0, 0, 255], [255, 0, 0], [255, 0, 0],
                                                  [0, 255, 0], [0, 255, 0], [0, 0, 255]]
    back = annoconv.load(tmp_path / "c")
    assert {a.category_id: a.shape.area for a in back.samples[0].annotations} == {1: 4, 2: 4, 3: 16}
    same = Dataset(categories=(Category(id=1, name="a", color=(9, 9, 9, 255)),
                               Category(id=2, name="b", color=(9, 9, 9, 100))), samples=())
    with pytest.raises(ConversionError) as e:
        annoconv.save(same, tmp_path / "x", "semantic-png", semantic_format="class_color")
    assert str(e.value) == ("class 'b' has colour (9, 9, 9), the colour of 'a': class_color "
                            "cannot tell them apart")
    black = Dataset(categories=(Category(id=1, name="night", color=(0, 0, 0, 255)),), samples=())
    with pytest.raises(ConversionError, match="the colour of 'background'"):
        annoconv.save(black, tmp_path / "x", "semantic-png", semantic_format="class_color")
    assert not (tmp_path / "x").exists()


@given(st.lists(st.one_of(polygon_parts(max_parts=2), masks(max_side=10, min_side=10)),
                min_size=1, max_size=4))
def test_rasterising_matches_pycocotools(shapes):
    """Each shape its own class, drawn in list order (z_index), against pycocotools' pixels
    painted by hand in the same order."""
    from pycocotools import mask as mask_utils

    h = w = 10
    anns, want, area = [], np.zeros((h, w), np.uint8), 0
    for i, s in enumerate(shapes):
        if isinstance(s, np.ndarray):
            shape, pix = Mask.from_array(s), s
        else:
            shape = Polygon.from_coco(s)
            pix = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(s, h, w))).astype(bool)
        anns.append(Annotation(id=i, category_id=i + 1, shape=shape, z_index=i))
        want[pix] = i + 1
        area += int(pix.sum())
    ds = Dataset(categories=tuple(Category(id=i + 1, name=f"c{i}") for i in range(len(shapes))),
                 samples=(Sample(id=1, file_name="a.png", width=w, height=h, annotations=tuple(anns)),))
    img, losses = semantic_png.render(ds.samples[0], semantic_png.Plan(
        values={i + 1: i + 1 for i in range(len(shapes))}, kind_rank={}, order_rank={}))
    assert np.array_equal(img, want)
    hidden = sum(n for kind, n, _ in losses if kind == "overlap_hidden")
    assert hidden == area - int((want > 0).sum())  # every pixel drawn is shown or counted


def test_hidden_pixels_are_counted_exactly():
    a = np.zeros((4, 4), bool)
    a[:, :3] = True
    b = np.zeros((4, 4), bool)
    b[1:3, 1:] = True  # 6 pixels, 4 of them over a
    s = Sample(id=1, file_name="a.png", width=4, height=4, annotations=(
        Annotation(id=1, category_id=1, shape=Mask.from_array(a), z_index=0),
        Annotation(id=2, category_id=2, shape=Mask.from_array(b), z_index=1),
        Annotation(id=3, category_id=1, shape=Keypoints(points=[[1, 1]], visibility=[2])),
        Annotation(id=4, category_id=9, shape=Box(x0=0, y0=0, x1=1, y1=1)),
        Annotation(id=5, category_id=2, stored_bbox=Box(x0=0, y0=3, x1=1, y1=4))))
    img, losses = semantic_png.render(s, semantic_png.Plan(
        values={1: 1, 2: 2}, kind_rank={1: 1, 2: 1}, order_rank={1: 0, 2: 1}))
    assert img.tolist() == [[1, 1, 1, 0], [1, 2, 2, 2], [1, 2, 2, 2], [2, 1, 1, 0]]
    assert losses == [("keypoints_dropped", 1, "image 'a.png'"),
                      ("reference_missing", 1, "image 'a.png'"),
                      ("overlap_hidden", 5, "image 'a.png'"),
                      ("instances_merged", 1, "image 'a.png'")]  # annotations 2 and 5: class 2


def test_report_counts_what_the_format_cannot_hold(tmp_path):
    ds = Dataset(categories=(Category(id=1, name="c"),), samples=(Sample(
        id=1, file_name="a.jpg", width=2, height=2, status="done", tags=("t",),
        attributes={"w": 1}, annotations=(
            Annotation(id=1, category_id=1, shape=Box(x0=0, y0=0, x1=1, y1=1),
                       attributes={"x": 1, "y": 2}),)),))
    report = annoconv.save(ds, tmp_path / "o", "semantic-png")
    assert dict(report.counts) == {"status_unmapped": 1, "tag_dropped": 1, "attribute_dropped": 3}
    assert report.annotations == 1 and report.files == ["label_classes.json", "a.png"]


def test_nested_subset_folders(tmp_path):
    ds = Dataset(categories=(Category(id=1, name="c"),), samples=(
        Sample(id=1, file_name="x.jpg", subset="a/b", width=2, height=2, annotations=(
            Annotation(id=1, category_id=1, shape=Box(x0=0, y0=0, x1=1, y1=1)),)),
        Sample(id=2, file_name="top.jpg", width=1, height=1)))
    annoconv.save(ds, tmp_path / "o", "semantic-png")
    back = annoconv.load(tmp_path / "o")
    assert [(s.id, s.subset, s.file_name) for s in back.samples] == [
        ("a/b/x", "a/b", "x.png"), ("top", None, "top.png")]


def test_workers_give_the_same_files(tmp_path):
    ds = annoconv.load(ROOT / "fixtures" / "hasty" / "example_v1.1.json")
    annoconv.save(ds, tmp_path / "one", "semantic-png")
    annoconv.save(ds, tmp_path / "two", "semantic-png", workers=2)
    assert {k: v.tolist() for k, v in png_arrays(tmp_path / "one").items()} == \
        {k: v.tolist() for k, v in png_arrays(tmp_path / "two").items()}
    back = annoconv.load(tmp_path / "two", workers=2)
    assert back == annoconv.load(tmp_path / "one")


def test_index_png_options(tmp_path):
    ds = overlap_dataset()
    annoconv.save(ds, tmp_path / "bg255", "index-png", background=255, palette=False,
                  labels_order="class_type")
    cmap = json.loads((tmp_path / "bg255" / "class_map.json").read_text())
    assert cmap["background"] == 255 and [c["index"] for c in cmap["classes"]] == [0, 1, 2]
    arr, mode, _ = read_png(tmp_path / "bg255" / "s" / "x.png")
    assert mode == "L" and arr[1].tolist() == [2, 0, 0, 1, 1, 2]
    back = annoconv.load(tmp_path / "bg255")
    assert {a.category_id: a.shape.area for a in back.samples[0].annotations} == {1: 4, 2: 4, 3: 16}
    many = Dataset(categories=tuple(Category(id=i, name=f"c{i}") for i in range(1, 301)),
                   samples=(Sample(id=1, file_name="m.png", width=3, height=1, annotations=(
                       Annotation(id=1, category_id=300, shape=Box(x0=0, y0=0, x1=2, y1=1)),)),))
    annoconv.save(many, tmp_path / "wide", "index-png")
    arr, mode, _ = read_png(tmp_path / "wide" / "m.png")
    assert mode.startswith("I;16") and arr.tolist() == [[300, 300, 0]]
    assert annoconv.load(tmp_path / "wide").samples[0].annotations[0].category_id == 300
    # semantic-png too: a 16-bit PNG when an index exceeds 255 (its reader reads them)
    report = annoconv.save(many, tmp_path / "sem", "semantic-png", semantic_format="class_color")
    assert report.lossless
    back = annoconv.load(tmp_path / "sem")
    assert back.samples[0].annotations[0].category_id == 300
    assert len({c.color for c in back.categories}) == 300  # all distinct: class_color can tell them apart
    annoconv.save(many, tmp_path / "sem16", "semantic-png")
    arr, mode, _ = read_png(tmp_path / "sem16" / "m.png")
    assert mode == "I;16" and arr.tolist() == [[300, 300, 0]]
    too_many = Dataset(categories=tuple(Category(id=i, name=f"c{i}") for i in range(1, 65537)))
    with pytest.raises(ConversionError) as e:
        annoconv.save(too_many, tmp_path / "big", "semantic-png")
    assert str(e.value) == "65536 classes; a semantic PNG holds at most 65535"


def test_write_errors(tmp_path):
    cats = (Category(id=1, name="c"),)
    nosize = Dataset(categories=cats, samples=(Sample(id=1, file_name="a.jpg", annotations=(
        Annotation(id=1, category_id=1, shape=Box(x0=0, y0=0, x1=1, y1=1)),)),))
    with pytest.raises(ConversionError) as e:
        annoconv.save(nosize, tmp_path / "o", "semantic-png")
    assert str(e.value) == "image 'a.jpg' has no width/height and no mask to take them from"
    twins = Dataset(categories=cats, samples=(Sample(id=1, file_name="a.jpg", width=1, height=1),
                                              Sample(id=2, file_name="a.png", width=1, height=1)))
    with pytest.raises(ConversionError) as e:
        annoconv.save(twins, tmp_path / "o", "semantic-png")
    assert str(e.value) == "images 'a.jpg' and 'a.png' would both be written to a.png"
    escape = Dataset(categories=cats, samples=(Sample(id=1, file_name="a.jpg", subset="../up",
                                                      width=1, height=1),))
    with pytest.raises(ConversionError, match="cannot name a PNG"):
        annoconv.save(escape, tmp_path / "o", "semantic-png")
    with pytest.raises(ValueError, match="labels_order 'depth' is not one of"):
        annoconv.save(twins, tmp_path / "o", "semantic-png", labels_order=["depth"])
    assert not (tmp_path / "o").exists()


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    ds = annoconv.load(GS)
    calls = []
    real = semantic_png._save_png

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(semantic_png, "_save_png", failing)
    with pytest.raises(OSError, match="disk full"):
        annoconv.save(ds, tmp_path / "out", "semantic-png")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "label_classes.json").write_text("old")
    calls.clear()
    with pytest.raises(OSError):
        annoconv.save(ds, tmp_path / "out", "semantic-png")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["label_classes.json"]
    assert (tmp_path / "out" / "label_classes.json").read_text() == "old"


# --------------------------------------------------------------------------------------
# invalid input
# --------------------------------------------------------------------------------------


def _folder(tmp_path: Path, table, images: dict[str, np.ndarray] | None = None) -> Path:
    d = tmp_path / "sem"
    (d / "ds").mkdir(parents=True)
    (d / "label_classes.json").write_text(table if isinstance(table, str) else json.dumps(table))
    for name, arr in (images or {}).items():
        Image.fromarray(arr).save(d / "ds" / name)
    return d


TABLE = [{"id": "u1", "color": "#ff0000ff", "png_index": 1, "name": "a", "type": "object"},
         {"id": "u2", "color": "#00ff00ff", "png_index": 2, "name": "b", "type": "background"}]


@pytest.mark.parametrize(("table", "message"), [
    ({"name": "a"}, "label_classes.json: $: expected an array of label classes, got an object"),
    ([{"name": "a"}], "label_classes.json: $[0].png_index: expected an integer 1..65535, got null"),
    ([{"name": "a", "png_index": 0}], "label_classes.json: $[0].png_index: expected an integer 1..65535, got 0"),
    ([{"png_index": 1}], "label_classes.json: $[0].name: expected a class name string, got null"),
    ([TABLE[0], {**TABLE[1], "png_index": 1}],
     "label_classes.json: $[1].png_index: png_index 1 is already the index of class 'a'"),
    (json.dumps(TABLE)[:40], "label_classes.json: invalid JSON at line 1 column 37: Unterminated string starting at"),
])
def test_invalid_class_table(tmp_path, table, message):
    d = _folder(tmp_path, table)
    with pytest.raises(ParseError) as e:
        annoconv.convert(d, tmp_path / "out", to="semantic-png", from_="semantic-png")
    assert str(e.value) == f"{d}/{message}"
    assert not (tmp_path / "out").exists()


def test_invalid_pixels(tmp_path):
    bad = np.zeros((2, 3), np.uint8)
    bad[1, 2] = 7
    d = _folder(tmp_path, TABLE, {"x.png": bad})
    with pytest.raises(ParseError) as e:
        annoconv.load(d)
    assert str(e.value) == (f"{d}/ds/x.png: pixel value 7 at (x=2, y=1) is not a class index "
                            "of label_classes.json")
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 1] = (255, 0, 0)
    rgb[1, 1] = (1, 2, 3)
    (d / "ds" / "x.png").unlink()
    Image.fromarray(rgb).save(d / "ds" / "y.png")
    with pytest.raises(ParseError) as e:
        annoconv.load(d)
    assert str(e.value) == (f"{d}/ds/y.png: pixel colour (1, 2, 3) at (x=1, y=1) is not the "
                            "colour of a class in label_classes.json")
    rgb[1, 1] = (2, 2, 2)  # a gray pixel reads as png_index 2
    Image.fromarray(rgb).save(d / "ds" / "y.png")
    ds = annoconv.load(d)
    assert {a.category_id: a.shape.area for a in ds.samples[0].annotations} == {1: 1, 2: 1}
    (d / "ds" / "y.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    with pytest.raises(ParseError, match=r"ds/y.png: not a readable image"):
        annoconv.load(d)


def test_gray_rgb_layout_survives_a_same_format_round_trip(tmp_path):
    # the other RGB layout the reader accepts: R = G = B = png_index, not the class colours
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 0], rgb[1, 2] = (1, 1, 1), (2, 2, 2)
    d = _folder(tmp_path, TABLE, {"x.png": rgb})
    report = annoconv.convert(d, tmp_path / "out", to="semantic-png")
    assert report.lossless
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "ds" / "x.png")), rgb)
    # a file painted with the class colours keeps them
    rgb[0, 0], rgb[1, 2] = (255, 0, 0), (0, 255, 0)
    Image.fromarray(rgb).save(d / "ds" / "x.png")
    annoconv.convert(d, tmp_path / "out2", to="semantic-png")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out2" / "ds" / "x.png")), rgb)


def test_a_colour_two_classes_share_is_an_error_where_it_is_used(tmp_path):
    table = [TABLE[0], {**TABLE[1], "color": "#ff000080"}]  # the same RGB as class 'a'
    rgb = np.zeros((2, 2, 3), np.uint8)
    d = _folder(tmp_path, table, {"x.png": rgb})
    assert annoconv.load(d).samples[0].annotations == ()  # not used: readable
    rgb[1, 0] = (255, 0, 0)
    Image.fromarray(rgb).save(d / "ds" / "x.png")
    with pytest.raises(ParseError) as e:
        annoconv.load(d)
    assert str(e.value) == (f"{d}/ds/x.png: pixel colour (255, 0, 0) at (x=0, y=1) is the colour "
                            "of two classes in label_classes.json")


def test_index_png_same_format_round_trip_keeps_modes_palettes_and_table(tmp_path):
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    table = {"dataset": "voc", "classes": [{"index": 1, "name": "car", "color": [9, 9, 9]},
                                            {"index": 2, "name": "road", "color": [8, 8, 8]}]}
    (src / "class_map.json").write_text(json.dumps(table))  # no "background": 0 meant
    gray = np.array([[0, 1], [2, 1]], np.uint8)
    Image.fromarray(gray, "L").save(src / "a" / "g.png")
    pal = Image.fromarray(gray, "P")
    pal.putpalette([(i * 7) % 256 for i in range(768)])  # a 256-colour palette of its own
    pal.save(src / "a" / "P.PNG", transparency=0)  # an upper-case suffix, index 0 transparent
    report = annoconv.convert(src, tmp_path / "out", to="index-png")
    assert report.lossless
    assert json.loads((tmp_path / "out" / "class_map.json").read_text()) == table
    for name in ("g.png", "P.PNG"):
        a, b = Image.open(src / "a" / name), Image.open(tmp_path / "out" / "a" / name)
        assert (a.mode, a.getpalette(), a.info.get("transparency")) == (b.mode, b.getpalette(), b.info.get("transparency"))
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_index_png_options_are_honoured_over_the_modes_read(tmp_path):
    before = annoconv.load(IDX).stats()["per_category"]
    annoconv.convert(IDX, tmp_path / "bg", to="index-png", background=7)  # 7 is past the 4-entry palettes
    assert annoconv.load(tmp_path / "bg").stats()["per_category"] == before
    annoconv.convert(IDX, tmp_path / "gray", to="index-png", palette=False)
    assert {Image.open(p).mode for p in (tmp_path / "gray").rglob("*.png")} == {"L"}
    # an 8-bit grayscale file read from index-png is no field another format loses
    report = annoconv.load(tmp_path / "gray"), annoconv.ConversionReport(max_examples=100)
    ds, report = report
    annoconv.save(ds, tmp_path / "c.json", "coco", report=report)
    assert not [e for e in report.examples.get("field_dropped", []) if e.startswith("image") and "index_png" in e]
    assert not any(s.extra for s in ds.samples)


def test_semantic_tables_count_what_the_other_cannot_hold(tmp_path):
    report = annoconv.convert(GS, tmp_path / "idx", to="index-png")
    assert "category 'car': description, id, use_description_as_prompt" in report.examples["field_dropped"]
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 128)  # a half-transparent label pixel
    d = _folder(tmp_path, TABLE, {"x.png": rgba})
    report = annoconv.convert(d, tmp_path / "out", to="semantic-png")
    assert report.examples["field_dropped"] == ["image 'x.png': alpha channel (written opaque)"]
    src = tmp_path / "la"  # an index-png LA file, written in another mode: the alpha is still lost
    (src / "a").mkdir(parents=True)
    (src / "class_map.json").write_text(json.dumps({"background": 0, "classes": [{"index": 1, "name": "car"}]}))
    Image.fromarray(np.dstack([np.eye(2, dtype=np.uint8), np.full((2, 2), 128, np.uint8)]), "LA").save(src / "a" / "x.png")
    for options in ({}, {"palette": False}, {"background": 3}):
        report = annoconv.convert(src, tmp_path / f"o{len(options)}{list(options)}", to="index-png", **options)
        assert report.examples["field_dropped"] == ["image 'x.png': alpha channel (written opaque)"], options


def test_semantic_writers_build_inside_the_target_folder(tmp_path, monkeypatch):
    import tempfile

    made = []
    real = tempfile.mkdtemp

    def spy(*args, **kwargs):
        made.append(Path(kwargs.get("dir") or args[2]))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkdtemp", spy)
    for fmt in ("semantic-png", "index-png"):
        annoconv.convert(GS, tmp_path / fmt, to=fmt)
        assert made[-1] == tmp_path / fmt  # a mount point: the same file system as the target


@pytest.mark.parametrize("cut", [1, 8, 17, 30, 45, 60, -20, -1])
def test_truncated_png(tmp_path, cut):
    d = _folder(tmp_path, TABLE, {"x.png": np.ones((6, 9), np.uint8)})
    data = (d / "ds" / "x.png").read_bytes()
    (d / "ds" / "x.png").write_bytes(data[:cut])
    with pytest.raises(ParseError) as e:
        annoconv.load(d)
    assert str(e.value).startswith(f"{d}/ds/x.png: not a readable image")


@pytest.mark.parametrize(("cmap", "message"), [
    ([], "class_map.json: $: expected a class map object, got an array"),
    ({"classes": [{"index": 0, "name": "a"}]}, "class_map.json: $.classes[0].index: index 0 is already the background value"),
    ({"classes": [{"index": 1, "name": "a", "color": [1, 2]}]},
     "class_map.json: $.classes[0].color: expected [r, g, b] of integers 0..255, got [1, 2]"),
    ({"background": -1, "classes": []}, "class_map.json: $.background: expected an integer 0..65535, got -1"),
])
def test_invalid_class_map(tmp_path, cmap, message):
    (tmp_path / "class_map.json").write_text(json.dumps(cmap))
    with pytest.raises(ParseError) as e:
        annoconv.load(tmp_path, "index-png")
    assert str(e.value) == f"{tmp_path}/{message}"


def test_index_png_rejects_rgb(tmp_path):
    (tmp_path / "class_map.json").write_text(json.dumps({"classes": [{"index": 1, "name": "a"}]}))
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(ParseError) as e:
        annoconv.load(tmp_path)
    assert str(e.value) == f"{tmp_path}/a.png: expected a single-channel index PNG, got mode RGB"


@given(st.integers(0, 2), st.sampled_from(["id", "color", "png_index", "name", "type"]),
       st.sampled_from([None, True, 0, 3, -1, 2.5, "x", "#zzzzzz", [], {}, 70000]), st.booleans())
def test_damaged_class_tables(i, key, value, delete):
    table = json.loads((GS / "label_classes.json").read_text())
    if delete:
        del table[i][key]
    else:
        table[i][key] = value
    try:
        cats = semantic_png.parse_classes(table, "t.json")
    except ParseError as e:
        assert str(e).startswith("t.json: $[")  # this class, or the one sharing its index
        return
    assert [c.extra["semantic_png"].get("png_index") for c in cats] == [t["png_index"] for t in table]


@pytest.mark.parametrize("fmt", ["semantic-png", "index-png"])
def test_samples_without_size_or_labels_are_skipped(tmp_path, fmt):
    ds = Dataset(categories=(Category(id=1, name="a"),), samples=(
        Sample(id=1, file_name="a.jpg", width=4, height=2, annotations=(
            Annotation(id=1, category_id=1, shape=Box(x0=0, y0=0, x1=2, y1=2)),)),
        Sample(id=2, file_name="b.jpg")))
    report = annoconv.save(ds, tmp_path / "out", fmt)
    assert report.count("size_unknown") == 1
    assert not any(p.name.startswith("b") for p in (tmp_path / "out").rglob("*.png"))


# --------------------------------------------------------------------------------------
# review findings: empty images, replacing an export, exact indices and modes, colours
# --------------------------------------------------------------------------------------


def test_zero_size_image_gets_no_png_and_is_counted(tmp_path):
    doc = json.loads((ROOT / "fixtures" / "hasty" / "example_v1.1.json").read_text())
    doc["images"].append({"image_name": "empty.jpg", "dataset_name": "train", "width": 0,
                          "height": 0, "labels": []})
    (tmp_path / "hasty.json").write_text(json.dumps(doc))
    report = annoconv.convert(tmp_path / "hasty.json", tmp_path / "out", to="semantic-png")
    assert report.count("empty_image") == 1 and report.samples == len(doc["images"]) - 1
    assert report.examples["empty_image"] == [
        "image 'empty.jpg': 0x0 (width x height), no PNG can hold it"]
    assert "train/empty.png" not in png_arrays(tmp_path / "out") and len(png_arrays(tmp_path / "out")) == report.samples
    # a 0-sized mask (no size on the sample) too, and index-png the same
    ds = Dataset(categories=(Category(id=1, name="a"),), samples=(Sample(id=1, file_name="z.png", annotations=(
        Annotation(id=1, category_id=1, shape=Mask(rle=__import__("annoconv").rle.empty(0, 3))),)),))
    report = annoconv.save(ds, tmp_path / "idx", "index-png")
    assert report.examples["empty_image"] == ["image 'z.png': 3x0 (width x height), no PNG can hold it"]


def _one_box(name: str, subset: str | None = None) -> Sample:
    return Sample(id=name, file_name=f"{name}.jpg", subset=subset, width=3, height=2, annotations=(
        Annotation(id=1, category_id=1, shape=Box(x0=0, y0=0, x1=2, y1=1)),))


@pytest.mark.parametrize(("fmt", "table"), [("semantic-png", "label_classes.json"),
                                            ("index-png", "class_map.json")])
def test_writing_into_an_export_replaces_it(tmp_path, fmt, table):
    cats = (Category(id=1, name="car"),)
    out = tmp_path / "out"
    annoconv.save(Dataset(categories=cats, samples=(_one_box("a"), _one_box("b", "old"))), out, fmt)
    (out / "notes.txt").write_text("mine")
    annoconv.save(Dataset(categories=cats, samples=(_one_box("c"),)), out, fmt)
    assert sorted(s.id for s in annoconv.load(out).samples) == ["c"]  # not a, b and c
    assert sorted(p.name for p in out.iterdir()) == sorted(["c.png", "notes.txt", table])  # old/ removed
    # a non-empty folder that is not such an export is not replaced
    other = tmp_path / "other"
    other.mkdir()
    (other / "photo.png").write_bytes(b"not ours")
    with pytest.raises(WriteError) as e:
        annoconv.save(Dataset(categories=cats, samples=(_one_box("c"),)), other, fmt)
    assert str(e.value) == (f"{other}: cannot write: the folder is not empty and has no {table} "
                            "(it is not an export to replace); choose an empty or new folder")
    assert [p.name for p in other.iterdir()] == ["photo.png"]


def _table(indices: list[int]) -> list[dict]:
    return [{"id": f"u{i}", "color": f"#{i % 256:02x}4080ff", "png_index": i, "name": f"c{i}",
             "type": "object"} for i in indices]


def test_png_index_and_png_mode_survive_a_same_format_round_trip(tmp_path):
    src = tmp_path / "src"
    (src / "ds").mkdir(parents=True)
    (src / "label_classes.json").write_text(json.dumps(_table([300, 2, 7])))
    Image.fromarray(np.array([[0, 300, 2], [7, 7, 0]], np.uint16)).save(src / "ds" / "wide.png")
    pal = Image.fromarray(np.array([[0, 2, 2], [7, 0, 0]], np.uint8))
    pal.putpalette([0, 0, 0, 9, 9, 9, 200, 10, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])
    pal.save(src / "ds" / "pal.png")
    Image.fromarray(np.array([[0, 0, 0], [0, 0, 0]], bool)).save(src / "ds" / "bilevel.png")
    report = annoconv.convert(src, tmp_path / "out", to="semantic-png")
    assert report.lossless
    assert json.loads((tmp_path / "out" / "label_classes.json").read_text()) == _table([300, 2, 7])
    for name in ("wide.png", "pal.png", "bilevel.png"):
        a, b = read_png(src / "ds" / name), read_png(tmp_path / "out" / "ds" / name)
        assert a[1:] == b[1:] and a[0].dtype == b[0].dtype and np.array_equal(a[0], b[0]), name
    # what no longer fits the mode read is written in the default mode, counted
    ds = annoconv.load(src)
    c300 = ds.categories[0]
    moved = Dataset(categories=(c300, *ds.categories[1:]), samples=tuple(
        s if s.id != "ds/pal" else Sample(id=s.id, file_name=s.file_name, subset=s.subset,
                                          width=3, height=2, extra=s.extra, annotations=(
                                              Annotation(id=1, category_id=c300.id, shape=Box(x0=0, y0=0, x1=1, y1=1)),))
        for s in ds.samples), info=ds.info)
    report = annoconv.save(moved, tmp_path / "moved", "semantic-png")
    assert dict(report.counts) == {"png_mode_changed": 1}
    assert report.examples["png_mode_changed"] == ["image 'pal.png': PNG mode P cannot hold the pixels written"]
    assert read_png(tmp_path / "moved" / "ds" / "pal.png")[0].tolist() == [[300, 0, 0], [0, 0, 0]]
    # a class added to data read keeps the others' indices and gets the smallest free one
    new = Dataset(categories=(*ds.categories, Category(id=9, name="new")), samples=ds.samples, info=ds.info)
    report = annoconv.save(new, tmp_path / "added", "semantic-png")
    table = json.loads((tmp_path / "added" / "label_classes.json").read_text())
    assert [c["png_index"] for c in table] == [300, 2, 7, 1]
    assert report.examples["id_assigned"] == ["label_classes.json: png_index of class 'new'"]


def test_class_color_holds_more_classes_than_the_palette(tmp_path):
    n = 40
    cats = tuple(Category(id=i, name=f"c{i}") for i in range(1, n + 1))
    cats = (*cats[:5], Category(id=99, name="red", color=(31, 120, 180)), *cats[5:])  # = PALETTE[1]
    anns = tuple(Annotation(id=c.id, category_id=c.id, shape=Box(x0=k, y0=0, x1=k + 1, y1=1))
                 for k, c in enumerate(cats))
    ds = Dataset(categories=cats, samples=(Sample(id=1, file_name="a.png", width=len(cats), height=1,
                                                  annotations=anns),))
    report = annoconv.save(ds, tmp_path / "out", "semantic-png", semantic_format="class_color")
    assert report.lossless
    table = json.loads((tmp_path / "out" / "label_classes.json").read_text())
    colors = [c["color"] for c in table]
    assert len(set(c[:7] for c in colors)) == len(cats) and "#000000ff" not in colors
    # the palette by position, skipping the colour class 'red' has: the first generated one
    assert colors[:3] == ["#a6cee3ff", "#9e3779ff", "#b2df8aff"] and colors[5] == "#1f78b4ff"
    back = annoconv.load(tmp_path / "out")
    got = {back.category_by_id(a.category_id).name: a.shape.to_array().nonzero()[1].tolist()
           for a in back.samples[0].annotations}
    assert got == {c.name: [k] for k, c in enumerate(cats)}
    # the same colours every time
    annoconv.save(ds, tmp_path / "again", "semantic-png", semantic_format="class_color")
    assert (tmp_path / "again" / "label_classes.json").read_text() == (tmp_path / "out" / "label_classes.json").read_text()
