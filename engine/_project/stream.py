"""Streaming helper: write projected row groups as they come."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa

from engine.errors import UserError
from engine.io.embeddings import Batch
from engine.io.write import ParquetStreamWriter


def projected_table(batch: Batch, columns: list[str], axes: list[str], values: np.ndarray
                    ) -> pa.Table:
    """The passthrough columns of a batch (id first) followed by one float32 column per axis."""
    table = batch.table.select(columns)
    for j, axis in enumerate(axes):
        table = table.append_column(pa.field(axis, pa.float32()), pa.array(values[:, j]))
    return table


def write_projected(path: str | Path, pairs: Iterable[tuple[Batch, np.ndarray]],
                    columns: list[str], axes: list[str]) -> int:
    """Write (batch, projections) pairs as row groups of one Parquet file; returns the row
    count. Nothing is left under `path` if anything fails midway."""
    writer = schema = None
    with contextlib.ExitStack() as stack:
        for batch, values in pairs:
            table = projected_table(batch, columns, axes, values)
            if writer is None:
                schema = table.schema
                writer = stack.enter_context(ParquetStreamWriter(path, schema))
            elif table.schema != schema:
                try:
                    table = table.cast(schema)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                    raise UserError(f"input files disagree on column types ({exc}); "
                                    f"choose columns with job.passthrough") from None
            writer.write(table)
        if writer is None:
            raise UserError("no rows to project")
        return writer.rows
