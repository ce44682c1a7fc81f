"""Report of `job=stream`: cluster growth over the stream, cluster sizes, participation."""

from __future__ import annotations

from pathlib import Path

from engine.figures import stream as figures
from engine.figures.tables import pick
from engine.report.common import read, read_metrics
from engine.report.html import Section
from engine.report.tables import RunTables


def sections(run_dir: Path) -> list[Section]:
    s = Section("Stream clusters")
    tables = RunTables(run_dir)
    if "assignments" not in tables:
        return [s.note("No assignments.parquet in this run.")]
    s.plots(tables, read_metrics(run_dir), figures.cluster_growth, figures.clusters_started,
            figures.confidence)
    clusters = read(run_dir, "clusters.parquet")
    if clusters is not None:
        size = pick(clusters, "size", "n", "count", "message_count")
        s.heading("Clusters").table(clusters.sort(size, descending=True) if size else clusters,
                                    max_rows=15)
    users = read(run_dir, "user_clusters.parquet")
    if users is not None and "participation_score" in users.columns:
        s.heading("Top participation").table(users.sort("participation_score",
                                                        descending=True), max_rows=15)
    return [s]
