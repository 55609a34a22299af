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

import inspect
from pathlib import Path
from typing import Any

from . import geometry, rle
from .errors import (
    AnnoconvError,
    ConversionError,
    OptionError,
    ParseError,
    RLEError,
    UnknownFormatError,
    WriteError,
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
