"""The one place where CPU and GPU are chosen.

`resolve("auto"|"cpu"|"gpu")` runs once per run and returns a `Backend`: the array namespace
(`xp`, NumPy or CuPy) and helpers to move arrays. Op modules in `engine.ops` dispatch on
`backend.gpu`. GPU packages are imported only when the GPU backend is chosen, so a CPU
install never imports CuPy or RAPIDS.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import logging
import platform
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from engine.errors import UserError

log = logging.getLogger("engine")

# Module name -> distribution names to report its version (first one installed wins). The GPU
# backend needs all of them: kNN runs on cuVS, graphs on pylibcugraph, density clustering on
# cuML, and every array allocation goes through RMM (see _share_device_memory).
GPU_PACKAGES = {
    "cupy": ("cupy-cuda13x", "cupy"),
    "cuml": ("cuml-cu13", "cuml"),
    "pylibcugraph": ("pylibcugraph-cu13", "pylibcugraph"),
    "cuvs": ("cuvs-cu13", "cuvs"),
    "rmm": ("rmm-cu13", "rmm"),
}
CPU_PACKAGES = {
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "sklearn": ("scikit-learn",),
    "pyarrow": ("pyarrow",),
    "polars": ("polars",),
    "faiss": ("faiss-cpu",),
    "igraph": ("igraph",),
    "leidenalg": ("leidenalg",),
    "fast_hdbscan": ("fast-hdbscan",),
    "hdbscan": ("hdbscan",),
    "numba": ("numba",),
    "torch": ("torch",),
}


@functools.cache  # metadata lookups cost ~80 ms per backend; jobs resolve one per bin
def _dist_version(names: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


@functools.cache  # the answer cannot change within a process; basins resolves once per bin
def _gpu_problem() -> str | None:
    """Why the GPU backend cannot run here, or None when it can."""
    missing = [m for m in GPU_PACKAGES if importlib.util.find_spec(m) is None]
    if missing:
        return "missing GPU packages: " + ", ".join(missing) + " (install the `gpu` extra)"
    try:
        import cupy

        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver absent or broken
        return f"no usable CUDA device ({type(exc).__name__}: {_first_line(exc)})"
    if count < 1:
        return "no CUDA device found"
    # Installed is not importable: a library built against another RAPIDS release fails here
    # (as faiss-gpu-cuvs 1.15.0 did beside librmm 26.10), and must not fail mid-job instead.
    for module in GPU_PACKAGES:
        try:
            importlib.import_module(module)
        except Exception as exc:
            return f"cannot import {module} ({type(exc).__name__}: {_first_line(exc)})"
    return None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


@functools.cache  # one line per process, however often a job resolves `auto`
def _note_cpu_fallback(problem: str) -> None:
    log.warning("backend=auto: running on the CPU: %s", problem)


@functools.cache  # once per process: the allocator and the RMM resource are process-wide
def _share_device_memory() -> None:
    """Route CuPy's allocations through RMM, onto one cudaMallocAsync pool.

    cuML, cuGraph and cuVS allocate through RMM; CuPy has its own pool by default, and the two
    never hand memory to each other, so a stage could run out of memory the other holds idle.
    With CuPy on RMM's allocator and RMM on the driver's stream-ordered pool, all of them draw
    from (and free into) one pool. torch keeps its own caching allocator."""
    import cupy

    try:
        from rmm.allocators.cupy import rmm_cupy_allocator
        from rmm.mr import CudaAsyncMemoryResource, set_current_device_resource
    except ImportError:  # no RAPIDS here (gpu_backend() alone): nothing to share with
        return

    set_current_device_resource(CudaAsyncMemoryResource())
    cupy.cuda.set_allocator(rmm_cupy_allocator)


@dataclass
class Backend:
    """Array namespace and device facts for one run."""

    name: str  # "cpu" or "gpu"
    xp: ModuleType
    device: str
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def gpu(self) -> bool:
        return self.name == "gpu"

    def asarray(self, a: Any, dtype: Any = None):
        """Host or device array -> this backend's array type."""
        return self.xp.asarray(a, dtype=dtype)

    def to_host(self, a: Any) -> np.ndarray:
        """This backend's array (or a NumPy array) -> NumPy array."""
        if self.gpu and not isinstance(a, np.ndarray):
            return a.get()
        return np.asarray(a)

    def synchronize(self) -> None:
        if self.gpu:
            self.xp.cuda.Device().synchronize()


def _versions(packages: dict[str, tuple[str, ...]]) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for module, dists in packages.items():
        v = _dist_version(dists)
        if v is not None:
            out[module] = v
    return out


@functools.cache
def library_versions() -> dict[str, str]:
    """Python's and every installed CPU or GPU library's version (what computes results)."""
    return _versions({**CPU_PACKAGES, **GPU_PACKAGES})


def cpu_backend() -> Backend:
    return Backend("cpu", np, platform.processor() or platform.machine(), _versions(CPU_PACKAGES))


def resolve(requested: str) -> Backend:
    """Choose the backend for a run: `auto` takes the GPU when it is usable, else the CPU."""
    if requested not in ("auto", "cpu", "gpu"):
        raise UserError(f"backend={requested!r}: expected one of auto, cpu, gpu")
    if requested == "cpu":
        return cpu_backend()
    problem = _gpu_problem()
    if problem is not None:
        if requested == "gpu":
            raise UserError(f"backend=gpu: {problem}")
        _note_cpu_fallback(problem)
        return cpu_backend()
    return gpu_backend()


def gpu_backend() -> Backend:
    """The GPU backend on the current CUDA device, without resolve()'s package check: what
    needs only CuPy (arrays, custom kernels) runs without cuML, cuGraph or cuVS installed,
    as stage 1 of bench/gpu_check.py and the `gpu` test fixture do."""
    cupy = importlib.import_module("cupy")
    _share_device_memory()
    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    versions = _versions({**CPU_PACKAGES, **GPU_PACKAGES})
    versions["cuda_runtime"] = str(cupy.cuda.runtime.runtimeGetVersion())
    return Backend("gpu", cupy, name, versions)
