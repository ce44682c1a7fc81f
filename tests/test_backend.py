"""Backend resolution: auto falls back to the CPU here; gpu without CUDA says what is missing."""

from __future__ import annotations

import importlib.util
import sys

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
    resolve("cpu")
    assert "cupy" not in sys.modules and "cuml" not in sys.modules


@pytest.mark.gpu
def test_gpu_backend(gpu):
    assert gpu.gpu and gpu.xp.__name__ == "cupy"
    assert importlib.util.find_spec("cuml") is not None
    assert gpu.to_host(gpu.asarray(np.arange(3))).tolist() == [0, 1, 2]
