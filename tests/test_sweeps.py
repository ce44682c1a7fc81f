"""Hydra multirun: the presets compose, sweeps run through submitit and Optuna, studies resume.

Sweeps spawn worker processes, so they run `python -m engine -m ...` in a subprocess from the
repository root, on tiny synthetic data (the `synth` job's objective is its row count, which
makes the objective each trial must report known in advance).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf

from tests.conftest import HAS_GPU

ROOT = Path(__file__).resolve().parents[1]
# A few months of synthetic tweets: enough for the basins objective (train continuation AUROC)
# to be defined, few enough for a run in seconds.
BASINS = ["job=basins", "job.tune=false", "job.null_model=false",
          "data.n_rows=3000", "data.n_days=120", "job.n_bootstrap=3", "job.evidence=[]"]
TINY = ["job=synth", "data.n_labelled=20", "data.dim=8", "data.n_topics=4",
        "data.n_basins=2", "data.n_users=20"]



def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


# The launchers and the sweeper are Hydra plugins from the `tune` extra.
needs_submitit = pytest.mark.skipif(not _has("hydra_plugins.hydra_submitit_launcher"),
                                    reason="needs the `tune` extra (hydra-submitit-launcher)")
needs_joblib = pytest.mark.skipif(not _has("hydra_plugins.hydra_joblib_launcher"),
                                  reason="needs the `tune` extra (hydra-joblib-launcher)")
needs_optuna = pytest.mark.skipif(not (_has("hydra_plugins.hydra_optuna_sweeper")
                                       and _has("optuna")),
                                  reason="needs the `tune` extra (hydra-optuna-sweeper)")
needs_no_gpu = pytest.mark.skipif(HAS_GPU, reason="uses backend=gpu as the run that fails")


def multirun(*args: str, env: dict[str, str] | None = None, check: bool = True):
    proc = subprocess.run([sys.executable, "-m", "engine", "-m", *args], cwd=ROOT,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def metrics_by_run(sweep_dir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/metrics.json")}


def compose_with_hydra(*overrides: str):
    from hydra import compose, initialize_config_dir

    from engine import config, sweeps

    config.register()
    sweeps.register()
    with initialize_config_dir(str(config.conf_dir()), version_base=None):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


@needs_submitit
def test_slurm_preset_takes_values_from_environment(monkeypatch):
    monkeypatch.setenv("ENGINE_SLURM_PARTITION", "a100")
    monkeypatch.setenv("ENGINE_SLURM_GPUS", "4")
    cfg = compose_with_hydra("hydra/launcher=slurm_gpu", "job=synth",
                             "hydra.launcher.timeout_min=30")
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.partition == "a100"
    assert launcher.gpus_per_node == 4 and isinstance(launcher.gpus_per_node, int)
    assert launcher.timeout_min == 30  # the command line beats the environment and default
    assert launcher.account is None and launcher.cpus_per_task == 8


@needs_joblib
@needs_optuna
def test_local_parallel_and_optuna_presets_compose(tmp_path, monkeypatch):
    monkeypatch.setenv("ENGINE_OPTUNA_DIR", str(tmp_path / "studies"))
    cfg = compose_with_hydra("hydra/launcher=local_parallel", "hydra/sweeper=optuna_tpe",
                             "job=synth")
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")
    assert cfg.hydra.launcher.n_jobs == 2
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper")
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler"
    assert sweeper.direction == "maximize"
    assert sweeper.study_name == "synth"
    assert sweeper.storage == f"sqlite:///{tmp_path / 'studies'}/synth.db"
    assert (tmp_path / "studies").is_dir()  # SQLite needs the folder to exist


@needs_submitit
def test_submitit_local_basins_sweep_shares_its_cache(tmp_path):
    sweep = tmp_path / "sweep"
    multirun("hydra/launcher=submitit_local", *BASINS, "backend=cpu",
             "job.min_cluster_frac=0.005,0.01",
             f"hydra.sweep.dir={sweep}", "hydra.launcher.timeout_min=10")
    runs = metrics_by_run(sweep)
    assert sorted(runs) == ["0", "1"]
    for m in runs.values():  # each run recorded the objective it returned to the sweeper
        assert m["objective"] == m["train_forecast_loglik"] and m["n_rows"] == 3000
        assert m["cache"]["dir"] == str(tmp_path / "cache")
    # The two runs (at the same time, in two processes) share the bins' kNN graphs, which do
    # not depend on min_cluster_frac: each graph was computed by one run and read by the other.
    # (The runs' own counters count the lookups made in the run's process, as these are.)
    knn_graphs = list((tmp_path / "cache" / "basins_knn").glob("*.npz"))
    assert sum(m["cache"]["misses"] for m in runs.values()) == len(knn_graphs) > 0
    assert sum(m["cache"]["hits"] for m in runs.values()) == len(knn_graphs)


@needs_no_gpu
def test_a_failing_run_does_not_stop_the_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    proc = multirun(*TINY, "data.n_rows=120", "backend=gpu,cpu", f"hydra.sweep.dir={sweep}",
                    check=False)
    assert proc.returncode != 0  # the sweep reports the failure ...
    assert "error: backend=gpu: missing GPU packages" in proc.stderr
    assert not (sweep / "0" / "metrics.json").exists()
    # ... after running the rest of it.
    assert json.loads((sweep / "1" / "metrics.json").read_text())["objective"] == 120.0
    # The summary ranks the runs by what varied between them, the failed one last.
    from engine.sweeps import main, summarize

    assert summarize(sweep) == [{"run": "1", "backend": "cpu", "objective": 120.0},
                                {"run": "0", "backend": "gpu", "objective": None}]
    main([str(sweep)])
    assert pq.read_table(sweep / "sweep_summary.parquet").to_pylist() == [
        {"run": "1", "backend": "cpu", "objective": 120.0},
        {"run": "0", "backend": "gpu", "objective": None}]


@needs_no_gpu
@needs_optuna
@pytest.mark.filterwarnings("ignore:Deprecated API features detected")
def test_optuna_tunes_basins_records_failures_and_resumes(tmp_path):
    import optuna
    from optuna.trial import TrialState

    # backend=gpu fails here (no GPU): those trials must be stored as failed, not end the study.
    common = ["hydra/sweeper=optuna_tpe", *BASINS, "job.min_cluster_frac=interval(0.003,0.02)",
              "backend=choice(cpu,gpu)", "hydra.sweeper.max_failure_rate=1.0",
              "hydra.sweeper.sampler.seed=3"]
    env = {"ENGINE_OPTUNA_DIR": str(tmp_path / "studies")}
    storage = f"sqlite:///{tmp_path / 'studies' / 'basins.db'}"
    multirun(*common, "hydra.sweeper.n_trials=3", f"hydra.sweep.dir={tmp_path / 'a'}", env=env)
    first = optuna.load_study(study_name="basins", storage=storage).trials
    assert len(first) == 3 and {t.state for t in first} == {TrialState.COMPLETE, TrialState.FAIL}
    # The sweep then died while a fourth trial was running: it stays RUNNING in the study.
    optuna.load_study(study_name="basins", storage=storage).ask()
    # Started again, the sweeper loads the study and adds n_trials trials to it.
    multirun(*common, "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={tmp_path / 'b'}", env=env)
    study = optuna.load_study(study_name="basins", storage=storage)
    assert [t.number for t in study.trials] == [0, 1, 2, 3, 4, 5]  # continued, not restarted
    assert [t.params for t in study.trials[:3]] == [t.params for t in first]
    assert study.trials[3].state == TrialState.RUNNING
    runs = [tmp_path / "a" / str(n) for n in range(3)] + [tmp_path / "b" / str(n) for n in
                                                          range(2)]
    for trial, run in zip(study.trials[:3] + study.trials[4:], runs, strict=True):
        assert 0.003 <= trial.params["job.min_cluster_frac"] <= 0.02
        if trial.params["backend"] == "gpu":
            assert trial.state == TrialState.FAIL and not (run / "metrics.json").exists()
        else:  # the objective the run returned is the trial's value
            assert trial.state == TrialState.COMPLETE
            assert trial.value == json.loads((run / "metrics.json").read_text())["objective"]
    assert study.best_value == max(t.value for t in study.trials if t.value is not None)


def test_sweep_cache_location():
    from engine.sweeps import cache_dir_for, register

    assert cache_dir_for(None, multirun=False, sweep_dir=None) is None
    assert cache_dir_for(None, multirun=True, sweep_dir="multirun/basins/d/t") == str(
        Path("multirun/basins/d/cache"))
    assert cache_dir_for("/scratch/c", multirun=True, sweep_dir="m/x") == "/scratch/c"
    assert cache_dir_for("off", multirun=True, sweep_dir="m/x") is None
    register()
    assert OmegaConf.create({"d": "${engine_mkdir:/tmp}"}).d == "/tmp"
