"""The screening product: similarities of a micro-batch to the centroids in low precision,
with a proven bound on how far they can be from the exact (reference) similarities.

The sequential pass only re-computes exactly the few centroids whose screened similarity is
within that bound of the threshold or of the best one, so the low precision never changes a
decision.

Bound, for unit vectors x and c (|x| = |c| = 1 up to 1e-15) rounded to a format with unit
roundoff u_in, multiplied with float32 accumulation (unit roundoff u_acc) over d terms in any
order, and the result stored with unit roundoff u_out:
|x~.c~ - x.c| <= (2 u_in + u_in^2) sum|x_k c_k| <= 2 u_in + u_in^2; the sum adds at most
gamma_d = d u_acc / (1 - d u_acc) times sum|x~_k c~_k|; the stored result at most
2 u_out |s| (allowing truncation); the exact float64 sum adds gamma_d in float64. The total is
padded by 1%.

Kinds:
- "pivot" (CPU, the default there): float32 products only for messages far from every
  centroid; every other message is screened through pivot bounds (`engine._stream.pivots`)
  instead of a product with all centroids;
- "float32": BLAS sgemm on CPU, cuBLAS through CuPy on GPU (the GPU bound allows TF32
  tensor-core inputs whatever CuPy's math mode: 10 fraction bits, and since the conversion
  to TF32 need not round to nearest, u_in = 2^-10, not 2^-11; tensor cores also truncate
  while accumulating (Fasi, Higham, Mikaitis, Pranesh 2021, "Numerical behavior of NVIDIA
  tensor cores"), so u_acc = 2^-23);
- "bfloat16": torch on CPU (oneDNN, AMX where the CPU has it), bfloat16 inputs and output,
  float32 accumulation: about 3x the float32 speed where the CPU multiplies bfloat16 in
  hardware (AMX, AVX512-BF16), ~10x slower than float32 where it does not (AVX2); a wider
  bound, so a few more exact re-checks.
"""

from __future__ import annotations

import os
import sys

import numpy as np

F32_U = 2.0**-24
TF32_U = 2.0**-10  # TF32 keeps 10 fraction bits; truncation loses up to one unit of them
F32_TRUNC_U = 2.0**-23  # float32 accumulation that truncates instead of rounding
BF16_U = 2.0**-8
F64_U = 2.0**-53
KINDS = ("auto", "pivot", "float32", "bfloat16")


def screening_error(dim: int, u_in: float, u_out: float = 0.0, u_acc: float = F32_U) -> float:
    """Largest |screened - exact| similarity for unit vectors of dimension `dim`."""
    gamma = dim * u_acc / (1 - dim * u_acc)
    gamma64 = dim * F64_U / (1 - dim * F64_U)
    rounding = 2 * u_in + u_in * u_in
    inner = rounding + gamma * (1 + rounding)
    return 1.01 * (inner + 2 * u_out * (1 + inner) + 2 * gamma64) + 1e-12


def resolve(kind: str, gpu: bool) -> str:
    if kind not in KINDS:
        raise ValueError(f"screen={kind!r}: expected one of {', '.join(KINDS)}")
    if kind == "auto":
        return "float32" if gpu else "pivot"
    if kind in ("bfloat16", "pivot") and gpu:
        raise ValueError(f"screen={kind} is a CPU path; the GPU screens in float32")
    return kind


def bfloat16_bits(a: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (int16), rounding to nearest even (finite input)."""
    u = a.view(np.uint32)
    rounded = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
    return rounded.astype(np.uint16).view(np.int16)


class Screen:
    """Converts rows to the screening format and multiplies them, on the backend's device."""

    def __init__(self, backend, kind: str, dim: int):
        self.backend = backend
        self.kind = resolve(kind, backend.gpu)
        if self.kind == "bfloat16":
            if "torch" not in sys.modules:
                # Between products the sequential pass runs on one core; OpenMP's default
                # spin-waiting keeps torch's idle worker busy meanwhile and, on 2 cores, made
                # the whole run ~1.7x slower. Read once, when torch's OpenMP loads; a value
                # the user set wins.
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            import torch

            self._torch = torch
            self.eps = screening_error(dim, BF16_U, u_out=BF16_U)
        else:
            self.eps = (screening_error(dim, TF32_U, u_acc=F32_TRUNC_U) if backend.gpu
                        else screening_error(dim, F32_U))

    def convert(self, rows: np.ndarray):
        rows32 = np.ascontiguousarray(rows, dtype=np.float32)
        if self.kind == "bfloat16":
            return self._torch.from_numpy(bfloat16_bits(rows32)).view(self._torch.bfloat16)
        return self.backend.xp.asarray(rows32)

    def update_rows(self, mirror, rows: np.ndarray, values: np.ndarray) -> None:
        """mirror[rows] = convert(values), in place."""
        if self.kind == "bfloat16":  # through NumPy: the tensor shares its memory
            mirror.view(self._torch.int16).numpy()[rows] = bfloat16_bits(
                np.ascontiguousarray(values, dtype=np.float32))
        else:
            mirror[self.backend.xp.asarray(rows)] = self.convert(values)

    @staticmethod
    def values(S: np.ndarray) -> np.ndarray:
        """A product's entries as float32 (decodes bfloat16 bits)."""
        if S.dtype == np.int16:
            return (S.astype(np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)
        return S

    def product(self, A, B) -> np.ndarray:
        """Host (len(A), len(B)) screened similarities A @ B.T: float32, or for bfloat16 the
        raw bits as int16 (decoded only where the sequential pass looks; converting the whole
        product would cost as much as computing it)."""
        if self.kind == "bfloat16":
            if B.shape[0] == 0:
                return np.zeros((A.shape[0], 0), np.int16)
            return (A @ B.T).view(self._torch.int16).numpy()
        if B.shape[0] == 0:
            return np.zeros((A.shape[0], 0), np.float32)
        return np.ascontiguousarray(self.backend.to_host(A @ B.T), dtype=np.float32)
