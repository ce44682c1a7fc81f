"""Basin strength and significance: counts against brute force, the likelihood ratio, the
null's tail, and calibration on exchangeable draws."""

import numpy as np
import pytest

from engine._basins import significance as S


def test_region_counts_match_brute_force():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(3000, 2))
    row_bin = rng.integers(0, 7, 3000)
    centres = rng.uniform(size=(9, 2))
    radii = rng.uniform(0.05, 0.3, 9)
    got = S.region_counts(X, row_bin, 7, centres, radii, chunk=500)
    want = np.zeros((9, 7))
    for k in range(9):
        inside = np.linalg.norm(X - centres[k], axis=1) <= radii[k]
        want[k] = np.bincount(row_bin[inside], minlength=7)
    np.testing.assert_array_equal(got, want)


def test_poisson_llr_is_zero_below_expectation_and_grows_with_excess():
    assert S.poisson_llr(np.array([5.0]), np.array([10.0]))[0] == 0
    v = S.poisson_llr(np.array([12.0, 15.0, 30.0]), np.array([10.0, 10.0, 10.0]))
    np.testing.assert_allclose(v[0], 12 * np.log(1.2) - 2)
    assert v[0] < v[1] < v[2]


def test_basin_strength_scans_the_tube_for_its_strongest_window():
    basin = np.array([3, 1, 3, 3, 3])
    bins = np.array([0, 0, 1, 2, 3])
    c = np.array([10.0, 4.0, 30.0, 40.0, 5.0])
    mu = np.array([10.0, 4.0, 10.0, 10.0, 10.0])
    out = S.basin_strength(basin, bins, c, mu)
    np.testing.assert_array_equal(out["basin_id"], [1, 3])
    # Brute force over every run of consecutive clusters of basin 3.
    best = max(S.poisson_llr(np.array([c[1:][i:j].sum()]), np.array([mu[1:][i:j].sum()]))[0]
               for i in range(4) for j in range(i + 1, 5))
    np.testing.assert_allclose(out["strength"], [0, best])
    assert (out["window_first_bin"][1], out["window_last_bin"][1]) == (1, 2)
    np.testing.assert_allclose(out["region_count"][1], 70)


def test_tail_probability_is_empirical_then_exponential():
    rng = np.random.default_rng(1)
    null = rng.exponential(2.0, 5000)
    q = S.tail_probability(np.array([1.0, 4.0, 30.0]), null)
    np.testing.assert_allclose(q[:2], np.exp(-np.array([1.0, 4.0]) / 2), rtol=0.1)
    # Far past the samples, the fitted tail follows the true one within a factor of a few.
    assert 0.2 < q[2] / np.exp(-15) < 5


def test_sidak_pvalues_are_calibrated_on_exchangeable_draws():
    """Real basins drawn like the null's: the share of runs with any p <= alpha stays near
    alpha, and single p-values (one test) are uniform."""
    rng = np.random.default_rng(2)
    any_sig, single = [], []
    for _ in range(400):
        null = rng.exponential(1.0, 19 * 30)  # 19 draws of 30 basins
        real = rng.exponential(1.0, 30)
        any_sig.append((S.sidak_pvalues(real, null) <= 0.05).any())
        single.append(S.sidak_pvalues(real[:1], null)[0])
    assert abs(np.mean(any_sig) - 0.05) < 0.03
    hist = np.histogram(single, bins=5, range=(0, 1))[0] / len(single)
    assert np.all(np.abs(hist - 0.2) < 0.06)


def test_leave_one_out_counts_flag_a_planted_outlier_only():
    rng = np.random.default_rng(3)
    draws = [rng.exponential(1.0, 30) for _ in range(10)]
    draws[4] = np.append(draws[4], 60.0)
    counts = S.leave_one_out_counts(draws, 0.05)
    assert counts[4] == 1 and sum(counts) - 1 <= 1


