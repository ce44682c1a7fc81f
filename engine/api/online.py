"""`engine.OnlineClustering`: the stream job as an estimator fed in parts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engine.api.running import job_params, public_errors


class OnlineClustering:
    """Online centroid clustering of messages in time order (``job=stream``), fed in parts.

    Each call to `partial_fit` continues where the last one stopped, so two calls on the
    halves of a stream give exactly the cluster ids of one call on the whole. The state
    (centroids, counts, per user and cluster sums) is saved and loaded in the stream job's
    format: ``save(dir)`` writes what ``job=stream job.state_dir=dir`` continues from.

    Parameters
    ----------
    threshold : float
        Cosine distance within which a message joins a centroid (similarity >= 1 - it).
    cap : int
        A centroid moves as the mean of at most this many messages.
    window_days : float, optional
        Clusters silent for longer are not joined any more (default: all are).
    backend : {"auto", "cpu", "gpu"}
    **options
        ``batch_size`` and ``screen`` of ``job=stream``.

    Attributes
    ----------
    cluster_centers_ : ndarray (n_clusters, d)
        Unit centroids, in order of creation (cluster id = row).
    cluster_sizes_ : ndarray (n_clusters,)
        Messages each cluster received.
    n_clusters_ : int
    n_messages_ : int
        Messages seen so far.
    confidence_, new_cluster_ : ndarray
        Per message of the latest `partial_fit`: cosine similarity to its centroid, and
        whether it started a cluster.
    """

    def __init__(self, threshold: float = 0.22, *, cap: int = 1000,
                 window_days: float | None = None, backend: str = "auto", **options: Any):
        from engine.jobs import stream as job

        allowed = {"batch_size", "screen"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise TypeError(f"OnlineClustering() got an unexpected keyword argument "
                            f"{unknown[0]!r}")
        self.params = job_params(job.Params, {"threshold": threshold, "cap": cap,
                                              "window_days": window_days}, options, "stream")
        self.backend = backend
        self._clusterer = None
        self.confidence_ = np.zeros(0)
        self.new_cluster_ = np.zeros(0, bool)
        with public_errors():
            job.check(self.params)

    # -- fitting ------------------------------------------------------------------------
    def partial_fit(self, X: Any, times: Any, users: Any = None, *, ids: Any = None
                    ) -> np.ndarray:
        """Cluster the messages X (array (n, d) or DataFrame) at `times` (not decreasing,
        and not before the previous call's last); returns their cluster ids."""
        from engine._stream.source import concat
        from engine.api.stream import message_rows, messages
        from engine.jobs import stream as job

        if ids is None and isinstance(X, np.ndarray):  # ids continue across calls
            ids = np.arange(self.n_messages_, self.n_messages_ + len(X))
        with public_errors():
            rows = message_rows(X, times, users, ids=ids)
            parts = [job.drop_or_check(m, False, "X") for m in messages(
                rows, id_column="id", time_column="datetime", user_column="user_id")]
            if not parts:
                return np.zeros(0, np.int64)
            # One call with every message: all of them are checked before the state moves.
            out = self._clusterer_for().add(concat(parts), "X")
        self.confidence_, self.new_cluster_ = out.confidence, out.new_cluster
        return out.cluster

    def fit_predict(self, X: Any, times: Any, users: Any = None, *, ids: Any = None
                    ) -> np.ndarray:
        """Forget any state, then `partial_fit`."""
        self._clusterer = None
        return self.partial_fit(X, times, users, ids=ids)

    def _clusterer_for(self):
        if self._clusterer is None:
            from engine.backend import resolve
            from engine.jobs import stream as job

            self._clusterer = job.Clusterer(self.params, resolve(self.backend))
        return self._clusterer

    # -- state --------------------------------------------------------------------------
    @property
    def _state(self):
        return None if self._clusterer is None else self._clusterer.state

    @property
    def n_messages_(self) -> int:
        return 0 if self._state is None else int(self._state.n_messages)

    @property
    def cluster_centers_(self) -> np.ndarray:
        self._check_fitted()
        return self._state.centroids.live().vectors.copy()

    @property
    def cluster_sizes_(self) -> np.ndarray:
        self._check_fitted()
        return self._state.centroids.live().counts.copy()

    @property
    def n_clusters_(self) -> int:
        return 0 if self._state is None else int(self._state.centroids.size)

    def _check_fitted(self) -> None:
        if self._state is None:
            raise AttributeError("OnlineClustering: not fitted yet (call partial_fit first)")

    def save(self, path: str | Path) -> Path:
        """Save the state into the directory `path` (the stream job's state.npz)."""
        from engine._stream import state as state_io

        self._check_fitted()
        return state_io.save(self._state, path)

    @classmethod
    def load(cls, path: str | Path, backend: str = "auto", **options: Any) -> OnlineClustering:
        """The estimator whose state was saved in the directory `path` (by `save`, or by
        ``job=stream job.state_dir=path``), with the parameters it was built with."""
        from engine._stream import state as state_io
        from engine.backend import resolve
        from engine.errors import UserError
        from engine.jobs import stream as job

        state = state_io.load(path)
        if state is None:
            raise UserError(f"{path}: no saved stream state ({state_io.FILE})")
        model = cls(state.threshold, cap=state.cap, window_days=state.window_days,
                    backend=backend, **options)
        model._clusterer = job.Clusterer(model.params, resolve(backend), state, str(path))
        return model

    def __repr__(self) -> str:
        p = self.params
        return (f"OnlineClustering(threshold={p.threshold}, cap={p.cap}, "
                f"window_days={p.window_days}; {self.n_clusters_} clusters, "
                f"{self.n_messages_} messages)")
