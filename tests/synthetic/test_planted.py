"""Planted basins in noise: counts, windows, spreads, and the shuffled twin."""

import numpy as np

from engine.synthetic import planted as P


def _days(table):
    t = table.column("datetime").to_numpy().astype("datetime64[ns]").astype(np.int64)
    return (t - np.datetime64("2024-01-01", "ns").astype(np.int64)) / 86400e9


def test_rows_follow_the_truth():
    truth = P.make_truth(30000, n_basins=4, intensity=[0.5, 0.25, 0.25, 0.125], seed=3)
    table = P.generate(truth, 3)
    assert table.num_rows == 30000
    basin = table.column("planted_basin").to_numpy()
    np.testing.assert_array_equal(np.bincount(basin + 1), np.roll(truth.counts, 1))
    X = np.stack([table.column(c).to_numpy() for c in ("x", "y")], 1)
    days = _days(table)
    for k in range(4):
        r = basin == k
        assert np.all((days[r] >= truth.windows[k, 0]) & (days[r] <= truth.windows[k, 1]))
        np.testing.assert_allclose(X[r].mean(0), truth.centres[k], atol=0.01)
        np.testing.assert_allclose(X[r].std(0), truth.spreads[k], rtol=0.1)
    # Intensity: rows per day while alive over the background's rows per day.
    bg_per_day = (basin < 0).sum() / truth.n_days
    per_day = truth.counts[:4] / (truth.windows[:, 1] - truth.windows[:, 0])
    np.testing.assert_allclose(per_day / bg_per_day, truth.intensities, rtol=0.02)


def test_flat_profile_is_uniform_in_the_window_and_trapezoid_ramps():
    from scipy.stats import kstest

    for profile in P.PROFILES:
        truth = P.make_truth(40000, n_basins=2, intensity=1.0, seed=5, profile=profile)
        table = P.generate(truth, 5)
        basin = table.column("planted_basin").to_numpy()
        lo, hi = truth.windows[0]
        u = (_days(table)[basin == 0] - lo) / (hi - lo)
        uniform = kstest(u, "uniform").pvalue
        # Flat: uniform over the window. Trapezoid: few rows in the first tenth (the ramp
        # up holds a quarter of the window but only ~1/16 of the mass at its start).
        if profile == "flat":
            assert uniform > 0.001
        else:
            assert uniform < 1e-6 and (u < 0.1).mean() < 0.05


def test_chunks_agree_and_shuffle_removes_the_windows():
    truth = P.make_truth(5000, seed=1)
    whole = P.generate(truth, 1)
    parts = list(P.iter_chunks(truth, 1, chunk_rows=1234))
    assert sum(p.num_rows for p in parts) == 5000
    np.testing.assert_array_equal(parts[1].column("x").to_numpy(),
                                  P.generate_chunk(truth, 1234, 1234, 1).column("x").to_numpy())
    assert whole.num_rows == 5000
    noise = P.generate(P.make_truth(20000, seed=1, shuffle=True), 1)
    basin = noise.column("planted_basin").to_numpy()
    days = _days(noise)
    # Basin rows now span the year (their windows were 90-200 days long).
    assert np.ptp(days[basin == 0]) > 300


def test_clustered_background_and_seasonal_volume():
    truth = P.make_truth(20000, background="clustered", volume_amplitude=0.5, seed=2)
    table = P.generate(truth, 2)
    days = _days(table)[table.column("planted_basin").to_numpy() < 0]
    per_quarter = np.histogram(days, bins=8, range=(0, 365))[0]
    assert per_quarter.max() / per_quarter.min() > 1.8
    assert len(truth.blob_centres) == P.BLOB_COUNT


def test_match_basins_one_to_one():
    truth = P.make_truth(1000, n_basins=2, seed=0)
    centres = truth.centres + 0.5 * truth.spreads[:, None]
    w = truth.windows
    got = P.match_basins(truth, np.concatenate([centres, [[0.99, 0.99]]]),
                         np.append(w[:, 0], 0), np.append(w[:, 1], 50), (0, 365))
    np.testing.assert_array_equal(got["found_to_planted"], [0, 1, -1])
    np.testing.assert_array_equal(got["planted_to_found"], [0, 1])
