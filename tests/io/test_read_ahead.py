from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.errors import UserError
from engine.io.embeddings import EmbeddingFiles, embedding_array
from engine.io.read_ahead import read_ahead


def test_read_ahead_keeps_order_and_stops_early():
    assert list(read_ahead(iter(range(100)))) == list(range(100))
    it = read_ahead(iter(range(1000)), depth=2)
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()  # joins the reader thread without draining the source


def test_read_ahead_raises_the_producers_error_in_the_consumer():
    def broken():
        yield 1
        raise ValueError("row group 2 is corrupt")

    it = read_ahead(broken())
    assert next(it) == 1
    with pytest.raises(ValueError, match="row group 2"):
        next(it)


def test_parquet_read_ahead_stops_early_and_reports_a_corrupt_row_group(tmp_path):
    import numpy as np

    emb = np.arange(40 * 4, dtype=np.float32).reshape(40, 4)
    table = pa.table({"id": np.arange(40), "embedding": embedding_array(emb)})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=8)
    files = EmbeddingFiles(path, batch_rows=8)
    batches = files.batches()
    first = next(batches)
    np.testing.assert_array_equal(first.embeddings, emb[:8])
    batches.close()  # the decoding thread is joined, nothing left running
    assert np.array_equal(files.read().embeddings, emb)
    # Garbage over the last row group's pages, footer intact: the error comes from the
    # decoding thread, mid-stream, and names the file.
    meta = pq.ParquetFile(path).metadata
    start = meta.row_group(4).column(0).data_page_offset
    raw = bytearray(path.read_bytes())
    raw[start : start + 64] = b"\xff" * 64
    path.write_bytes(bytes(raw))
    reader = EmbeddingFiles(path, batch_rows=8)
    with pytest.raises(UserError, match="t.parquet: cannot read"):
        reader.read()
