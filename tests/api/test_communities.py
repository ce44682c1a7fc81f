"""`engine.communities`: the same outputs as `job=communities`, on arrays and DataFrames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import adjusted_rand_score

import engine
from engine.io.embeddings import embedding_array
from tests.api.same_as_cli import assert_same_as_cli


def _blobs(n=1200, d=16, k=5, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    X = 3 * rng.standard_normal((k, d))[labels] + rng.standard_normal((n, d))
    return X.astype(np.float32), labels


def test_same_tables_and_metrics_as_the_job(run_job, tmp_path):
    X, _ = _blobs()
    ids = np.arange(5000, 5000 + len(X))
    pq.write_table(pa.table({"id": ids, "embedding": embedding_array(X)}), tmp_path / "x.parquet")
    _, out, m = run_job("job=communities", "data=files", f"data.path={tmp_path / 'x.parquet'}",
                        "job.k=10", "job.resolution=0.5", "seed=3")
    result = engine.communities(X, ids=ids, n_neighbors=10, resolution=0.5, random_state=3,
                                backend="cpu")
    assert_same_as_cli(result, out, m)
    assert result.objective == m["objective"] == m["modularity"]


def test_arrays_and_dataframes_give_one_answer_that_finds_the_planted_groups():
    X, truth = _blobs()
    from_array = engine.communities(X, n_neighbors=10, backend="cpu")
    labels = from_array.to_polars()
    assert labels.columns == ["id", "community"] and labels["id"].to_list() == list(range(len(X)))
    assert adjusted_rand_score(truth, labels["community"].to_numpy()) > 0.95
    wide = pd.DataFrame(X, columns=[f"e{i}" for i in range(X.shape[1])])
    listed = pl.DataFrame({"id": np.arange(len(X)), "embedding": X})
    for frame in (wide, listed):
        other = engine.communities(frame, n_neighbors=10, backend="cpu")
        assert other.table().equals(from_array.table())
    assert from_array.to_pandas("edges").columns.tolist() == ["src", "dst", "weight"]
    assert "communities" in repr(from_array) and "modularity=" in repr(from_array)


def test_figures_of_a_result_are_the_reports():
    from matplotlib.figure import Figure

    from engine.figures import figures_for

    X, truth = _blobs(600)
    result = engine.communities(X, n_neighbors=10, backend="cpu")
    names = result.figures()
    assert names == list(figures_for("communities")) and "community_sizes" in names
    assert {f"plot_{n}" for n in names} <= set(dir(result))
    fig = result.plot_community_sizes()
    assert isinstance(fig, Figure) and fig.axes
    # The bars are the communities' sizes, largest first, as labels.parquet counts them.
    heights = sorted((p.get_height() for p in fig.axes[0].patches), reverse=True)
    sizes = np.sort(np.bincount(result.to_polars()["community"].to_numpy()))[::-1]
    np.testing.assert_array_equal(heights[:len(sizes)], sizes)
    with pytest.raises(AttributeError, match="no figure 'nope'"):
        result.plot_nope()


def test_activation_layers_as_a_dict_of_sparse_matrices():
    from engine.synthetic.activations import make_activations

    syn = make_activations(600, 2, 256, 4, 0)
    layers = dict(zip(syn.names, syn.layers, strict=True))
    result = engine.communities(layers, ids=syn.ids, n_neighbors=10, backend="cpu")
    assert result.metrics["features"] == "tfidf_sketch"
    labels = result.to_polars().sort("id")
    truth = syn.groups[np.argsort(syn.ids)]
    assert adjusted_rand_score(truth, labels["community"].to_numpy()) > 0.9


def test_errors_name_the_public_keyword_or_the_column():
    X, _ = _blobs(200)
    with pytest.raises(ValueError, match=r"^resolution=0.0: must be > 0"):
        engine.communities(X, resolution=0, backend="cpu")
    with pytest.raises(ValueError, match="no column 'vec'"):
        engine.communities(pl.DataFrame({"id": [1, 2]}), embedding_column="vec")
    with pytest.raises(ValueError, match="id 1 appears in 2 rows"):
        engine.communities(X[:3], ids=[1, 1, 2], backend="cpu")
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_neighbours'"):
        engine.communities(X, n_neighbours=5)
    bad = X.copy()
    bad[7] = np.nan
    with pytest.raises(ValueError, match=r"NaN/inf .* first ids \[7\]"):
        engine.communities(bad, backend="cpu")
