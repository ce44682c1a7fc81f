"""Time-decayed density on planted basins: above background regions and above the null;
its growth: a forming blob against a static one, and planted basins as they form."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from engine._basins import evidence
from engine._basins.evidence import density
from engine._basins.evidence.regions import Regions
from engine._basins.evidence.sample import Sample
from engine.errors import UserError
from tests.basins.evidence import planted_regions as pr


@pytest.fixture(scope="module")
def runs():
    return {seed: pr.evaluate(seed, ["density"]) for seed in pr.SEEDS}


def test_planted_basins_score_above_background_and_null(runs):
    score_auc, z_auc = [], []
    for cols, label, _ in runs.values():
        a, b = pr.aurocs(cols, label)["density"]
        score_auc.append(a)
        z_auc.append(b)
        # Above the null: planted regions' z, not the background's.
        z = cols["z"][cols["method"] == "density"]
        assert np.nanmedian(z[label == 1]) > 1.0
        assert abs(np.nanmedian(z[label == 0])) < 0.5
    # Measured (seeds 0-4, 4 draws): score 0.87-0.98, z 0.90-0.97.
    assert min(score_auc) >= 0.8 and min(z_auc) >= 0.8, (score_auc, z_auc)


def test_tau_and_h_are_the_best_forecast_of_the_candidates(runs):
    cols, label, info = runs[0]
    rows, _, regions, _ = pr.case(0)
    state = density.prepare(evidence.of_rows(rows, 1.0), {"train": regions},
                            evidence.Options(pr.BIN), np)
    assert len(state.loglik) == 9
    assert state.loglik[(state.h, state.tau)] == max(state.loglik.values())
    assert (info["evidence_bandwidth"], info["evidence_tau_days"]) == (state.h, state.tau)


def test_a_tau_that_leaves_no_rows_is_refused_naming_the_key():
    rows, _, regions, _ = pr.case(0)
    opts = evidence.Options(pr.BIN, tau_bins=[1e-6])
    with pytest.raises(UserError, match=r"job.evidence_tau_bins=\[1e-06\].*effective rows"):
        density.prepare(evidence.of_rows(rows, 1.0), {"train": regions}, opts, np)
    with pytest.raises(UserError, match="job.evidence_bandwidths"):
        density.prepare(evidence.of_rows(rows, 1.0), {"train": regions},
                        evidence.Options(pr.BIN, bandwidths=[0.001]), np)


def test_planted_basins_grow_as_they_form(runs):
    """Growth against the background at each planted basin's first scored bin (it was not
    there before). A steady basin does not grow: over all planted regions the z AUROC is
    0.53-0.66 (measured), so only the forming ones are held to the target."""
    z_auc = []
    for seed, (cols, label, _) in runs.items():
        _, _, regions, _ = pr.case(seed)
        z = cols["z"][cols["method"] == "density_growth"]
        forming = np.zeros(len(label), bool)
        for b in np.unique(regions.basin_id[label == 1]):
            forming[np.flatnonzero(regions.basin_id == b)[0]] = True
        keep = (forming | (label == 0)) & np.isfinite(z)
        z_auc.append(roc_auc_score(forming[keep], z[keep]))
        assert np.median(z[forming]) > 1.0
    # Measured (seeds 0-4, 4 draws): 0.79-0.97.
    assert min(z_auc) >= 0.75 and np.mean(z_auc) >= 0.85, z_auc


def test_a_forming_blob_grows_and_a_static_one_does_not():
    """Uniform background over four 14-day bins, a blob at A all along, a blob at B from
    day 28 on (bin 2). Scored on bin 2 (regions chosen in bin 1): B's share of the mass
    jumps, A's stays."""
    rng = np.random.default_rng(5)
    A, B = np.array([0.3, 0.3]), np.array([0.7, 0.7])
    parts = [(rng.uniform(0, 1, (4000, 2)), rng.uniform(0, 56, 4000)),
             (A + 0.03 * rng.standard_normal((800, 2)), rng.uniform(0, 56, 800)),
             (B + 0.03 * rng.standard_normal((400, 2)), rng.uniform(28, 56, 400))]
    X = np.concatenate([p[0] for p in parts])
    days = np.concatenate([p[1] for p in parts])
    sample = Sample(X, days, np.ones(len(X)))
    regions = Regions(np.array([0, 1]), np.array([1, 1]), np.stack([A, B]),
                      np.array([0.03, 0.03]), np.arange(0.0, 56.0, 14.0), 14.0)
    opts = evidence.Options(14.0)
    state = density.prepare(sample, {"train": regions}, opts, np)
    growth = density.score(sample, regions, state)["density_growth"]
    assert growth[1] > 1.0 and abs(growth[0]) < 0.3, growth
    draws = [rng.permutation(days) for _ in range(4)]
    cols, _ = evidence.evaluate(sample, {"train": regions}, ["density"], opts, draws)
    z = cols["z"][cols["method"] == "density_growth"]
    assert z[1] > 3.0 and z[1] > z[0] + 3.0, z
