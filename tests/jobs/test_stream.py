"""`job=stream` end to end: outputs, planted topics, resume, participation, connections,
bad input."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.errors import UserError
from engine.io.embeddings import embedding_array
from engine.synthetic import messages
from tests.stream.reference import Reference, unit

SMALL = ("data.n_messages=3000", "data.n_stream_topics=12", "data.dim=32", "data.n_users=40")


def message_table(n=2000, n_topics=10, dim=24, n_users=30, seed=0):
    truth = messages.make_truth(n, n_topics, dim, n_users, 100, "2024-01-01", seed)
    table, emb, topics = next(messages.iter_chunks(truth, seed, n))
    return table.append_column("embedding", embedding_array(emb)), emb, topics


def write(table, path):
    pq.write_table(table, path)
    return str(path)


def files(path, *extra):
    return ("job=stream", "data=files", f"data.path={path}", *extra)


def test_synthetic_run_recovers_planted_topics(run_job):
    objective, out, metrics = run_job("job=stream", *SMALL, "job.batch_size=128")
    a = pq.read_table(out / "assignments.parquet")
    assert a.column_names == ["id", "cluster_id", "confidence", "new_cluster"]
    assert a.num_rows == metrics["n_rows"] == 3000
    assert metrics["planted_ari"] > 0.99
    assert metrics["n_clusters"] == metrics["planted_topics"] == 12
    assert objective == pytest.approx(metrics["mean_confidence"]) and 0.9 < objective < 1
    clusters = pq.read_table(out / "clusters.parquet")
    assert clusters.num_rows == 12 and sum(clusters.column("n_messages").to_pylist()) == 3000
    for name in ("user_clusters.parquet", "connections.parquet", "state/state.npz",
                 "metrics.json"):
        assert (out / name).exists()


def test_files_run_equals_reference_and_participation_sums(run_job, tmp_path):
    table, emb, _ = message_table()
    path = write(table, tmp_path / "m.parquet")
    _, out, _ = run_job(*files(path, "job.cap=7", "job.batch_size=64"))
    a = pl.from_arrow(pq.read_table(out / "assignments.parquet"))
    times = table.column("datetime").to_numpy().astype(np.int64)
    ref = Reference(emb.shape[1], cap=7)
    cluster, conf, new = ref.run(emb, times)
    np.testing.assert_array_equal(a["cluster_id"], cluster)
    np.testing.assert_array_equal(a["confidence"], conf)
    np.testing.assert_array_equal(a["new_cluster"], new)
    c = pq.read_table(out / "clusters.parquet")
    centroids = np.stack(c.column("centroid").to_numpy(zero_copy_only=False))
    np.testing.assert_allclose(centroids, ref.C, atol=1e-6)
    # Participation: sum of confidences and count per (user, cluster), against a group-by.
    a = a.with_columns(user_id=pl.Series(table.column("user_id").to_pylist()))
    g = a.group_by("user_id", "cluster_id").agg(s=pl.col("confidence").sum(), n=pl.len())
    uc = pl.from_arrow(pq.read_table(out / "user_clusters.parquet"))
    both = g.join(uc, on=["user_id", "cluster_id"], how="full")
    assert len(both) == len(g) == len(uc)
    np.testing.assert_allclose(both["participation_score"], both["s"], rtol=1e-12)
    np.testing.assert_array_equal(both["message_count"], both["n"])


def brute_force_connections(users, clusters, emb, top_n):
    """For every (u, k): the other users of k by distance of normalised mean unit vectors."""
    x = unit(emb)
    out = {}
    for k in np.unique(clusters):
        members = sorted(set(users[clusters == k]))
        mean = {u: x[(clusters == k) & (users == u)].mean(axis=0) for u in members}
        mean = {u: v / np.linalg.norm(v) for u, v in mean.items()}
        for u in members:
            d = sorted((1 - mean[u] @ mean[v], v) for v in members if v != u)
            out[(u, k)] = d[:top_n]
    return out


def test_connections_match_brute_force(run_job, tmp_path):
    table, emb, _ = message_table(n=1500, n_topics=6, n_users=25, seed=3)
    path = write(table, tmp_path / "m.parquet")
    _, out, _ = run_job(*files(path, "job.top_n=4"))
    a = pq.read_table(out / "assignments.parquet").column("cluster_id").to_numpy()
    users = np.array(table.column("user_id").to_pylist())
    expected = brute_force_connections(users, a, emb, 4)
    conn = pl.from_arrow(pq.read_table(out / "connections.parquet"))
    assert len(conn) == sum(len(v) for v in expected.values())
    for (u, k), rows in conn.group_by("user_id", "cluster_id"):
        rows = rows.sort("rank")
        want = expected[(u, int(k))]
        np.testing.assert_allclose(rows["distance"], [d for d, _ in want], atol=1e-9)
        assert list(rows["rank"]) == list(range(1, len(want) + 1))
        assert set(rows["other_user_id"]) == {v for _, v in want}
    # A given list of users: only their rows, the same values.
    some = sorted(set(users))[:3]
    _, out2, _ = run_job(*files(path, "job.top_n=4", f"job.users=[{','.join(some)}]"))
    conn2 = pl.from_arrow(pq.read_table(out2 / "connections.parquet"))
    assert set(conn2["user_id"]) == set(some)
    mine = conn.filter(pl.col("user_id").is_in(some))
    np.testing.assert_array_equal(conn2["distance"], mine["distance"])


def test_two_runs_equal_one(run_job, tmp_path):
    table, _, _ = message_table(n=2400, seed=5)
    whole = write(table, tmp_path / "all.parquet")
    first = write(table.slice(0, 1100), tmp_path / "a.parquet")
    second = write(table.slice(1100), tmp_path / "b.parquet")
    state = tmp_path / "state"
    _, one, _ = run_job(*files(whole, "job.cap=20"))
    _, r1, _ = run_job(*files(first, "job.cap=20", f"job.state_dir={state}"))
    _, r2, m2 = run_job(*files(second, "job.cap=20", f"job.state_dir={state}",
                               "job.batch_size=33"))
    assert m2["state_messages"] == 2400
    split = pa.concat_tables([pq.read_table(r1 / "assignments.parquet"),
                              pq.read_table(r2 / "assignments.parquet")])
    assert split.equals(pq.read_table(one / "assignments.parquet"))
    for name in ("clusters.parquet", "user_clusters.parquet", "connections.parquet"):
        got, want = pq.read_table(r2 / name), pq.read_table(one / name)
        assert got.num_rows == want.num_rows
        for col in want.column_names:
            g, w = got.column(col), want.column(col)
            if col in ("participation_score", "distance"):  # sums in another order
                np.testing.assert_allclose(g.to_numpy(), w.to_numpy(), rtol=1e-12, atol=1e-12)
            else:
                assert g.equals(w), (name, col)
    # A state built with other parameters is not silently continued.
    with pytest.raises(UserError, match="job.cap=20"):
        run_job(*files(second, "job.cap=5", f"job.state_dir={state}"))


def test_active_window_outputs(run_job, tmp_path):
    table, _, _ = message_table(n=600, seed=2)  # a message per topic every ~2 days
    path = write(table, tmp_path / "m.parquet")
    _, out, m = run_job(*files(path, "job.window_days=1.5"))
    _, _, m_all = run_job(*files(path))
    assert m["n_clusters"] > m_all["n_clusters"]
    clusters = pq.read_table(out / "clusters.parquet")
    seen = clusters.column("last_seen").to_numpy()
    stale = (seen.max() - seen) > np.timedelta64(36, "h")
    active = clusters.column("active").to_numpy(zero_copy_only=False)
    assert (active == ~stale).all() and stale.any()
    conn = pq.read_table(out / "connections.parquet").column("cluster_id").to_numpy()
    assert set(conn) <= set(np.flatnonzero(active))


def test_out_of_order_times(run_job, tmp_path):
    table, _, _ = message_table(n=600, seed=1)
    order = np.arange(600)
    order[[100, 101]] = order[[101, 100]]
    shuffled = table.take(pa.array(order))
    path = write(shuffled, tmp_path / "m.parquet")
    ids = table.column("id").to_pylist()
    with pytest.raises(UserError, match=f"id {ids[100]!r} is earlier"):
        run_job(*files(path))
    _, sorted_out, _ = run_job(*files(path, "job.sort=true"))
    _, plain, _ = run_job(*files(write(table, tmp_path / "ok.parquet")))
    assert pq.read_table(sorted_out / "assignments.parquet").equals(
        pq.read_table(plain / "assignments.parquet"))
    # Continuing a state with messages older than its last one is refused too.
    state = tmp_path / "st"
    run_job(*files(write(table.slice(300), tmp_path / "late.parquet"), f"job.state_dir={state}"))
    with pytest.raises(UserError, match="previous run"):
        run_job(*files(write(table.slice(0, 300), tmp_path / "early.parquet"),
                       f"job.state_dir={state}"))


def test_zero_and_nan_embeddings(run_job, tmp_path):
    table, emb, _ = message_table(n=300, seed=4)
    zero = emb.copy()
    zero[217] = 0
    bad = table.set_column(3, "embedding", embedding_array(zero))
    path = write(bad, tmp_path / "zero.parquet")
    with pytest.raises(UserError, match=r"id 217: embedding has zero"):
        run_job(*files(path, "data.batch_rows=100"))
    # Two batches were assigned before the error; nothing is left under a final name.
    assert not list((tmp_path / "run0").glob("*.parquet"))
    assert not (tmp_path / "run0" / "state").exists()
    _, out, m = run_job(*files(path, "data.drop_invalid=true", "data.batch_rows=100"))
    assert m["n_rows"] == 299
    assert 217 not in pq.read_table(out / "assignments.parquet").column("id").to_pylist()
    nan = emb.copy()
    nan[5, 3] = np.nan
    path = write(table.set_column(3, "embedding", embedding_array(nan)), tmp_path / "nan.parquet")
    with pytest.raises(UserError, match="NaN"):
        run_job(*files(path))


def test_bad_config_and_missing_columns(run_job, tmp_path):
    with pytest.raises(UserError, match="job.threshold"):
        run_job("job=stream", *SMALL, "job.threshold=3")
    table, _, _ = message_table(n=100)
    path = write(table.drop_columns(["user_id"]), tmp_path / "m.parquet")
    with pytest.raises(UserError, match="user_id"):
        run_job(*files(path))
    path = write(table, tmp_path / "ok.parquet")
    with pytest.raises(UserError, match="job.users"):
        run_job(*files(path, "job.users=[nobody]"))


def _killed_before_metrics(out, *overrides, after_metrics: bool = False):
    """A run killed after its job wrote every output and saved its state, before metrics.json
    (what `kill -9` after the "save state" stage leaves): the job runs, finish() never does.
    With `after_metrics`, killed between metrics.json and the state's commit instead."""
    from omegaconf import OmegaConf

    from engine.backend import cpu_backend
    from engine.jobs import stream
    from engine.run import RunContext
    from tests.conftest import compose

    cfg = compose("backend=cpu", *overrides)
    ctx = RunContext(out_dir=out, backend=cpu_backend(), seed=cfg.seed)
    objective = stream.run(OmegaConf.to_object(cfg.job), OmegaConf.to_object(cfg.data), ctx)
    if after_metrics:
        ctx.commits.clear()  # the commit that the kill cut off
        ctx.finish(objective)
    assert (out / "metrics.json").exists() == after_metrics


