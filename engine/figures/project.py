"""Figures of `job=project`: predicted vs actual on the held-out rows, the projected axes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
from matplotlib.figure import Figure

from engine.figures.canvas import diagonal, panels
from engine.figures.tables import FigureUnavailable, frame, numeric, sample

PREDICTIONS = ("predictions", "test_predictions")


def predicted_vs_actual(tables: Mapping[str, pa.Table], metrics: Mapping[str, Any]) -> Figure:
    """One scatter per axis of the held-out rows (`<axis>_true` / `<axis>_pred` columns)."""
    preds = frame(tables, *PREDICTIONS)
    axes = [c.removesuffix("_pred") for c in preds.columns
            if c.endswith("_pred") and f"{c.removesuffix('_pred')}_true" in preds.columns]
    if not axes:
        raise FigureUnavailable("no <axis>_pred / <axis>_true columns")
    fig, panes = panels(len(axes), title="Predicted vs actual (held-out rows)",
                        caption=f"{len(preds):,} held-out rows; dashed: y = x")
    for ax, axis in zip(panes, axes, strict=True):
        part = sample(preds.select(f"{axis}_true", f"{axis}_pred").drop_nulls())
        actual, pred = numeric(part, f"{axis}_true"), numeric(part, f"{axis}_pred")
        r = float(np.corrcoef(actual, pred)[0, 1]) if len(part) > 2 else float("nan")
        ax.scatter(actual, pred, s=6, alpha=0.6, color="C0", linewidths=0, rasterized=True)
        diagonal(ax)
        ax.set(title=f"{axis} (r = {r:.3f})", xlabel="actual", ylabel="predicted")
    return fig


def axis_names(tables: Mapping[str, pa.Table], metrics: Mapping[str, Any]) -> list[str]:
    """The projected axes: the metrics' `axes` where present, else the float columns."""
    projected = frame(tables, "projected")
    named = [str(a) for a in metrics.get("axes") or [] if str(a) in projected.columns]
    if named:
        return named
    return [c for c, t in projected.schema.items() if t in (pl.Float16, pl.Float32, pl.Float64)]


def projected_axes(tables: Mapping[str, pa.Table], metrics: Mapping[str, Any]) -> Figure:
    """A histogram of each projected axis over the projected rows."""
    projected = frame(tables, "projected")
    axes = axis_names(tables, metrics)
    if not axes:
        raise FigureUnavailable("no projected axis columns")
    fig, panes = panels(len(axes), title="Projected rows",
                        caption=f"{len(projected):,} rows")
    for ax, axis in zip(panes, axes, strict=True):
        values = numeric(projected, axis)
        ax.hist(values[np.isfinite(values)], bins=40, histtype="step", color="C0")
        ax.set(title=axis, xlabel=axis, ylabel="rows")
    return fig


def projected_scatter(tables: Mapping[str, pa.Table], metrics: Mapping[str, Any]) -> Figure:
    """The first two projected axes against each other (a row sample)."""
    axes = axis_names(tables, metrics)
    if len(axes) < 2:
        raise FigureUnavailable("fewer than two projected axes")
    pts = sample(frame(tables, "projected").select(axes[:2]))
    fig, (ax,) = panels(caption=f"sample of {len(pts):,} rows")
    ax.scatter(numeric(pts, axes[0]), numeric(pts, axes[1]), s=4, alpha=0.4, color="C0",
               linewidths=0, rasterized=True)
    ax.set(title=f"{axes[0]} vs {axes[1]}", xlabel=axes[0], ylabel=axes[1])
    return fig


FIGURES = {"predicted_vs_actual": predicted_vs_actual, "projected_axes": projected_axes,
           "projected_scatter": projected_scatter}
