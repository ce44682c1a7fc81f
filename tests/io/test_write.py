"""Atomic writers: a failure midway leaves no file (and no earlier file damaged) under the name."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.io.write import ParquetStreamWriter, atomic_path, write_json, write_parquet


def test_write_parquet_and_json(tmp_path):
    t = pa.table({"a": [1, 2, 3]})
    write_parquet(t, tmp_path / "x.parquet")
    assert pq.read_table(tmp_path / "x.parquet").equals(t)
    write_json({"k": 1}, tmp_path / "m.json")
    assert (tmp_path / "m.json").read_text().strip().startswith("{")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "x.parquet"]


def test_failure_midway_leaves_no_final_file(tmp_path):
    final = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError):
        with atomic_path(final) as tmp:
            tmp.write_bytes(b"half a file")
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_stream_writer_failure_keeps_previous_file(tmp_path):
    final = tmp_path / "rows.parquet"
    schema = pa.schema([("a", pa.int64())])
    with ParquetStreamWriter(final, schema) as w:
        w.write(pa.table({"a": [1, 2]}))
    with pytest.raises(ValueError):
        with ParquetStreamWriter(final, schema) as w:
            w.write(pa.table({"a": [7, 8, 9]}))
            raise ValueError("interrupted")
    assert pq.read_table(final).column("a").to_pylist() == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["rows.parquet"]


def test_stream_writer_writes_row_groups(tmp_path):
    final = tmp_path / "rows.parquet"
    schema = pa.schema([("a", pa.int64())])
    with ParquetStreamWriter(final, schema) as w:
        for i in range(3):
            w.write(pa.table({"a": [i] * 10}))
            assert not final.exists()  # only renamed into place on close
    assert w.rows == 30
    assert pq.ParquetFile(final).num_row_groups == 3
