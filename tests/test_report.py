"""annoconv.report, and the promise behind it: every writer either holds a category's fields
and its annotations' fields, or counts what it dropped. Nothing is lost silently."""

from __future__ import annotations

from pathlib import Path

import pytest

import annoconv
from annoconv import Annotation, Box, Category, Dataset, Keypoints, Polygon, Sample
from annoconv.report import ConversionReport, count_category_fields, foreign_data

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
WRITERS = [f.name for f in annoconv.available_formats() if f.write is not None and f.name != "annoconv"]

ROAD = Category(id=1, name="road", kind="stuff", color=(10, 20, 30, 77), supercategory="ground")
CAR = Category(id=2, name="car", color=(200, 10, 10, 255))
UNUSED = Category(id=3, name="unused", color=(1, 2, 3, 255))
PERSON = Category(id=4, name="person", keypoint_names=("head", "foot"), skeleton=((1, 2),))


def dataset() -> Dataset:
    anns = (
        Annotation(id=1, category_id=1, shape=Box(x0=0, y0=0, x1=8, y1=3)),
        Annotation(id=2, category_id=2, shape=Polygon.from_coco([[1, 3, 7, 3, 7, 6, 1, 6]]), score=0.5,
                   track_id=4),
        Annotation(id=3, category_id=2, shape=Box(x0=0, y0=4, x1=2, y1=6), iscrowd=True),
        Annotation(id=4, category_id=4, shape=Box(x0=5, y0=0, x1=7, y1=5),
                   keypoints=Keypoints(points=[[6, 1], [6, 4]], visibility=[2, 2])),
    )
    return Dataset(categories=(ROAD, CAR, UNUSED, PERSON),
                   samples=(Sample(id=1, file_name="a.png", width=8, height=6, annotations=anns),))


def test_count_category_fields():
    r = ConversionReport()
    count_category_fields(r, [ROAD, CAR], color=True, kind=True)
    assert r.examples["field_dropped"] == ["category 'road': colour alpha, supercategory"]
    count_category_fields(r, [CAR])
    assert r.count("field_dropped") == 2 and r.examples["field_dropped"][1] == "category 'car': colour"
    count_category_fields(None, [ROAD])  # no report: nothing to count


def _examples(report: ConversionReport, kind: str) -> str:
    return " | ".join(report.examples.get(kind, ()))


@pytest.mark.parametrize("fmt", WRITERS)
def test_what_a_writer_cannot_hold_is_counted(tmp_path, fmt):
    report = annoconv.save(dataset(), tmp_path / "out" / "data.json", fmt,
                           report=ConversionReport(max_examples=100))  # every place, not 3
    back = annoconv.load(tmp_path / "out" / "data.json", fmt)  # a file, or a folder of that name
    cats = {c.name: c for c in back.categories}
    road = cats.get("road")
    # the stuff category's colour, alpha, kind and supercategory: read back, or counted
    dropped = _examples(report, "field_dropped")
    assert road is not None
    if road.color is None or road.color[:3] != ROAD.color[:3]:
        assert "road" in dropped and "colour" in dropped
    elif road.color[3] != ROAD.color[3]:
        assert "road" in dropped and "alpha" in dropped
    if road.kind != "stuff":
        assert "road" in dropped and "stuff kind" in dropped
    if road.supercategory != "ground":
        assert "road" in dropped and "supercategory" in dropped
    if "unused" not in cats:
        assert report.count("category_dropped") == 1
    person = cats["person"]
    if person.keypoint_names != PERSON.keypoint_names or person.skeleton != PERSON.skeleton:
        assert "person" in dropped and "keypoint schema" in dropped, fmt
    # the annotations' score, track id and iscrowd: read back, or counted
    anns = [a for s in back.samples for a in s.annotations]
    if not any(a.score == 0.5 for a in anns):
        assert report.count("score_dropped") >= 1, fmt
    if not any(a.track_id == 4 for a in anns):
        assert report.count("track_dropped") >= 1, fmt
    if not any(a.iscrowd for a in anns):
        assert "iscrowd" in dropped, fmt
    # two car instances: kept apart, or counted as merged
    if sum(a.category_id == cats["car"].id for a in anns) < 2:
        assert report.count("instances_merged") == 1, fmt


def test_bookkeeping_is_not_counted_as_another_formats_data(tmp_path):
    assert not foreign_data({"coco": {"_keys": ["id", "name"]}}, "hasty")
    assert foreign_data({"coco": {"license": 4}}, "hasty") and not foreign_data({"hasty": {"x": 1}}, "hasty")
    assert foreign_data({"coco": {"_meta": {"camera": "x"}}}, "hasty")  # a source's own "_" key is data
    assert not foreign_data({"scale": {"_annoconv": {"order": ["uuid"]}}}, "hasty")  # Scale's bookkeeping
    # COCO categories hold only their key order: nothing of theirs is lost in other formats
    ds = annoconv.load(FIXTURES / "coco" / "instances_sample.json")
    for fmt in ("fastlabel", "segments", "hasty"):
        report = annoconv.save(ds, tmp_path / f"{fmt}.json", fmt, report=ConversionReport(max_examples=100))
        assert not [e for e in report.examples.get("field_dropped", []) if "category" in e and "format" in e], fmt
