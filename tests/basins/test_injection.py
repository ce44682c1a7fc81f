"""The detection limit by injection: planted rows as asked, matching, and the ladder's limit."""

import numpy as np

from engine._basins import injection as I
from engine._basins.settings import Rows


def _rows(n=20000, seed=0):
    rng = np.random.default_rng(seed)
    X = np.stack([rng.uniform(-2, 2, n), rng.uniform(10, 11, n)], 1)
    days = rng.uniform(0, 200, n)
    counts = rng.integers(0, 5, n)
    return Rows(np.arange(n), days, X, counts, counts, ["a", "b"])


def test_inject_plants_the_ladder_into_the_shuffled_part():
    rows = _rows()
    inj = I.inject(rows, 100.0, 200.0, 28.0, seed=1)
    part = (rows.days >= 100) & (rows.days < 200)
    n_part = int(part.sum())
    rate = n_part / 100.0
    ladder = np.asarray(I.LADDER)
    T = inj.truth
    n = len(rows.days)
    assert len(inj.rows.ids) == n + np.round(ladder * rate * 28).sum()
    # The rows keep their places; their times are permuted (a null draw).
    np.testing.assert_array_equal(inj.rows.coords[:n], rows.coords)
    np.testing.assert_array_equal(np.sort(inj.rows.days[:n]), np.sort(rows.days))
    assert not np.array_equal(inj.rows.days[:n], rows.days)
    added = inj.rows.coords[n:]
    days = inj.rows.days[n:]
    which = np.repeat(np.arange(len(ladder)), np.round(ladder * rate * 28).astype(int))
    for k in range(len(ladder)):
        r = which == k
        centre = inj.lo + inj.width * T.centres[k]
        np.testing.assert_allclose(added[r].mean(0), centre, atol=4 * I.SPREAD * inj.width.max()
                                   / np.sqrt(r.sum()))
        np.testing.assert_allclose(added[r].std(0) / inj.width, I.SPREAD, rtol=0.35)
        assert np.all((days[r] >= 100 + T.windows[k, 0]) & (days[r] <= 100 + T.windows[k, 1]))
    np.testing.assert_allclose(T.windows[:, 1] - T.windows[:, 0], 28.0)
    gaps = np.linalg.norm(T.centres[:, None] - T.centres[None], axis=2)
    assert gaps[np.triu_indices(len(ladder), 1)].min() >= I.APART * I.SPREAD * 0.9 ** 3


def test_recovered_needs_a_significant_match_in_place_and_time():
    inj = I.inject(_rows(), 100.0, 200.0, 28.0, seed=2)
    T = inj.truth
    cores = inj.lo + inj.width * T.centres
    first, last = 100 + T.windows[:, 0], 100 + T.windows[:, 1]
    significant = np.ones(len(cores), bool)
    assert I.recovered(inj, cores, first, last, significant).all()
    moved = cores.copy()
    moved[0] += 3 * I.SPREAD * inj.width  # three spreads away on each axis
    significant[1] = False
    late = first.copy()
    late[2] += 20  # overlaps 8 of 48 days
    got = I.recovered(inj, moved, late, last + np.where(np.arange(len(cores)) == 2, 20, 0),
                      significant)
    assert not got[:3].any() and got[3:].all()


def test_limit_is_the_weakest_intensity_from_which_all_stronger_were_found():
    ladder = [0.1, 0.2, 0.4, 0.8]
    assert I.limit(ladder, [True, True, True, True]) == 0.1
    assert I.limit(ladder, [True, False, True, True]) == 0.4
    assert I.limit(ladder, [False, False, False, True]) == 0.8
    assert I.limit(ladder, [True, True, True, False]) == np.inf
    assert I.limit(ladder[::-1], [True, True, False, False]) == 0.4
