"""The apply stage: float32 products, bit-identical streamed and in-memory results."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine._project.apply import Float32Map, cpu_projections, project_rows
from engine._project.linear_map import LinearMap
from engine._project.stream import write_projected
from engine.errors import UserError
from engine.io.embeddings import Batch


def _map(d=37, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return LinearMap(rng.standard_normal((d, k)), rng.standard_normal(k), list("abc")[:k], "ols")


def _batches(x, size):
    for s in range(0, len(x), size):
        ids = pa.array(np.arange(s, min(s + size, len(x))))
        yield Batch(pa.table({"id": ids, "tag": pa.array([f"t{i}" for i in ids.to_pylist()])}),
                    x[s:s + size])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_projection_matches_float64_reference(dtype):
    lmap = _map()
    x = np.random.default_rng(1).standard_normal((500, 37)).astype(dtype)
    out = project_rows(x, Float32Map.of(lmap))
    assert out.dtype == np.float32
    ref = x.astype(np.float64) @ lmap.weights + lmap.intercept
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_rows_do_not_depend_on_their_batch(dtype):
    lmap = Float32Map.of(_map(d=50))
    x = np.random.default_rng(2).standard_normal((1001, 50)).astype(dtype)
    whole = project_rows(x, lmap)
    parts = np.concatenate([project_rows(x[s:s + 77], lmap) for s in range(0, 1001, 77)])
    assert np.array_equal(whole, parts)
    assert np.array_equal(project_rows(x[13:14], lmap), whole[13:14])


def test_streamed_file_equals_in_memory_projection(tmp_path):
    lmap = _map()
    x = np.random.default_rng(3).standard_normal((2500, 37)).astype(np.float16)
    path = tmp_path / "projected.parquet"
    n = write_projected(path, cpu_projections(_batches(x, 300), lmap), ["id", "tag"], lmap.axes)
    assert n == 2500
    f = pq.ParquetFile(path)
    assert f.metadata.num_row_groups == 9
    t = f.read()
    assert t.column_names == ["id", "tag", "a", "b", "c"]
    assert t.column("id").to_pylist() == list(range(2500))
    assert t.column("tag")[7].as_py() == "t7"
    streamed = np.column_stack([t.column(a).to_numpy() for a in lmap.axes])
    assert np.array_equal(streamed, project_rows(x, Float32Map.of(lmap)))


def test_failure_midway_leaves_no_file(tmp_path):
    lmap = _map()
    x = np.random.default_rng(4).standard_normal((1000, 37)).astype(np.float32)

    def broken():
        yield from _batches(x[:500], 250)
        raise UserError("bad batch")

    path = tmp_path / "projected.parquet"
    with pytest.raises(UserError, match="bad batch"):
        write_projected(path, cpu_projections(broken(), lmap), ["id"], lmap.axes)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.gpu
def test_gpu_stream_matches_cpu(gpu):
    from engine._project.apply_gpu import gpu_projections

    lmap = _map(d=768)
    x = np.random.default_rng(5).standard_normal((5000, 768)).astype(np.float16)
    cpu = np.concatenate([v for _, v in cpu_projections(_batches(x, 1024), lmap)])
    pairs = list(gpu_projections(_batches(x, 1024), lmap))
    assert [len(b) for b, _ in pairs] == [1024] * 4 + [904]
    assert [b.table.column("id")[0].as_py() for b, _ in pairs] == [0, 1024, 2048, 3072, 4096]
    got = np.concatenate([v for _, v in pairs])
    np.testing.assert_allclose(got, cpu, rtol=1e-4, atol=1e-4 * np.abs(cpu).max())
