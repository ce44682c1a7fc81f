"""`job=balance`: balance scores of user pairs inside clusters (seed 000, SPEC `balance`).

Input rows: cluster id, user id, embedding, optional category (column names from `data.*`).
With `data=synthetic` the clusters are the planted topics of the synthetic tweets (diffuse
tweets, topic -1, belong to no cluster and are left out), users are `user_id` and the
category is the tweet's category.

For every unordered pair of distinct users in a cluster: imbalance = |ln(n1/n2)|,
magnitude_factor = 1/(n1+n2), dist = 1 - mean matched cosine similarity of their two message
sets (a matching of size min(n1, n2) maximising the summed similarity); each component is
z-scored over all pairs and balance_score is their sum (lower is better).

Matching methods: `exact` equals scipy's linear_sum_assignment; `auction` (the default) is
within `eps` (1e-3) of it in every pair's mean similarity, and each pair carries its dual
certificate gap (`error_bound` column, an upper bound on its error); `greedy` is sorted-edge
greedy with a row/column-maximum bound. Approximate runs re-solve a sample of pairs with scipy
and record the observed error (`error_max`, `bound_holds` in metrics.json).

Objective: the mean `dist` over all pairs (the mean balance_score is 0 by construction).
Outputs: `pairs.parquet`, `category_stats.parquet`, `top_pairs.parquet`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from engine.config import DataConfig
from engine.errors import UserError
from engine.run import RunContext

log = logging.getLogger("engine")


@dataclass
class Params:
    name: str = "balance"
    # exact (= scipy linear_sum_assignment) | auction (error <= eps) | greedy (sorted-edge).
    # Default: auction, the fastest method whose error bound is <= 1e-3 (on the benchmark's
    # data it does ~30% less work than exact; greedy has no a-priori bound).
    method: str = "auction"
    eps: float = 1e-3  # auction: bound on the error in each pair's mean similarity
    eps_scaling: bool = True  # auction: eps-scaling on square blocks (rectangular: one eps)
    max_bids_per_row: int = 2000  # auction: bids per pair capped at this x min(n1, n2)
    max_users_per_cluster: int = 0  # > 0: keep only the most active users of each cluster
    top_k: int = 20  # rows of top_pairs.parquet per selection
    exclude_category: str | None = "coding"  # second top list leaves this category out
    error_sample: int = 500  # approximate methods: pairs re-solved with scipy for the error
    # Largest similarity block held at once (float64). On the GPU the match kernels also
    # stage each pair's block, transposed, in a scratch buffer as large as the pairs of the
    # launch (at most the tile): budget up to twice tile_mb of device memory.
    tile_mb: int = 256


@dataclass
class Rows:
    """The input rows, and the names that messages about them use."""

    cluster: np.ndarray
    user: np.ndarray
    category: np.ndarray | None
    embeddings: np.ndarray
    ids: np.ndarray
    where: str
    n_dropped: int = 0  # invalid rows the reader dropped
    id_column: str = "id"
    cluster_column: str = "cluster_id"
    user_column: str = "user_id"


def run(params: Params, data: DataConfig, ctx: RunContext) -> float:
    check(params, data)
    with ctx.stage("load"):
        rows = _read_rows(data, ctx.seed)
    return compute(params, rows, ctx)


def check(params: Params, data: DataConfig | None = None) -> None:
    """Refuse settings the job cannot run with, before anything is read (one line, the key)."""
    from engine._balance.matching import METHODS

    if params.method not in METHODS:
        raise UserError(f"job.method={params.method!r}: expected one of {', '.join(METHODS)}")
    if params.method == "auction" and not params.eps > 0:
        raise UserError(f"job.eps={params.eps}: must be > 0")
    if params.max_users_per_cluster < 0:
        raise UserError(f"job.max_users_per_cluster={params.max_users_per_cluster}: "
                        "must be >= 0 (0: no cap)")
    if params.tile_mb < 1:
        raise UserError(f"job.tile_mb={params.tile_mb}: must be at least 1 (MiB per block)")


def compute(params: Params, rows: Rows, ctx: RunContext) -> float:
    """Pairs, matching, scores and tables of loaded rows: the job after `load`, shared by
    `python -m engine job=balance` and `engine.balance` (both `check` the settings first)."""
    from engine._balance.groups import build_groups, check_embeddings
    from engine._balance.matching import MatchOptions, match_pairs

    cluster, user, category, emb, ids, where = (rows.cluster, rows.user, rows.category,
                                                rows.embeddings, rows.ids, rows.where)
    check_embeddings(emb, ids, where)
    ctx.record(n_rows=int(len(emb)), dim=int(emb.shape[1]) if emb.ndim == 2 else 0,
               n_dropped_rows=rows.n_dropped,
               n_duplicate_ids=_duplicates(ids, where, rows.id_column))

    with ctx.stage("group"):
        groups = build_groups(cluster, user, emb, category, params.max_users_per_cluster,
                              where, rows.cluster_column, rows.user_column)
    n_users = np.diff(groups.cluster_start)
    ctx.record(n_clusters=int(groups.n_clusters), n_cluster_users=int(n_users.sum()),
               max_users_in_cluster=int(n_users.max(initial=0)),
               n_dropped_users=groups.n_dropped_users, n_capped_rows=groups.n_dropped_rows)

    options = MatchOptions(method=params.method, eps=params.eps,
                           max_bids_per_row=params.max_bids_per_row,
                           eps_scaling=params.eps_scaling,
                           tile_elements=max(1, params.tile_mb * (1 << 20) // 8))
    with ctx.stage("match"):
        matches = match_pairs(groups, ctx.backend, options, ctx.progress)

    with ctx.stage("score"):
        from engine._balance.scores import category_stats, top_pairs
        from engine._balance.table import pairs_table

        pairs = pairs_table(groups, matches)

        stats = category_stats(pairs)
        top = top_pairs(pairs, params.top_k, params.exclude_category)
    with ctx.stage("write"):
        ctx.write_table("pairs.parquet", pairs)
        ctx.write_table("category_stats.parquet", stats)
        ctx.write_table("top_pairs.parquet", top)

    n_pairs = len(matches)
    metrics = {"method": params.method, "n_pairs": n_pairs,
               "n_fallback_exact": int(matches.fallback.sum())}
    if params.method == "auction":
        metrics["eps"] = params.eps
    if params.method != "exact":
        from engine._balance.check import sample_errors

        with ctx.stage("error sample"):
            metrics.update(sample_errors(groups, matches, params.error_sample, ctx.seed))
    if n_pairs:
        metrics["mean_dist"] = float(pairs["dist"].to_numpy().mean())
        metrics["max_bound"] = float(matches.bound.max())
    ctx.record(**metrics)
    log.info("balance: %d pairs in %d clusters (method=%s)", n_pairs, groups.n_clusters,
             params.method)
    return metrics.get("mean_dist", float("nan"))


def _read_rows(data: DataConfig, seed: int) -> Rows:
    """Every input row of `data` (data=synthetic: the planted topics are the clusters)."""
    from engine.data import open_embeddings

    source = open_embeddings(data, seed)
    if data.name == "synthetic":
        batch = source.read([data.user_column, data.category_column])
        topic = source.topics()
        keep = topic >= 0  # diffuse tweets belong to no planted topic
        table = batch.table.filter(pa.array(keep))
        return Rows(topic[keep], _column(table, data.user_column),
                    _column(table, data.category_column), batch.embeddings[keep],
                    _column(table, data.id_column), "synthetic tweets", 0, data.id_column,
                    data.cluster_column, data.user_column)
    return read_rows(source, str(data.path), data.id_column, data.cluster_column,
                     data.user_column, data.category_column)


def read_rows(source, where: str, id_column: str, cluster_column: str, user_column: str,
              category_column: str) -> Rows:
    """The rows of a row source (`engine.data`), the category where it has that column."""
    available = source.metadata_columns()
    for col in (cluster_column, user_column):
        if col not in available:
            raise UserError(f"{where}: missing column {col!r} (set data.cluster_column / "
                            "data.user_column)")
    has_category = category_column in available
    wanted = [cluster_column, user_column] + ([category_column] if has_category else [])
    batch = source.read(wanted)
    table = batch.table
    category = _column(table, category_column) if has_category else None
    return Rows(_column(table, cluster_column), _column(table, user_column), category,
                batch.embeddings, _column(table, id_column), where, source.dropped, id_column,
                cluster_column, user_column)


def _duplicates(ids: np.ndarray, where: str, column: str) -> int:
    """Rows whose id an earlier row already has. Balance scores users, not rows (ids only name
    rows in messages), so the job goes on: a warning, counted in metrics."""
    from engine.io.embeddings import duplicate_ids

    dup = duplicate_ids(pa.array(ids))
    if dup is None:
        return 0
    log.warning("%s: %d rows repeat an earlier row's id (column %r; e.g. %r in %d rows); "
                "every row is scored", where, dup[2], column, dup[0], dup[1])
    return dup[2]


def _column(table: pa.Table, name: str) -> np.ndarray:
    col = table.column(name)
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    arr = col.to_numpy(zero_copy_only=False)
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
    return arr
