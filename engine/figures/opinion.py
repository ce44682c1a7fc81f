"""Figures of `job=opinion`: the opinion map (voters in 2-D coloured by group, statements
where a voter agreeing with them alone would sit, as Polis draws it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
from matplotlib.figure import Figure

from engine.figures.canvas import GREY, color, panels
from engine.figures.tables import frame, need, numeric, sample

MAX_VOTERS = 5000
LABELLED_STATEMENTS = 12  # the most extreme statements get their id written beside them


def opinion_map(tables: Mapping[str, pa.Table], metrics: Mapping[str, Any]) -> Figure:
    """Voters at (x, y) coloured by group (grey: outside the in-conversation filter), dot area
    ~ votes cast, each group's label at its centre."""
    voters = frame(tables, "voters")
    need(voters, "x")
    need(voters, "y")
    pts = sample(voters, MAX_VOTERS)
    group = pts["group"] if "group" in pts.columns else pl.Series("group", [None] * len(pts))
    groups = sorted(group.drop_nulls().unique().to_list())
    code = {g: i for i, g in enumerate(groups)}
    codes = np.array([code.get(g, -1) if g is not None else -1 for g in group.to_list()])
    x, y = numeric(pts, "x"), numeric(pts, "y")
    n_votes = numeric(pts, "n_votes") if "n_votes" in pts.columns else np.ones(len(pts))
    area = 2 + 18 * n_votes / max(float(np.nanmax(n_votes)), 1.0)
    n_out = int((codes < 0).sum())
    fig, (ax,) = panels(caption=f"{len(pts):,} voters"
                        + (f" ({n_out} outside the in-conversation filter, grey)" if n_out else "")
                        + "; dot size ~ votes cast")
    out = codes < 0
    ax.scatter(x[out], y[out], s=area[out], color=GREY, alpha=0.7, linewidths=0,
               rasterized=True)
    for i, g in enumerate(groups):
        sel = codes == i
        ax.scatter(x[sel], y[sel], s=area[sel], color=color(i), alpha=0.7, linewidths=0,
                   rasterized=True, label=f"group {g}")
        ax.annotate(f"group {g}", (float(np.nanmean(x[sel])), float(np.nanmean(y[sel]))),
                    ha="center", fontweight="bold", fontsize="small")
    _draw_statements(ax, tables)
    if groups:
        ax.legend(fontsize="x-small", markerscale=1.5)
    ax.set(title="Opinion map", xlabel="PC1", ylabel="PC2")
    return fig


def _draw_statements(ax, tables: Mapping[str, pa.Table]) -> None:
    """Statements (statements.parquet) as small crosses; the most extreme ones labelled."""
    if "statements" not in tables:
        return
    st = frame(tables, "statements")
    if "moderated_out" in st.columns:
        st = st.filter(~pl.col("moderated_out"))
    if not len(st):
        return
    x, y = numeric(st, "x"), numeric(st, "y")
    ax.scatter(x, y, marker="x", s=12, color="black", alpha=0.5, linewidths=0.8,
               label="statements")
    for i in np.argsort(-np.hypot(x, y))[:LABELLED_STATEMENTS]:
        ax.annotate(str(st["statement_id"][int(i)]), (float(x[i]), float(y[i])),
                    fontsize="xx-small", alpha=0.8, xytext=(2, 2), textcoords="offset points")


FIGURES = {"opinion_map": opinion_map}
