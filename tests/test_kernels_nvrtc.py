"""Every kernels/*.cu compiles with NVRTC, as CuPy compiles it at run time, for the data-centre
architectures the engine targets (sm_80 A100, sm_90 H100). No device is needed, so this runs in
CI: the `test` extra brings NVRTC (nvidia-cuda-nvrtc) and its binding (cuda-bindings)."""

from __future__ import annotations

import pytest

from engine import kernels

nvrtc = pytest.importorskip("cuda.bindings.nvrtc", reason="install the `test` extra (cuda-bindings)")

ARCHES = ("sm_80", "sm_90")


def _ok(result):
    """cuda-bindings returns (status, *values): raise on a failed status, else the values."""
    status, *values = result
    if status != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise RuntimeError(nvrtc.nvrtcGetErrorString(status)[1].decode())
    return values[0] if len(values) == 1 else values


def compile_cubin(source: bytes, name: str, arch: str) -> tuple[bool, bytes, str]:
    """(compiled, cubin, log) of one source for a real architecture (sm_XX gives a cubin)."""
    prog = _ok(nvrtc.nvrtcCreateProgram(source, name.encode(), 0, [], []))
    try:
        opts = [o.encode() for o in kernels.OPTIONS] + [f"--gpu-architecture={arch}".encode()]
        (status,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
        log = b" " * _ok(nvrtc.nvrtcGetProgramLogSize(prog))
        _ok(nvrtc.nvrtcGetProgramLog(prog, log))
        log = log.rstrip(b"\0 ").decode(errors="replace")
        if status != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            return False, b"", log
        cubin = b" " * _ok(nvrtc.nvrtcGetCUBINSize(prog))
        _ok(nvrtc.nvrtcGetCUBIN(prog, cubin))
        return True, cubin, log
    finally:
        _ok(nvrtc.nvrtcDestroyProgram(prog))


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("path", kernels.sources(), ids=lambda p: p.name)
def test_every_kernel_compiles_with_nvrtc(path, arch):
    ok, cubin, log = compile_cubin(path.read_bytes(), path.name, arch)
    assert ok, log
    assert cubin[:4] == b"\x7fELF" and len(cubin) > 1000  # device code, not an empty image
    assert "warning" not in log.lower(), log


def test_a_broken_kernel_is_reported():
    ok, _, log = compile_cubin(b'extern "C" __global__ void k(int* x) { x[0] = y; }',
                               "broken.cu", ARCHES[0])
    assert not ok and "undefined" in log
