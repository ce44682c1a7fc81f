"""Rows grouped once by (cluster, user): one sort, then offsets; never a filter per pair."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from engine._balance.rows import fast_rows, square_sums
from engine.errors import UserError
from engine.io.embeddings import nonfinite_rows

log = logging.getLogger("engine")


@dataclass
class Groups:
    """Rows sorted by cluster then user, with offsets.

    Users of cluster c are `cluster_start[c]:cluster_start[c+1]` (sorted by user id); the rows
    (messages) of user u are `user_start[u]:user_start[u+1]` of `embeddings`.
    """

    embeddings: np.ndarray  # (rows, d), raw (not normalised), sorted
    cluster_ids: np.ndarray  # (n_clusters,) original cluster values
    cluster_start: np.ndarray  # (n_clusters + 1,) offsets into users
    user_ids: np.ndarray  # (n_users,) original user value of each (cluster, user) group
    user_start: np.ndarray  # (n_users + 1,) offsets into rows
    cluster_category: list  # (n_clusters,) category of each cluster (None when absent)
    n_dropped_users: int = 0
    n_dropped_rows: int = 0

    @property
    def n_clusters(self) -> int:
        return len(self.cluster_ids)

    def users_of(self, c: int) -> tuple[int, int]:
        return int(self.cluster_start[c]), int(self.cluster_start[c + 1])

    def counts(self) -> np.ndarray:
        return np.diff(self.user_start)


def check_embeddings(emb: np.ndarray, ids: np.ndarray, where: str) -> None:
    """Every row finite and nonzero (cosine similarity needs a direction), else a UserError."""
    step = 65536
    for lo in range(0, len(emb), step):
        block = emb[lo:lo + step]
        if fast_rows(block):
            # One pass: a row holding NaN or inf has a non-finite sum of squares, so only
            # such rows are tested entry by entry (a sum may also overflow on finite rows).
            sums = square_sums(block)
            suspect = np.flatnonzero(~np.isfinite(sums))
            bad = suspect[nonfinite_rows(block[suspect])]
        else:
            block = np.asarray(block, dtype=np.float64)
            bad = np.flatnonzero(nonfinite_rows(block))
            sums = np.einsum("ij,ij->i", block, block)
        if len(bad):
            raise UserError(f"{where}: non-finite (NaN/inf) embedding in row with id "
                            f"{_py(ids[lo + bad[0]])!r} ({len(bad)} such rows in this block)")
        zero = np.flatnonzero(sums == 0)
        if len(zero):
            raise UserError(f"{where}: zero embedding vector in row with id {_py(ids[lo + zero[0]])!r} "
                            "(cosine similarity is undefined for it)")


def _py(value):
    return value.item() if isinstance(value, np.generic) else value


def _codes(values: np.ndarray, name: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    if values.dtype == object and any(v is None for v in values):
        raise UserError(f"{where}: column {name!r} has missing values")
    if values.dtype.kind == "f" and np.isnan(values).any():
        raise UserError(f"{where}: column {name!r} has missing values")
    uniq, inverse = np.unique(values, return_inverse=True)
    return uniq, inverse.ravel()


def _mode(values: np.ndarray):
    """The most common non-null value (ties: the smallest), or None."""
    vals = [v for v in values.tolist() if v is not None]
    if not vals:
        return None
    uniq, counts = np.unique(np.asarray(vals, dtype=object), return_counts=True)
    return uniq[np.argmax(counts)]


def build_groups(cluster: np.ndarray, user: np.ndarray, embeddings: np.ndarray,
                 category: np.ndarray | None = None, max_users_per_cluster: int = 0,
                 where: str = "input", cluster_name: str = "cluster_id",
                 user_name: str = "user_id") -> Groups:
    """Sort rows by (cluster, user) once and cut offsets.

    `max_users_per_cluster` > 0 keeps the most active users of each cluster (most rows; ties by
    user id) and drops the others' rows; the number dropped is logged and returned.
    A cluster's category is the most common category among its rows.
    """
    n = len(embeddings)
    if not (len(cluster) == len(user) == n):
        raise ValueError("cluster, user and embeddings must have the same length")
    cluster_vals, cluster_code = _codes(np.asarray(cluster), cluster_name, where)
    user_vals, user_code = _codes(np.asarray(user), user_name, where)
    order = np.lexsort((user_code, cluster_code))
    cc, uc = cluster_code[order], user_code[order]
    # One (cluster, user) group per run of equal keys.
    new_group = np.ones(n, bool)
    new_group[1:] = (cc[1:] != cc[:-1]) | (uc[1:] != uc[:-1])
    group_start = np.flatnonzero(new_group)
    group_cluster = cc[group_start]
    group_user = uc[group_start]
    group_count = np.diff(np.append(group_start, n))
    keep_group = np.ones(len(group_start), bool)
    n_dropped = 0
    if max_users_per_cluster > 0:
        bounds = np.flatnonzero(np.diff(np.append(-1, group_cluster)))
        bounds = np.append(bounds, len(group_cluster))
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            if hi - lo > max_users_per_cluster:
                # Most rows first; the stable sort keeps user-id order among equals.
                rank = np.argsort(-group_count[lo:hi], kind="stable")
                keep_group[lo + rank[max_users_per_cluster:]] = False
                n_dropped += hi - lo - max_users_per_cluster
    row_keep = np.repeat(keep_group, group_count)
    kept_rows = order[row_keep]
    n_dropped_rows = n - len(kept_rows)
    if n_dropped:
        log.warning("max_users_per_cluster=%d: dropped %d users (%d rows), keeping the most "
                    "active users of each cluster", max_users_per_cluster, n_dropped,
                    n_dropped_rows)
    group_cluster = group_cluster[keep_group]
    group_user = group_user[keep_group]
    group_count = group_count[keep_group]
    clusters_present = np.unique(group_cluster)
    cluster_start = np.searchsorted(group_cluster, np.arange(len(cluster_vals) + 1))
    cluster_start = np.append(cluster_start[clusters_present], len(group_cluster))
    if category is None:
        categories = [None] * len(clusters_present)
    else:
        category = np.asarray(category, dtype=object)
        sorted_cat = category[order]
        cbounds = np.searchsorted(cc, np.arange(len(cluster_vals) + 1))
        categories = [_mode(sorted_cat[cbounds[c]:cbounds[c + 1]]) for c in clusters_present]
    return Groups(
        embeddings=np.ascontiguousarray(embeddings[kept_rows]),
        cluster_ids=cluster_vals[clusters_present],
        cluster_start=cluster_start.astype(np.int64),
        user_ids=user_vals[group_user],
        user_start=np.append(0, np.cumsum(group_count)).astype(np.int64),
        cluster_category=categories,
        n_dropped_users=int(n_dropped),
        n_dropped_rows=int(n_dropped_rows),
    )
