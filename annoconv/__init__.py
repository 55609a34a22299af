"""annoconv: exact, fast conversion of computer-vision annotations between formats.

Every conversion goes through one canonical model (:mod:`annoconv.model`)::

    import annoconv
    ds = annoconv.load("export.json")                     # format detected from content
    report = annoconv.save(ds, "out/instances.json", format="coco", mask_as="rle")
    report = annoconv.convert("export.json", "out/instances.json", to="coco")
    print(report)                                         # what was approximated, counted

The RLE codec is :mod:`annoconv.rle`; polygons and boxes are in :mod:`annoconv.geometry`.
"""

from __future__ import annotations

import collections.abc
import inspect
import numbers
import os
import types
import typing
from pathlib import Path
from typing import Any

import numpy as np

from . import geometry, rle
from .errors import (
    AnnoconvError,
    ConversionError,
    OptionError,
    ParseError,
    RLEError,
    UnknownFormatError,
    WriteError,
    describe_value,
)
from .model import (
    Annotation,
    AttributeSpec,
    Box,
    Category,
    Dataset,
    Ellipse,
    Keypoints,
    Mask,
    Polygon,
    PolygonPart,
    Polyline,
    Sample,
    Status,
)
from .registry import FormatSpec, available_formats, detect_format, get_format, register
from .report import ConversionReport

__version__ = "0.1.0"

__all__ = [
    "AnnoconvError",
    "Annotation",
    "AttributeSpec",
    "Box",
    "Category",
    "ConversionError",
    "ConversionReport",
    "Dataset",
    "Ellipse",
    "FormatSpec",
    "Keypoints",
    "Mask",
    "OptionError",
    "ParseError",
    "Polygon",
    "PolygonPart",
    "Polyline",
    "RLEError",
    "Sample",
    "Status",
    "UnknownFormatError",
    "WriteError",
    "__version__",
    "available_formats",
    "convert",
    "detect_format",
    "geometry",
    "get_format",
    "load",
    "register",
    "rle",
    "save",
]


def _check_options(fn: Any, options: dict[str, Any], fmt: str, what: str) -> None:
    """Unknown option names, and values of the wrong type for the reader's or writer's
    annotation (a string where an int belongs, say), are usage errors."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = [n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY and n != "report"]
    unknown = [k for k in options if k not in allowed]
    if unknown:
        raise OptionError(
            f"the {fmt} {what} has no option {', '.join(map(repr, unknown))}; "
            f"its options: {', '.join(allowed) or 'none'}"
        )
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an annotation that does not resolve: nothing to check against
        return
    for name, value in options.items():
        hint = hints.get(name)
        if hint is not None and _fits(value, hint) is False:
            raise OptionError(f"the {fmt} {what} option {name!r} takes {_hint_text(hint)}, "
                              f"got {describe_value(value)}")
    level = options.get("compress_level")
    if isinstance(level, numbers.Integral) and not 0 <= level <= 9:  # zlib's levels, every PNG writer
        raise OptionError(f"compress_level must be 0-9, got {level}")


def _fits(value: Any, hint: Any) -> bool | None:
    """Whether ``value`` fits the annotation ``hint``: False only where it surely does not
    (numpy integers are ints, any non-string iterable may stand for a sequence; None: cannot
    tell)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        results = [_fits(value, a) for a in args]
        return True if True in results else None if None in results else False
    if origin is typing.Literal:
        return value in args
    if hint is bool:
        return isinstance(value, (bool, np.bool_))
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if hint is str:
        return True if isinstance(value, str) else None if isinstance(value, os.PathLike) else False
    if hint is Path or hint is os.PathLike:
        return isinstance(value, (str, os.PathLike))
    if origin in (collections.abc.Sequence, collections.abc.Iterable, list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, collections.abc.Iterable):
            return False
        if not isinstance(value, (list, tuple, set, frozenset)) or not args:
            return None
        results = [_fits(v, args[0]) for v in value]
        return False if False in results else None
    return None


def _hint_text(hint: Any) -> str:
    text = str(hint).replace("typing.", "").replace("collections.abc.", "").replace("pathlib.", "")
    return text.replace("<class '", "").replace("'>", "")


def load(
    path: str | Path,
    format: str | None = None,
    *,
    report: ConversionReport | None = None,
    **options: Any,
) -> Dataset:
    """Read a dataset; the format is detected from the content unless named.

    Reader options (e.g. ``strict=False`` for COCO, ``bitmaps=`` for Segments) pass through.
    Warnings a reader counts (unknown statuses, skipped references) go to ``report``.
    """
    name = format or detect_format(path)
    spec = get_format(name)
    if spec.read is None:
        raise UnknownFormatError(f"format {name!r} cannot be read")
    _check_options(spec.read, options, name, "reader")
    if report is not None and report.source is None:
        report.source = name
    return spec.read(Path(path), report=report, **options)


def save(
    dataset: Dataset,
    path: str | Path,
    format: str,
    *,
    report: ConversionReport | None = None,
    **options: Any,
) -> ConversionReport:
    """Write a dataset in ``format``; returns the report of what was approximated.

    The write is atomic: on any error no partial output is left behind.
    """
    spec = get_format(format)
    if spec.write is None:
        raise UnknownFormatError(f"format {format!r} cannot be written")
    _check_options(spec.write, options, format, "writer")
    rep = report if report is not None else ConversionReport()
    rep.target = format
    spec.write(dataset, Path(path), report=rep, **options)
    return rep


def convert(
    src: str | Path,
    dst: str | Path,
    to: str,
    *,
    from_: str | None = None,
    read_options: dict[str, Any] | None = None,
    **write_options: Any,
) -> ConversionReport:
    """``load`` then ``save``: convert ``src`` to format ``to`` at ``dst``.

    ``from_`` names the source format (detected if omitted); ``read_options`` go to the
    reader and every other keyword to the writer (e.g. ``mask_as="polygon"``).
    """
    report = ConversionReport()
    ds = load(src, from_, report=report, **(read_options or {}))
    return save(ds, dst, to, report=report, **write_options)
