"""Segments.ai release file with segmentation-bitmap or vector labels. UNDER CONSTRUCTION in this session: registered without a reader or writer."""

from __future__ import annotations

from ..registry import FormatSpec

FORMAT = FormatSpec(name="segments", description="Segments.ai release file with segmentation-bitmap or vector labels (not yet implemented)")
