"""The screening bound holds: low-precision similarities never stray further than `eps`."""

from __future__ import annotations

import numpy as np
import pytest

from engine._stream.exact import normalise_rows
from engine._stream.screen import TF32_U, Screen, screening_error
from tests.stream.reference import ref_sum


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
    got = screen.values(screen.product(screen.convert(X), screen.convert(C)))
    exact = ref_sum(X[:, None, :] * C[None, :, :])
    err = np.abs(got - exact).max()
    assert err <= screen.eps
    assert err > screen.eps / 500  # the bound is not vacuous


def test_bound_grows_with_dimension_and_precision():
    assert screening_error(384, 2.0**-24) < 3e-5
    assert screening_error(768, 2.0**-24) > screening_error(384, 2.0**-24)
    assert screening_error(384, 2.0**-8, 2.0**-8) < 0.02


def test_tf32_bound_covers_truncated_inputs():
    """Tensor cores may truncate float32 inputs to TF32's 10 fraction bits instead of rounding
    to nearest; products of unit vectors whose parts all lose almost a full unit exceed a bound
    built on round-to-nearest (u = 2^-11), and stay within the bound with u = 2^-10."""
    theta = np.random.default_rng(0).uniform(0, np.pi / 2, 200_000)
    x = np.stack([np.cos(theta), np.sin(theta)], axis=1)  # unit rows, float64
    # TF32 by truncation: keep the float32 sign, exponent and top 10 fraction bits.
    bits = x.astype(np.float32).view(np.uint32) & np.uint32(0xFFFFE000)
    t = bits.view(np.float32).astype(np.float64)
    err = np.abs((t * t).sum(1) - (x * x).sum(1)).max()  # x.x with x~ = trunc(x): worst case
    assert err > screening_error(2, 2.0**-11)  # round-to-nearest's bound is too tight
    assert err <= screening_error(2, TF32_U)


def test_bfloat16_bits_order_like_values():
    from engine._stream.batch_pass import BF16_VALUES, screen_key

    bits = np.arange(-32768, 32768).astype(np.int16)
    values = BF16_VALUES[bits.astype(np.int64) & 0xFFFF]
    finite = np.isfinite(values) & (values >= 0)
    order = np.argsort(bits[finite], kind="stable")
    assert (np.diff(values[finite][order]) >= 0).all()
    for bar in (0.7599, 0.78 - 0.0159, 1e-30, -0.5):
        key = screen_key(bar, np.int16)
        passed = bits >= key
        # Everything at or above the bar passes the integer test.
        assert passed[np.isfinite(values) & (values >= bar)].all()


def test_bfloat16_rounding_matches_torch():
    torch = pytest.importorskip("torch")
    from engine._stream.screen import bfloat16_bits

    a = np.random.default_rng(0).standard_normal(100_000).astype(np.float32)
    a[:3] = [0.0, -0.0, 1.0 + 2.0**-8]  # a tie, rounded to even
    ours = bfloat16_bits(a)
    theirs = torch.from_numpy(a).to(torch.bfloat16).view(torch.int16).numpy()
    np.testing.assert_array_equal(ours, theirs)
