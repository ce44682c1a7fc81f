"""Reply pull and inward moves on constructed reply links."""

import numpy as np
import pytest

from engine._basins.evidence import reply
from engine._basins.evidence.regions import Regions
from engine._basins.evidence.sample import Sample, null_draw, parents_of
from tests.basins.evidence import planted_regions as pr


def test_shares_on_a_hand_made_case():
    # Parents 0-3 at the centre; replies 4-7 in the scoring window (days 10-20).
    coords = np.array([[0, 0], [0, 0], [0.05, 0], [0.5, 0],
                       [0.01, 0], [0.02, 0], [0.3, 0], [0.2, 0]], float)
    days = np.array([1, 1, 1, 1, 12, 13, 14, 25], float)
    parent = np.array([-1, -1, -1, -1, 0, 1, 2, 3])
    regions = Regions(np.array([7]), np.array([0]), np.zeros((1, 2)), np.array([0.1]),
                      np.array([0.0, 10.0]), 10.0)
    out = reply.score(Sample(coords, days, np.ones(8), parent), regions, None)
    # Row 7 is posted after the window. Parents in the ball: 0, 1, 2 -> children 4, 5 in.
    assert out["reply_pull"][0] == pytest.approx(2 / 3)
    # Parents within 0.2: the same three; children closer than parent: none of 4, 5 (their
    # parents sit at the centre), not 6 -> 0.
    assert out["inward_moves"][0] == 0.0


def test_absent_parents_are_counted_not_linked():
    ids = np.array([10, 11, 12, 13])
    parent, absent = parents_of(ids, np.array([None, 10, 99, 12], dtype=object))
    assert parent.tolist() == [-1, 0, -1, 2] and absent == 1


def _replies(seed: int, rows, planted_basin):
    """Basin rows reply to a row of their own basin, background rows to any row."""
    rng = np.random.default_rng(seed)
    n = len(planted_basin)
    parent = rng.integers(0, n, n)
    for k in np.unique(planted_basin[planted_basin >= 0]):
        mine = np.flatnonzero(planted_basin == k)
        parent[mine] = rng.choice(mine, len(mine))
    parent[rng.uniform(size=n) < 0.5] = -1  # half the rows are no reply
    return parent


@pytest.fixture(scope="module")
def runs():
    out = {}
    for seed in pr.SEEDS:
        rows, basin, _, _ = pr.case(seed)
        out[seed] = pr.evaluate(seed, ["reply"], _replies(seed, rows, basin))
    return out


def test_planted_replies_pull_above_background_and_null(runs):
    # Measured (seeds 0-4, 4 draws; score / z AUROC): pull 0.99-1.0 / 0.99-1.0, inward
    # moves 0.975-0.999 / 0.95-0.985.
    for cols, label, _ in runs.values():
        for m, (a, b) in pr.aurocs(cols, label).items():
            assert a >= 0.8 and b >= 0.8, (m, a, b)
            k = cols["method"] == m
            assert np.nanmedian(cols["z"][k][label == 1]) > 2, m


def test_null_draw_re_pairs_replies_at_random():
    parent = np.array([-1, 0, 0, 1])
    s = Sample(np.zeros((4, 2)), np.arange(4.0), np.ones(4), parent)
    drawn = null_draw(s, np.arange(4.0)[::-1], 0, 0)
    assert (drawn.parent == -1).tolist() == [True, False, False, False]
    assert drawn.days.tolist() == [3, 2, 1, 0]
