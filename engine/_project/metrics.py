"""Held-out quality of a projection: Pearson r and R^2 (scikit-learn's definition)."""

from __future__ import annotations

import numpy as np


def pearson_r(y: np.ndarray, pred: np.ndarray) -> float:
    """Pearson correlation of two vectors; NaN when either is constant."""
    y = np.asarray(y, np.float64) - np.mean(y)
    p = np.asarray(pred, np.float64) - np.mean(pred)
    denom = np.sqrt(np.dot(y, y) * np.dot(p, p))
    return float(np.dot(y, p) / denom) if denom > 0 else float("nan")


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    """1 - SS_res / SS_tot around the mean of `y` (NaN when `y` is constant)."""
    y = np.asarray(y, np.float64)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    ss_res = float(np.sum((y - np.asarray(pred, np.float64)) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
