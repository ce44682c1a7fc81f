"""Online centroid clustering with exact sequential semantics, computed in micro-batches.

Semantics (SPEC `stream`, seed 004), message by message in time order: x_hat = x / |x|; the
candidates are the active centroids (all, or those with a message in the last `window_days`);
the nearest one by cosine similarity wins, ties to the lowest cluster id; if its similarity is
below 1 - threshold (or there is none) the message starts a new cluster at x_hat with
confidence 1; otherwise its confidence is the similarity and the centroid moves to
normalise((n_eff c + x_hat) / (n_eff + 1)), n_eff = min(n, cap). The arithmetic is
`engine.stream.exact`'s (float64, fixed order), so the result is defined to the bit.

Batched computation: each micro-batch is screened, then the sequential pass walks its messages
in order, re-computing exactly only the centroids the screening cannot rule out and
correcting for centroids created or moved inside the batch. Two screens:
- dense (`batch_pass.assign_batch`): one low-precision product of the batch with every
  centroid (`screen`: float32 cuBLAS through CuPy on GPU, float32 BLAS or bfloat16 torch on
  CPU) and with itself;
- pivot (`pivot_pass.assign_batch_pivot`, CPU): triangle-inequality bounds through one nearby
  centroid and the centroids' Gram matrix (`pivots`), a float32 product only for messages far
  from every centroid. It reads O(K) bytes per message instead of O(K d) multiply-adds, and the
  next batch's pivot search runs on a second thread during this batch's pass.
Either way the result equals the strictly sequential loop bit for bit (assignments, confidences and centroids),
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
                 window_days: float | None = None, batch_size: int = 2048,
                 centroids: Centroids | None = None, screen_kind: str = "auto",
                 pivot_min_clusters: int = 1024, pivot_max_clusters: int = 65_536,
                 pivot_max_drift: float = 0.25, pivot_min_reach: float = 0.1):
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
        if pivot_min_clusters < 1:
            raise ValueError("pivot_min_clusters must be >= 1")
        self.pivot_min_clusters = int(pivot_min_clusters)
        self.pivot_max_clusters = int(pivot_max_clusters)
        self.pivot_max_drift = float(pivot_max_drift)
        self.pivot_min_reach = float(pivot_min_reach)
        self.pivots = None  # engine.stream.pivots.PivotIndex while the pivot screen runs

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
        from concurrent.futures import ThreadPoolExecutor

        N = embeddings.shape[0]
        out = Assignments(np.empty(N, np.int64), np.empty(N, np.float64), np.empty(N, bool))
        times = np.ascontiguousarray(times, dtype=np.int64)
        B = self.batch_size
        c = self.centroids
        self._scratch = _Scratch(B, self.dim)
        units = _UnitBatches(embeddings, B)
        pivot_ids = None  # the pivot search for the next batch, run during this one's pass
        # One worker thread: it searches pivots for batch b + 1 while batch b's sequential
        # pass (Numba, without the GIL) runs on this thread.
        with ThreadPoolExecutor(1, initializer=_one_openmp_thread) as pool, _one_blas_thread(
                self.screen.kind == "pivot"):
            for lo in range(0, N, B):
                hi = min(lo + B, N)
                X = units.get(lo)
                c.reserve(c.size + B)
                K0 = c.size
                batch = (X, times[lo:hi], out.cluster[lo:hi], out.confidence[lo:hi],
                         out.new_cluster[lo:hi])
                if self._pivots_ready(K0):
                    X_next = units.get(hi) if hi < N else None
                    K, touched, n_exact, pivot_ids = self._pivot_batch(*batch, pivot_ids,
                                                                       X_next, pool)
                else:
                    K, touched, n_exact = self._dense_batch(*batch)
                    pivot_ids = None
                c.created[K0:K] = times[lo:hi][self._scratch.creator[: K - K0]]
                c.size = K
                self.exact_checks += int(n_exact)
                if self.pivots is not None:
                    stale = self.pivots.stale(touched)
                    self.pivots.refresh(c.vectors, np.concatenate([stale, np.arange(K0, K)]), K,
                                        pool)
                else:
                    self._refresh_mirror(np.concatenate([touched, np.arange(K0, K)]))
        return out

    def _pivots_ready(self, K0: int) -> bool:
        """Pivot bounds from `pivot_min_clusters` centroids on, dense screening beyond
        `pivot_max_clusters` (H would be too large) or before (a product is cheap)."""
        if self.screen.kind != "pivot":
            return False
        if self.pivots is not None and K0 + self.batch_size > self.pivot_max_clusters:
            self.pivots = None  # frees H; the dense screen takes over for good
            self._mirror = None
            self.screen.kind = "float32"
            return False
        if self.pivots is None and K0 >= self.pivot_min_clusters:
            from engine.stream.pivots import PivotIndex

            self.pivots = PivotIndex(self.dim, self.pivot_max_drift)
            self.pivots.refresh(self.centroids.vectors, np.arange(K0), K0)
        return self.pivots is not None

    def _dense_batch(self, X, times, cluster, confidence, new_cluster):
        from engine.stream.batch_pass import BF16_VALUES, assign_batch, screen_key

        c, w = self.centroids, self._scratch
        w.fit(c.vectors.shape[0])
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
            X, times, S, G, BF16_VALUES, bar, c.vectors, c.counts, c.last_seen, K0, self.cap,
            self.sim_threshold, self.eps, self.window_ns, cluster, confidence, new_cluster,
            w.drift, w.snap, w.slot, w.creator, w.touched)
        return K, w.touched[:n_touched].copy(), n_exact

    def _pivot_batch(self, X, times, cluster, confidence, new_cluster, pivot_ids, X_next, pool):
        """One batch through pivot bounds; returns (K, touched, n_exact, the next batch's
        pivot search), the search run on `pool` during this batch's pass."""
        from engine.stream.pivot_pass import assign_batch_pivot
        from engine.stream.pivots import products

        c, w, p = self.centroids, self._scratch, self.pivots
        w.fit(c.vectors.shape[0])
        K0 = c.size
        X32 = X.astype(np.float32)
        reach = (self.pivot_min_reach, self.sim_threshold)
        if pivot_ids is None:
            pivot_ids = p.search(X, X32, *reach)
        # Far from every centroid a pivot bound rules out little: screen against all copies.
        pivot, rho = p.pivots(X, pivot_ids, *reach)
        far = np.flatnonzero(pivot < 0)
        dense_row = np.full(len(X), -1, np.int64)
        dense_row[far] = np.arange(len(far))
        Sd = products(X32[far], p.E[:K0], pool)
        ahead = None if X_next is None else _SearchAhead(pool, p, X_next, reach)
        K, n_touched, n_exact = assign_batch_pivot(
            X, X32, times, pivot, rho, dense_row, Sd, p.E, p.Hq, p.delta, p.delta32, p.delta_q,
            p.err_h, c.vectors, c.counts, c.last_seen, K0, self.cap, self.sim_threshold,
            self.eps, self.window_ns, cluster, confidence, new_cluster, w.new_drift, w.slot,
            w.creator, w.touched)
        # The index changes only after this returns (refresh), never during the search.
        next_ids = None if ahead is None else ahead.collect()
        return K, w.touched[:n_touched].copy(), n_exact, next_ids


