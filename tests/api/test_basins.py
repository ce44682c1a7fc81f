"""`engine.basins`: the same outputs as `job=basins` on one table."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

import engine
from tests.api.same_as_cli import assert_same_as_cli
from tests.jobs.test_basins import _table

# Three null draws: significance, the detection limit and the forecast's null compared too.
FAST = dict(tune=False, n_bootstrap=3, null_draws=3, bin_size_days=14)


def test_same_tables_and_metrics_as_the_job(run_job, tmp_path):
    table = _table()
    path = tmp_path / "in.parquet"
    pq.write_table(table, path)
    _, out, m = run_job("job=basins", "data=files", f"data.path={path}", "job.coords=[x,y]",
                        "job.tune=false", "job.n_bootstrap=3", "job.null_draws=3",
                        "job.bin_size_days=14", "seed=1")
    for given, same_types in ((table, True), (table.to_pandas(), False)):  # pandas: ns times
        result = engine.basins(given, coords=["x", "y"], random_state=1, backend="cpu",
                               **FAST)
        assert_same_as_cli(result, out, m, same_types=same_types)
    assigned = result.to_polars()
    assert set(assigned["id"].to_list()) <= set(range(table.num_rows))
    assert assigned.columns == ["id", "part", "bin", "cluster", "basin_id", "confidence"]


def test_errors_name_the_column_or_keyword():
    table = _table(200)
    with pytest.raises(ValueError, match="data: no column 'z'"):
        engine.basins(table, coords=["x", "z"], backend="cpu", **FAST)
    with pytest.raises(ValueError, match=r"^null_draws=1: at least 3 null draws"):
        engine.basins(table, coords=["x", "y"], backend="cpu",
                      **{**FAST, "null_model": True, "null_draws": 1})
    times = table["datetime"].to_numpy().astype(str)
    times[5] = "yesterday"
    bad = table.set_column(1, "datetime", [times.tolist()])
    with pytest.raises(ValueError, match="unparseable time: value 'yesterday' at id 5"):
        engine.basins(bad, coords=["x", "y"], backend="cpu", **FAST)
