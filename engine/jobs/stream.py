"""`job=stream`: online centroid clustering of a message stream (SPEC `stream`, seed 004).

Messages (id, user, time, embedding) are clustered in time order with exactly the result of
message-by-message processing (`engine._stream.online`); participation per (user, cluster) and
connections follow. Outputs: `assignments.parquet` (id, cluster_id, confidence, new_cluster),
`clusters.parquet`, `user_clusters.parquet`, `connections.parquet` and `state/` (or
`job.state_dir`): a run whose state directory already holds a state continues from it, so a
stream processed in two runs gives the same result as in one.

Times must not decrease (within the input, and from the state's latest message on): such a
message stops the run with an error naming its id, unless `job.sort=true`, which reads the
whole input into memory and sorts it by time (stably, keeping the input order of equal times).
Zero-length embeddings have no direction: an error, or dropped with `data.drop_invalid=true`.

Run: `python -m engine job=stream` (synthetic stream with planted topics), or
`python -m engine job=stream data=files data.path=msgs.parquet job.state_dir=state/ \
job.window_days=30 job.users=[u1,u2]` (columns id, datetime, user_id, embedding by default).
Metrics: n_clusters, n_new_clusters, mean_confidence, exact_checks_per_message,
dense_rows_per_message (pivot screen: messages far from every centroid, screened against all),
messages_per_second, and planted_ari (adjusted Rand index against the planted topics) on
synthetic data.

Objective: the mean confidence of this run's messages (how tightly they sit in their
clusters; compare runs at the same threshold, since a stricter threshold raises it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from engine._stream.screen import KINDS
from engine.config import DataConfig
from engine.errors import UserError
from engine.io.write import ParquetStreamWriter, remove_orphans
from engine.run import RunContext


@dataclass
class Params:
    name: str = "stream"
    threshold: float = 0.22  # cosine distance d_th: join a centroid with similarity >= 1 - d_th
    cap: int = 1000  # n_eff = min(n, cap) in the running mean
    window_days: float | None = None  # clusters silent for longer are not candidates (None: all)
    batch_size: int = 2048  # messages per screening step
    # how centroids are ruled out before the exact check: pivot (CPU: triangle-inequality
    # bounds through the centroids' Gram matrix) | float32 (a product with every centroid;
    # cuBLAS on GPU) | bfloat16 (CPU, torch; fast only with AMX / AVX512-BF16) | auto
    screen: str = "auto"
    state_dir: str | None = None  # load/continue/save here (default: <run dir>/state)
    top_n: int = 10  # connections kept per user and cluster
    users: list[str] = field(default_factory=list)  # connections for these users (empty: all)
    sort: bool = False  # sort out-of-order input by time in memory instead of stopping


ASSIGNMENT_COLUMNS = ("cluster_id", "confidence", "new_cluster")


def run(params: Params, data: DataConfig, ctx: RunContext) -> float:
    from engine._stream import source

    check(params, data)
    return compute(params, source.read(data, ctx.seed), lambda: source.count(data, ctx.seed),
                   source.describe(data), ctx, drop_invalid=data.drop_invalid,
                   batch_rows=data.batch_rows)


def compute(params: Params, batches: Iterable, count: Callable[[], int], where: str,
            ctx: RunContext, drop_invalid: bool = False, batch_rows: int = 65536) -> float:
    """Cluster `batches` of messages (`engine._stream.source.Messages`, `count()` of them in
    all, rows before any is dropped) from the state in `job.state_dir` on, write the outputs
    and the new state. Shared by `python -m engine job=stream` and `engine.stream` (both
    `check` the settings first)."""
    from engine._stream import state as state_io

    state_dir = Path(params.state_dir) if params.state_dir else ctx.path("state")
    remove_orphans(state_dir)  # a killed run's half-written state (the run dir's are gone)
    state_io.recover(state_dir)  # a killed run's uncommitted state: commit or discard it
    clusterer = Clusterer(params, ctx.backend, state_io.load(state_dir), str(state_dir))
    if params.sort:
        with ctx.stage("sort"):
            batches = iter([_sorted(list(batches))])
    writer = None
    stats = _Stats()
    try:
        with ctx.stage("cluster"):
            total = count()
            n_batches = max(1, -(-total // batch_rows))
            for msgs in ctx.progress(batches, n_batches, "stream"):
                msgs = drop_or_check(msgs, drop_invalid, where)
                if not len(msgs):
                    continue
                t0 = time.perf_counter()
                out = clusterer.add(msgs, where)
                stats.seconds += time.perf_counter() - t0
                stats.add(out, msgs.topics)
                table = pa.table({"id": msgs.ids, "cluster_id": out.cluster,
                                  "confidence": out.confidence, "new_cluster": out.new_cluster})
                if writer is None:
                    writer = ParquetStreamWriter(ctx.path("assignments.parquet"), table.schema)
                writer.write(table)
    except BaseException as exc:
        if writer is not None:
            writer.__exit__(type(exc), exc, None)
        raise
    state, engine = clusterer.state, clusterer.engine
    if state is None or engine is None:
        raise UserError(f"{where}: no messages")
    writer.close()
    with ctx.stage("outputs"):
        _write_outputs(params, state, ctx)
    with ctx.stage("save state"):
        state_io.save_pending(state, state_dir, ctx.run_id, ctx.path("metrics.json"))
    ctx.commits.append(lambda: state_io.commit(state_dir))
    # Every input row is either clustered or dropped (NaN/inf by the reader, zero length here).
    ctx.record(n_rows=stats.n, n_dropped_rows=total - stats.n, **stats.metrics(),
               n_clusters=state.centroids.size,
               exact_checks_per_message=engine.exact_checks / max(stats.n, 1),
               dense_rows_per_message=engine.dense_rows / max(stats.n, 1),
               screen=engine.screen.kind,
               messages_per_second=stats.n / max(stats.seconds, 1e-9),
               state_messages=state.n_messages, state_dir=str(state_dir))
    return stats.mean_confidence


class Clusterer:
    """The stream's state and the online clustering over it: batches of messages in time
    order in, their assignments out, exactly as one message at a time. The job and
    `engine.OnlineClustering` both feed it."""

    def __init__(self, params: Params, backend, state=None, state_dir: str = "the state"):
        self.params, self.backend, self.state = params, backend, state
        self.state_dir = state_dir  # named in errors about the saved state
        self.engine = None

    def add(self, msgs, where: str):
        from engine._stream.online import OnlineClustering

        if self.state is None:
            _check_times(msgs, None, where)  # before the state exists: a refusal leaves none
            self.state = _fresh_state(self.params, msgs.embeddings.shape[1])
        else:
            _check_resume(self.state, self.params, msgs.embeddings.shape[1], self.state_dir)
            _check_times(msgs, self.state.last_time, where)
        state, p = self.state, self.params
        if self.engine is None:
            self.engine = OnlineClustering(self.backend, state.dim, p.threshold, p.cap,
                                           p.window_days, p.batch_size, state.centroids,
                                           p.screen)
        out = self.engine.assign(msgs.embeddings, msgs.times)
        state.participation.add(msgs.users, out.cluster, out.confidence,
                                _unit(msgs.embeddings))
        state.last_time = int(msgs.times[-1])
        state.n_messages += len(msgs)
        return out


# -- checks ---------------------------------------------------------------------------------
def check(params: Params, data: DataConfig | None = None) -> None:
    """Refuse settings the job cannot run with, before anything is read (one line, the key)."""
    if not 0.0 <= params.threshold <= 2.0:
        raise UserError(f"job.threshold={params.threshold}: a cosine distance in [0, 2]")
    if params.cap < 1:
        raise UserError(f"job.cap={params.cap}: must be >= 1")
    if params.batch_size < 1:
        raise UserError(f"job.batch_size={params.batch_size}: must be >= 1")
    if params.top_n < 1:
        raise UserError(f"job.top_n={params.top_n}: must be >= 1")
    if params.screen not in KINDS:
        raise UserError(f"job.screen={params.screen!r}: expected {', '.join(KINDS)}")
    if params.window_days is not None and params.window_days <= 0:
        raise UserError(f"job.window_days={params.window_days}: must be > 0 (or null: all)")


def _fresh_state(params: Params, dim: int):
    from engine._stream.online import Centroids
    from engine._stream.participation import Participation
    from engine._stream.state import StreamState

    return StreamState(params.threshold, params.cap, params.window_days, Centroids(dim),
                       Participation(dim))


def _check_resume(state, params: Params, dim: int, state_dir: str) -> None:
    saved = {"threshold": state.threshold, "cap": state.cap, "window_days": state.window_days}
    for key, value in saved.items():
        if getattr(params, key) != value:
            raise UserError(f"{state_dir}: the saved state was built with job.{key}={value}, "
                            f"not {getattr(params, key)} (use another job.state_dir)")
    if dim != state.dim:
        raise UserError(f"{state_dir}: the saved state has dimension {state.dim}, "
                        f"the messages {dim}")


def _check_times(msgs, last: int | None, where: str) -> None:
    t = msgs.times
    prev = np.r_[t[0] if last is None else last, t[:-1]]
    back = np.flatnonzero(t < prev)
    if len(back):
        i = int(back[0])
        before = "the previous run's last message" if i == 0 else "the message before it"
        raise UserError(f"{where}: message id {msgs.ids[i].as_py()!r} is earlier than {before}: "
                        f"times must not decrease (or set job.sort=true to sort them)")


def drop_or_check(msgs, drop_invalid: bool, where: str):
    """Messages whose embedding has no direction (zero, NaN or inf): an error, or dropped."""
    norms = np.einsum("ij,ij->i", msgs.embeddings, msgs.embeddings, dtype=np.float64)
    bad = ~((norms > 0) & np.isfinite(norms))
    if not bad.any():
        return msgs
    if drop_invalid:
        return msgs.take(np.flatnonzero(~bad))
    i = int(np.flatnonzero(bad)[0])
    raise UserError(f"{where}: message id {msgs.ids[i].as_py()!r}: embedding has zero or "
                    f"non-finite length (set data.drop_invalid=true to drop such messages)")


def _unit(emb: np.ndarray) -> np.ndarray:
    from engine._stream.exact import normalise_rows

    out = np.empty(emb.shape)
    normalise_rows(emb, out)
    return out


def _sorted(parts):
    from engine._stream import source

    msgs = source.concat(parts)
    return msgs.take(np.argsort(msgs.times, kind="stable"))


# -- outputs --------------------------------------------------------------------------------
def _write_outputs(params: Params, state, ctx: RunContext) -> None:
    from engine._stream.connections import rank_connections
    from engine.io.embeddings import embedding_array

    c = state.centroids.live()
    active = np.ones(c.size, bool)
    if params.window_days is not None and state.last_time is not None:
        active = state.last_time - c.last_seen <= int(round(params.window_days * 86_400e9))
    ctx.write_table("clusters.parquet", pa.table({
        "cluster_id": np.arange(c.size, dtype=np.int64),
        "n_messages": c.counts,
        "created": pa.array(c.created.astype("datetime64[ns]"), pa.timestamp("ns")),
        "last_seen": pa.array(c.last_seen.astype("datetime64[ns]"), pa.timestamp("ns")),
        "active": active,
        "centroid": embedding_array(c.vectors.astype(np.float32)),
    }))
    p = state.participation
    n = p.size
    users = p.user_array()
    ctx.write_table("user_clusters.parquet", pa.table({
        "user_id": users[p.pair_user[:n]], "cluster_id": p.pair_cluster[:n],
        "participation_score": p.score[:n], "message_count": p.count[:n],
        "active": active[p.pair_cluster[:n]],
    }))
    targets = None
    if params.users:
        wanted = {str(u) for u in params.users}
        targets = np.array([i for i, u in enumerate(p.users) if str(u) in wanted], np.int64)
        missing = wanted - {str(u) for u in p.users}
        if missing:
            raise UserError(f"job.users: no messages from user {sorted(missing)[0]!r}")
    conn = rank_connections(p.pair_user[:n], p.pair_cluster[:n], p.vector_sum[:n], active,
                            params.top_n, targets)
    ctx.write_table("connections.parquet", pa.table({
        "user_id": users[conn["user"]], "cluster_id": conn["cluster"], "rank": conn["rank"],
        "other_user_id": users[conn["other_user"]], "distance": conn["distance"],
    }))
    ctx.record(n_connections=len(conn["rank"]), n_active_clusters=int(active.sum()),
               n_user_clusters=n)


@dataclass
class _Stats:
    n: int = 0
    seconds: float = 0.0
    confidence_sum: float = 0.0
    new: int = 0
    clusters: list = field(default_factory=list)
    topics: list = field(default_factory=list)

    def add(self, out, topics) -> None:
        self.n += len(out.cluster)
        self.confidence_sum += float(out.confidence.sum())
        self.new += int(out.new_cluster.sum())
        if topics is not None:
            self.clusters.append(out.cluster)
            self.topics.append(topics)

    @property
    def mean_confidence(self) -> float:
        return self.confidence_sum / max(self.n, 1)

    def metrics(self) -> dict:
        m = {"mean_confidence": self.mean_confidence, "n_new_clusters": self.new}
        if self.topics:
            from sklearn.metrics import adjusted_rand_score

            topics, clusters = np.concatenate(self.topics), np.concatenate(self.clusters)
            m["planted_ari"] = float(adjusted_rand_score(topics, clusters))
            m["planted_topics"] = int(len(np.unique(topics)))
        return m
