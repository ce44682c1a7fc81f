"""Ratings: reading, joining by id, and the errors for bad ratings."""

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from engine._project import fit, ratings
from engine.errors import UserError
from engine.io.embeddings import Batch


def _batches(ids, d=4, size=3):
    x = np.arange(len(ids) * d, dtype=np.float32).reshape(len(ids), d)
    for s in range(0, len(ids), size):
        yield Batch(pa.table({"id": pa.array(ids[s:s + size])}), x[s:s + size])


def test_join_counts_unknown_ids_and_keeps_missing_per_axis():
    table = pa.table({"id": [5, 1, 99, 3], "a": [1.0, 2.0, 3.0, None], "b": [1, 2, 3, 4]})
    table = ratings.ratings_table(table, "id", ["a", "b"], "r")
    rated = ratings.join(table, _batches([0, 1, 2, 3, 4, 5]), ["a", "b"], "r")
    assert rated.n_ratings == 4 and rated.n_unknown == 1 and rated.unknown_examples == [99]
    by_id = dict(zip(rated.ids.to_pylist(), range(3), strict=True))
    assert sorted(by_id) == [1, 3, 5]
    np.testing.assert_array_equal(rated.x[by_id[3]], [12, 13, 14, 15])
    assert np.isnan(rated.y[by_id[3], 0]) and rated.y[by_id[3], 1] == 4
    assert rated.y[by_id[5]].tolist() == [1.0, 1.0]


def test_string_embedding_ids_match_integer_rating_ids(tmp_path):
    path = tmp_path / "r.csv"
    pacsv.write_csv(pa.table({"tweet": [2, 4], "a": [1.0, 2.0]}), path)
    table = ratings.read_ratings(path, "tweet", ["a"])
    rated = ratings.join(table, _batches([str(i) for i in range(6)]), ["a"], str(path))
    assert rated.ids.to_pylist() == ["2", "4"] and rated.n_unknown == 0


@pytest.mark.parametrize("table, match", [
    (pa.table({"id": [1, 1], "a": [1.0, 2.0]}), "id 1 is rated more than once"),
    (pa.table({"id": [1, None], "a": [1.0, 2.0]}), "missing ids"),
    (pa.table({"id": [1, 2], "a": ["x", "y"]}), "expected numbers"),
])
def test_bad_ratings_tables(table, match):
    with pytest.raises(UserError, match=match):
        ratings.ratings_table(table, "id", ["a"], "r.parquet")


def test_missing_file_and_column(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        ratings.read_ratings(tmp_path / "nope.parquet", "id", ["a"])
    path = tmp_path / "r.parquet"
    pq.write_table(pa.table({"id": [1], "a": [1.0]}), path)
    with pytest.raises(UserError, match=r"no column 'charity'.*job.axes"):
        ratings.read_ratings(path, "id", ["a", "charity"])
    with pytest.raises(UserError, match=r"no column 'tweet_id'.*job.rating_id_column"):
        ratings.read_ratings(path, "tweet_id", ["a"])


@pytest.mark.parametrize("values, match", [
    ([None, None, None], "has no ratings"),
    ([3.0, 3.0, None], "is constant"),
])
def test_all_missing_or_constant_axis(values, match):
    table = pa.table({"id": [0, 1, 2], "a": pa.array([1.0, 2.0, 3.0]),
                      "b": pa.array(values, pa.float64())})
    table = ratings.ratings_table(table, "id", ["a", "b"], "r.parquet")
    rated = ratings.join(table, _batches([0, 1, 2]), ["a", "b"], "r.parquet")
    with pytest.raises(UserError, match=f"column 'b' {match}"):
        ratings.check_axes(rated, "r.parquet")


def test_no_rated_id_has_an_embedding():
    table = ratings.ratings_table(pa.table({"id": [7], "a": [1.0]}), "id", ["a"], "r")
    with pytest.raises(UserError, match="none of the 1 rated ids"):
        ratings.join(table, _batches([0, 1]), ["a"], "r")


def test_too_few_rated_rows_for_the_split():
    y = np.full((30, 2), 1.0)
    y[:, 1] = np.nan
    y[:4, 1] = 2.0
    with pytest.raises(UserError, match="axis 'b' has 4 rated rows"):
        fit.split_rated(y, ["a", "b"], 0.2, 0, min_train=10)
    with pytest.raises(UserError, match="job.test_size=40"):
        fit.split_rated(y, ["a", "b"], 40, 0, min_train=10)
    train, test = fit.split_rated(y[:, :1], ["a"], 6, 0, min_train=10)
    assert len(test) == 6 and len(train) == 24 and not set(train) & set(test)
