"""Ratings: read the rated table and join it to the embeddings by id.

A ratings table has an id column and one numeric column per axis. Rows whose id has no
embedding are counted (reported in metrics, not fatal); a missing value excludes that row from
that axis only. Embedding rows are gathered in one streaming pass, so only the rated rows are
held in memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import UserError
from engine.io.embeddings import Batch, _open_table_batches, read_schema


@dataclass
class Rated:
    """Rated rows joined to their embeddings (row i of `x` is rated by row i of `y`)."""

    ids: pa.Array
    x: np.ndarray  # (n, d) float64
    y: np.ndarray  # (n, k) float64, NaN where an axis is missing
    axes: list[str]
    n_ratings: int  # rows in the ratings table
    n_unknown: int  # ratings whose id has no embedding
    unknown_examples: list  # a few of those ids


def read_ratings(path: str | Path, id_column: str, axes: list[str]) -> pa.Table:
    """The id column and the axis columns (float64, nulls for missing) of a ratings file."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"job.ratings_path={path}: no such file")
    names = read_schema(path).names
    for column in [id_column, *axes]:
        if column not in names:
            key = "job.rating_id_column" if column == id_column else "job.axes"
            raise UserError(f"{path}: no column {column!r} (columns: {', '.join(names)}; "
                            f"set {key})")
    batches = list(_open_table_batches(path, [id_column, *axes], 1 << 20))
    table = pa.Table.from_batches(batches) if batches else pa.table({})
    if table.num_rows == 0:
        raise UserError(f"{path}: no rows")
    return ratings_table(table, id_column, axes, str(path))


def ratings_table(table: pa.Table, id_column: str, axes: list[str], where: str) -> pa.Table:
    """Validate a ratings table: unique non-null ids, numeric axes -> (id, axes as float64)."""
    ids = table.column(id_column)
    if ids.null_count:
        raise UserError(f"{where}: column {id_column!r} has {ids.null_count} missing ids")
    if pc.count_distinct(ids).as_py() != len(ids):
        counts = pc.value_counts(ids).to_pylist()
        dup = next(c["values"] for c in counts if c["counts"] > 1)
        raise UserError(f"{where}: id {dup!r} is rated more than once")
    columns = {"id": ids}
    for axis in axes:
        col = table.column(axis)
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)
                or pa.types.is_decimal(col.type) or pa.types.is_null(col.type)):
            raise UserError(f"{where}: column {axis!r} has type {col.type}, expected numbers")
        columns[axis] = pc.cast(col, pa.float64())
    return pa.table(columns)


def join(ratings: pa.Table, batches: Iterable[Batch], axes: list[str], where: str) -> Rated:
    """Gather the embeddings of the rated ids from a stream of batches."""
    rated_ids = ratings.column("id").combine_chunks()
    found_ids, found_x = [], []
    value_set = None
    for batch in batches:
        ids = batch.table.column(0)
        if value_set is None:
            value_set = _cast_like(rated_ids, ids.type, where)
        try:
            mask = pc.is_in(ids, value_set=value_set)
        except pa.ArrowInvalid as exc:
            raise UserError(f"{where}: ids cannot be matched to the embedding ids: {exc}") from None
        rows = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
        if len(rows):
            found_ids.append(ids.take(pa.array(rows)))
            found_x.append(np.asarray(batch.embeddings[rows], np.float64))
    if not found_x:
        raise UserError(f"{where}: none of the {len(rated_ids)} rated ids has an embedding")
    ids = pa.chunked_array(found_ids).combine_chunks()
    x = np.concatenate(found_x)
    rating_row = pc.index_in(ids, value_set=value_set)
    rating_row = rating_row.to_numpy(zero_copy_only=False)
    # An id repeated among the embeddings is rated once: keep its first row.
    rating_row, first = np.unique(rating_row, return_index=True)
    ids, x = ids.take(pa.array(first)), x[first]
    y = np.column_stack([
        ratings.column(a).combine_chunks().take(pa.array(rating_row))
        .to_numpy(zero_copy_only=False).astype(np.float64) for a in axes
    ])
    known = np.zeros(len(rated_ids), bool)
    known[rating_row] = True
    unknown = np.flatnonzero(~known)
    return Rated(ids, x, y, list(axes), len(rated_ids), len(unknown),
                 rated_ids.take(pa.array(unknown[:5])).to_pylist())


def check_axes(rated: Rated, where: str) -> None:
    """Every axis needs at least two distinct values among the rows with embeddings."""
    for j, axis in enumerate(rated.axes):
        values = rated.y[:, j][~np.isnan(rated.y[:, j])]
        if len(values) == 0:
            raise UserError(f"{where}: column {axis!r} has no ratings for ids with embeddings")
        if np.all(values == values[0]):
            raise UserError(f"{where}: column {axis!r} is constant ({values[0]:g}) over the "
                            f"{len(values)} rated rows; nothing to fit")


def _cast_like(values: pa.Array, target: pa.DataType, where: str) -> pa.Array:
    """Rating ids in the embedding id type (CSV ids may read as integers, stored as strings)."""
    if values.type == target:
        return values
    try:
        return pc.cast(values, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise UserError(f"{where}: rating ids of type {values.type} cannot be matched to "
                        f"embedding ids of type {target}: {exc}") from None
