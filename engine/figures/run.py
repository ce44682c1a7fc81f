"""Figures of any run: where its time went."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
from matplotlib.figure import Figure

from engine.figures.canvas import panels
from engine.figures.tables import FigureUnavailable


def seconds(tables: Mapping[str, pa.Table], metrics: Mapping[str, Any]) -> Figure:
    """Seconds per stage, as horizontal bars (stage names stay readable)."""
    secs = {str(k): float(v) for k, v in (metrics.get("seconds") or {}).items()
            if isinstance(v, (int, float))}
    if not secs:
        raise FigureUnavailable("no per-stage seconds in the metrics")
    fig, (ax,) = panels(caption=f"total {sum(secs.values()):.1f} s",
                        height=1.0 + 0.25 * len(secs))
    ax.barh(range(len(secs)), list(secs.values()), color="C0")
    ax.set_yticks(range(len(secs)), list(secs))
    ax.invert_yaxis()  # stages top to bottom in the order they ran
    ax.set_xlabel("seconds")
    ax.set_title("Seconds per stage")
    return fig


FIGURES = {"seconds": seconds}
