"""Every figure of the report as a function that returns a matplotlib `Figure`.

A figure function takes a job's tables (name -> pyarrow Table; the names are the job's
artifacts without `.parquet`: `labels`, `edges`, `pairs`, ...) and its metrics (what
`metrics.json` holds) and returns a new `matplotlib.figure.Figure`. Figures are built with
matplotlib's object API, never pyplot's global state, so they can be made in threads and on
machines without a display; `fig.savefig(...)` saves one, and in a notebook it displays
itself. Each figure's label (`fig.get_label()`) is a one-line caption. A figure whose inputs
are missing raises `FigureUnavailable`.

`figures_for(job)` names a job's figures; the report draws the same functions.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
from matplotlib.figure import Figure

from engine.figures.tables import FigureUnavailable

FigureFunction = Callable[[Mapping[str, pa.Table], Mapping[str, Any]], Figure]
JOBS = ("project", "basins", "communities", "balance", "opinion", "stream")

__all__ = ["JOBS", "FigureFunction", "FigureUnavailable", "figures_for"]


def figures_for(job: str) -> dict[str, FigureFunction]:
    """The figures of `job` by name (`plot_<name>` on a result), its run's timings included."""
    if job not in JOBS:
        raise ValueError(f"no figures for job {job!r}; jobs with figures: {', '.join(JOBS)}")
    from engine.figures.run import FIGURES as RUN

    return {**importlib.import_module(f"engine.figures.{job}").FIGURES, **RUN}
