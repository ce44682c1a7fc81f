"""CPU self-kNN with IVF lists searched list by list as dense products (FAISS k-means + BLAS).

`ivf_self_knn(X, k, nlist, nprobe, ...)`: k-means (FAISS `Kmeans`, seeded sample) puts every row
in the list of its nearest centroid. All queries of one list share one probe set, the `nprobe`
centroids nearest to that list's centroid, and search it exactly with one `faiss.knn` call
(a BLAS product of the list's rows against the probed lists' rows, then FAISS's top-k). FAISS's
own IndexIVFFlat probes per query and scans its lists row by row; sharing the probes turns the
scan into matrix products, several times faster per candidate on the CPU (measured on 64-d
blobs: bench/results/communities.md).

`nprobe=0` chooses the probe count from a sample (`calibrate_nprobe`): for sampled rows the
exact neighbours are known, and an exact neighbour is found iff its list is among the first p
lists probed for the query's list, so the recall at every p is read off without searching;
the smallest p whose sampled recall reaches `target_recall` is used.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from engine.ops.knn_common import drop_self, faiss_metric

NITER = 5  # k-means passes: the lists only need to be compact, not optimal (the probe count
# is calibrated on exact neighbours; 200k x 64 blobs: 5 passes need the same 16 probes as 10)
ASSIGN_BLOCK = 16384  # rows per block of the nearest-centroid pass, one block per thread
TRAIN_PER_LIST = 64  # rows sampled per list for k-means (FAISS warns below 39)
CALIBRATION_ROWS = 1000
TRAIN_DIM = 64  # wider rows are partitioned on their leading principal axes
NUMPY_TOPK_DIM = 128  # from this width a BLAS product + argpartition beats faiss.knn (3x at 448)


def default_lists(n: int) -> int:
    """About 2 sqrt(n) lists (200k rows: 894 lists of ~224), at least TRAIN_PER_LIST rows each."""
    return max(1, min(int(2 * np.sqrt(n)), n // TRAIN_PER_LIST))


def train_lists(X: np.ndarray, nlist: int, metric: str = "ip", seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
    """(centroids (nlist, d'), list of every row (n,)) from seeded k-means on a sample.

    Rows wider than TRAIN_DIM are partitioned on their first TRAIN_DIM principal axes (d' =
    TRAIN_DIM): the lists only need to be compact, the search inside them is exact on the full
    rows, and the probe count is calibrated on exact neighbours, so recall is kept while
    k-means costs d / TRAIN_DIM times less (7x on 448-wide activation sketches)."""
    import faiss

    n, d = X.shape
    rng = np.random.default_rng([seed, 11])
    m = min(n, TRAIN_PER_LIST * nlist)
    sample = X if m == n else X[np.sort(rng.choice(n, m, replace=False))]
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    assign = np.empty(n, np.int64)

    def assign_block(lo):  # projected in blocks: memory stays ~1x the matrix
        rows = X[lo : lo + ASSIGN_BLOCK]
        _, a = km.index.search(np.ascontiguousarray(rows @ project if project is not None
                                                    else rows, dtype=np.float32), 1)
        assign[lo : lo + len(rows)] = a[:, 0]

    # The axes and the k-means run on one thread: their products are too small for BLAS's
    # and OpenMP's threads to pay off (they spun for half the CPU); the assignment of every
    # row is split into blocks, one per thread.
    with one_thread_each() as threads:
        project = principal_axes(sample, TRAIN_DIM) if d > TRAIN_DIM else None
        if project is not None:
            sample = sample @ project
        km = faiss.Kmeans(sample.shape[1], nlist, niter=NITER, seed=int(seed) % (2**31),
                          spherical=metric == "ip" and project is None,
                          max_points_per_centroid=TRAIN_PER_LIST)
        km.train(sample)
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(assign_block, range(0, n, ASSIGN_BLOCK)))
    return km.centroids, assign


def principal_axes(sample: np.ndarray, r: int) -> np.ndarray:
    """(d, r) float32: the r leading eigenvectors of the sample's uncentred second moment
    (for unit rows the inner-product geometry is what matters, so no centring). The moment
    is summed in float32, a third of float64's time: the axes only steer a search."""
    sample = np.asarray(sample, dtype=np.float32)
    G = (sample.T @ sample).astype(np.float64)
    _, vecs = np.linalg.eigh(G)
    return np.ascontiguousarray(vecs[:, ::-1][:, :r], dtype=np.float32)


def probe_order(C: np.ndarray, width: int) -> np.ndarray:
    """For every list, the `width` lists whose centroids are nearest to its own (itself
    first). Euclidean for both metrics: spherical centroids have unit norm, where it orders as
    the inner product does, and projected centroids do not."""
    import faiss

    _, near = faiss.knn(C, C, width, metric=faiss.METRIC_L2)
    return near


def calibrate_nprobe(X, assign, near, k, target_recall, metric="ip", seed=0,
                     n_rows=CALIBRATION_ROWS) -> tuple[int, float]:
    """Smallest probe count whose recall@k on sampled rows reaches `target_recall`
    (exactly what the list-by-list search would return for those rows), and that recall."""

    n = X.shape[0]
    rows = np.sort(np.random.default_rng([seed, 13]).choice(n, min(n_rows, n), replace=False))
    step = max(1, (1 << 24) // n)  # query blocks of ~16M similarities (64 MB)
    with one_thread_each() as threads, ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(lambda lo: _top(X[rows[lo : lo + step]], X, k + 1, metric),
                              range(0, len(rows), step)))
    s, nb = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    _, nb = drop_self(s, nb, k, row_ids=rows)
    keep = nb >= 0
    # rank_of[i, list]: position of that list in the probe order of sampled row i's list.
    nlist, width = near.shape
    rank_of = np.full((len(rows), nlist), width, np.int64)
    np.put_along_axis(rank_of, near[assign[rows]], np.arange(width)[None, :], axis=1)
    ranks = np.take_along_axis(rank_of, assign[np.maximum(nb, 0)], axis=1)[keep]
    found = np.bincount(ranks, minlength=width + 1)[:width].cumsum() / max(keep.sum(), 1)
    p = int(np.searchsorted(found, target_recall - 1e-12) + 1)
    p = min(p, width)
    return p, float(found[p - 1])


def ivf_self_knn(X: np.ndarray, k: int, nlist: int = 0, nprobe: int = 0, metric: str = "ip",
                 seed: int = 0, target_recall: float = 0.96, progress=None
                 ) -> tuple[np.ndarray, np.ndarray, dict]:
    """(scores, idx, info): the k + 1 best rows of X for every row of X (self included, as a
    FAISS search returns it; -1 where a probe set holds fewer rows). `nlist` 0: default_lists;
    `nprobe` 0: calibrated to `target_recall`. info: nlist, nprobe, calibrated recall."""

    X = np.ascontiguousarray(X, dtype=np.float32)
    n = X.shape[0]
    nlist = min(int(nlist) or default_lists(n), n)
    C, assign = train_lists(X, nlist, metric, seed)
    order = np.argsort(assign, kind="stable")
    counts = np.bincount(assign, minlength=nlist)
    start = np.concatenate([[0], np.cumsum(counts)])
    near = probe_order(C, nlist)
    info = {"nlist": nlist}
    if nprobe <= 0:
        nprobe, info["calibrated_recall"] = calibrate_nprobe(X, assign, near, k, target_recall,
                                                             metric, seed)
    nprobe = min(int(nprobe), nlist)
    info["nprobe"] = nprobe
    # A list whose first nprobe lists hold too few rows probes on until they hold k + 1.
    enough = (np.cumsum(counts[near], axis=1) >= k + 1).argmax(axis=1) + 1
    scores = np.empty((n, k + 1), np.float32)
    idx = np.empty((n, k + 1), np.int64)
    lists = np.flatnonzero(counts)

    def search(li):
        probe = near[li, : max(nprobe, int(enough[li]))]
        # Rows gathered list by list (no sorted copy of X: memory stays ~1x the matrix).
        cand = order[np.concatenate([np.arange(start[j], start[j + 1]) for j in probe])]
        rows = order[start[li] : start[li + 1]]
        s, i = _top(X[rows], X[cand], k + 1, metric)
        return rows, s, np.where(i >= 0, cand[np.maximum(i, 0)], -1)

    with one_thread_each() as threads, ThreadPoolExecutor(threads) as pool:
        found = pool.map(search, lists)
        for rows, s, i in (progress(found, len(lists), "knn search (lists)")
                           if progress else found):
            scores[rows] = s
            idx[rows] = i
    return scores, idx, info


@contextlib.contextmanager
def one_thread_each():
    """Yields the thread count FAISS would use, with FAISS (OpenMP) and BLAS set to one thread
    meanwhile: lists are searched concurrently, one per thread. A list's product is too small
    for OpenMP's threads to pay off: they spun for half the CPU time (200k x 64 blobs: 12.4 CPU
    s and 29 s wall with two OpenMP threads against 6.5 CPU s and 11 s with two lists at once,
    on a loaded machine)."""
    import faiss
    from threadpoolctl import threadpool_limits

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield threads
    finally:
        faiss.omp_set_num_threads(threads)


def _top(Q: np.ndarray, D: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """The k best rows of D for every row of Q, best first (faiss.knn's contract). Wide inner
    products go through one BLAS product and argpartition: FAISS's own selection dominates
    its time there."""
    import faiss

    if metric != "ip" or Q.shape[1] < NUMPY_TOPK_DIM or len(D) <= k:
        return faiss.knn(Q, D, k, metric=faiss_metric(metric))
    S = Q @ D.T
    part = np.argpartition(-S, k - 1, axis=1)[:, :k]
    s = np.take_along_axis(S, part, axis=1)
    order = np.lexsort((part, -s), axis=1)  # best first, ties by row: deterministic
    return np.take_along_axis(s, order, axis=1), np.take_along_axis(part, order, axis=1)
