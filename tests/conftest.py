"""Shared fixtures: GPU marker handling, paths to the shipped test data, a backend."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"


def _has_gpu() -> bool:
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


HAS_GPU = _has_gpu()


# GPU tests that need cuML, cuGraph, cuVS or dask-cuda, or run a job with backend=gpu (whose
# check asks for all of them): marked `rapids` here, in one place, so that bench/gpu_check.py
# can run `-m "gpu and not rapids"` before those libraries are staged on the GPU machine.
RAPIDS_TESTS = (
    "tests/jobs/",
    "tests/opinion/test_gpu.py::test_gpu_job_runs",
    "tests/ops/test_knn.py",
    "tests/ops/test_leiden.py",
    "tests/basins/test_hdbscan_ops.py",
    "tests/test_parallel.py",
    "tests/test_backend.py",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "gpu" in item.keywords and item.nodeid.startswith(RAPIDS_TESTS):
            item.add_marker(pytest.mark.rapids)
    if HAS_GPU:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device and the GPU packages")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def cpu():
    from engine.backend import cpu_backend

    return cpu_backend()


@pytest.fixture(scope="session")
def gpu():
    # Device and CuPy only: tests of paths that need cuML, cuGraph or cuVS are marked `rapids`
    # (below), so the rest run on a GPU machine that has none of them (bench/gpu_check.py).
    from engine.backend import gpu_backend

    return gpu_backend()


@pytest.fixture
def data_dir() -> Path:
    return DATA


def compose(*overrides: str):
    """The composed config for `python -m engine <overrides>` (Hydra's compose API)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from engine import config

    config.register()
    with initialize_config_dir(str(config.conf_dir()), version_base=None):
        return hydra_compose("config", overrides=list(overrides))


def run_in(out: Path, *overrides: str):
    """Run a job in-process into `out` -> (objective, out, metrics dict)."""
    import json

    from engine.app import run_config

    objective = run_config(compose("backend=cpu", *overrides), str(out))
    return objective, out, json.loads((out / "metrics.json").read_text())


@pytest.fixture
def run_job(tmp_path):
    """Run a job in-process: run_job("job=project", "data.n_rows=500") -> (objective, out_dir,
    metrics dict). The output directory is a fresh folder under tmp_path."""
    counter = iter(range(1000))

    def _run(*overrides: str, out_dir: Path | None = None):
        return run_in(out_dir or tmp_path / f"run{next(counter)}", *overrides)

    return _run


@pytest.fixture(scope="session")
def run_job_once(tmp_path_factory, worker_id):
    """Like run_job, but each distinct run happens once per test session, shared by the tests
    (and the xdist workers) that read it: for runs that cost tens of seconds. Its outputs are
    read-only by convention."""
    import hashlib
    import json

    from filelock import FileLock

    # Under xdist every worker's base folder sits in the session's own folder.
    root = tmp_path_factory.getbasetemp()
    root = (root.parent if worker_id != "master" else root) / "runs-once"
    root.mkdir(exist_ok=True)

    def _run(*overrides: str):
        out = root / hashlib.sha1("\0".join(overrides).encode()).hexdigest()[:16]
        done = out.with_suffix(".objective")  # written once the run is complete
        with FileLock(str(out) + ".lock"):
            if not done.exists():
                objective = run_in(out, *overrides)[0]
                done.write_text(json.dumps(None if objective is None else float(objective)))
        return (json.loads(done.read_text()), out,
                json.loads((out / "metrics.json").read_text()))

    return _run
