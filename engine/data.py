"""Embedding sources from the `data` config: files on disk, an AnnData .h5ad file or the
synthetic corpus.

Both offer the same interface (`dim`, `n_rows`, `metadata_columns()`, `batches(columns)`,
`read(columns)`), so jobs stream rows the same way whatever the source.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from engine.config import DataConfig
from engine.errors import UserError
from engine.io.embeddings import Batch, EmbeddingFiles
from engine.synthetic import tweets


@dataclass
class SyntheticTweets:
    """The synthetic tweet corpus, generated chunk by chunk on demand (deterministic)."""

    n_rows: int
    seed: int
    truth: tweets.TweetTruth
    n_labelled: int
    batch_rows: int = 65536
    id_column: str = "id"
    dropped: int = field(default=0, init=False)

    @property
    def dim(self) -> int:
        return self.truth.centres.shape[1]

    def metadata_columns(self) -> list[str]:
        table, _, _ = tweets.generate_chunk(self.truth, 0, 1, self.seed)
        return table.column_names

    def batches(self, columns: list[str] | None = None) -> Iterator[Batch]:
        for batch, _ in tweets.iter_chunks(self.truth, self.n_rows, self.seed, self.batch_rows):
            yield Batch(_select(batch.table, columns, self.id_column), batch.embeddings)

    def read(self, columns: list[str] | None = None) -> Batch:
        parts = list(self.batches(columns))
        return Batch(pa.concat_tables([p.table for p in parts]),
                     np.concatenate([p.embeddings for p in parts]))

    def topics(self) -> np.ndarray:
        """Planted topic of every row (-1: diffuse)."""
        return np.concatenate([t for _, t in tweets.iter_chunks(self.truth, self.n_rows,
                                                                self.seed, self.batch_rows)])

    def ratings(self) -> pa.Table:
        ids = tweets.labelled_ids(self.n_rows, self.n_labelled, self.seed)
        parts = []
        for batch in self.batches([self.id_column]):
            lo = batch.table.column(0)[0].as_py()
            sel = ids[(ids >= lo) & (ids < lo + len(batch))]
            if len(sel):
                parts.append(tweets.rate(self.truth, sel, batch.embeddings[sel - lo], self.seed))
        return pa.concat_tables(parts)


def _select(table: pa.Table, columns: list[str] | None, id_column: str) -> pa.Table:
    if columns is None:
        return table
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise UserError(f"synthetic tweets: no column {missing[0]!r}")
    return table.select([id_column, *[c for c in columns if c != id_column]])


def check_synthetic_sizes(data: DataConfig) -> None:
    """Refuse synthetic sizes the generator cannot honour, naming the key."""
    minimum = {"n_rows": 1, "dim": 8, "n_topics": 1, "n_users": 1, "n_days": 1, "batch_rows": 1}
    for key, low in minimum.items():
        if getattr(data, key) < low:
            raise UserError(f"data.{key}={getattr(data, key)}: must be at least {low}")
    if data.n_basins < 0 or data.n_labelled < 0:
        raise UserError("data.n_basins and data.n_labelled must not be negative")
    try:
        tweets.check_basin_window(data.basin_window, "data.basin_window")
    except ValueError as exc:
        raise UserError(str(exc)) from None
    try:
        np.datetime64(data.start_date, "ns")
    except ValueError:
        raise UserError(f"data.start_date={data.start_date!r}: not a date (YYYY-MM-DD)") from None


def planted_truth(data: DataConfig, seed: int):
    """The planted-basins truth of `data` (data=synthetic data.planted=true), validated."""
    from engine.synthetic import planted

    check_synthetic_sizes(data)
    if data.planted_dim < 1:
        raise UserError(f"data.planted_dim={data.planted_dim}: must be at least 1")
    spread = list(data.planted_spread)
    if len(spread) != 2 or not 0 < spread[0] <= spread[1] <= 0.2:
        raise UserError(f"data.planted_spread={spread}: expected [min, max] with "
                        "0 < min <= max <= 0.2 (the box is [0, 1])")
    try:
        return planted.from_config(data, seed)
    except ValueError as exc:
        raise UserError(f"data.planted_{exc}") from None


def open_embeddings(data: DataConfig, seed: int, dtype=np.float32
                    ) -> EmbeddingFiles | SyntheticTweets:
    """The embedding rows named by `data` (data=files, data=anndata or data=synthetic)."""
    if data.name == "synthetic":
        check_synthetic_sizes(data)
        truth = tweets.make_truth(data.n_topics, data.n_basins, data.dim, data.n_users,
                                  data.n_days, data.start_date, seed, tuple(data.basin_window))
        return SyntheticTweets(data.n_rows, seed, truth, data.n_labelled, data.batch_rows)
    if data.name == "files":
        if not data.path:
            raise UserError("data=files needs data.path=FILE|DIR|GLOB")
        return EmbeddingFiles(data.path, data.id_column, data.embedding_column, data.batch_rows,
                              data.drop_invalid, dtype)
    if data.name == "anndata":
        if not data.path:
            raise UserError("data=anndata needs data.path=FILE.h5ad")
        from engine.io.h5ad import AnnDataEmbeddings

        return AnnDataEmbeddings(data.path, data.id_column, data.embedding_key, data.batch_rows,
                                 data.drop_invalid, dtype)
    raise UserError(f"data={data.name!r} has no embeddings (expected synthetic, files or "
                    "anndata)")
