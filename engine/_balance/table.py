"""The pairs table and a one-call entry point for other jobs (e.g. the pipeline)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from engine._balance.groups import Groups, build_groups, check_embeddings
from engine._balance.matching import MatchOptions, PairMatches, match_pairs
from engine._balance.scores import components


def score_pairs(cluster: np.ndarray, user: np.ndarray, embeddings: np.ndarray, backend,
                category: np.ndarray | None = None, options: MatchOptions | None = None,
                max_users_per_cluster: int = 0, ids: np.ndarray | None = None,
                where: str = "input") -> tuple[pa.Table, Groups, PairMatches]:
    """Balance scores of every pair of users inside each cluster: (pairs table, groups,
    matches). Bad embeddings (NaN, zero) raise a UserError naming the row's id."""
    check_embeddings(embeddings, np.arange(len(embeddings)) if ids is None else ids, where)
    groups = build_groups(cluster, user, embeddings, category, max_users_per_cluster, where)
    matches = match_pairs(groups, backend, options or MatchOptions())
    return pairs_table(groups, matches), groups, matches


def pairs_table(groups: Groups, matches: PairMatches) -> pa.Table:
    """pairs.parquet: one row per pair with the seed's columns, then `error_bound`."""
    counts = groups.counts()
    n1 = counts[matches.user1]
    n2 = counts[matches.user2]
    comp = components(n1, n2, matches.sim)
    categories = np.asarray(groups.cluster_category, dtype=object)
    category = categories[matches.cluster] if len(matches) else np.zeros(0, object)
    return pa.table({
        "cluster_id": _arrow(groups.cluster_ids[matches.cluster]),
        "user1": _arrow(groups.user_ids[matches.user1]),
        "user2": _arrow(groups.user_ids[matches.user2]),
        "user1_convos": pa.array(n1, pa.int64()),
        "user2_convos": pa.array(n2, pa.int64()),
        "imbalance": comp["imbalance"],
        "magnitude_factor": comp["magnitude_factor"],
        "dist": comp["dist"],
        "std_imbalance": comp["std_imbalance"],
        "std_magnitude": comp["std_magnitude"],
        "std_dist": comp["std_dist"],
        "balance_score": comp["balance_score"],
        "category": pa.array(list(category), pa.string()) if all(
            c is None or isinstance(c, str) for c in categories) else _arrow(category),
        "error_bound": matches.bound,
    })


def _arrow(values: np.ndarray) -> pa.Array:
    if values.dtype == object:
        return pa.array(values.tolist())
    return pa.array(values)
