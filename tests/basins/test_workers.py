"""The basins job's own worker pool inside sweep launchers: nested in joblib's loky workers
(`hydra/launcher=local_parallel`), in submitit's subprocesses and in daemonic pool workers."""

from __future__ import annotations

import multiprocessing
import os

from joblib import Parallel, delayed

from engine._basins.workers import LocalPool, n_workers, nested
from tests.test_sweeps import BASINS, metrics_by_run, multirun, needs_joblib, needs_submitit

# job.workers=2 forces the pool whatever the machine; the two runs differ in their bin size.
POOLED = [*BASINS, "backend=cpu", "job.workers=2", "job.bin_size_days=7,14"]


def _pool_map(n: int) -> list[int]:
    with LocalPool(n) as pool:
        return pool.map(abs, [-1, -2, -3])


def _sizes() -> tuple[int, int, str]:
    return n_workers(0, 10**6), n_workers(2, 10**6), os.environ.get("OMP_NUM_THREADS", "")


def _pool_map_in_worker() -> tuple[list[int], bool, str | None]:
    # A loky worker's default start method is 'loky' when the launching process had not fixed
    # its own (as under `python -m engine -m`; pytest's process has fixed 'fork' by now).
    multiprocessing.set_start_method("loky", force=True)
    return _pool_map(2), nested(), multiprocessing.get_start_method(allow_none=True)


def test_pool_starts_inside_a_loky_worker():
    # Before: the spawned children inherited the start method 'loky' and died at start-up.
    # (n_jobs=2: with 1 joblib would run the task in this process.)
    for result, in_worker, after in Parallel(n_jobs=2, backend="loky")(
            delayed(_pool_map_in_worker)() for _ in range(2)):
        assert in_worker and result == [1, 2, 3]
        assert after == "loky"  # the launcher's worker is left as it was
    assert not nested()


def test_pool_is_sized_to_the_cores_the_launcher_gave():
    # joblib gives each of its n_jobs workers cores // n_jobs threads (OMP_NUM_THREADS).
    for auto, explicit, budget in Parallel(n_jobs=2, backend="loky")(
            delayed(_sizes)() for _ in range(2)):
        assert budget.isdigit()
        assert auto == min(int(budget), len(os.sched_getaffinity(0)))
        assert explicit == 2  # an explicit job.workers is kept


def test_daemonic_process_runs_in_process():
    # multiprocessing.Pool's workers are daemonic: they may not start processes of their own.
    with multiprocessing.get_context("spawn").Pool(1) as outer:
        assert outer.apply(_pool_map, (2,)) == [1, 2, 3]
        assert outer.apply(_sizes)[:2] == (1, 1)


@needs_joblib
def test_local_parallel_sweep_with_the_job_pool(tmp_path):
    sweep = tmp_path / "sweep"
    multirun("hydra/launcher=local_parallel", *POOLED, f"hydra.sweep.dir={sweep}")
    runs = metrics_by_run(sweep)
    assert sorted(runs) == ["0", "1"]
    assert all(m["workers"] == 2 and m["n_rows"] == 3000 for m in runs.values())


@needs_submitit
def test_submitit_local_sweep_with_the_job_pool(tmp_path):
    sweep = tmp_path / "sweep"
    multirun("hydra/launcher=submitit_local", *POOLED, f"hydra.sweep.dir={sweep}",
             "hydra.launcher.timeout_min=10")
    runs = metrics_by_run(sweep)
    assert sorted(runs) == ["0", "1"]
    assert all(m["workers"] == 2 and m["n_rows"] == 3000 for m in runs.values())

