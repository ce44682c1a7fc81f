"""Graph metastability: how hard it is for a random walk on the tweets' kNN graph to leave a
basin's place.

Graph (seed 001): per window (the bin a region is scored on), kNN over the window's rows
with weight exp(-d / sigma) * exp(-|dt| / tau_time) * engagement (the mean of the two ends'),
symmetrised (the larger direction); sigma is the median kNN distance, tau_time the bin.
Reduction for scale: the graph is built on at most `landmarks` rows of the window drawn at
random (seeded), each standing for n / landmarks rows; at 5.5M rows in weekly bins (~100k
rows each) 2,000 landmarks keep every solve small while the walk still sees the basin's
shape at the scale of its core (a core holds hundreds of landmarks). The set S of a region
is the landmarks inside it (`Regions.members`: a core ball, or a Leiden community's cell,
engine._basins.evidence.communities).

Per set S (P = D^-1 W, the walk; pi = D 1 / vol, its stationary measure):
- conductance: cut(S, not S) / min(vol S, vol not S) (low: a trap; the score is its -ln);
- mean first-passage time out of S: m solves (I - P_SS) m = 1 (sparse solve for sets over
  DENSE_MAX landmarks, dense below); the score is ln(1 + its mean over S weighted by pi);
- spectral gap of the walk restricted to S: 1 - lambda_max(P_SS) (the escape rate; the
  score is -ln gap);
- Markov stability at Markov times t in MARKOV_TIMES (Delvenne, Yaliraki & Barahona 2010):
  S's term of r(t) = trace(H^T (Pi P^t - pi pi^T) H) for the partition {S, rest}, i.e.
  pi(S) Pr(in S after t steps | started in S from pi) - pi(S)^2 (the score as is).
Scores grow with metastability and stay finite (a set the walk never leaves scores CAP);
an empty S scores as no trap (conductance 1, exit time 0, gap 1, stability 0).

Backends: the graph is built and sliced on the host (scipy; at most `landmarks` vertices);
the solves, eigenvalues and walk steps run on `xp` (NumPy / SciPy or CuPy / cupyx).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree
from threadpoolctl import threadpool_limits

from engine._basins.evidence.regions import Regions
from engine._basins.evidence.sample import Sample
from engine._communities.features import sparse_module

MARKOV_TIMES = (1, 4, 16)  # walk steps: local, a core's scale, near mixing on 2,000 landmarks
NAMES = ("conductance", "exit_time", "spectral_gap",
         *(f"markov_stability_{t}" for t in MARKOV_TIMES))
DENSE_MAX = 400  # sets up to this size get dense solves
CAP = 1e15  # a walk that (all but) never leaves: exit time and 1 / gap reported as this


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


def landmark_rows(sample: Sample, a: float, b: float, landmarks: int, key: list[int]
                  ) -> np.ndarray:
    """Rows with days in [a, b), at most `landmarks` of them drawn with seed `key`."""
    rows = np.flatnonzero((sample.days >= a) & (sample.days < b))
    if len(rows) > landmarks:
        rows = np.sort(np.random.default_rng(key).choice(rows, landmarks, replace=False))
    return rows


def _linalg(xp):
    if xp is np:
        import scipy.sparse.linalg as la

        return la
    import cupyx.scipy.sparse.linalg as la

    return la


def set_scores(W: sp.csr_matrix, S: np.ndarray, xp=np) -> tuple[float, float, float]:
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
        return 0.0, CAP, 1 / CAP
    conductance = float(cut / min(vol_s, rest))
    # P_SS is similar to the symmetric D^-1/2 W_SS D^-1/2: same eigenvalues. Small sets
    # go dense (sparse bookkeeping costs more than the solve there).
    d_s = xp.asarray(deg[S])
    r = 1.0 / xp.sqrt(d_s)
    ones = xp.ones(len(S))
    if len(S) <= DENSE_MAX:
        w = xp.asarray(W_ss.toarray())
        m = xp.linalg.solve(xp.eye(len(S)) - w / d_s[:, None], ones)
        lam = float(xp.linalg.eigvalsh(w * r[:, None] * r[None, :])[-1])
    else:
        ssp, la = sparse_module(xp), _linalg(xp)
        w = ssp.csr_matrix(W_ss)
        m = xp.atleast_1d(la.spsolve(
            (ssp.identity(len(S), format="csr") - ssp.diags(1.0 / d_s) @ w).tocsr(), ones))
        M = ssp.diags(r) @ w @ ssp.diags(r)
        lam = float(la.eigsh(M, k=1, which="LA", return_eigenvectors=False)[0])
    exit_time = float((d_s * m).sum() / vol_s)
    if not 0 <= exit_time < CAP:  # a set all but cut off: the solve is ill-conditioned
        exit_time = CAP
    return conductance, exit_time, float(max(1.0 - lam, 1 / CAP))


def markov_stability(W, S: np.ndarray, times=MARKOV_TIMES, xp=np) -> np.ndarray:
    """Each set's term of the Markov stability of {set, rest} at each of `times` (walk
    steps): (n_sets, len(times)). `S`: (n_sets, n) membership; `W`: the graph as an xp
    sparse matrix. The walk carries the sets' indicators forward (P^t 1_S), all sets at
    once: one sparse product per step."""
    deg = xp.asarray(W.sum(1)).ravel()
    pi = deg / deg.sum()
    H = xp.asarray(S, dtype=np.float64).T  # (n, n_sets)
    pi_s = pi @ H
    step = 1.0 / xp.maximum(deg, 1e-300)  # an isolated vertex's row is empty anyway
    out = []
    v = H
    for t in range(1, max(times) + 1):
        v = (W @ v) * step[:, None]
        if t in times:
            out.append((pi[:, None] * H * v).sum(0) - pi_s * pi_s)
    return xp.stack(out, 1)


def score(sample: Sample, regions: Regions, state: None, xp=np, *, landmarks: int = 2000,
          k: int = 15, seed: int = 0) -> dict[str, np.ndarray]:
    # Many small dense solves: one BLAS thread each is ~10x faster than a contended pool.
    with threadpool_limits(1, user_api="blas"):
        return _score(sample, regions, xp, landmarks, k, seed)


def _score(sample, regions, xp, landmarks, k, seed) -> dict[str, np.ndarray]:
    out = {name: np.full(len(regions), np.nan) for name in NAMES}
    ssp = sparse_module(xp)
    for t in np.unique(regions.bin):
        ks = np.flatnonzero(regions.bin == t)
        rows = landmark_rows(sample, *regions.window(int(ks[0])), landmarks,
                             [seed, 19, 2, int(t)])
        if len(rows) < 3:
            continue
        X = sample.coords[rows]
        W = knn_graph(X, sample.days[rows], sample.weight[rows], k, regions.size_days)
        members = regions.members(ks, X)
        stability = markov_stability(ssp.csr_matrix(W), members, MARKOV_TIMES, xp)
        stability = stability.get() if hasattr(stability, "get") else stability
        for i, r in enumerate(ks):
            phi, m, gap = set_scores(W, np.flatnonzero(members[i]), xp)
            out["conductance"][r] = -np.log(max(phi, 1 / CAP))
            out["exit_time"][r] = np.log1p(m)
            out["spectral_gap"][r] = -np.log(gap)
            for j, time in enumerate(MARKOV_TIMES):
                out[f"markov_stability_{time}"][r] = stability[i, j]
    return out
