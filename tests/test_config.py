"""Data settings checked once for every job, before anything runs."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.errors import UserError
from engine.jobs import JOBS
from tests.test_app import engine_cli


@pytest.mark.parametrize("job", JOBS)
def test_batch_rows_0_is_refused_for_every_job(run_job, job):
    with pytest.raises(UserError, match=r"data.batch_rows=0: must be at least 1"):
        run_job(f"job={job}", "data.batch_rows=0", "data.n_rows=500")


def test_batch_rows_0_on_files_is_one_line(tmp_path):
    # Before: pyarrow's "batch_size must be greater than zero" traceback (communities, balance).
    path = tmp_path / "emb.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "embedding": [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]}),
                   path)
    result = engine_cli("job=communities", "backend=cpu", "data=files", f"data.path={path}",
                        "data.batch_rows=0", f"hydra.run.dir={tmp_path / 'out'}")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: data.batch_rows=0: must be at least 1 (rows per batch)"
