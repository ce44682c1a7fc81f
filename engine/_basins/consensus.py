"""Consensus clusters of one bin from bootstrap HDBSCAN runs, without an n x n matrix.

Co-assignment is counted only over the edges of a kNN graph of the bin's points: for each
edge, how many runs sampled both ends (co-sampled) and how many of those put both ends in the
same cluster (together). co-assignment = together / co-sampled: dividing by the number of runs
instead would penalise points that were simply sampled less often (unpopular clusters).
Edges co-sampled fewer than `min_cosampled` times are left out (default) or shrunk toward a
skeptical prior (`shrink_prior`, default 0: an unobserved pair is no evidence of belonging
together; shrinking toward the bin's mean co-assignment instead would let rarely sampled
points bridge separate clusters, since most kNN edges lie inside clusters). The share of
reliable edges is reported as coverage, and points never sampled are counted (they end up
as noise with confidence 0, never silently dropped).
Consensus clusters are the connected components of the edges with co-assignment >=
`threshold`, at least `min_size` points, the `max_clusters` largest kept. A point's
confidence is its mean co-assignment with its neighbours in its own cluster; a cluster's is
the mean over its points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree


def knn_edges(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Undirected edges (src < dst, each once) of the k-nearest-neighbour graph of X."""
    n = len(X)
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    k = min(k, n - 1)
    _, idx = cKDTree(X).query(X, k=k + 1)
    rows = np.repeat(np.arange(n), k + 1)
    cols = idx.reshape(-1)
    ok = (cols != rows) & (cols < n)
    a, b = np.minimum(rows[ok], cols[ok]), np.maximum(rows[ok], cols[ok])
    key = np.unique(a * n + b)
    return key // n, key % n


@dataclass
class CoCounts:
    """Per-edge counts over the bootstrap runs of one bin."""

    src: np.ndarray
    dst: np.ndarray
    together: np.ndarray  # runs in which both ends were sampled and clustered together
    cosampled: np.ndarray  # runs in which both ends were sampled
    times_sampled: np.ndarray  # per point


def count_coassignment(n: int, src, dst, samples: list[np.ndarray], labels: list[np.ndarray],
                       xp=np) -> CoCounts:
    """Count, over kNN edges, co-sampling and co-clustering across runs (on xp's device)."""
    src_d, dst_d = xp.asarray(src), xp.asarray(dst)
    together = xp.zeros(len(src), xp.int32)
    cosampled = xp.zeros(len(src), xp.int32)
    times = xp.zeros(n, xp.int32)
    for idx, lab in zip(samples, labels, strict=True):
        full = xp.full(n, -2, xp.int64)  # -2: not sampled, -1: noise
        full[xp.asarray(idx)] = xp.asarray(lab)
        a, b = full[src_d], full[dst_d]
        both = (a != -2) & (b != -2)
        cosampled += both
        together += both & (a == b) & (a >= 0)
        times += full != -2

    def host(v):
        return v.get() if hasattr(v, "get") else np.asarray(v)

    return CoCounts(np.asarray(src), np.asarray(dst), host(together), host(cosampled),
                    host(times))


def coassignment(counts: CoCounts, min_cosampled: int, prior_strength: float = 2.0,
                 low_cosample: str = "drop", shrink_prior: float = 0.0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(weight per edge, reliable mask). Unreliable edges: NaN (left out) with "drop", or
    shrunk toward `shrink_prior` with `prior_strength` pseudo-runs with "shrink"."""
    tog = counts.together.astype(np.float64)
    cos = counts.cosampled.astype(np.float64)
    reliable = cos >= max(min_cosampled, 1)
    raw = np.divide(tog, cos, out=np.zeros_like(tog), where=cos > 0)
    if low_cosample == "drop":
        w = np.where(reliable, raw, np.nan)
    else:
        w = np.where(reliable, raw, (tog + prior_strength * shrink_prior) / (cos + prior_strength))
    return w, reliable


@dataclass
class Consensus:
    labels: np.ndarray  # (n,) cluster per point, -1 noise
    point_conf: np.ndarray  # (n,)
    cluster_conf: np.ndarray  # (k,)
    sizes: np.ndarray  # (k,)
    coverage: float  # share of kNN edges co-sampled at least min_cosampled times
    n_never_sampled: int

    @property
    def n_clusters(self) -> int:
        return len(self.sizes)


def consensus_clusters(n: int, src: np.ndarray, dst: np.ndarray, w: np.ndarray,
                       threshold: float, min_size: int, max_clusters: int) -> tuple[
                           np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(labels, point confidence, cluster confidence, sizes) from the weighted kNN graph."""
    keep = np.nan_to_num(w, nan=-1.0) >= threshold
    g = coo_matrix((np.ones(int(keep.sum())), (src[keep], dst[keep])), shape=(n, n))
    _, comp = connected_components(g, directed=False)
    comp_sizes = np.bincount(comp)
    big = np.flatnonzero(comp_sizes >= max(min_size, 2))
    big = big[np.argsort(-comp_sizes[big], kind="stable")][:max_clusters]
    relabel = np.full(len(comp_sizes), -1, np.int64)
    relabel[big] = np.arange(len(big))
    labels = relabel[comp]
    # Confidence: mean weight of each point's edges to its own cluster.
    same = (labels[src] == labels[dst]) & (labels[src] >= 0) & ~np.isnan(w)
    ws = np.where(same, w, 0.0)
    num = np.bincount(src, ws, n) + np.bincount(dst, ws, n)
    den = np.bincount(src, same, n) + np.bincount(dst, same, n)
    point_conf = np.divide(num, den, out=np.zeros(n), where=den > 0)
    k = len(big)
    in_cluster = labels >= 0
    sizes = np.bincount(labels[in_cluster], minlength=k)
    conf = np.bincount(labels[in_cluster], point_conf[in_cluster], minlength=k) / np.maximum(sizes, 1)
    return labels, point_conf, conf, sizes


def consensus(n: int, counts: CoCounts, threshold: float, min_size: int, max_clusters: int,
              min_cosampled: int, prior_strength: float = 2.0,
              low_cosample: str = "drop", shrink_prior: float = 0.0) -> Consensus:
    w, reliable = coassignment(counts, min_cosampled, prior_strength, low_cosample,
                               shrink_prior)
    labels, point_conf, conf, sizes = consensus_clusters(n, counts.src, counts.dst, w, threshold,
                                                         min_size, max_clusters)
    coverage = float(reliable.mean()) if len(reliable) else 0.0
    return Consensus(labels, point_conf, conf, sizes, coverage,
                     int((counts.times_sampled == 0).sum()))
