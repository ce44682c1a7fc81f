"""Report of `job=basins`: significant basins and the forecast, real vs null metrics, basin
sizes over bins (significant basins marked), continuation calibration, tuning results and
the basin summaries."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from engine.figures import basins as figures
from engine.figures.tables import pick
from engine.report.common import read, read_metrics
from engine.report.html import Section
from engine.report.tables import RunTables

SCORES = ("continuation_auroc", "continuation_brier", "continuation_logloss", "size_mae")


def sections(run_dir: Path) -> list[Section]:
    metrics = read_metrics(run_dir)
    tables = RunTables(run_dir)
    out = [significance_section(run_dir, metrics), real_vs_null(metrics)]
    bins = read(run_dir, "bins.parquet")
    if bins is not None:
        out.append(bins_section(bins, tables, metrics))
    if read(run_dir, "evidence.parquet") is not None:
        out.append(evidence_section(run_dir, tables, metrics))
    tuning = read(run_dir, "tuning_results.parquet")
    if tuning is not None:
        out.append(tuning_section(tuning, tables, metrics))
    summary = Section("Basins")
    for split in ("train", "test"):
        df = read(run_dir, f"{split}_basins_summary.parquet")
        if df is not None:
            summary.heading(f"{split}: {len(df)} basins").table(df, max_rows=15)
    early = read(run_dir, "early_detection.parquet")
    if early is not None:
        summary.heading("Early detection").table(early, max_rows=15)
    if summary.parts:
        out.append(summary)
    return out


def significance_section(run_dir: Path, metrics: dict) -> Section:
    """Significant basins apart from the rest, the null's own count, the detection limit and
    the forecast against its baselines."""
    s = Section("Basins, not clusters: significance and forecast")
    rows = [("significant basins (test)", metrics.get("n_significant_basins")),
            ("significant basins (train)", metrics.get("train_n_significant_basins")),
            ("per null draw (test, left out in turn)", metrics.get("null_n_significant_basins")),
            ("detection limit (intensity)", metrics.get("detection_limit_intensity")),
            ("forecast log-likelihood per tweet (test)", metrics.get("forecast_loglik")),
            *[(f"forecast skill vs {b}", metrics.get(f"forecast_skill_vs_{b}"))
              for b in ("persistence", "null", "global")]]
    rows = [(k, float(v)) for k, v in rows if v is not None]
    if rows:
        s.table(pl.DataFrame(rows, schema=["figure", "value"], orient="row", strict=False))
    injected = read(run_dir, "detection.parquet")
    if injected is not None:
        s.heading("Detection limit: basins planted into a shuffled draw of the test part")
        s.table(injected)
    for split in ("train", "test"):
        df = read(run_dir, f"{split}_basins_summary.parquet")
        if df is None or "significant" not in df.columns:
            continue
        sig = df.filter(pl.col("significant")).sort("strength", descending=True)
        cols = [c for c in ("basin_id", "strength", "p_value", "density_ratio", "excess",
                            "active_first_day", "active_last_day") if c in sig.columns]
        cols += [c for c in sig.columns if c.startswith("core_")]
        s.heading(f"{split}: {len(sig)} significant of {len(df)} tracked basins")
        if len(sig):
            s.table(sig.select(cols), max_rows=15)
    return s


def evidence_section(run_dir: Path, tables: RunTables, metrics: dict) -> Section:
    """The density and drift field, each basin's evidence over time, and per method the
    median z of significant basins against the rest."""
    from engine.figures import basins_evidence

    s = Section("Basin evidence against the null")
    s.plots(tables, metrics, basins_evidence.weather, basins_evidence.evidence_over_time)
    ev = read(run_dir, "evidence.parquet")
    rows = []
    for split in ("train", "test"):
        df = read(run_dir, f"{split}_basins_summary.parquet")
        if df is None or "significant" not in df.columns:
            continue
        sig = set(df.filter(pl.col("significant"))["basin_id"].to_list())
        part = ev.filter((pl.col("part") == split) & pl.col("z").is_finite())
        for (method,), g in part.group_by(["method"], maintain_order=True):
            mine = g["basin_id"].is_in(list(sig))
            rows.append((split, method, g.filter(mine)["z"].median(),
                         g.filter(~mine)["z"].median()))
    if rows:
        s.table(pl.DataFrame(rows, schema=["part", "method", "median z (significant)",
                                           "median z (other)"], orient="row", strict=False))
    return s


def real_vs_null(metrics: dict) -> Section:
    s = Section("Continuation: real vs time-shuffled null")
    rows = [(k, metrics.get(k), metrics.get(f"null_{k}")) for k in SCORES
            if k in metrics or f"null_{k}" in metrics]
    if rows:
        s.table(pl.DataFrame(rows, schema=["score", "real", "null"], orient="row",
                             strict=False))
    else:
        s.note("No continuation scores in the metrics.")
    return s


def bins_section(bins: pl.DataFrame, tables: RunTables, metrics: dict) -> Section:
    s = Section("Clusters per bin")
    s.plots(tables, metrics, figures.basin_sizes, figures.calibration)
    bin_col = pick(bins, "bin", "bin_index", "bin_id", "t")
    if bin_col:
        n_bins = bins.select([c for c in ("part", bin_col) if c in bins.columns]).n_unique()
        s.note(f"{len(bins)} clusters over {n_bins} bins.")
    return s


def tuning_section(tuning: pl.DataFrame, tables: RunTables, metrics: dict) -> Section:
    s = Section("Tuning results")
    s.plots(tables, metrics, figures.tuning)
    score = pick(tuning, "continuation_auroc", "objective", "auroc")
    ranked = tuning.sort(score, descending=True, nulls_last=True) if score else tuning
    return s.table(ranked, max_rows=12)
