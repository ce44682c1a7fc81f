"""`engine.balance`: the same outputs as `job=balance`, and seed 000's definition, on arrays."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.io.embeddings import embedding_array
from tests.api.same_as_cli import assert_same_as_cli
from tests.jobs.test_balance import keyed, make_rows, seed_reference, write_rows


def test_same_tables_and_metrics_as_the_job(run_job, tmp_path):
    table, emb = make_rows(seed=3)
    path = write_rows(tmp_path / "rows.parquet", table, emb)
    _, out, m = run_job("job=balance", "data=files", f"data.path={path}", "seed=5")
    result = engine.balance(table.append_column("embedding", embedding_array(emb)),
                            random_state=5, backend="cpu")
    assert_same_as_cli(result, out, m)


def test_arrays_give_seed_000s_exact_scores():
    table, emb = make_rows(seed=1)
    result = engine.balance(emb, table["cluster_id"].to_numpy(), table["user_id"].to_numpy(),
                            table["category"].to_numpy(), method="exact", backend="cpu")
    got = keyed(result.table())
    want = seed_reference(table, emb)
    assert len(got) == len(want) == result.metrics["n_pairs"]
    for w in want:
        g = got[(w["cluster_id"], w["user1"], w["user2"])]
        assert g["balance_score"] == pytest.approx(w["balance_score"], abs=1e-9)
        assert g["dist"] == pytest.approx(w["dist"], abs=1e-9)
    assert set(result.tables) == {"pairs", "category_stats", "top_pairs"}


def test_missing_users_name_the_column():
    table, emb = make_rows(seed=1)
    with pytest.raises(ValueError, match="missing column 'user_id'"):
        engine.balance(emb, clusters=table["cluster_id"].to_numpy(), backend="cpu")
    with pytest.raises(ValueError, match=r"X: user_id: 3 values for \d+ rows"):
        engine.balance(emb, table["cluster_id"].to_numpy(), np.arange(3), backend="cpu")
