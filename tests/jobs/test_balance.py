"""`job=balance` end to end, against a plain per-pair implementation of seed 000's definition."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.optimize import linear_sum_assignment
from sklearn.preprocessing import StandardScaler

from engine.errors import UserError
from engine.io.embeddings import embedding_array


def make_rows(seed=0, n_clusters=4, dim=16, max_users=9, max_msgs=6, single_user_cluster=True):
    """Rows of small clusters: users with 1..max_msgs messages each, one category per cluster."""
    rng = np.random.default_rng(seed)
    clusters, users, cats, embs = [], [], [], []
    names = ["coding", "science", "sports", "culture"]
    for c in range(n_clusters):
        centre = rng.standard_normal(dim)
        for u in rng.choice(40, size=rng.integers(2, max_users + 1), replace=False):
            for _ in range(rng.integers(1, max_msgs + 1)):
                clusters.append(f"c{c}")
                users.append(int(u))
                cats.append(names[c % len(names)])
                embs.append(centre + rng.standard_normal(dim))
    if single_user_cluster:
        for _ in range(3):
            clusters.append("lonely")
            users.append(7)
            cats.append("personal")
            embs.append(rng.standard_normal(dim))
    order = rng.permutation(len(embs))  # the job must not rely on the input order
    table = pa.table({
        "id": np.arange(len(embs)),
        "cluster_id": np.array(clusters)[order],
        "user_id": np.array(users)[order],
        "category": np.array(cats)[order],
    })
    emb = np.array(embs, dtype=np.float32)[order]
    return table, emb


def write_rows(path, table, emb):
    pq.write_table(table.append_column("embedding", embedding_array(emb)), path)
    return path


def seed_reference(table, emb):
    """Seed 000's definition, plainly: per cluster, per pair of users, filter their rows,
    cosine similarities, scipy's matching, the three components, StandardScaler, the sum."""
    clusters = np.array(table["cluster_id"].to_pylist())
    users = np.array(table["user_id"].to_pylist())
    cats = np.array(table["category"].to_pylist())
    rows = []
    for c in sorted(set(clusters)):
        in_c = clusters == c
        us = sorted(set(users[in_c]))
        for a in range(len(us)):
            for b in range(a + 1, len(us)):
                e1 = emb[in_c & (users == us[a])].astype(np.float64)
                e2 = emb[in_c & (users == us[b])].astype(np.float64)
                e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
                e2 /= np.linalg.norm(e2, axis=1, keepdims=True)
                S = e1 @ e2.T
                r, k = linear_sum_assignment(S, maximize=True)
                n1, n2 = len(e1), len(e2)
                rows.append({"cluster_id": c, "user1": us[a], "user2": us[b],
                             "user1_convos": n1, "user2_convos": n2,
                             "imbalance": abs(math.log(n1 / n2)),
                             "magnitude_factor": 1 / (n1 + n2),
                             "dist": 1 - S[r, k].mean(),
                             "category": cats[in_c][0]})
    z = StandardScaler().fit_transform(
        np.array([[p["imbalance"], p["magnitude_factor"], p["dist"]] for p in rows]))
    for p, (zi, zm, zd) in zip(rows, z, strict=True):
        p.update(std_imbalance=zi, std_magnitude=zm, std_dist=zd, balance_score=zi + zm + zd)
    return rows


def keyed(table):
    return {(r["cluster_id"], r["user1"], r["user2"]): r for r in table.to_pylist()}


def run_exact_against_seed(run_job, path, table, emb):
    """Run the job in exact mode; every pair's columns equal the seed's definition."""
    objective, out, metrics = run_job("job=balance", "data=files", f"data.path={path}",
                                      "job.method=exact")
    got = keyed(pq.read_table(out / "pairs.parquet"))
    want = seed_reference(table, emb)
    assert len(got) == len(want) == metrics["n_pairs"]
    for w in want:
        g = got[(w["cluster_id"], w["user1"], w["user2"])]
        for key, value in w.items():
            if isinstance(value, float):
                assert g[key] == pytest.approx(value, abs=1e-9), key
            else:
                assert g[key] == value, key
    return objective, out, metrics, got, want


