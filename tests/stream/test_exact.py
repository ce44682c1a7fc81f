"""The reference arithmetic (engine._stream.exact) against its NumPy statement."""

from __future__ import annotations

import numpy as np
import pytest

from engine._stream.exact import dot, normalise_rows, update_centroid
from tests.stream.reference import ref_sum, unit


@pytest.mark.parametrize("d", [1, 7, 8, 13, 384, 385])
def test_dot_sums_in_the_documented_order(d):
    rng = np.random.default_rng(d)
    for _ in range(50):
        # Wide magnitudes: any other order or a fused multiply-add changes the low bits.
        a = rng.standard_normal(d) * np.exp(rng.uniform(-20, 20, d))
        b = rng.standard_normal(d)
        assert dot(a, b) == ref_sum(a * b)


def test_the_order_is_not_left_to_right():
    """The test above can tell orders apart: the left-to-right sum differs on such input."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal(385) * np.exp(rng.uniform(-20, 20, 385))
    b = rng.standard_normal(385)
    assert dot(a, b) != np.cumsum(a * b)[-1]


def test_normalise_and_update_follow_the_reference():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((20, 37)).astype(np.float32)
    out = np.empty(X.shape)
    assert normalise_rows(X, out) == -1
    assert np.array_equal(out, unit(X))
    c, x, work = out[0].copy(), out[1], np.empty(37)
    update_centroid(c, x, 3.0, work)
    v = (3.0 * out[0] + x) / 4.0
    assert np.array_equal(c, v / np.sqrt(ref_sum(v * v)))
    X[4] = 0.0
    assert normalise_rows(X, out) == 4
