"""Canonical correlation analysis with scikit-learn's `CCA` conventions, solved exactly.

scikit-learn's CCA standardises X and Y (ddof=1), then per component finds the leading
canonical pair of the (deflated) blocks by a power iteration, normalises both weight vectors,
fixes their sign (largest |x weight| positive), deflates X on its score and Y on its own score,
and predicts with coef = x_rotations @ y_loadings^T rescaled to the original units. Here each
leading pair comes from an SVD of Ux^T Uy (orthonormal bases of the two blocks, with the same
rank cutoff as scikit-learn's pseudo-inverse), the exact fixed point of that iteration, so
the result equals scikit-learn's up to its convergence tolerance (to rounding for one target).
"""

from __future__ import annotations

from types import ModuleType

import numpy as np


def fit_cca(x, y, n_components: int = 1, xp: ModuleType = np):
    """(weights (d, k), intercept (k,)) such that predictions are x @ weights + intercept."""
    x = xp.asarray(x, dtype=xp.float64)
    y = xp.asarray(y[:, None] if y.ndim == 1 else y, dtype=xp.float64)
    n, p = x.shape
    q = y.shape[1]
    if not 1 <= n_components <= min(n, p, q):
        raise ValueError(f"n_components must be in [1, {min(n, p, q)}], got {n_components}")
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    x_std, y_std = _std(x, xp), _std(y, xp)
    xk = (x - x_mean) / x_std
    yk = (y - y_mean) / y_std
    x_weights, x_loadings, y_loadings = [], [], []
    for _ in range(n_components):
        xw, yw = _leading_pair(xk, yk, xp)
        x_score = xk @ xw
        y_score = yk @ yw
        x_load = xk.T @ x_score / (x_score @ x_score)
        y_load = yk.T @ y_score / (y_score @ y_score)
        xk = xk - xp.outer(x_score, x_load)
        yk = yk - xp.outer(y_score, y_load)
        x_weights.append(xw)
        x_loadings.append(x_load)
        y_loadings.append(y_load)
    w = xp.stack(x_weights, axis=1)
    rotations = w @ xp.linalg.pinv(xp.stack(x_loadings, axis=1).T @ w)
    coef = rotations @ xp.stack(y_loadings, axis=1).T  # (p, q) in standardised units
    weights = coef * y_std[None, :] / x_std[:, None]
    return weights, y_mean - x_mean @ weights


def _std(a, xp: ModuleType):
    s = a.std(axis=0, ddof=1)
    return xp.where(s == 0, 1.0, s)


def _basis(a, xp: ModuleType):
    """(U, s, Vt) of `a` truncated at scikit-learn's pinv rank cutoff (1e6 * eps * max s)."""
    u, s, vt = xp.linalg.svd(a, full_matrices=False)
    keep = int((s > s.max() * 1e6 * np.finfo(np.float64).eps).sum())
    return u[:, :keep], s[:keep], vt[:keep]


def _leading_pair(xk, yk, xp: ModuleType):
    """Unit x and y weights of the leading canonical pair, signed like scikit-learn's."""
    ux, sx, vtx = _basis(xk, xp)
    uy, sy, vty = _basis(yk, xp)
    a, _, bt = xp.linalg.svd(ux.T @ uy, full_matrices=False)
    xw = vtx.T @ (a[:, 0] / sx)
    yw = vty.T @ (bt[0] / sy)
    xw = xw / xp.linalg.norm(xw)
    yw = yw / xp.linalg.norm(yw)
    sign = xp.sign(xw[xp.argmax(xp.abs(xw))])
    return xw * sign, yw * sign