def test_shares_ignore_a_basin_that_adds_rows_in_some_bins():
    rng = np.random.default_rng(4)
    n_bins = 10
    bg = rng.uniform(size=(40000, 2))
    bg_bin = rng.integers(0, 2 * n_bins, len(bg)) - n_bins  # half the rows outside the part
    blob = 0.5 + 0.02 * rng.standard_normal((6000, 2))
    blob_bin = rng.integers(0, 3, len(blob))  # a basin in the first three bins
    X = np.concatenate([bg, blob])
    row_bin = np.concatenate([np.where(bg_bin >= 0, bg_bin, -1), blob_bin])
    w = S.bin_shares(X, row_bin, n_bins, 0)
    np.testing.assert_allclose(w, 1 / (2 * n_bins), rtol=0.12)
    raw = np.bincount(row_bin[row_bin >= 0]) / len(X)
    assert raw[:3].min() > 1.5 * raw[3:].max()  # what the bin totals alone would say


def test_cluster_scan_finds_recurring_regions_not_fluctuations():
    """A region where rows keep landing is strong on the next bin; one chosen where a bin
    happened to be dense is not."""
    rng = np.random.default_rng(5)
    n_bins = 8
    X = rng.uniform(size=(16000, 2))
    row_bin = rng.integers(0, n_bins, len(X))
    basin = 0.3 + 0.02 * rng.standard_normal((1600, 2))
    X = np.concatenate([X, basin])
    row_bin = np.concatenate([row_bin, rng.integers(2, 6, 1600)])
    table = {"bin": np.array([2, 3, 4, 3]), "core_radius": np.full(4, 0.03),
             "core_centre": np.array([[0.3, 0.3]] * 3 + [[0.8, 0.8]])}
    scan = S.cluster_scan(X, row_bin, n_bins, table, seed=0)
    # The time average includes the basin's other bins (alive half the time): about 2x.
    assert np.all(scan["density_ratio"][:3] > 1.8)
    assert scan["density_ratio"][3] < 1.5
    # Brute force of the expectation: the ball's rows outside bin t, times the share of the
    # next bin over the share left without bin t (shares of the uniform background: 1/8).
    inside = np.linalg.norm(X - [0.3, 0.3], axis=1) <= 0.03
    for i, t in enumerate((2, 3, 4)):
        rest = inside.sum() - (inside & (row_bin == t)).sum()
        np.testing.assert_allclose(scan["region_expected"][i], rest * (1 / 8) / (7 / 8),
                                   rtol=0.15)
        assert scan["region_count"][i] == (inside & (row_bin == t + 1)).sum()


def test_duplicates_keep_the_strongest_of_one_place_and_time():
    # 0 and 2: one place (each core inside the other's ball), overlapping windows; 1: beside
    # them, outside the smaller ball; 3: the same place, later; 4: not significant.
    significant = np.array([True, True, True, True, False])
    strength = np.array([10.0, 20.0, 30.0, 5.0, 40.0])
    cores = np.array([[0.30, 0.30], [0.40, 0.30], [0.31, 0.30], [0.30, 0.30], [0.30, 0.30]])
    radii = np.array([0.05, 0.05, 0.15, 0.05, 0.05])
    first = np.array([10.0, 10.0, 20.0, 60.0, 10.0])
    last = np.array([40.0, 40.0, 50.0, 80.0, 40.0])
    dup = S.duplicates(significant, strength, cores, radii, first, last)
    np.testing.assert_array_equal(dup, [2, -1, -1, -1, -1])
    assert S.strength_threshold(np.random.default_rng(0).exponential(1, 500), 10, 0.05) > 0


def test_threshold_is_infinite_when_the_null_is_too_small_to_reach_alpha():
    # Eight null samples: no tail is fitted, the smallest p is 1/9, never below 0.05.
    assert S.strength_threshold(np.arange(8.0), 3, 0.05) == np.inf
    assert S.sidak_pvalues(np.array([1e6]), np.arange(8.0))[0] > 0.05


@pytest.mark.gpu
def test_region_counts_on_the_gpu_equal_the_cpu():
    import cupy

    rng = np.random.default_rng(6)
    X = rng.uniform(size=(5000, 3))
    row_bin = rng.integers(0, 9, 5000)
    centres, radii = rng.uniform(size=(20, 3)), rng.uniform(0.05, 0.3, 20)
    np.testing.assert_array_equal(S.region_counts(X, row_bin, 9, centres, radii, cupy),
                                  S.region_counts(X, row_bin, 9, centres, radii))
