"""Per (user, cluster) accumulation: participation score (sum of confidences), message count
and the sum of the users' unit message vectors (for their mean embedding in the cluster).

Users are coded in order of first appearance; a pair's row is found through a dict keyed by
user_code * 2^32 + cluster, and every batch is folded in with vectorised group sums.
"""

from __future__ import annotations

import numpy as np

PAIR_SHIFT = np.int64(1) << np.int64(32)


class Participation:
    def __init__(self, dim: int, users: np.ndarray | None = None,
                 pair_user: np.ndarray | None = None, pair_cluster: np.ndarray | None = None,
                 score: np.ndarray | None = None, count: np.ndarray | None = None,
                 vector_sum: np.ndarray | None = None):
        self.dim = dim
        self.users = list(np.asarray(users).tolist()) if users is not None else []
        self._user_code = {u: i for i, u in enumerate(self.users)}
        p = 0 if pair_user is None else len(pair_user)
        cap = max(p, 1024)
        self.size = p
        self.pair_user = _filled(cap, pair_user, np.int64)
        self.pair_cluster = _filled(cap, pair_cluster, np.int64)
        self.score = _filled(cap, score, np.float64)
        self.count = _filled(cap, count, np.int64)
        self.vector_sum = np.zeros((cap, dim))
        if p:
            self.vector_sum[:p] = vector_sum
        self._row = {int(k): i for i, k in enumerate(self.pair_user[:p] * PAIR_SHIFT
                                                      + self.pair_cluster[:p])}

    def codes(self, users: np.ndarray) -> np.ndarray:
        """User ids -> codes, registering new users in order of first appearance."""
        uniq, first, inv = np.unique(users, return_index=True, return_inverse=True)
        codes = np.empty(len(uniq), np.int64)
        for r in np.argsort(first, kind="stable"):
            u = uniq[r]
            u = u.item() if isinstance(u, np.generic) else u
            code = self._user_code.get(u)
            if code is None:
                code = self._user_code[u] = len(self.users)
                self.users.append(u)
            codes[r] = code
        return codes[inv.reshape(-1)]

    def add(self, users: np.ndarray, clusters: np.ndarray, confidence: np.ndarray,
            unit_vectors: np.ndarray) -> None:
        keys = self.codes(users) * PAIR_SHIFT + clusters.astype(np.int64)
        uniq, first, inv = np.unique(keys, return_index=True, return_inverse=True)
        inv = inv.reshape(-1)
        rows = np.empty(len(uniq), np.int64)
        for r in np.argsort(first, kind="stable"):  # new pairs in order of appearance
            k = int(uniq[r])
            row = self._row.get(k)
            if row is None:
                row = self._row[k] = self._append(k)
            rows[r] = row
        order = np.argsort(inv, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(inv[order]) != 0])
        self.score[rows] += np.add.reduceat(confidence[order], starts)
        self.count[rows] += np.bincount(inv, minlength=len(uniq))
        self.vector_sum[rows] += np.add.reduceat(unit_vectors[order], starts, axis=0)

    def _append(self, key: int) -> int:
        if self.size == len(self.pair_user):
            new = 2 * self.size
            for name in ("pair_user", "pair_cluster", "score", "count", "vector_sum"):
                a = getattr(self, name)
                b = np.zeros((new, *a.shape[1:]), a.dtype)
                b[: self.size] = a[: self.size]
                setattr(self, name, b)
        row = self.size
        self.pair_user[row] = key // int(PAIR_SHIFT)
        self.pair_cluster[row] = key % int(PAIR_SHIFT)
        self.size += 1
        return row

    def user_array(self) -> np.ndarray:
        return np.asarray(self.users) if self.users else np.zeros(0, np.int64)


def _filled(cap: int, values: np.ndarray | None, dtype) -> np.ndarray:
    out = np.zeros(cap, dtype)
    if values is not None:
        out[: len(values)] = values
    return out
