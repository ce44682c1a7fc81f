"""Polis-style k-means: deterministic starts, weighted centres, silhouette choice of k.

- Base clusters: k = min(100, voters) on the voters' 2-D projections, started from the first
  k distinct rows in data order (or carried over from the last run, see `carryover`),
  iterated until every centre moves less than `tol` (0.01), at most 100 steps.
- Groups: k-means on the base centres (in base-cluster id order) weighted by member count,
  for k = 2 .. min(5, 2 + n_base // 12), at most 20 steps (Polis passes its 100 under a key
  its k-means does not read); the k with the best silhouette (on the base centres) wins,
  the larger k on ties (Polis's max-key keeps the last maximum).
- Subgroups: the same inside each group.
Clusters that lose all members are dropped (as Polis does), so a result may have fewer than
k clusters; every cluster keeps the id it started with. The Lloyd step runs on NumPy or CuPy
(`xp`); the rest is on ~100 points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine._opinion import carryover

CHUNK = 16384  # rows per distance block: memory stays O(CHUNK x k)
SMALL = 4096  # points; above this the CPU runs the numba kernels (not worth loading below)


def assign(x, centres, xp=np):
    """Index of the nearest centre for every row (ties: the lower index)."""
    if xp is np and len(x) > SMALL:
        return _steps().assign(np.ascontiguousarray(x), np.ascontiguousarray(centres))
    out = xp.empty(len(x), dtype=xp.int32)
    for lo in range(0, len(x), CHUNK):
        d = ((x[lo:lo + CHUNK, None, :] - centres[None, :, :]) ** 2).sum(-1)
        out[lo:lo + CHUNK] = xp.argmin(d, axis=1)
    return out


def _steps():
    from engine._opinion import kmeans_numba

    return kmeans_numba


def first_distinct_rows(x: np.ndarray, k: int) -> np.ndarray:
    """The first `k` distinct rows of `x` in order (fewer when there are fewer)."""
    x = np.asarray(x)
    return x[carryover.first_distinct_rows(x, k)]


def lloyd(x, centres, weights=None, tol: float = 0.01, max_iter: int = 300, xp=np):
    """k-means from given centres until every centre moves < tol; empty clusters dropped.

    Returns (labels, centres, n_iter, kept): labels index the returned centres, `kept` the
    starting centres they came from.
    """
    x = xp.asarray(x, dtype=xp.float64)
    c = xp.asarray(centres, dtype=xp.float64)
    w = xp.ones(len(x)) if weights is None else xp.asarray(weights, dtype=xp.float64)
    n_iter, first = 0, 1
    kept = np.arange(len(c))
    if xp is np and weights is None and len(x) > SMALL:
        # Many points: the numba kernel with Hamerly's bounds (same result, far fewer distances).
        c, n_iter, kept = _steps().lloyd_unweighted(x, c, tol, max_iter)
        first = max_iter + 1  # done: only the final assignment below
    for it in range(first, max_iter + 1):
        n_iter = it
        labels = assign(x, c, xp)
        mass = xp.bincount(labels, weights=w, minlength=len(c))
        sums = xp.stack([xp.bincount(labels, weights=w * x[:, j], minlength=len(c))
                         for j in range(x.shape[1])], axis=1)
        alive = mass > 0
        new = c.copy()
        new[alive] = sums[alive] / mass[alive, None]
        moved = xp.sqrt(((new - c) ** 2).sum(1))
        c = new
        if not bool(alive.all()):
            c = c[alive]  # drop clusters that lost every member, then re-assign
            kept = kept[_host(alive)]
            continue
        if float(moved.max()) < tol:
            break
    labels = assign(x, c, xp)
    # A final assignment may still empty a cluster: compact the labels.
    used = xp.unique(labels)
    if len(used) < len(c):
        remap = xp.full(len(c), -1, dtype=xp.int32)
        remap[used] = xp.arange(len(used), dtype=xp.int32)
        labels, c = remap[labels], c[used]
        kept = kept[_host(used)]
    return labels, c, n_iter, kept


def _host(a) -> np.ndarray:
    return a if isinstance(a, np.ndarray) else a.get()


@dataclass
class Clustering:
    labels: np.ndarray  # per point
    centres: np.ndarray  # (k, 2)
    sizes: np.ndarray  # summed weights per cluster
    n_iter: int
    ids: np.ndarray | None = None  # Polis's cluster ids (ascending), carried between runs

    def memberships(self, names: np.ndarray) -> carryover.Memberships:
        """What the next recomputation starts from (`names`: the clustered points' names)."""
        return carryover.Memberships(self.ids, np.asarray(names), self.ids[self.labels])


def run(x, k: int, weights=None, tol: float = 0.01, max_iter: int = 20, xp=np,
        names: np.ndarray | None = None, last: carryover.Memberships | None = None
        ) -> Clustering:
    """Polis's k-means: started fresh or from `last` (points named by `names`, ascending),
    clusters sorted by id."""
    host = x if xp is np else x.get()
    if last is not None and len(last.ids):
        hw = None if weights is None else np.asarray(weights, np.float64)
        ids, start = carryover.carried_start(host, names, last, k, hw)
    else:
        ids, start = carryover.fresh_start(host, k)
    labels, centres, n_iter, kept = lloyd(x, start, weights, tol, max_iter, xp)
    ids = ids[kept]
    order = np.argsort(ids, kind="stable")  # Polis sorts clusterings by id
    rank = np.empty(len(order), np.int32)
    rank[order] = np.arange(len(order))
    to_host = (lambda a: a) if xp is np else (lambda a: a.get())
    labels, centres = rank[to_host(labels)], to_host(centres)[order]
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, np.float64)
    sizes = np.bincount(labels, weights=w, minlength=len(centres))
    return Clustering(labels, centres, sizes, n_iter, ids[order])


