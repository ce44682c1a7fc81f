"""Figures of the basin evidence (`job=basins`, evidence.parquet and evidence_field.parquet):
the seed's "weather system" (time-decayed density as a heat map, the transport drift as
arrows over it) and each basin's evidence over time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
from matplotlib.figure import Figure

from engine._basins.evidence.communities import SUFFIX as LEIDEN_SUFFIX
from engine.figures.canvas import color, panels
from engine.figures.tables import FigureUnavailable, frame

MAX_BASINS = 8  # lines per panel


def weather(tables: Mapping[str, pa.Table], metrics: Mapping[str, Any]) -> Figure:
    """Density heat map of the test part's busiest window with the drift field over it."""
    field = frame(tables, "evidence_field")
    dens = field.filter(pl.col("kind") == "density")
    drift = field.filter(pl.col("kind") == "drift")
    if len(dens) == 0 and len(drift) == 0:
        raise FigureUnavailable("no density or drift in evidence_field")
    coords = metrics.get("coords") or ["axis 0", "axis 1"]
    b = int(field["bin"][0])
    fig, (ax,) = panels(1, title=f"Density and drift, test bin {b}", width=6.0, height=5.0,
                        caption="time-decayed density (heat map); transport drift (arrows)")
    if len(dens):
        x, y = np.unique(dens["x"].to_numpy()), np.unique(dens["y"].to_numpy())
        grid = dens.sort(["x", "y"])["value"].to_numpy().reshape(len(x), len(y))
        mesh = ax.pcolormesh(x, y, grid.T, shading="nearest", cmap="magma", rasterized=True)
        fig.colorbar(mesh, ax=ax, label="density")
    if len(drift):
        ax.quiver(drift["x"].to_numpy(), drift["y"].to_numpy(), drift["u"].to_numpy(),
                  drift["v"].to_numpy(), color="cyan", angles="xy")
    ax.set(xlabel=coords[0], ylabel=coords[1] if len(coords) > 1 else "axis 1")
    return fig


def evidence_over_time(tables: Mapping[str, pa.Table], metrics: Mapping[str, Any]) -> Figure:
    """Mean z over the methods per basin and bin, the basins with most evidence, per part."""
    ev = frame(tables, "evidence").filter(  # the per-bin Leiden communities are not tracked
        pl.col("z").is_finite() & ~pl.col("part").str.ends_with(LEIDEN_SUFFIX))
    if len(ev) == 0:
        raise FigureUnavailable("no finite z in evidence")
    split = ev.partition_by("part", as_dict=False, maintain_order=True)
    fig, axes = panels(len(split), title="Evidence per basin over bins", max_columns=2,
                       caption="mean z over the methods against the time-shuffled null")
    for ax, part in zip(axes, split, strict=True):
        per = part.group_by(["basin_id", "bin"]).agg(pl.col("z").mean())
        top = per.group_by("basin_id").agg(pl.col("z").mean().alias("m")).sort(
            "m", descending=True).head(MAX_BASINS)
        for i, basin in enumerate(top["basin_id"].to_list()):
            one = per.filter(pl.col("basin_id") == basin).sort("bin")
            ax.plot(one["bin"].to_numpy(), one["z"].to_numpy(), marker="o", ms=3,
                    color=color(i), label=f"basin {basin}")
        ax.axhline(0, color="0.6", lw=1, ls="--")
        ax.set(title=str(part["part"][0]), xlabel="bin (chosen; scored on the next)",
               ylabel="mean z")
        ax.legend(fontsize="x-small", loc="upper left")
    return fig
