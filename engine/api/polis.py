"""`engine.PolisModel`: the opinion job as a scikit-learn-style estimator."""

from __future__ import annotations

from typing import Any

import numpy as np


class PolisModel:
    """Polis-style opinion groups (``job=opinion``): sparsity-aware PCA to 2-D, k-means base
    clusters, groups chosen by silhouette, representative and consensus statements.

    Parameters
    ----------
    max_groups : int
        Groups are chosen among k = 2..max_groups by silhouette.
    min_votes : int
        Votes a voter needs to be clustered (capped at the number of statements).
    base_k : int
        Base clusters (Polis: 100, fewer when there are fewer voters).
    backend : {"auto", "cpu", "gpu"}
    **options
        Any other setting of ``job=opinion`` (``min_in_conv``, ``pick_max``, ``z``, column
        names, ...).

    Attributes (after `fit`)
    ------------------------
    labels_ : ndarray (n_voters,)
        Group of each voter in `voter_ids_` order; -1 for voters outside the conversation
        filter.
    subgroups_, base_labels_ : ndarray (n_voters,)
        Subgroup within the group, and base cluster (-1 where none).
    n_groups_ : int
    silhouette_ : float
        Silhouette of the chosen groups on the base-cluster centres.
    embedding_ : ndarray (n_voters, 2)
        The voters' 2-D projection.
    voter_ids_, statement_ids_ : ndarray
    repness_, consensus_ : polars.DataFrame
        Representativeness of every statement per group, and consensus statements.
    statements_ : polars.DataFrame
        Every statement's place on the opinion map (statement_id, x, y, extremity, ...).
    result_ : engine.Result
        Every table and metric of the run.
    """

    def __init__(self, max_groups: int = 5, *, min_votes: int = 7, base_k: int = 100,
                 backend: str = "auto", **options: Any):
        self.max_groups, self.min_votes, self.base_k = max_groups, min_votes, base_k
        self.backend = backend
        self.options = options

    def fit(self, votes: Any, y: Any = None) -> PolisModel:
        """Fit on votes: a DataFrame (voter_id, statement_id, vote[, time]), a path, or a
        sparse voters x statements matrix (stored entries are votes; explicit zeros pass)."""
        from engine.api.opinion import opinion

        result = opinion(votes, max_groups=self.max_groups, min_votes=self.min_votes,
                         base_k=self.base_k, backend=self.backend, **self.options)
        voters = result.table("voters")
        self.result_ = result
        self.voter_ids_ = voters["voter_id"].to_numpy(zero_copy_only=False)
        self.labels_ = _codes(voters["group"])
        self.subgroups_ = _codes(voters["subgroup"])
        self.base_labels_ = _codes(voters["base"])
        self.embedding_ = np.column_stack([voters["x"].to_numpy(), voters["y"].to_numpy()])
        self.n_groups_ = int(result.metrics["n_groups"])
        self.silhouette_ = float(result.metrics["silhouette"])
        self.statement_ids_ = result.table("consensus")["statement_id"].to_numpy(
            zero_copy_only=False)
        self.repness_ = result.to_polars("repness")
        self.consensus_ = result.to_polars("consensus")
        self.statements_ = result.to_polars("statements")
        return self

    def fit_predict(self, votes: Any, y: Any = None) -> np.ndarray:
        """`fit`, then the group of each voter (`labels_`)."""
        return self.fit(votes).labels_

    def __repr__(self) -> str:
        return (f"PolisModel(max_groups={self.max_groups}, min_votes={self.min_votes}, "
                f"base_k={self.base_k})")


def _codes(column) -> np.ndarray:
    """A nullable integer column as int64 with -1 for null."""
    return column.fill_null(-1).to_numpy().astype(np.int64)
