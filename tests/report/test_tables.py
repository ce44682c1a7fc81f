"""A run's tables as the figures take them: read on use, big sampled tables thinned evenly."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.report import tables
from engine.report.tables import RunTables


def test_reads_each_parquet_by_name_and_thins_big_ones(tmp_path, monkeypatch):
    pq.write_table(pa.table({"src": np.arange(1000), "dst": np.arange(1000)[::-1]}),
                   tmp_path / "edges.parquet")
    pq.write_table(pa.table({"id": np.arange(1000)}), tmp_path / "labels.parquet")
    monkeypatch.setitem(tables.ROW_LIMITS, "edges", 300)
    run = RunTables(tmp_path)
    assert sorted(run) == ["edges", "labels"] and len(run) == 2 and "edges" in run
    assert "pairs" not in run
    with pytest.raises(KeyError):
        run["pairs"]
    assert run["labels"].num_rows == 1000  # labels are never thinned (row i = vertex i)
    edges = run["edges"]
    np.testing.assert_array_equal(edges["src"].to_numpy(), np.arange(0, 1000, 4))
    assert run["edges"] is edges  # read once
