"""`ctx.map` on a Dask LocalCluster gives exactly what the in-process map gives."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.errors import UserError
from engine.io.embeddings import count_rows, expand_paths
from engine.parallel import SCATTER_BYTES, DaskCluster, make_cluster, pmap
from tests.conftest import compose

pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def dask_cluster():
    cluster = DaskCluster(address=None, n_workers=2)
    yield cluster
    cluster.close()


@pytest.fixture
def embedding_files(tmp_path) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i, n in enumerate([7, 30, 1, 12, 25]):
        emb = rng.standard_normal((n, 16)).astype(np.float32)
        table = pa.table({"id": np.arange(n) + 100 * i,
                          "embedding": pa.FixedSizeListArray.from_arrays(emb.ravel(), 16)})
        paths.append(tmp_path / f"part-{i}.parquet")
        pq.write_table(table, paths[-1])
    return paths


def test_per_file_work_matches_in_process(dask_cluster, embedding_files):
    local = pmap(None, count_rows, embedding_files)
    assert local == [7, 30, 1, 12, 25]
    assert pmap(dask_cluster, count_rows, embedding_files) == local  # in the items' order


def test_projection_with_a_broadcast_matrix_gives_the_local_result(dask_cluster):
    rng = np.random.default_rng(1)
    chunks = [rng.standard_normal((n, 384)) for n in (50, 3, 200, 17)]
    W = rng.standard_normal((384, 400))  # > SCATTER_BYTES: sent to each worker once
    assert W.nbytes >= SCATTER_BYTES
    local = pmap(None, np.tensordot, chunks, b=W, axes=1)
    remote = pmap(dask_cluster, np.tensordot, chunks, b=W, axes=1)
    # To rounding only: BLAS may split a product differently under the workers' thread count
    # (OpenBLAS on AVX2 does), which moves the last bits.
    for a, b in zip(local, remote, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_keyword_arguments_named_like_dask_options_reach_the_function(dask_cluster):
    items = [[3, -1, 2], [-5, 4]]
    # `key`, `priority` are also client.map options; they must go to `fn`, not to Dask.
    assert pmap(dask_cluster, sorted, items, key=abs) == pmap(None, sorted, items, key=abs)


def test_a_worker_error_reaches_the_caller_as_itself(dask_cluster, embedding_files, tmp_path):
    folder = embedding_files[0].parent
    assert pmap(dask_cluster, expand_paths, [folder]) == [embedding_files]
    with pytest.raises(UserError, match="missing: no such file"):
        pmap(dask_cluster, expand_paths, [folder, tmp_path / "missing"])


def test_cluster_starts_on_first_map_and_not_for_nothing():
    cfg = compose("backend=cpu", "cluster=dask", "cluster.n_workers=1")
    cluster = make_cluster(cfg.cluster)
    try:
        assert cluster is not None and cluster._client is None
        assert pmap(cluster, count_rows, []) == []
        assert cluster._client is None  # an empty map starts nothing
    finally:
        cluster.close()


def test_unreachable_scheduler_is_a_user_error():
    cluster = DaskCluster("tcp://127.0.0.1:9", connect_timeout="2s")
    with pytest.raises(UserError, match="cannot reach the Dask scheduler"):
        pmap(cluster, count_rows, [Path("x")])


def test_cluster_presets_compose(monkeypatch):
    assert make_cluster(compose("backend=cpu").cluster) is None
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://10.0.0.5:8786")
    dask = make_cluster(compose("backend=cpu", "cluster=dask").cluster)
    assert (dask.address, dask.gpu) == ("tcp://10.0.0.5:8786", False)
    gpu = make_cluster(compose("backend=cpu", "cluster=dask_cuda").cluster)
    assert (gpu.address, gpu.n_workers, gpu.gpu) == ("tcp://10.0.0.5:8786", None, True)
    with pytest.raises(UserError, match="at least 1"):
        make_cluster(compose("backend=cpu", "cluster=dask", "cluster.n_workers=0").cluster)


@pytest.mark.skipif(importlib.util.find_spec("dask_cuda") is not None,
                    reason="dask-cuda is installed here")
def test_dask_cuda_without_the_package_says_so():
    cluster = make_cluster(compose("backend=cpu", "cluster=dask_cuda",
                                   "cluster.address=null").cluster)
    with pytest.raises(UserError, match="dask-cuda is not installed"):
        pmap(cluster, count_rows, [Path("x")])


def test_run_context_maps_on_the_cluster_and_says_so(dask_cluster, embedding_files, tmp_path,
                                                    cpu):
    import json

    from engine.run import RunContext

    ctx = RunContext(out_dir=tmp_path / "run", backend=cpu, cluster=dask_cluster)
    assert ctx.map(count_rows, embedding_files) == [7, 30, 1, 12, 25]
    ctx.finish(1.0)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["cluster"] == {"name": "dask", "address": "local", "workers": 2,
                                  "maps": dask_cluster.n_maps, "items": dask_cluster.n_items}
    assert dask_cluster.n_items >= len(embedding_files)


@pytest.mark.gpu
def test_local_cuda_cluster_gives_the_in_process_result(embedding_files):
    pytest.importorskip("dask_cuda")
    cluster = DaskCluster(address=None, n_workers=1, gpu=True)
    try:
        assert pmap(cluster, count_rows, embedding_files) == pmap(None, count_rows,
                                                                 embedding_files)
        assert cluster.describe()["workers"] == 1
    finally:
        cluster.close()


def _tables(out_dir: Path) -> dict[str, pa.Table]:
    return {p.name: pq.read_table(p) for p in sorted(out_dir.glob("*.parquet"))}


def _same_column(a: pa.ChunkedArray, b: pa.ChunkedArray) -> bool:
    if pa.types.is_floating(a.type):  # NaN (an undefined score) equals NaN here
        return np.array_equal(a.to_numpy(), b.to_numpy(), equal_nan=True)
    return a.equals(b)


@pytest.mark.slow
def test_basins_on_dask_writes_what_the_in_process_run_writes(run_job):
    """The basins job maps its bins through ctx.map: the same artifacts either way."""
    tiny = ["job=basins", "job.tune=false", "job.null_model=false", "data.n_rows=3000",
            "data.n_days=120", "job.n_bootstrap=3", "job.evidence=[]"]
    objective, local_dir, _ = run_job(*tiny)
    dask_objective, dask_dir, on_dask = run_job(*tiny, "cluster=dask", "cluster.n_workers=2")
    assert on_dask["cluster"]["maps"] > 0 and on_dask["cluster"]["workers"] == 2
    assert dask_objective == objective
    local, remote = _tables(local_dir), _tables(dask_dir)
    assert local.keys() == remote.keys() and "bins.parquet" in local
    for name, table in local.items():
        assert table.schema == remote[name].schema, name
        for column in table.column_names:
            assert _same_column(table[column], remote[name][column]), (name, column)
