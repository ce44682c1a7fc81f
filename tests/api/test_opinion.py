"""`engine.opinion` and `engine.PolisModel`: the same outputs as `job=opinion`, on
DataFrames, sparse matrices and a real Polis export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score

import engine
from engine.synthetic import frames
from tests.api.same_as_cli import assert_same_as_cli

POLIS = Path(__file__).resolve().parents[1] / "data" / "polis"


@pytest.fixture(scope="module")
def votes():
    return frames.votes(400, n_statements=30, seed=3)


def test_same_tables_and_metrics_as_the_job(run_job, tmp_path, votes):
    path = tmp_path / "votes.parquet"
    votes.votes.write_parquet(path)
    _, out, m = run_job("job=opinion", "data=files", f"data.path={path}", "job.max_groups=4")
    for given in (votes.votes, votes.votes.to_pandas(), path):
        assert_same_as_cli(engine.opinion(given, max_groups=4, backend="cpu"), out, m)


def test_estimator_equals_the_job_and_finds_the_planted_groups(votes):
    model = engine.PolisModel(max_groups=4, backend="cpu").fit(votes.votes)
    voters = engine.opinion(votes.votes, max_groups=4, backend="cpu").to_polars()
    np.testing.assert_array_equal(model.labels_, voters["group"].fill_null(-1).to_numpy())
    np.testing.assert_array_equal(model.voter_ids_, voters["voter_id"].to_numpy())
    np.testing.assert_allclose(model.embedding_[:, 0], voters["x"].to_numpy())
    assert model.n_groups_ == 3 == model.labels_.max() + 1
    grouped = model.labels_ >= 0
    truth = votes.groups[model.voter_ids_]
    assert adjusted_rand_score(truth[grouped], model.labels_[grouped]) > 0.85
    assert set(model.repness_["group"].unique()) == {0, 1, 2}
    assert model.consensus_.height == len(model.statement_ids_) == 30
    assert model.statements_["statement_id"].to_list() == model.statement_ids_.tolist()


def test_a_sparse_matrix_keeps_passes_and_finds_the_planted_groups(votes):
    v = votes.votes.sort("time").unique(["voter_id", "statement_id"], keep="last")
    matrix = sp.csr_matrix((v["vote"].to_numpy(), (v["voter_id"].to_numpy(),
                                                   v["statement_id"].to_numpy())))
    matrix.sum_duplicates()
    assert matrix.nnz > (matrix.data != 0).sum()  # explicit zeros: the passes
    model = engine.PolisModel(backend="cpu").fit(matrix)
    voters = model.result_.to_polars()
    # Rows as Polis's rating matrix holds them: by the lowest statement voted on, then by id.
    first = v.group_by("voter_id").agg(pl.col("statement_id").min(), pl.len())
    first = first.sort("statement_id", "voter_id")
    np.testing.assert_array_equal(model.voter_ids_, first["voter_id"].to_numpy())
    np.testing.assert_array_equal(voters["n_votes"].to_numpy(), first["len"].to_numpy())
    grouped = model.labels_ >= 0
    truth = votes.groups[model.voter_ids_]
    # Polis's k-means starts from the first voters, so the voters' order matters: in id
    # order two of the three planted groups merged here (ARI 0.82).
    assert adjusted_rand_score(truth[grouped], model.labels_[grouped]) > 0.75


def test_real_polis_export_agrees_with_polis():
    # A held-out conversation, replayed at Polis's polling moments (the default) as the job
    # does (tests/jobs/test_opinion.py): Polis's own two groups, exactly.
    model = engine.PolisModel(backend="cpu", polis_export=True).fit(
        POLIS.parent / "opinion" / "7btrabcujr-bike-lanes-toronto")
    assert model.result_.metrics["replay_schedule"] == "polling"
    assert model.n_groups_ == 2
    assert model.result_.metrics["ari_polis"] == 1.0


def test_missing_column_is_named(votes):
    with pytest.raises(ValueError, match="votes: missing column 'ballot'"):
        engine.opinion(votes.votes, vote_column="ballot", backend="cpu")
    with pytest.raises(ValueError, match=r"^max_groups=1: must be at least 2"):
        engine.opinion(votes.votes, max_groups=1, backend="cpu")


def test_meta_statements_same_as_the_job(run_job, tmp_path):
    from tests.opinion.meta_conversation import META, write_export

    folder = write_export(tmp_path / "export", flag_meta=False)
    _, out, m = run_job("job=opinion", "data=polis_export", f"data.path={folder}",
                        "job.meta_statements=[" + ",".join(map(str, META)) + "]")
    result = engine.opinion(folder, polis_export=True, meta_statements=META, backend="cpu")
    assert_same_as_cli(result, out, m)
    assert result.metrics["meta_statements"] == META
    with pytest.raises(ValueError, match=r"^meta_statements: statement 777 is not in the votes "
                                         r"or the comments$"):
        engine.opinion(folder, polis_export=True, meta_statements=[777], backend="cpu")
