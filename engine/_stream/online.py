"""Online centroid clustering with exact sequential semantics, computed in micro-batches.

Semantics (SPEC `stream`, seed 004), message by message in time order: x_hat = x / |x|; the
candidates are the active centroids (all, or those with a message in the last `window_days`);
the nearest one by cosine similarity wins, ties to the lowest cluster id; if its similarity is
below 1 - threshold (or there is none) the message starts a new cluster at x_hat with
confidence 1; otherwise its confidence is the similarity and the centroid moves to
normalise((n_eff c + x_hat) / (n_eff + 1)), n_eff = min(n, cap). The arithmetic is
`engine._stream.exact`'s (float64, fixed order), so the result is defined to the bit.

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

from engine._stream import screen
from engine.backend import Backend

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
        self.dense_rows = 0  # pivot screen: messages screened against every copy (far ones)
        self.late_far_rows = 0  # ... of which found far only after their pivot was retaken
        self.known_gram_rows = 0  # new copies' Gram rows taken from their far rows' products
        self._mirror = None  # the centroids in the screening format, on the backend's device
        if pivot_min_clusters < 1:
            raise ValueError("pivot_min_clusters must be >= 1")
        self.pivot_min_clusters = int(pivot_min_clusters)
        self.pivot_max_clusters = int(pivot_max_clusters)
        self.pivot_max_drift = float(pivot_max_drift)
        self.pivot_min_reach = float(pivot_min_reach)
        self.pivots = None  # engine._stream.pivots.PivotIndex while the pivot screen runs

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
        ready = None  # the next batch prepared during this one's pass (`_Ahead`)
        refreshed = np.zeros(0, np.int64)  # copies retaken since `ready` was prepared
        far_rows = None  # (rows of `ready` far from every copy, their products with the copies)
        # One worker thread: it prepares batch b + 1 (unit rows, pivot search) while batch
        # b's sequential pass (Numba, without the GIL) runs on this thread.
        with ThreadPoolExecutor(1) as pool, _one_blas_thread(self.screen.kind == "pivot"):
            lo, size, rate = 0, B, 0.0
            while lo < N:
                hi = min(lo + size, N)
                c.reserve(c.size + B)
                K0 = c.size
                outs = (out.cluster[lo:hi], out.confidence[lo:hi], out.new_cluster[lo:hi])
                next_size = self._next_batch_size(rate)  # from the last finished batch
                if self._pivots_ready(K0):
                    if ready is None:
                        ready = _Ahead(None, self.pivots, embeddings[lo:hi], lo, self._reach)
                    batch = ready.collect()
                    ahead = None if hi == N else _Ahead(pool, self.pivots,
                                                        embeddings[hi : hi + next_size], hi,
                                                        self._reach)
                    K, touched, n_exact, screened = self._pivot_batch(
                        batch, refreshed, far_rows, times[lo:hi], *outs, pool, ahead)
                    ready = ahead
                else:
                    K, touched, n_exact = self._dense_batch(unit_rows(embeddings, lo, hi),
                                                            times[lo:hi], *outs)
                    ready, screened = None, None
                c.created[K0:K] = times[lo:hi][self._scratch.creator[: K - K0]]
                c.size = K
                self.exact_checks += int(n_exact)
                if self.pivots is not None:
                    # The workers' copies are read by `ready` only while it runs: it has
                    # finished (collected in `_pivot_batch`) before any copy changes.
                    refreshed = np.concatenate([self.pivots.stale(touched), np.arange(K0, K)])
                    # The next batch's far rows are screened in the same product as the
                    # refreshed copies' Gram rows: one read of the copies for both.
                    far, queries = (None, None) if ready is None else ready.far_queries()
                    Sd = self.pivots.refresh(c.vectors, refreshed, K, pool, queries,
                                             self._known_gram_rows(K0, K, screened))
                    far_rows = None if far is None else (far, Sd)
                else:
                    self._refresh_mirror(np.concatenate([touched, np.arange(K0, K)]))
                rate = (K - K0) / (hi - lo)
                # A prepared next batch is already cut; else this batch's rate decides.
                size = next_size if ready is not None else self._next_batch_size(rate)
                lo = hi
        return out

    def _next_batch_size(self, new_rate: float) -> int:
        """`batch_size`, or down to a quarter of it while more than 5% of the messages start
        clusters (the first days of a stream): every message of a batch is checked against
        every cluster started earlier in the batch, a cost that grows with the batch times
        the rate (on the 1M bench stream's first 10k messages: 60-90 us per message at 2048,
        45-65 at 512). Any size gives the same result."""
        B = self.batch_size
        if new_rate <= 0.05:
            return B
        return max(B // 4, min(B, int(B * 0.05 / new_rate)) // 64 * 64, 1)

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
            from engine._stream.pivots import PivotIndex

            self.pivots = PivotIndex(self.dim, self.pivot_max_drift)
            self.pivots.refresh(self.centroids.vectors, np.arange(K0), K0)
        return self.pivots is not None

    def _dense_batch(self, X, times, cluster, confidence, new_cluster):
        from engine._stream.batch_pass import BF16_VALUES, assign_batch, screen_key

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

    @property
    def _reach(self) -> tuple[float, float]:
        return self.pivot_min_reach, self.sim_threshold

    def _pivot_batch(self, batch, refreshed, far_rows, times, cluster, confidence, new_cluster,
                     pool, ahead):
        """One batch through pivot bounds (`batch`: a collected `_Ahead`, prepared before
        the copies `refreshed` were retaken; `far_rows`: its far rows and their products
        with the current copies, or None); returns (K, touched, n_exact). `ahead`, the
        next batch's preparation, runs on `pool` during the pass and is collected here."""
        from engine._stream.pivot_pass import assign_batch_pivot
        from engine._stream.pivots import products

        c, w, p = self.centroids, self._scratch, self.pivots
        w.fit(c.vectors.shape[0])
        K0 = c.size
        X, X32, ids, rho = batch
        moved = np.flatnonzero(np.isin(ids, refreshed))  # rho is for their old copies
        rho[moved] = p.rho(X[moved], ids[moved])
        # Far from every centroid a pivot bound rules out little: screen against all copies.
        far = np.flatnonzero(p.too_far(rho, *self._reach))
        if far_rows is None:
            Sd = products(X32[far], p.E[:K0], pool)
        else:  # screened with the refresh; rows whose pivot moved away are added
            known, Sd = far_rows
            extra = np.setdiff1d(far, known)
            far = np.concatenate([known, extra])
            self.late_far_rows += len(extra)
            if len(extra):
                Sd = np.vstack([Sd, products(X32[extra], p.E[:K0], pool)])
        self.dense_rows += len(far)
        pivot = ids.copy()
        pivot[far] = -1
        dense_row = np.full(len(X), -1, np.int64)
        dense_row[far] = np.arange(len(far))
        if ahead is not None:
            ahead.start()
        K, n_touched, n_exact = assign_batch_pivot(
            X, X32, times, pivot, rho, dense_row, Sd, p.E, p.Hq, p.delta, p.delta32, p.delta_q,
            p.err_h, c.vectors, c.counts, c.last_seen, K0, self.cap, self.sim_threshold,
            self.eps, self.window_ns, cluster, confidence, new_cluster, w.new_drift, w.slot,
            w.creator, w.touched)
        if ahead is not None:
            ahead.collect()  # before any copy changes (the refresh after this batch)
        return K, w.touched[:n_touched].copy(), n_exact, (dense_row, Sd)

    def _known_gram_rows(self, K0: int, K: int, screened) -> tuple | None:
        """(new centroids, their copies' products with the copies 0..K0-1) for those of
        K0..K-1 that the batch already screened: started by a far row (`screened`: each
        message's row of Sd, or -1) and joined by no other message, so that the centroid, and
        so its copy, is the message's unit row, whose float32 products Sd holds."""
        if screened is None or K == K0:
            return None
        dense_row, Sd = screened
        new = np.arange(K0, K)
        r = dense_row[self._scratch.creator[: K - K0]]
        keep = (r >= 0) & (self.centroids.counts[new] == 1)
        self.known_gram_rows += int(keep.sum())
        return new[keep], Sd[r[keep]]