def base_clusters(x, k_max: int = 100, tol: float = 0.01, max_iter: int = 100, xp=np,
                  names: np.ndarray | None = None,
                  last: carryover.Memberships | None = None) -> Clustering:
    """Base clusters of the (in-conversation) voters' projections, k = min(k_max, voters)."""
    return run(x, min(k_max, len(x)), None, tol, max_iter, xp, names, last)


def k_range(n_points: int, max_groups: int = 5) -> range:
    """Candidate group counts: 2 .. min(max_groups, 2 + n // 12), and below n (silhouette)."""
    return range(2, min(max_groups, 2 + n_points // 12, n_points - 1) + 1)


def distances(points: np.ndarray) -> np.ndarray:
    """Euclidean distances between every two of a few points."""
    points = np.asarray(points, np.float64)
    return np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))


def silhouette(points: np.ndarray, labels: np.ndarray, d: np.ndarray | None = None) -> float:
    """Mean silhouette (Euclidean) of a few points (the base centres): -1 when undefined.
    Equal to scikit-learn's silhouette_score; computed here to keep sklearn off the path.
    `d`: the points' `distances`, when known (the same points score every candidate k)."""
    ks = np.unique(labels)
    if len(ks) < 2 or len(ks) >= len(points):
        return -1.0
    d = distances(points) if d is None else d
    onehot = labels[:, None] == ks[None, :]
    sizes = onehot.sum(0)
    mean_to = (d @ onehot) / sizes  # (n, k) mean distance to each cluster (self included)
    own = np.searchsorted(ks, labels)
    n_own = sizes[own]
    a = np.where(n_own > 1, mean_to[np.arange(len(points)), own] * n_own / np.maximum(n_own - 1, 1), 0)
    mean_to[np.arange(len(points)), own] = np.inf
    b = mean_to.min(1)
    s = np.where(n_own > 1, (b - a) / np.maximum(a, b), 0.0)
    return float(s.mean())


def group_candidates(centres: np.ndarray, weights: np.ndarray, max_groups: int = 5,
                     tol: float = 0.01, max_iter: int = 20, names: np.ndarray | None = None,
                     last: dict[int, carryover.Memberships] | None = None
                     ) -> dict[int, tuple[Clustering, float]]:
    """For every candidate k: the weighted k-means of the base centres (named by their ids,
    `names`) and its silhouette, started from the first k distinct centres or from the last
    run's groups of that k (`last[k]`)."""
    out = {}
    names = np.arange(len(centres)) if names is None else names
    d = None
    for k in k_range(len(centres), max_groups):
        prev = (last or {}).get(k)
        c = run(centres, k, weights, tol, max_iter, np, names, prev)
        if len(c.centres) >= 2 or prev is not None:
            d = distances(centres) if d is None else d
            out[k] = (c, silhouette(centres, c.labels, d))
    return out


def best_k(candidates: dict[int, tuple[Clustering, float]]) -> int | None:
    """The k with the highest silhouette; the larger k on ties (Polis's max-key)."""
    if not candidates:
        return None
    return max(sorted(candidates, reverse=True), key=lambda k: candidates[k][1])


def subgroups(centres: np.ndarray, weights: np.ndarray, group_of_base: np.ndarray,
              max_groups: int = 5, tol: float = 0.01, max_iter: int = 300) -> np.ndarray:
    """Subgroup (within its group) of every base cluster; 0 where a group is too small."""
    sub = np.zeros(len(centres), np.int32)
    for g in np.unique(group_of_base):
        idx = np.flatnonzero(group_of_base == g)
        cands = group_candidates(centres[idx], weights[idx], max_groups, tol, max_iter)
        k = best_k(cands)
        if k is not None:
            sub[idx] = cands[k][0].labels
    return sub
