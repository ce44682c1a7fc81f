"""The apply stage on a CUDA device (CuPy): two slots, two streams, pinned host buffers.

Each slot owns a pinned host input buffer, device buffers and a stream. Batch i goes to slot
i % 2: the host copies it into the slot's pinned buffer, then the slot's stream copies it to
the device, widens float16 to float32 on the device, multiplies by the float32 map (float32
accumulation) and copies the result back into pinned memory, all asynchronously. While the
device multiplies batch i on one stream, batch i+1's copy runs on the other; the host only
waits for a slot when it needs that slot again, two batches later. Rows are stored and moved
as float16 when the input is float16 (half the PCIe traffic), float32 otherwise.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine._project.linear_map import LinearMap
from engine.io.embeddings import Batch
from engine.io.read_ahead import read_ahead


@dataclass
class _Slot:
    stream: Any
    event: Any
    host_in: np.ndarray  # pinned, (rows, d), storage dtype
    host_out: np.ndarray  # pinned, (rows, k) float32
    dev_in: Any  # (rows, d) storage dtype
    dev_wide: Any  # (rows, d) float32, or None when storage is float32
    dev_out: Any  # (rows, k) float32


def _pinned(cp, shape: tuple[int, int], dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    mem = cp.cuda.alloc_pinned_memory(int(np.prod(shape)) * dtype.itemsize)
    return np.frombuffer(mem, dtype, int(np.prod(shape))).reshape(shape)


def _slot(cp, rows: int, dim: int, k: int, storage) -> _Slot:
    wide = None if storage == np.float32 else cp.empty((rows, dim), cp.float32)
    return _Slot(cp.cuda.Stream(non_blocking=True), cp.cuda.Event(),
                 _pinned(cp, (rows, dim), storage), _pinned(cp, (rows, k), np.float32),
                 cp.empty((rows, dim), storage), wide, cp.empty((rows, k), cp.float32))


def gpu_projections(batches: Iterable[Batch], lmap: LinearMap
                    ) -> Iterator[tuple[Batch, np.ndarray]]:
    """(batch, float32 projections) for every batch, in order, computed on the device."""
    import cupy as cp

    w = cp.asarray(lmap.weights, dtype=cp.float32)
    b = cp.asarray(lmap.intercept, dtype=cp.float32)
    cp.cuda.Device().synchronize()  # the slots' non-blocking streams do not wait for this one
    k = w.shape[1]
    slots: list[_Slot | None] = [None, None]
    in_flight: deque[tuple[Batch, _Slot, int]] = deque()

    def finish_oldest() -> tuple[Batch, np.ndarray]:
        batch, slot, n = in_flight.popleft()
        slot.event.synchronize()
        return batch, slot.host_out[:n].copy()

    for i, batch in enumerate(read_ahead(batches)):
        x = batch.embeddings
        storage = np.float16 if x.dtype == np.float16 else np.float32
        n = len(x)
        s = i % 2
        if len(in_flight) == 2:  # the slot we are about to reuse holds batch i-2
            yield finish_oldest()
        slot = slots[s]
        if (slot is None or slot.host_in.shape[0] < n or slot.host_in.dtype != storage):
            slot = slots[s] = _slot(cp, max(n, 1), lmap.dim, k, storage)
        np.copyto(slot.host_in[:n], x, casting="same_kind")
        with slot.stream:
            dev_in = slot.dev_in[:n]
            dev_in.set(slot.host_in[:n], stream=slot.stream)
            rows = dev_in
            if slot.dev_wide is not None:
                rows = slot.dev_wide[:n]
                cp.copyto(rows, dev_in)  # float16 -> float32 on the device
            out = slot.dev_out[:n]
            cp.matmul(rows, w, out=out)
            out += b
            cp.asnumpy(out, stream=slot.stream, out=slot.host_out[:n], blocking=False)
            slot.event.record(slot.stream)
        in_flight.append((batch, slot, n))
    while in_flight:
        yield finish_oldest()