def test_run_killed_after_saving_its_state_can_be_rerun(run_job, tmp_path):
    # Before: the state already held the killed run's messages, and the rerun stopped with
    # "message id ... is earlier than the previous run's last message".
    from engine._stream import state as state_io

    table, _, _ = message_table(n=1600, seed=7)
    first = write(table.slice(0, 900), tmp_path / "a.parquet")
    second = write(table.slice(900), tmp_path / "b.parquet")
    state, killed = tmp_path / "state", tmp_path / "killed"
    _, r1, _ = run_job(*files(first, f"job.state_dir={state}"))
    _killed_before_metrics(killed, *files(second, f"job.state_dir={state}"))
    assert state_io.load(state).n_messages == 900  # the killed run did not commit its state
    _, rerun, m = run_job(*files(second, f"job.state_dir={state}"), out_dir=killed)
    assert m["state_messages"] == 1600 and m["n_rows"] == 700
    _, whole, _ = run_job(*files(write(table, tmp_path / "all.parquet")))
    split = pa.concat_tables([pq.read_table(r1 / "assignments.parquet"),
                              pq.read_table(rerun / "assignments.parquet")])
    assert split.equals(pq.read_table(whole / "assignments.parquet"))
    assert not (state / state_io.PENDING).exists()


def test_run_killed_between_metrics_and_state_commit_counts_as_finished(run_job, tmp_path):
    # metrics.json says the run finished: the next run completes the commit it cut off and
    # continues from that run's state.
    from engine._stream import state as state_io

    table, _, _ = message_table(n=1600, seed=7)
    parts = [write(table.slice(a, n), tmp_path / f"{a}.parquet")
             for a, n in ((0, 600), (600, 500), (1100, 500))]
    state = tmp_path / "state"
    _, r1, _ = run_job(*files(parts[0], f"job.state_dir={state}"))
    _killed_before_metrics(tmp_path / "r2", *files(parts[1], f"job.state_dir={state}"),
                           after_metrics=True)
    assert (state / state_io.PENDING).exists() and state_io.load(state).n_messages == 600
    _, r3, m = run_job(*files(parts[2], f"job.state_dir={state}"))
    assert m["state_messages"] == 1600 and not (state / state_io.PENDING).exists()
    _, whole, _ = run_job(*files(write(table, tmp_path / "all.parquet")))
    split = pa.concat_tables([pq.read_table(r / "assignments.parquet")
                              for r in (r1, tmp_path / "r2", r3)])
    assert split.equals(pq.read_table(whole / "assignments.parquet"))
