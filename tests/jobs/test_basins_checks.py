"""`job=basins` settings refused before any row is read, each with one line naming the key
(before: `bin_size_candidates=[0,7]` ended in ZeroDivisionError, `min_cluster_frac=2` and
`bin_size_days=0` under tuning were accepted silently)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from engine.errors import UserError
from engine.jobs.basins import Params, check
from tests.test_app import engine_cli


@pytest.mark.parametrize("settings, message", [
    ({"bin_size_candidates": [0.0, 7.0]}, r"job.bin_size_candidates=\[0,7\]: 0.0 is not > 0"),
    ({"bin_size_days": 0.0}, r"job.bin_size_days=0: 0.0 is not > 0"),  # under tune=true
    ({"bin_size_days": -7.0, "tune": False}, r"job.bin_size_days=-7"),
    ({"min_cluster_frac": 2.0}, r"job.min_cluster_frac=2: 2.0 is not a fraction in \(0, 1\]"),
    ({"min_cluster_frac_candidates": [0.01, 0.0]}, r"job.min_cluster_frac_candidates=\[0.01,0\]"),
    ({"lambda_factors": [0.0, -1.0]}, r"job.lambda_factors=\[0,-1\]: -1.0 is negative"),
    ({"alpha_candidates": []}, r"job.alpha_candidates=\[\]: name at least one value"),
    ({"alpha": -0.5, "tune": False}, r"job.alpha=-0.5: -0.5 is negative"),
    ({"train_split": 1.0}, r"job.train_split=1.0: expected a fraction in \(0, 1\)"),
    ({"max_combos": 0}, r"job.max_combos=0: must be >= 1"),
    ({"final_n_bootstrap": 0}, r"job.final_n_bootstrap=0: must be >= 1"),
    ({"early_N": []}, r"job.early_N=\[\]: name at least one value"),
    ({"early_N": [0, 3]}, r"job.early_N=\[0,3\]: 0 is not >= 1"),
    ({"early_Tq": [0.5, 1.5]}, r"job.early_Tq=\[0.5,1.5\]: 1.5 is not a quantile"),
    ({"early_k_frac": [0.0]}, r"job.early_k_frac=\[0\]: 0.0 is not a fraction"),
    ({"early_N": [2], "early_S": [3]}, r"job.early_S=\[3\]: every S exceeds every N"),
])
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(UserError, match=message):
        check(Params(**settings))


def test_candidates_are_not_checked_without_tuning():
    check(Params(tune=False, bin_size_candidates=[0.0]))  # not used: no grid runs


def test_refused_on_the_command_line_before_reading(tmp_path):
    result = engine_cli("job=basins", "backend=cpu", "job.bin_size_candidates=[0,7]",
                        f"hydra.run.dir={tmp_path / 'out'}")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == "error: job.bin_size_candidates=[0,7]: 0.0 is not > 0"
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_csv_that_is_not_utf8_names_the_file_and_column(run_job, tmp_path):
    # Before: the text column was read as bytes and carried on.
    path = tmp_path / "coords.csv"
    pacsv.write_csv(pa.table({"id": [1, 2], "datetime": ["2024-01-01", "2024-01-02"],
                              "x": [0.1, 0.2], "y": [0.3, 0.4], "full_text": ["ok", "x"]}), path)
    path.write_bytes(path.read_bytes().replace(b'"x"\n', b'"caf\xe9"\n'))
    with pytest.raises(UserError, match=r"coords.csv: column 'full_text' is not UTF-8 text"):
        run_job("job=basins", "data=files", f"data.path={path}", "job.coords=[x,y]",
                "job.tune=false")
