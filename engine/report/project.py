"""Report of `job=project`: the fit table, predicted vs actual, the projected axes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from engine.figures import project as figures
from engine.report.common import read, read_metrics
from engine.report.html import Section
from engine.report.tables import RunTables


def sections(run_dir: Path) -> list[Section]:
    s = Section("Projection")
    tables = RunTables(run_dir)
    metrics = read_metrics(run_dir)
    if "projected" in tables:  # the axes as projection.npz names them
        metrics["axes"] = axis_columns(Path(run_dir) / "projected.parquet")
    fit = read(run_dir, "fit.parquet")
    if fit is not None:
        s.heading("Held-out fit per method and axis").table(fit)
    s.plots(tables, metrics, figures.predicted_vs_actual)
    if "projected" in tables:
        s.heading("Projected rows").plots(tables, metrics, figures.projected_axes,
                                          figures.projected_scatter)
        s.note(f"Over time: python -m engine.explore {Path(run_dir).resolve()}")
    if len(s.parts) == 0:
        s.note("No projection artifacts found.")
    return [s]


def axis_columns(path: Path) -> list[str]:
    """Axis names from projection.npz beside the table, else its floating-point columns."""
    npz = path.with_name("projection.npz")
    schema = pq.read_schema(path)
    if npz.exists():
        with np.load(npz, allow_pickle=False) as z:
            for key in ("axes", "axis_names", "axis"):
                if key in z.files:
                    names = [str(a) for a in np.atleast_1d(z[key])]
                    if all(a in schema.names for a in names):
                        return names
    return [f.name for f in schema if str(f.type) in ("double", "float", "halffloat")]
