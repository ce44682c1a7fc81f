"""Online centroid clustering with exact sequential semantics, computed in micro-batches.

Semantics (SPEC `stream`, seed 004), message by message in time order: x_hat = x / |x|; the
candidates are the active centroids (all, or those with a message in the last `window_days`);
the nearest one by cosine similarity wins, ties to the lowest cluster id; if its similarity is
below 1 - threshold (or there is none) the message starts a new cluster at x_hat with
confidence 1; otherwise its confidence is the similarity and the centroid moves to
normalise((n_eff c + x_hat) / (n_eff + 1)), n_eff = min(n, cap). The arithmetic is
`engine.stream.exact`'s (float64, fixed order), so the result is defined to the bit.

Batched computation: one matrix product screens a micro-batch against every centroid of the
snapshot in low precision (`screen`: float32 BLAS or bfloat16 torch on CPU, float32 cuBLAS
through CuPy on GPU) together with the batch's own Gram matrix; then the sequential pass (`batch_pass.assign_batch`, Numba on the CPU for both
backends) walks the messages in order, re-computing exactly only the centroids the screening
cannot rule out and correcting for centroids created or moved inside the batch. The result
equals the strictly sequential loop bit for bit (assignments, confidences and centroids),
for any batch size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.backend import Backend
from engine.stream import screen

NS_PER_DAY = 86_400 * 10**9
SHAPE_STEP = 512


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
        self._mirror = None  # the centroids in the screening format, on the backend's device

    # -- the low-precision copy of the centroids used by the screening product -------------
    def _refresh_mirror(self, rows: np.ndarray | None) -> None:
        c = self.centroids
        cap = c.vectors.shape[0]
        if self._mirror is None or self._mirror.shape[0] != cap:
            self._mirror = self.screen.convert(c.vectors)
            return
        if rows is not None and len(rows):
            self.screen.update_rows(self._mirror, rows, c.vectors[rows])

    def assign(self, embeddings: np.ndarray, times: np.ndarray) -> Assignments:
        """Assign messages (rows of `embeddings`, times in int64 ns, non-decreasing)."""
        from engine.stream.batch_pass import BF16_VALUES, assign_batch, screen_key
        from engine.stream.exact import normalise_rows

        N = embeddings.shape[0]
        out = Assignments(np.empty(N, np.int64), np.empty(N, np.float64), np.empty(N, bool))
        times = np.ascontiguousarray(times, dtype=np.int64)
        B = self.batch_size
        c = self.centroids
        drift = slot = None
        snap = np.empty((B, self.dim))
        creator = np.empty(B, np.int64)
        touched = np.empty(B, np.int64)
        for lo in range(0, N, B):
            hi = min(lo + B, N)
            X = np.empty((hi - lo, self.dim))
            bad = normalise_rows(embeddings[lo:hi], X)
            if bad >= 0:
                raise ZeroVectorError(lo + bad)
            c.reserve(c.size + B)
            if drift is None or drift.shape[0] != c.vectors.shape[0]:
                drift = np.zeros(c.vectors.shape[0])
                slot = np.full(c.vectors.shape[0], -1, np.int64)
            self._refresh_mirror(None)
            K0 = c.size
            Xs = self.screen.convert(X)
            # Screen against a column count rounded up to SHAPE_STEP: the extra columns are
            # never read, and a handful of distinct shapes keeps oneDNN's per-shape primitive
            # cache (and its buffers) from growing with every new cluster.
            K0_padded = min(-(-K0 // SHAPE_STEP) * SHAPE_STEP, c.vectors.shape[0])
            S = self.screen.product(Xs, self._mirror[:K0_padded])
            G = self.screen.product(Xs, Xs)
            bar = screen_key(self.sim_threshold - self.eps - 1e-12, S.dtype)
            K, n_touched, n_exact = assign_batch(
                X, times[lo:hi], S, G, BF16_VALUES, bar,
                c.vectors, c.counts, c.last_seen, K0, self.cap, self.sim_threshold, self.eps,
                self.window_ns, out.cluster[lo:hi], out.confidence[lo:hi],
                out.new_cluster[lo:hi], drift, snap, slot, creator, touched)
            c.created[K0:K] = times[lo:hi][creator[: K - K0]]
            c.size = K
            self.exact_checks += int(n_exact)
            changed = np.concatenate([touched[:n_touched], np.arange(K0, K)])
            self._refresh_mirror(changed)
        return out


class ZeroVectorError(ValueError):
    """A message embedding with zero (or non-finite) norm: it has no direction."""

    def __init__(self, row: int):
        super().__init__(f"row {row}: embedding has zero or non-finite norm")
        self.row = row
