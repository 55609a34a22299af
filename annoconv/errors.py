"""The whole annoconv exception tree.

Every error annoconv raises on purpose derives from :class:`AnnoconvError`, so one
``except annoconv.AnnoconvError`` catches them all::

    AnnoconvError
    ├── ParseError            a file (or an in-memory document) is not what its format says
    │   └── RLEError          an RLE mask is malformed (bad counts, bad string, size too large)
    ├── UnknownFormatError    no registered format matches, or a format name is unknown
    ├── OptionError           a reader/writer option that does not exist or has a bad value
    ├── WriteError            a writer could not write its output (nothing partial is left)
    └── ConversionError       the data cannot be expressed in the target format

A :class:`ParseError` names the file and a JSON-path-like pointer into it, and reads
``instances.json: $.annotations[3].segmentation[0]: expected an even count >= 6, got 5 values``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "AnnoconvError",
    "ConversionError",
    "OptionError",
    "ParseError",
    "RLEError",
    "UnknownFormatError",
    "WriteError",
    "describe",
    "describe_value",
    "json_pointer",
]


class AnnoconvError(Exception):
    """Root of every error annoconv raises on purpose."""


class ParseError(AnnoconvError, ValueError):
    """Input that does not follow its format.

    ``file`` is the path (or ``None`` for in-memory input), ``pointer`` a JSON path such as
    ``$.images[3].labels[0].mask`` (or ``None``), ``message`` what was expected and found.

    >>> str(ParseError("a.json", "$.images[0].id", "expected an integer, got 'x'"))
    "a.json: $.images[0].id: expected an integer, got 'x'"
    """

    def __init__(
        self, file: str | Path | None, pointer: str | None, message: str
    ) -> None:
        self.file = None if file is None else str(file)
        self.pointer = pointer
        self.message = message
        super().__init__(self._text())

    def _text(self) -> str:
        parts = [p for p in (self.file, self.pointer) if p]
        return ": ".join([*parts, self.message])

    def located(
        self, file: str | Path | None = None, pointer: str | None = None
    ) -> ParseError:
        """A copy of this error with the file and/or pointer filled in (pointer is prefixed).

        Readers call codec functions that know nothing of files; they re-raise the codec's
        error with its location:

        >>> e = RLEError(None, None, "counts sum to 5, expected 6").located("a.json", "$.x")
        >>> str(e)
        'a.json: $.x: counts sum to 5, expected 6'
        """
        new_pointer = pointer if self.pointer is None else _join(pointer, self.pointer)
        err = type(self)(file if file is not None else self.file, new_pointer, self.message)
        err.__cause__ = self.__cause__
        return err

    def __reduce__(self):  # keep pickling (Dask workers) working with the 3-arg __init__
        return (type(self), (self.file, self.pointer, self.message))


def _join(prefix: str | None, suffix: str) -> str:
    if not prefix:
        return suffix
    if suffix.startswith("$"):
        suffix = suffix[1:]
    return prefix + suffix


class RLEError(ParseError):
    """A malformed RLE: counts that do not sum to height*width, negative counts, a truncated
    or out-of-alphabet compressed string, or a size over the configured bound."""

    def __init__(
        self, file: str | Path | None = None, pointer: str | None = None, message: str = ""
    ) -> None:
        super().__init__(file, pointer, message)


class UnknownFormatError(AnnoconvError, LookupError):
    """A format name that is not registered, or a file that no (or more than one) format
    recognises. The message lists the candidates and names the ``--from``/``format=`` option."""


class OptionError(AnnoconvError, TypeError, ValueError):
    """A reader or writer option that does not exist, or a value it does not take (the
    command line reports it as a usage error, exit status 2)."""


class WriteError(AnnoconvError, OSError):
    """The output could not be written; the target is left as it was."""


class ConversionError(AnnoconvError, ValueError):
    """The data cannot be expressed in the target format (and no lossy fallback was allowed)."""


def describe(value: object) -> str:
    """The JSON type of a value, for "expected ..., got ..." messages.

    >>> describe(None), describe([1]), describe("x"), describe(2.5)
    ('null', 'an array', 'a string', 'a number')
    """
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number"}.get(type(value), type(value).__name__)


def describe_value(value: object) -> str:
    """A value as a message shows it: numbers and short strings themselves, else the type.

    >>> describe_value(3), describe_value("ok"), describe_value({"a": 1}), describe_value(True)
    ('3', "'ok'", 'an object', 'a boolean')
    """
    if isinstance(value, bool) or value is None:
        return describe(value)
    if isinstance(value, (int, float)) or (isinstance(value, str) and len(value) <= 40):
        return repr(value)
    return describe(value)


def json_pointer(*steps: str | int | Sequence[str | int]) -> str:
    """Build a ``$.a[0].b`` path from keys (str) and indices (int).

    >>> json_pointer("images", 3, "labels", 0, "mask")
    '$.images[3].labels[0].mask'
    """
    out = ["$"]
    for step in steps:
        if isinstance(step, int):
            out.append(f"[{step}]")
        elif isinstance(step, str):
            out.append("." + step if step.isidentifier() else f"[{step!r}]")
        else:
            for s in step:
                out.append(f"[{s}]" if isinstance(s, int) else "." + str(s))
    return "".join(out)
