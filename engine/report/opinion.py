"""Report of `job=opinion`: the opinion map (voters in 2-D coloured by group, as Polis draws
it), representative statements per group, consensus statements."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from engine.report import svg
from engine.report.common import group_codes, numeric, pick, read, sample
from engine.report.html import Section

MAX_VOTERS = 5000


def sections(run_dir: Path) -> list[Section]:
    s = Section("Opinion groups")
    voters = read(run_dir, "voters.parquet")
    if voters is None:
        return [s.note("No voters.parquet in this run.")]
    s.figures(opinion_map(voters))
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


def opinion_map(voters: pl.DataFrame):
    pts = sample(voters, MAX_VOTERS)
    group = pts["group"] if "group" in pts.columns else pl.Series("group", [None] * len(pts))
    codes, names = group_codes(group)
    order = sorted(range(len(names)), key=lambda i: _as_number(names[i]))
    remap = {old: new for new, old in enumerate(order)}
    codes = np.array([remap.get(c, -1) for c in codes])
    names = [f"group {names[i]}" for i in order]
    x, y = numeric(pts, "x"), numeric(pts, "y")
    centres = [(float(np.nanmean(x[codes == g])), float(np.nanmean(y[codes == g])), n)
               for g, n in enumerate(names) if (codes == g).any()]
    n_votes = numeric(pts, "n_votes") if "n_votes" in pts.columns else np.ones(len(pts))
    radius = 1.5 + 2.5 * np.sqrt(n_votes / max(np.nanmax(n_votes), 1))
    n_out = int((codes < 0).sum())
    return (svg.scatter(x, y, groups=codes, group_names=names, title="Opinion map",
                        xlabel="PC1", ylabel="PC2", radius=radius, labels=centres),
            f"{len(pts):,} voters" + (f" ({n_out} outside the in-conversation filter, grey)"
                                      if n_out else "") + "; dot size ~ votes cast")


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


def _as_number(v: str) -> float:
    try:
        return float(v)
    except ValueError:
        return float("inf")
