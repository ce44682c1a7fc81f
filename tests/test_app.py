"""The Hydra app: composition, refusal of bad keys and types, one-line errors, run outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigKeyError, ValidationError

from tests.conftest import compose

ROOT = Path(__file__).resolve().parents[1]


def engine_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_defaults_compose():
    cfg = compose()
    assert cfg.job.name == "pipeline"
    assert cfg.data.name == "synthetic"
    assert cfg.backend.name == "auto"
    assert cfg.data.id_column == "id" and cfg.data.embedding_column == "embedding"
    assert cfg.data.time_column == "datetime" and cfg.data.user_column == "user_id"


def test_unknown_key_and_wrong_type_are_refused_at_composition():
    with pytest.raises((ConfigCompositionException, ConfigKeyError)):
        compose("job=synth", "job.no_such_key=1")
    with pytest.raises((ConfigCompositionException, ValidationError)):
        compose("job=synth", "job.float16=maybe")
    with pytest.raises((ConfigCompositionException, ValidationError)):
        compose("data.n_rows=many")
    with pytest.raises(ConfigCompositionException):
        compose("job=no_such_job")


@pytest.mark.parametrize(
    "args, message",
    [
        (["job=synth", "job.no_such_key=1"], "no_such_key"),
        (["data.n_rows=many"], "many"),
        (["backend=gpu", "job=synth"], "backend=gpu"),
        (["data=files", "data.path=/no/such/file.parquet", "job=pipeline"], "/no/such/file.parquet"),
    ],
)
def test_user_errors_are_one_line_with_exit_2(tmp_path, args, message):
    if "backend=gpu" in args:
        from tests.conftest import HAS_GPU

        if HAS_GPU:
            pytest.skip("a GPU is present")
    result = engine_cli(*args, f"hydra.run.dir={tmp_path / 'out'}")
    assert result.returncode == 2, result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_end_to_end_subprocess_writes_outputs_with_metrics_last(tmp_path):
    out = tmp_path / "run"
    result = engine_cli("job=synth", "data.n_rows=3000", "data.dim=16", "data.n_labelled=200",
                        "backend=cpu", "seed=5", f"hydra.run.dir={out}")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["backend"] == "cpu" and metrics["n_rows"] == 3000 and metrics["seed"] == 5
    assert "write tweets" in metrics["seconds"] and "numpy" in metrics["versions"]
    assert set(metrics["cpu_seconds"]) == set(metrics["seconds"])
    assert all(v >= 0 for v in metrics["cpu_seconds"].values())
    assert (out / ".hydra" / "config.yaml").exists()
    artifacts = [p for p in out.iterdir() if p.is_file() and p.name != "metrics.json"]
    newest = max(p.stat().st_mtime_ns for p in artifacts)
    assert (out / "metrics.json").stat().st_mtime_ns >= newest
    table = pq.read_table(out / "tweets.parquet")
    assert table.num_rows == 3000
    assert pq.read_table(out / "ratings.parquet").num_rows == 200


def test_same_seed_same_output(run_job):
    _, a, _ = run_job("job=synth", "data.n_rows=2000", "data.dim=8", "seed=1")
    _, b, _ = run_job("job=synth", "data.n_rows=2000", "data.dim=8", "seed=1")
    assert pq.read_table(a / "tweets.parquet").equals(pq.read_table(b / "tweets.parquet"))


def test_synth_float16_streams_row_groups(run_job):
    _, out, _ = run_job("job=synth", "data.n_rows=5000", "data.dim=8", "job.float16=true",
                        "job.row_group_rows=1000")
    f = pq.ParquetFile(out / "tweets.parquet")
    assert f.num_row_groups == 5
    t = f.schema_arrow.field("embedding").type
    assert pa.types.is_fixed_size_list(t) and t.list_size == 8 and pa.types.is_float16(t.value_type)


@pytest.mark.parametrize(
    "override, key",
    [("data.n_rows=0", "data.n_rows"), ("data.dim=0", "data.dim"),
     ("job.row_group_rows=0", "job.row_group_rows"), ("data.start_date=notadate", "data.start_date")],
)
def test_synth_refuses_impossible_sizes(run_job, override, key):
    from engine.errors import UserError

    with pytest.raises(UserError, match=key):
        run_job("job=synth", override)


@pytest.mark.parametrize("args, error", [
    (["job=communities", "job.reslution=2"],
     "error: job.reslution: no such key; closest: job.resolution, "),
    (["job=pipeline", "job.communities.reslution=2", "data.batchrows=9"],
     "error: job.communities.reslution: no such key; closest: job.communities.resolution, "),
    (["data.batchrows=9"], "error: data.batchrows: no such key; closest: data.batch_rows, "),
    (["seeed=2"], "error: seeed: no such key; closest: seed, "),
])
def test_typo_names_the_closest_keys_and_never_suggests_plus(tmp_path, args, error):
    # Hydra's advice, "To append to your config use +job.reslution=2", runs with the typo
    # silently ignored.
    result = engine_cli(*args, f"hydra.run.dir={tmp_path / 'out'}")
    assert result.returncode == 2
    assert result.stderr.startswith(error) and len(result.stderr.strip().splitlines()) == 1
    assert "+" not in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, error", [
    (["-m", "job=basins", "job.bin_sise_days=7,14"],
     "error: job.bin_sise_days: no such key; closest: job.bin_size_days, "),
    (["--multirun", "job=basins", "job.tunee=false", "job.bin_size_days=range(7,15,7)"],
     "error: job.tunee: no such key; closest: job.tune, "),
    (["-m", "hydra/launcher=local_parallel", "job=basins", "job.tune=false",
      "job.bin_sise_days=7,14"],
     "error: job.bin_sise_days: no such key; closest: job.bin_size_days, "),
    (["-m", "hydra/launcher=local_parallel", "hydra.launcher.n_jobz=2", "job=synth",
      "data.n_rows=100,200"],
     "error: hydra.launcher.n_jobz: no such key; closest: hydra.launcher.n_jobs, "),
    (["-m", "job=basins,communities", "job.bin_size_days=7,14"],
     "error: job.bin_size_days: no such key; closest: "),
])
def test_multirun_typo_is_refused_before_anything_launches(tmp_path, args, error):
    # The check runs before Hydra's launcher: no sweep folder, one line, no `+` advice.
    result = engine_cli(*args, f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(error) and len(result.stderr.strip().splitlines()) == 1
    assert "+" not in result.stderr
    assert not (tmp_path / "sweep").exists()


def test_multirun_typo_names_the_swept_choice_that_lacks_the_key():
    from engine.app import _sweep_key_error

    message = _sweep_key_error(["job=basins,communities", "job.bin_size_days=7,14"])
    assert message.endswith("(with job=communities)")
    assert _sweep_key_error(["job=basins,communities", "job.seed_count=1"]).startswith(
        "job.seed_count: no such key")


@pytest.mark.parametrize("overrides", [
    ["job=basins", "job.bin_size_days=7,14"],
    ["job=basins", "job.bin_size_days=range(7,15,7)", "seed=choice(1,2)"],
    ["job=glob(bas*)", "job.tune=false", "job.bin_size_days=interval(5,9)"],
    ["job=communities", "job.resolution=tag(log,interval(0.1,2))", "hydra/launcher=local_parallel",
     "hydra.launcher.n_jobs=2", "hydra.sweep.dir=x"],
])
def test_multirun_sweep_values_are_not_judged_only_keys(overrides):
    from engine.app import _sweep_key_error

    assert _sweep_key_error(overrides) is None


def documented_sweeps() -> list[list[str]]:
    """The overrides of every `python -m engine -m ...` command in the README and docs/sweeps.md
    (continuation lines joined, comments dropped)."""
    import shlex

    commands = []
    for doc in (ROOT / "README.md", ROOT / "docs" / "sweeps.md"):
        text = doc.read_text().replace("\\\n", " ")
        for line in text.splitlines():
            if "python -m engine -m " in line:
                args = shlex.split(line.split("python -m engine", 1)[1].split(" #")[0])
                commands.append([a for a in args if a not in ("-m", "--multirun")])
    return commands


def test_every_documented_sweep_passes_the_key_check():
    from engine.app import _sweep_key_error

    commands = documented_sweeps()
    assert len(commands) >= 6
    for overrides in commands:
        assert _sweep_key_error(overrides) is None, overrides
