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


def _has_equal_rows(x: np.ndarray) -> bool:
    """Whether two rows of `x` are equal (by value, as np.unique compares them)."""
    s = x[np.lexsort(x.T[::-1])]
    return bool((s[1:] == s[:-1]).all(1).any())


def _mean(x, members, weights):
    w = None if weights is None else weights[members]
    return np.average(x[members], axis=0, weights=w)


def _means(x, members: list, weights, in_row_order: list) -> np.ndarray:
    """`_mean` of every member list, the lists in row order (all but merged ones) in one
    pass: np.average sums along rows one after the other, as bincount does in row order,
    so the centres are the same to the bit. Weights are cluster sizes at the group level:
    whole numbers, whose sums are exact in any order (np.average sums them pairwise)."""
    label = np.full(len(x), -1, np.intp)
    for i, (m, ordered) in enumerate(zip(members, in_row_order, strict=True)):
        if ordered:
            label[m] = i
    rows = np.flatnonzero(label >= 0)
    lab = label[rows]
    w = np.ones(len(rows)) if weights is None else weights[rows]
    mass = np.bincount(lab, weights=w, minlength=len(members))
    sums = np.stack([np.bincount(lab, weights=x[rows, j] * w if weights is not None
                                 else x[rows, j], minlength=len(members))
                     for j in range(x.shape[1])], axis=1)
    ordered = np.array(in_row_order, bool)
    out = np.empty_like(sums)
    out[ordered] = sums[ordered] / mass[ordered, None]
    for i in np.flatnonzero(~ordered):
        out[i] = _mean(x, members[i], weights)
    return out


def carried_start(x: np.ndarray, names: np.ndarray, last: Memberships, k: int,
                  weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, centres) to start from, built from the last run's memberships (see the module
    docstring). `names` are the current points' names, ascending; `weights` per point."""
    x = np.asarray(x, np.float64)
    present = np.isin(last.names, names)
    rows_of = np.searchsorted(names, last.names[present])  # ascending, as last.names
    cluster_of = last.cluster[present]
    # The old clusters with members still present, by id (last.ids is ascending).
    present_ids, which = np.unique(cluster_of, return_inverse=True)
    by_cluster = np.argsort(which, kind="stable")  # members stay in row order
    members = np.split(rows_of[by_cluster], np.cumsum(np.bincount(which))[:-1])
    ids = present_ids.astype(int).tolist()
    if not ids:  # nothing carried over: one cluster of everyone
        ids, members = [int(max(last.ids, default=-1)) + 1], [np.arange(len(x))]
    in_row_order = [True] * len(ids)
    centres = _means(x, members, weights, in_row_order)
    # Merge clusters whose centres coincide (the id of the larger one stays; ties: the later).
    if _has_equal_rows(centres):
        uniq_ids, uniq_members, at = [], [], {}
        for cid, mem, centre in zip(ids, members, centres, strict=True):
            key = (centre + 0.0).tobytes()  # exact equality (+0.0: no -0.0)
            same = at.get(key)
            if same is None:
                at[key] = len(uniq_ids)
                uniq_ids.append(cid), uniq_members.append(mem)
            else:
                if len(mem) >= len(uniq_members[same]):
                    uniq_ids[same] = cid
                uniq_members[same] = np.concatenate([uniq_members[same], mem])
        ids, members = uniq_ids, uniq_members
        in_row_order = [bool((np.diff(m) > 0).all()) for m in members]
        centres = _means(x, members, weights, in_row_order)
    # (The distinct points are counted, a sort, only when there are fewer clusters than k.)
    possible = k if len(ids) >= k else min(k, len(np.unique(x, axis=0)))
    while len(ids) < possible:
        # The point farthest from its nearest centre (ties: the later point) starts a cluster.
        d = np.sqrt(((x[:, None, :] - centres[None, :, :]) ** 2).sum(-1)).min(1)
        far = len(d) - 1 - int(np.argmax(d[::-1]))
        if d[far] <= 0:
            break
        kept = [(i, m[m != far], o) for i, m, o in zip(ids, members, in_row_order, strict=True)]
        ids = [i for i, m, _ in kept if len(m)] + [max(ids) + 1]
        members = [m for _, m, _ in kept if len(m)] + [np.array([far])]
        in_row_order = [o for _, m, o in kept if len(m)] + [True]
        centres = _means(x, members, weights, in_row_order)
    return np.asarray(ids), centres
