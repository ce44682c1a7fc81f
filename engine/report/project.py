"""Report of `job=project`: the fit table, predicted vs actual, the projected axes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from engine.report import svg
from engine.report.common import numeric, read, sample
from engine.report.html import Section

PREDICTION_FILES = ("predictions.parquet", "test_predictions.parquet")


def sections(run_dir: Path) -> list[Section]:
    s = Section("Projection")
    fit = read(run_dir, "fit.parquet")
    if fit is not None:
        s.heading("Held-out fit per method and axis").table(fit)
    preds = next((p for p in (read(run_dir, f) for f in PREDICTION_FILES) if p is not None),
                 None)
    if preds is not None:
        s.figures(*predicted_vs_actual(preds))
    distribution = projected_axes(run_dir)
    if distribution:
        s.heading("Projected rows").figures(*distribution)
        s.note(f"Over time: python -m engine.explore {Path(run_dir).resolve()}")
    if len(s.parts) == 0:
        s.note("No projection artifacts found.")
    return [s]


def predicted_vs_actual(preds: pl.DataFrame) -> list[tuple[str, str]]:
    """One scatter per axis from a table with `<axis>_pred`/`<axis>_true` (or _actual) columns."""
    figs = []
    for col in preds.columns:
        if not col.endswith(("_pred", "_predicted")):
            continue
        axis = col.rsplit("_", 1)[0]
        actual = next((c for c in (f"{axis}_true", f"{axis}_actual", axis)
                       if c in preds.columns), None)
        if actual is None:
            continue
        part = sample(preds.select(col, actual).drop_nulls())
        p, a = numeric(part, col), numeric(part, actual)
        r = float(np.corrcoef(p, a)[0, 1]) if len(p) > 2 else float("nan")
        figs.append((svg.scatter(a, p, title=f"{axis}: predicted vs actual", xlabel="actual",
                                 ylabel="predicted", diagonal=True, radius=1.8),
                     f"held-out rows, Pearson r = {r:.3f}"))
    return figs


def projected_axes(run_dir: Path) -> list[tuple[str, str]]:
    """Histograms of each projected axis and a scatter of the first two (a row sample)."""
    path = Path(run_dir) / "projected.parquet"
    if not path.exists():
        return []
    axes = axis_columns(path)
    if not axes:
        return []
    n = pq.ParquetFile(path).metadata.num_rows
    lf = pl.scan_parquet(path).select(axes)
    df = lf.collect() if n <= 200_000 else lf.gather_every(max(1, n // 200_000)).collect()
    figs = [(svg.step_hist({a: numeric(df, a)}, bins=40, title=a, xlabel=a),
             f"{len(df):,} of {n:,} rows") for a in axes]
    if len(axes) >= 2:
        pts = sample(df)
        figs.append((svg.scatter(numeric(pts, axes[0]), numeric(pts, axes[1]), radius=1.5,
                                 opacity=0.4, title=f"{axes[0]} vs {axes[1]}",
                                 xlabel=axes[0], ylabel=axes[1]), f"sample of {len(pts):,} rows"))
    return figs


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
