"""Planted basins (engine.synthetic.planted, the basins job's planted generator) turned into
scored regions: every planted basin alive through a bin and the next is one region (its
centre, its spread as radius), and five background regions per bin sit far from every
planted centre. Labels: 1 planted, 0 background.

`cascade` re-times each planted basin's rows as a self-exciting burst (seeded): immigrants
uniform over its window, each row begetting Poisson(`cascade`) children after
Exp(CASCADE_DELAY_DAYS) delays, as discourse begets discourse (replies within hours); the generator's own basins arrive uniformly in their
window, which a Hawkes process cannot tell from a raised background rate."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from engine._basins import evidence
from engine._basins.evidence.regions import Regions
from engine._basins.settings import Rows
from engine.synthetic import planted

N_ROWS, BIN, DRAWS = 20000, 14.0, 4
SEEDS = (0, 1, 2, 3, 4)
CASCADE_DELAY_DAYS = 0.25


def cascade_days(rng, n: int, lo: float, hi: float, branching: float,
                 decay: float = CASCADE_DELAY_DAYS) -> np.ndarray:
    """n days in [lo, hi) of a Hawkes cluster process (children falling past hi are lost;
    immigrants are added until n rows are reached, the last cluster's surplus dropped)."""
    days, total = [], 0
    while total < n:
        gen = rng.uniform(lo, hi, max(int(np.ceil((n - total) * (1 - branching))), 1))
        while len(gen):
            days.append(gen)
            total += len(gen)
            kids = np.repeat(gen, rng.poisson(branching, len(gen)))
            kids = kids + rng.exponential(decay, len(kids))
            gen = kids[kids < hi]
    return rng.permutation(np.concatenate(days))[:n]


def case(seed: int, cascade: float | None = None):
    truth = planted.make_truth(N_ROWS, seed=seed)
    t = planted.generate(truth, seed)
    X = np.stack([t.column("x").to_numpy(), t.column("y").to_numpy()], 1)
    ns = t.column("datetime").to_numpy().astype("datetime64[ns]").astype(np.int64)
    days = (ns - truth.start.astype(np.int64)) / 86400e9
    if cascade is not None:
        which = t.column("planted_basin").to_numpy()
        rng = np.random.default_rng([seed, 19, 7])
        for k in range(len(truth.centres)):
            mine = np.flatnonzero(which == k)
            days[mine] = cascade_days(rng, len(mine), *truth.windows[k], cascade)
    rows = Rows(t.column("id").to_numpy(), days, X,
                t.column("retweet_count").to_numpy().astype(float),
                t.column("favorite_count").to_numpy().astype(float), ["x", "y"])
    starts = np.arange(0, truth.n_days - BIN + 1e-9, BIN)
    rng = np.random.default_rng(seed)
    basin, bins, centre, radius, label = [], [], [], [], []
    for b in range(len(starts) - 1):
        a, e = starts[b], starts[b] + 2 * BIN
        for k in range(len(truth.centres)):
            if truth.windows[k, 0] <= a and truth.windows[k, 1] >= e:
                basin.append(k), bins.append(b), centre.append(truth.centres[k])
                radius.append(truth.spreads[k]), label.append(1)
        for _ in range(5):
            c = rng.uniform(0.1, 0.9, 2)
            while np.linalg.norm(truth.centres - c, axis=1).min() < 0.2:
                c = rng.uniform(0.1, 0.9, 2)
            basin.append(-1), bins.append(b), centre.append(c), radius.append(0.04)
            label.append(0)
    regions = Regions(np.array(basin), np.array(bins), np.array(centre), np.array(radius),
                      starts, BIN)
    return rows, t.column("planted_basin").to_numpy(), regions, np.array(label)


def null_days(rows, seed: int, draws: int = DRAWS):
    return [rows.permuted_times(seed, j).days for j in range(draws)]


def aurocs(cols, label) -> dict[str, tuple[float, float]]:
    """Per method: AUROC of the score and of z, planted regions against background ones
    (an unscored region, NaN, ranks lowest)."""
    def lowest(v):
        return np.where(np.isfinite(v), v, np.nanmin(v[np.isfinite(v)]) - 1)

    out = {}
    for m in np.unique(cols["method"]):
        k = cols["method"] == m
        out[str(m)] = (roc_auc_score(label, lowest(cols["score"][k])),
                       roc_auc_score(label, lowest(cols["z"][k])))
    return out


def evaluate(seed: int, methods: list[str], parent=None, cascade: float | None = None):
    rows, _, regions, label = case(seed, cascade)
    sample = evidence.of_rows(rows, 1.0, parent)
    cols, info = evidence.evaluate(sample, {"train": regions}, methods,
                                   evidence.Options(BIN, seed=seed), null_days(rows, seed))
    return cols, label, info
