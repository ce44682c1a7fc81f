"""`engine.project`: the same outputs as `job=project`, on DataFrames, arrays and paths."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

import engine
from engine.synthetic import frames
from tests.api.same_as_cli import assert_same_as_cli


@pytest.fixture(scope="module")
def corpus():
    return frames.tweets(1500, dim=16, n_labelled=500, seed=4)


def test_same_tables_and_metrics_as_the_job(run_job, tmp_path, corpus):
    rows, ratings = tmp_path / "rows.parquet", tmp_path / "ratings.parquet"
    corpus.rows.write_parquet(rows)
    corpus.ratings.write_parquet(ratings)
    _, out, m = run_job("job=project", "data=files", f"data.path={rows}",
                        f"job.ratings_path={ratings}", "job.method=compare", "seed=2")
    # In memory, and streamed from disk; pandas has no large_string, so its types differ.
    for X, same_types in ((corpus.rows, True), (rows, True), (corpus.rows.to_pandas(), False)):
        result = engine.project(X, corpus.ratings, method="compare", random_state=2,
                                backend="cpu")
        assert_same_as_cli(result, out, m, same_types=same_types)
    assert result.to_polars().columns[-3:] == ["sincerity", "charity", "constructiveness"]
    with np.load(out / "projection.npz") as written:  # the fitted map, as the CLI saves it
        assert set(result.arrays["projection"]) == set(written.files)
        for key in written.files:
            np.testing.assert_array_equal(result.arrays["projection"][key], written[key])


def test_ols_on_all_rated_rows_equals_scikit_learn(corpus):
    X = np.stack(corpus.rows["embedding"].to_numpy()).astype(np.float64)
    ids = corpus.rows["id"].to_numpy()
    result = engine.project(X, corpus.ratings.select("id", "charity"), ids=ids, method="ols",
                            refit_all=True, backend="cpu")
    rated = np.searchsorted(ids, corpus.ratings["id"].to_numpy())
    ref = LinearRegression().fit(X[rated], corpus.ratings["charity"].to_numpy())
    got = result.to_polars()["charity"].to_numpy()
    np.testing.assert_allclose(got, ref.predict(X), rtol=1e-4, atol=1e-4)
    assert result.metrics["axes"] == ["charity"] and 0.3 < result.objective <= 1


def test_errors_name_the_column_or_keyword(corpus):
    with pytest.raises(ValueError, match="ratings: no column 'kindness'"):
        engine.project(corpus.rows, corpus.ratings, axes=["kindness"], backend="cpu")
    with pytest.raises(ValueError, match=r"^method='lasso': expected one of"):
        engine.project(corpus.rows, corpus.ratings, method="lasso", backend="cpu")
