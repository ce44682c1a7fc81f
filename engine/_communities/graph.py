"""Undirected kNN graphs from neighbour lists, in one Numba pass over the lists.

`knn_edges(idx, scores, mode)`: every directed pair i -> idx[i, j] (index >= 0, not i; a repeat
of it in the same row is ignored) becomes the undirected pair (min, max). `mutual` keeps the
pairs listed in both directions with weight = mean of the two similarities; `union` keeps every
pair, with the mean of the directions present (one or two). Each undirected edge appears once,
src < dst, sorted by (src, dst).

The pairs are bucketed by their smaller end (a CSR by src), then each bucket, about 2k entries,
is sorted by its other end and a pair listed both ways is two neighbouring entries. Sorting
small buckets replaced two sorts of all n k keys (200k x 15 lists, 3M keys: 0.52 s -> 0.1 s CPU).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.errors import UserError

MODES = ("mutual", "union")
SMALL_BUCKET = 64  # buckets up to this size are insertion-sorted


def knn_edges(idx, scores, mode: str = "mutual", exclude=None):
    """(src, dst, weight) arrays of the undirected graph; `exclude` (bool per vertex) drops
    every edge touching a marked vertex (e.g. all-zero rows, whose similarities mean nothing)."""
    if mode not in MODES:
        raise UserError(f"job.graph={mode!r}: expected one of {', '.join(MODES)}")
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    n = idx.shape[0]
    exclude = (np.zeros(n, bool) if exclude is None
               else np.ascontiguousarray(exclude, dtype=bool))
    return _undirected(idx, scores, exclude, mode == "mutual")


@njit(cache=True, inline="always")
def _new_pair(i, d, exclude, seen):
    """Whether i -> d is an edge not yet met in row i (`seen[d] == i` marks one that is)."""
    return d >= 0 and d != i and not exclude[d] and seen[d] != i


@njit(cache=True)
def _undirected(idx, scores, exclude, mutual_only):
    n, k = idx.shape
    # One entry per directed pair (a repeat in a row would count as the other direction),
    # bucketed by the pair's smaller end.
    seen = np.full(n, -1, np.int64)
    start = np.zeros(n + 1, np.int64)
    for i in range(n):
        if exclude[i]:
            continue
        for j in range(k):
            d = idx[i, j]
            if _new_pair(i, d, exclude, seen):
                seen[d] = i
                start[min(i, d) + 1] += 1
    for i in range(n):
        start[i + 1] += start[i]
    other = np.empty(start[n], np.int64)
    weight = np.empty(start[n], np.float32)
    fill = start[:-1].copy()
    seen[:] = -1
    for i in range(n):
        if exclude[i]:
            continue
        for j in range(k):
            d = idx[i, j]
            if _new_pair(i, d, exclude, seen):
                seen[d] = i
                lo = min(i, d)
                other[fill[lo]] = max(i, d)
                weight[fill[lo]] = scores[i, j]
                fill[lo] += 1
    # Sort each bucket by its other end (most hold about 2k entries); a
    # pair listed both ways is then two adjacent entries (directed pairs are unique, so never
    # more), merged into their mean.
    src = np.empty(start[n], np.int64)
    dst = np.empty(start[n], np.int64)
    w = np.empty(start[n], np.float32)
    m = 0
    for lo in range(n):
        a, b = start[lo], start[lo + 1]
        if b - a <= SMALL_BUCKET:
            for p in range(a + 1, b):
                o, x = other[p], weight[p]
                q = p
                while q > a and other[q - 1] > o:
                    other[q], weight[q] = other[q - 1], weight[q - 1]
                    q -= 1
                other[q], weight[q] = o, x
        else:  # a hub's bucket: insertion sort would be quadratic
            order = np.argsort(other[a:b]) + a
            other[a:b], weight[a:b] = other[order], weight[order]
        p = a
        while p < b:
            if p + 1 < b and other[p + 1] == other[p]:
                mean = (np.float64(weight[p]) + np.float64(weight[p + 1])) / 2
                src[m], dst[m], w[m] = lo, other[p], np.float32(mean)
                m += 1
                p += 2
            else:
                if not mutual_only:
                    src[m], dst[m], w[m] = lo, other[p], weight[p]
                    m += 1
                p += 1
    return src[:m].copy(), dst[:m].copy(), w[:m].copy()
