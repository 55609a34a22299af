"""annoconv._io: atomic writes leave nothing behind on failure; JSON errors are located."""

from __future__ import annotations

import numpy as np
import pytest

from annoconv import _io
from annoconv.errors import ParseError, WriteError


def test_atomic_write_failure_leaves_target_untouched(tmp_path):
    target = tmp_path / "out.json"
    target.write_bytes(b"original")

    class Boom(Exception):
        pass

    with pytest.raises(Boom), _io.atomic_write(target) as f:
        f.write(b"partial")
        raise Boom
    assert target.read_bytes() == b"original"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_atomic_write_new_file_not_created_on_failure(tmp_path):
    target = tmp_path / "sub" / "new.json"
    with pytest.raises(RuntimeError), _io.atomic_write(target) as f:
        f.write(b"x")
        raise RuntimeError("emitter failed")
    assert not target.exists()
    assert not (tmp_path / "sub").exists()  # the folder the write created is gone too


def test_write_error_names_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(WriteError, match="cannot write"):
        _io.write_json(blocker / "x.json", {})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a": 1,}', "bad.json: invalid JSON at line 1 column 9: Expecting property name enclosed in double quotes"),
        (b'{"a": [1, 2', "bad.json: invalid JSON at line 1 column 12: Expecting ',' delimiter"),
        (b'{"a": "\xff"}', "bad.json: not UTF-8 text: byte 0xff at offset 7"),
        (b"", "bad.json: invalid JSON at line 1 column 1: Expecting value"),
        (b"[" * 100_000, "bad.json: JSON nested too deeply to read"),
    ],
)
def test_json_errors_are_located(tmp_path, data, message):
    p = tmp_path / "bad.json"
    p.write_bytes(data)
    with pytest.raises(ParseError) as info:
        _io.read_json(p)
    assert str(info.value).replace(str(tmp_path) + "/", "") == message


def test_missing_file(tmp_path):
    with pytest.raises(ParseError, match="file not found"):
        _io.read_json(tmp_path / "nope.json")


def test_json_round_trip_keeps_numbers():
    doc = {"i": 900100037777, "f": 702.1057499999998, "z": 0.0, "s": "a\\b", "big": 2**70,
           "huge": 123456789012345678901234567890, "u64": 2**64 - 1, "below_i64": -(2**63) - 1}
    back = _io.load_json_bytes(_io.dump_json_bytes(doc))
    assert back == doc and all(type(back[k]) is int for k in ("big", "huge", "u64", "below_i64"))
    assert isinstance(back["z"], float)


def test_json_fallback_writer_keeps_its_promises():
    # a big integer sends the writer to json: NaN is still written as null, and a lone
    # surrogate (readable from a "\\ud800" escape) is escaped rather than a crash
    assert _io.dump_json_bytes({"a": float("nan"), "b": [float("inf")], "n": 2**70}) == (
        b'{"a":null,"b":[null],"n":1180591620717411303424}')
    doc = _io.load_json_bytes(b'{"s": "\\ud800", "t": "\xc3\xa9"}')
    assert _io.load_json_bytes(_io.dump_json_bytes(doc)) == doc == {"s": "\ud800", "t": "\u00e9"}


def test_nan_literals_are_refused(tmp_path):
    p = tmp_path / "nan.json"
    p.write_bytes(b'{"area": NaN}')
    with pytest.raises(ParseError, match="NaN is not valid JSON"):
        _io.read_json(p)


def test_png_round_trip(tmp_path):
    a = (np.arange(12, dtype=np.uint8) % 5).reshape(3, 4)
    _io.write_png(tmp_path / "a.png", a, palette=[0, 0, 0, 255, 0, 0] + [0] * 762)
    arr, mode, palette = _io.read_png(tmp_path / "a.png")
    assert mode == "P" and palette[:6] == [0, 0, 0, 255, 0, 0]
    np.testing.assert_array_equal(arr, a)
    with pytest.raises(ParseError, match="not a readable image"):
        (tmp_path / "b.png").write_bytes(b"nope")
        _io.read_png(tmp_path / "b.png")


def test_atomic_folder_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), _io.atomic_folder(target) as tmp:
        (tmp / "a.png").write_bytes(b"x")
        raise RuntimeError("writer failed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_folder_success_moves_files(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    with _io.atomic_folder(target) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "a.png").write_bytes(b"x")
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == ["keep.txt", "sub/a.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("inside", [False, True])
def test_atomic_folder_moves_all_files_or_none(tmp_path, inside):
    target = tmp_path / "out"
    target.mkdir()
    (target / "a.json").write_text("old")
    (target / "val").write_text("a file where the new export needs a folder")
    with pytest.raises(WriteError, match="cannot write"), _io.atomic_folder(target, inside=inside) as tmp:
        (tmp / "a.json").write_text("new")  # moved first (sorted), then put back
        (tmp / "new" / "deep").mkdir(parents=True)
        (tmp / "new" / "deep" / "b.png").write_bytes(b"x")
        (tmp / "val").mkdir()
        (tmp / "val" / "c.png").write_bytes(b"x")
    assert sorted(p.name for p in target.iterdir()) == ["a.json", "val"]
    assert (target / "a.json").read_text() == "old"
    assert (target / "val").read_text() == "a file where the new export needs a folder"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_written_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    _io.write_json(tmp_path / "a.json", {})
    mode = stat.S_IMODE((tmp_path / "a.json").stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
    os.chmod(tmp_path / "a.json", 0o640)
    _io.write_json(tmp_path / "a.json", {"x": 1})
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o640


def test_truncated_png_is_refused(tmp_path):
    _io.write_png(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:-12])
    with pytest.raises(ParseError, match=r"not a readable image: truncated PNG \(no IEND chunk at its end\)"):
        _io.read_png(tmp_path / "cut.png")
    (tmp_path / "tail.png").write_bytes(data + b"\n")  # bytes after IEND: Pillow reads it, so do we
    assert _io.read_png(tmp_path / "tail.png")[0].shape == (4, 4)


def test_png_beyond_pillows_bomb_guard_is_read(tmp_path, monkeypatch):
    # Pillow refuses images over 2 x MAX_IMAGE_PIXELS (about 179 million pixels by default:
    # an orthomosaic mask annoconv itself writes); shown here with a guard of 100 pixels
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    _io.write_png(tmp_path / "a.png", np.ones((30, 30), np.uint8))
    with pytest.raises(Image.DecompressionBombError):
        Image.open(tmp_path / "a.png")
    assert _io.read_png(tmp_path / "a.png")[0].sum() == 900
    assert Image.MAX_IMAGE_PIXELS == 100  # the guard is back as it was


def test_overflowing_numbers_are_refused(tmp_path):
    p = tmp_path / "big.json"
    p.write_bytes(b'{"x": 1e400}')
    with pytest.raises(ParseError, match="too large for a double"):
        _io.read_json(p)


def test_failed_writes_remove_the_folders_they_created(tmp_path):
    with pytest.raises(RuntimeError), _io.atomic_folder(tmp_path / "a" / "b" / "out") as tmp:
        (tmp / "x.png").write_bytes(b"x")
        raise RuntimeError("writer failed")
    with pytest.raises(RuntimeError), _io.atomic_write(tmp_path / "c" / "d" / "x.json") as f:
        f.write(b"{")
        raise RuntimeError("writer failed")
    assert list(tmp_path.iterdir()) == []
