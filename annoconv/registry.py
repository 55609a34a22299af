"""The format registry: one :class:`FormatSpec` per format, found by name or by sniffing.

Each module in ``annoconv.formats`` ends with ``FORMAT = FormatSpec(...)``; the tuple
``annoconv.formats.BUILTIN`` lists them. A third-party format calls :func:`register`.

A spec's ``sniff(path, head)`` looks only at cheap evidence (the first 64 KiB of a file, or
a folder's listing) and returns a confidence: 0 no, 1 plausible, 2 sure.
:func:`detect_format` returns the one best match or raises :class:`UnknownFormatError`
naming the candidates and the ``format=`` / ``--from`` option.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._io import head
from .errors import UnknownFormatError

__all__ = ["FormatSpec", "available_formats", "detect_format", "get_format", "register"]


@dataclass(frozen=True)
class FormatSpec:
    """A registered format.

    ``read(path, *, report, **options) -> Dataset`` and
    ``write(dataset, path, *, report, **options) -> None``; either may be None when the
    format is read- or write-only. ``options`` documents each keyword the reader/writer
    takes (shown by ``annoconv formats``).
    """

    name: str
    description: str
    extensions: tuple[str, ...] = ()
    sniff: Callable[[Path, bytes], int] | None = None
    read: Callable[..., Any] | None = None
    write: Callable[..., Any] | None = None
    folder: bool = False  # True when the format is a folder rather than one file
    read_options: dict[str, str] = field(default_factory=dict)
    write_options: dict[str, str] = field(default_factory=dict)


_REGISTRY: dict[str, FormatSpec] = {}
_LOADED = False


def register(spec: FormatSpec, *, replace: bool = False) -> None:
    """Add a format (``replace=True`` to override an existing name, built-in ones included)."""
    _ensure_builtin()  # built-ins first, and never shadowed by accident
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"format {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec


def _ensure_builtin() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from .formats import BUILTIN

    for spec in BUILTIN:
        _REGISTRY[spec.name] = spec


def available_formats() -> list[FormatSpec]:
    """Every registered format, built-in ones first in their listed order."""
    _ensure_builtin()
    return list(_REGISTRY.values())


def get_format(name: str) -> FormatSpec:
    """The spec registered under ``name`` (UnknownFormatError listing the names if none)."""
    _ensure_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        names = ", ".join(sorted(_REGISTRY))
        raise UnknownFormatError(f"unknown format {name!r}; known formats: {names}") from None


def detect_format(path: str | Path) -> str:
    """The name of the one format that recognises ``path`` best.

    Raises UnknownFormatError when none does, or when several are equally sure.
    """
    _ensure_builtin()
    p = Path(path)
    if not p.exists():
        raise UnknownFormatError(f"{p}: no such file or folder")
    data = head(p).removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark: every reader skips it
    scores: dict[str, int] = {}
    for spec in _REGISTRY.values():
        if spec.sniff is None or spec.read is None:
            continue
        try:
            score = spec.sniff(p, data)
        except Exception:  # a sniffer must never break detection of another format
            score = 0
        if score > 0:
            scores[spec.name] = score
    if not scores:
        raise UnknownFormatError(
            f"{p}: no registered format recognises this {'folder' if p.is_dir() else 'file'}; "
            "name it with format= (--from on the command line)"
        )
    best = max(scores.values())
    winners = [n for n, s in scores.items() if s == best]
    if len(winners) > 1:
        raise UnknownFormatError(
            f"{p}: several formats match ({', '.join(winners)}); choose one with format= "
            "(--from on the command line)"
        )
    return winners[0]
