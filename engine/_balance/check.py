"""Error of an approximate matching against scipy's exact solver, on a sample of pairs."""

from __future__ import annotations

import numpy as np

from engine._balance.groups import Groups
from engine._balance.matching import PairMatches


def exact_mean_similarity(A: np.ndarray, B: np.ndarray) -> float:
    """Mean matched cosine similarity of two sets of rows, by scipy's linear_sum_assignment."""
    from scipy.optimize import linear_sum_assignment

    A = np.asarray(A, np.float64)
    B = np.asarray(B, np.float64)
    A = A / np.linalg.norm(A, axis=1, keepdims=True)
    B = B / np.linalg.norm(B, axis=1, keepdims=True)
    S = A @ B.T
    r, c = linear_sum_assignment(S, maximize=True)
    return float(S[r, c].mean())


def sample_errors(groups: Groups, matches: PairMatches, n_sample: int, seed: int) -> dict:
    """Exact minus reported mean similarity on up to `n_sample` random pairs, and whether each
    pair's certificate bound holds."""
    n = len(matches)
    if n == 0 or n_sample <= 0:
        return {"error_sample": 0}
    rng = np.random.default_rng([seed, 5])
    idx = np.sort(rng.choice(n, size=min(n, n_sample), replace=False))
    start = groups.user_start
    errors = np.empty(len(idx))
    for k, p in enumerate(idx):
        u, v = matches.user1[p], matches.user2[p]
        exact = exact_mean_similarity(groups.embeddings[start[u]:start[u + 1]],
                                      groups.embeddings[start[v]:start[v + 1]])
        errors[k] = exact - matches.sim[p]
    bounds = matches.bound[idx]
    return {
        "error_sample": int(len(idx)),
        "error_max": float(errors.max()),
        "error_mean": float(errors.mean()),
        "bound_max": float(bounds.max()),
        "bound_mean": float(bounds.mean()),
        "bound_holds": bool(np.all(errors <= bounds + 1e-9)),
    }
