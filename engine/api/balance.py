"""`engine.balance`: balance scores of user pairs inside clusters (matched embedding sets)."""

from __future__ import annotations

from typing import Any

from engine.api import inputs
from engine.api.result import Result
from engine.api.running import job_params, run_job


def balance(X: Any, clusters: Any = None, users: Any = None, categories: Any = None, *,
            ids: Any = None, method: str = "auction", eps: float = 1e-3,
            cluster_column: str = "cluster_id", user_column: str = "user_id",
            category_column: str = "category", id_column: str = "id",
            embedding_column: str = "embedding", drop_invalid: bool = False,
            random_state: int = 0, backend: str = "auto", **options: Any) -> Result:
    """Balance scores of every pair of users inside each cluster, as ``job=balance``.

    For users u1, u2 with n1, n2 messages in a cluster: imbalance = |ln(n1/n2)|,
    magnitude_factor = 1/(n1+n2), dist = 1 - mean cosine similarity of the best matching
    of their messages; balance_score is the sum of the three z-scores (lower: more balanced).

    Parameters
    ----------
    X : array (n, d), DataFrame or path
        One row per message: a 2-D array of embeddings, or a DataFrame / pyarrow Table (or a
        file) with an `embedding_column` (or `e0..e{d-1}`) and the columns named below.
    clusters, users, categories : array-like, optional
        One value per row; default: the table's `cluster_column`, `user_column` and
        `category_column` (the category is optional).
    ids : array-like, optional
        Message ids (default: the table's `id_column`, else row numbers).
    method : {"auction", "exact", "greedy"}
        ``exact`` equals scipy's linear_sum_assignment; ``auction`` is within `eps` of it
        in every pair's mean similarity.
    random_state : int
        Seed of the sample of pairs re-solved exactly to measure an approximate method's error.
    backend : {"auto", "cpu", "gpu"}
    **options
        Any other setting of ``job=balance`` (``top_k``, ``exclude_category``,
        ``max_users_per_cluster``, ...).

    Returns
    -------
    Result
        Tables ``pairs`` (the main table), ``category_stats`` and ``top_pairs``; metrics
        ``n_pairs``, ``mean_dist``, ...
    """
    from engine.jobs import balance as job

    params = job_params(job.Params, {"method": method, "eps": eps}, options, "balance")

    def core(ctx) -> float:
        job.check(params)
        with ctx.stage("load"):
            source = inputs.embedding_rows(
                X, ids=ids, id_column=id_column, embedding_column=embedding_column,
                drop_invalid=drop_invalid, columns={cluster_column: clusters,
                                                    user_column: users,
                                                    category_column: categories})
            rows = job.read_rows(source, "X", id_column, cluster_column, user_column,
                                 category_column)
        return job.compute(params, rows, ctx)

    return run_job("balance", core, backend=backend, random_state=random_state)
