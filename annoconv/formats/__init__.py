"""Built-in formats: one module each, registered through the single ``BUILTIN`` tuple.

To add a format, write ``formats/<name>.py`` ending with ``FORMAT = FormatSpec(...)``, a test
file ``tests/formats/test_<name>.py`` and a fixture, and add the spec here.
"""

from __future__ import annotations

from ..registry import FormatSpec
from . import coco, fastlabel, hasty, native, scale, segments, semantic_png

BUILTIN: tuple[FormatSpec, ...] = (
    coco.FORMAT,
    coco.PANOPTIC_FORMAT,
    hasty.FORMAT,
    semantic_png.FORMAT,
    semantic_png.INDEX_FORMAT,
    segments.FORMAT,
    fastlabel.FORMAT,
    scale.FORMAT,
    native.FORMAT,
)

__all__ = ["BUILTIN"]
