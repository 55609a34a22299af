"""Seeded shapes shared by the benchmarks (realistic blobs, not noise)."""

from __future__ import annotations

import numpy as np


def blob(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A star-shaped blob filling most of an (h, w) crop."""
    yy, xx = np.mgrid[0:h, 0:w]
    dy, dx = (yy + 0.5 - h / 2) / (h / 2), (xx + 0.5 - w / 2) / (w / 2)
    r, t = np.hypot(dx, dy), np.arctan2(dy, dx)
    k = rng.integers(2, 6, size=3)
    a = rng.uniform(0.03, 0.12, size=3)
    edge = 0.85 + sum(a[i] * np.sin(k[i] * t + i) for i in range(3))
    return r < edge
