"""The annoconv command: exit codes, one-line errors, output on stdout."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from annoconv import cli
from annoconv.formats import native

from .formats.test_native import every_shape_dataset


@pytest.fixture
def native_file(tmp_path):
    p = tmp_path / "ds.json"
    native.write(every_shape_dataset(), p)
    return p


def test_formats_lists_registry(capsys):
    assert cli.main(["formats"]) == 0
    lines = capsys.readouterr().out.splitlines()
    from annoconv import available_formats

    names = [line.split("\t")[0] for line in lines if not line.startswith("\t")]
    assert names == [f.name for f in available_formats()]
    assert "annoconv\tread/write\t.json\tannoconv's own lossless JSON of the canonical model" in lines


def test_info(native_file, capsys):
    assert cli.main(["info", str(native_file), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["format"] == "annoconv" and stats["samples"] == 2 and stats["annotations"] == 8


def test_validate_and_convert(native_file, tmp_path, capsys):
    assert cli.main(["validate", str(native_file)]) == 0
    assert "valid annoconv (2 samples, 8 annotations)" in capsys.readouterr().out
    out = tmp_path / "out" / "copy.json"
    report = tmp_path / "report.json"
    assert cli.main(["convert", str(native_file), str(out), "--to", "annoconv", "--report", str(report)]) == 0
    assert out.read_bytes() == native_file.read_bytes()
    assert json.loads(report.read_text())["annotations"] == 8


def test_data_error_is_one_line_exit_1(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"annoconv": 1, "samples": [{"id": 1}]}')
    assert cli.main(["convert", str(bad), str(tmp_path / "o.json"), "--to", "annoconv", "--from", "annoconv"]) == 1
    err = capsys.readouterr().err
    assert err == f"annoconv: error: {bad}: $.samples[0]: missing key 'file_name'\n"
    assert not (tmp_path / "o.json").exists()


def test_usage_errors_exit_2(native_file, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["convert", str(native_file)])
    assert info.value.code == 2
    assert cli.main(["convert", str(native_file), str(tmp_path / "o.json"), "--to", "annoconv", "-w", "bogus=1"]) == 2
    assert "has no option 'bogus'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("to", "option", "message"),
    [
        ("semantic-png", "workers=abc", "the semantic-png writer option 'workers' takes int, got 'abc'"),
        ("semantic-png", "labels_order=5", "the semantic-png writer option 'labels_order' takes Sequence[str] | str, got 5"),
        ("coco-panoptic", "png_dir=5", "the coco-panoptic writer option 'png_dir' takes str | Path | None, got 5"),
        ("segments", 'compress_level="x"', "the segments writer option 'compress_level' takes int, got 'x'"),
        ("index-png", "compress_level=99", "compress_level must be 0-9, got 99"),
        ("index-png", "background=-1", "background must be an index 0-65535, got -1"),
        ("scale", "layout=bad", "layout must be 'array', 'task', 'callback' or 'page', got 'bad'"),
    ],
)
def test_option_values_of_the_wrong_kind_are_usage_errors(native_file, tmp_path, capsys, to, option, message):
    assert cli.main(["convert", str(native_file), str(tmp_path / "o"), "--to", to, "-w", option]) == 2
    assert capsys.readouterr().err == f"annoconv: usage error: {message}\n"
    assert not (tmp_path / "o").exists()


def test_an_unexpected_exception_is_still_one_line(native_file, tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("boom")

    monkeypatch.setattr(cli, "convert", broken)
    argv = ["convert", str(native_file), str(tmp_path / "o.json"), "--to", "coco"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("annoconv: unexpected error (a bug in annoconv")
    assert err.endswith("KeyError: 'boom'\n")
    monkeypatch.setenv("ANNOCONV_DEBUG", "1")
    with pytest.raises(KeyError):
        cli.main(argv)


def test_info_and_validate_take_reader_options(capsys):
    from pathlib import Path

    scale = Path(__file__).resolve().parents[1] / "fixtures" / "scale"
    for command in ("info", "validate"):
        assert cli.main([command, str(scale / "segment.json"), "-r", f"mask_dir={scale / 'masks'}"]) == 0
    assert cli.main(["validate", str(scale / "tasks.json"), "-r", "validate=false"]) == 0  # -r wins
    assert "annotations: 3" in capsys.readouterr().out


def test_an_unwritable_report_is_refused_before_converting(native_file, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as info:
        cli.main(["convert", str(native_file), str(tmp_path / "o.json"), "--to", "coco",
                  "--report", str(blocker / "r.json")])
    assert info.value.code == 2 and "cannot write there" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()


def test_unknown_format_exit_1(native_file, tmp_path, capsys):
    assert cli.main(["convert", str(native_file), str(tmp_path / "o"), "--to", "nope"]) == 1
    assert "unknown format 'nope'" in capsys.readouterr().err


def test_python_dash_m(native_file):
    proc = subprocess.run([sys.executable, "-m", "annoconv", "info", str(native_file)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "annotations: 8" in proc.stdout
