"""Self-excitation: do tweets in a basin's region beget more tweets there (seed 001's
spatio-temporal Hawkes process on regions)?

In the window a region is scored on, the rows inside the balls of that window's regions
are events marked with their region (the nearest centre whose ball holds them: cells
adapted to the basins). A multivariate Hawkes process with exponential kernels,
lambda_k(t) = mu_k + sum_{t_j < t} alpha[k, m_j] beta exp(-beta (t - t_j)), beta = 1 / decay
fixed, is fitted by EM on the branching structure (Veen & Schoenberg 2008): each event's
probabilities of being an immigrant or the child of each earlier event (within HORIZON
decays) give closed-form updates of mu and alpha. alpha[k, l] is the expected number of
events in k that one event in l triggers.
Score of a region: its self-excitation alpha[k, k] minus its cross-excitation
sum_{l != k} alpha[l, k] (what it triggers elsewhere): a basin is high self, low cross.

Status: the EM recovers simulated parameters (tests/basins/evidence/test_hawkes.py), but on
planted basins it does not yet separate them from background against the null (measured,
seeds 0-4, 4 draws: score AUROC 0.66-0.83, z AUROC 0.49-0.63 on the planted generator,
which plants no excitation; 0.75 / 0.54 on seed 0 with self-exciting children added), and
its cost grows with the events per decay. It is therefore not in `job.evidence`'s default.
"""

from __future__ import annotations

import numpy as np

from engine._basins.evidence.regions import Regions
from engine._basins.evidence.sample import Sample

NAMES = ("self_excitation",)
HORIZON = 10.0  # decays: older events trigger less than e^-10 of their intensity


def pairs(times: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, beta exp(-beta (t_i - t_j))) for every j < i within HORIZON / beta (times
    sorted)."""
    lo = np.searchsorted(times, times - HORIZON / beta, side="left")
    n_each = np.arange(len(times)) - lo
    i = np.repeat(np.arange(len(times)), n_each)
    j = i - (np.arange(len(i)) - np.repeat(np.cumsum(n_each) - n_each, n_each)) - 1
    return i, j, beta * np.exp(-beta * (times[i] - times[j]))


def fit_em(times: np.ndarray, marks: np.ndarray, K: int, start: float, end: float, beta: float,
           iters: int = 300, tol: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """(mu (K,), alpha (K, K)) of events at sorted `times` in [start, end) with `marks`."""
    times = np.asarray(times, float)
    marks = np.asarray(marks, np.int64)
    n, span = len(times), end - start
    counts = np.bincount(marks, minlength=K).astype(float)
    mu = np.maximum(counts, 1e-3) / (2 * span)
    alpha = np.full((K, K), 0.1)
    if n == 0:
        return np.zeros(K), np.zeros((K, K))
    i, j, kern = pairs(times, beta)
    mi, mj = marks[i], marks[j]
    # Each event's total kernel mass inside the window (the compensator's share).
    exposure = np.bincount(marks, 1.0 - np.exp(-beta * (end - times)), K)
    for _ in range(iters):
        trig = alpha[mi, mj] * kern
        lam = mu[marks] + np.bincount(i, trig, n)
        p_bg = mu[marks] / lam
        p_tr = trig / lam[i]
        mu_new = np.bincount(marks, p_bg, K) / span
        a_new = np.zeros((K, K))
        np.add.at(a_new, (mi, mj), p_tr)
        a_new /= np.maximum(exposure, 1e-12)[None, :]
        done = max(np.abs(mu_new - mu).max(), np.abs(a_new - alpha).max()) < tol
        mu, alpha = mu_new, a_new
        if done:
            break
    return mu, alpha


def score(sample: Sample, regions: Regions, state: None, xp=np, *, decay_days: float = 1.0
          ) -> dict[str, np.ndarray]:
    out = np.full(len(regions), np.nan)
    for t in np.unique(regions.bin):
        ks = np.flatnonzero(regions.bin == t)
        a, b = regions.window(int(ks[0]))
        rows = np.flatnonzero((sample.days >= a) & (sample.days < b))
        X = sample.coords[rows]
        d2 = ((X[:, None, :] - regions.centre[ks][None, :, :]) ** 2).sum(2)
        d2[d2 > regions.radius[ks][None, :] ** 2] = np.inf
        held = np.isfinite(d2).any(1)
        marks = np.argmin(d2[held], 1)
        days = sample.days[rows[held]]
        order = np.argsort(days, kind="stable")
        _, alpha = fit_em(days[order], marks[order], len(ks), a, b, 1.0 / decay_days)
        cross = alpha.sum(0) - np.diag(alpha)
        out[ks] = np.diag(alpha) - cross
    return {"self_excitation": out}
