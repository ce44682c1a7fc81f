"""Similarity tiles of one cluster: one matrix product per tile of users, and its pairs.

A tile is a run of users [u0, u1) of a cluster whose rows are r0:r1; its block of cosine
similarities is G = X[r0:r1] @ X[r0:].T, which holds S for every pair (i, j), u0 <= i < u1,
i < j. The budget bounds G's size, so a large cluster becomes several tiles (upper triangle
only); on the CPU a cluster whose whole Gram matrix fits the budget is one symmetric product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine._balance.rows import fast_rows, unit_rows


@dataclass
class TilePairs:
    """Pairs of one tile, as offsets into its G block (rows a_off.., columns b_off..)."""

    user_i: np.ndarray  # local user index (within the cluster) of the first user
    user_j: np.ndarray  # ... of the second user (j > i)
    a_off: np.ndarray
    a_n: np.ndarray
    b_off: np.ndarray
    b_n: np.ndarray


def plan_tiles(row_start: np.ndarray, max_elements: int, max_rows: int | None = None
               ) -> list[tuple[int, int]]:
    """User ranges [u0, u1) whose G block has at most `max_elements` entries and `max_rows`
    rows (one user at least).

    `row_start` are the cluster's user offsets (n_users + 1, starting at 0). Thin tiles skip
    most of the lower triangle: with B tiles a cluster costs (B + 1) / 2B of its full product.
    """
    n_users = len(row_start) - 1
    n_rows = int(row_start[-1])
    tiles = []
    u0 = 0
    while u0 < n_users - 1:  # the last user pairs with nobody after it
        r0 = int(row_start[u0])
        width = n_rows - r0
        u1 = u0 + 1
        while (u1 < n_users - 1 and (int(row_start[u1 + 1]) - r0) * width <= max_elements
               and (max_rows is None or int(row_start[u1 + 1]) - r0 <= max_rows)):
            u1 += 1
        tiles.append((u0, u1))
        u0 = u1
    return tiles


def tile_pairs(row_start: np.ndarray, u0: int, u1: int) -> TilePairs:
    """Every pair (i, j) with u0 <= i < u1 and i < j < n_users, with offsets into the tile's G."""
    n_users = len(row_start) - 1
    counts = np.diff(row_start)
    firsts = np.arange(u0, u1)
    n_after = n_users - 1 - firsts
    user_i = np.repeat(firsts, n_after)
    # j runs over i+1 .. n_users-1 for each i: a ramp restarting at each i.
    starts = np.repeat(np.cumsum(n_after) - n_after, n_after)
    user_j = np.arange(len(user_i)) - starts + user_i + 1
    r0 = row_start[u0]
    return TilePairs(
        user_i=user_i, user_j=user_j,
        a_off=row_start[user_i] - r0, a_n=counts[user_i],
        b_off=row_start[user_j] - r0, b_n=counts[user_j],
    )


def normalise(xp, X):
    """Rows scaled to unit L2 norm, in float64 (rows were checked to be finite and nonzero)."""
    if xp is np and fast_rows(X):
        return unit_rows(X)
    X = xp.asarray(X, dtype=xp.float64)
    return X / xp.sqrt((X * X).sum(axis=1, keepdims=True))


def similarity_block(xp, Xn, r0: int, r1: int):
    """G = Xn[r0:r1] @ Xn[r0:].T (cosine similarities of unit rows)."""
    return Xn[r0:r1] @ Xn[r0:].T


def gram(Xn: np.ndarray) -> np.ndarray:
    """The upper triangle (diagonal included) of G = Xn @ Xn.T for a whole cluster, on the
    CPU: BLAS syrk computes each pair's products once. Below the diagonal G holds no
    similarities; every pair (i < j) reads its block above it.

    (NumPy's `Xn @ Xn.T` also calls syrk, then mirrors the triangle: 5-10% more time.)
    """
    from scipy.linalg.blas import dsyrk

    Xn = np.ascontiguousarray(Xn, dtype=np.float64)
    # Xn.T is Xn's memory in Fortran order, so BLAS reads it without a copy; the lower
    # triangle of the Fortran result is the upper one of its C-ordered transpose.
    return dsyrk(1.0, Xn.T, trans=1, lower=1).T
