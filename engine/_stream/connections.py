"""Connections: for a user u and each active cluster k containing u, the other users of k
ranked by cosine distance between their normalised mean message vectors in k (seed 004,
"Centroids API Distance Ranking"), keeping the top N.

The mean of a user's unit message vectors, normalised, is their sum normalised (the count
cancels). Work is grouped by cluster: one small matrix product per cluster between the
targets' vectors and all members' vectors. Ties in distance go to the user seen first.
"""

from __future__ import annotations

import numpy as np

TARGET_CHUNK = 1024  # target rows per distance block (bounds memory in big clusters)


def rank_connections(pair_user: np.ndarray, pair_cluster: np.ndarray, vector_sum: np.ndarray,
                     active: np.ndarray, top_n: int, targets: np.ndarray | None = None
                     ) -> dict[str, np.ndarray]:
    """Columns user, cluster, rank (1 = closest), other_user, distance (codes, not ids).

    pair_* / vector_sum: one row per (user, cluster); active: bool per cluster id;
    targets: user codes to rank for (None: every user).
    """
    keep = active[pair_cluster]
    pu, pc, vs = pair_user[keep], pair_cluster[keep], vector_sum[keep]
    order = np.lexsort((pu, pc))
    pu, pc, vs = pu[order], pc[order], vs[order]
    norms = np.linalg.norm(vs, axis=1, keepdims=True)
    unit = vs / np.where(norms > 0, norms, 1.0)
    is_target = np.ones(len(pu), bool) if targets is None else np.isin(pu, targets)
    bounds = np.flatnonzero(np.r_[True, np.diff(pc) != 0, True])
    out: dict[str, list[np.ndarray]] = {k: [] for k in
                                         ("user", "cluster", "rank", "other_user", "distance")}
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if b - a < 2:
            continue
        rows = a + np.flatnonzero(is_target[a:b])
        if not len(rows):
            continue
        members = unit[a:b]
        n_keep = min(top_n, b - a - 1)
        for lo in range(0, len(rows), TARGET_CHUNK):
            chunk = rows[lo : lo + TARGET_CHUNK]
            # One (1 x d) @ (d x members) product per target: a target's distances then do
            # not depend on which other targets share the call (BLAS picks kernels, and so
            # rounding, by shape), so ranking a few users gives the values of ranking all.
            dist = 1.0 - np.matmul(unit[chunk][:, None, :], members.T)[:, 0, :]
            dist[np.arange(len(chunk)), chunk - a] = np.inf  # not oneself
            # Members are sorted by user code, so a stable sort breaks ties by code.
            idx = np.argsort(dist, axis=1, kind="stable")[:, :n_keep]
            _append(out, pu[chunk], pc[a], pu[a + idx], np.take_along_axis(dist, idx, 1))
    empty = {"user": np.int64, "cluster": np.int64, "rank": np.int64, "other_user": np.int64,
             "distance": np.float64}
    return {k: (np.concatenate(v) if v else np.zeros(0, empty[k])) for k, v in out.items()}


def _append(out: dict, users: np.ndarray, cluster: int, others: np.ndarray, dist: np.ndarray
            ) -> None:
    t, n_keep = others.shape
    out["user"].append(np.repeat(users, n_keep))
    out["cluster"].append(np.full(t * n_keep, cluster, np.int64))
    out["rank"].append(np.tile(np.arange(1, n_keep + 1), t))
    out["other_user"].append(others.reshape(-1))
    out["distance"].append(dist.reshape(-1))
