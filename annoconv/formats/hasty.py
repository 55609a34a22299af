"""Hasty json_v1.1 export. UNDER CONSTRUCTION in this session: registered without a reader or writer."""

from __future__ import annotations

from ..registry import FormatSpec

FORMAT = FormatSpec(name="hasty", description="Hasty json_v1.1 export (not yet implemented)")
