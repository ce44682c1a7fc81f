"""CPU self-kNN with IVF lists searched list by list as dense products (FAISS k-means + BLAS).

`ivf_self_knn(X, k, nlist, nprobe, ...)`: k-means (FAISS `Kmeans`, seeded sample) puts every row
in the list of its nearest centroid. All queries of one list share one probe set, the `nprobe`
centroids nearest to that list's centroid, and search it exactly: BLAS products of the list's
rows against the probed lists' rows, and running top-k lists filled from them
(engine.ops.knn_topk). FAISS's own IndexIVFFlat probes per query and scans its lists row by
row; sharing the probes turns the scan into matrix products, several times faster per
candidate on the CPU (measured on 64-d blobs: bench/results/communities.md).

Most probed pairs of lists probe each other (82% on 200k x 64 blobs, 16 probes of 894 lists):
the product of such a pair is taken once and serves both lists, its transpose feeding the
other list's rows (`pair_plan`), about 40% fewer products. The result is the same as searching
each list on its own, up to ties (top-k lists are ordered by score, then row index).

`nprobe=0` chooses the probe count from a sample (`calibrate_nprobe`): for sampled rows the
exact neighbours are known, and an exact neighbour is found iff its list is among the first p
lists probed for the query's list, so the recall at every p is read off without searching;
the smallest p whose sampled recall reaches `target_recall` is used.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from engine.ops.knn_common import drop_self
from engine.ops.knn_topk import (
    COL_BLOCK,
    NO_FLOOR,
    ROW_BLOCK,
    TopK,
    block_floor,
    exact_top,
    merge_cols,
    merge_rows,
)

NITER = 5  # k-means passes: the lists only need to be compact, not optimal (the probe count
# is calibrated on exact neighbours; 200k x 64 blobs: 5 passes need the same 16 probes as 10)
ASSIGN_BLOCK = 16384  # rows per block of the nearest-centroid pass, one block per thread
TRAIN_PER_LIST = 64  # rows sampled per list for k-means (FAISS warns below 39)
CALIBRATION_ROWS = 1000
TRAIN_DIM = 64  # wider rows are partitioned on their leading principal axes


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
    with one_thread_each() as threads:
        s, nb = exact_top(X[rows], X, k + 1, metric, threads)
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
    width = np.maximum(nprobe, enough)
    top = TopK(n, k + 1, X, metric)
    plan = pair_plan(near, width)
    locks = [threading.Lock() for _ in range(nlist)]

    def members(lst):
        return order[start[lst] : start[lst + 1]]

    def search(a, own):
        # One product per block of list a's rows against the lists it computes for; each
        # block serves a's rows and, transposed, the rows of the lists that probe a back.
        # Every list first takes its own rows (own=True), the likeliest neighbours: its
        # lists' worst pairs are then high before other lists' blocks arrive, and most of
        # their scores are screened out without an insertion (a quarter of the selection time).
        # The own block fills the lists from empty: its k-th best per row (a partition)
        # is a floor that skips the insertions of filling.
        rows = members(a)
        partners = plan.computes[a]
        partners = partners[(partners == a) == own]
        if not len(partners):
            return
        cand = np.concatenate([members(b) for b in partners])
        owner = np.repeat(partners, counts[partners])
        Xc = np.take(X, cand, axis=0)  # half the time of X[cand]
        for r0 in range(0, len(rows), ROW_BLOCK):
            r = rows[r0 : r0 + ROW_BLOCK]
            Q = X[r]
            for c0 in range(0, len(cand), COL_BLOCK):
                c1 = min(c0 + COL_BLOCK, len(cand))
                S = Q @ Xc[c0:c1].T
                bias = top.bias[cand[c0:c1]]
                floor = block_floor(S, bias, k + 1) if own else NO_FLOOR[: len(r)]
                with locks[a]:
                    merge_rows(S, 0, c1 - c0, r, cand[c0:c1], bias, top.scores, top.idx,
                               floor)
                for b, j0, j1 in segments(owner[c0:c1]):
                    if plan.gives[a, b]:
                        with locks[b]:
                            merge_cols(S, j0, j1, r, cand[c0 + j0 : c0 + j1], top.bias[r],
                                       top.scores, top.idx)

    lists = np.flatnonzero(counts)
    with one_thread_each() as threads, ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda a: search(a, True), lists))
        done = pool.map(lambda a: search(a, False), lists)
        for _ in (progress(done, len(lists), "knn search (lists)") if progress else done):
            pass
    scores, idx = top.result(np.einsum("ij,ij->i", X, X) if metric == "l2" else None)
    return scores, idx, info


@dataclass
class PairPlan:
    """Which list computes which products. `computes[a]`: the lists whose rows list a's rows
    are multiplied with in a's task; `gives[a, b]`: a's task also feeds that product,
    transposed, to list b. A pair of lists that probe each other is multiplied once, by the
    smaller list number, and serves both (on 200k x 64 blobs 82% of probed pairs are mutual:
    about 40% fewer products); a list probed by one side only is multiplied by that side."""

    computes: list[np.ndarray]
    gives: np.ndarray


def pair_plan(near: np.ndarray, width: np.ndarray) -> PairPlan:
    """PairPlan of lists probing near[a, :width[a]] (itself first)."""
    nlist = len(near)
    probed = np.arange(near.shape[1])[None, :] < width[:, None]
    probes = np.zeros((nlist, nlist), bool)
    probes[np.nonzero(probed)[0], near[probed]] = True
    ids = np.arange(nlist)
    mutual_lower = probes & probes.T & (ids[None, :] < ids[:, None])  # [a, b]: b < a
    computes = probes & ~mutual_lower
    keep = computes[ids[:, None], near] & probed  # in probe order
    return PairPlan(computes=[near[a][keep[a]] for a in ids], gives=mutual_lower.T.copy())


def segments(owner: np.ndarray):
    """(value, start, end) of each run of equal values in `owner`."""
    cut = np.flatnonzero(owner[1:] != owner[:-1]) + 1
    bounds = np.concatenate([[0], cut, [len(owner)]])
    return [(int(owner[s]), int(s), int(e)) for s, e in zip(bounds[:-1], bounds[1:],
                                                              strict=True)]


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
