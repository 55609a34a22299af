"""annoconv.errors: one root, located messages compared word for word."""

from __future__ import annotations

import pickle

import pytest

from annoconv import errors


def test_tree():
    for cls in (errors.ParseError, errors.RLEError, errors.UnknownFormatError,
                errors.WriteError, errors.ConversionError):
        assert issubclass(cls, errors.AnnoconvError)
    assert issubclass(errors.RLEError, errors.ParseError)
    assert issubclass(errors.WriteError, OSError)


@pytest.mark.parametrize(
    ("file", "pointer", "message", "text"),
    [
        ("a.json", "$.images[3].labels[0].mask", "expected a list, got 5",
         "a.json: $.images[3].labels[0].mask: expected a list, got 5"),
        (None, "$.x", "bad", "$.x: bad"),
        ("a.json", None, "invalid JSON at line 1 column 2: Expecting value",
         "a.json: invalid JSON at line 1 column 2: Expecting value"),
    ],
)
def test_parse_error_text(file, pointer, message, text):
    assert str(errors.ParseError(file, pointer, message)) == text


def test_located_prefixes_pointer_and_pickles():
    e = errors.RLEError(None, "$.counts", "counts sum to 5, expected 6")
    loc = e.located("x.json", "$.annotations[2].segmentation")
    assert str(loc) == "x.json: $.annotations[2].segmentation.counts: counts sum to 5, expected 6"
    assert isinstance(loc, errors.RLEError)
    again = pickle.loads(pickle.dumps(loc))
    assert str(again) == str(loc)


def test_json_pointer():
    assert errors.json_pointer("images", 3, "labels", 0, "mask") == "$.images[3].labels[0].mask"
    assert errors.json_pointer("a b") == "$['a b']"
