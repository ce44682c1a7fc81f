"""The apply stage: project every row with a fitted map, batch by batch (CPU).

The map is cast to float32 once; rows stay in their stored type until the kernel widens them
(float16 input is never copied to a float32 matrix). Peak memory is a few batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from engine._project.linear_map import LinearMap
from engine.io.embeddings import Batch
from engine.io.read_ahead import read_ahead


@dataclass
class Float32Map:
    """A LinearMap as the kernels use it: (k, padded d) float32 weights, float32 intercept."""

    weights: np.ndarray
    intercept: np.ndarray
    dim: int

    @classmethod
    def of(cls, lmap: LinearMap) -> Float32Map:
        from engine._project.kernel_cpu import LANES

        d, k = lmap.weights.shape
        padded = -(-d // LANES) * LANES
        w = np.zeros((k, padded), np.float32)
        w[:, :d] = lmap.weights.T
        return cls(w, lmap.intercept.astype(np.float32), d)


def project_rows(x: np.ndarray, fmap: Float32Map, out: np.ndarray | None = None) -> np.ndarray:
    """(n, d) rows -> (n, k) float32 projections, the same arithmetic for every row."""
    from engine._project import kernel_cpu

    if x.ndim != 2 or x.shape[1] != fmap.dim:
        raise ValueError(f"expected rows of dimension {fmap.dim}, got shape {x.shape}")
    if out is None:
        out = np.empty((x.shape[0], fmap.weights.shape[0]), np.float32)
    if x.dtype == np.float16:
        kernel_cpu.project_half(np.ascontiguousarray(x).view(np.uint16),
                                kernel_cpu.HALF_TO_FLOAT, fmap.weights, fmap.intercept, out)
    else:
        kernel_cpu.project_float(np.ascontiguousarray(x, dtype=np.float32), fmap.weights,
                                 fmap.intercept, out)
    return out


def cpu_projections(batches: Iterable[Batch], lmap: LinearMap
                    ) -> Iterator[tuple[Batch, np.ndarray]]:
    """(batch, projections) for every batch; the next batch is read while this one computes."""
    fmap = Float32Map.of(lmap)
    for batch in read_ahead(batches):
        yield batch, project_rows(batch.embeddings, fmap)
