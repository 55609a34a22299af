"""COCO instances / keypoints JSON. UNDER CONSTRUCTION in this session: registered without a reader or writer."""

from __future__ import annotations

from ..registry import FormatSpec

FORMAT = FormatSpec(name="coco", description="COCO instances / keypoints JSON (not yet implemented)")
PANOPTIC_FORMAT = FormatSpec(name="coco-panoptic", description="COCO panoptic (not yet implemented)")
