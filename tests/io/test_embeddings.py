"""Readers for every embedding input form, and their bad-input errors."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from engine.errors import UserError
from engine.io.embeddings import EmbeddingFiles, embedding_array, nonfinite_rows


@pytest.fixture
def emb():
    return np.random.default_rng(0).standard_normal((1000, 8)).astype(np.float32)


def _table(emb, dtype=np.float32, fixed=True):
    ids = pa.array([f"t{i}" for i in range(len(emb))])
    if fixed:
        col = embedding_array(emb.astype(dtype))
    else:
        col = pa.array(list(emb.astype(dtype)), pa.list_(pa.from_numpy_dtype(dtype)))
    return pa.table({"id": ids, "user_id": pa.array(np.arange(len(emb)) % 7), "embedding": col})


def _wide(emb):
    cols = {"id": pa.array(np.arange(len(emb)))}
    cols |= {f"e{j}": emb[:, j] for j in range(emb.shape[1])}
    return pa.table(cols)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("fixed", [True, False])
def test_parquet_list_column_in_batches(tmp_path, emb, dtype, fixed):
    pq.write_table(_table(emb, dtype, fixed), tmp_path / "a.parquet", row_group_size=300)
    src = EmbeddingFiles(tmp_path / "a.parquet", batch_rows=256)
    batches = list(src.batches())
    assert max(len(b) for b in batches) <= 256
    got = np.concatenate([b.embeddings for b in batches])
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, emb.astype(dtype).astype(np.float32))
    assert sum(len(b) for b in batches) == 1000 == src.n_rows
    assert batches[0].table.column_names == ["id", "user_id"]
    assert src.dim == 8


def test_native_dtype_kept_and_zero_copy(tmp_path, emb):
    pq.write_table(_table(emb, np.float16), tmp_path / "a.parquet")
    batch = EmbeddingFiles(tmp_path / "a.parquet", dtype=None).read()
    assert batch.embeddings.dtype == np.float16
    col = embedding_array(emb)
    from engine.io.embeddings import list_to_numpy

    out = list_to_numpy(col, 8, tmp_path, None)
    assert np.shares_memory(out, col.values.to_numpy(zero_copy_only=True))


def test_feather_and_wide_csv_and_wide_parquet(tmp_path, emb):
    feather.write_feather(_table(emb), tmp_path / "a.feather")
    pacsv.write_csv(_wide(emb), tmp_path / "b.csv")
    pq.write_table(_wide(emb), tmp_path / "c.parquet")
    for name in ("a.feather", "b.csv", "c.parquet"):
        got = EmbeddingFiles(tmp_path / name, batch_rows=300).read()
        np.testing.assert_allclose(got.embeddings, emb, rtol=1e-6, err_msg=name)
        assert got.table.num_rows == 1000


def test_npy_with_and_without_sidecar(tmp_path, emb):
    np.save(tmp_path / "x.npy", emb)
    bare = EmbeddingFiles(tmp_path / "x.npy", batch_rows=400).read()
    assert bare.table.column("id").to_pylist() == list(range(1000))
    pq.write_table(pa.table({"id": [f"t{i}" for i in range(1000)], "user_id": np.arange(1000)}),
                   tmp_path / "x.parquet", row_group_size=333)
    src = EmbeddingFiles(tmp_path / "x.npy", batch_rows=400)
    got = src.read(columns=["id", "user_id"])
    np.testing.assert_array_equal(got.embeddings, emb)
    assert got.table.column("id").to_pylist()[999] == "t999"
    assert got.table.column("user_id").to_pylist() == list(range(1000))
    # A directory holding the .npy and its sidecar is one input, not two.
    assert len(EmbeddingFiles(tmp_path).files) == 1


def test_directory_and_glob_read_all_files_in_order(tmp_path, emb):
    pq.write_table(_table(emb[:600]), tmp_path / "p1.parquet")
    pq.write_table(_table(emb[600:]), tmp_path / "p2.parquet")
    for path in (tmp_path, tmp_path / "p*.parquet"):
        got = EmbeddingFiles(path).read()
        np.testing.assert_array_equal(got.embeddings, emb)


def test_missing_file_and_column_errors(tmp_path, emb):
    with pytest.raises(UserError, match="no such file"):
        EmbeddingFiles(tmp_path / "nope.parquet")
    pq.write_table(_table(emb), tmp_path / "a.parquet")
    with pytest.raises(UserError, match=r"a\.parquet: no column 'vec'"):
        EmbeddingFiles(tmp_path / "a.parquet", embedding_column="vec")
    with pytest.raises(UserError, match=r"a\.parquet: missing column 'created_at'"):
        EmbeddingFiles(tmp_path / "a.parquet").read(columns=["id", "created_at"])


def test_dimension_mismatch_across_files(tmp_path, emb):
    pq.write_table(_table(emb), tmp_path / "p1.parquet")
    pq.write_table(_table(emb[:, :5]), tmp_path / "p2.parquet")
    with pytest.raises(UserError, match=r"p2\.parquet: embeddings have dimension 5, but .*p1"):
        EmbeddingFiles(tmp_path)


def test_ragged_vectors_name_the_id(tmp_path):
    col = pa.array([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3], [0.5, 0.5]], pa.list_(pa.float32()))
    pq.write_table(pa.table({"id": ["a", "b", "c"], "embedding": col}), tmp_path / "r.parquet")
    with pytest.raises(UserError, match=r"r\.parquet: embedding of id 'c' has length 2, expected 3"):
        EmbeddingFiles(tmp_path / "r.parquet").read()


def test_nan_rows_error_or_dropped(tmp_path, emb):
    bad = emb.copy()
    bad[[5, 17], 2] = np.nan
    bad[40, 0] = np.inf
    t = _table(bad)
    pq.write_table(t, tmp_path / "n.parquet")
    with pytest.raises(UserError, match=r"n\.parquet: 3 rows with NaN/inf.*\['t5', 't17', 't40'\]"):
        EmbeddingFiles(tmp_path / "n.parquet").read()
    src = EmbeddingFiles(tmp_path / "n.parquet", drop_invalid=True)
    got = src.read()
    assert src.dropped == 3 and len(got) == 997
    assert "t17" not in got.table.column("id").to_pylist()


def test_null_vector_is_invalid_row(tmp_path):
    col = pa.array([[0.1, 0.2], None, [0.3, 0.4]], pa.list_(pa.float32(), 2))
    pq.write_table(pa.table({"id": [1, 2, 3], "embedding": col}), tmp_path / "z.parquet")
    with pytest.raises(UserError, match=r"\[2\]"):
        EmbeddingFiles(tmp_path / "z.parquet").read()


def test_non_contiguous_wide_columns(tmp_path):
    pq.write_table(pa.table({"id": [1], "e0": [0.1], "e2": [0.3]}), tmp_path / "w.parquet")
    with pytest.raises(UserError, match="not contiguous"):
        EmbeddingFiles(tmp_path / "w.parquet")


def test_unsupported_and_unreadable_files(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(UserError, match="no input files"):
        EmbeddingFiles(tmp_path)
    (tmp_path / "b.parquet").write_text("not parquet")
    with pytest.raises(UserError, match=r"b\.parquet: cannot read"):
        EmbeddingFiles(tmp_path / "b.parquet")


def test_sidecar_row_count_mismatch(tmp_path, emb):
    np.save(tmp_path / "x.npy", emb)
    pq.write_table(pa.table({"id": np.arange(10)}), tmp_path / "x.parquet")
    with pytest.raises(UserError, match=r"x\.parquet: 10 rows, but .*x\.npy has 1000"):
        EmbeddingFiles(tmp_path / "x.npy").read()


def test_csv_that_is_not_utf8_names_the_file_and_column(tmp_path):
    # Before: pyarrow read the Latin-1 text as binary and the job carried bytes on as text.
    path = tmp_path / "latin.csv"
    path.write_bytes(b"id,e0,e1,full_text\n1,0.1,0.2,caf\xe9\n2,0.3,0.1,ok\n")
    with pytest.raises(UserError, match=r"latin.csv: column 'full_text' is not UTF-8 text"):
        EmbeddingFiles(path)


@pytest.mark.parametrize("contiguous", [True, False])
def test_nonfinite_rows_of_half_floats_agree_with_isfinite(contiguous):
    # Every float16 bit pattern once, plus the edge values: the bit test must flag exactly the
    # NaNs and infinities (all exponent bits set), never the largest finite or a subnormal.
    every = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    edges = np.array([65504, -65504, 6e-8, -0.0, np.inf, -np.inf, np.nan], np.float16)
    emb = np.concatenate([every, edges, np.zeros(16 - (len(every) + len(edges)) % 16,
                                                 np.float16)]).reshape(-1, 16)
    if not contiguous:
        emb = np.asfortranarray(emb)
    want = ~np.isfinite(emb.astype(np.float32)).all(axis=1)
    assert 0 < want.sum() < len(want)
    np.testing.assert_array_equal(nonfinite_rows(emb), want)
