"""The detection limit of a part, measured by injection: how weak a basin could this much
data, this binning and these parameters show as significant?

Basins of known intensities (a ladder, `LADDER`) are planted into one more time-shuffled
draw of the part's rows (so the part's own basins neither hide nor help them), the draw runs
through the same pipeline and significance test as the real rows, and each planted basin is
recovered when a significant basin matches it (`engine.synthetic.planted.match_basins`:
centre within two spreads, time windows overlapping by half their union). The limit is the
weakest intensity from which every stronger one was recovered.

Intensity is the planted generator's: a basin's rows per day while alive over the part's
rows per day, so the limit reads directly against `bench/results/basins_planted.md`. The
injected basins are Gaussian blobs of `SPREAD` of the data's range per axis (the planted
default spreads 0.03-0.05 of the unit box), alive `n_days_alive` days at random times, at
least `APART` spreads from each other (closer, two strong blobs alive at once can be taken
for one cluster, and the estimate would measure that instead). One draw gives a coarse
estimate (the ladder's steps are about 1.4x); a measured one, where an analytic bound would
have to guess how often HDBSCAN finds a blob of a given contrast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine._basins.settings import Rows
from engine.synthetic import planted

LADDER = (0.03, 0.045, 0.0625, 0.09, 0.125, 0.18, 0.25, 0.35, 0.5)
SPREAD = 0.04
APART = 8.0


@dataclass
class Injection:
    rows: Rows  # all the rows with shuffled times, then the injected ones
    truth: planted.PlantedTruth  # in the unit box of the part, days from its start
    lo: np.ndarray  # per axis: data coordinate = lo + width * unit-box coordinate
    width: np.ndarray
    start: float  # the part's first day
    rows_per_day: float


def inject(rows: Rows, start: float, stop: float, n_days_alive: float, seed: int,
           intensities=LADDER) -> Injection:
    """All the rows with their times shuffled (as a null draw), plus one Gaussian basin per
    intensity inside [start, stop)."""
    part = (rows.days >= start) & (rows.days < stop)
    n_days = int(np.floor(stop - start))
    X = rows.coords[part]
    lo, hi = np.quantile(X, 0.01, axis=0), np.quantile(X, 0.99, axis=0)
    width = np.maximum(hi - lo, 1e-12)
    length = float(min(n_days_alive, n_days))
    rng = np.random.default_rng([seed, 17])
    K = len(intensities)
    begins = rng.uniform(0, n_days - length, K)
    rate = part.sum() / (stop - start)
    counts = np.round(np.asarray(intensities) * rate * length).astype(np.int64)
    truth = planted.PlantedTruth(
        centres=_apart(rng, K, X.shape[1]), spreads=np.full(K, SPREAD),
        windows=np.stack([begins, begins + length], 1),
        intensities=np.asarray(intensities, float), counts=np.append(counts, part.sum()),
        blob_centres=np.zeros((0, X.shape[1])), blob_spreads=np.zeros(0),
        volume_amplitude=0.0, n_days=n_days, start=np.datetime64(0, "ns"), shuffle=False)
    which = np.repeat(np.arange(len(counts)), counts)
    unit = truth.centres[which] + SPREAD * rng.standard_normal((len(which), X.shape[1]))
    days = start + rng.uniform(truth.windows[which, 0], truth.windows[which, 1])
    donor = rng.choice(np.flatnonzero(part), len(which))  # engagement counts of real rows
    n = len(rows.days)
    out = Rows(np.arange(n + len(which)),
               np.concatenate([rows.days[rng.permutation(n)], days]),
               np.concatenate([rows.coords, lo + width * unit]),
               np.concatenate([rows.retweets, rows.retweets[donor]]),
               np.concatenate([rows.favorites, rows.favorites[donor]]),
               rows.coord_names, rows.start)
    return Injection(out, truth, lo, width, float(start), float(rate))


def _apart(rng: np.random.Generator, k: int, dim: int) -> np.ndarray:
    """k centres in the unit box, 3 spreads from its faces, APART spreads from each other
    where rejection finds room (the distance shrinks by 10% after each 1000 tries)."""
    lo, hi, gap = 3 * SPREAD, 1 - 3 * SPREAD, APART * SPREAD
    out = np.zeros((0, dim))
    while len(out) < k:
        for _ in range(1000):
            c = rng.uniform(lo, hi, dim)
            if not len(out) or np.linalg.norm(out - c, axis=1).min() >= gap:
                out = np.vstack([out, c])
                break
        else:
            gap *= 0.9
    return out


def recovered(inj: Injection, cores: np.ndarray, first_day: np.ndarray, last_day: np.ndarray,
              significant: np.ndarray) -> np.ndarray:
    """(K,) bool: each injected basin matched by a significant basin (cores in data
    coordinates, days as the rows')."""
    keep = np.asarray(significant, bool)
    unit = (np.asarray(cores, float)[keep] - inj.lo) / inj.width
    m = planted.match_basins(inj.truth, unit, np.asarray(first_day)[keep] - inj.start,
                             np.asarray(last_day)[keep] - inj.start,
                             (0.0, float(inj.truth.n_days)), min_days=0.0)
    return m["planted_to_found"] >= 0


def limit(intensities, found: np.ndarray) -> float:
    """The weakest intensity from which every stronger one was found (inf: not even the
    strongest)."""
    order = np.argsort(intensities)
    ladder, hit = np.asarray(intensities, float)[order], np.asarray(found, bool)[order]
    if not hit[-1]:
        return float("inf")
    missed = np.flatnonzero(~hit)
    return float(ladder[missed[-1] + 1]) if len(missed) else float(ladder[0])
