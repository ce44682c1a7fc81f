"""Report of `job=stream`: cluster growth over the stream, cluster sizes, participation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from engine.report import svg
from engine.report.common import numeric, pick, read
from engine.report.html import Section

MAX_CLUSTERS = 10
MAX_STEPS = 400  # points per growth curve


def sections(run_dir: Path) -> list[Section]:
    s = Section("Stream clusters")
    assign = read(run_dir, "assignments.parquet")
    if assign is None:
        return [s.note("No assignments.parquet in this run.")]
    s.figures(*growth(assign))
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


def growth(assign: pl.DataFrame) -> list[tuple[str, str]]:
    """Messages per cluster as the stream goes on (row order = time order), and the number of
    clusters started so far."""
    cid = assign["cluster_id"].to_numpy()
    n = len(cid)
    steps = np.unique(np.linspace(1, n, min(n, MAX_STEPS)).astype(int))
    ids, counts = np.unique(cid, return_counts=True)
    top = ids[np.argsort(-counts)][:MAX_CLUSTERS]
    series = []
    for c in top:
        cum = np.cumsum(cid == c)
        series.append((f"cluster {c}", steps, cum[steps - 1]))
    figs = [(svg.lines(series, title="Growth of the largest clusters", xlabel="message",
                       ylabel="messages in cluster"),
             f"the {len(top)} largest of {len(ids)} clusters")]
    if "new_cluster" in assign.columns:
        started = np.cumsum(numeric(assign, "new_cluster"))
        conf = numeric(assign, "confidence") if "confidence" in assign.columns else None
        series = [("clusters", steps, started[steps - 1])]
        figs.append((svg.lines(series, title="Clusters started", xlabel="message",
                               ylabel="clusters"), "new clusters opened by the stream"))
        if conf is not None:
            figs.append((svg.step_hist({"confidence": conf}, bins=30,
                                       title="Assignment confidence", xlabel="cosine similarity"),
                         "1.0 for messages that opened a cluster"))
    return figs
