"""Hypothesis strategies shared by the tests: masks with runs, polygons, small datasets."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as npst


@st.composite
def masks(draw: st.DrawFn, max_side: int = 8, min_side: int = 0) -> np.ndarray:
    """2-D bool masks drawn from few values so runs exist; sometimes Fortran-ordered."""
    h = draw(st.integers(min_side, max_side))
    w = draw(st.integers(min_side, max_side))
    style = draw(st.sampled_from(["noise", "blob", "full", "empty", "sparse"]))
    if style == "full":
        m = np.ones((h, w), bool)
    elif style == "empty":
        m = np.zeros((h, w), bool)
    elif style == "blob" and h and w:
        y0 = draw(st.integers(0, h - 1))
        x0 = draw(st.integers(0, w - 1))
        y1 = draw(st.integers(y0 + 1, h))
        x1 = draw(st.integers(x0 + 1, w))
        m = np.zeros((h, w), bool)
        m[y0:y1, x0:x1] = True
        if draw(st.booleans()) and (y1 - y0) > 2 and (x1 - x0) > 2:
            m[(y0 + y1) // 2, (x0 + x1) // 2] = False  # a hole
    else:
        m = draw(npst.arrays(np.bool_, (h, w), elements=st.booleans()))
        if style == "sparse":
            m &= draw(npst.arrays(np.bool_, (h, w), elements=st.booleans()))
    if draw(st.booleans()):
        m = np.asfortranarray(m)
    return m


coordinates = st.one_of(
    st.integers(-3, 30).map(float),
    st.integers(-15, 150).map(lambda v: v / 5),
    st.integers(-3, 30).map(lambda v: v + 0.5),
    st.floats(-5, 35, allow_nan=False, allow_infinity=False),
)


@st.composite
def polygon_parts(draw: st.DrawFn, max_parts: int = 3) -> list[list[float]]:
    """COCO polygon parts: 1..max_parts flat lists of 3..8 vertices."""
    parts = []
    for _ in range(draw(st.integers(1, max_parts))):
        k = draw(st.integers(3, 8))
        parts.append([draw(coordinates) for _ in range(2 * k)])
    return parts
