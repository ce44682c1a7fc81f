"""The density grid on CuPy equals the NumPy twin (skipped without a CUDA device)."""

import numpy as np
import pytest

from engine._basins import evidence
from engine._basins.evidence import density
from tests.basins.evidence import planted_regions as pr


@pytest.mark.gpu
def test_density_scores_on_cupy_equal_numpy():
    import cupy

    rows, _, regions, _ = pr.case(0)
    sample = evidence.of_rows(rows, 1.0)
    opts = evidence.Options(pr.BIN)
    ours = {}
    for xp in (np, cupy):
        state = density.prepare(sample, {"train": regions}, opts, xp)
        ours[xp.__name__] = (state.h, state.tau, density.score(sample, regions, state, xp))
    (h0, t0, s0), (h1, t1, s1) = ours.values()
    assert (h0, t0) == (h1, t1)
    assert np.allclose(s0["density"], s1["density"], rtol=1e-6, atol=1e-8, equal_nan=True)
