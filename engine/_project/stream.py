"""Streaming helpers: read ahead in a thread, write projected row groups as they come."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa

from engine.errors import UserError
from engine.io.embeddings import Batch
from engine.io.write import ParquetStreamWriter

T = TypeVar("T")
_DONE = object()


def read_ahead(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Iterate `items` in a background thread, `depth` items ahead (Arrow/Parquet decoding and
    the projection kernels release the GIL, so reading overlaps computing)."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


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
