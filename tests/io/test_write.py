"""Atomic writers: a failure midway leaves no file (and no earlier file damaged) under the name."""

from __future__ import annotations

import json

import numpy as np
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


def _strict(text: str):
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_json_writes_nan_and_infinity_as_null_and_says_which(tmp_path, caplog):
    path = tmp_path / "metrics.json"
    write_json({"objective": float("nan"), "r": [1.0, np.float32("inf")],
                "by_k": {"2": np.float64("-inf"), "3": 0.5}, "n": np.int64(4)}, path)
    assert _strict(path.read_text()) == {"objective": None, "r": [1.0, None],
                                         "by_k": {"2": None, "3": 0.5}, "n": 4}
    assert "objective=nan, r[1]=inf, by_k.2=-inf" in caplog.text
