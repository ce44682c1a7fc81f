"""`job=project` end to end: synthetic planted axes, the real rated tweets, reuse, errors."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import RidgeCV

from engine._project import split
from engine._project.apply import Float32Map, project_rows
from engine._project.fit import split_rated
from engine._project.linear_map import LinearMap
from engine._project.metrics import pearson_r
from engine.errors import UserError
from tests.conftest import DATA, compose


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """scikit-learn references on small matrices: one BLAS thread, steady on shared cores."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        yield


VADER = DATA / "real" / "vader_tweets.parquet"
SYNTH = ("data.n_rows=4000", "data.n_labelled=2000")
AXES = ["sincerity", "charity", "constructiveness"]


def _projected(out: Path, axes) -> tuple[pa.Table, np.ndarray]:
    t = pq.read_table(out / "projected.parquet")
    return t, np.column_stack([t.column(a).to_numpy() for a in axes])


def test_synthetic_compare_recovers_the_planted_axes(run_job):
    objective, out, metrics = run_job("job=project", *SYNTH, "job.method=compare")
    fit = pq.read_table(out / "fit.parquet").to_pylist()
    assert [(r["method"], r["axis"]) for r in fit] == [(m, a) for m in ("ols", "ridge", "cca")
                                                       for a in AXES]
    assert set(fit[0]) >= {"method", "axis", "pearson_r", "r2"}
    # The best linear predictor's correlation: the planted signal against the ratings.
    from engine.data import open_embeddings

    source = open_embeddings(compose("job=project", *SYNTH).data, 0)
    ratings = source.ratings()
    x = source.read().embeddings[ratings.column("id").to_numpy()].astype(np.float64)
    signal = x @ source.truth.q
    lmap = LinearMap.load(out / "projection.npz")
    for j, axis in enumerate(AXES):
        oracle = pearson_r(signal[:, j], ratings.column(axis).to_numpy())
        assert 0.6 < oracle < 0.75  # the seed's 0.63-0.70
        for r in fit:
            if r["axis"] == axis:
                assert abs(r["pearson_r"] - oracle) < 0.06, (r, oracle)
        # the fitted axis is the planted one (up to estimation noise)
        assert pearson_r(x @ lmap.weights[:, j], signal[:, j]) > 0.95
    assert metrics["method"] in ("ols", "ridge", "cca")
    assert objective == pytest.approx(metrics["mean_pearson_r"][metrics["method"]])
    assert metrics["n_rows"] == 4000 and metrics["n_ratings_unknown_id"] == 0
    t, values = _projected(out, AXES)
    assert t.column_names == ["id", "datetime", "user_id", "retweet_count", "favorite_count",
                              "category", "full_text", *AXES]
    assert np.array_equal(values, project_rows(source.read().embeddings, Float32Map.of(lmap)))


def test_real_tweets_ridge_matches_ridgecv_and_streams_exactly(run_job):
    objective, out, metrics = run_job(
        "job=project", "data=files", f"data.path={VADER}", f"job.ratings_path={VADER}",
        "job.axes=[sentiment]", "job.test_size=840", "data.batch_rows=1000")
    # scikit-learn on the same split, folds and grid
    t = pq.read_table(VADER)
    emb = t.column("embedding").combine_chunks()
    x = emb.flatten().to_numpy().reshape(len(emb), -1)
    y = t.column("sentiment").to_numpy()
    train, test = split_rated(y[:, None], ["sentiment"], 840, 0, 10)
    params = compose("job=project").job
    ref = RidgeCV(alphas=list(params.alphas), cv=split.kfold(len(train), 5, 0))
    ref.fit(x[train].astype(np.float64), y[train])
    r_ref = pearson_r(y[test], ref.predict(x[test].astype(np.float64)))
    assert metrics["pearson_r"]["sentiment"] == pytest.approx(r_ref, abs=1e-6)
    assert objective == pytest.approx(r_ref, abs=1e-6) and objective > 0.8
    assert metrics["alpha"]["sentiment"] == ref.alpha_
    lmap = LinearMap.load(out / "projection.npz")
    np.testing.assert_allclose(lmap.weights[:, 0], ref.coef_, rtol=1e-6, atol=1e-9)
    table, values = _projected(out, ["sentiment"])
    assert table.column_names == ["id", "text", "sentiment"]  # the rating column is not copied
    assert pq.ParquetFile(out / "projected.parquet").metadata.num_row_groups == 5
    assert np.array_equal(values, project_rows(x, Float32Map.of(lmap)))
    # Reuse the saved map on the same rows without fitting: identical output.
    _, again, m2 = run_job("job=project", "data=files", f"data.path={VADER}",
                           f"job.projection_file={out / 'projection.npz'}")
    assert not (again / "fit.parquet").exists()
    assert np.array_equal(_projected(again, ["sentiment"])[1], values)
    assert m2["objective"] == pytest.approx(objective)


