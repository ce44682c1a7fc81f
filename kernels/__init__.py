"""CUDA kernel sources (`*.cu`) and their loaders.

`source(name)` returns a kernel file's text; `module(name)` compiles it with
`cupy.RawModule` (cached per process). Tests compile every source with NVRTC (no device needed),
with nvcc where it is installed, and run it on the host through `host_emulation.h`.
"""

from __future__ import annotations

import functools
from pathlib import Path

KERNEL_DIR = Path(__file__).resolve().parent
# NVRTC options every kernel is compiled with at run time (CuPy adds the device's -arch);
# tests/test_kernels_nvrtc.py compiles with the same ones for sm_80 and sm_90.
OPTIONS = ("--std=c++17",)


def sources() -> list[Path]:
    return sorted(KERNEL_DIR.glob("*.cu"))


def source(name: str) -> str:
    return (KERNEL_DIR / f"{name}.cu").read_text()


@functools.cache
def module(name: str, options: tuple[str, ...] = OPTIONS):
    import cupy

    return cupy.RawModule(code=source(name), options=options)
