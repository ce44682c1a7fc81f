"""Escape barriers: the pass against a widest-path search; planted basins sit in wells."""

import heapq

import numpy as np
import pytest

from engine._basins.evidence import barrier, grid
from tests.basins.evidence import planted_regions as pr


def _widest_path(f, start, exit_mask):
    """The best over paths (4-neighbour) from start to the exit of their lowest value
    (a max-bottleneck Dijkstra)."""
    best = np.full(f.shape, -np.inf)
    best[start] = f[start]
    heap = [(-f[start], start)]
    while heap:
        v, (i, j) = heapq.heappop(heap)
        v = -v
        if exit_mask[i, j]:
            return v
        for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
            if 0 <= a < f.shape[0] and 0 <= b < f.shape[1]:
                w = min(v, f[a, b])
                if w > best[a, b]:
                    best[a, b] = w
                    heapq.heappush(heap, (-w, (a, b)))
    raise AssertionError("no exit")


@pytest.mark.parametrize("seed", range(5))
def test_pass_level_equals_the_widest_path(seed):
    rng = np.random.default_rng(seed)
    f = np.exp(rng.normal(0, 1, (25, 25)))
    exit_mask = np.zeros_like(f, bool)
    exit_mask[0], exit_mask[-1], exit_mask[:, 0], exit_mask[:, -1] = True, True, True, True
    start = (12, 12)
    # Bisection to MAX_BARRIER / 2^STEPS in the log: 0.12% here.
    assert barrier.pass_level(f, start, exit_mask) == pytest.approx(
        _widest_path(f, start, exit_mask), rel=2e-3)


def test_a_well_has_its_depth_and_a_plain_none():
    g = grid.Grid(np.zeros(2), np.full(2, 0.01), (100, 100))
    x = (np.arange(100) + 0.5) * 0.01
    X, Y = np.meshgrid(x, x, indexing="ij")
    well = 1 + 9 * np.exp(-((X - 0.5) ** 2 + (Y - 0.5) ** 2) / (2 * 0.03**2))
    assert barrier.barrier(well, g, np.array([0.5, 0.5]), 0.05) == pytest.approx(
        np.log(10 / (1 + 9 * np.exp(-(0.15**2) / (2 * 0.03**2)))), rel=0.05)
    assert barrier.barrier(np.ones((100, 100)), g, np.array([0.5, 0.5]), 0.05) == 0.0


@pytest.fixture(scope="module")
def runs():
    return {seed: pr.evaluate(seed, ["barrier"]) for seed in pr.SEEDS}


def test_planted_basins_sit_in_wells_above_background_and_null(runs):
    for cols, label, _ in runs.values():
        (a, b), = pr.aurocs(cols, label).values()
        # Measured (seeds 0-4, 4 draws): score 1.0, z 0.885-0.964.
        assert a >= 0.8 and b >= 0.8, (a, b)
        assert np.nanmedian(cols["z"][label == 1]) > 1.0
