"""Report of `job=pipeline`: each stage's report, from the stage's subdirectory, and the
stages' timings after all their results."""

from __future__ import annotations

from pathlib import Path

from engine.report.common import read_metrics, run_section, timings_section
from engine.report.html import Section

STAGES = ("project", "basins", "communities", "balance")


def sections(run_dir: Path) -> list[Section]:
    from engine.report import job_sections

    out, timings = [], []
    for stage in STAGES:
        sub = Path(run_dir) / stage
        if not sub.is_dir():
            continue
        metrics = read_metrics(sub)
        out.append(run_section(metrics, title=f"{stage}: run"))
        for s in job_sections(sub, stage):
            s.title = f"{stage}: {s.title}"
            out.append(s)
        timed = timings_section(metrics, title=f"{stage}: timings")
        if timed:
            timings.append(timed)
    return out + timings
