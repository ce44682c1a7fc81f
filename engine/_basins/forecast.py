"""Soft next-bin matching: continuation probabilities and expected next sizes.

For cluster i at t and clusters j at t+1:
    s_ij = exp(-d_ij / tau) * conf_i * conf_j * prior_j,   s_i0 = exp(-gamma)  (the "dies" option)
    p_ij = s_ij / (s_i0 + sum_j s_ij),  p_cont = 1 - p_i0,  E[size_{t+1}] = sum_j p_ij size_j
prior_j is proportional to size_j, scaled to mean 1 over the bin's clusters (so its level does
not depend on how many clusters there are), or 1 when the prior is off. tau is the median
pairwise centre distance between the two bins' clusters unless given.

With `fit_softmatch`, tau (as a multiple of that median) and gamma are instead chosen per
transition t -> t+1 from a small grid by the log loss of the earlier transitions (whose hard
matches are known by t): forward-chained, so no outcome at or after t is used.
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


TAU_SCALES = (0.1, 0.2, 0.35, 0.5, 0.75, 1.0)
GAMMAS = (0.0, 0.5, 1.0, 2.0, 3.0)


def p_cont_of(transition: tuple, tau_scale: float, gamma: float, use_prior: bool) -> np.ndarray:
    ca, fa, cb, fb, sb = transition
    tau = tau_scale * auto_tau(ca, cb)
    return 1 - soft_match(ca, fa, cb, fb, sb, tau, gamma, use_prior)[1]


def fit_softmatch(history: list[tuple], outcomes: list[np.ndarray], use_prior: bool,
                  default: tuple[float, float]) -> tuple[float, float]:
    """(tau scale, gamma) with the least log loss over past transitions; `default` while the
    history has fewer than 10 rows or a single outcome."""
    y = np.concatenate(outcomes) if outcomes else np.zeros(0)
    if len(y) < 10 or y.min() == y.max():
        return default
    eps = np.finfo(np.float64).eps
    best, best_loss = default, np.inf
    for scale in TAU_SCALES:
        for gamma in GAMMAS:
            p = np.clip(np.concatenate([p_cont_of(h, scale, gamma, use_prior) for h in history]),
                        eps, 1 - eps)
            loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
            if loss < best_loss:
                best, best_loss = (scale, gamma), loss
    return best
