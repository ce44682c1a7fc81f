"""What the public functions accept, turned into what the jobs' cores take.

Tables may be pyarrow Tables, polars or pandas DataFrames, or dicts of columns; embeddings a
2-D NumPy array, a table with an embedding column (a list per row) or `e0..e{d-1}` columns, or
a file path (file, directory or glob) that the job then streams as `data=files` does.
Missing columns and bad values are `UserError`s (a ValueError) naming the column.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from engine.errors import UserError
from engine.io.embeddings import WIDE, Batch, EmbeddingFiles, list_to_numpy, validate_rows

BATCH_ROWS = 65536


def is_path(value: Any) -> bool:
    return isinstance(value, (str, Path))


def as_table(value: Any, what: str) -> pa.Table:
    """A pyarrow Table from a pyarrow Table, polars or pandas DataFrame or dict of columns."""
    if isinstance(value, pa.Table):
        return value
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value])
    module = type(value).__module__.split(".")[0]
    if module == "polars":
        return value.to_arrow()
    if module == "pandas":
        return pa.Table.from_pandas(value, preserve_index=False)
    if isinstance(value, dict):
        return pa.table({k: _column(v) for k, v in value.items()})
    raise UserError(f"{what}: expected a table (pyarrow, polars or pandas DataFrame, or a dict "
                    f"of columns), got {type(value).__name__}")


def _column(values: Any):
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    module = type(values).__module__.split(".")[0]
    if module in ("polars", "pandas"):  # a Series
        return pa.array(values.to_numpy())
    arr = np.asarray(values)
    return pa.array(arr.tolist() if arr.dtype == object else arr)


def column(table: pa.Table, name: str, what: str, setting: str) -> pa.ChunkedArray:
    """`table[name]`, or an error naming the column and the setting that names it."""
    if name not in table.column_names:
        raise UserError(f"{what}: no column {name!r} (set {setting}=...; the columns are "
                        f"{', '.join(table.column_names)})")
    return table.column(name)


def with_column(table: pa.Table, name: str, values: Any, what: str) -> pa.Table:
    """`table` with column `name` set from `values` (one per row)."""
    values = _column(values)
    if len(values) != table.num_rows:
        raise UserError(f"{what}: {len(values)} values for {table.num_rows} rows")
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, values)
    return table.append_column(name, values)


def embedding_matrix(table: pa.Table, embedding_column: str, what: str) -> np.ndarray:
    """The embeddings of a table: its `embedding_column` (a list per row) or e0..e{d-1}."""
    if embedding_column in table.column_names:
        col = table.column(embedding_column)
        if not (pa.types.is_list(col.type) or pa.types.is_large_list(col.type)
                or pa.types.is_fixed_size_list(col.type)):
            raise UserError(f"{what}: column {embedding_column!r} has type {col.type}, "
                            "expected a list of floats per row")
        if not len(col):
            return np.zeros((0, 0), np.float32)
        dim = col.type.list_size if pa.types.is_fixed_size_list(col.type) else int(
            col.combine_chunks().value_lengths()[0].as_py() or 0)
        ids = pa.array(np.arange(len(col)))  # row numbers name the bad rows
        return list_to_numpy(col, dim, f"{what}: column {embedding_column!r}", ids)
    wide = sorted(int(m.group(1)) for n in table.column_names if (m := WIDE.match(n)))
    if wide and wide == list(range(len(wide))):
        return np.column_stack([table.column(f"e{i}").to_numpy(zero_copy_only=False)
                                for i in wide])
    raise UserError(f"{what}: no column {embedding_column!r} and no e0..e<d-1> columns "
                    "(set embedding_column=...)")


def _matrix(X: Any, what: str) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise UserError(f"{what}: expected a 2-D array (rows x dimensions), got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float32)
    return X


@dataclass
class ArrayRows:
    """Rows held in memory, offered as the jobs' row sources are (`engine.data`): `dim`,
    `n_rows`, `metadata_columns()` (id first), `batches(columns)`, `read(columns)`."""

    table: pa.Table  # id column first, then the other columns
    embeddings: np.ndarray
    where: str
    drop_invalid: bool = False
    batch_rows: int = BATCH_ROWS
    dropped: int = field(default=0, init=False)

    @property
    def id_column(self) -> str:
        return self.table.column_names[0]

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    @property
    def n_rows(self) -> int:
        return self.table.num_rows

    def metadata_columns(self) -> list[str]:
        return list(self.table.column_names)

    def batches(self, columns: list[str] | None = None) -> Iterator[Batch]:
        self.dropped = 0  # per pass, as EmbeddingFiles counts
        table = self._select(columns)
        for lo in range(0, self.n_rows, self.batch_rows):
            batch = Batch(table.slice(lo, self.batch_rows),
                          self.embeddings[lo: lo + self.batch_rows])
            batch, dropped = validate_rows(batch, self.where, self.id_column, self.drop_invalid)
            self.dropped += dropped
            if len(batch):
                yield batch

    def read(self, columns: list[str] | None = None) -> Batch:
        parts = list(self.batches(columns))
        if not parts:
            raise UserError(f"{self.where}: no valid rows")
        return Batch(pa.concat_tables([p.table for p in parts]),
                     np.concatenate([p.embeddings for p in parts]))

    def _select(self, columns: list[str] | None) -> pa.Table:
        if columns is None:
            return self.table
        missing = [c for c in columns if c not in self.table.column_names]
        if missing:
            raise UserError(f"{self.where}: no column {missing[0]!r}")
        return self.table.select([self.id_column, *[c for c in columns if c != self.id_column]])


def embedding_rows(X: Any, *, ids: Any = None, columns: dict[str, Any] | None = None,
                   id_column: str = "id", embedding_column: str = "embedding",
                   drop_invalid: bool = False, dtype: Any = np.float32, what: str = "X"
                   ) -> ArrayRows | EmbeddingFiles:
    """The rows of `X` (array, table or path) with their ids and the extra `columns` (name ->
    one value per row), as a row source of the jobs.

    Ids come from `ids`, else from the table's `id_column`, else they are row numbers."""
    if is_path(X):
        if ids is not None or columns:
            raise UserError(f"{what}: ids and per-row columns come from the file itself when "
                            "X is a path")
        return EmbeddingFiles(str(X), id_column, embedding_column, BATCH_ROWS, drop_invalid,
                              dtype)
    if isinstance(X, (np.ndarray, list, tuple)):
        emb = _matrix(X, what)
        table = pa.table({id_column: _column(ids) if ids is not None else np.arange(len(emb))})
    else:
        table = as_table(X, what)
        emb = embedding_matrix(table, embedding_column, what)
        table = table.drop_columns([c for c in table.column_names
                                    if c == embedding_column or WIDE.match(c)])
        if ids is not None:
            table = with_column(table, id_column, ids, f"{what}: ids")
        elif id_column not in table.column_names:
            table = table.add_column(0, id_column, pa.array(np.arange(len(emb))))
    if dtype is not None and emb.dtype != dtype:
        emb = emb.astype(dtype)
    if table.num_rows != len(emb):
        raise UserError(f"{what}: {table.num_rows} ids for {len(emb)} rows")
    for name, values in (columns or {}).items():
        if values is not None:
            table = with_column(table, name, values, f"{what}: {name}")
    table = table.select([id_column, *[c for c in table.column_names if c != id_column]])
    return ArrayRows(table, emb, what, drop_invalid)
