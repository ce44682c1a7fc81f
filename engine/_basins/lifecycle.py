"""Lifecycle events from point flow between consecutive bins.

Each clustered point of bin t+1 is assigned to the nearest cluster of bin t whose centre lies
within `radius` x that cluster's RMS spread (or to none). The flow F[i, j] counts points of
cluster j (t+1) assigned to cluster i (t). With share threshold `flow_min`:
- j with no source i (F_ij >= flow_min * size_j): birth, or reappearance when tracking resumed
  a basin after one missed bin; with two or more sources: merge;
- i with no target j (F_ij >= flow_min * size_i): death; two or more targets: split; one
  target: continuation, plus growth / shrink when the size changes by more than `size_tol`.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist


def flow_matrix(X_next: np.ndarray, labels_next: np.ndarray, k_next: int, centres: np.ndarray,
                spread: np.ndarray, radius: float = 2.0) -> np.ndarray:
    k = len(centres)
    F = np.zeros((k, k_next), np.int64)
    inside = labels_next >= 0
    if k == 0 or not inside.any():
        return F
    d = cdist(X_next[inside], centres)
    d[d > radius * np.maximum(spread, 1e-12)[None, :]] = np.inf
    near = np.argmin(d, axis=1)
    ok = np.isfinite(d[np.arange(len(d)), near])
    np.add.at(F, (near[ok], labels_next[inside][ok]), 1)
    return F


def transition_events(F: np.ndarray, sizes: np.ndarray, sizes_next: np.ndarray,
                      basin: np.ndarray, basin_next: np.ndarray, reappeared_next: np.ndarray,
                      t: int, flow_min: float = 0.2, size_tol: float = 0.2) -> list[dict]:
    events = []

    def add(kind, cluster, bin_, basin_id, others, before, after):
        events.append({"bin": bin_, "event": kind, "cluster": int(cluster),
                       "basin_id": int(basin_id), "related_clusters": others,
                       "size_before": int(before), "size_after": int(after)})

    sources = F >= flow_min * np.maximum(sizes_next, 1)[None, :]
    targets = F >= flow_min * np.maximum(sizes, 1)[:, None]
    for j in range(F.shape[1]):
        src = np.flatnonzero(sources[:, j])
        if len(src) == 0:
            kind = "reappearance" if reappeared_next[j] else "birth"
            add(kind, j, t + 1, basin_next[j], "", 0, sizes_next[j])
        elif len(src) >= 2:
            add("merge", j, t + 1, basin_next[j], ",".join(map(str, src)),
                sizes[src].sum(), sizes_next[j])
    for i in range(F.shape[0]):
        dst = np.flatnonzero(targets[i])
        if len(dst) == 0:
            add("death", i, t, basin[i], "", sizes[i], 0)
        elif len(dst) >= 2:
            add("split", i, t, basin[i], ",".join(map(str, dst)), sizes[i], sizes_next[dst].sum())
        else:
            j = dst[0]
            add("continuation", i, t, basin[i], str(j), sizes[i], sizes_next[j])
            if sizes_next[j] > (1 + size_tol) * sizes[i]:
                add("growth", i, t, basin[i], str(j), sizes[i], sizes_next[j])
            elif sizes_next[j] < (1 - size_tol) * sizes[i]:
                add("shrink", i, t, basin[i], str(j), sizes[i], sizes_next[j])
    return events


def part_events(coords: np.ndarray, members: list[np.ndarray], labels: list[np.ndarray],
                centres: list[np.ndarray], spread: list[np.ndarray], sizes: list[np.ndarray],
                basin: list[np.ndarray], reappeared: list[np.ndarray],
                flow_min: float = 0.2, size_tol: float = 0.2) -> list[dict]:
    """Events of all transitions of a part; births in the first bin included."""
    events = []
    if members:
        for j in range(len(sizes[0])):
            events.append({"bin": 0, "event": "birth", "cluster": j, "basin_id": int(basin[0][j]),
                           "related_clusters": "", "size_before": 0,
                           "size_after": int(sizes[0][j])})
    for t in range(len(members) - 1):
        F = flow_matrix(coords[members[t + 1]], labels[t + 1], len(sizes[t + 1]), centres[t],
                        spread[t])
        events += transition_events(F, sizes[t], sizes[t + 1], basin[t], basin[t + 1],
                                    reappeared[t + 1], t, flow_min, size_tol)
    return events
