"""Narrower rows for the kNN search of wide features, then exact re-ranking in full width.

An HNSW distance costs O(d): on the activations' concatenated sketch (layers x rp_dim, e.g.
7 x 64 = 448 columns) the search is 7x dearer than on 64-d embeddings. `pca_rows` projects the
rows on their top principal axes (L2-normalised again, so inner product stays cosine); the
index then proposes `candidates x k` neighbours in that space and `rerank` keeps the k best by
exact inner product on the full rows. Recall is still measured against exact search on the
full rows (engine.ops.knn.sample_recall).
"""

from __future__ import annotations

import numpy as np


def pca_rows(F, dim: int, xp=np):
    """(n, dim) float32 projection of F on its `dim` leading principal axes, rows L2-normalised."""
    F = xp.asarray(F, dtype=xp.float32)
    mean = F.mean(axis=0)
    centred = F - mean
    cov = (centred.T.astype(xp.float64) @ centred.astype(xp.float64)) / max(F.shape[0] - 1, 1)
    _, vecs = xp.linalg.eigh(cov)  # ascending eigenvalues
    axes = vecs[:, ::-1][:, :dim].astype(xp.float32)
    Y = centred @ axes
    norms = xp.linalg.norm(Y, axis=1, keepdims=True)
    return xp.ascontiguousarray(Y / xp.maximum(norms, 1e-12))


def rerank(F, idx, k: int, batch_rows: int = 4096, xp=np):
    """Exact inner products of each row with its candidate rows `idx` (-1 = none), the best k
    first: (scores float32 with NaN for missing, idx int64 with -1), host arrays."""
    F = xp.asarray(F, dtype=xp.float32)
    idx = xp.asarray(idx)
    n = idx.shape[0]
    out_s = np.empty((n, k), np.float32)
    out_i = np.empty((n, k), np.int64)
    for lo in range(0, n, batch_rows):
        hi = min(lo + batch_rows, n)
        cand = idx[lo:hi]
        valid = cand >= 0
        # (rows, candidates, d) gathered one block at a time keeps memory at batch x c x d.
        s = (F[xp.where(valid, cand, 0)] * F[lo:hi, None, :]).sum(axis=-1)
        s = xp.where(valid, s, -xp.inf)
        order = xp.argsort(-s, axis=1, kind="stable")[:, :k]
        s = xp.take_along_axis(s, order, 1)
        c = xp.take_along_axis(cand, order, 1)
        missing = ~xp.isfinite(s)
        out_s[lo:hi] = _host(xp.where(missing, xp.nan, s).astype(xp.float32))
        out_i[lo:hi] = _host(xp.where(missing, -1, c))
    return out_s, out_i


def _host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)
