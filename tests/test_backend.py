"""Backend resolution: auto falls back to the CPU here; gpu without CUDA says what is missing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.backend import resolve
from engine.errors import UserError
from tests.conftest import HAS_GPU


def test_cpu_backend_records_versions():
    b = resolve("cpu")
    assert b.name == "cpu" and b.xp is np and not b.gpu
    assert {"numpy", "scipy", "faiss", "python"} <= set(b.versions)
    assert b.to_host(b.asarray([1, 2])).tolist() == [1, 2]


@pytest.mark.skipif(HAS_GPU, reason="a GPU is present")
def test_auto_without_gpu_is_cpu_and_gpu_is_refused():
    assert resolve("auto").name == "cpu"
    with pytest.raises(UserError, match=r"backend=gpu: (missing GPU packages|no usable CUDA|no CUDA)"):
        resolve("gpu")


def test_unknown_backend():
    with pytest.raises(UserError, match="expected one of auto, cpu, gpu"):
        resolve("tpu")


def test_cpu_run_never_imports_gpu_packages():
    # A fresh interpreter: this one may hold CuPy already (conftest probes for a device).
    code = ("import sys; from engine.backend import resolve; resolve('cpu'); "
            "print(sorted({'cupy', 'cuml', 'cuvs', 'pylibcugraph', 'rmm'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"


@pytest.mark.gpu
def test_gpu_backend(gpu):
    assert gpu.gpu and gpu.xp.__name__ == "cupy"
    assert importlib.util.find_spec("cuml") is not None
    assert gpu.to_host(gpu.asarray(np.arange(3))).tolist() == [0, 1, 2]


@pytest.mark.skipif(HAS_GPU, reason="a GPU is present")
def test_auto_fallback_says_why_once(caplog):
    from engine import backend

    backend._note_cpu_fallback.cache_clear()
    with caplog.at_level("WARNING", logger="engine"):
        resolve("auto")
        resolve("auto")  # basins resolves once per bin: still one line
    lines = [r.getMessage() for r in caplog.records if "backend=auto" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith("backend=auto: running on the CPU: ")
    assert "missing GPU packages" in lines[0] or "CUDA" in lines[0]


def test_missing_gpu_package_message_names_the_extra():
    from engine.backend import GPU_PACKAGES

    assert "faiss" not in GPU_PACKAGES  # kNN runs on cuVS; faiss-cpu serves the CPU only
    if not HAS_GPU:
        with pytest.raises(UserError) as err:
            resolve("gpu")
        assert "faiss-gpu" not in str(err.value)
