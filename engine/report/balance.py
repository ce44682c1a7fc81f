"""Report of `job=balance`: component distributions by category, their correlations, the
per-category table and the most balanced pairs (seed 000's closing plots)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from engine.figures import balance as figures
from engine.report.common import read, read_metrics
from engine.report.html import Section

EXCLUDED_CATEGORY = "coding"  # seed 000 lists the top pairs outside coding


def sections(run_dir: Path) -> list[Section]:
    s = Section("Balance")
    pairs = read(run_dir, "pairs.parquet")
    if pairs is None or len(pairs) == 0:
        return [s.note("No pairs in this run.")]
    s.note(f"{len(pairs):,} user pairs in {pairs['cluster_id'].n_unique()} clusters.")
    s.plots({"pairs": pairs.to_arrow()}, read_metrics(run_dir),
            figures.components_by_category, figures.correlations)
    stats = read(run_dir, "category_stats.parquet")
    if stats is not None:
        s.heading("Per category").table(stats)
    s.heading("Most balanced pairs (lowest score)").table(pairs.sort("balance_score").head(10))
    if "category" in pairs.columns:
        rest = pairs.filter(pl.col("category") != EXCLUDED_CATEGORY).sort("balance_score")
        s.heading(f"Most balanced pairs outside '{EXCLUDED_CATEGORY}'").table(rest.head(10))
    return [s]
