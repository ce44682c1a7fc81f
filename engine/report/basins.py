"""Report of `job=basins`: significant basins and the forecast, real vs null metrics, basin
sizes over bins (significant basins marked), continuation calibration, tuning results and
the basin summaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from engine.report import svg
from engine.report.common import numeric, pick, read, read_metrics
from engine.report.html import Section

SCORES = ("continuation_auroc", "continuation_brier", "continuation_logloss", "size_mae")
MAX_BASINS = 10


def sections(run_dir: Path) -> list[Section]:
    metrics = read_metrics(run_dir)
    out = [significance_section(run_dir, metrics), real_vs_null(metrics)]
    bins = read(run_dir, "bins.parquet")
    if bins is not None:
        out.append(bins_section(bins))
    tuning = read(run_dir, "tuning_results.parquet")
    if tuning is not None:
        out.append(tuning_section(tuning))
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


def bins_section(bins: pl.DataFrame) -> Section:
    s = Section("Clusters per bin")
    bin_col = pick(bins, "bin", "bin_index", "bin_id", "t")
    size_col = pick(bins, "size", "n_points", "n")
    basin_col = pick(bins, "basin_id", "basin")
    # Train and test bins are tracked separately (bin and basin ids restart in each part).
    parts = (bins.partition_by("part", as_dict=False, maintain_order=True)
             if "part" in bins.columns else [bins])
    figs = []
    if bin_col and size_col and basin_col:
        figs += [sizes_over_bins(part, bin_col, size_col, basin_col) for part in parts]
    p_col = pick(bins, "p_cont", "p_continue")
    if p_col and bin_col:
        outcomes = [continued(part, bin_col, basin_col) for part in parts]
        if all(o is not None for o in outcomes):
            figs.append(calibration(np.concatenate([numeric(part, p_col) for part in parts]),
                                    np.concatenate(outcomes)))
    if figs:
        s.figures(*figs)
    if bin_col:
        n_bins = bins.select([c for c in ("part", bin_col) if c in bins.columns]).n_unique()
        s.note(f"{len(bins)} clusters over {n_bins} bins.")
    return s


def sizes_over_bins(bins: pl.DataFrame, bin_col: str, size_col: str, basin_col: str):
    tracked = bins.filter(pl.col(basin_col).is_not_null() & (pl.col(basin_col).cast(pl.Int64,
                                                                                    strict=False)
                                                              .fill_null(0) >= 0))
    # Significant basins first (marked), then the largest of the rest.
    sig_col = "basin_significant" if "basin_significant" in tracked.columns else None
    agg = [pl.col(size_col).sum().alias("total")]
    if sig_col:
        agg.append(pl.col(sig_col).any().alias("sig"))
    totals = tracked.group_by(basin_col).agg(agg)
    order = ["sig", "total"] if sig_col else ["total"]
    top_rows = totals.sort(order, descending=True).head(MAX_BASINS)
    series = []
    for row in top_rows.iter_rows(named=True):
        b = row[basin_col]
        part = tracked.filter(pl.col(basin_col) == b).sort(bin_col)
        label = f"basin {b}" + (" (significant)" if row.get("sig") else "")
        series.append((label, numeric(part, bin_col), numeric(part, size_col)))
    n_basins = tracked[basin_col].n_unique()
    part = f" ({bins['part'][0]})" if "part" in bins.columns and len(bins) else ""
    return (svg.lines(series, title=f"Basin sizes over bins{part}", xlabel="bin", ylabel="size",
                      points=True),
            f"the {len(series)} largest of {n_basins} basins")


def continued(bins: pl.DataFrame, bin_col: str, basin_col: str | None) -> np.ndarray | None:
    """Whether each cluster has a hard match in the next bin: the job's own column if it wrote
    one, else whether its basin id appears in the next bin (NaN for the last bin)."""
    own = pick(bins, "continued", "has_next", "matched_next", "continues")
    if own:
        return numeric(bins, own)
    if basin_col is None:
        return None
    b = numeric(bins, bin_col)
    ids = bins[basin_col].to_list()
    present = {(bb, i) for bb, i in zip(b, ids, strict=True) if i is not None}
    last = np.nanmax(b) if len(b) else 0
    return np.array([np.nan if bb >= last else float((bb + 1, i) in present)
                     for bb, i in zip(b, ids, strict=True)])


def calibration(p: np.ndarray, outcome: np.ndarray, n_bins: int = 10):
    ok = np.isfinite(p) & np.isfinite(outcome)
    p, y = p[ok], outcome[ok]
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.clip(np.digitize(p, edges) - 1, 0, n_bins - 1)
    xs, ys = [], []
    for k in range(n_bins):
        sel = which == k
        if sel.any():
            xs.append(float(p[sel].mean()))
            ys.append(float(y[sel].mean()))
    brier = float(np.mean((p - y) ** 2)) if len(p) else float("nan")
    return (svg.lines([("observed", xs, ys)], title="Continuation calibration",
                      xlabel="predicted p(continue)", ylabel="observed rate", points=True,
                      diagonal=True),
            f"{len(p)} clusters with a next bin, Brier {brier:.3f}")


def tuning_section(tuning: pl.DataFrame) -> Section:
    s = Section("Tuning results")
    score = pick(tuning, "continuation_auroc", "objective", "auroc")
    if score:
        ranked = tuning.sort(score, descending=True, nulls_last=True)
        labels = [str(i + 1) for i in range(min(len(ranked), 40))]
        s.figures((svg.bars(labels, numeric(ranked, score)[:40], title=f"{score} by combination",
                            xlabel="rank", ylabel=score),
                   f"{len(tuning)} combinations, best first"))
        s.table(ranked, max_rows=12)
    else:
        s.table(tuning, max_rows=12)
    return s
