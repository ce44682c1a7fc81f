"""`engine.stream`: online centroid clustering of a message stream, in one call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from engine.api import inputs
from engine.api.result import Result
from engine.api.running import job_params, run_job


def stream(X: Any, times: Any = None, users: Any = None, *, ids: Any = None,
           threshold: float = 0.22, cap: int = 1000, window_days: float | None = None,
           state_dir: str | None = None, time_column: str = "datetime",
           user_column: str = "user_id", id_column: str = "id",
           embedding_column: str = "embedding", drop_invalid: bool = False,
           random_state: int = 0, backend: str = "auto", **options: Any) -> Result:
    """Cluster messages in time order with online centroids, as ``job=stream``.

    A message joins the nearest centroid within cosine distance `threshold` (and moves it),
    or starts a cluster; the result equals message-by-message processing. See
    `engine.OnlineClustering` to feed a stream in parts.

    Parameters
    ----------
    X : array (n, d), DataFrame or path
        Message embeddings: a 2-D array, or a DataFrame / pyarrow Table with an
        `embedding_column` (or `e0..e{d-1}`), `time_column` and `user_column`; or a file,
        directory or glob, streamed in row batches as ``data=files``.
    times : array-like, optional
        One time per message (datetimes, parseable strings or epoch seconds), not
        decreasing (or pass ``sort=True``); default: the table's `time_column`.
    users : array-like, optional
        Author of each message (default: the table's `user_column`, else one user for all).
    ids : array-like, optional
        Message ids (default: the table's `id_column`, else row numbers).
    threshold : float
        Cosine distance within which a message joins a centroid (similarity >= 1 - it).
    cap : int
        A centroid moves as the mean of at most this many messages.
    window_days : float, optional
        Clusters silent for longer are not joined any more (default: all are).
    state_dir : str, optional
        Continue from the state saved there and save the new state there.
    backend : {"auto", "cpu", "gpu"}
    **options
        Any other setting of ``job=stream`` (``sort``, ``top_n``, ``users`` for whom to
        rank connections, ``screen``, ``batch_size``).

    Returns
    -------
    Result
        Tables ``assignments`` (id, cluster_id, confidence, new_cluster; the main table),
        ``clusters``, ``user_clusters`` and ``connections``; metrics ``n_clusters``,
        ``mean_confidence``, ...
    """
    from engine.jobs import stream as job

    params = job_params(job.Params, {"threshold": threshold, "cap": cap,
                                     "window_days": window_days, "state_dir": state_dir},
                        options, "stream")
    columns = dict(id_column=id_column, time_column=time_column, user_column=user_column)

    def core(ctx) -> float:
        if inputs.is_path(X):
            from engine._stream import source
            from engine.config import DataConfig

            data = DataConfig(name="files", path=str(X), embedding_column=embedding_column,
                              drop_invalid=drop_invalid, **columns)
            return job.compute(params, source.read(data, ctx.seed),
                               lambda: source.count(data, ctx.seed), str(X), ctx,
                               drop_invalid=drop_invalid)
        rows = message_rows(X, times, users, ids=ids, embedding_column=embedding_column,
                            drop_invalid=drop_invalid, **columns)
        return job.compute(params, messages(rows, **columns), lambda: rows.n_rows, "X", ctx,
                           drop_invalid=drop_invalid)

    return run_job("stream", core, backend=backend, random_state=random_state)


def message_rows(X: Any, times: Any, users: Any, *, ids: Any = None, id_column: str = "id",
                 time_column: str = "datetime", user_column: str = "user_id",
                 embedding_column: str = "embedding", drop_invalid: bool = False):
    """Messages held in memory as a row source; users default to one user for all."""
    rows = inputs.embedding_rows(X, ids=ids, id_column=id_column,
                                 embedding_column=embedding_column, drop_invalid=drop_invalid,
                                 columns={time_column: times, user_column: users})
    table = rows.table
    if users is None and user_column not in table.column_names:
        table = table.append_column(user_column, pa.array(np.zeros(table.num_rows, np.int64)))
    rows.table = table
    return rows


def messages(rows, *, id_column: str, time_column: str, user_column: str) -> Iterator:
    from engine._stream.source import read_rows

    return read_rows(rows, rows.where, id_column, time_column, user_column)
