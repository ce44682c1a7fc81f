"""A new figure with the report's size and style, and the few marks several figures share."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

GREY = "#c8c8c8"  # points outside every group
PANEL = (4.6, 3.2)  # inches per axes
# Dense point clouds are drawn rasterized (an image inside the SVG): thousands of vector
# points would make the one-file report megabytes large.


def panels(n: int = 1, *, caption: str = "", title: str = "", width: float = PANEL[0],
           height: float = PANEL[1], max_columns: int = 3) -> tuple[Figure, list[Axes]]:
    """A figure of `n` axes in rows of at most `max_columns`. Constrained layout keeps every
    title, label and legend inside the figure, so nothing is clipped when it is saved."""
    cols = min(max(n, 1), max_columns)
    rows = math.ceil(max(n, 1) / cols)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained", label=caption)
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for extra in axes[n:]:
        extra.remove()
    if title:
        fig.suptitle(title, fontweight="bold")
    return fig, axes[:n]


def color(i: int) -> str:
    """The i-th colour of matplotlib's tab10 cycle (distinct, colour-blind friendlier)."""
    return f"C{i % 10}"


def diagonal(ax: Axes) -> None:
    """A dashed y = x line over the axes' current square range."""
    lo = min(ax.get_xlim()[0], ax.get_ylim()[0])
    hi = max(ax.get_xlim()[1], ax.get_ylim()[1])
    ax.plot([lo, hi], [lo, hi], ls="--", color="0.6", lw=1, zorder=0)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)


def finite(values) -> np.ndarray:
    v = np.asarray(values, float)
    return v[np.isfinite(v)]
