"""Per-basin summaries and the train-vs-test validation summary.

Per basin: duration (bins from first to last appearance, and days), number of bins seen,
average and total size, stability (1 - coefficient of variation of its sizes), linear trend
of size over bins (slope, R^2), direction (growing / shrinking / stable: slope beyond +-5% of
the mean size per bin) and mean confidence.
"""

from __future__ import annotations

import numpy as np


def basin_summary(table: dict[str, np.ndarray], bin_size_days: float) -> dict[str, np.ndarray]:
    out: dict[str, list] = {k: [] for k in (
        "basin_id", "first_bin", "last_bin", "duration_bins", "duration_days", "n_bins_seen",
        "avg_size", "total_size", "stability", "trend_slope", "trend_r2", "direction",
        "confidence")}
    for b in np.unique(table["basin_id"]):
        r = table["basin_id"] == b
        t = table["bin"][r].astype(float)
        s = table["size"][r].astype(float)
        dur = int(t.max() - t.min() + 1)
        slope, r2 = 0.0, 0.0
        if len(t) >= 2 and np.ptp(t) > 0:
            slope, intercept = np.polyfit(t, s, 1)
            resid = s - (slope * t + intercept)
            ss = ((s - s.mean()) ** 2).sum()
            r2 = float(1 - (resid**2).sum() / ss) if ss > 0 else 0.0
        mean = s.mean()
        direction = "stable"
        if slope > 0.05 * mean:
            direction = "growing"
        elif slope < -0.05 * mean:
            direction = "shrinking"
        for k, v in (("basin_id", int(b)), ("first_bin", int(t.min())), ("last_bin", int(t.max())),
                     ("duration_bins", dur), ("duration_days", dur * bin_size_days),
                     ("n_bins_seen", int(r.sum())), ("avg_size", float(mean)),
                     ("total_size", float(s.sum())),
                     ("stability", float(1 - s.std() / mean) if mean > 0 else 0.0),
                     ("trend_slope", float(slope)), ("trend_r2", float(r2)),
                     ("direction", direction),
                     ("confidence", float(table["confidence"][r].mean()))):
            out[k].append(v)
    return {k: np.asarray(v) for k, v in out.items()}


def basin_places(table: dict[str, np.ndarray], bins, coord_names: list[str]
                 ) -> dict[str, np.ndarray]:
    """Per basin (sorted ids, as `basin_summary`): its size-weighted mean centre and the days
    it spans (start of its first bin, end of its last)."""
    ids, inv = np.unique(table["basin_id"], return_inverse=True)
    w = table["size"].astype(float)
    total = np.maximum(np.bincount(inv, w, len(ids)), 1e-12)
    out = {f"centre_{name}": np.bincount(inv, w * table["centre"][:, j], len(ids)) / total
           for j, name in enumerate(coord_names)}
    first = np.full(len(ids), np.inf)
    last = np.full(len(ids), -np.inf)
    b = table["bin"].astype(np.int64)
    np.minimum.at(first, inv, bins.starts[b] if len(b) else np.zeros(0))
    np.maximum.at(last, inv, bins.ends[b] if len(b) else np.zeros(0))
    out["first_day"], out["last_day"] = first, last
    return out


def validation_summary(train: dict[str, np.ndarray], test: dict[str, np.ndarray],
                       train_auroc: float, test_auroc: float, tolerance: float = 0.5,
                       auroc_drop: float = 0.1) -> dict[str, float | bool]:
    """Compare train and test basins; flag overfitting risk when the forecast skill drops by
    more than `auroc_drop` or the basin statistics differ by more than `tolerance` (relative)."""
    def mean(summary, key):
        v = summary[key]
        return float(np.mean(v)) if len(v) else float("nan")

    out: dict[str, float | bool] = {}
    rel = []
    for key in ("duration_bins", "avg_size", "stability"):
        a, b = mean(train, key), mean(test, key)
        out[f"train_mean_{key}"] = a
        out[f"test_mean_{key}"] = b
        diff = abs(a - b) / max(abs(a), 1e-9) if np.isfinite(a) and np.isfinite(b) else np.inf
        out[f"relative_diff_{key}"] = float(diff)
        rel.append(diff)
    out["train_n_basins"] = int(len(train["basin_id"]))
    out["test_n_basins"] = int(len(test["basin_id"]))
    out["train_continuation_auroc"] = train_auroc
    out["test_continuation_auroc"] = test_auroc
    drop = train_auroc - test_auroc if np.isfinite(train_auroc) and np.isfinite(test_auroc) else 0.0
    out["auroc_drop"] = float(drop)
    out["overfitting_risk"] = bool(drop > auroc_drop or max(rel) > tolerance)
    return out
