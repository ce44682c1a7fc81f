"""Report of `job=opinion`: the opinion map (voters in 2-D coloured by group, as Polis draws
it), representative statements per group, consensus statements."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from engine.figures.opinion import opinion_map
from engine.figures.tables import pick
from engine.report.common import read, read_metrics
from engine.report.html import Section
from engine.report.tables import RunTables


def sections(run_dir: Path) -> list[Section]:
    s = Section("Opinion groups")
    tables = RunTables(run_dir)
    if "voters" not in tables:
        return [s.note("No voters.parquet in this run.")]
    s.plots(tables, read_metrics(run_dir), opinion_map)
    clusters = read(run_dir, "clusters.parquet")
    if clusters is not None:
        if "level" in clusters.columns:  # base clusters are many and small: groups first
            clusters = clusters.filter(pl.col("level") != "base")
        s.heading("Groups").table(clusters, max_rows=20)
    repness = read(run_dir, "repness.parquet")
    if repness is not None:
        s.heading("Representative statements per group").table(representative(repness),
                                                               max_rows=40)
    consensus = read(run_dir, "consensus.parquet")
    if consensus is not None:
        score = pick(consensus, "consensus", "score", "agree_prob", "p_agree")
        ranked = consensus.sort(score, descending=True) if score else consensus
        s.heading("Consensus statements").table(ranked, max_rows=15)
    return [s]


def representative(repness: pl.DataFrame) -> pl.DataFrame:
    """The top statements of each group by representativeness."""
    group = pick(repness, "group", "group_id")
    if group and "rank" in repness.columns:  # Polis's selection: ranked statements only
        return repness.filter(pl.col("rank").is_not_null()).sort([group, "rank"])
    score = pick(repness, "repness", "repness_test", "score", "repful")
    if not group or not score:
        return repness
    return (repness.sort([group, score], descending=[False, True])
            .group_by(group, maintain_order=True).head(5))
