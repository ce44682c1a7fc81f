"""Forward-chaining scores of the continuation forecasts, with persistence baselines.

Every transition t -> t+1 is scored with what was known up to t: the forecast uses only the
two bins' clusters, and the climatology baseline (the continuation rate) is fitted on the
transitions before t. Scores pool all scored transitions.
- continuation: AUROC, Brier, log loss of p_cont against "has a hard match at t+1";
- size: MAE, RMSE of E[size_{t+1}] against the matched size (0 when it does not continue);
- direction: grow vs shrink (not continuing counts as shrink) accuracy and F1 (grow = positive);
- baselines: persistence (size_{t+1} = size_t), always-continue and the rolling climatology
  rate, each beside its metric, and skill = 1 - score / baseline score.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def auroc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); NaN with one class."""
    y = np.asarray(y, bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(p)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((np.asarray(p, float) - np.asarray(y, float)) ** 2)) if len(y) else float("nan")


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Binary cross-entropy with p clipped to [eps, 1 - eps] (eps of float64, as scikit-learn)."""
    if len(y) == 0:
        return float("nan")
    eps = np.finfo(np.float64).eps
    p = np.clip(np.asarray(p, np.float64), eps, 1 - eps)
    y = np.asarray(y, float)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def f1(y: np.ndarray, pred: np.ndarray) -> float:
    y, pred = np.asarray(y, bool), np.asarray(pred, bool)
    tp = int((y & pred).sum())
    denom = int(y.sum() + pred.sum())
    return 2 * tp / denom if denom else 0.0


def _skill(score: float, baseline: float) -> float:
    if not np.isfinite(score) or not np.isfinite(baseline) or baseline == 0:
        return float("nan")
    return 1.0 - score / baseline


def climatology(bin_index: np.ndarray, continued: np.ndarray, default: float = 0.5) -> np.ndarray:
    """Per row: the continuation rate over earlier transitions (forward-chained)."""
    out = np.full(len(bin_index), default)
    for t in np.unique(bin_index):
        past = bin_index < t
        if past.any():
            out[bin_index == t] = continued[past].mean()
    return out


def continuation_metrics(bin_index: np.ndarray, size: np.ndarray, prev_size: np.ndarray,
                         p_cont: np.ndarray, continued: np.ndarray, expected_size: np.ndarray,
                         next_size: np.ndarray) -> dict[str, float]:
    """All forecast scores over the scored rows (one per cluster with a next bin)."""
    y = np.asarray(continued, bool)
    n = len(y)
    nan = float("nan")
    if n == 0:
        keys = ("continuation_auroc", "continuation_brier", "continuation_logloss", "size_mae",
                "size_rmse", "direction_accuracy", "direction_f1")
        return {**{k: nan for k in keys}, "n_scored": 0}
    err = expected_size - next_size
    persist_err = size - next_size
    grow = next_size > size
    grow_pred = expected_size > size
    grow_persist = size > prev_size  # the last change continues
    clim = climatology(bin_index, y.astype(float))
    m = {
        "continuation_auroc": auroc(y, p_cont),
        "continuation_brier": brier(y, p_cont),
        "continuation_logloss": log_loss(y, p_cont),
        "size_mae": float(np.mean(np.abs(err))),
        "size_rmse": float(np.sqrt(np.mean(err**2))),
        "direction_accuracy": float(np.mean(grow == grow_pred)),
        "direction_f1": f1(grow, grow_pred),
        "continuation_rate": float(y.mean()),
        "n_scored": n,
        "baseline_persistence_size_mae": float(np.mean(np.abs(persist_err))),
        "baseline_persistence_size_rmse": float(np.sqrt(np.mean(persist_err**2))),
        "baseline_always_continue_brier": brier(y, np.ones(n)),
        "baseline_climatology_brier": brier(y, clim),
        "baseline_climatology_logloss": log_loss(y, clim),
        "baseline_persistence_direction_accuracy": float(np.mean(grow == grow_persist)),
    }
    m["size_mae_skill"] = _skill(m["size_mae"], m["baseline_persistence_size_mae"])
    m["brier_skill_vs_climatology"] = _skill(m["continuation_brier"],
                                             m["baseline_climatology_brier"])
    m["brier_skill_vs_always_continue"] = _skill(m["continuation_brier"],
                                                 m["baseline_always_continue_brier"])
    m["logloss_skill_vs_climatology"] = _skill(m["continuation_logloss"],
                                               m["baseline_climatology_logloss"])
    return m
