"""`job=synth`: write the synthetic corpus to Parquet files, streamed in chunks.

`python -m engine job=synth data.n_rows=5500000 data.dim=768 job.float16=true` writes 5.5M
tweets without holding them in memory: `tweets.parquet` (id, datetime, user_id, counts,
category, full_text, embedding), `ratings.parquet` (the rated subset) and `truth.npz`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from engine.config import DataConfig
from engine.data import open_embeddings
from engine.errors import UserError
from engine.io.embeddings import embedding_array
from engine.io.write import write_npz, write_stream
from engine.run import RunContext
from engine.synthetic import tweets


@dataclass
class Params:
    name: str = "synth"
    float16: bool = False  # store embeddings as float16 (halves the file)
    row_group_rows: int = 65536


def check(params: Params, data: DataConfig) -> None:
    """Refuse settings the job cannot run with (one line, the key)."""
    if params.row_group_rows < 1:
        raise UserError(f"job.row_group_rows={params.row_group_rows}: must be at least 1")


def run(params: Params, data: DataConfig, ctx: RunContext) -> float:
    check(params, data)
    if data.planted:
        return _run_planted(params, data, ctx)
    source = open_embeddings(DataConfig(**{**vars(data), "name": "synthetic",
                                           "batch_rows": params.row_group_rows}), ctx.seed)
    dtype = np.float16 if params.float16 else np.float32
    n_chunks = -(-source.n_rows // params.row_group_rows)
    rated = tweets.labelled_ids(source.n_rows, data.n_labelled, ctx.seed)
    ratings = []

    def tables():  # the tweets' row groups; the rated rows' ratings collected on the way
        for batch in ctx.progress(source.batches(), n_chunks, "synth"):
            emb = batch.embeddings.astype(dtype)
            yield batch.table.append_column("embedding", embedding_array(emb))
            lo = batch.table.column(0)[0].as_py()
            sel = rated[(rated >= lo) & (rated < lo + len(batch))]
            if len(sel):
                ratings.append(tweets.rate(source.truth, sel, batch.embeddings[sel - lo],
                                           ctx.seed))

    with ctx.stage("write tweets"):
        write_stream(ctx.path("tweets.parquet"), tables())
        ctx.write_table("ratings.parquet", pa.concat_tables(ratings))
        t = source.truth
        write_npz(ctx.path("truth.npz"), centres=t.centres, axis_positions=t.axis_positions,
                  q=t.q, windows=t.windows, is_basin=t.is_basin)
    ctx.record(n_rows=source.n_rows, dim=source.dim, n_rated=len(rated))
    return float(source.n_rows)


def _run_planted(params: Params, data: DataConfig, ctx: RunContext) -> float:
    """Planted basins in noise: tweets.parquet (id, datetime, coordinates, counts,
    planted_basin) and truth.npz (centres, spreads, windows in days, intensities, counts)."""
    from engine.data import planted_truth
    from engine.synthetic import planted

    truth = planted_truth(data, ctx.seed)
    n_chunks = -(-truth.n_rows // params.row_group_rows)
    with ctx.stage("write tweets"):
        write_stream(ctx.path("tweets.parquet"), ctx.progress(
            planted.iter_chunks(truth, ctx.seed, params.row_group_rows), n_chunks, "synth"))
        write_npz(ctx.path("truth.npz"), centres=truth.centres, spreads=truth.spreads,
                  windows=truth.windows, intensities=truth.intensities, counts=truth.counts,
                  blob_centres=truth.blob_centres, blob_spreads=truth.blob_spreads)
    ctx.record(n_rows=truth.n_rows, dim=truth.dim, n_planted_basins=len(truth.centres))
    return float(truth.n_rows)
