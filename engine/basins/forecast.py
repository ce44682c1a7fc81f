"""Soft next-bin matching: continuation probabilities and expected next sizes.

For cluster i at t and clusters j at t+1:
    s_ij = exp(-d_ij / tau) * conf_i * conf_j * prior_j,   s_i0 = exp(-gamma)  (the "dies" option)
    p_ij = s_ij / (s_i0 + sum_j s_ij),  p_cont = 1 - p_i0,  E[size_{t+1}] = sum_j p_ij size_j
prior_j is proportional to size_j, scaled to mean 1 over the bin's clusters (so its level does
not depend on how many clusters there are), or 1 when the prior is off. tau is the median
pairwise centre distance between the two bins' clusters unless given.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist


def auto_tau(centres_a: np.ndarray, centres_b: np.ndarray) -> float:
    if len(centres_a) == 0 or len(centres_b) == 0:
        return 1.0
    med = float(np.median(cdist(centres_a, centres_b)))
    return med if med > 0 else 1.0


def soft_match(centres_a: np.ndarray, conf_a: np.ndarray, centres_b: np.ndarray,
               conf_b: np.ndarray, sizes_b: np.ndarray, tau: float | None = None,
               gamma: float = 1.0, use_prior: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(p, p_null): p (ka, kb) and p_null (ka,); every row of [p, p_null] sums to 1."""
    ka, kb = len(centres_a), len(centres_b)
    null = np.exp(-gamma)
    if kb == 0:
        return np.zeros((ka, 0)), np.ones(ka)
    tau = auto_tau(centres_a, centres_b) if tau is None else float(tau)
    prior = sizes_b / np.mean(sizes_b) if use_prior else np.ones(kb)
    s = np.exp(-cdist(centres_a, centres_b) / tau) * conf_a[:, None] * (conf_b * prior)[None, :]
    total = null + s.sum(axis=1)
    return s / total[:, None], null / total


def expected_next_size(p: np.ndarray, sizes_b: np.ndarray) -> np.ndarray:
    return p @ sizes_b.astype(np.float64) if p.shape[1] else np.zeros(p.shape[0])
