"""Auto kNN settings: efSearch grows with n, wide CPU rows get a reduced search width."""

from __future__ import annotations

import pytest

from engine._communities.knn_plan import (
    EF_AT_1M,
    EF_BASE,
    EF_BASE_ROWS,
    EF_MAX,
    GPU_NPROBE,
    REDUCED_DIM,
    auto_ef_search,
    plan_knn,
)
from engine.errors import UserError


def test_ef_search_is_base_up_to_base_rows_then_grows_with_n():
    assert auto_ef_search(1000, 15) == EF_BASE
    assert auto_ef_search(EF_BASE_ROWS, 15) == EF_BASE
    sizes = [EF_BASE_ROWS, 400_000, 1_000_000, 2_000_000, 10**8]
    efs = [auto_ef_search(n, 15) for n in sizes]
    assert efs == sorted(efs) and efs[1] > EF_BASE
    # Measured at 1M x 64: efSearch 64 -> recall 0.854, 192 -> 0.955, 256 -> 0.968.
    assert auto_ef_search(1_000_000, 15) == EF_AT_1M >= 192
    assert efs[-1] == EF_MAX


def test_ef_search_never_below_k_plus_one():
    assert auto_ef_search(100, 200) == 201
    assert auto_ef_search(10**9, 1000) == 1001


def test_explicit_settings_are_kept():
    plan = plan_knn(10**6, 64, 15, gpu=False, knn="hnsw", ef_search=40, knn_dim=32)
    assert (plan.method, plan.ef_search, plan.reduce_dim) == ("hnsw", 40, 32)


@pytest.mark.parametrize(("gpu", "d", "knn", "method", "reduce_dim", "nprobe"), [
    (False, 64, "auto", "ivf", 0, 0),  # CPU IVF: probes calibrated on a sample
    (False, 448, "auto", "ivf", 0, 0),  # activations sketch, 7 layers x 64: full rows
    (False, 448, "hnsw", "hnsw", REDUCED_DIM, 0),  # HNSW on wide rows: PCA axes
    (True, 448, "auto", "ivf", 0, GPU_NPROBE),  # GPU: fixed probes per query
])
def test_auto_method_and_width(gpu, d, knn, method, reduce_dim, nprobe):
    plan = plan_knn(50_000, d, 15, gpu=gpu, knn=knn)
    assert (plan.method, plan.reduce_dim, plan.nprobe) == (method, reduce_dim, nprobe)


def test_flat_and_too_wide_reduction_search_full_rows():
    assert plan_knn(1000, 448, 15, gpu=False, knn="flat").reduce_dim == 0
    assert plan_knn(1000, 48, 15, gpu=False, knn="hnsw", knn_dim=64).reduce_dim == 0


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"ef_search": -1}, "job.ef_search=-1"),
    ({"knn_dim": -2}, "job.knn_dim=-2"),
    ({"nprobe": -1}, "job.nprobe=-1"),
])
def test_bad_values_are_user_errors(kwargs, match):
    with pytest.raises(UserError, match=match):
        plan_knn(1000, 64, 15, gpu=False, **kwargs)
