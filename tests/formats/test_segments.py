"""Segments.ai release files: sanity, invalid input, truncation, round trips, SDK oracles."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as npst
from PIL import Image

import annoconv
from annoconv import rle
from annoconv.errors import ConversionError, ParseError, WriteError
from annoconv.formats import segments as S
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

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "segments"
SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "segments_release.json"
FIX_IDS = np.array([[0, 1, 1, 0], [0, 1, 1, 2], [2, 2, 2, 2]], np.uint32)
FIX_URL = "https://example.com/labels/street_001_ground-truth.png"
GT = "labels['ground-truth']"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIX / name).read_text())


def assert_ordered_equal(a: Any, b: Any, path: str = "$") -> None:
    """Equal, with dict keys in the same order and ints staying ints."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), f"{path}: keys {list(a)} != {list(b)}"
        for k in a:
            assert_ordered_equal(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{path}: {len(a)} != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_ordered_equal(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def png_rgba(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.array(im)


def ids_of(data: bytes) -> np.ndarray:
    return S.decode_bitmap(data)[0]


def masks_of(sample: Sample) -> dict[Any, np.ndarray]:
    return {a.id: a.shape.to_array() for a in sample.annotations if isinstance(a.shape, Mask)}


def bitmap_release(images: list[np.ndarray], categories: tuple[int, ...] = (1, 2)) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A bitmap release with one sample per id image, one annotation per non-zero id
    (category cycling through ``categories``), and the id images by URL."""
    samples, sources = [], {}
    for i, ids in enumerate(images):
        url = f"https://example.com/l/{i}.png"
        sources[url] = ids
        anns = [{"id": int(v), "category_id": categories[k % len(categories)]}
                for k, v in enumerate(np.unique(ids[ids > 0]).tolist())]
        samples.append({"uuid": f"u{i}", "name": f"img_{i}.jpg", "attributes": {"image": {"url": f"https://example.com/{i}.jpg"}},
                        "metadata": {}, "labels": {"ground-truth": {"label_status": "LABELED", "attributes": {
                            "format_version": "0.1", "annotations": anns, "segmentation_bitmap": {"url": url}}}}})
    doc = {"name": "v1", "dataset": {"name": "d", "owner": "me", "task_type": "segmentation-bitmap",
                                     "task_attributes": {"format_version": "0.1", "categories": [
                                         {"id": c, "name": f"c{c}", "color": [c, 0, 0]} for c in categories]},
                                     "labelsets": [{"name": "ground-truth", "description": ""}], "samples": samples}}
    return doc, sources


def parse_bitmap(doc: dict[str, Any], sources: dict[str, Any], **kw: Any) -> Dataset:
    return S.parse(doc, "r.json", bitmaps=lambda url, ptr: sources[url], **kw)


def png16(width: int, height: int, color_type: int, values: list[int]) -> bytes:
    """A hand-made 16-bit PNG (Pillow cannot write 16-bit RGB/RGBA)."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    rows = b"".join(b"\x00" + struct.pack(f">{width * channels}H", *values[r * width * channels:(r + 1) * width * channels])
                    for r in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def pil_png(arr: np.ndarray, mode: str | None = None, palette: list[int] | None = None) -> bytes:
    im = Image.fromarray(arr) if mode is None else Image.fromarray(arr).convert(mode)
    if palette is not None:
        im.putpalette(palette)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


@contextlib.contextmanager
def sdk_serving(files: dict[str, bytes]):
    """Serve URLs to the SDK offline: its module-level requests session is patched."""
    import segments.utils as su

    class Response:
        def __init__(self, content: bytes) -> None:
            self.content = content

    def fake_get(url: str, *args: Any, **kwargs: Any) -> Response:
        return Response(files[url])

    with mock.patch.object(su.session, "get", fake_get):
        yield


def write_release(tmp: Path, doc: dict[str, Any], pngs: dict[str, bytes] | None = None) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    p = tmp / "release.json"
    p.write_text(json.dumps(doc))
    for name, data in (pngs or {}).items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_bytes(data)
    return p


def fixture_copy(tmp: Path) -> Path:
    """The bitmap fixture in a temporary folder with its PNG beside it."""
    return write_release(tmp, fixture("release_bitmap.json"),
                         {"street_001_ground-truth.png": (FIX / "street_001_ground-truth.png").read_bytes()})


id_values = st.one_of(st.integers(0, 3), st.integers(250, 260), st.integers(65530, 65540),
                      st.integers(1, S.MAX_ID), st.just(S.MAX_ID))


@st.composite
def id_images(draw: st.DrawFn, max_side: int = 8, values: st.SearchStrategy[int] = id_values) -> np.ndarray:
    """Small id images: few distinct ids (runs), ids past 255 and 65535, empty and full."""
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    palette = draw(st.lists(values, min_size=1, max_size=5))
    idx = draw(npst.arrays(np.int64, (h, w), elements=st.integers(0, len(palette) - 1)))
    return np.asarray(palette, np.uint32)[idx]


# --------------------------------------------------------------------------------------
# sanity
# --------------------------------------------------------------------------------------


def test_read_bitmap_fixture():
    report = ConversionReport()
    ds = annoconv.load(FIX / "release_bitmap.json", report=report)
    assert report.lossless
    assert ds.info["name"] == "streets"
    assert [(c.id, c.name, c.color, c.kind) for c in ds.categories] == [
        (1, "car", (255, 0, 0, 255), "thing"), (2, "road", (128, 64, 128, 255), "stuff")]
    assert [(a.name, a.type, a.values, a.category_ids, a.scope, a.default) for a in ds.attribute_specs] == [
        ("occluded", "bool", (), (1,), "annotation", False),
        ("colour", "select", ("red", "blue", "other"), (1,), "annotation", "other"),
        ("weather", "select", ("sunny", "rainy"), None, "image", None),
    ]
    s1, s3 = ds.samples
    assert (s1.id, s1.file_name, s1.width, s1.height, s1.status) == (
        "0b0e6f7e-0000-4000-8000-000000000001", "street_001.jpg", 4, 3, Status.REVIEWED)
    assert s1.attributes == {"weather": "sunny"}
    assert s1.extra["segments"]["label_status"] == "REVIEWED"
    car, road = s1.annotations
    assert (car.id, car.category_id, car.attributes, car.score) == (1, 1, {"occluded": False, "colour": "red"}, None)
    np.testing.assert_array_equal(car.shape.to_array(), FIX_IDS == 1)
    np.testing.assert_array_equal(road.shape.to_array(), FIX_IDS == 2)
    # the numbers of specs/segments.md §6.1 (measured with the SDK's coco-instance export)
    assert (rle.to_bbox(car.shape.rle).tolist(), car.shape.area, rle.to_coco(car.shape.rle)["counts"]) == (
        [1, 0, 2, 2], 4, "32103")
    assert (rle.to_bbox(road.shape.rle).tolist(), road.shape.area, rle.to_coco(road.shape.rle)["counts"]) == (
        [0, 1, 4, 2], 5, "212000O1")
    assert (s3.status, s3.annotations, s3.width, s3.extra["segments"]["label_status"]) == (Status.NEW, (), None, None)


def test_read_vector_fixture():
    ds = annoconv.load(FIX / "release_vector.json")
    (s,) = ds.samples
    assert (s.status, s.attributes, s.width) == (Status.DONE, {"weather": "rainy"}, None)
    box, poly, line, point = s.annotations
    assert box.shape == Box(x0=10.0, y0=20.0, x1=50.5, y1=60.25)
    assert box.attributes == {"occluded": True, "colour": "blue"} and box.track_id == 1
    assert poly.shape == Polygon.from_rings([(0.0, 80.0), (100.0, 80.0), (100.0, 100.0), (0.0, 100.0)])
    assert line.shape == Polyline(points=[[0.0, 90.0], [50.0, 85.0], [100.0, 90.0]])
    assert point.shape == Keypoints(points=[[30.0, 40.0]], visibility=[2])
    assert [a.category_id for a in s.annotations] == [1, 2, 2, 1]
    assert [a.track_id for a in s.annotations] == [1, 2, 3, 4]


def test_sniff():
    assert S.sniff(FIX / "release_bitmap.json", (FIX / "release_bitmap.json").read_bytes()) == 2
    assert S.sniff(Path("x.json"), b'{"name": "v1", "dataset": {"name": "d", "task_type": "vector"') == 1
    assert S.sniff(Path("x.json"), b'{"images": [], "annotations": [], "categories": []}') == 0
    assert S.sniff(Path("x.json"), b'[{"dataset": {"task_type": 1}}]') == 0
    assert annoconv.detect_format(FIX / "release_vector.json") == "segments"


def test_read_with_images_folder_gives_sizes(tmp_path):
    p = write_release(tmp_path, fixture("release_vector.json"))
    (tmp_path / "img").mkdir()
    Image.new("RGB", (120, 110)).save(tmp_path / "img" / "street_002.jpg")
    ds = annoconv.load(p, images=tmp_path / "img")
    assert (ds.samples[0].width, ds.samples[0].height) == (120, 110)
    report = ConversionReport()
    annoconv.load(p, images=tmp_path, report=report)
    assert report.count("image_missing") == 1


def test_read_bitmap_from_bitmaps_folder_and_relative_url(tmp_path):
    doc = fixture("release_bitmap.json")
    p = write_release(tmp_path / "rel", doc)
    png = (FIX / "street_001_ground-truth.png").read_bytes()
    (tmp_path / "pngs").mkdir()
    (tmp_path / "pngs" / "street_001_ground-truth.png").write_bytes(png)
    ds = annoconv.load(p, bitmaps=tmp_path / "pngs")
    np.testing.assert_array_equal(ds.samples[0].annotations[0].shape.to_array(), FIX_IDS == 1)
    # a relative URL is a path beside the release; file:// URLs are local paths
    doc["dataset"]["samples"][0]["labels"]["ground-truth"]["attributes"]["segmentation_bitmap"]["url"] = "sub/a.png"
    p = write_release(tmp_path / "rel2", doc, {"sub/a.png": png})
    assert annoconv.load(p).samples[0].width == 4
    doc["dataset"]["samples"][0]["labels"]["ground-truth"]["attributes"]["segmentation_bitmap"]["url"] = (
        (tmp_path / "pngs" / "street_001_ground-truth.png").as_uri())
    p = write_release(tmp_path / "rel3", doc)
    assert annoconv.load(p).samples[0].height == 3


def test_filter_by_and_labelset():
    doc = fixture("release_vector.json")
    doc["dataset"]["labelsets"].append({"name": "predictions", "description": "model"})
    pred = {"label_status": "PRELABELED", "score": 0.75, "attributes": {"annotations": [
        {"id": 9, "category_id": 2, "type": "point", "points": [[1, 2]]}]}}
    s2 = copy.deepcopy(doc["dataset"]["samples"][0])
    s2["uuid"], s2["labels"] = "u2", {"ground-truth": None, "predictions": None}
    doc["dataset"]["samples"][0]["labels"]["predictions"] = pred
    doc["dataset"]["samples"].append(s2)
    ds = S.parse(doc, labelset="predictions")
    s, t = ds.samples
    assert (s.status, t.status) == (Status.PRELABELED, Status.NEW)
    (a,) = s.annotations
    assert (a.id, a.score, a.shape) == (9, 0.75, Keypoints(points=[[1, 2]], visibility=[2]))
    assert s.extra["segments"]["labels"]["ground-truth"] == doc["dataset"]["samples"][0]["labels"]["ground-truth"]
    assert [x.id for x in S.parse(doc, filter_by=["labeled"]).samples] == ["0b0e6f7e-0000-4000-8000-000000000002"]
    assert [x.id for x in S.parse(doc, filter_by="UNLABELED").samples] == ["u2"]
    assert [x.id for x in S.parse(doc, labelset="predictions", filter_by=["unlabeled"]).samples] == ["u2"]
    # both labelsets survive a round trip; the one read is rebuilt from the model
    assert_ordered_equal(S.emit(ds), doc)


def test_number_attribute_types():
    doc = fixture("release_vector.json")
    cat = doc["dataset"]["task_attributes"]["categories"][1]
    cat["attributes"] = [
        {"name": "lanes", "input_type": "number", "min": "1", "max": "8", "step": "1"},
        {"name": "width", "input_type": "number", "min": 0, "max": 10.5, "step": 0.5},
        {"name": "pose", "input_type": "vector3"},
        {"name": "tags", "input_type": "multiselect", "values": ["a", "b"], "is_mandatory": True},
    ]
    ds = S.parse(doc)
    specs = {a.name: a for a in ds.attribute_specs}
    assert [specs[n].type for n in ("lanes", "width", "pose", "tags")] == ["int", "float", "text", "multiselect"]
    assert specs["pose"].extra["segments"]["other"] == {"input_type": "vector3"}
    assert specs["lanes"].category_ids == (2,)
    assert_ordered_equal(S.emit(ds), doc)


# --------------------------------------------------------------------------------------
# invalid input: one located ParseError each, with the exact message
# --------------------------------------------------------------------------------------

V = "release_vector.json"
B = "release_bitmap.json"
VA = f"$.dataset.samples[0].{GT}.attributes.annotations"


def _set(path: list[Any], value: Any):
    def f(doc: dict[str, Any]) -> Any:
        obj = doc
        for k in path[:-1]:
            obj = obj[k]
        if value is _DELETE:
            del obj[path[-1]]
        else:
            obj[path[-1]] = value
        return doc
    return f


_DELETE = object()
_S0 = ["dataset", "samples", 0]
_L0 = [*_S0, "labels", "ground-truth"]
_A = [*_L0, "attributes", "annotations"]
_C = ["dataset", "task_attributes", "categories"]

INVALID = [
    (V, lambda d: [], "$: expected an object, got []"),
    (V, _set(["dataset"], _DELETE), "$: missing required key 'dataset'"),
    (V, _set(["dataset", "task_type"], "pointcloud-cuboid"),
     "$.dataset.task_type: task type 'pointcloud-cuboid' is not supported; annoconv reads "
     "segmentation-bitmap, segmentation-bitmap-highres, vector, bboxes, keypoints"),
    (V, _set(["dataset", "labelsets"], []), "$.dataset.labelsets: expected at least one labelset, got an empty list"),
    (V, _set([*_C, 0, "id"], "1"), "$.dataset.task_attributes.categories[0].id: expected an integer, got '1'"),
    (V, _set([*_C, 1, "id"], 1), "$.dataset.task_attributes.categories[1].id: category id 1 appears more than once"),
    (V, _set([*_C, 0, "color"], [255, 0]),
     "$.dataset.task_attributes.categories[0].color: expected [r, g, b] or [r, g, b, a] with numbers 0-255, got [255, 0]"),
    (V, _set([*_C, 0, "color"], "#ff0000"),
     "$.dataset.task_attributes.categories[0].color: expected [r, g, b] or [r, g, b, a] with numbers 0-255, got '#ff0000'"),
    (V, _set([*_C, 0, "has_instances"], "yes"),
     "$.dataset.task_attributes.categories[0].has_instances: expected true or false, got 'yes'"),
    (V, _set([*_C, 0, "attributes", 0, "input_type"], _DELETE),
     "$.dataset.task_attributes.categories[0].attributes[0]: missing required key 'input_type'"),
    (V, _set([*_C, 0, "attributes", 1, "values"], ["red", 2]),
     "$.dataset.task_attributes.categories[0].attributes[1].values: expected a list of strings, got [\"red\", 2]"),
    (V, _set(["dataset", "samples"], {}), "$.dataset.samples: expected a list, got an object"),
    (V, _set([*_S0, "uuid"], _DELETE), "$.dataset.samples[0]: missing required key 'uuid'"),
    (V, _set([*_S0, "labels"], []), "$.dataset.samples[0].labels: expected an object, got []"),
    (V, _set([*_L0, "label_status"], _DELETE), f"$.dataset.samples[0].{GT}: missing required key 'label_status'"),
    (V, _set([*_L0, "score"], "high"), f"$.dataset.samples[0].{GT}.score: expected a number or null, got 'high'"),
    (V, _set([*_L0, "attributes", "image_attributes"], []),
     f"$.dataset.samples[0].{GT}.attributes.image_attributes: expected an object, got []"),
    (V, _set([*_L0, "attributes", "annotations"], None),
     f"$.dataset.samples[0].{GT}.attributes.annotations: expected a list, got null"),
    (V, _set([*_A, 0, "id"], "1"), f"{VA}[0].id: expected an integer, got '1'"),
    (V, _set([*_A, 1, "id"], 1), f"{VA}[1].id: id 1 appears twice in this label (also annotation 0)"),
    (V, _set([*_A, 0, "category_id"], 1.5), f"{VA}[0].category_id: expected an integer, got 1.5"),
    (V, _set([*_A, 0, "track_id"], "t1"), f"{VA}[0].track_id: expected an integer, got 't1'"),
    (V, _set([*_A, 0, "attributes"], ["x"]), f"{VA}[0].attributes: expected an object, got [\"x\"]"),
    (V, _set([*_A, 0, "type"], "rectangle"), f"{VA}[0].type: expected 'bbox', 'polygon', 'polyline' or 'point', got 'rectangle'"),
    (V, _set([*_A, 0, "points"], [[0, 0], [1, 1], [2, 2]]), f"{VA}[0].points: a bbox needs exactly 2 points, got 3"),
    (V, _set([*_A, 3, "points"], [[0, 0], [1, 1]]), f"{VA}[3].points: a point needs exactly 1 point, got 2"),
    (V, _set([*_A, 1, "points"], [[0, 0], [1, 1]]), f"{VA}[1].points: a polygon needs at least 3 points, got 2"),
    (V, _set([*_A, 2, "points"], [[0, 0]]), f"{VA}[2].points: a polyline needs at least 2 points, got 1"),
    (V, _set([*_A, 2, "points"], [[0, 0], [1, 2, 3]]), f"{VA}[2].points[1]: expected [x, y] with two finite numbers, got [1, 2, 3]"),
    (V, _set([*_A, 2, "points"], [[0, 0], [True, 2]]), f"{VA}[2].points[1]: expected [x, y] with two finite numbers, got [true, 2]"),
    (V, _set([*_A, 2, "points"], [[0, 0], ["1", 2]]), f"{VA}[2].points[1]: expected [x, y] with two finite numbers, got [\"1\", 2]"),
    (V, _set([*_A, 2, "points"], [[0, 0], [1e400, 2]]), f"{VA}[2].points[1]: expected [x, y] with two finite numbers, got [Infinity, 2]"),
    (V, _set([*_A, 2, "points"], "0,0 1,1"), f"{VA}[2].points: expected a list of [x, y] points, got '0,0 1,1'"),
    (V, _set([*_A, 3, "points"], [[2**63, 4]]), f"{VA}[3].points[0]: coordinate 9223372036854775808 is beyond the 64-bit integer range"),
    (V, _set([*_A, 2, "points"], [[0, 0], [1, -(2**64)]]),
     f"{VA}[2].points[1]: coordinate -18446744073709551616 is beyond the 64-bit integer range"),
    (B, _set([*_A, 0, "id"], 0), f"{VA}[0].id: expected an instance id in 1..16777215, got 0"),
    (B, _set([*_A, 0, "id"], 2**24), f"{VA}[0].id: expected an instance id in 1..16777215, got 16777216"),
    (B, _set([*_L0, "attributes", "segmentation_bitmap"], _DELETE),
     f"$.dataset.samples[0].{GT}.attributes: missing required key 'segmentation_bitmap'"),
    (B, _set([*_L0, "attributes", "segmentation_bitmap", "url"], 5),
     f"$.dataset.samples[0].{GT}.attributes.segmentation_bitmap.url: expected a string, got 5"),
]


@pytest.mark.parametrize(("name", "mutate", "message"), INVALID)
def test_invalid_input(name, mutate, message):
    doc = mutate(fixture(name))
    with pytest.raises(ParseError) as e:
        S.parse(doc, "r.json", bitmaps=lambda url, ptr: FIX_IDS)
    assert str(e.value) == f"r.json: {message}"


def test_unknown_labelset():
    with pytest.raises(ParseError) as e:
        S.parse(fixture("release_vector.json"), "r.json", labelset="gt")
    assert str(e.value) == ("r.json: $.dataset.labelsets: no labelset named 'gt'; the release has "
                            "'ground-truth' (choose one with labelset=)")


def test_invalid_input_is_caught_through_read(tmp_path):
    doc = fixture("release_vector.json")
    doc["dataset"]["samples"][0]["labels"]["ground-truth"]["attributes"]["annotations"][0]["points"] = [[1, 2]]
    p = write_release(tmp_path, doc)
    with pytest.raises(ParseError) as e:
        annoconv.load(p)
    assert str(e.value) == f"{p}: {VA}[0].points: a bbox needs exactly 2 points, got 1"


def test_missing_png(tmp_path):
    p = write_release(tmp_path, fixture("release_bitmap.json"))
    with pytest.raises(ParseError) as e:
        annoconv.load(p)
    assert str(e.value) == (
        f"{p}: $.dataset.samples[0].{GT}.attributes.segmentation_bitmap.url: bitmap "
        f"'{FIX_URL}' not found (looked for {tmp_path}/street_001_ground-truth.png, "
        f"{tmp_path}/release_bitmaps/street_001_ground-truth.png); the converter never downloads: "
        "save the label PNGs in one folder and pass bitmaps=")


GRAY_MSG = ("grayscale PNG: a Segments bitmap stores each instance id in the R, G and B channels "
            "(id = R + 256 G + 65536 B); a gray PNG (such as the SDK's 'instance' export, clipped at "
            "65535) does not say which ids its values are")

BAD_PNGS = [
    (pil_png(FIX_IDS.astype(np.uint8)), f"8-bit {GRAY_MSG}"),
    (pil_png(FIX_IDS.astype(np.uint16)), f"16-bit {GRAY_MSG}"),
    (pil_png(np.stack([FIX_IDS.astype(np.uint8)] * 2, -1)), f"8-bit {GRAY_MSG}"),
    (png16(4, 3, 6, [v for i in FIX_IDS.ravel().tolist() for v in (i * 257, 0, 0, 65535)]),
     "16-bit RGBA PNG: a Segments bitmap has 8 bits per channel (reading it would keep only the high byte "
     "of each channel, which is how the SDK silently misreads such files)"),
    (png16(4, 3, 2, [v for i in FIX_IDS.ravel().tolist() for v in (i, 0, 0)]),
     "16-bit RGB PNG: a Segments bitmap has 8 bits per channel (reading it would keep only the high byte "
     "of each channel, which is how the SDK silently misreads such files)"),
    (b"\xff\xd8\xff\xe0 a JPEG", "not a PNG file (a Segments bitmap is an RGBA PNG)"),
    (b"\x89PNG\r\n\x1a\n", "truncated or corrupt PNG: no IHDR header"),
]


@pytest.mark.parametrize(("data", "message"), BAD_PNGS)
def test_bad_png(tmp_path, data, message):
    p = write_release(tmp_path, fixture("release_bitmap.json"), {"street_001_ground-truth.png": data})
    with pytest.raises(ParseError) as e:
        annoconv.load(p)
    assert str(e.value) == f"{tmp_path / 'street_001_ground-truth.png'}: {message}"


@pytest.mark.parametrize("cut", [16, 33, 40, 60, 1000, -40])
def test_truncated_png(tmp_path, cut):
    png = S.encode_bitmap(np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 4093, compress_level=0)
    with pytest.raises(ParseError) as e:
        S.decode_bitmap(png[:cut], "a.png")
    assert str(e.value).startswith("a.png: truncated or corrupt PNG: ")


def test_png_of_wrong_size(tmp_path):
    p = fixture_copy(tmp_path)
    Image.new("RGB", (5, 3)).save(tmp_path / "street_001.jpg")
    with pytest.raises(ParseError) as e:
        annoconv.load(p, images=tmp_path)
    assert str(e.value) == (f"{tmp_path / 'street_001_ground-truth.png'}: bitmap is 4x3 (width x height) "
                            "but the image of sample 'street_001.jpg' is 5x3")
    Image.new("RGB", (4, 3)).save(tmp_path / "street_001.jpg")
    assert annoconv.load(p, images=tmp_path).samples[0].width == 4


def test_rgb_and_palette_pngs_are_decoded_by_colour():
    ids = np.array([[0, 300, 70000], [70000, 1, 0]], np.uint32)
    rgba = png_rgba(S.encode_bitmap(ids))
    palette = [0, 0, 0, 44, 1, 0, 112, 17, 1, 1, 0, 0]  # colours of ids 0, 300, 70000, 1
    index = np.array([[0, 1, 2], [2, 3, 0]], np.uint8)
    for data, mode in [(pil_png(rgba[..., :3]), "RGB"), (pil_png(index, palette=palette), "P"),
                       (S.encode_bitmap(ids), "RGBA")]:
        got, got_mode = S.decode_bitmap(data)
        assert got_mode == mode
        np.testing.assert_array_equal(got, ids)
    doc, _ = bitmap_release([ids])
    report = ConversionReport()
    ds = parse_bitmap(doc, {"https://example.com/l/0.png": pil_png(index, palette=palette)}, report=report)
    assert report.count("bitmap_mode") == 1
    assert {k: m.sum() for k, m in masks_of(ds.samples[0]).items()} == {1: 1, 300: 1, 70000: 2}


def test_alpha_is_ignored():
    rgba = np.array([[[7, 0, 0, 0], [7, 0, 0, 128], [7, 1, 0, 255]]], np.uint8)
    np.testing.assert_array_equal(S.decode_bitmap(pil_png(rgba))[0], [[7, 7, 263]])


# --------------------------------------------------------------------------------------
# warnings: counted, or errors with strict=True
# --------------------------------------------------------------------------------------


def _bitmap_case(ids: np.ndarray, anns: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    doc, sources = bitmap_release([ids])
    doc["dataset"]["samples"][0]["labels"]["ground-truth"]["attributes"]["annotations"] = anns
    return doc, sources


WARNINGS = [
    # (ids image, annotations, kind, strict message)
    (np.array([[1, 3], [3, 0]]), [{"id": 1, "category_id": 1}], "unlisted_id",
     f"{VA}: bitmap ids 3 (2 pixels) have no annotation"),
    (np.array([[1, 1], [0, 0]]), [{"id": 1, "category_id": 1}, {"id": 5, "category_id": 2}], "empty_mask",
     f"{VA}[1]: annotation id 5 has no pixels in the bitmap"),
    (np.array([[1, 2], [0, 0]]), [{"id": 1, "category_id": 1}, {"id": 2, "category_id": 9}], "reference_missing",
     f"{VA}[1].category_id: category id 9 is not in the release's categories"),
]


@pytest.mark.parametrize(("ids", "anns", "kind", "message"), WARNINGS)
def test_bitmap_warnings(ids, anns, kind, message):
    doc, sources = _bitmap_case(ids, anns)
    report = ConversionReport()
    ds = parse_bitmap(doc, sources, report=report)
    assert report.count(kind) == 1 and sum(report.counts.values()) == 1
    with pytest.raises(ParseError) as e:
        parse_bitmap(doc, sources, strict=True)
    assert str(e.value) == f"r.json: {message}"
    s = ds.samples[0]
    if kind == "unlisted_id":
        assert list(masks_of(s)) == [1]
    if kind == "empty_mask":
        assert s.annotations[1].shape.area == 0 and s.annotations[1].shape.rle.size == (2, 2)
    if kind == "reference_missing":  # kept, as COCO's reader keeps it (other writers skip it)
        assert [(a.id, a.category_id) for a in s.annotations] == [(1, 1), (2, 9)]
    # a same-format round trip keeps the document and every pixel (unlisted ids included)
    report = ConversionReport()
    images: dict[str, np.ndarray] = {}
    assert_ordered_equal(S.emit(ds, report, bitmaps=images), doc)
    assert list(images) == ["bitmaps/0.png"] and report.lossless
    np.testing.assert_array_equal(images["bitmaps/0.png"], ids)


def test_empty_release_and_statuses():
    doc = fixture("release_vector.json")
    doc["dataset"]["samples"] = []
    report = ConversionReport()
    ds = S.parse(doc, report=report)
    assert ds.samples == () and report.count("empty_release") == 1
    with pytest.raises(ParseError) as e:
        S.parse(doc, "r.json", strict=True)
    assert str(e.value) == "r.json: $.dataset.samples: the release has no samples"
    assert_ordered_equal(S.emit(ds), doc)

    doc = fixture("release_vector.json")
    label = doc["dataset"]["samples"][0]["labels"]["ground-truth"]
    for raw, status, kind in [("VERIFIED", Status.REVIEWED, "status_merged"), ("FROZEN", None, "status_unknown"),
                              ("LABELING_IN_PROGRESS", Status.IN_PROGRESS, None),
                              ("REVIEWING_IN_PROGRESS", Status.TO_REVIEW, None), ("UNLABELED", Status.NEW, None),
                              ("SKIPPED", Status.SKIPPED, None), ("REJECTED", Status.REJECTED, None)]:
        label["label_status"] = raw
        report = ConversionReport()
        ds = S.parse(doc, report=report)
        assert ds.samples[0].status == status
        assert report.count(kind) == (1 if kind else 0) and sum(report.counts.values()) == (1 if kind else 0)
        assert_ordered_equal(S.emit(ds), doc)  # the original string comes back


def test_bbox_max_first_is_normalised_and_given_back():
    doc = fixture("release_vector.json")
    ann = doc["dataset"]["samples"][0]["labels"]["ground-truth"]["attributes"]["annotations"][0]
    ann["points"] = [[50.5, 20.0], [10.0, 60.25]]
    report = ConversionReport()
    ds = S.parse(doc, report=report)
    assert ds.samples[0].annotations[0].shape == Box(x0=10.0, y0=20.0, x1=50.5, y1=60.25)
    assert report.count("box_normalised") == 1
    assert_ordered_equal(S.emit(ds), doc)
    with pytest.raises(ParseError) as e:
        S.parse(doc, "r.json", strict=True)
    assert str(e.value) == (f"r.json: {VA}[0].points: bbox points are not upper-left then lower-right: "
                            "[[50.5, 20.0], [10.0, 60.25]]")


def test_unknown_format_version_and_int_uuid_are_kept():
    doc = fixture("release_vector.json")
    doc["dataset"]["task_attributes"]["format_version"] = 0.2
    doc["dataset"]["samples"][0]["labels"]["ground-truth"]["attributes"]["format_version"] = "0.3"
    doc["dataset"]["samples"][0]["uuid"] = 17
    report = ConversionReport()
    ds = S.parse(doc, report=report)
    assert report.count("format_version_unknown") == 2 and ds.samples[0].id == 17
    assert_ordered_equal(S.emit(ds), doc)
    with pytest.raises(ParseError) as e:
        S.parse(doc, "r.json", strict=True)
    assert str(e.value) == "r.json: $.dataset.task_attributes.format_version: format_version 0.2 is not 0.1, the version annoconv knows"


def test_track_id_differing_from_id_is_kept_and_counted():
    doc = fixture("release_vector.json")
    doc["dataset"]["samples"][0]["labels"]["ground-truth"]["attributes"]["annotations"][0]["track_id"] = 17
    report = ConversionReport()
    ds = S.parse(doc, report=report)
    assert ds.samples[0].annotations[0].track_id == 17 and report.count("track_id_mismatch") == 1
    assert_ordered_equal(S.emit(ds), doc)


def test_label_without_bitmap_url():
    doc = fixture("release_bitmap.json")
    doc["dataset"]["samples"][0]["labels"]["ground-truth"]["attributes"]["segmentation_bitmap"]["url"] = None
    report = ConversionReport()
    ds = S.parse(doc, report=report)
    assert [a.shape for a in ds.samples[0].annotations] == [None, None]
    assert report.count("empty_mask") == 2
    assert_ordered_equal(S.emit(ds), doc)


# --------------------------------------------------------------------------------------
# truncated files
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cut", [0, 1, 10, 100, 700, 1500, -3, -2])
def test_truncated_release(tmp_path, cut):
    data = (FIX / "release_vector.json").read_bytes()
    p = tmp_path / "release.json"
    p.write_bytes(data[:cut])
    with pytest.raises(ParseError) as e:
        annoconv.load(p, format="segments")
    assert str(e.value).startswith(f"{p}: invalid JSON at line ")


# --------------------------------------------------------------------------------------
# round trips
# --------------------------------------------------------------------------------------


def test_round_trip_bitmap_fixture_is_exact(tmp_path):
    ds = annoconv.load(FIX / "release_bitmap.json")
    report = annoconv.save(ds, tmp_path / "out" / "release.json", "segments")
    assert report.lossless and (report.samples, report.annotations) == (2, 2)
    assert report.files == ["release.json", "release_bitmaps/street_001_ground-truth.png"]
    out = json.loads((tmp_path / "out" / "release.json").read_text())
    assert_ordered_equal(out, fixture("release_bitmap.json"))  # the original URL is kept
    png = (tmp_path / "out" / "release_bitmaps" / "street_001_ground-truth.png").read_bytes()
    np.testing.assert_array_equal(png_rgba(png), png_rgba((FIX / "street_001_ground-truth.png").read_bytes()))
    back = annoconv.load(tmp_path / "out" / "release.json")  # finds the PNG in release_bitmaps/
    assert back == ds


def test_round_trip_vector_fixture_is_exact(tmp_path):
    ds = annoconv.load(FIX / "release_vector.json")
    report = annoconv.save(ds, tmp_path / "v.json", "segments", indent=True)
    assert report.lossless and report.files == ["v.json"]
    assert_ordered_equal(json.loads((tmp_path / "v.json").read_text()), fixture("release_vector.json"))
    assert annoconv.load(tmp_path / "v.json") == ds


def test_changed_pixels_get_a_new_png_and_url(tmp_path):
    ds = annoconv.load(FIX / "release_bitmap.json")
    s = ds.samples[0]
    car = s.annotations[0]
    moved = Annotation(id=car.id, category_id=car.category_id, attributes=car.attributes, extra=car.extra,
                       shape=Mask.from_array(np.eye(3, 4, dtype=bool)))
    s2 = Sample(id=s.id, file_name=s.file_name, width=4, height=3, status=s.status, attributes=s.attributes,
                annotations=(moved, s.annotations[1]), extra=s.extra)
    ds2 = Dataset(categories=ds.categories, attribute_specs=ds.attribute_specs, info=ds.info,
                  samples=(s2, ds.samples[1]))
    report = annoconv.save(ds2, tmp_path / "r.json", "segments")
    assert report.count("overlap_hidden") == 1  # the road, painted after the car, hides its pixel (2, 2)
    out = json.loads((tmp_path / "r.json").read_text())
    url = out["dataset"]["samples"][0]["labels"]["ground-truth"]["attributes"]["segmentation_bitmap"]["url"]
    assert url == "r_bitmaps/street_001_ground-truth.png"
    car_px = np.eye(3, 4, dtype=bool) & (FIX_IDS != 2)
    np.testing.assert_array_equal(ids_of((tmp_path / url).read_bytes()), np.where(car_px, 1, np.where(FIX_IDS == 2, 2, 0)))
    back = annoconv.load(tmp_path / "r.json")
    np.testing.assert_array_equal(back.samples[0].annotations[0].shape.to_array(), car_px)


@given(st.lists(id_images(), min_size=1, max_size=3))
@example([np.zeros((3, 4), np.uint32)])
@example([np.full((2, 5), S.MAX_ID, np.uint32)])
@example([np.array([[256, 65536, 65535, 255]], np.uint32)])
def test_round_trip_id_images(tmp_path_factory, images):
    tmp = tmp_path_factory.mktemp("rt")
    doc, sources = bitmap_release(images)
    ds = parse_bitmap(doc, sources)
    for s, ids in zip(ds.samples, images):
        assert (s.height, s.width) == ids.shape
        got = masks_of(s)
        assert sorted(got) == sorted(set(np.unique(ids).tolist()) - {0})
        for k, m in got.items():
            np.testing.assert_array_equal(m, ids == k)
    report = annoconv.save(ds, tmp / "r.json", "segments")
    assert report.lossless
    out = json.loads((tmp / "r.json").read_text())
    assert_ordered_equal(out, doc)  # unchanged pixels: the original URLs are kept
    for i, ids in enumerate(images):
        data = (tmp / "r_bitmaps" / f"{i}.png").read_bytes()  # named after the URL's file name
        np.testing.assert_array_equal(ids_of(data), ids)
        assert (png_rgba(data)[..., 3] == 255).all()
    back = annoconv.load(tmp / "r.json")
    for s, t in zip(ds.samples, back.samples):
        assert [(a.id, a.category_id, a.shape) for a in s.annotations] == [(a.id, a.category_id, a.shape) for a in t.annotations]
    # and writing what we read back gives the same files again
    annoconv.save(back, tmp / "again" / "r.json", "segments")
    assert_ordered_equal(json.loads((tmp / "again" / "r.json").read_text()), out)


coord = st.one_of(st.integers(-5, 300), st.floats(-5, 300, allow_nan=False, allow_infinity=False))


@st.composite
def vector_annotation(draw: st.DrawFn, aid: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(["bbox", "polygon", "polyline", "point"]))
    n = {"bbox": 2, "point": 1}.get(kind) or draw(st.integers(3 if kind == "polygon" else 2, 7))
    ann: dict[str, Any] = {"id": aid, "category_id": draw(st.sampled_from([1, 2])), "type": kind,
                           "points": [[draw(coord), draw(coord)] for _ in range(n)]}
    if draw(st.booleans()):
        ann["attributes"] = {"occluded": draw(st.booleans())}
    if draw(st.booleans()):
        ann["track_id"] = aid
    return ann


@st.composite
def vector_release(draw: st.DrawFn) -> dict[str, Any]:
    doc = fixture("release_vector.json")
    samples = []
    for i in range(draw(st.integers(0, 3))):
        s = {"uuid": f"u{i}", "name": f"{i}.jpg", "metadata": {}, "labels": {"ground-truth": None}}
        if draw(st.booleans()):
            status = draw(st.sampled_from(sorted(S.STATUS_TO_MODEL)))
            label: dict[str, Any] = {"label_status": status, "attributes": {"annotations": [
                draw(vector_annotation(k + 1)) for k in range(draw(st.integers(0, 4)))]}}
            if draw(st.booleans()):
                label["score"] = draw(st.sampled_from([None, 0.5, 1]))
            s["labels"]["ground-truth"] = label
        samples.append(s)
    doc["dataset"]["samples"] = samples
    return doc


@given(vector_release())
def test_round_trip_vector_documents(doc):
    report = ConversionReport()
    ds = S.parse(doc, report=report)
    out = S.emit(ds)
    assert_ordered_equal(out, doc)
    validate_schema(out)


# --------------------------------------------------------------------------------------
# the writer
# --------------------------------------------------------------------------------------


def simple_dataset(*samples: Sample) -> Dataset:
    return Dataset(categories=(Category(id=1, name="a", color=(10, 20, 30, 255)), Category(id=2, name="b", kind="stuff")),
                   samples=samples)


def mask(h: int, w: int, rows: slice, cols: slice) -> Mask:
    m = np.zeros((h, w), bool)
    m[rows, cols] = True
    return Mask.from_array(m)


def test_write_overlaps_by_z_order_and_counts_hidden_pixels():
    big = Annotation(id="x", category_id=2, shape=mask(4, 6, slice(0, 4), slice(0, 6)), z_index=0)
    small = Annotation(id="y", category_id=1, shape=mask(4, 6, slice(1, 3), slice(1, 3)), z_index=5)
    mid = Annotation(id="z", category_id=1, shape=mask(4, 6, slice(0, 2), slice(2, 4)))  # z None: as 0, after big
    ds = simple_dataset(Sample(id=7, file_name="dir/a b.png", annotations=(small, big, mid)))
    report, images = ConversionReport(), {}
    doc = S.emit(ds, report, bitmaps=images)
    (name,) = images
    assert name == "bitmaps/a_b_ground-truth.png"
    expected = np.full((4, 6), 2)  # ids 1..3 in input order: small=1, big=2, mid=3
    expected[0:2, 2:4] = 3
    expected[1:3, 1:3] = 1
    np.testing.assert_array_equal(images[name], expected)
    assert report.count("overlap_hidden") == 4 + 4 - 1 + 1  # big loses 7 px, mid loses 1 px
    assert report.count("id_assigned") == 3
    label = doc["dataset"]["samples"][0]["labels"]["ground-truth"]
    assert label["attributes"]["annotations"] == [{"id": 1, "category_id": 1}, {"id": 2, "category_id": 2},
                                                  {"id": 3, "category_id": 1}]
    assert doc["dataset"]["samples"][0]["uuid"] == "7"
    assert doc["dataset"]["task_type"] == "segmentation-bitmap"
    assert doc["dataset"]["task_attributes"]["categories"] == [
        {"id": 1, "name": "a", "color": [10, 20, 30], "has_instances": True}, {"id": 2, "name": "b", "has_instances": False}]


def test_write_rasterises_shapes_into_bitmaps_and_drops_lines():
    anns = (Annotation(id=3, category_id=1, shape=Box(x0=0, y0=0, x1=2, y1=2)),
            Annotation(id=4, category_id=1, shape=Polygon.from_coco([[2, 0, 5, 0, 5, 3, 2, 3]])),
            Annotation(id=5, category_id=2, shape=Polyline(points=[[0, 0], [3, 3]])),
            Annotation(id=6, category_id=2, shape=mask(4, 5, slice(3, 4), slice(0, 5))))
    ds = simple_dataset(Sample(id="s", file_name="a.png", width=5, height=4, annotations=anns))
    report, images = ConversionReport(), {}
    doc = S.emit(ds, report, task_type="segmentation-bitmap", bitmaps=images)
    assert (report.count("polygon_to_mask"), report.count("shape_dropped")) == (2, 1)
    expected = np.zeros((4, 5), int)
    expected[0:2, 0:2] = 3
    expected[0:3, 2:5] = 4
    expected[3, :] = 6
    np.testing.assert_array_equal(images["bitmaps/a_ground-truth.png"], expected)
    assert [a["id"] for a in doc["dataset"]["samples"][0]["labels"]["ground-truth"]["attributes"]["annotations"]] == [3, 4, 6]


def test_write_ids_policy_and_limits(monkeypatch):
    anns = (Annotation(id=2**24, category_id=1, shape=mask(2, 2, slice(0, 1), slice(0, 2))),
            Annotation(id=9, category_id=1, shape=mask(2, 2, slice(1, 2), slice(0, 1))))
    ds = simple_dataset(Sample(id="s", file_name="a.png", annotations=anns))
    images: dict[str, np.ndarray] = {}
    S.emit(ds, bitmaps=images)
    np.testing.assert_array_equal(images["bitmaps/a_ground-truth.png"], [[1, 1], [2, 0]])
    with pytest.raises(ConversionError) as e:
        S.emit(ds, ids="keep")
    assert str(e.value) == ("sample 'a.png': annotation id 16777216 is not an integer in 1..16777215; "
                            "pass ids='renumber' (or 'auto') to number them 1..N")
    dup = simple_dataset(Sample(id="s", file_name="a.png", annotations=(anns[1], anns[1])))
    with pytest.raises(ConversionError) as e:
        S.emit(dup, ids="keep")
    assert str(e.value) == ("sample 'a.png': annotation id 9 appears twice; "
                            "pass ids='renumber' (or 'auto') to number them 1..N")
    images.clear()
    S.emit(simple_dataset(Sample(id="s", file_name="a.png", annotations=(anns[1],))), ids="renumber", bitmaps=images)
    np.testing.assert_array_equal(images["bitmaps/a_ground-truth.png"], [[0, 0], [1, 0]])
    monkeypatch.setattr(S, "MAX_ID", 1)
    with pytest.raises(ConversionError) as e:
        S.emit(ds)
    assert str(e.value) == "sample 'a.png': 2 instances; a Segments bitmap holds at most 1 ids"


def test_write_needs_an_image_size_for_shapes():
    ds = simple_dataset(Sample(id="s", file_name="a.png", annotations=(
        Annotation(id=1, category_id=1, shape=Box(x0=0, y0=0, x1=2, y1=2)),)))
    with pytest.raises(ConversionError) as e:
        S.emit(ds, task_type="segmentation-bitmap")
    assert str(e.value) == "sample 'a.png': no image size (width, height) to rasterise its shapes into a bitmap"
    wrong = simple_dataset(Sample(id="s", file_name="a.png", width=3, height=3, annotations=(
        Annotation(id=1, category_id=1, shape=mask(2, 2, slice(0, 1), slice(0, 1))),)))
    with pytest.raises(ConversionError) as e:
        S.emit(wrong)
    assert str(e.value) == "sample 'a.png': mask is 2x2 but the image is 3x3 (height x width)"


def test_write_vector_from_other_shapes():
    kp = Keypoints(points=[[1, 2], [3, 4], [5, 6]], visibility=[2, 0, 1], names=("a", "b", "c"))
    anns = (Annotation(id="p", category_id=1, shape=two_part_polygon, score=0.5),
            Annotation(id="h", category_id=1, shape=polygon_with_hole, score=0.5, iscrowd=True),
            Annotation(id="r", category_id=2, shape=Box(x0=0, y0=0, x1=4, y1=2, rotation=90), score=0.5),
            Annotation(id="k", category_id=2, shape=kp, score=0.5, track_id="t"),
            Annotation(id="e", category_id=2, shape=Ellipse(cx=5, cy=5, rx=2, ry=1), score=0.5),
            Annotation(id="l", category_id=2, shape=Polyline(points=[[0, 0], [1, 0], [1, 1]], closed=True), score=0.5),
            Annotation(id="m", category_id=1, shape=mask(4, 6, slice(1, 3), slice(1, 4)), score=0.5),
            Annotation(id="n", category_id=3, shape=Box(x0=0, y0=0, x1=1, y1=1)))
    ds = simple_dataset(Sample(id="s", file_name="a.png", status=Status.TO_REVIEW, tags=("t",), subset="train",
                               annotations=anns))
    report = ConversionReport()
    doc = S.emit(ds, report, task_type="vector")
    label = doc["dataset"]["samples"][0]["labels"]["ground-truth"]
    assert label["label_status"] == "REVIEWING_IN_PROGRESS" and label["score"] == 0.5
    got = [(a["id"], a["type"], len(a["points"])) for a in label["attributes"]["annotations"]]
    assert got == [(1, "polygon", 4), (2, "polygon", 3), (3, "polygon", 4), (4, "polygon", 4), (5, "point", 1),
                   (6, "point", 1), (7, "polygon", 64), (8, "polyline", 4), (9, "polygon", 4)]
    assert label["attributes"]["annotations"][-1]["points"] == [[1, 1], [4, 1], [4, 3], [1, 3]]
    assert dict(report.counts) == {
        "shape_converted": 5, "hole_dropped": 1, "keypoints_dropped": 1, "mask_to_polygon": 1, "id_assigned": 9,
        "reference_missing": 1, "tag_dropped": 1, "field_dropped": 3, "track_dropped": 1}  # 3: the occluded point
    validate_schema(doc)
    bboxes = S.emit(ds, task_type="bboxes")
    anns_out = bboxes["dataset"]["samples"][0]["labels"]["ground-truth"]["attributes"]["annotations"]
    assert {a["type"] for a in anns_out} == {"bbox"} and anns_out[0]["points"] == [[10.5, 20.0], [120.0, 70.5]]


def test_write_statuses_and_scores():
    a = Annotation(id=1, category_id=1, shape=Box(x0=0, y0=0, x1=1, y1=1), score=0.25)
    b = Annotation(id=2, category_id=1, shape=Box(x0=0, y0=0, x1=1, y1=1), score=0.75)
    ds = simple_dataset(Sample(id="new", file_name="n.png", status=Status.NEW),
                        Sample(id="new-with", file_name="m.png", status=Status.NEW, annotations=(a,)),
                        Sample(id="none", file_name="o.png", annotations=(a, b)),
                        Sample(id="skip", file_name="p.png", status=Status.SKIPPED))
    report = ConversionReport()
    labels = [s["labels"]["ground-truth"] for s in S.emit(ds, report)["dataset"]["samples"]]
    assert labels[0] is None
    assert (labels[1]["label_status"], labels[1]["score"]) == ("UNLABELED", 0.25)
    assert labels[2]["label_status"] == "LABELED" and "score" not in labels[2]
    assert labels[3] == {"label_status": "SKIPPED", "attributes": {"format_version": "0.1", "annotations": []}}
    assert report.count("score_dropped") == 2


def test_write_is_atomic(tmp_path, monkeypatch):
    doc, sources = bitmap_release([np.array([[1, 2]]), np.array([[3, 0]]), np.array([[0, 4]])])
    ds = parse_bitmap(doc, sources)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("untouched")
    calls = []
    real = S.encode_bitmap

    def failing(ids, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(ids, **kw)

    monkeypatch.setattr(S, "encode_bitmap", failing)
    with pytest.raises(WriteError):
        annoconv.save(ds, out / "r.json", "segments")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["keep.txt", "out"]
    monkeypatch.setattr(S, "MAX_ID", 2)  # a ConversionError in the third sample: nothing written either
    monkeypatch.setattr(S, "encode_bitmap", real)
    with pytest.raises(ConversionError):
        annoconv.save(ds, out / "r.json", "segments", ids="keep")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["keep.txt", "out"]


def test_write_workers_and_compression_give_the_same_pixels(tmp_path):
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 4, (30, 40)).astype(np.uint32) * 70001 for _ in range(4)]
    doc, sources = bitmap_release(images)
    read = parse_bitmap(doc, sources)
    ds = Dataset(categories=read.categories, samples=[  # as if from another format: new PNG names
        Sample(id=s.id, file_name=s.file_name, status=s.status, annotations=s.annotations) for s in read.samples])
    annoconv.save(ds, tmp_path / "a" / "r.json", "segments")
    annoconv.save(ds, tmp_path / "b" / "r.json", "segments", workers=2, compress_level=0, bitmap_folder="png/x")
    a = json.loads((tmp_path / "a" / "r.json").read_text())
    b = json.loads((tmp_path / "b" / "r.json").read_text())
    urls = [s["labels"]["ground-truth"]["attributes"]["segmentation_bitmap"]["url"] for s in b["dataset"]["samples"]]
    assert urls == [f"png/x/img_{i}_ground-truth.png" for i in range(4)]
    for sa, sb, ids in zip(a["dataset"]["samples"], b["dataset"]["samples"], images):
        pa = tmp_path / "a" / sa["labels"]["ground-truth"]["attributes"]["segmentation_bitmap"]["url"]
        pb = tmp_path / "b" / sb["labels"]["ground-truth"]["attributes"]["segmentation_bitmap"]["url"]
        np.testing.assert_array_equal(ids_of(pa.read_bytes()), ids)
        np.testing.assert_array_equal(ids_of(pb.read_bytes()), ids)
        assert pb.stat().st_size > pa.stat().st_size
    with pytest.raises(ValueError, match="bitmap_folder must be a relative folder name"):
        annoconv.save(ds, tmp_path / "c" / "r.json", "segments", bitmap_folder="../x")


def test_png_name_collisions_are_resolved_in_order():
    m = mask(1, 1, slice(0, 1), slice(0, 1))
    ds = simple_dataset(*[Sample(id=i, file_name=n, annotations=(Annotation(id=1, category_id=1, shape=m),))
                          for i, n in enumerate(["a.jpg", "a.png", "A.jpg", "b/a.jpg"])])
    images: dict[str, np.ndarray] = {}
    S.emit(ds, bitmaps=images)
    assert list(images) == ["bitmaps/a_ground-truth.png", "bitmaps/a_ground-truth_2.png",
                            "bitmaps/A_ground-truth_3.png", "bitmaps/a_ground-truth_4.png"]


@pytest.mark.parametrize("level", range(10))
def test_every_compress_level_reads_back_in_the_sdk(level):
    su = pytest.importorskip("segments.utils")
    ids = np.zeros((7, 9), np.uint32)
    ids[1:5, 2:8], ids[3:7, 0:4], ids[0, 8] = 70000, 256, S.MAX_ID
    png = S.encode_bitmap(ids, compress_level=level)
    with sdk_serving({"u": png}):
        np.testing.assert_array_equal(su.load_label_bitmap_from_url("u"), ids)
    np.testing.assert_array_equal(png_rgba(png), png_rgba(su.bitmap2file(ids).getvalue()))
    with Image.open(io.BytesIO(png)) as im:
        assert (im.mode, im.size, im.info.get("interlace", 0)) == ("RGBA", (9, 7), 0)


def test_decode_without_the_zero_copy_path_gives_the_same_ids(monkeypatch):
    ids = np.arange(35, dtype=np.uint32).reshape(5, 7) * 479001
    png = S.encode_bitmap(ids % (S.MAX_ID + 1))
    fast = S.decode_bitmap(png)[0]
    monkeypatch.setattr(S, "_decode_into_array", lambda im: None)
    np.testing.assert_array_equal(S.decode_bitmap(png)[0], fast)
    np.testing.assert_array_equal(fast, ids % (S.MAX_ID + 1))


def test_encode_bitmap_refuses_what_it_cannot_store():
    with pytest.raises(ValueError, match="instance id -1 is negative"):
        S.encode_bitmap(np.array([[-1]]))
    with pytest.raises(ValueError, match=r"ids must be 2-D \(height, width\), got shape \(2,\)"):
        S.encode_bitmap(np.array([1, 2]))
    with pytest.raises(ValueError, match=r"a PNG needs a width and height of at least 1, got 0x3"):
        S.encode_bitmap(np.zeros((3, 0), np.uint32))


# --------------------------------------------------------------------------------------
# schema
# --------------------------------------------------------------------------------------


@functools.cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validate_schema(doc: dict[str, Any]) -> None:
    _validator().validate(doc)


def test_fixtures_and_output_validate_against_the_schema():
    import jsonschema

    for name in ("release_bitmap.json", "release_vector.json"):
        validate_schema(fixture(name))
    bad = fixture("release_vector.json")
    bad["dataset"]["samples"][0]["labels"]["ground-truth"]["attributes"]["annotations"][0]["points"] = [[1, 2]]
    with pytest.raises(jsonschema.ValidationError):
        validate_schema(bad)


# --------------------------------------------------------------------------------------
# oracles: the segments-ai SDK, offline
# --------------------------------------------------------------------------------------


@given(id_images(max_side=10))
@example(np.array([[0, 1, 300], [65536, 1193046, 16777215]], np.uint32))  # specs/segments.md §3.3
@example(np.zeros((4, 4), np.uint32))
@example(np.full((3, 5), 70000, np.uint32))
def test_sdk_decodes_our_pngs_and_we_decode_its(ids):
    su = pytest.importorskip("segments.utils")
    ours = S.encode_bitmap(ids)
    theirs = su.bitmap2file(ids.astype(np.uint32)).getvalue()
    np.testing.assert_array_equal(png_rgba(ours), png_rgba(theirs))  # pixels, not bytes
    with sdk_serving({"u": ours}):
        np.testing.assert_array_equal(su.load_label_bitmap_from_url("u"), ids)
    np.testing.assert_array_equal(S.decode_bitmap(theirs)[0], ids)


def test_sdk_misreads_what_we_refuse_or_handle():
    su = pytest.importorskip("segments.utils")
    # the SDK wraps ids >= 2^24 silently; we refuse them
    wrapped = su.bitmap2file(np.array([[2**24, 2**24 + 1]], np.uint32)).getvalue()
    assert S.decode_bitmap(wrapped)[0].tolist() == [[0, 1]]
    with pytest.raises(ValueError):
        S.encode_bitmap(np.array([[2**24, 2**24 + 1]]))
    # the SDK cannot read RGB PNGs; we can
    rgb = pil_png(png_rgba(S.encode_bitmap(np.array([[5, 70000]])))[..., :3])
    with sdk_serving({"u": rgb}), pytest.raises(IndexError):
        su.load_label_bitmap_from_url("u")
    assert S.decode_bitmap(rgb)[0].tolist() == [[5, 70000]]


def sdk_dataset(release: Path, labelset: str = "ground-truth"):
    """The SDK's SegmentsDataset of a release on disk, serving its bitmap URLs from the
    release's folder (no cache, no image download)."""
    sd = pytest.importorskip("segments.dataset")
    doc = json.loads(release.read_text())
    files = {}
    for s in doc["dataset"]["samples"]:
        label = s["labels"].get(labelset)
        if label and label["attributes"].get("segmentation_bitmap", {}).get("url"):
            url = label["attributes"]["segmentation_bitmap"]["url"]
            name = url.rsplit("/", 1)[-1]
            local = [release.parent / url] if "://" not in url else [release.parent / name, release.parent / "release_bitmaps" / name]
            files[url] = next(p for p in local if p.is_file()).read_bytes()
    return sd.SegmentsDataset(str(release), labelset=labelset, segments_dir=None, load_images=False), files


def test_sdk_reads_the_releases_we_write(tmp_path):
    pytest.importorskip("segments")
    rng = np.random.default_rng(7)
    samples = []
    for i in range(3):
        h, w = 6 + i, 9
        anns = []
        for k in range(4):
            m = np.zeros((h, w), bool)
            y, x = rng.integers(0, h - 2), rng.integers(0, w - 3)
            m[y:y + 3, x:x + 4] = True
            anns.append(Annotation(id=[5, 300, 70000, S.MAX_ID][k], category_id=1 + k % 2, shape=Mask.from_array(m),
                                   attributes={"occluded": bool(k % 2)}))
        samples.append(Sample(id=f"u{i}", file_name=f"s{i}.png", width=w, height=h, status=Status.REVIEWED,
                              annotations=tuple(anns)))
    ds = simple_dataset(*samples)
    annoconv.save(ds, tmp_path / "release.json", "segments", bitmap_folder="release_bitmaps")
    sdk, files = sdk_dataset(tmp_path / "release.json")
    back = annoconv.load(tmp_path / "release.json")
    with sdk_serving(files):
        assert len(sdk) == 3
        for k, ours in enumerate(back.samples):
            item = sdk[k]
            assert item["uuid"] == ours.id and item["name"] == ours.file_name
            bitmap = item["segmentation_bitmap"]
            assert [(a["id"], a["category_id"]) for a in item["annotations"]] == [(a.id, a.category_id) for a in ours.annotations]
            for a in ours.annotations:
                np.testing.assert_array_equal(bitmap == a.id, a.shape.to_array())
            # the masks the model held before writing, flattened in input order, are what the SDK sees
            painted = np.zeros(bitmap.shape, np.uint32)
            for a in samples[k].annotations:
                painted[a.shape.to_array()] = a.id
            np.testing.assert_array_equal(bitmap, painted)
    import segments.typing as stp

    doc = json.loads((tmp_path / "release.json").read_text())
    stp.TaskAttributes.model_validate(doc["dataset"]["task_attributes"])
    for s in doc["dataset"]["samples"]:
        stp.ImageSegmentationLabelAttributes.model_validate(s["labels"]["ground-truth"]["attributes"])
        assert s["labels"]["ground-truth"]["label_status"] in stp.LabelStatus
    vec = S.emit(annoconv.load(FIX / "release_vector.json"))
    stp.ImageVectorLabelAttributes.model_validate(vec["dataset"]["samples"][0]["labels"]["ground-truth"]["attributes"])


def test_attribute_values_and_points_the_sdk_takes(tmp_path):
    import segments.typing as stp

    anns = (Annotation(id=1, category_id=1, shape=Box(x0=1, y0=1, x1=3, y1=3),
                       attributes={"lanes": 2, "ids": [1, 2], "meta": {"k": 1}, "ok": True, "note": "x"}),
            Annotation(id=2, category_id=1, shape=Keypoints(points=[[5, 6]], visibility=[1])),
            Annotation(id=3, category_id=1, shape=Polygon(parts=())))
    ds = dataclasses.replace(simple_dataset(Sample(id="s", file_name="a.png", width=10, height=10, annotations=anns,
                                                   attributes={"tags": [3]})),
                             attribute_specs=(AttributeSpec(name="lanes", type="select", values=(1, 2)),))
    report = ConversionReport(max_examples=20)
    annoconv.save(ds, tmp_path / "r.json", "segments", task_type="vector", report=report)
    doc = json.loads((tmp_path / "r.json").read_text())
    stp.TaskAttributes.model_validate(doc["dataset"]["task_attributes"])
    label = doc["dataset"]["samples"][0]["labels"]["ground-truth"]["attributes"]
    stp.ImageVectorLabelAttributes.model_validate(label)
    assert label["annotations"][0]["attributes"] == {"lanes": "2", "ids": ["1", "2"], "meta": '{"k": 1}',
                                                     "ok": True, "note": "x"}
    assert label["image_attributes"] == {"tags": ["3"]}
    assert report.count("attribute_converted") == 5  # lanes' options, 3 label values, the image's
    assert "sample 'a.png' annotation 2: occluded keypoints written as points" in report.examples["field_dropped"]
    assert report.examples["shape_dropped"] == ["sample 'a.png' annotation 3: polygon with no part"]
    back = annoconv.load(tmp_path / "r.json")  # its own reader takes it
    assert back.samples[0].annotations[0].attributes["lanes"] == "2"
    # a select is per category: a number of the same name elsewhere stays a number
    spec = AttributeSpec(name="lanes", type="select", values=("1", "2"), category_ids=(2,))
    report = ConversionReport()
    out = S.emit(dataclasses.replace(ds, attribute_specs=(spec,)), report, task_type="vector")
    first = out["dataset"]["samples"][0]["labels"]["ground-truth"]["attributes"]["annotations"][0]
    assert first["attributes"]["lanes"] == 2


def test_we_read_a_release_built_with_the_sdk_encoder(tmp_path):
    su = pytest.importorskip("segments.utils")
    ids = np.zeros((5, 7), np.uint32)
    ids[0:2, 0:3], ids[2:5, 1:6], ids[4, 6] = 65537, 256, 3
    doc, _ = bitmap_release([ids])
    p = write_release(tmp_path, doc, {"0.png": su.bitmap2file(ids).getvalue()})
    ds = annoconv.load(p)
    got = masks_of(ds.samples[0])
    assert sorted(got) == [3, 256, 65537]
    for k, m in got.items():
        np.testing.assert_array_equal(m, ids == k)


@pytest.mark.parametrize("source", ["fixture", "random"])
def test_coco_instance_export_of_the_sdk_matches_our_masks(tmp_path, source):
    pytest.importorskip("skimage")
    pytest.importorskip("segments")
    from pycocotools import mask as pmask
    from segments.utils import export_dataset

    if source == "fixture":
        release = fixture_copy(tmp_path)
    else:
        rng = np.random.default_rng(11)
        images = []
        for _ in range(3):
            ids = np.zeros((12, 15), np.uint32)
            for v in (1, 256, 65536, 70001):
                y, x = rng.integers(0, 9), rng.integers(0, 11)
                ids[y:y + rng.integers(1, 4), x:x + rng.integers(1, 5)] = v
            images.append(ids)
        doc, _ = bitmap_release(images)
        release = write_release(tmp_path, doc, {f"release_bitmaps/{i}.png": S.encode_bitmap(m) for i, m in enumerate(images)})
    ds = annoconv.load(release)
    sdk, files = sdk_dataset(release)
    with sdk_serving(files):
        path, _ = export_dataset(sdk, export_folder=str(tmp_path / "export"), export_format="coco-instance")
    coco = json.loads(Path(path).read_text())
    assert [c["id"] for c in coco["categories"]] == [c.id for c in ds.categories]
    ours = [(s, a) for s in ds.samples if s.extra["segments"]["label"] is not None for a in s.annotations]
    assert len(coco["annotations"]) == len(ours) > 0
    for ann, (_, a) in zip(coco["annotations"], ours):
        r = a.shape.rle
        assert ann["category_id"] == a.category_id
        assert ann["area"] == rle.area(r)
        assert ann["bbox"] == rle.to_bbox(r).astype(int).tolist()
        assert ann["segmentation"] == rle.to_coco(r)
        np.testing.assert_array_equal(pmask.decode(ann["segmentation"]).astype(bool), a.shape.to_array())


@given(id_images(values=st.one_of(st.integers(0, 3), st.integers(250, 260), st.integers(65530, 65540))))
def test_semantic_bitmap_of_the_sdk_matches_ours(ids):  # the SDK's lookup table has max(id) + 1 entries
    su = pytest.importorskip("segments.utils")
    doc, sources = bitmap_release([ids], categories=(1, 2, 3))
    ds = parse_bitmap(doc, sources)
    (s,) = ds.samples
    anns = doc["dataset"]["samples"][0]["labels"]["ground-truth"]["attributes"]["annotations"]
    if not anns:
        return  # the SDK raises on an empty annotation list (specs/segments.md §3.5)
    semantic, _ = annoconv.geometry.paint([a.shape.rle for a in s.annotations], [a.category_id for a in s.annotations],
                                          s.height, s.width, dtype=np.int64)
    np.testing.assert_array_equal(su.get_semantic_bitmap(ids, anns), semantic)
    np.testing.assert_array_equal(su.get_semantic_bitmap(ids, anns, id_increment=1), np.where(semantic > 0, semantic + 1, 0))


# --------------------------------------------------------------------------------------
# other readers' models written as Segments (spec-level: the model, not their files)
# --------------------------------------------------------------------------------------


def test_attribute_specs_from_another_format():
    ds = Dataset(
        categories=(Category(id=3, name="a"), Category(id=4, name="b", color=(1, 2, 3, 4))),
        attribute_specs=(AttributeSpec(name="n", type="int", category_ids=None, default=1),
                         AttributeSpec(name="flag", type="bool", category_ids=(4,)),
                         AttributeSpec(name="time", type="select", values=("day", "night"), scope="image")),
        samples=(Sample(id=1, file_name="x.png", attributes={"time": "day"}),),
        info={"name": "proj", "coco": {"year": 2024}},
    )
    report = ConversionReport()
    doc = S.emit(ds, report)
    ta = doc["dataset"]["task_attributes"]
    assert ta == {"format_version": "0.1", "categories": [
        {"id": 3, "name": "a", "has_instances": True,
         "attributes": [{"name": "n", "input_type": "number", "default_value": 1, "step": 1}]},
        {"id": 4, "name": "b", "color": [1, 2, 3, 4], "has_instances": True,
         "attributes": [{"name": "n", "input_type": "number", "default_value": 1, "step": 1},
                        {"name": "flag", "input_type": "checkbox"}]}],
        "image_attributes": [{"name": "time", "input_type": "select", "values": ["day", "night"]}]}
    assert doc["name"] == "annoconv-export" and doc["dataset"]["name"] == "proj"
    assert doc["dataset"]["samples"][0] == {
        "uuid": "1", "name": "x.png", "attributes": {"image": {"url": "x.png"}}, "metadata": {},
        "labels": {"ground-truth": {"label_status": "LABELED", "attributes": {
            "format_version": "0.1", "annotations": [], "image_attributes": {"time": "day"}}}}}
    assert report.count("field_dropped") == 1
    back = S.parse(doc)
    assert [(a.name, a.type, a.category_ids) for a in back.attribute_specs] == [
        ("n", "int", (3,)), ("n", "int", (4,)), ("flag", "bool", (4,)), ("time", "select", None)]
    validate_schema(doc)


# --------------------------------------------------------------------------------------
# cross-format: Segments -> COCO / panoptic / semantic PNG, COCO and Hasty -> Segments
# --------------------------------------------------------------------------------------

LABELLED = {"filter_by": ["LABELED", "REVIEWED"]}


def random_bitmap_release(tmp: Path, seed: int = 5) -> Path:
    """A bitmap release on disk: 3 samples of touching rectangles, ids past 255 and 65535."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(3):
        ids = np.zeros((14, 17), np.uint32)
        for v in (1, 300, 65536, 70001, 5):
            y, x = rng.integers(0, 11), rng.integers(0, 13)
            ids[y:y + rng.integers(1, 5), x:x + rng.integers(1, 6)] = v
        images.append(ids)
    doc, _ = bitmap_release(images, categories=(1, 2, 3))
    return write_release(tmp, doc, {f"release_bitmaps/{i}.png": S.encode_bitmap(m) for i, m in enumerate(images)})


@pytest.mark.parametrize("source", ["fixture", "random"])
def test_segments_to_coco_equals_the_bitmaps_in_pycocotools(tmp_path, source):
    from pycocotools.coco import COCO

    release = fixture_copy(tmp_path / "in") if source == "fixture" else random_bitmap_release(tmp_path / "in")
    ds = annoconv.load(release)
    report = annoconv.convert(release, tmp_path / "coco.json", to="coco")
    assert report.count("shape_dropped") == 0 and report.annotations == sum(len(s.annotations) for s in ds.samples)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(tmp_path / "coco.json"))
    by_name = {img["file_name"]: img["id"] for img in coco.dataset["images"]}
    for s in ds.samples:
        if not s.annotations:
            continue
        raw = S.decode_bitmap((release.parent / s.extra["segments"]["label"]["attributes"]["segmentation_bitmap"]["url"]
                               .replace("https://example.com/labels/", "")).read_bytes())[0] if source == "fixture" else None
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[by_name[s.file_name]]))
        assert [a["category_id"] for a in anns] == [a.category_id for a in s.annotations]
        for a, ours in zip(anns, s.annotations):
            m = coco.annToMask(a).astype(bool)
            np.testing.assert_array_equal(m, ours.shape.to_array())
            if raw is not None:
                np.testing.assert_array_equal(m, raw == ours.id)
    if source == "fixture":  # the numbers the SDK's own coco-instance export gives (specs/segments.md §6.1)
        got = [(a["bbox"], a["area"], a["segmentation"]["counts"]) for a in coco.dataset["annotations"]]
        assert got == [([1, 0, 2, 2], 4, "32103"), ([0, 1, 4, 2], 5, "212000O1")]


def test_segments_to_coco_panoptic(tmp_path):
    release = random_bitmap_release(tmp_path / "in")
    ds = annoconv.load(release)
    report = annoconv.convert(release, tmp_path / "pan" / "panoptic.json", to="coco-panoptic", read_options=LABELLED)
    assert report.samples == 3
    back = annoconv.load(tmp_path / "pan" / "panoptic.json", format="coco-panoptic")
    for s, t in zip(ds.samples, back.samples):
        assert [(a.category_id, a.shape) for a in s.annotations] == [(a.category_id, a.shape) for a in t.annotations]
    # Segments' stuff/thing flag survives as COCO panoptic isthing
    fixture_release = fixture_copy(tmp_path / "fx")
    annoconv.convert(fixture_release, tmp_path / "pan2" / "p.json", to="coco-panoptic", read_options=LABELLED)
    cats = json.loads((tmp_path / "pan2" / "p.json").read_text())["categories"]
    assert [(c["id"], c["isthing"]) for c in cats] == [(1, 1), (2, 0)]


def test_segments_to_semantic_png(tmp_path):
    release = random_bitmap_release(tmp_path / "in")
    ds = annoconv.load(release)
    annoconv.convert(release, tmp_path / "sem", to="semantic-png", read_options=LABELLED)
    back = annoconv.load(tmp_path / "sem", format="semantic-png")
    names = {c.id: c.name for c in ds.categories}
    back_names = {c.id: c.name for c in back.categories}
    for s, t in zip(ds.samples, back.samples):
        want: dict[str, np.ndarray] = {}
        for a in s.annotations:
            want[names[a.category_id]] = want.get(names[a.category_id], False) | a.shape.to_array()
        got = {back_names[a.category_id]: a.shape.to_array() for a in t.annotations}
        assert sorted(got) == sorted(want)
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])


def _painted(sample: Sample) -> np.ndarray:
    """The id image a Segments writer must produce: area shapes rasterised, painted back to
    front (z_index, then order); ids kept when all are distinct ints in 1..2^24-1, else 1..N."""
    anns = [a for a in sample.annotations if isinstance(a.shape, (Mask, Box, Polygon, Ellipse))]
    ids = [a.id for a in anns]
    if not (all(isinstance(i, int) and 1 <= i <= S.MAX_ID for i in ids) and len(set(ids)) == len(ids)):
        ids = list(range(1, len(anns) + 1))
    rles = annoconv.geometry.shapes_to_rles([a.shape for a in anns], sample.height, sample.width)
    order = sorted(range(len(anns)), key=lambda k: (anns[k].z_index or 0, k))
    image, _ = annoconv.geometry.paint([rles[k] for k in order], [ids[k] for k in order], sample.height, sample.width)
    return image


@pytest.mark.parametrize("source", ["coco/instances_sample.json", "hasty/example_v1.1.json"])
def test_other_formats_to_segments_read_by_the_sdk(tmp_path, source):
    pytest.importorskip("segments")
    src = FIX.parent / source
    ds = annoconv.load(src)
    report = annoconv.convert(src, tmp_path / "release.json", to="segments")
    assert report.count("polygon_to_mask") > 0
    doc = json.loads((tmp_path / "release.json").read_text())
    validate_schema(doc)
    assert doc["dataset"]["task_type"] == "segmentation-bitmap"
    sdk, files = sdk_dataset(tmp_path / "release.json")
    with sdk_serving(files):
        for k, s in enumerate(ds.samples):
            item = sdk[k]
            assert item["name"] == s.file_name
            expected = _painted(s)
            np.testing.assert_array_equal(item["segmentation_bitmap"], expected)
            cats = [a.category_id for a in s.annotations if isinstance(a.shape, (Mask, Box, Polygon, Ellipse))]
            assert [a["category_id"] for a in item["annotations"]] == cats
    back = annoconv.load(tmp_path / "release.json")
    assert [c.id for c in back.categories] == [c.id for c in ds.categories]
    assert [s.status for s in back.samples] == [s.status or Status.DONE for s in ds.samples]


def test_coco_to_segments_masks_equal_ann_to_mask(tmp_path):
    from pycocotools.coco import COCO

    src = FIX.parent / "coco" / "instances_sample.json"
    annoconv.convert(src, tmp_path / "release.json", to="segments")
    back = annoconv.load(tmp_path / "release.json")
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(src))
    for s in back.samples:
        img = next(i for i in coco.dataset["images"] if i["file_name"] == s.file_name)
        painted = np.zeros((img["height"], img["width"]), np.int64)
        anns = [a for a in coco.dataset["annotations"] if a["image_id"] == img["id"]]  # file order
        assert len(anns) == len(s.annotations)
        for k, a in enumerate(anns):  # later annotations in front, as the writer paints them
            painted[coco.annToMask(a).astype(bool)] = k + 1
        for k, ours in enumerate(s.annotations):
            np.testing.assert_array_equal(ours.shape.to_array(), painted == k + 1)


def test_vector_release_to_coco_with_image_sizes(tmp_path):
    from pycocotools.coco import COCO

    Image.new("RGB", (120, 110)).save(tmp_path / "street_002.jpg")
    report = annoconv.convert(FIX / "release_vector.json", tmp_path / "c.json", to="coco",
                              read_options={"images": tmp_path})
    assert report.count("shape_dropped") == 1  # the polyline: COCO has no place for it
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(tmp_path / "c.json"))
    (img,) = coco.dataset["images"]
    assert (img["width"], img["height"]) == (120, 110)
    box, poly, point = coco.dataset["annotations"]
    assert (box["bbox"], box["attributes"]) == ([10.0, 20.0, 40.5, 40.25], {"occluded": True, "colour": "blue"})
    expected = np.zeros((110, 120), bool)
    expected[80:100, 0:100] = True
    np.testing.assert_array_equal(coco.annToMask(poly).astype(bool), expected)
    assert point["keypoints"] == [30.0, 40.0, 2]


def test_relative_png_paths_are_kept_unless_a_folder_is_asked_for(tmp_path):
    release = random_bitmap_release(tmp_path / "in")
    doc = json.loads(release.read_text())
    for i, smp in enumerate(doc["dataset"]["samples"]):
        smp["labels"]["ground-truth"]["attributes"]["segmentation_bitmap"]["url"] = f"release_bitmaps/{i}.png"
    release.write_text(json.dumps(doc))
    ds = annoconv.load(release)
    annoconv.save(ds, tmp_path / "a" / "out.json", "segments")
    assert_ordered_equal(json.loads((tmp_path / "a" / "out.json").read_text()), json.loads(release.read_text()))
    assert sorted(p.name for p in (tmp_path / "a" / "release_bitmaps").iterdir()) == ["0.png", "1.png", "2.png"]
    report = annoconv.save(ds, tmp_path / "b" / "out.json", "segments", bitmap_folder="masks")
    out = json.loads((tmp_path / "b" / "out.json").read_text())
    urls = [s["labels"]["ground-truth"]["attributes"]["segmentation_bitmap"]["url"] for s in out["dataset"]["samples"]]
    assert urls == report.files[1:] == [f"masks/img_{i}_ground-truth.png" for i in range(3)]
    back = annoconv.load(tmp_path / "b" / "out.json")
    assert [[a.shape for a in s.annotations] for s in back.samples] == [[a.shape for a in s.annotations] for s in ds.samples]


def test_read_with_workers_gives_the_same_dataset(tmp_path):
    release = random_bitmap_release(tmp_path)
    one, two = ConversionReport(), ConversionReport()
    assert annoconv.load(release, workers=2, report=two) == annoconv.load(release, report=one)
    assert one.counts == two.counts


# --------------------------------------------------------------------------------------
# review findings
# --------------------------------------------------------------------------------------


def _with_model_labelset(tmp: Path, model_ids: np.ndarray) -> Path:
    """The bitmap fixture with a second labelset "model" whose bitmap is model.png."""
    doc = fixture("release_bitmap.json")
    doc["dataset"]["labelsets"].append({"name": "model", "description": "predictions"})
    for s in doc["dataset"]["samples"]:
        s["labels"]["model"] = None
    doc["dataset"]["samples"][0]["labels"]["model"] = {
        "label_status": "PRELABELED", "score": 0.9, "attributes": {
            "format_version": "0.1", "annotations": [{"id": 7, "category_id": 1}],
            "segmentation_bitmap": {"url": "model.png"}}}
    return write_release(tmp, doc, {"street_001_ground-truth.png": (FIX / "street_001_ground-truth.png").read_bytes(),
                                    "model.png": S.encode_bitmap(model_ids)})


def test_other_labelsets_bitmaps_are_copied(tmp_path):
    model_ids = np.array([[7, 7, 0, 0], [0, 7, 0, 0], [0, 0, 0, 7]], np.uint32)
    src = _with_model_labelset(tmp_path / "src", model_ids)
    ds = annoconv.load(src)
    report = annoconv.save(ds, tmp_path / "out" / "r.json", "segments")
    assert report.lossless
    assert report.files == ["r.json", "model.png", "r_bitmaps/street_001_ground-truth.png"]
    assert_ordered_equal(json.loads((tmp_path / "out" / "r.json").read_text()), json.loads(src.read_text()))
    model = annoconv.load(tmp_path / "out" / "r.json", labelset="model")  # finds model.png
    np.testing.assert_array_equal(model.samples[0].annotations[0].shape.to_array(), model_ids == 7)
    # in a new bitmap folder the copy gets a new name, and its URL follows
    annoconv.save(ds, tmp_path / "f" / "r.json", "segments", bitmap_folder="png")
    out = json.loads((tmp_path / "f" / "r.json").read_text())
    assert out["dataset"]["samples"][0]["labels"]["model"]["attributes"]["segmentation_bitmap"] == {
        "url": "png/street_001_model.png"}
    np.testing.assert_array_equal(ids_of((tmp_path / "f" / "png" / "street_001_model.png").read_bytes()), model_ids)
    # a bitmap the reader did not find stays a reference, counted
    (tmp_path / "src" / "model.png").unlink()
    report = annoconv.save(annoconv.load(src), tmp_path / "gone" / "r.json", "segments")
    assert dict(report.counts) == {"mask_not_written": 1}
    assert report.examples["mask_not_written"] == ["sample 'street_001.jpg' labelset 'model': bitmap 'model.png' not copied"]


def test_urls_sharing_a_file_name_never_share_a_png(tmp_path):
    # the model labelset's URL has the ground-truth PNG's file name, but its own PNG was not
    # supplied: it must not be linked to the ground-truth file
    src = _with_model_labelset(tmp_path / "src", np.zeros((3, 4), np.uint32))
    (tmp_path / "src" / "model.png").unlink()
    doc = json.loads(src.read_text())
    labels = doc["dataset"]["samples"][0]["labels"]
    labels["model"]["attributes"]["segmentation_bitmap"]["url"] = "https://other.host/x/street_001_ground-truth.png"
    src.write_text(json.dumps(doc))
    report = annoconv.save(annoconv.load(src), tmp_path / "out" / "r.json", "segments")
    assert dict(report.counts) == {"mask_not_written": 1}
    out = json.loads((tmp_path / "out" / "r.json").read_text())
    assert out["dataset"]["samples"][0]["labels"]["model"] == labels["model"]
    # in the labelset being read, a second URL reaching the same file is an error
    doc["dataset"]["samples"][1]["labels"]["ground-truth"] = copy.deepcopy(labels["ground-truth"])
    doc["dataset"]["samples"][1]["labels"]["ground-truth"]["attributes"]["segmentation_bitmap"]["url"] = (
        "https://elsewhere/street_001_ground-truth.png")
    src.write_text(json.dumps(doc))
    with pytest.raises(ParseError, match=r"\$\.dataset\.samples\[1\].*would be read from the file "
                       r"already found for 'https://example.com/labels/street_001_ground-truth.png'"):
        annoconv.load(src)


def test_zero_size_image_in_a_bitmap_release(tmp_path):
    doc = fixture("release_bitmap.json")
    ds = S.parse(doc, "r.json", bitmaps=lambda url, ptr: FIX_IDS)
    s = ds.samples[0]
    empty = Sample(id=s.id, file_name=s.file_name, width=0, height=0, status=s.status, extra=s.extra,
                   annotations=tuple(Annotation(id=a.id, category_id=a.category_id, extra=a.extra,
                                                shape=Mask(rle=rle.empty(0, 0))) for a in s.annotations))
    zero = Dataset(categories=ds.categories, info=ds.info, samples=(empty,))
    report = ConversionReport()
    out = S.emit(zero, report)
    label = out["dataset"]["samples"][0]["labels"]["ground-truth"]["attributes"]
    assert [a["id"] for a in label["annotations"]] == [1, 2] and label["segmentation_bitmap"] == {"url": None}
    assert report.examples["empty_image"] == ["sample 'street_001.jpg': 0x0 (width x height), no bitmap PNG"]
    # written to disk: no PNG (encode_bitmap cannot make a 0x0 one), and it reads back
    report = annoconv.save(zero, tmp_path / "r.json", "segments")
    assert report.files == ["r.json"] and report.count("empty_image") == 1
    back = annoconv.load(tmp_path / "r.json")
    assert [(a.id, a.shape) for a in back.samples[0].annotations] == [(1, None), (2, None)]


def test_keypoints_of_an_annotation_are_written_as_points():
    kp = Keypoints(points=[[1, 2], [3, 4], [5, 6]], visibility=[2, 0, 1])
    person = Annotation(id=42, category_id=1, shape=Box(x0=0, y0=0, x1=8, y1=9), keypoints=kp)
    ds = simple_dataset(Sample(id="s", file_name="a.png", width=10, height=10, annotations=(person,)))
    report = ConversionReport()
    doc = S.emit(ds, report, task_type="vector")
    anns = doc["dataset"]["samples"][0]["labels"]["ground-truth"]["attributes"]["annotations"]
    assert [(a["id"], a["type"], a["points"]) for a in anns] == [
        (1, "bbox", [[0, 0], [8, 9]]), (2, "point", [[1, 2]]), (3, "point", [[5, 6]])]
    assert dict(report.counts) == {"keypoints_dropped": 1, "shape_converted": 1, "id_assigned": 3,
                                   "status_unmapped": 1, "field_dropped": 2}  # no status: LABELED
    assert report.examples["field_dropped"] == [  # the third point was occluded; no size in a vector release
        "sample 'a.png' annotation 42: occluded keypoints written as points", "sample 'a.png': width/height"]
    assert report.examples["shape_converted"] == ["sample 'a.png' annotation 42: 2 keypoints -> point annotations"]
    report = ConversionReport()  # a keypoints release keeps the points, not the box
    doc = S.emit(ds, report, task_type="keypoints")
    anns = doc["dataset"]["samples"][0]["labels"]["ground-truth"]["attributes"]["annotations"]
    assert [a["type"] for a in anns] == ["point", "point"] and report.count("shape_dropped") == 1
    for task in ("bboxes", "segmentation-bitmap"):  # no place for points: counted
        report = ConversionReport()
        S.emit(ds, report, task_type=task)
        assert report.count("keypoints_dropped") == 3, task
        assert report.examples["keypoints_dropped"] == [f"sample 'a.png' annotation 42: keypoints in a {task} release"]


def test_coco_keypoints_reach_a_vector_release(tmp_path):
    src = Path(__file__).resolve().parents[2] / "fixtures" / "coco" / "instances_sample.json"
    ds = annoconv.load(src)
    report = annoconv.save(ds, tmp_path / "v.json", "segments", task_type="vector")
    with_kp = [a for s in ds.samples for a in s.annotations if a.keypoints is not None]
    person = next(a for a in with_kp if a.id == 42)
    assert report.count("keypoints_dropped") == sum(len(a.keypoints.visibility) - a.keypoints.num_labeled
                                                    for a in with_kp)  # only the unlabelled ones
    name = next(s.file_name for s in ds.samples if any(a.id == 42 for a in s.annotations))
    (s,) = [s for s in annoconv.load(tmp_path / "v.json").samples if s.file_name == name]
    got = [a.shape.points[0].tolist() for a in s.annotations if isinstance(a.shape, Keypoints)]
    want = [p for p, v in zip(person.keypoints.points.tolist(), person.keypoints.visibility.tolist()) if v]
    assert len(want) == person.keypoints.num_labeled == 15 and all(p in got for p in want)


def test_temporary_folder_is_inside_the_destination(tmp_path, monkeypatch):
    import tempfile

    made: list[Path] = []
    real = tempfile.mkdtemp

    def spy(*args: Any, **kwargs: Any) -> str:
        made.append(Path(kwargs.get("dir") or args[2]))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkdtemp", spy)
    ds = annoconv.load(fixture_copy(tmp_path / "src"))
    out = tmp_path / "ro" / "out"
    out.mkdir(parents=True)
    annoconv.save(ds, out / "r.json", "segments")
    assert made == [out]  # not tmp_path / "ro", which may be read-only
    assert sorted(p.name for p in out.iterdir()) == ["r.json", "r_bitmaps"]
    # a failed write into a folder it had to create leaves no folder behind
    monkeypatch.setattr(S, "encode_bitmap", lambda ids, **kw: (_ for _ in ()).throw(OSError(28, "No space")))
    with pytest.raises(WriteError):
        annoconv.save(ds, tmp_path / "new" / "deep" / "r.json", "segments")
    assert not (tmp_path / "new").exists()


def test_vector_ids_outside_the_usual_range_are_kept():
    doc = fixture("release_vector.json")
    anns = doc["dataset"]["samples"][0]["labels"]["ground-truth"]["attributes"]["annotations"]
    for a, new in zip(anns, (0, -3, 2**31, 2**70)):
        a["id"] = a["track_id"] = new
    report = ConversionReport()
    assert_ordered_equal(S.emit(S.parse(doc, "r.json"), report), doc)
    assert report.lossless
    # other formats' ids outside 1..2^31 - 1 are still numbered 1..N
    ds = simple_dataset(Sample(id="s", file_name="a.png", annotations=(
        Annotation(id=0, category_id=1, shape=Box(x0=0, y0=0, x1=1, y1=1)),)))
    report = ConversionReport()
    out = S.emit(ds, report)
    assert out["dataset"]["samples"][0]["labels"]["ground-truth"]["attributes"]["annotations"][0]["id"] == 1
    assert report.count("id_assigned") == 1
