"""The density grid and the transport on CuPy equal the NumPy twin (skipped without a CUDA
device)."""

import numpy as np
import pytest

from engine._basins import evidence
from engine._basins.evidence import density, transport
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


@pytest.mark.gpu
def test_transport_scores_on_cupy_equal_numpy():
    """The plan, the drift and the inward flow run on the device (POT's CuPy backend)."""
    import cupy

    rows, _, regions, _ = pr.case(0)
    sample = evidence.of_rows(rows, 1.0)
    a, b = regions.window(0)
    flow = transport.window_drift(sample, a, b, 300, 0.1, cupy)
    assert all(isinstance(v, cupy.ndarray) for v in flow)
    on_gpu = transport.score(sample, regions, None, cupy)["flow_convergence"]
    on_cpu = transport.score(sample, regions, None, np)["flow_convergence"]
    assert np.allclose(on_gpu, on_cpu, rtol=1e-6, atol=1e-9, equal_nan=True)
