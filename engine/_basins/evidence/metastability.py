"""Graph metastability: how hard it is for a random walk on the tweets' kNN graph to leave a
basin's place.

Graph (seed 001): per window (the bin a region is scored on), kNN over the window's rows
with weight exp(-d / sigma) * exp(-|dt| / tau_time) * engagement (the mean of the two ends'),
symmetrised (the larger direction); sigma is the median kNN distance, tau_time the bin.
Reduction for scale: the graph is built on at most `landmarks` rows of the window drawn at
random (seeded), each standing for n / landmarks rows; at 5.5M rows in weekly bins (~100k
rows each) 2,000 landmarks keep every solve small while the walk still sees the basin's
shape at the scale of its core (a core holds hundreds of landmarks). The set S of a region
is the landmarks inside its core ball.

Per set S (P = D^-1 W, the walk):
- conductance: cut(S, not S) / min(vol S, vol not S) (low: a trap; the score is its -ln);
- mean first-passage time out of S: m solves (I - P_SS) m = 1 (sparse solve, SciPy, for
  sets over DENSE_MAX landmarks; dense below); the
  score is ln(1 + its mean over S weighted by degree, the walk's stationary measure);
- spectral gap of the walk restricted to S: 1 - lambda_max(P_SS) (the escape rate; the
  score is -ln gap).
Scores grow with metastability; an empty S scores as no trap (conductance 1, exit time 0,
gap 1).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import eigsh, spsolve
from scipy.spatial import cKDTree

from engine._basins.evidence.regions import Regions, inside
from engine._basins.evidence.sample import Sample

NAMES = ("conductance", "exit_time", "spectral_gap")
DENSE_MAX = 400  # sets up to this size get dense solves


def knn_graph(X: np.ndarray, days: np.ndarray, weight: np.ndarray, k: int, tau_time: float
              ) -> sp.csr_matrix:
    """Symmetric weighted kNN graph (no self loops) with the seed's weights."""
    n = len(X)
    k = min(k, n - 1)
    if k < 1:
        return sp.csr_matrix((n, n))
    d, j = cKDTree(X).query(X, k=k + 1)
    d, j = d[:, 1:], j[:, 1:]
    sigma = max(float(np.median(d)), 1e-12)
    i = np.repeat(np.arange(n), k)
    j = j.ravel()
    w = np.exp(-d.ravel() / sigma) * np.exp(-np.abs(days[i] - days[j]) / tau_time) \
        * 0.5 * (weight[i] + weight[j])
    W = sp.csr_matrix((w, (i, j)), shape=(n, n))
    return W.maximum(W.T).tocsr()


def set_scores(W: sp.csr_matrix, S: np.ndarray) -> tuple[float, float, float]:
    """(conductance, mean first-passage time out of S, spectral gap of the walk on S)."""
    deg = np.asarray(W.sum(1)).ravel()
    S = S[deg[S] > 0]
    if len(S) == 0:
        return 1.0, 0.0, 1.0
    vol_s, vol_all = deg[S].sum(), deg.sum()
    W_ss = W[S][:, S]
    cut = vol_s - W_ss.sum()
    rest = vol_all - vol_s
    if rest <= 0 or cut <= 0:  # S is the whole graph, or cut off: the walk never leaves
        return 0.0, np.inf, 0.0
    conductance = float(cut / min(vol_s, rest))
    # P_SS is similar to the symmetric D^-1/2 W_SS D^-1/2: same eigenvalues. Small sets
    # go dense (sparse bookkeeping costs more than the solve there).
    r = 1.0 / np.sqrt(deg[S])
    if len(S) <= DENSE_MAX:
        w = W_ss.toarray()
        m = np.linalg.solve(np.eye(len(S)) - w / deg[S][:, None], np.ones(len(S)))
        lam = float(np.linalg.eigvalsh(w * r[:, None] * r[None, :])[-1])
    else:
        P_ss = sp.diags(1.0 / deg[S]) @ W_ss
        m = np.atleast_1d(spsolve((sp.identity(len(S)) - P_ss).tocsc(), np.ones(len(S))))
        M = sp.diags(r) @ W_ss @ sp.diags(r)
        lam = float(eigsh(M, k=1, which="LA", return_eigenvectors=False)[0])
    exit_time = float((deg[S] * m).sum() / vol_s)
    return conductance, exit_time, float(max(1.0 - lam, 1e-15))


def score(sample: Sample, regions: Regions, state: None, xp=np, *, landmarks: int = 2000,
          k: int = 15, seed: int = 0) -> dict[str, np.ndarray]:
    out = {name: np.full(len(regions), np.nan) for name in NAMES}
    for t in np.unique(regions.bin):
        ks = np.flatnonzero(regions.bin == t)
        a, b = regions.window(int(ks[0]))
        rows = np.flatnonzero((sample.days >= a) & (sample.days < b))
        if len(rows) > landmarks:
            rng = np.random.default_rng([seed, 19, 2, int(t)])
            rows = np.sort(rng.choice(rows, landmarks, replace=False))
        if len(rows) < 3:
            continue
        X = sample.coords[rows]
        W = knn_graph(X, sample.days[rows], sample.weight[rows], k, regions.size_days)
        for r in ks:
            S = np.flatnonzero(inside(X, regions.centre[r], regions.radius[r]))
            phi, m, gap = set_scores(W, S)
            out["conductance"][r] = -np.log(max(phi, 1e-15))
            out["exit_time"][r] = np.log1p(m)
            out["spectral_gap"][r] = -np.log(gap)
    return out