def test_refit_on_all_rated_rows_keeps_the_chosen_alpha(run_job):
    from sklearn.linear_model import Ridge

    _, out, metrics = run_job("job=project", *SYNTH, "job.refit_all=true", "job.axes=[charity]")
    lmap = LinearMap.load(out / "projection.npz")
    from engine.data import open_embeddings

    source = open_embeddings(compose("job=project", *SYNTH).data, 0)
    ratings = source.ratings()
    x = source.read().embeddings[ratings.column("id").to_numpy()].astype(np.float64)
    ref = Ridge(alpha=metrics["alpha"]["charity"]).fit(x, ratings.column("charity").to_numpy())
    np.testing.assert_allclose(lmap.weights[:, 0], ref.coef_, rtol=1e-6, atol=1e-9)
    assert lmap.intercept[0] == pytest.approx(ref.intercept_, rel=1e-9)
    assert metrics["n_rated_rows"] == 2000


def test_passthrough_columns(run_job):
    _, out, metrics = run_job("job=project", "data.n_rows=1500", "data.n_labelled=600",
                              "job.passthrough=[category,retweet_count]", "job.method=ols")
    assert pq.read_schema(out / "projected.parquet").names == [
        "id", "category", "retweet_count", *AXES]
    assert metrics["passthrough"] == ["category", "retweet_count"]
    with pytest.raises(UserError, match="'charity' has the name of an axis"):
        run_job("job=project", "data.n_rows=1500", "data.n_labelled=600",
                "job.passthrough=[charity]")


def _files(tmp_path, dims=(8, 8), n=60, seed=0):
    tmp_path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    start = 0
    for i, d in enumerate(dims):
        x = rng.standard_normal((n, d)).astype(np.float32)
        pq.write_table(pa.table({"id": np.arange(start, start + n),
                                 "embedding": pa.FixedSizeListArray.from_arrays(
                                     pa.array(x.ravel()), d)}), tmp_path / f"part{i}.parquet")
        start += n
    return tmp_path


def test_unknown_rated_ids_are_counted_not_fatal(run_job, tmp_path):
    _files(tmp_path / "emb", n=80)
    ids = np.arange(100, 220)  # 60 with embeddings (100..159), 60 without
    rng = np.random.default_rng(1)
    pq.write_table(pa.table({"id": ids, "score": rng.standard_normal(120)}),
                   tmp_path / "r.parquet")
    _, out, metrics = run_job("job=project", "data=files", f"data.path={tmp_path / 'emb'}",
                              f"job.ratings_path={tmp_path / 'r.parquet'}",
                              "job.axes=[score]", "job.method=ols")
    assert metrics["n_ratings"] == 120 and metrics["n_ratings_unknown_id"] == 60
    assert metrics["n_rated_rows"] == 60 and metrics["n_rows"] == 160


@pytest.mark.parametrize("override, match", [
    ("job.ratings_path={tmp}/missing.parquet", "no such file"),
    ("job.axes=[nope]", "no column 'nope'"),
    ("job.method=forest", "job.method='forest'"),
    ("job.test_size=0.9", "too few rated rows for the split"),
    ("job.cca_components=2", "needs job.cca_joint=true"),
])
def test_bad_configuration(run_job, tmp_path, override, match):
    _files(tmp_path / "emb", dims=(8,), n=40)
    pq.write_table(pa.table({"id": np.arange(40), "score": np.arange(40.0)}),
                   tmp_path / "r.parquet")
    with pytest.raises(UserError, match=match):
        run_job("job=project", "data=files", f"data.path={tmp_path / 'emb'}",
                f"job.ratings_path={tmp_path / 'r.parquet'}", "job.axes=[score]",
                override.format(tmp=tmp_path))


def test_different_dimensions_across_files_exit_2(tmp_path):
    _files(tmp_path, dims=(8, 9))
    pq.write_table(pa.table({"id": np.arange(60), "score": np.arange(60.0)}),
                   tmp_path / "r.parquet")
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "job=project", "backend=cpu", "data=files",
         f"data.path={tmp_path}/part*.parquet", f"job.ratings_path={tmp_path}/r.parquet",
         f"hydra.run.dir={tmp_path / 'out'}"],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "dimension 9" in lines[0]


def test_projection_of_another_dimension_is_refused(run_job, tmp_path):
    LinearMap(np.ones((5, 1)), [0.0], ["a"], "ols").save(tmp_path / "p.npz")
    with pytest.raises(UserError, match="dimension 5, but the embeddings have 64"):
        run_job("job=project", "data.n_rows=100", f"job.projection_file={tmp_path / 'p.npz'}")


@pytest.mark.gpu
def test_gpu_backend_matches_cpu(run_job):
    _, cpu_out, _ = run_job("job=project", *SYNTH)
    _, gpu_out, metrics = run_job("job=project", *SYNTH, "backend=gpu")
    assert metrics["backend"] == "gpu"
    a, b = _projected(cpu_out, AXES)[1], _projected(gpu_out, AXES)[1]
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * np.abs(a).max())
