"""Screening the next micro-batch while the current one's sequential pass runs.

The sequential pass (`batch_pass`, Numba, nogil) runs on one core. The screening product of
the next batch does not have to wait for it: taken against the centroids as they were when
the current batch started, it is stale by one more batch, which the pass corrects for
(`batch_pass.Ledger`). So one worker thread normalises, converts and screens batch b + 1 while
the main thread runs batch b's pass, and on 2 cores both are busy. The worker uses one
torch/oneDNN thread: the other core is the pass's.

The worker owns the low-precision mirror of the centroids. It applies the rows the last pass
changed (values copied by the main thread before the next pass moves them again) just before
its product, so the mirror never changes under a running product.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

# Mirror capacity and screened column counts are multiples of this: a handful of distinct
# product shapes keeps oneDNN's per-shape primitive cache (and its buffers) from growing with
# every new cluster. The extra columns are never read.
SHAPE_STEP = 512


@dataclass
class Screened:
    """One batch, ready for its sequential pass."""

    X: np.ndarray  # exact unit rows, float64
    Xs: object  # X in the screening format (for the next batch's Gram matrix)
    S: np.ndarray  # similarities to the first k_snap centroids of the snapshot (+ padding)
    G: np.ndarray  # similarities to [previous batch; this batch]
    bad: int  # first row with zero or non-finite norm, or -1


class ScreenAhead:
    def __init__(self, screen, dim: int):
        self.screen = screen
        self.dim = dim
        self.mirror = None  # centroids in the screening format, rows up to the last update
        self._pool: ThreadPoolExecutor | None = None

    @contextmanager
    def running(self):
        """The worker thread, for the duration of one `assign` call."""
        with ThreadPoolExecutor(1, initializer=self.screen.worker_init) as pool:
            self._pool = pool
            try:
                yield self
            finally:
                self._pool = None

    def submit(self, emb: np.ndarray, k_snap: int, rows: np.ndarray, values: np.ndarray,
               Xs_prev) -> Future:
        """Screen `emb` against centroids 0..k_snap-1 once mirror[rows] = values."""
        return self._pool.submit(self._screen, emb, k_snap, rows, values, Xs_prev)

    def update(self, rows: np.ndarray, values: np.ndarray, k_snap: int) -> None:
        """mirror[rows] = values, growing the mirror to hold k_snap rows (worker only, or
        when no worker job is running)."""
        need = max(k_snap, int(rows.max()) + 1 if len(rows) else 0)
        have = 0 if self.mirror is None else self.mirror.shape[0]
        if need > have or self.mirror is None:
            size = max(need, 2 * have, 1024)
            self.mirror = self.screen.resize(self.mirror, -(-size // SHAPE_STEP) * SHAPE_STEP)
        if len(rows):
            self.screen.update_rows(self.mirror, rows, values)

    def _screen(self, emb, k_snap, rows, values, Xs_prev) -> Screened:
        from engine.stream.exact import normalise_rows

        self.update(rows, values, k_snap)
        X = np.empty((emb.shape[0], self.dim))
        bad = normalise_rows(emb, X)
        if bad >= 0:
            return Screened(X, None, None, None, bad)
        Xs = self.screen.convert(X)
        k_padded = min(-(-k_snap // SHAPE_STEP) * SHAPE_STEP, self.mirror.shape[0])
        S = self.screen.product(Xs, self.mirror[:k_padded])
        both = Xs if Xs_prev is None else self.screen.concat(Xs_prev, Xs)
        G = self.screen.product(Xs, both)
        return Screened(X, Xs, S, G, -1)
