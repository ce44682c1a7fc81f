"""`data.drop_invalid=true`: every job that reads embeddings counts the rows it dropped once,
as `n_dropped_rows` (before: project counted a NaN row twice, balance and communities and
stream not at all)."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from engine.io.embeddings import embedding_array


@pytest.fixture(scope="module")
def tweets_with_invalid_rows(tmp_path_factory):
    """Synthetic tweets (a cluster_id column added) and their ratings, with one NaN row; and
    the same with an all-zero row too (no direction: the stream cannot cluster it)."""
    from engine.app import run_config
    from tests.conftest import compose

    out = tmp_path_factory.mktemp("synth")
    run_config(compose("backend=cpu", "job=synth", "data.n_rows=1500", "data.dim=16",
                       "data.n_labelled=400", "data.n_users=40"), str(out))
    table = pq.read_table(out / "tweets.parquet")
    table = table.append_column("cluster_id", table.column("category"))
    emb = table.column("embedding").combine_chunks().flatten().to_numpy().reshape(len(table), -1)
    emb = emb.copy()
    emb[10] = np.nan  # a rated row, so that project meets it in the fit and in the apply
    assert 10 in pq.read_table(out / "ratings.parquet").column("id").to_pylist()
    field = table.schema.get_field_index("embedding")
    pq.write_table(table.set_column(field, "embedding", embedding_array(emb)),
                   out / "nan.parquet")
    emb[20] = 0.0
    pq.write_table(table.set_column(field, "embedding", embedding_array(emb)),
                   out / "nan_and_zero.parquet")
    return out


@pytest.mark.parametrize("job, extra, dropped", [
    ("project", ["job.ratings_path={dir}/ratings.parquet"], 1),
    ("communities", [], 1),
    ("balance", [], 1),
    ("stream", ["job.sort=true"], 1),
    ("pipeline", ["job.project.ratings_path={dir}/ratings.parquet", "job.basins.n_bootstrap=3",
                  "job.basins.null_model=false", "job.basins.evidence=[]"], 1),
])
def test_each_job_counts_a_dropped_row_once(run_job, tweets_with_invalid_rows, job, extra,
                                            dropped):
    d = tweets_with_invalid_rows
    _, _, metrics = run_job(f"job={job}", "data=files", f"data.path={d / 'nan.parquet'}",
                            "data.drop_invalid=true", *[e.format(dir=d) for e in extra])
    assert metrics["n_dropped_rows"] == dropped


def test_stream_counts_rows_without_direction_too(run_job, tweets_with_invalid_rows):
    path = tweets_with_invalid_rows / "nan_and_zero.parquet"
    _, _, metrics = run_job("job=stream", "data=files", f"data.path={path}",
                            "data.drop_invalid=true", "job.sort=true")
    assert metrics["n_dropped_rows"] == 2 and metrics["n_rows"] == 1498


def test_without_drop_invalid_the_nan_row_is_an_error(run_job, tweets_with_invalid_rows):
    from engine.errors import UserError

    path = tweets_with_invalid_rows / "nan.parquet"
    with pytest.raises(UserError, match=r"first ids \[10\]"):
        run_job("job=communities", "data=files", f"data.path={path}")




def test_basins_counts_rows_without_coordinates(run_job, tweets_with_invalid_rows, tmp_path):
    # Coordinates as the project job writes them, one row's missing (NaN).
    import pyarrow as pa

    table = pq.read_table(tweets_with_invalid_rows / "tweets.parquet")
    emb = table.column("embedding").combine_chunks().flatten().to_numpy().reshape(len(table), -1)
    x, y = emb[:, 0].astype(np.float64), emb[:, 1].astype(np.float64)
    x[10] = np.nan
    path = tmp_path / "projected.parquet"
    pq.write_table(pa.table({"id": table.column("id"), "datetime": table.column("datetime"),
                             "x": x, "y": y}), path)
    settings = ("job=basins", "data=files", f"data.path={path}", "job.coords=[x,y]",
                "job.tune=false", "job.bin_size_days=14", "job.n_bootstrap=3",
                "job.null_model=false", "job.evidence=[]")
    _, _, metrics = run_job(*settings, "data.drop_invalid=true")
    assert metrics["n_dropped_rows"] == 1 and metrics["n_rows"] == 1499
    from engine.errors import UserError

    with pytest.raises(UserError, match=r"not finite at id 10 .*data.drop_invalid=true"):
        run_job(*settings)
