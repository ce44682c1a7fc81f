"""Polis's starting clusters for a k-means run: fresh, or carried over from the last run.

Polis gives every cluster an id. A fresh run starts from the first k distinct rows in data
order (ids 0..k-1). A recomputation starts from the last run's clusters by *membership*:
each old cluster is re-centred on its members still present (clusters without any are
dropped), clusters with identical centres are merged, and while there are fewer clusters than
k (and distinct points), the point farthest from every centre is split off into a new
cluster with id max(id) + 1. New points belong to no cluster until the first assignment.
The ids order the clusters (Polis sorts every clustering by id), and at the group level the
base-cluster ids are the point names, so both the carry-over and the first-k-distinct start
depend on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Memberships:
    """A clustering as Polis stores it between runs: cluster ids and who was in each."""

    ids: np.ndarray  # cluster ids, ascending
    names: np.ndarray  # point names (voter rows, or base-cluster ids at the group level)
    cluster: np.ndarray  # the cluster id of each name


def first_distinct_rows(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of the first `k` distinct rows of `x` in order (fewer when there are fewer)."""
    _, first = np.unique(np.asarray(x), axis=0, return_index=True)
    return np.sort(first)[:k]


def fresh_start(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, centres): the first k distinct rows, ids 0..k-1."""
    rows = first_distinct_rows(x, k)
    return np.arange(len(rows)), np.asarray(x)[rows]


def _mean(x, members, weights):
    w = None if weights is None else weights[members]
    return np.average(x[members], axis=0, weights=w)


def carried_start(x: np.ndarray, names: np.ndarray, last: Memberships, k: int,
                  weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, centres) to start from, built from the last run's memberships (see the module
    docstring). `names` are the current points' names, ascending; `weights` per point."""
    x = np.asarray(x, np.float64)
    present = np.isin(last.names, names)
    rows_of = np.searchsorted(names, last.names[present])
    cluster_of = last.cluster[present]
    ids, members = [], []
    for cid in last.ids:
        mine = rows_of[cluster_of == cid]
        if len(mine):
            ids.append(int(cid))
            members.append(mine)
    if not ids:  # nothing carried over: one cluster of everyone
        ids, members = [int(max(last.ids, default=-1)) + 1], [np.arange(len(x))]
    # Merge clusters whose centres coincide (the id of the larger one stays; ties: the later).
    uniq_ids, uniq_members, at = [], [], {}
    for cid, mem in zip(ids, members, strict=True):
        key = (_mean(x, mem, weights) + 0.0).tobytes()  # exact equality (+0.0: no -0.0)
        same = at.get(key)
        if same is None:
            at[key] = len(uniq_ids)
            uniq_ids.append(cid), uniq_members.append(mem)
        else:
            if len(mem) >= len(uniq_members[same]):
                uniq_ids[same] = cid
            uniq_members[same] = np.concatenate([uniq_members[same], mem])
    ids, members = uniq_ids, uniq_members
    possible = min(k, len(np.unique(x, axis=0)))
    while True:
        centres = np.array([_mean(x, m, weights) for m in members])
        if len(ids) >= possible:
            break
        # The point farthest from its nearest centre (ties: the later point) starts a cluster.
        d = np.sqrt(((x[:, None, :] - centres[None, :, :]) ** 2).sum(-1)).min(1)
        far = len(d) - 1 - int(np.argmax(d[::-1]))
        if d[far] <= 0:
            break
        kept = [(i, m[m != far]) for i, m in zip(ids, members, strict=True)]
        ids = [i for i, m in kept if len(m)] + [max(ids) + 1]
        members = [m for _, m in kept if len(m)] + [np.array([far])]
    return np.asarray(ids), centres
