"""annoconv.registry: lookup, detection, registration of a third-party format."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import annoconv
from annoconv import registry
from annoconv.errors import UnknownFormatError
from annoconv.formats import BUILTIN

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_builtin_formats_are_registered():
    names = [f.name for f in annoconv.available_formats()]
    assert names[: len(BUILTIN)] == [f.name for f in BUILTIN]
    assert registry.get_format("annoconv").read is not None


def test_unknown_name_lists_known_ones():
    with pytest.raises(UnknownFormatError, match=r"unknown format 'nope'; known formats: .*annoconv"):
        registry.get_format("nope")


def test_detection_failures(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("hello")
    with pytest.raises(UnknownFormatError, match=r"no registered format recognises this file; name it with format= \(--from on the command line\)"):
        registry.detect_format(p)
    with pytest.raises(UnknownFormatError, match="no such file or folder"):
        registry.detect_format(tmp_path / "missing.json")


def test_byte_order_marks_and_late_images_are_detected(tmp_path):
    native = tmp_path / "n.json"
    native.write_bytes(b'\xef\xbb\xbf{"annoconv": 1}')
    assert registry.detect_format(native) == "annoconv"
    # COCO with its annotations first (the images key beyond the first 64 KiB), with a BOM
    ann = '{"id": %d, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "area": 1, "iscrowd": 0}'
    body = ('{"annotations": [' + ", ".join(ann % i for i in range(1, 1500)) + '], '
            '"images": [{"id": 1, "file_name": "a.jpg", "height": 4, "width": 4}], '
            '"categories": [{"id": 1, "name": "a"}]}')
    coco = tmp_path / "c.json"
    coco.write_bytes(b"\xef\xbb\xbf" + body.encode())
    assert len(body) > 65536 and registry.detect_format(coco) == "coco"
    assert annoconv.load(coco).stats()["annotations"] == 1499


def test_detection_of_every_fixture_with_a_bom_and_of_its_native_dump(tmp_path):
    for path in sorted(FIXTURES.glob("*/*.json")):
        name = annoconv.detect_format(path)
        bom = tmp_path / path.parent.name / path.name
        bom.parent.mkdir(exist_ok=True)
        bom.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
        assert registry.detect_format(bom) == name, path
        try:
            ds = annoconv.load(path)
        except annoconv.ParseError:  # a fixture that needs reader options (masks, images)
            continue
        native = tmp_path / f"{path.stem}.native.json"
        annoconv.save(ds, native, "annoconv")  # its extras hold the source's own keys
        assert registry.detect_format(native) == "annoconv", path


def test_panoptic_detection_at_the_edge_of_the_head(tmp_path):
    import json

    doc = json.loads((FIXTURES / "coco" / "panoptic_sample.json").read_text())
    doc["images"] += [{"id": 1000 + i, "file_name": f"x{i}.jpg", "height": 12, "width": 16} for i in range(900)]
    at = json.dumps(doc).encode().find(b'"annotations"')
    doc["info"]["description"] += "p" * (65500 - at)  # the key at byte 65500, its record past the head
    (tmp_path / "p.json").write_text(json.dumps(doc))
    assert registry.detect_format(tmp_path / "p.json") == "coco-panoptic"
    # and an instances file whose text merely mentions segments_info is instances
    inst = json.loads((FIXTURES / "coco" / "instances_sample.json").read_text())
    inst["info"] = {"description": "segments_info"}
    (tmp_path / "i.json").write_text(json.dumps(inst))
    assert registry.detect_format(tmp_path / "i.json") == "coco"


def test_a_third_party_format_cannot_shadow_a_builtin_by_accident():
    # even as the very first call into the registry (a fresh interpreter)
    code = ("from annoconv.registry import FormatSpec, register\n"
            "try:\n    register(FormatSpec(name='coco', description='fake'))\n"
            "except ValueError as e:\n    print(e)\n")
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == "format 'coco' is already registered\n"


def test_option_values_are_checked_only_where_surely_wrong(tmp_path):
    import numpy as np

    ds = annoconv.load(FIXTURES / "coco" / "instances_sample.json")
    # a Path where a str is annotated, numpy integers, a set for a sequence: accepted
    annoconv.save(ds, tmp_path / "p" / "out.json", "coco-panoptic", png_dir=Path("pngs"), workers=np.int64(1))
    assert (tmp_path / "p" / "pngs").is_dir()
    seg = FIXTURES / "segments" / "release_bitmap.json"
    assert annoconv.load(seg, filter_by={"LABELED", "REVIEWED"}) == annoconv.load(seg, filter_by=["LABELED", "REVIEWED"])
    for bad, message in ((dict(compress_level=np.int64(12)), "compress_level must be 0-9, got 12"),
                         (dict(workers="2"), "option 'workers' takes int, got '2'"),
                         (dict(workers=True), "option 'workers' takes int, got a boolean"),
                         (dict(png_dir=3), "option 'png_dir' takes str | Path | None, got 3")):
        with pytest.raises(annoconv.OptionError, match=re.escape(message)):
            annoconv.save(ds, tmp_path / "q" / "out.json", "coco-panoptic", **bad)


def test_register_a_third_party_format(tmp_path):
    def sniff(path, head):
        return 2 if head.startswith(b"TOY") else 0

    def read(path, *, report=None):
        return annoconv.Dataset(samples=(annoconv.Sample(id=1, file_name=path.read_text()[4:]),))

    spec = registry.FormatSpec(name="toy-test", description="toy", sniff=sniff, read=read)
    registry.register(spec)
    try:
        with pytest.raises(ValueError, match="already registered"):
            registry.register(spec)
        p = tmp_path / "a.toy"
        p.write_text("TOY img.png")
        assert annoconv.detect_format(p) == "toy-test"
        assert annoconv.load(p).samples[0].file_name == "img.png"
        with pytest.raises(TypeError, match="the toy-test reader has no option 'strict'; its options: none"):
            annoconv.load(p, strict=False)
    finally:
        registry._REGISTRY.pop("toy-test")
