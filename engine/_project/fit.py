"""Fit a projection by method name on the training rows and score it on the held-out rows.

Axes may be rated on different rows (a missing rating excludes a row from that axis only).
OLS and ridge fit the axes that share the same training rows together, so one SVD serves
every alpha and every axis of a group; a CCA per axis (the default) fits each axis alone,
a joint CCA fits all axes on the rows where every axis is rated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

from engine._project import cca, linear, split
from engine._project.linear import to_host
from engine._project.linear_map import LinearMap
from engine._project.metrics import pearson_r, r2
from engine.errors import UserError

METHODS = ("ols", "ridge", "cca")


@dataclass
class FitSettings:
    alphas: list[float] = field(default_factory=lambda: list(np.logspace(-3, 4, 15)))
    n_folds: int = 5
    cca_components: int = 1
    cca_joint: bool = False
    seed: int = 0


def split_rated(y: np.ndarray, axes: list[str], test_size: float, seed: int,
                min_train: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, test) rows among rows rated on at least one axis, with enough of both
    on every axis."""
    rated = np.flatnonzero(~np.isnan(y).all(axis=1))
    n_test = split.held_out_count(len(rated), test_size)
    if n_test >= len(rated):
        raise UserError(f"job.test_size={test_size:g}: only {len(rated)} rated rows have "
                        f"embeddings, too few for {n_test} test rows")
    train, test = split.train_test(len(rated), n_test, seed)
    train, test = rated[train], rated[test]
    for j, axis in enumerate(axes):
        n_tr = int((~np.isnan(y[train, j])).sum())
        n_te = int((~np.isnan(y[test, j])).sum())
        if n_tr < min_train or n_te < 3:
            raise UserError(
                f"too few rated rows for the split: axis {axis!r} has {n_tr + n_te} rated rows "
                f"with embeddings; job.test_size={test_size:g} leaves {n_tr} to train and "
                f"{n_te} to test (need at least {min_train} and 3)")
    return train, test


def fit_map(method: str, x: np.ndarray, y: np.ndarray, axes: list[str], rows: np.ndarray,
            settings: FitSettings, xp: ModuleType = np,
            ridge_alpha: np.ndarray | None = None) -> LinearMap:
    """Fit `method` on x[rows], y[rows] (NaN ratings left out per axis).

    `ridge_alpha` (one per axis) skips ridge's cross-validation (a refit with chosen alphas).
    """
    d, k = x.shape[1], len(axes)
    weights, intercept = np.zeros((d, k)), np.zeros(k)
    alpha = np.full(k, np.nan)
    if method == "cca" and settings.cca_joint:
        rows = rows[~np.isnan(y[rows]).any(axis=1)]
        w, b = cca.fit_cca(x[rows], y[rows], settings.cca_components, xp)
        return _fold_constant_columns(LinearMap(to_host(w), to_host(b), axes, method), x[rows])
    groups = _axis_groups(y, rows) if method != "cca" else [[j] for j in range(k)]
    for cols in groups:
        sub = rows[~np.isnan(y[rows][:, cols[0]])]
        xs, ys = x[sub], y[sub][:, cols]
        if method == "ols":
            w, b = linear.fit_ols(xs, ys, xp)
        elif method == "ridge" and ridge_alpha is not None:
            alpha[cols] = np.asarray(ridge_alpha, float)[cols]
            w, b = linear.CentredSVD.of(xs, ys, xp).coefficients(alpha[cols], xp)
        elif method == "ridge":
            folds = split.kfold(len(sub), settings.n_folds, settings.seed)
            w, b, alpha[cols], _ = linear.fit_ridge_cv(xs, ys, settings.alphas, folds, xp)
        elif method == "cca":
            w, b = cca.fit_cca(xs, ys[:, 0], 1, xp)
        else:
            raise UserError(f"job.method={method!r}: expected one of {', '.join(METHODS)} "
                            f"or compare")
        weights[:, cols], intercept[cols] = to_host(w), to_host(b)
    return _fold_constant_columns(LinearMap(weights, intercept, axes, method, alpha), x[rows])


def _fold_constant_columns(lmap: LinearMap, x: np.ndarray) -> LinearMap:
    """Move the weight of dimensions that are constant on the training rows into the intercept.

    Same predictions for every row with that constant, but no huge weight times a constant
    (CCA standardises by a spread that is only rounding, giving weights near 1e30) for the
    float32 apply stage to cancel against the intercept.
    """
    spread = x.max(axis=0) - x.min(axis=0)
    constant = spread <= 1e-12 * max(float(spread.max()), 1e-300)
    if constant.any():
        lmap.intercept = lmap.intercept + x[0, constant] @ lmap.weights[constant]
        lmap.weights[constant] = 0.0
    return lmap


def evaluate(lmap: LinearMap, x: np.ndarray, y: np.ndarray, train: np.ndarray,
             test: np.ndarray) -> list[dict]:
    """One row per axis: method, axis, held-out pearson_r and r2, row counts, alpha."""
    pred = lmap.predict(x[test])
    out = []
    for j, axis in enumerate(lmap.axes):
        keep = ~np.isnan(y[test, j])
        out.append({
            "method": lmap.method, "axis": axis,
            "pearson_r": pearson_r(y[test, j][keep], pred[keep, j]),
            "r2": r2(y[test, j][keep], pred[keep, j]),
            "n_train": int((~np.isnan(y[train, j])).sum()), "n_test": int(keep.sum()),
            "alpha": float(lmap.alpha[j]),
        })
    return out


def _axis_groups(y: np.ndarray, rows: np.ndarray) -> list[list[int]]:
    """Axes grouped by which of `rows` rate them (usually one group: all axes)."""
    groups: dict[bytes, list[int]] = {}
    present = ~np.isnan(y[rows])
    for j in range(y.shape[1]):
        groups.setdefault(np.packbits(present[:, j]).tobytes(), []).append(j)
    return list(groups.values())
