"""Hasty semantic PNG export (label_classes.json + one PNG per image). UNDER CONSTRUCTION in this session: registered without a reader or writer."""

from __future__ import annotations

from ..registry import FormatSpec

FORMAT = FormatSpec(name="semantic-png", description="Hasty semantic PNG export (label_classes.json + one PNG per image) (not yet implemented)")
INDEX_FORMAT = FormatSpec(name="index-png", description="folder of index PNGs with a class map (not yet implemented)")
