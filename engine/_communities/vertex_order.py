"""A numbering of the kNN graph's vertices that keeps neighbours close: Leiden runs faster on it.

igraph builds its edge index with radix sorts keyed by vertex number, and Leiden's moves read
the community of every neighbour of a vertex; both touch memory at the vertices' numbers. Rows
come in arbitrary order, so a vertex's neighbours are scattered over the whole range and nearly
every access misses the cache. Numbered breadth first by reverse Cuthill-McKee (scipy), the
neighbours of a vertex lie a few hundred numbers apart (200k x 64 blobs, k = 15: mean
|src - dst| 1,226 against 66,499), and graph + igraph build + Leiden took 3.8 CPU s against
5.1 (best of 3, alternating, ordering included; bench/results/communities_leiden.md).

`locality_order(idx)` -> order (order[new] = old row); `renumbered_lists(idx, order)` gives the
neighbour lists in that numbering (rows in order, ids renumbered; -1 kept), so the graph built
from them is already sorted by (src, dst) in the new numbering; `to_rows(order, labels, src,
dst)` maps a result back to row numbers.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import reverse_cuthill_mckee


def locality_order(idx: np.ndarray) -> np.ndarray:
    """Reverse Cuthill-McKee order of the undirected graph of the neighbour lists `idx` (n, k)
    (-1 entries ignored): order[new] = old."""
    n = idx.shape[0]
    listed = idx >= 0
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(listed.sum(axis=1), out=indptr[1:])
    A = sp.csr_matrix((np.ones(int(indptr[-1]), np.int8), idx[listed].astype(np.int32),
                       indptr), shape=(n, n))
    # symmetric_mode=False: scipy walks A + A.T, a list's neighbours in both directions.
    return np.asarray(reverse_cuthill_mckee(A, symmetric_mode=False), np.int64)


def rank_of(order: np.ndarray) -> np.ndarray:
    """rank[old] = new, the inverse permutation of `order`."""
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return rank


def renumbered_lists(idx: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Row new of the result is row order[new] of `idx`, its ids renumbered (-1 stays -1)."""
    rank = rank_of(order)
    rows = idx[order]
    return np.where(rows >= 0, rank[np.maximum(rows, 0)], -1)


def to_rows(order: np.ndarray, labels: np.ndarray, src: np.ndarray, dst: np.ndarray):
    """(labels per row, src, dst in row numbers with src < dst) of a result computed in the
    numbering `order`. The edges keep their order (grouped by the new numbering)."""
    rank = rank_of(order)
    a, b = order[src], order[dst]
    return labels[rank], np.minimum(a, b), np.maximum(a, b)