def test_exact_pairs_equal_seed_definition(run_job, tmp_path):
    table, emb = make_rows(seed=1)
    path = write_rows(tmp_path / "rows.parquet", table, emb)
    objective, out, metrics, got, want = run_exact_against_seed(run_job, path, table, emb)
    assert ("lonely", 7, 7) not in got  # one-user clusters give no pairs
    assert metrics["n_rows"] == len(emb)
    assert objective == pytest.approx(np.mean([w["dist"] for w in want]), abs=1e-12)
    stats = pq.read_table(out / "category_stats.parquet").to_pylist()
    assert sum(s["count"] for s in stats) == len(want)
    for s in stats:
        sel = [w for w in want if w["category"] == s["category"]]
        assert s["count"] == len(sel)
        assert s["avg_balance_score"] == pytest.approx(
            np.mean([w["balance_score"] for w in sel]), abs=1e-9)
    top = pq.read_table(out / "top_pairs.parquet").to_pylist()
    overall = [t for t in top if t["selection"] == "overall"]
    best = sorted(w["balance_score"] for w in want)[:len(overall)]
    assert [t["balance_score"] for t in overall] == pytest.approx(best, abs=1e-9)
    excluded = [t for t in top if t["selection"] == "excluding coding"]
    assert excluded and all(t["category"] != "coding" for t in excluded)


@pytest.mark.parametrize("method", ["auction", "greedy"])
def test_approximate_methods_within_their_bounds(run_job, tmp_path, method):
    table, emb = make_rows(seed=2)
    path = write_rows(tmp_path / "rows.parquet", table, emb)
    _, out, metrics = run_job("job=balance", "data=files", f"data.path={path}",
                              f"job.method={method}", "job.eps=0.001", "job.error_sample=10000")
    got = keyed(pq.read_table(out / "pairs.parquet"))
    want = seed_reference(table, emb)
    for w in want:
        g = got[(w["cluster_id"], w["user1"], w["user2"])]
        error = g["dist"] - w["dist"]  # matched similarity is at most the optimum
        assert -1e-12 <= error <= g["error_bound"] + 1e-12
        if method == "auction":
            assert error <= 1e-3 + 1e-12 and g["error_bound"] <= 1e-3 + 1e-9
    assert metrics["method"] == method and metrics["bound_holds"]
    assert metrics["error_sample"] == len(want)


def test_cap_keeps_most_active_users(run_job, tmp_path, caplog):
    table, emb = make_rows(seed=3, n_clusters=2, max_users=9)
    path = write_rows(tmp_path / "rows.parquet", table, emb)
    _, out, metrics = run_job("job=balance", "data=files", f"data.path={path}",
                              "job.max_users_per_cluster=3")
    pairs = pq.read_table(out / "pairs.parquet").to_pylist()
    clusters = np.array(table["cluster_id"].to_pylist())
    users = np.array(table["user_id"].to_pylist())
    dropped = 0
    for c in ("c0", "c1"):
        ids, counts = np.unique(users[clusters == c], return_counts=True)
        order = np.lexsort((ids, -counts))  # most rows first, ties by user id
        kept = set(ids[order[:3]].tolist())
        dropped += max(0, len(ids) - 3)
        seen = {p["user1"] for p in pairs if p["cluster_id"] == c} | {
            p["user2"] for p in pairs if p["cluster_id"] == c}
        assert seen == kept
    assert metrics["n_dropped_users"] == dropped > 0
    assert "dropped" in caplog.text


def test_nan_and_zero_embeddings_are_user_errors(run_job, tmp_path):
    from engine._balance.groups import check_embeddings

    table, emb = make_rows(seed=4)
    bad = emb.copy()
    bad[5] = 0.0
    path = write_rows(tmp_path / "zero.parquet", table, bad)
    with pytest.raises(UserError, match="zero embedding.*id 5"):
        run_job("job=balance", "data=files", f"data.path={path}")
    bad = emb.copy()
    bad[3, 2] = np.nan
    with pytest.raises(UserError, match="non-finite.*id 3"):
        check_embeddings(bad, np.arange(len(bad)), "rows")
    path = write_rows(tmp_path / "nan.parquet", table, bad)
    with pytest.raises(UserError, match="nan.parquet"):
        run_job("job=balance", "data=files", f"data.path={path}")


def test_missing_cluster_column_is_a_user_error(run_job, tmp_path):
    table, emb = make_rows(seed=5)
    path = write_rows(tmp_path / "rows.parquet", table.drop(["cluster_id"]), emb)
    with pytest.raises(UserError, match="cluster_id"):
        run_job("job=balance", "data=files", f"data.path={path}")
    with pytest.raises(UserError, match="job.method"):
        run_job("job=balance", "data=files", f"data.path={path}", "job.method=hungarian")


