"""Row kernels against NumPy, and the embedding check built on them."""

from __future__ import annotations

import numpy as np
import pytest

from engine._balance.groups import check_embeddings
from engine._balance.rows import fast_rows, square_sums, unit_rows
from engine.errors import UserError


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_square_sums_and_unit_rows_equal_numpy(dtype):
    X = (np.random.default_rng(0).standard_normal((50, 37)) * 3).astype(dtype)
    X64 = X.astype(np.float64)
    sums = (X64 * X64).sum(axis=1)
    np.testing.assert_allclose(square_sums(X), sums, rtol=1e-14)
    np.testing.assert_allclose(unit_rows(X), X64 / np.sqrt(sums)[:, None], rtol=0, atol=1e-15)
    np.testing.assert_allclose(unit_rows(X[:, ::3]), unit_rows(np.ascontiguousarray(X[:, ::3])))


def test_square_sums_keep_nan_and_inf_visible():
    X = np.ones((6, 9), np.float32)
    X[1, 4] = np.nan
    X[3, 0] = np.inf
    X[4, 8] = -np.inf
    assert list(np.flatnonzero(~np.isfinite(square_sums(X)))) == [1, 3, 4]


def test_fast_rows_takes_only_2d_float32_or_float64_arrays():
    assert fast_rows(np.zeros((2, 3), np.float32)) and fast_rows(np.zeros((2, 3)))
    assert not fast_rows(np.zeros((2, 3), np.float16))
    assert not fast_rows(np.zeros(3))
    assert not fast_rows([[1.0, 2.0]])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_check_names_the_first_bad_row_in_every_dtype(dtype):
    ids = np.arange(100, 110)
    emb = np.ones((10, 4), dtype)
    check_embeddings(emb, ids, "x.parquet")  # all fine
    emb[6] = 0
    with pytest.raises(UserError, match=r"x.parquet: zero embedding vector in row with id 106"):
        check_embeddings(emb, ids, "x.parquet")
    emb[8, 1] = np.inf
    emb[7, 3] = np.nan  # non-finite rows are reported before zero rows
    with pytest.raises(UserError, match=r"non-finite .* id 107 \(2 such rows"):
        check_embeddings(emb, ids, "x.parquet")


def test_check_passes_finite_rows_whose_squares_overflow():
    emb = np.ones((3, 2))
    emb[1] = 1e200  # the sum of squares is inf, the row itself finite
    check_embeddings(emb, np.arange(3), "x")
