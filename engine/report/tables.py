"""A finished run's Parquet artifacts as the `tables` mapping the figure functions take."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

# Rows read of tables that only feed sampled figures: a uniform thinning keeps histograms and
# the totals between communities in proportion, at a report's cost instead of a job's.
ROW_LIMITS = {"edges": 2_000_000, "projected": 200_000}


class RunTables(Mapping[str, pa.Table]):
    """`run_dir/<name>.parquet` by name, read on first use (a report draws a few of many)."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self._read: dict[str, pa.Table] = {}

    def _path(self, name: str) -> Path:
        return self.run_dir / f"{name}.parquet"

    def __getitem__(self, name: str) -> pa.Table:
        if name not in self._read:
            path = self._path(name)
            if not path.is_file():
                raise KeyError(name)
            limit = ROW_LIMITS.get(name)
            n = pq.ParquetFile(path).metadata.num_rows
            if limit is None or n <= limit:
                self._read[name] = pq.read_table(path)
            else:
                every = -(-n // limit)
                self._read[name] = pl.scan_parquet(path).gather_every(every).collect().to_arrow()
        return self._read[name]

    def __iter__(self) -> Iterator[str]:
        return (p.stem for p in sorted(self.run_dir.glob("*.parquet")))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._path(name).is_file()
