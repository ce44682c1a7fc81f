"""Online centroid clustering with exact sequential semantics, computed in micro-batches.

Semantics (SPEC `stream`, seed 004), message by message in time order: x_hat = x / |x|; the
candidates are the active centroids (all, or those with a message in the last `window_days`);
the nearest one by cosine similarity wins, ties to the lowest cluster id; if its similarity is
below 1 - threshold (or there is none) the message starts a new cluster at x_hat with
confidence 1; otherwise its confidence is the similarity and the centroid moves to
normalise((n_eff c + x_hat) / (n_eff + 1)), n_eff = min(n, cap). The arithmetic is
`engine.stream.exact`'s (float64, fixed order), so the result is defined to the bit.

Batched computation: one matrix product screens a micro-batch against every centroid of a
snapshot in low precision (`screen`: float32 BLAS or bfloat16 torch on CPU, float32 cuBLAS
through CuPy on GPU) together with a Gram matrix against the recent messages; then the
sequential pass (`batch_pass.assign_batch`, Numba on the CPU for both backends) walks the
messages in order, re-computing exactly only the centroids the screening cannot rule out and
correcting for centroids created or moved since the snapshot. The snapshot is the state when
the previous batch started, so batch b + 1 is screened on a second thread while batch b's pass
runs (`ahead`). The result equals the strictly sequential loop bit for bit (assignments,
confidences and centroids), for any batch size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.backend import Backend
from engine.stream import screen
from engine.stream.ahead import ScreenAhead

NS_PER_DAY = 86_400 * 10**9


@dataclass
class Centroids:
    """The clusters so far: rows 0..size-1 of the capacity arrays are live."""

    dim: int
    size: int = 0
    vectors: np.ndarray = field(default=None)  # (capacity, d) float64, unit rows
    counts: np.ndarray = field(default=None)  # (capacity,) int64 messages assigned
    last_seen: np.ndarray = field(default=None)  # (capacity,) int64 ns of the latest message
    created: np.ndarray = field(default=None)  # (capacity,) int64 ns of the first message

    def __post_init__(self) -> None:
        if self.vectors is None:
            self.vectors = np.zeros((0, self.dim))
            self.counts = np.zeros(0, np.int64)
            self.last_seen = np.zeros(0, np.int64)
            self.created = np.zeros(0, np.int64)

    def reserve(self, rows: int) -> None:
        cap = self.vectors.shape[0]
        if rows <= cap:
            return
        new = max(rows, 2 * cap, 1024)

        def grow(a: np.ndarray) -> np.ndarray:
            out = np.zeros((new, *a.shape[1:]), a.dtype)
            out[: self.size] = a[: self.size]
            return out

        self.vectors = grow(self.vectors)
        self.counts = grow(self.counts)
        self.last_seen = grow(self.last_seen)
        self.created = grow(self.created)

    def live(self) -> Centroids:
        """A compact copy with exactly `size` rows."""
        s = self.size
        return Centroids(self.dim, s, self.vectors[:s].copy(), self.counts[:s].copy(),
                         self.last_seen[:s].copy(), self.created[:s].copy())


@dataclass
class Assignments:
    cluster: np.ndarray  # int64
    confidence: np.ndarray  # float64
    new_cluster: np.ndarray  # bool


class OnlineClustering:
    """Feed message batches in time order with `assign`; the centroids persist across calls."""

    def __init__(self, backend: Backend, dim: int, threshold: float = 0.22, cap: int = 1000,
                 window_days: float | None = None, batch_size: int = 512,
                 centroids: Centroids | None = None, screen_kind: str = "auto"):
        if not 0.0 <= threshold <= 2.0:
            raise ValueError("threshold must be a cosine distance in [0, 2]")
        if cap < 1 or batch_size < 1:
            raise ValueError("cap and batch_size must be >= 1")
        self.backend = backend
        self.dim = dim
        self.sim_threshold = 1.0 - float(threshold)
        self.cap = int(cap)
        self.window_ns = -1 if window_days is None else int(round(window_days * NS_PER_DAY))
        self.batch_size = int(batch_size)
        self.screen = screen.Screen(backend, screen_kind, dim)
        self.eps = self.screen.eps
        self.centroids = centroids if centroids is not None else Centroids(dim)
        if self.centroids.dim != dim:
            raise ValueError(f"centroids have dimension {self.centroids.dim}, messages {dim}")
        self.exact_checks = 0
        self._ahead = ScreenAhead(self.screen, dim)
        # Centroid rows changed since the screening mirror last saw them (all, at first).
        self._unsynced = [np.arange(self.centroids.size)]

    def _changes(self) -> tuple[np.ndarray, np.ndarray]:
        """The unsynced rows and their current values (a copy: the next pass moves them)."""
        rows = np.unique(np.concatenate([np.zeros(0, np.int64), *self._unsynced]))
        self._unsynced = []
        return rows, self.centroids.vectors[rows]

    def assign(self, embeddings: np.ndarray, times: np.ndarray) -> Assignments:
        """Assign messages (rows of `embeddings`, times in int64 ns, non-decreasing)."""
        from engine.stream.batch_pass import BF16_VALUES, Ledger, assign_batch, screen_key

        N = embeddings.shape[0]
        out = Assignments(np.empty(N, np.int64), np.empty(N, np.float64), np.empty(N, bool))
        times = np.ascontiguousarray(times, dtype=np.int64)
        B = self.batch_size
        c = self.centroids
        ledger = Ledger(B, self.dim)
        bar = screen_key(self.sim_threshold - self.eps - 1e-12,
                         np.int16 if self.screen.kind == "bfloat16" else np.float32)
        X_prev = np.empty((0, self.dim))
        K_snap = c.size  # centroids in the snapshot the current batch was screened against
        job = None
        with self._ahead.running() as ahead:
            try:
                if N:
                    job = ahead.submit(embeddings[:B], K_snap, *self._changes(), None)
                for lo in range(0, N, B):
                    hi = min(lo + B, N)
                    batch = job.result()
                    job = None
                    if batch.bad >= 0:
                        raise ZeroVectorError(lo + batch.bad)
                    K_start = c.size
                    if hi < N:  # the next batch, against the centroids as they are now
                        job = ahead.submit(embeddings[hi : hi + B], K_start, *self._changes(),
                                           batch.Xs)
                    c.reserve(K_start + B)
                    ledger.reserve(c.vectors.shape[0])
                    K, n_cur, n_exact = assign_batch(
                        batch.X, X_prev, times[lo:hi], batch.S, batch.G, BF16_VALUES, bar,
                        c.vectors, c.counts, c.last_seen, K_snap, K_start, self.cap,
                        self.sim_threshold, self.eps, self.window_ns, out.cluster[lo:hi],
                        out.confidence[lo:hi], out.new_cluster[lo:hi], *ledger.pass_args())
                    ledger.advance(n_cur)
                    c.created[K_start:K] = times[lo:hi][ledger.creator[: K - K_start]]
                    c.size = K
                    self.exact_checks += int(n_exact)
                    self._unsynced += [ledger.moved(), np.arange(K_start, K)]
                    K_snap, X_prev = K_start, batch.X
            finally:
                if job is not None:
                    job.exception()  # wait: the worker may be writing the mirror
                rows, values = self._changes()
                ahead.update(rows, values, c.size)
        return out


class ZeroVectorError(ValueError):
    """A message embedding with zero (or non-finite) norm: it has no direction."""

    def __init__(self, row: int):
        super().__init__(f"row {row}: embedding has zero or non-finite norm")
        self.row = row
