"""Report of `job=balance`: component histograms by category, their correlations, the
per-category table and the most balanced pairs (seed 000's closing plots)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from engine.report import svg
from engine.report.common import numeric, read
from engine.report.html import Section

COMPONENTS = ("imbalance", "magnitude_factor", "dist")
CORRELATED = ("balance_score", *COMPONENTS)
MAX_CATEGORIES = 8
EXCLUDED_CATEGORY = "coding"  # seed 000 lists the top pairs outside coding


def sections(run_dir: Path) -> list[Section]:
    s = Section("Balance")
    pairs = read(run_dir, "pairs.parquet")
    if pairs is None or len(pairs) == 0:
        return [s.note("No pairs in this run.")]
    s.note(f"{len(pairs):,} user pairs in {pairs['cluster_id'].n_unique()} clusters.")
    s.heading("Components by category").figures(*component_histograms(pairs))
    cols = [c for c in CORRELATED if c in pairs.columns]
    corr = np.corrcoef(np.stack([numeric(pairs, c) for c in cols])) if len(pairs) > 1 else None
    if corr is not None:
        s.figures((svg.heatmap(np.atleast_2d(corr), cols,
                               title="Correlation between balance score components"),
                   "Pearson correlation over all pairs"))
    stats = read(run_dir, "category_stats.parquet")
    if stats is not None:
        s.heading("Per category").table(stats)
    top = pairs.sort("balance_score").head(10)
    s.heading("Most balanced pairs (lowest score)").table(top, max_rows=10)
    if "category" in pairs.columns:
        rest = pairs.filter(pl.col("category") != EXCLUDED_CATEGORY).sort("balance_score")
        s.heading(f"Most balanced pairs outside '{EXCLUDED_CATEGORY}'").table(rest.head(10))
    return [s]


def component_histograms(pairs: pl.DataFrame) -> list[tuple[str, str]]:
    if "category" in pairs.columns:
        cats = (pairs["category"].fill_null("(none)").value_counts(sort=True)["category"]
                .head(MAX_CATEGORIES).to_list())
    else:
        cats = []
    figs = []
    for comp in COMPONENTS:
        if comp not in pairs.columns:
            continue
        values = numeric(pairs, comp)
        if cats:
            cat = pairs["category"].fill_null("(none)").to_numpy()
            groups = {str(c): values[cat == c] for c in cats}
        else:
            groups = {"all": values}
        figs.append((svg.step_hist(groups, title=f"Distribution of {comp}", xlabel=comp,
                                   mean_line=float(np.nanmean(values))),
                     "density per category; dashed: mean over all pairs"))
    return figs
