"""Figures of `job=basins`: basin sizes over bins (significant basins marked), continuation
calibration, the tuning grid's scores."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
from matplotlib.figure import Figure

from engine.figures.canvas import color, diagonal, panels
from engine.figures.tables import FigureUnavailable, frame, need, numeric, pick

MAX_BASINS = 10  # lines per panel
MAX_COMBOS = 40  # bars in the tuning figure


def parts(bins: pl.DataFrame) -> list[pl.DataFrame]:
    """Train and test bins apart: bin and basin ids restart in each part."""
    if "part" not in bins.columns:
        return [bins]
    return bins.partition_by("part", as_dict=False, maintain_order=True)


def basin_sizes(tables: Mapping[str, pa.Table], metrics: Mapping[str, Any]) -> Figure:
    """Sizes of the largest basins over the bins, one panel per part; significant basins first."""
    bins = frame(tables, "bins")
    bin_col = need(bins, "bin", "bin_index", "bin_id")
    size_col = need(bins, "size", "n_points")
    basin_col = need(bins, "basin_id", "basin")
    split = parts(bins)
    fig, panes = panels(len(split), title="Basin sizes over bins", max_columns=2,
                        caption=f"the {MAX_BASINS} largest basins of each part at most")
    for ax, part in zip(panes, split, strict=True):
        tracked = part.filter(pl.col(basin_col).cast(pl.Int64, strict=False).fill_null(-1) >= 0)
        sig = "basin_significant" if "basin_significant" in tracked.columns else None
        agg = [pl.col(size_col).sum().alias("total")]
        agg += [pl.col(sig).any().alias("sig")] if sig else []
        order = ["sig", "total"] if sig else ["total"]
        top = tracked.group_by(basin_col).agg(agg).sort(order, descending=True).head(MAX_BASINS)
        for i, row in enumerate(top.iter_rows(named=True)):
            one = tracked.filter(pl.col(basin_col) == row[basin_col]).sort(bin_col)
            ax.plot(numeric(one, bin_col), numeric(one, size_col), marker="o", ms=3,
                    color=color(i), ls="-" if row.get("sig") else ":",
                    label=f"basin {row[basin_col]}" + (" *" if row.get("sig") else ""))
        name = part["part"][0] if "part" in part.columns and len(part) else "all bins"
        ax.set(title=f"{name}: {tracked[basin_col].n_unique()} basins", xlabel="bin",
               ylabel="size")
        if len(top):
            ax.legend(fontsize="x-small", loc="upper left", title="* significant",
                      title_fontsize="x-small")
    return fig


def continued(bins: pl.DataFrame, bin_col: str, basin_col: str | None) -> np.ndarray:
    """Whether each cluster has a hard match in the next bin: the job's own column if it wrote
    one, else whether its basin id appears in the next bin (NaN for the last bin)."""
    own = pick(bins, "continued", "has_next", "matched_next")
    if own:
        return numeric(bins, own)
    if basin_col is None:
        raise FigureUnavailable("no continued or basin column")
    b = numeric(bins, bin_col)
    ids = bins[basin_col].to_list()
    present = {(bb, i) for bb, i in zip(b, ids, strict=True) if i is not None}
    last = np.nanmax(b) if len(b) else 0
    return np.array([np.nan if bb >= last else float((bb + 1, i) in present)
                     for bb, i in zip(b, ids, strict=True)])


def calibration(tables: Mapping[str, pa.Table], metrics: Mapping[str, Any],
                n_bins: int = 10) -> Figure:
    """Observed continuation rate against the predicted p(continue), in equal-width bins."""
    bins = frame(tables, "bins")
    bin_col = need(bins, "bin", "bin_index", "bin_id")
    p_col = need(bins, "p_cont", "p_continue")
    basin_col = pick(bins, "basin_id", "basin")
    split = parts(bins)
    p = np.concatenate([numeric(part, p_col) for part in split])
    y = np.concatenate([continued(part, bin_col, basin_col) for part in split])
    ok = np.isfinite(p) & np.isfinite(y)
    p, y = p[ok], y[ok]
    which = np.clip(np.digitize(p, np.linspace(0, 1, n_bins + 1)) - 1, 0, n_bins - 1)
    used = [k for k in range(n_bins) if (which == k).any()]
    xs = [float(p[which == k].mean()) for k in used]
    ys = [float(y[which == k].mean()) for k in used]
    brier = float(np.mean((p - y) ** 2)) if len(p) else float("nan")
    fig, (ax,) = panels(caption=f"{len(p)} clusters with a next bin, Brier {brier:.3f}")
    ax.plot(xs, ys, marker="o", color="C0", label="observed")
    ax.set(xlim=(0, 1), ylim=(0, 1))
    diagonal(ax)
    ax.set(title="Continuation calibration", xlabel="predicted p(continue)",
           ylabel="observed rate")
    return fig


def tuning(tables: Mapping[str, pa.Table], metrics: Mapping[str, Any]) -> Figure:
    """The tuning grid's objective per combination, best first."""
    grid = frame(tables, "tuning_results")
    score = need(grid, "continuation_auroc", "objective", "auroc")
    ranked = numeric(grid.sort(score, descending=True, nulls_last=True), score)[:MAX_COMBOS]
    fig, (ax,) = panels(caption=f"{len(grid)} combinations, best first")
    ax.bar(np.arange(1, len(ranked) + 1), np.nan_to_num(ranked), color="C0")
    ax.set(title=f"{score} by combination", xlabel="rank", ylabel=score)
    return fig


FIGURES = {"basin_sizes": basin_sizes, "calibration": calibration, "tuning": tuning}
