"""Small real job outputs for the figure tests: each job run once on tiny synthetic data, its
tables and metrics read back as the figure functions take them."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import compose

# The pipeline's stages give project (with its held-out predictions), basins (with a two-combo
# tuning grid), communities and balance from one run; opinion and stream run alone.
STAGES = ("project", "basins", "communities", "balance")
TINY = {
    # The evidence stage is left out (its figures have their own tests): it was most of the run.
    "pipeline": ("job=pipeline", "data.n_rows=3000", "data.n_labelled=800", "job.basins.evidence=[]",
                 "job.basins.n_bootstrap=3", "job.basins.null_draws=3", "job.basins.tune=true",
                 "job.basins.bin_size_candidates=[14]",
                 "job.basins.min_cluster_frac_candidates=[0.01,0.02]",
                 "job.basins.lambda_factors=[0]", "job.basins.alpha_candidates=[1]",
                 "job.basins.early_N=[3]", "job.basins.early_S=[1]", "job.basins.early_Tq=[0.5]"),
    "opinion": ("job=opinion", "data.n_voters=300", "data.n_statements=30"),
    "stream": ("job=stream", "data.n_messages=3000"),
}


class Run:
    """A finished run: its directory, tables by name and metrics."""

    def __init__(self, out: Path):
        self.out = out
        self.tables = {p.stem: pq.read_table(p) for p in sorted(out.glob("*.parquet"))}
        self.metrics = json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="session")
def job_run(tmp_path_factory):
    """job_run(name) -> Run of that job on tiny synthetic data (each job runs once)."""
    from engine.app import run_config

    done: dict[str, Run] = {}

    def _run(job: str) -> Run:
        if job not in done:
            run = "pipeline" if job in STAGES else job
            out = tmp_path_factory.mktemp(run)
            run_config(compose("backend=cpu", *TINY[run]), str(out))
            done.update({s: Run(out / s) for s in STAGES} if run == "pipeline" else {job: Run(out)})
        return done[job]

    return _run
