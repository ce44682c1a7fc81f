"""`job=pipeline`: every stage's settings are checked before the first stage runs, and errors
name the pipeline's full key (before: `job.communities.k=0` failed after project and basins
had run, naming `k`)."""

from __future__ import annotations

import pytest

from engine.errors import UserError
from engine.jobs.pipeline import qualified_keys
from tests.test_app import engine_cli


@pytest.mark.parametrize("override, message", [
    ("job.communities.k=0", "job.communities.k=0: must be at least 1"),
    ("job.balance.tile_mb=0", "job.balance.tile_mb=0: must be at least 1"),
    ("job.basins.min_cluster_frac=2", "job.basins.min_cluster_frac=2: 2.0 is not a fraction"),
    ("job.project.n_folds=1", "job.project.n_folds=1: need at least 2 folds"),
    ("job.communities.graph=ring", "job.communities.graph='ring': expected one of"),
])
def test_a_late_stage_setting_is_refused_before_the_first_stage(tmp_path, override, message):
    out = tmp_path / "out"
    result = engine_cli("backend=cpu", override, f"hydra.run.dir={out}")
    assert result.returncode == 2, result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {message}"), result.stderr
    assert not (out / "project").exists()  # no stage ran


def test_errors_raised_inside_a_stage_name_the_full_key():
    with pytest.raises(UserError) as caught, qualified_keys("basins"):
        raise UserError("job.bin_size_days=7 gives 3 rows per bin; at least 22 are needed "
                        "(2 x max(job.min_cluster_size_global, job.min_samples + 1)); "
                        "/data/job.csv and data.job.x are not keys")
    assert str(caught.value) == (
        "job.basins.bin_size_days=7 gives 3 rows per bin; at least 22 are needed "
        "(2 x max(job.basins.min_cluster_size_global, job.basins.min_samples + 1)); "
        "/data/job.csv and data.job.x are not keys")
