"""`report.html` of a run: one self-contained page built from the run directory's artifacts.

Each job has a module `engine.report.<job>` with `sections(run_dir) -> list[Section]`; it reads
the Parquet files and metrics the job wrote, never the job's code, so a report can be rebuilt
from any finished run: `python -m engine.report RUN_DIR JOB`. Its figures are the functions of
`engine.figures`, inlined as SVG. The page opens with the run's summary, then the job's
results, then the timings.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from engine.io.write import write_text
from engine.report.common import read_metrics, run_section, timings_section
from engine.report.html import Section, page

log = logging.getLogger("engine")


def job_sections(run_dir: Path, job: str) -> list[Section]:
    """The sections of `job`'s report; a section that fails becomes a note, not an error."""
    try:
        module = importlib.import_module(f"engine.report.{job}")
    except ModuleNotFoundError:
        return []
    try:
        return module.sections(Path(run_dir))
    except Exception as exc:  # a report never loses a run's results
        log.warning("report: %s sections failed: %s", job, exc)
        return [Section(job).note(f"could not build this part of the report: {exc}", warn=True)]


def build_report(run_dir: str | Path, job: str, metrics: dict[str, Any] | None = None) -> str:
    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir) if metrics is None else metrics
    timings = timings_section(metrics)
    sections = [run_section(metrics), *job_sections(run_dir, job), *([timings] if timings else [])]
    subtitle = f"{run_dir.resolve()} · backend {metrics.get('backend', '?')}"
    return page(f"{job} report", subtitle, sections)


def write_report(run_dir: str | Path, job: str, metrics: dict[str, Any] | None = None) -> Path:
    """Write `run_dir/report.html` atomically and return its path."""
    path = Path(run_dir) / "report.html"
    write_text(build_report(run_dir, job, metrics), path)
    return path


def write_report_safely(ctx, job: str, objective: float) -> None:
    """Write ctx's report.html before its metrics.json (still written last); a report that
    fails only logs a warning, so it never costs a run its results."""
    try:
        with ctx.stage("report"):
            write_report(ctx.out_dir, job, {**ctx.metrics, "objective": float(objective),
                                            "backend": ctx.backend.name})
    except Exception as exc:
        log.warning("report.html not written: %s", exc)
