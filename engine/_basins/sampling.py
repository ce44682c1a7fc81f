"""Weighted bootstrap samples drawn WITHOUT replacement.

Sampling with replacement would feed HDBSCAN duplicate points (zero distances that form
spurious dense cores), so each run draws `sample_frac` of a bin without replacement, with
inclusion following w = w_pop * w_rec:
    w_pop = 1 + log(1 + RT + alpha * Fav),   w_rec = exp(-lambda * days to the bin's end).
Efraimidis-Spirakis keys (u ** (1/w), largest m) give exactly successive weighted draws
without replacement. The uniforms come from NumPy on the host, seeded by (seed, bin, run), so
both backends see identical samples, and different (alpha, lambda) reuse the same uniforms
(common random numbers: combos differ by their weights, not by sampling noise).
"""

from __future__ import annotations

import numpy as np


def popularity_weight(retweets: np.ndarray, favorites: np.ndarray, alpha: float) -> np.ndarray:
    return 1.0 + np.log1p(np.maximum(retweets, 0) + alpha * np.maximum(favorites, 0))


def recency_weight(days_to_end: np.ndarray, lam: float) -> np.ndarray:
    return np.exp(-lam * np.maximum(days_to_end, 0.0))


def sample_weights(retweets: np.ndarray, favorites: np.ndarray, days_to_end: np.ndarray,
                   alpha: float, lam: float) -> np.ndarray:
    return popularity_weight(retweets, favorites, alpha) * recency_weight(days_to_end, lam)


def sample_size(n: int, frac: float) -> int:
    return int(min(n, max(1, round(frac * n))))


def uniforms(seed: int, bin_key: int, n_runs: int, n: int) -> np.ndarray:
    """(n_runs, n) uniforms in (0, 1) for one bin; the same for every weighting."""
    rng = np.random.default_rng([seed, 6, bin_key])
    return rng.random((n_runs, n)) * (1 - 1e-12) + 1e-12


def weighted_samples(u: np.ndarray, weights: np.ndarray, m: int) -> np.ndarray:
    """(n_runs, m) sorted row indices: per run, m rows without replacement, weighted.

    Key log(u) / w is monotone in u ** (1/w), so the m largest keys are the sample.
    """
    keys = np.log(u) / np.maximum(weights, 1e-12)[None, :]
    if m >= keys.shape[1]:
        return np.tile(np.arange(keys.shape[1]), (keys.shape[0], 1))
    top = np.argpartition(-keys, m - 1, axis=1)[:, :m]
    return np.sort(top, axis=1)
