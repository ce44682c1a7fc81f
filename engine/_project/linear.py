"""Ordinary least squares and ridge regression with an intercept, from one SVD.

The centred training matrix is decomposed once, Xc = U S V^T; then for any alpha and every
target column at once, w(alpha) = V diag(s / (s^2 + alpha)) U^T yc (alpha = 0 with a rank
cutoff is least squares). Ridge's alpha is chosen by k-fold cross-validation: one SVD per fold,
shared by the whole alpha grid and all axes, scored by the mean over folds of the held-out R^2,
which is what scikit-learn's RidgeCV(alphas, cv=folds) does.

Functions take an array namespace `xp` (NumPy or CuPy); inputs and results are float64.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

OLS_RCOND = 1e-6  # relative rank cutoff of least squares (scikit-learn LinearRegression's tol)

@dataclass
class CentredSVD:
    """Thin SVD of a centred training matrix, with the targets already rotated (U^T yc)."""

    x_mean: Any  # (d,)
    y_mean: Any  # (k,)
    s: Any  # (r,)
    vt: Any  # (r, d)
    uty: Any  # (r, k)

    @classmethod
    def of(cls, x, y, xp: ModuleType = np) -> CentredSVD:
        x = xp.asarray(x, dtype=xp.float64)
        y = xp.asarray(y, dtype=xp.float64)
        x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
        u, s, vt = xp.linalg.svd(x - x_mean, full_matrices=False)
        return cls(x_mean, y_mean, s, vt, u.T @ (y - y_mean))

    def shrinkage(self, alpha: float, rcond: float = OLS_RCOND):
        """The factors s / (s^2 + alpha); alpha = 0 (least squares) drops the directions with
        s <= rcond * max(s)."""
        s = self.s
        if alpha > 0:
            return s / (s * s + alpha)
        keep = s > rcond * float(s.max())
        return keep / (s + ~keep)

    def coefficients(self, alpha, xp: ModuleType = np, rcond: float = OLS_RCOND):
        """(weights (d, k), intercept (k,)); `alpha` is a scalar or one value per target."""
        alphas = np.broadcast_to(np.asarray(alpha, float), (self.uty.shape[1],))
        factors = xp.stack([self.shrinkage(float(a), rcond) for a in alphas], axis=1)  # (r, k)
        weights = self.vt.T @ (self.uty * factors)
        return weights, self.y_mean - self.x_mean @ weights


def fit_ols(x, y, xp: ModuleType = np, rcond: float = OLS_RCOND):
    """Least squares with an intercept: (weights (d, k), intercept (k,)).

    Directions of the centred matrix with singular value <= rcond * the largest are left out,
    as scikit-learn's LinearRegression(tol=rcond) does: embedding matrices are often
    numerically rank-deficient (a constant dimension, a sum constraint), and a coefficient
    along such a direction is rounding noise amplified by 1/s, which float16/float32 rows
    turn into garbage projections.
    """
    return CentredSVD.of(x, _as_2d(y), xp).coefficients(0.0, xp, rcond)


def ridge_cv_scores(x, y, alphas, folds, xp: ModuleType = np):
    """Mean held-out R^2 over folds, shape (n_alphas, k), one SVD per fold."""
    x = xp.asarray(x, dtype=xp.float64)
    y = xp.asarray(_as_2d(y), dtype=xp.float64)
    scores = xp.zeros((len(alphas), y.shape[1]))
    for train, test in folds:
        train, test = xp.asarray(train), xp.asarray(test)  # device indices for CuPy arrays
        svd = CentredSVD.of(x[train], y[train], xp)
        rotated = (x[test] - svd.x_mean) @ svd.vt.T  # (n_test, r)
        y_test = y[test]
        ss_tot = ((y_test - y_test.mean(axis=0)) ** 2).sum(axis=0)
        for i, alpha in enumerate(alphas):
            pred = rotated @ (svd.uty * svd.shrinkage(float(alpha))[:, None]) + svd.y_mean
            ss_res = ((y_test - pred) ** 2).sum(axis=0)
            # scikit-learn's r2_score: a constant fold target scores 1 if fitted exactly, else 0
            safe = xp.where(ss_tot > 0, ss_tot, 1.0)
            r2 = xp.where(ss_tot > 0, 1.0 - ss_res / safe, xp.where(ss_res == 0, 1.0, 0.0))
            scores[i] += r2
    return scores / len(folds)


def fit_ridge_cv(x, y, alphas, folds, xp: ModuleType = np):
    """Ridge with alpha chosen per target by k-fold CV, then refitted on all of `x`.

    Returns (weights (d, k), intercept (k,), chosen alpha per target (k,), scores).
    The first of equally good alphas wins, as in scikit-learn's grid search.
    """
    y = _as_2d(y)
    scores = ridge_cv_scores(x, y, alphas, folds, xp)
    best = to_host(scores).argmax(axis=0)
    chosen = np.asarray(alphas, float)[best]
    weights, intercept = CentredSVD.of(x, y, xp).coefficients(chosen, xp)
    return weights, intercept, chosen, scores


def _as_2d(y):
    return y[:, None] if y.ndim == 1 else y


def to_host(a) -> np.ndarray:
    """A NumPy or CuPy array as a NumPy array."""
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)
