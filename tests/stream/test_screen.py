"""The screening bound holds: low-precision similarities never stray further than `eps`."""

from __future__ import annotations

import numpy as np
import pytest

from engine.stream.exact import normalise_rows
from engine.stream.screen import Screen, screening_error
from tests.stream.reference import seq_sum


def unit_rows(rng, n, d, spread):
    base = rng.standard_normal(d)
    X = base + spread * rng.standard_normal((n, d))  # correlated rows: large similarities
    X[: n // 2] = rng.standard_normal((n // 2, d)) * rng.uniform(1e-3, 1e3, (n // 2, 1))
    out = np.empty(X.shape)
    assert normalise_rows(X, out) == -1
    return out


@pytest.mark.parametrize("kind", ["float32", "bfloat16"])
@pytest.mark.parametrize("dim", [8, 384])
def test_screened_similarities_stay_within_the_bound(cpu, kind, dim):
    if kind == "bfloat16":
        pytest.importorskip("torch")
    rng = np.random.default_rng(dim)
    X, C = unit_rows(rng, 150, dim, 0.3), unit_rows(rng, 200, dim, 0.5)
    screen = Screen(cpu, kind, dim)
    got = screen.product(screen.convert(X), screen.convert(C))
    exact = seq_sum(X[:, None, :] * C[None, :, :])
    err = np.abs(got - exact).max()
    assert err <= screen.eps
    assert err > screen.eps / 500  # the bound is not vacuous


def test_bound_grows_with_dimension_and_precision():
    assert screening_error(384, 2.0**-24) < 3e-5
    assert screening_error(768, 2.0**-24) > screening_error(384, 2.0**-24)
    assert screening_error(384, 2.0**-8, 2.0**-8) < 0.02
