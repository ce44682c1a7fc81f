"""The density grid is a weighted Gaussian kernel density: against scikit-learn's."""

import numpy as np
import pytest
from sklearn.neighbors import KernelDensity

from engine._basins.evidence import grid
from engine._basins.evidence.density import decayed
from engine._basins.evidence.sample import Sample
from engine.errors import UserError


def test_grid_density_equals_sklearn_kernel_density_with_decayed_weights():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal([0.3, 0.6], 0.05, (300, 2)), rng.uniform(0, 1, (500, 2))])
    days = rng.uniform(0, 30, len(X))
    sample = Sample(X, days, 1 + np.log1p(rng.poisson(3, len(X))))
    tau, h, end = 7.0, 0.05, 30.0
    w = decayed(sample, np.zeros(len(X), np.int64), 0, end, tau)
    g = grid.make_grid(X, h, 400)
    D = grid.density(g, grid.histogram(g, grid.cell_index(g, X), w), h)
    at = rng.uniform(0.05, 0.95, (200, 2))
    ours = grid.at(g, D, at)
    ref = np.exp(KernelDensity(bandwidth=h).fit(X, sample_weight=w).score_samples(at))
    # Nearest-cell binning moves a row by up to half a cell (here 0.07 h): a few percent
    # where one heavy recent row dominates, a fraction of a percent typically.
    err = np.abs(ours / ref - 1)
    assert np.max(err) < 0.03 and np.median(err) < 0.005
    # Normalised: the grid integrates to one.
    assert float(D.sum()) * g.cell_volume == pytest.approx(1.0, abs=1e-6)


def test_a_bandwidth_below_one_cell_is_refused_naming_the_key():
    g = grid.make_grid(np.random.default_rng(1).uniform(0, 1, (50, 2)), 0.1, 16)
    with pytest.raises(UserError, match="job.evidence_bandwidths"):
        grid.check_bandwidth(g, 0.01, "job.evidence_bandwidths=[0.01]")