def test_synthetic_clusters_are_planted_topics(run_job):
    _, out, metrics = run_job("job=balance", "data.n_rows=600", "data.n_users=40")
    pairs = pq.read_table(out / "pairs.parquet")
    assert pairs.num_rows == metrics["n_pairs"] > 0
    assert set(pairs["cluster_id"].to_pylist()) <= set(range(16))
    z = pairs["balance_score"].to_numpy()
    assert abs(z.mean()) < 1e-9  # a sum of z-scores has mean 0
    again = run_job("job=balance", "data.n_rows=600", "data.n_users=40")[1]
    assert pq.read_table(again / "pairs.parquet").equals(pairs)  # same seed, same result


def test_exact_on_real_embeddings_equals_seed_definition(run_job, tmp_path, data_dir):
    """Real MiniLM tweet embeddings (VADER corpus); clusters are sentiment bins and users are
    assigned at random, so pairs have realistic similarity structure (near-ties included)."""
    real = pq.read_table(data_dir / "balance" / "vader_sample.parquet")
    rng = np.random.default_rng(0)
    sentiment = real["sentiment"].to_numpy()
    bins = np.digitize(sentiment, [-0.5, 0.5])
    names = np.array(["negative", "neutral", "positive"])
    table = pa.table({
        "id": np.arange(real.num_rows),
        "cluster_id": names[bins],
        "user_id": rng.integers(0, 12, real.num_rows),
        "category": names[bins],
    })
    emb = np.stack(real["embedding"].to_numpy(zero_copy_only=False)).astype(np.float32)
    path = write_rows(tmp_path / "real.parquet", table, emb)
    run_exact_against_seed(run_job, path, table, emb)


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["exact", "auction"])
def test_gpu_backend_gives_the_cpu_pairs(run_job, tmp_path, method):
    from engine.app import run_config
    from tests.conftest import compose

    table, emb = make_rows(seed=6, max_users=30, max_msgs=40)
    path = write_rows(tmp_path / "rows.parquet", table, emb)
    args = ("job=balance", "data=files", f"data.path={path}", f"job.method={method}")
    _, cpu_out, _ = run_job(*args)
    run_config(compose("backend=gpu", *args), str(tmp_path / "gpu"))
    cpu_pairs = pq.read_table(cpu_out / "pairs.parquet")
    gpu_pairs = pq.read_table(tmp_path / "gpu" / "pairs.parquet")
    assert gpu_pairs["user1"].equals(cpu_pairs["user1"])
    np.testing.assert_allclose(gpu_pairs["dist"].to_numpy(), cpu_pairs["dist"].to_numpy(),
                               atol=1e-9)


def test_tile_mb_0_is_refused(run_job):
    with pytest.raises(UserError, match=r"job.tile_mb=0: must be at least 1"):
        run_job("job=balance", "data.n_rows=500", "job.tile_mb=0")


def test_duplicate_ids_are_warned_about_and_counted(run_job, tmp_path, caplog):
    table, emb = make_rows()
    ids = table.column("id").to_numpy().copy()
    ids[:3] = ids[3]  # four rows with one id
    table = table.set_column(0, "id", pa.array(ids))
    _, _, metrics = run_job("job=balance", "data=files",
                            f"data.path={write_rows(tmp_path / 'rows.parquet', table, emb)}")
    assert metrics["n_duplicate_ids"] == 3
    assert f"e.g. {int(ids[3])} in 4 rows" in caplog.text
    unique = table.set_column(0, "id", pa.array(np.arange(len(ids))))
    _, _, clean = run_job("job=balance", "data=files",
                          f"data.path={write_rows(tmp_path / 'clean.parquet', unique, emb)}")
    assert clean["n_duplicate_ids"] == 0 and clean["n_pairs"] == metrics["n_pairs"]


def test_undefined_objective_is_null_in_strict_json(run_job, tmp_path):
    # One user: no pairs, so the mean distance (the objective) is undefined. Before, metrics.json
    # held NaN, which strict JSON parsers reject.
    import json

    table, emb = make_rows(n_clusters=1, single_user_cluster=False)
    table = table.set_column(2, "user_id", pa.array(np.zeros(len(emb), np.int64)))
    _, out, _ = run_job("job=balance", "data=files",
                        f"data.path={write_rows(tmp_path / 'rows.parquet', table, emb)}")

    def refuse(constant):
        raise ValueError(constant)

    metrics = json.loads((out / "metrics.json").read_text(), parse_constant=refuse)
    assert metrics["n_pairs"] == 0 and metrics["objective"] is None
