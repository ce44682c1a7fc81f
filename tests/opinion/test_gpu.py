"""GPU backend: the same PCA, clusters and counts as the CPU backend."""

from __future__ import annotations

import numpy as np
import pytest

from engine._opinion import model, repness
from engine._opinion.votes import build_matrix
from engine.synthetic.votes import make_votes


@pytest.mark.gpu
@pytest.mark.parametrize("opts", [model.Options(),
                                  # Polis before October 2017: the zero-filled PCA
                                  model.Options(missing_votes="zero", in_conv_counts_moderated=True)],
                         ids=["today", "2017"])
def test_gpu_fit_matches_cpu(gpu, opts):
    s = make_votes(20000, 200, 3, 0.2, seed=1)
    m = build_matrix(s.voter, s.statement, s.vote, s.time, np.arange(20000), np.arange(200))
    cpu_fit, _ = model.fit(m, opts)
    gpu_fit, _ = model.fit(m, opts, gpu.xp)
    np.testing.assert_allclose(gpu_fit.pca.projection, cpu_fit.pca.projection, atol=1e-6)
    assert np.array_equal(gpu_fit.base_of_voter, cpu_fit.base_of_voter)
    assert np.array_equal(gpu_fit.group_of_voter(), cpu_fit.group_of_voter())
    base = cpu_fit.base_of_voter
    n = len(cpu_fit.base.centres)
    on_cpu = repness.group_counts(m.values, base, n)
    on_gpu = repness.group_counts(model.device_votes(m.values), base, n, gpu.xp)
    for name in ("agree", "disagree", "passed"):
        assert np.array_equal(getattr(on_cpu, name), getattr(on_gpu, name))


@pytest.mark.gpu
def test_gpu_job_runs(tmp_path):
    import json

    from engine.app import run_config
    from tests.conftest import compose

    run_config(compose("job=opinion", "data=synthetic", "backend=gpu"), str(tmp_path))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["backend"] == "gpu" and metrics["ari_planted"] > 0.6
