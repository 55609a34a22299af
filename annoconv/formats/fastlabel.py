"""FastLabel task JSON. UNDER CONSTRUCTION in this session: registered without a reader or writer."""

from __future__ import annotations

from ..registry import FormatSpec

FORMAT = FormatSpec(name="fastlabel", description="FastLabel task JSON (not yet implemented)")
