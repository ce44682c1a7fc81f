"""HDBSCAN spanning trees of a bin's bootstrap samples, sharing one kNN query per bin.

fast_hdbscan's `compute_minimum_spanning_tree` starts every call with a (min_samples + 1)-NN
query of the sample (~30% of its time on these 3-D samples). A sample's nearest sampled
neighbours are the first sampled points in the *bin's* neighbour list, in the same order:
the bin's K nearest include every point closer than its K-th neighbour, so as long as at
least min_samples + 1 of them (the point itself included) were sampled, the filtered list is
exactly the sample's own query result, with bit-identical squared distances (the same
float32 coordinates and distance function). One bin-level query (K = `BIN_K`) thus serves
all its samples; the few points with too few sampled neighbours are queried on the sample's
tree. The Boruvka rounds are fast_hdbscan's own functions, driven as its `parallel_boruvka`
drives them, so the tree equals `compute_minimum_spanning_tree(X, min_samples)[0]` (up to the
order of exactly tied neighbours).
"""

from __future__ import annotations

import numba
import numpy as np
from fast_hdbscan.boruvka import (
    boruvka_tree_query,
    initialize_boruvka_from_knn,
    merge_components,
    update_component_vectors,
)
from fast_hdbscan.disjoint_set import ds_rank_create
from fast_hdbscan.numba_kdtree import build_kdtree, parallel_tree_query

BIN_K = 24  # neighbours per point in the bin-level query (>= min_samples + 1 needed)


def bin_neighbours(X: np.ndarray, k: int = BIN_K) -> tuple[np.ndarray, np.ndarray]:
    """(squared distances float32 (n, k), indices int32 (n, k)) of each bin point's k nearest,
    itself included, as fast_hdbscan computes them."""
    tree = build_kdtree(np.ascontiguousarray(X, dtype=np.float64))
    return _query(tree, tree.data, min(k, len(X)))


@numba.njit(cache=True)
def _query(tree, points, k):
    """fast_hdbscan's kNN query of `points`, typed as `parallel_boruvka` calls it (a literal
    `output_rdist=True`): on a cold cache it reuses the specialization compiled when
    fast_hdbscan is imported instead of compiling another (~3 s), as a call from Python with
    a plain bool would."""
    return parallel_tree_query(tree, points, k=k, output_rdist=True)


@numba.njit(cache=True)
def _filter_to_sample(rd, nb, idx, pos, kk):
    """Each sample point's first kk sampled neighbours (sample indices) from the bin's lists;
    rows with fewer than kk sampled neighbours are flagged for a direct query."""
    m = len(idx)
    out_d = np.full((m, kk), np.inf, dtype=np.float32)
    out_i = np.full((m, kk), -1, dtype=np.int32)
    short = np.zeros(m, dtype=np.bool_)
    for j in range(m):
        row = idx[j]
        c = 0
        for t in range(nb.shape[1]):
            p = pos[nb[row, t]]
            if p >= 0:
                out_d[j, c] = rd[row, t]
                out_i[j, c] = p
                c += 1
                if c == kk:
                    break
        if c < kk:
            short[j] = True
    return out_d, out_i, short


def sample_neighbours(tree, rd: np.ndarray, nb: np.ndarray, idx: np.ndarray, n: int,
                      kk: int) -> tuple[np.ndarray, np.ndarray]:
    """The sample's own kk-NN (squared distances, sample indices) from the bin's lists, with
    a direct query on the sample's tree where the bin's lists ran out of sampled points."""
    pos = np.full(n, -1, dtype=np.int64)
    pos[idx] = np.arange(len(idx))
    d, i, short = _filter_to_sample(rd, nb, idx.astype(np.int64), pos, kk)
    if short.any():
        rows = np.flatnonzero(short)
        d[rows], i[rows] = _query(tree, tree.data[rows], kk)
    return d, i


@numba.njit(cache=True)
def _boruvka(tree, distances, neighbors):
    """fast_hdbscan's `parallel_boruvka` (min_samples > 1, no sample weights, fast variant)
    from a given (min_samples + 1)-NN table in squared distances."""
    n = tree.data.shape[0]
    disjoint_set = ds_rank_create(n)
    point_components = np.arange(n)
    node_components = np.full(tree.idx_start.shape[0], -1)
    # A strided view, as `parallel_boruvka` passes it: fast_hdbscan's callees are then
    # called with the types they were compiled for at its import (no second specialization).
    core = distances.T[-1]
    out = np.empty((n - 1, 3), dtype=np.float64)
    first = initialize_boruvka_from_knn(neighbors, distances, core, disjoint_set)
    out[: len(first)] = first
    filled = len(first)
    update_component_vectors(tree, disjoint_set, node_components, point_components)
    n_components = len(np.unique(point_components))
    while n_components > 1:
        cand_d, cand_i = boruvka_tree_query(tree, node_components, point_components, core)
        new = merge_components(disjoint_set, cand_i, cand_d, point_components)
        n_components -= len(new)
        update_component_vectors(tree, disjoint_set, node_components, point_components)
        out[filled: filled + len(new)] = new
        filled += len(new)
    out[:, 2] = np.sqrt(out[:, 2])
    return out


def sample_spanning_tree(X_bin: np.ndarray, rd: np.ndarray, nb: np.ndarray, idx: np.ndarray,
                         min_samples: int) -> np.ndarray:
    """Mutual-reachability minimum spanning tree (n - 1, 3: src, dst, weight) of the sample
    X_bin[idx], using the bin's neighbour lists (rd, nb) from `bin_neighbours`."""
    tree = build_kdtree(np.ascontiguousarray(X_bin[idx], dtype=np.float64))
    d, i = sample_neighbours(tree, rd, nb, idx, len(X_bin), min_samples + 1)
    return _boruvka(tree, d, i)
