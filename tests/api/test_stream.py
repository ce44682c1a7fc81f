"""`engine.stream` and `engine.OnlineClustering`: the same outputs as `job=stream`, the
message-by-message reference, and parts that add up to the whole."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import adjusted_rand_score

import engine
from engine.synthetic import frames
from tests.api.same_as_cli import assert_same_as_cli
from tests.stream.reference import Reference


@pytest.fixture(scope="module")
def msgs():
    return frames.messages(2000, dim=16, n_topics=8, seed=2)


def _arrays(msgs):
    rows = msgs.rows
    return (np.stack(rows["embedding"].to_numpy()), rows["datetime"].to_numpy(),
            rows["user_id"].to_numpy())


def test_same_tables_and_metrics_as_the_job(run_job, tmp_path, msgs):
    path = tmp_path / "msgs.parquet"
    msgs.rows.write_parquet(path)
    _, out, m = run_job("job=stream", "data=files", f"data.path={path}", "job.threshold=0.3")
    for X in (msgs.rows, path):
        result = engine.stream(X, threshold=0.3, backend="cpu")
        assert_same_as_cli(result, out, m)
    X, times, users = _arrays(msgs)
    result = engine.stream(X, times, users, threshold=0.3, backend="cpu")
    assert result.table().equals(pq.read_table(out / "assignments.parquet"))


def test_equals_the_message_by_message_reference(msgs):
    X, times, _ = _arrays(msgs)
    ref = Reference(X.shape[1], threshold=0.3)
    want = [ref.step(x, int(t)) for x, t in zip(X, times.astype(np.int64), strict=True)]
    got = engine.stream(X, times, threshold=0.3, backend="cpu").to_polars()
    assert got["cluster_id"].to_list() == [w[0] for w in want]
    np.testing.assert_allclose(got["confidence"].to_numpy(), [w[1] for w in want], atol=1e-12)
    assert adjusted_rand_score(msgs.topics, got["cluster_id"].to_numpy()) > 0.8


def test_partial_fit_on_halves_equals_one_call_and_the_job(msgs, tmp_path):
    X, times, users = _arrays(msgs)
    whole = engine.OnlineClustering(threshold=0.3, backend="cpu")
    labels = whole.partial_fit(X, times, users)
    halves = engine.OnlineClustering(threshold=0.3, backend="cpu")
    first = halves.partial_fit(X[:777], times[:777], users[:777])
    halves.save(tmp_path / "state")
    resumed = engine.OnlineClustering.load(tmp_path / "state", backend="cpu")
    second = resumed.partial_fit(X[777:], times[777:], users[777:])
    np.testing.assert_array_equal(np.concatenate([first, second]), labels)
    np.testing.assert_array_equal(resumed.cluster_centers_, whole.cluster_centers_)
    np.testing.assert_array_equal(resumed.cluster_sizes_, whole.cluster_sizes_)
    assert resumed.n_messages_ == whole.n_messages_ == len(X)
    assert whole.n_clusters_ == labels.max() + 1 == whole.cluster_sizes_.size
    assert whole.new_cluster_.sum() == whole.n_clusters_
    # The job continues from the estimator's state as from its own.
    result = engine.stream(X[777:], times[777:], users[777:], threshold=0.3,
                           state_dir=str(tmp_path / "state"), backend="cpu")
    np.testing.assert_array_equal(result.to_polars()["cluster_id"].to_numpy(), second)


def test_errors_name_the_message():
    X = np.eye(4, 8)
    times = np.array(["2024-01-02", "2024-01-01", "2024-01-03", "2024-01-04"],
                     dtype="datetime64[ns]")
    model = engine.OnlineClustering(threshold=0.2, backend="cpu")
    with pytest.raises(ValueError, match="message id 1 is earlier than the message before it"):
        model.partial_fit(X, times)
    X[2] = 0
    with pytest.raises(ValueError, match="message id 2: embedding has zero"):
        model.partial_fit(X, np.sort(times))
    assert model.n_messages_ == 0  # refused calls leave the state as it was
    assert model.partial_fit(np.eye(3, 5), np.sort(times)[:3]).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match=r"^threshold=3.0: a cosine distance in \[0, 2\]"):
        engine.OnlineClustering(threshold=3.0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'top_n'"):
        engine.OnlineClustering(top_n=3)
