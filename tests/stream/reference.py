"""A plain message-by-message implementation of the stream clustering, for the tests.

It follows SPEC's `stream` definition literally, with NumPy: every similarity is an
elementwise product summed in eight lanes (each left to right) and a fixed tree, which is
the reference arithmetic documented in `engine._stream.exact`.
"""

from __future__ import annotations

import numpy as np


def ref_sum(a: np.ndarray) -> np.ndarray:
    """The sum over the last axis in `engine._stream.exact`'s order: eight lanes (k mod 8),
    each summed left to right, the d mod 8 trailing terms added to lane 0 last, then
    ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))."""
    a = np.asarray(a, dtype=np.float64)
    d = a.shape[-1]
    m = d - d % 8
    lanes = np.zeros(a.shape[:-1] + (8,))
    if m:
        # Each lane left to right, eight columns at a time (cumsum's order, 5x faster).
        lanes = a[..., :8].copy()
        for j in range(8, m, 8):
            lanes = lanes + a[..., j : j + 8]
    s0 = lanes[..., 0]
    for k in range(m, d):
        s0 = s0 + a[..., k]
    s = lanes[..., 1:]
    return ((s0 + s[..., 0]) + (s[..., 1] + s[..., 2])) + ((s[..., 3] + s[..., 4])
                                                          + (s[..., 5] + s[..., 6]))


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.sqrt(ref_sum(x * x))[..., None]


class Reference:
    def __init__(self, dim: int, threshold: float = 0.22, cap: int = 1000,
                 window_days: float | None = None):
        self.s_th = 1.0 - threshold
        self.cap = cap
        self.window = None if window_days is None else int(round(window_days * 86_400e9))
        self._rows = np.zeros((16, dim))  # room for new centroids, doubled when full
        self.n: list[int] = []
        self.last: list[int] = []

    @property
    def C(self) -> np.ndarray:
        """The centroids so far, one unit row each (a view)."""
        return self._rows[: len(self.n)]

    def step(self, x: np.ndarray, t: int) -> tuple[int, float, bool]:
        x = unit(x)
        if len(self.n):
            sims = ref_sum(self.C * x)
            if self.window is not None:
                sims[t - np.asarray(self.last) > self.window] = -np.inf
            j = int(np.argmax(sims))  # the first maximum: ties go to the lowest id
            if sims[j] >= self.s_th:
                ne = float(min(self.n[j], self.cap))
                v = (ne * self.C[j] + x) / (ne + 1.0)
                self.C[j] = v / np.sqrt(ref_sum(v * v))
                self.n[j] += 1
                self.last[j] = t
                return j, float(sims[j]), False
        if len(self.n) == len(self._rows):  # grown by doubling: appending stays linear
            self._rows = np.concatenate([self._rows, np.zeros_like(self._rows)])
        self._rows[len(self.n)] = x
        self.n.append(1)
        self.last.append(int(t))
        return len(self.n) - 1, 1.0, True

    def run(self, emb: np.ndarray, times: np.ndarray):
        out = [self.step(x, int(t)) for x, t in zip(emb, times, strict=True)]
        cluster, conf, new = (np.array(v) for v in zip(*out, strict=True))
        return cluster.astype(np.int64), conf.astype(np.float64), new.astype(bool)
