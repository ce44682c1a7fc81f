"""`job=pipeline`: project -> basins -> communities -> balance on one dataset, one report."""

from __future__ import annotations

from dataclasses import dataclass

from engine.config import DataConfig
from engine.run import RunContext


@dataclass
class Params:
    name: str = "pipeline"


def run(params: Params, data: DataConfig, ctx: RunContext) -> float:
    from engine.data import open_embeddings

    with ctx.stage("load"):
        source = open_embeddings(data, ctx.seed)
        batch = source.read()
    ctx.record(n_rows=len(batch), dim=source.dim)
    return float(len(batch))
