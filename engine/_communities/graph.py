"""Undirected kNN graphs from neighbour lists, built with array operations only.

`knn_edges(idx, scores, mode)`: every directed pair i -> idx[i, j] (index >= 0, not i; a repeat
of it in the same row is ignored) becomes the undirected pair (min, max). `mutual` keeps the pairs listed in both directions with weight
= mean of the two similarities; `union` keeps every pair, with the mean of the directions
present (one or two). Each undirected edge appears once, src < dst, sorted by (src, dst).
"""

from __future__ import annotations

import numpy as np

from engine.errors import UserError

MODES = ("mutual", "union")


def knn_edges(idx, scores, mode: str = "mutual", exclude=None, xp=np):
    """(src, dst, weight) arrays of the undirected graph; `exclude` (bool per vertex) drops
    every edge touching a marked vertex (e.g. all-zero rows, whose similarities mean nothing)."""
    if mode not in MODES:
        raise UserError(f"job.graph={mode!r}: expected one of {', '.join(MODES)}")
    idx = xp.asarray(idx)
    n, k = idx.shape
    src = xp.repeat(xp.arange(n, dtype=xp.int64), k)
    dst = idx.reshape(-1).astype(xp.int64)
    w = xp.asarray(scores, dtype=xp.float32).reshape(-1)
    keep = (dst >= 0) & (dst != src)
    if exclude is not None:
        exclude = xp.asarray(exclude, dtype=bool)
        keep &= ~exclude[src] & ~exclude[xp.where(dst >= 0, dst, 0)]
    src, dst, w = src[keep], dst[keep], w[keep]
    # One entry per directed pair: a row that lists a neighbour twice (CAGRA can, raft #2234)
    # would otherwise count as both directions and make a one-sided pair mutual.
    _, first = xp.unique(src * n + dst, return_index=True)
    src, dst, w = src[first], dst[first], w[first]
    lo = xp.minimum(src, dst)
    hi = xp.maximum(src, dst)
    key = lo * n + hi  # n^2 < 2^63 for any n this engine meets
    order = xp.argsort(key)
    key, w = key[order], w[order]
    # Directed pairs are unique, so an undirected key occurs at most twice.
    starts = xp.ones(len(key), dtype=bool)
    starts[1:] = key[1:] != key[:-1]
    pos = xp.flatnonzero(starts)
    counts = xp.diff(xp.concatenate([pos, xp.asarray([len(key)], dtype=pos.dtype)]))
    csum = xp.concatenate([xp.zeros(1), xp.cumsum(w.astype(xp.float64))])
    wsum = csum[pos + counts] - csum[pos]
    key = key[pos]
    weight = (wsum / counts).astype(xp.float32)
    if mode == "mutual":
        both = counts == 2
        key, weight = key[both], weight[both]
    return (key // n).astype(xp.int64), (key % n).astype(xp.int64), weight
