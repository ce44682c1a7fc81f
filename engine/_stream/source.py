"""The stream's input as batches of (ids, times, users, embeddings, planted topics or None):
files through `engine.data.open_embeddings`, or the synthetic message stream."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from engine.config import DataConfig
from engine.errors import UserError
from engine.io.times import to_datetime64


@dataclass
class Messages:
    ids: pa.Array
    times: np.ndarray  # int64 ns
    users: np.ndarray
    embeddings: np.ndarray
    topics: np.ndarray | None = None  # planted topic (synthetic data only)

    def __len__(self) -> int:
        return len(self.times)

    def take(self, rows: np.ndarray) -> Messages:
        return Messages(self.ids.take(pa.array(rows)), self.times[rows], self.users[rows],
                        self.embeddings[rows], None if self.topics is None else self.topics[rows])


def concat(parts: list[Messages]) -> Messages:
    topics = None if any(p.topics is None for p in parts) else np.concatenate(
        [p.topics for p in parts])
    return Messages(pa.chunked_array([p.ids for p in parts]).combine_chunks(),
                    np.concatenate([p.times for p in parts]),
                    np.concatenate([p.users for p in parts]),
                    np.concatenate([p.embeddings for p in parts]), topics)


def describe(data: DataConfig) -> str:
    return "synthetic messages" if data.name == "synthetic" else str(data.path)


def count(data: DataConfig, seed: int) -> int:
    if data.name == "synthetic":
        return data.n_messages
    from engine.data import open_embeddings

    return open_embeddings(data, seed).n_rows


def read(data: DataConfig, seed: int) -> Iterator[Messages]:
    if data.name == "synthetic":
        from engine.synthetic import messages

        truth = messages.make_truth(data.n_messages, data.n_stream_topics, data.dim,
                                    data.n_users, data.n_days, data.start_date, seed)
        for table, emb, topics in messages.iter_chunks(truth, seed, data.batch_rows):
            yield Messages(table.column("id").combine_chunks(),
                           table.column("datetime").to_numpy().astype(np.int64),
                           table.column("user_id").to_numpy(), emb, topics)
        return
    from engine.data import open_embeddings

    yield from read_rows(open_embeddings(data, seed), str(data.path), data.id_column,
                         data.time_column, data.user_column)


def read_rows(source, where: str, id_column: str, time_column: str, user_column: str
              ) -> Iterator[Messages]:
    """The messages of a row source (`engine.data`: files, or rows held in memory)."""
    available = source.metadata_columns()
    for col, key in ((time_column, "data.time_column"), (user_column, "data.user_column")):
        if col not in available:
            raise UserError(f"{where}: no column {col!r} (set {key})")
    for batch in source.batches([time_column, user_column]):  # id comes first
        ids = batch.table.column(id_column).combine_chunks()
        times = to_datetime64(batch.table.column(time_column), f"{where}: column "
                              f"{time_column!r}", ids.to_pylist())
        users = batch.table.column(user_column)
        if users.null_count:
            row = int(np.flatnonzero(users.is_null().to_numpy(zero_copy_only=False))[0])
            raise UserError(f"{where}: column {user_column!r} is missing for id "
                            f"{ids[row].as_py()!r}")
        yield Messages(ids, times.astype(np.int64), users.to_numpy(), batch.embeddings)
