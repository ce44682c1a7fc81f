"""Seeded train/test split and k-fold folds (plain index arrays, reusable by references)."""

from __future__ import annotations

import numpy as np


def held_out_count(n: int, test_size: float) -> int:
    """`test_size` < 1 is a fraction of `n`, otherwise a number of rows."""
    if test_size <= 0:
        raise ValueError("test_size must be positive")
    return int(round(test_size * n)) if test_size < 1 else int(test_size)


def train_test(n: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, test) row indices; the test rows are a seeded random subset."""
    perm = np.random.default_rng([seed, 31]).permutation(n)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def kfold(n: int, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled k-fold (train, test) index pairs; fold sizes differ by at most one.

    The same list can be handed to scikit-learn as `cv=` to reproduce the folds.
    """
    perm = np.random.default_rng([seed, 37]).permutation(n)
    parts = np.array_split(perm, n_folds)
    return [(np.sort(np.concatenate(parts[:i] + parts[i + 1:])), np.sort(parts[i]))
            for i in range(n_folds)]