class _Ahead:
    """A batch prepared for the pivot pass in `parts` chunks: unit rows (float64 and
    float32), pivot ids and rho for the copies as they are now. `start` queues the chunks
    on the worker thread; whatever the worker has not started when `collect` is called,
    this thread runs itself (the preparation and the pass then end together instead of one
    waiting for the other). Without a pool, `collect` runs every chunk here."""

    def __init__(self, pool, index, rows: np.ndarray, offset: int, reach: tuple,
                 parts: int = 8):
        n, d = rows.shape
        self.pool, self.index, self.rows, self.offset, self.reach = pool, index, rows, offset, reach
        self.X, self.X32 = np.empty((n, d)), np.empty((n, d), np.float32)
        self.ids, self.rho = np.empty(n, np.int64), np.empty(n)
        cuts = np.linspace(0, n, (parts if pool is not None else 1) + 1).astype(int)
        self.chunks = list(zip(cuts[:-1], cuts[1:], strict=True))
        self.futures = None
        self.result = None

    def start(self) -> None:
        self.futures = [self.pool.submit(self._chunk, lo, hi) for lo, hi in self.chunks]

    def _chunk(self, lo: int, hi: int) -> int:
        """Prepares rows lo..hi; returns the first row with no direction, or -1."""
        from engine._stream.exact import normalise_rows

        X = self.X[lo:hi]
        bad = normalise_rows(self.rows[lo:hi], X)
        if bad >= 0:
            return lo + bad
        self.X32[lo:hi] = X
        self.ids[lo:hi], self.rho[lo:hi] = self.index.search(X, self.X32[lo:hi], *self.reach)
        return -1

    def far_queries(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows far from every copy, their float32 rows), from the collected result."""
        X, X32, ids, rho = self.collect()
        far = np.flatnonzero(self.index.too_far(rho, *self.reach))
        return far, X32[far]

    def collect(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(X, X32, pivot ids, rho); raises ZeroVectorError for the first row with no
        direction."""
        if self.result is None:
            bad = [None] * len(self.chunks)
            futures = self.futures or [None] * len(self.chunks)
            for k in reversed(range(len(self.chunks))):  # the worker takes them in order
                if futures[k] is None or futures[k].cancel():
                    bad[k] = self._chunk(*self.chunks[k])
            for k, fut in enumerate(futures):
                if bad[k] is None:
                    bad[k] = fut.result()
            first = next((b for b in bad if b >= 0), -1)
            if first >= 0:
                raise ZeroVectorError(self.offset + first)
            self.result = self.X, self.X32, self.ids, self.rho
        return self.result


def _one_blas_thread(pivot: bool):
    """The pivot screen's products are small (a few rows against the copies) and run while
    the other core searches pivots: one BLAS and OpenMP thread each is faster than two
    threads spinning against the search (measured: ~25% on 2 cores)."""
    import contextlib

    if not pivot:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def unit_rows(embeddings: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Rows lo..hi as unit float64 rows."""
    from engine._stream.exact import normalise_rows

    X = np.empty((hi - lo, embeddings.shape[1]))
    bad = normalise_rows(embeddings[lo:hi], X)
    if bad >= 0:
        raise ZeroVectorError(lo + bad)
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
