"""Time-decayed density on planted basins: above background regions and above the null."""

import numpy as np
import pytest

from engine._basins import evidence
from engine._basins.evidence import density
from engine.errors import UserError
from tests.basins.evidence import planted_regions as pr


@pytest.fixture(scope="module")
def runs():
    return {seed: pr.evaluate(seed, ["density"]) for seed in pr.SEEDS}


def test_planted_basins_score_above_background_and_null(runs):
    score_auc, z_auc = [], []
    for cols, label, _ in runs.values():
        (a, b), = pr.aurocs(cols, label).values()
        score_auc.append(a)
        z_auc.append(b)
        # Above the null: planted regions' z, not the background's.
        assert np.nanmedian(cols["z"][label == 1]) > 1.0
        assert abs(np.nanmedian(cols["z"][label == 0])) < 0.5
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
