"""Running top-k lists filled from dense score blocks (Numba), and exact top-k by blocks.

`TopK(n, k)` holds, for each of n rows, the k best (value, index) pairs seen so far, best
first: value descending, then index ascending. That is a total order, so a list ends the same
whatever order its blocks arrive in, and threads may merge blocks in any order.
`merge_rows` feeds a block S (queries x candidates) to the queries' lists; `merge_cols` feeds
its transpose to the candidates' lists, so one product serves two lists that probe each other.

Selection keeps each list's worst pair at hand and compares every score with it once; on
clustered data almost every score fails that test. FAISS's own top-k over a product
(faiss.knn) spent three quarters of the IVF search in selection (64-d rows, k = 16: 3.6 of
4.7 s per 894 lists, the product itself 1.1 s).

`exact_top(Q, X, k, metric)`: brute-force top-k of every row of Q against all of X, the
product taken in blocks (memory stays bounded) and rows split between threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

EMPTY = np.iinfo(np.int64).max  # index of an unfilled slot: loses every tie
COL_BLOCK = 8192  # candidates per product: a block of ROW_BLOCK x COL_BLOCK floats (8 MB)
ROW_BLOCK = 256
NO_FLOOR = np.full(ROW_BLOCK, -np.inf, np.float32)
CHUNK = 64  # scores screened at once against a list's worst pair before any is inserted


@njit(nogil=True, cache=True)
def _insert(best_s, best_i, v, c):
    """Insert (v, c) into one sorted list whose last pair it beats."""
    p = best_s.shape[0] - 1
    while p > 0 and (best_s[p - 1] < v or (best_s[p - 1] == v and best_i[p - 1] > c)):
        best_s[p] = best_s[p - 1]
        best_i[p] = best_i[p - 1]
        p -= 1
    best_s[p] = v
    best_i[p] = c


@njit(nogil=True, cache=True)
def merge_rows(S, j0, j1, rows, cols, bias, best_s, best_i, floor):
    """Row i of S[:, j0:j1] scores candidates cols[j - j0] (value S[i, j] + bias[j - j0]) for
    the list of rows[i]. Values below floor[i] are skipped: a floor no higher than the k-th
    best value of the row's block (`block_floor`) loses nothing, and spares the insertions a
    list makes while it fills."""
    last = best_s.shape[1] - 1
    for i in range(S.shape[0]):
        bs = best_s[rows[i]]
        bi = best_i[rows[i]]
        ts, ti = bs[last], bi[last]
        f = floor[i]
        row = S[i, j0:j1]
        for c0 in range(0, j1 - j0, CHUNK):
            v_ = row[c0 : c0 + CHUNK]
            b_ = bias[c0 : c0 + CHUNK]
            if not _any_reaches(v_, b_, max(ts, f)):
                continue
            c_ = cols[c0 : c0 + CHUNK]
            for x in range(len(v_)):
                v = v_[x] + b_[x]
                if v >= f and (v > ts or (v == ts and c_[x] < ti)):
                    _insert(bs, bi, v, c_[x])
                    ts, ti = bs[last], bi[last]


def block_floor(S: np.ndarray, bias: np.ndarray, k: int) -> np.ndarray:
    """Per row of S, the k-th best value S[i, j] + bias[j] (-inf where fewer than k)."""
    if S.shape[1] < k:
        return np.full(len(S), -np.inf, np.float32)
    V = S + bias if bias.any() else S
    return np.partition(V, V.shape[1] - k, axis=1)[:, V.shape[1] - k]


@njit(nogil=True, cache=True)
def merge_cols(S, j0, j1, rows, cols, bias, best_s, best_i):
    """The transpose: column j of S[:, j0:j1] scores candidates rows[i] (value S[i, j] +
    bias[i]) for the list of cols[j - j0]. S is read row by row, each list's worst pair
    kept in local arrays."""
    last = best_s.shape[1] - 1
    m = j1 - j0
    ts = np.empty(m, best_s.dtype)
    ti = np.empty(m, best_i.dtype)
    for j in range(m):
        ts[j] = best_s[cols[j], last]
        ti[j] = best_i[cols[j], last]
    for i in range(S.shape[0]):
        c = rows[i]
        b = bias[i]
        row = S[i, j0:j1]
        for c0 in range(0, m, CHUNK):
            v_ = row[c0 : c0 + CHUNK]
            t_ = ts[c0 : c0 + CHUNK]
            if not _any_reaches_each(v_, b, t_):
                continue
            for x in range(len(v_)):
                v = v_[x] + b
                j = c0 + x
                if v > ts[j] or (v == ts[j] and c < ti[j]):
                    r = cols[j]
                    _insert(best_s[r], best_i[r], v, c)
                    ts[j] = best_s[r, last]
                    ti[j] = best_i[r, last]


@njit(nogil=True, cache=True, inline="always")
def _any_reaches(v, b, t):
    """Whether some v[x] + b[x] >= t: a branch-free loop LLVM vectorises, so a chunk of
    scores that cannot enter the list costs a fraction of a compare-and-branch each."""
    hit = 0
    for x in range(len(v)):
        hit += v[x] + b[x] >= t
    return hit > 0


@njit(nogil=True, cache=True, inline="always")
def _any_reaches_each(v, b, t):
    """Whether some v[x] + b >= t[x] (as _any_reaches, one threshold per score)."""
    hit = 0
    for x in range(len(v)):
        hit += v[x] + b >= t[x]
    return hit > 0


class TopK:
    """Top-k lists of n rows under one metric. Values are what the lists rank (larger is
    better): the inner product for "ip"; for "l2", x.y - |y|^2 / 2, which orders candidates y
    of a query x as -|x - y|^2 does (`bias` holds the per-row -|y|^2 / 2, 0 for "ip")."""

    def __init__(self, n: int, k: int, X: np.ndarray, metric: str = "ip"):
        self.metric = metric
        self.scores = np.full((n, k), -np.inf, np.float32)
        self.idx = np.full((n, k), EMPTY, np.int64)
        self.bias = (np.zeros(len(X), np.float32) if metric == "ip"
                     else (-0.5 * np.einsum("ij,ij->i", X, X)).astype(np.float32))

    def result(self, norms: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, idx) as FAISS returns them: best first, index -1 in unfilled slots; for
        "l2" squared distances |x|^2 - 2 value (clipped at 0, as FAISS does), `norms` being
        the rows' |x|^2."""
        idx = np.where(self.idx == EMPTY, -1, self.idx)
        if self.metric == "ip":
            return self.scores, idx
        d = np.maximum(norms[:, None] - 2 * self.scores, 0).astype(np.float32)
        return np.where(idx >= 0, d, np.inf).astype(np.float32), idx


