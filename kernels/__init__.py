"""CUDA kernel sources (`*.cu`) and their loaders, installed as `engine.kernels`.

The sources live in the repository's top-level `kernels/` folder; `engine/kernels` links to it
(as `engine/conf` links to `conf/`), so a checkout and an installed copy both read them as data
of this package through `importlib.resources`, and no top-level `kernels` module is installed
(that import name belongs to another package on the same machines).

`source(name)` returns a kernel file's text; `module(name)` compiles it with
`cupy.RawModule` (cached per process). Tests compile every source with NVRTC (no device needed),
with nvcc where it is installed, and run it on the host through `host_emulation.h`.
"""

from __future__ import annotations

import functools
from importlib.resources import files
from importlib.resources.abc import Traversable

# A file-system path for an installed or checked-out package (the compilers in the tests need
# one); the package is never imported from a zip, as CuPy and NVRTC read the files anyway.
KERNEL_DIR = files(__name__)
# NVRTC options every kernel is compiled with at run time (CuPy adds the device's -arch);
# tests/test_kernels_nvrtc.py compiles with the same ones for sm_80 and sm_90.
OPTIONS = ("--std=c++17",)


def sources() -> list[Traversable]:
    return sorted((p for p in KERNEL_DIR.iterdir() if p.name.endswith(".cu")),
                  key=lambda p: p.name)


def source(name: str) -> str:
    return (KERNEL_DIR / f"{name}.cu").read_text()


@functools.cache
def module(name: str, options: tuple[str, ...] = OPTIONS):
    import cupy

    return cupy.RawModule(code=source(name), options=options)
