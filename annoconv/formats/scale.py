"""Scale task responses (imageannotation, legacy annotation, segmentannotation). UNDER CONSTRUCTION in this session: registered without a reader or writer."""

from __future__ import annotations

from ..registry import FormatSpec

FORMAT = FormatSpec(name="scale", description="Scale task responses (imageannotation, legacy annotation, segmentannotation) (not yet implemented)")
