"""Hard tracking: Hungarian matching of consecutive bins' clusters into basins.

The cost of pairing cluster i (bin t) with j (bin t+1) is the centre distance divided by the
two consensus confidences, so uncertain clusters need to be closer to be matched. Pairs whose
cost exceeds the gate are never matched. Matched chains form basins with ids; with
`max_gap=1` a cluster left unmatched at t+1 may resume a basin that ended at t-1
(reappearance after one missed bin).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

CONF_FLOOR = 1e-3


def scaled_cost(centres_a: np.ndarray, conf_a: np.ndarray, centres_b: np.ndarray,
                conf_b: np.ndarray) -> np.ndarray:
    d = cdist(centres_a, centres_b) if len(centres_a) and len(centres_b) else \
        np.zeros((len(centres_a), len(centres_b)))
    return d / (np.maximum(conf_a, CONF_FLOOR)[:, None] * np.maximum(conf_b, CONF_FLOOR)[None, :])


def gated_assignment(cost: np.ndarray, gate: float) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost one-to-one matching over pairs with cost <= gate: (rows, cols)."""
    if cost.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    allowed = cost <= gate  # inf (forbidden) never is
    cost = np.where(np.isfinite(cost), cost, 0.0)
    # Forbidden pairs get a cost larger than any sum of allowed ones, then are dropped.
    big = (np.abs(cost[allowed]).sum() + 1.0) * 2 if allowed.any() else 1.0
    rows, cols = linear_sum_assignment(np.where(allowed, cost, big))
    ok = allowed[rows, cols]
    return rows[ok].astype(np.int64), cols[ok].astype(np.int64)


@dataclass
class Tracks:
    basin: list[np.ndarray]  # per bin: basin id of each cluster
    next_match: list[np.ndarray]  # per bin: matched cluster at t+1, or -1
    reappeared: list[np.ndarray]  # per bin: bool, resumed a basin after a missed bin


def spread_gated(cost: np.ndarray, centres_a, spreads_a, centres_b, spreads_b,
                 spread_gate: float) -> np.ndarray:
    """`cost` with pairs farther apart than spread_gate x (r_a + r_b) forbidden (inf): a
    basin drifts, it does not jump to a blob several of its own radii away."""
    if spread_gate <= 0 or cost.size == 0:
        return cost
    d = cdist(centres_a, centres_b)
    return np.where(d <= spread_gate * (spreads_a[:, None] + spreads_b[None, :]), cost, np.inf)


def track(centres: list[np.ndarray], conf: list[np.ndarray], gate: float,
          max_gap: int = 1, spreads: list[np.ndarray] | None = None,
          spread_gate: float = 0.0) -> Tracks:
    """Basins from clusters; with `spreads` (radii: the pipeline passes its clusters' core
    radii) and spread_gate > 0, pairs farther apart than spread_gate x the sum of their radii
    are never matched."""
    n_bins = len(centres)

    def cost(a: int, b: int, ia=slice(None), ib=slice(None)) -> np.ndarray:
        c = scaled_cost(centres[a][ia], conf[a][ia], centres[b][ib], conf[b][ib])
        if spreads is None:
            return c
        return spread_gated(c, centres[a][ia], spreads[a][ia], centres[b][ib], spreads[b][ib],
                            spread_gate)

    basin = [np.full(len(c), -1, np.int64) for c in centres]
    next_match = [np.full(len(c), -1, np.int64) for c in centres]
    reappeared = [np.zeros(len(c), bool) for c in centres]
    next_id = 0
    for t in range(n_bins):
        if t > 0:
            r, c = gated_assignment(cost(t - 1, t), gate)
            next_match[t - 1][r] = c
            basin[t][c] = basin[t - 1][r]
        if t > 1 and max_gap >= 1:
            # Basins that ended at t-2 (no match into t-1) may resume with unmatched clusters.
            ended = np.flatnonzero(next_match[t - 2] < 0)
            fresh = np.flatnonzero(basin[t] < 0)
            if len(ended) and len(fresh):
                r, c = gated_assignment(cost(t - 2, t, ended, fresh), gate)
                basin[t][fresh[c]] = basin[t - 2][ended[r]]
                reappeared[t][fresh[c]] = True
        fresh = np.flatnonzero(basin[t] < 0)
        basin[t][fresh] = next_id + np.arange(len(fresh))
        next_id += len(fresh)
    return Tracks(basin, next_match, reappeared)


def median_pairwise(centres: list[np.ndarray]) -> float:
    """Median distance between cluster centres of the same bin, pooled over bins."""
    parts = []
    for c in centres:
        if len(c) > 1:
            d = cdist(c, c)
            parts.append(d[np.triu_indices(len(c), 1)])
    if not parts:
        return 1.0
    med = float(np.median(np.concatenate(parts)))
    return med if med > 0 else 1.0
