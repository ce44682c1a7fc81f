"""The check that the API and the command line cannot drift apart: the same tables and the
same metrics (apart from timings) from one input."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from polars.testing import assert_frame_equal

# Metrics that measure the run rather than the data: wall-clock figures and where it ran.
VOLATILE = {"seconds", "cpu_seconds", "messages_per_second", "apply_rows_per_s", "run", "run_id", "state_dir",
            "cache"}


def assert_same_as_cli(result, out_dir: Path, cli_metrics: dict, ignore: set[str] = frozenset(),
                       same_types: bool = True):
    """`same_types=False` where the input's own types differ (pandas has no large_string)."""
    written = {p.name.removesuffix(".parquet"): pq.read_table(p)
               for p in out_dir.glob("*.parquet")}
    assert set(result.tables) == set(written)
    for name, table in written.items():
        assert result.tables[name].schema.equals(table.schema) or not same_types, name
        # exactly equal, NaN included (Arrow's equals() holds NaN unequal to itself)
        assert_frame_equal(pl.from_arrow(result.tables[name]), pl.from_arrow(table),
                           check_exact=True, check_dtypes=same_types)
    keys = set(cli_metrics) - VOLATILE - set(ignore)
    assert keys <= set(result.metrics)
    for key in keys:
        assert _same(result.metrics[key], cli_metrics[key]), key


def _same(a, b) -> bool:
    """Equal, where NaN equals NaN, and NaN and infinities equal metrics.json's null (strict
    JSON has neither)."""
    if isinstance(a, float) and not math.isfinite(a):
        return b is None or (isinstance(b, float) and (a == b or math.isnan(a) and math.isnan(b)))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b