def exact_top(Q: np.ndarray, X: np.ndarray, k: int, metric: str = "ip",
              threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The k best rows of X for every row of Q, best first (faiss.knn's contract; ties by
    index), by brute force in blocks of ROW_BLOCK x COL_BLOCK."""
    Q = np.ascontiguousarray(Q, dtype=np.float32)
    X = np.ascontiguousarray(X, dtype=np.float32)
    top = TopK(len(Q), min(k, len(X)), X, metric)
    cols = np.arange(len(X), dtype=np.int64)

    def block(lo):
        rows = np.arange(lo, min(lo + ROW_BLOCK, len(Q)), dtype=np.int64)
        for c0 in range(0, len(X), COL_BLOCK):
            c1 = min(c0 + COL_BLOCK, len(X))
            S = Q[lo : lo + len(rows)] @ X[c0:c1].T
            merge_rows(S, 0, c1 - c0, rows, cols[c0:c1], top.bias[c0:c1], top.scores,
                       top.idx, NO_FLOOR[: len(rows)])

    with ThreadPoolExecutor(max(1, threads)) as pool:
        list(pool.map(block, range(0, len(Q), ROW_BLOCK)))
    s, i = top.result(np.einsum("ij,ij->i", Q, Q) if metric == "l2" else None)
    if k > len(X):  # fewer rows than asked for: pad as FAISS does
        pad = k - len(X)
        s = np.pad(s, ((0, 0), (0, pad)), constant_values=-np.inf if metric == "ip" else np.inf)
        i = np.pad(i, ((0, 0), (0, pad)), constant_values=-1)
    return s, i
