"""Report of `job=communities`: community sizes, a map, per-community table, top neurons."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from engine.figures import communities as figures
from engine.report.common import read, read_metrics
from engine.report.html import Section
from engine.report.tables import RunTables


def sections(run_dir: Path) -> list[Section]:
    s = Section("Communities")
    tables = RunTables(run_dir)
    if "labels" not in tables:
        return [s.note("No labels.parquet in this run.")]
    s.plots(tables, read_metrics(run_dir), figures.community_sizes, figures.community_map)
    table = read(run_dir, "communities.parquet")
    if table is not None:
        lists = [c for c, t in table.schema.items() if isinstance(t, pl.List)]  # member ids
        s.heading("Per community").table(table.drop(lists), max_rows=20)
    neurons = read(run_dir, "top_neurons.parquet")
    if neurons is not None:
        s.heading("Top neurons per community").table(neurons, max_rows=20)
    return [s]