class _SearchAhead:
    """The next batch's pivot search in `parts` chunks queued on the worker thread; whatever
    the worker has not started when this thread's pass ends, this thread runs itself (the
    search and the pass then end together instead of one waiting for the other)."""

    def __init__(self, pool, index, X: np.ndarray, reach: tuple, parts: int = 8):
        X32 = X.astype(np.float32)
        cuts = np.linspace(0, len(X), parts + 1).astype(int)
        self.search = lambda lo, hi: index.search(X[lo:hi], X32[lo:hi], *reach)
        self.chunks = list(zip(cuts[:-1], cuts[1:], strict=True))
        self.futures = [pool.submit(self.search, lo, hi) for lo, hi in self.chunks]

    def collect(self) -> np.ndarray:
        ids = [None] * len(self.chunks)
        for k in reversed(range(len(self.chunks))):  # the worker takes them in order
            if self.futures[k].cancel():
                ids[k] = self.search(*self.chunks[k])
        for k, fut in enumerate(self.futures):
            if ids[k] is None:
                ids[k] = fut.result()
        return np.concatenate(ids)


def _one_openmp_thread() -> None:
    """The pivot search thread runs FAISS on one OpenMP thread (a per-thread setting): the
    other core runs the sequential pass meanwhile."""
    import faiss

    faiss.omp_set_num_threads(1)


def _one_blas_thread(pivot: bool):
    """The pivot screen's products are small (a few rows against the copies) and run while
    the other core searches pivots: one BLAS and OpenMP thread each is faster than two
    threads spinning against the search (measured: ~25% on 2 cores)."""
    import contextlib

    if not pivot:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


class _UnitBatches:
    """Unit rows (float64) of consecutive batches, each normalised once though it is needed
    twice (the pivot search ahead, then the batch itself)."""

    def __init__(self, embeddings: np.ndarray, batch_size: int):
        self.embeddings = embeddings
        self.batch_size = batch_size
        self._cache: dict[int, np.ndarray] = {}

    def get(self, lo: int) -> np.ndarray:
        from engine.stream.exact import normalise_rows

        if lo in self._cache:
            return self._cache.pop(lo)
        rows = self.embeddings[lo : lo + self.batch_size]
        X = np.empty((rows.shape[0], rows.shape[1]))
        bad = normalise_rows(rows, X)
        if bad >= 0:
            raise ZeroVectorError(lo + bad)
        self._cache = {lo: X}
        return X


class _Scratch:
    """Per-batch work arrays of the sequential passes (drift/slot sized to the capacity)."""

    def __init__(self, B: int, dim: int):
        self.snap = np.empty((B, dim))
        self.creator = np.empty(B, np.int64)
        self.new_drift = np.empty(B)
        self.touched = np.empty(B, np.int64)
        self.drift = np.zeros(0)
        self.slot = np.zeros(0, np.int64)

    def fit(self, capacity: int) -> None:
        if self.drift.shape[0] != capacity:
            self.drift = np.zeros(capacity)
            self.slot = np.full(capacity, -1, np.int64)


class ZeroVectorError(ValueError):
    """A message embedding with zero (or non-finite) norm: it has no direction."""

    def __init__(self, row: int):
        super().__init__(f"row {row}: embedding has zero or non-finite norm")
        self.row = row
