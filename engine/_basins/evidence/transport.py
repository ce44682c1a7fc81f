"""Drift field and flow convergence: does the tweets' mass move toward a basin's centre?

Within the window a region is scored on (the next bin), the rows of the first half are one
snapshot, those of the second half the next (two snapshots inside the window, so the bin
that chose the region stays out). Each snapshot is its engagement mass gathered on at most
`points` places: the weighted centroids of the nonempty cells of a grid over its rows
(every row counts, whatever the data's size). An entropic optimal transport plan between
them (POT, `ot.sinkhorn`, squared Euclidean cost, regularisation `reg` x the median cost)
gives every source place a drift: the plan's barycentre of its targets minus the place (the
seed's preferred "drift field", the local flow of density between consecutive snapshots;
the entropic smoothing averages it over neighbours). POT picks its backend from the array
type, so on CuPy arrays the plan and the score stay on the device.

Score of a region: the inward flow near it, sum over the source places x within two radii
of the centre c of (their mass) x (the component of their drift pointing at c), in radii.
Mass and direction both count: a basin gathers mass and pulls its surroundings in (the
entropic plan's barycentres move toward where the next snapshot is dense). The null keeps
every position, so a static blob pulls too; what it cannot do is gather rows in time, which
is what a basin adds.

Measured on planted basins (seeds 0-4, 4 null draws; z AUROC against background regions):
snapshots of 300 rows drawn at random gave 0.76-0.96 (the draw's noise: 0.71 at 100k rows),
600 rows 0.84-0.97 at 2.7x the cost; grid centroids 0.80-0.92 at reg 0.2 and 0.83-0.93 at
reg 0.1 (0.82-0.90 at 0.05, 0.76-0.91 at 0.3), 0.81 at 100k rows. The share of
inward-pointing drifts instead of the mass-weighted flow separated them less well (score
AUROC 0.73-0.77 against 0.90-0.97).
"""

from __future__ import annotations

import numpy as np

from engine._basins.evidence.regions import Regions
from engine._basins.evidence.sample import Sample

NAMES = ("flow_convergence",)


def plan(X, a, Y, b, reg: float | None):
    """Transport plan from weights a at X to weights b at Y (each summing to 1): entropic
    with `reg` x the median cost, exact (`ot.emd`) with reg None. POT picks its backend
    from the arrays' type, so CuPy input is solved on the device."""
    import ot  # here: importing POT takes seconds (it probes torch, jax, ...)
    M = ot.dist(X, Y)
    if reg is None:
        return ot.emd(a, b, M), M
    scale = float(ot.backend.get_backend(M).median(M)) or 1.0
    # Plain Sinkhorn: at reg >= 0.01 x the median cost exp(-M / reg) stays far from
    # underflow on a window's spread; the log-domain solver is ~50x slower.
    return ot.sinkhorn(a, b, M, reg * scale, numItermax=1000, stopThr=1e-6, warn=False), M


def drift(X, a, Y, b, reg: float):
    """Per source row: the barycentre of where the plan sends it, minus the row."""
    import ot
    P, _ = plan(X, a, Y, b, reg)
    mass = ot.backend.get_backend(P).clip(P.sum(1, keepdims=True), 1e-300, None)
    return (P @ Y) / mass - X


def _snapshot(sample: Sample, rows: np.ndarray, points: int, xp):
    """The rows' mass on at most `points` places: the engagement-weighted centroids of the
    nonempty cells of a grid over the rows' box (floor(points^(1/d)) cells per axis), so every
    row counts however many there are."""
    X, w = sample.coords[rows], sample.weight[rows]
    per_axis = max(int(np.floor(points ** (1 / X.shape[1]) + 1e-9)), 1)
    lo, hi = X.min(0), X.max(0)
    cell = np.minimum(((X - lo) / np.maximum(hi - lo, 1e-12) * per_axis).astype(np.int64),
                      per_axis - 1)
    _, key = np.unique(np.ravel_multi_index(tuple(cell.T), (per_axis,) * X.shape[1]),
                       return_inverse=True)
    mass = np.bincount(key, w)
    centre = np.stack([np.bincount(key, w * X[:, j]) for j in range(X.shape[1])], 1) \
        / mass[:, None]
    return xp.asarray(centre), xp.asarray(mass / mass.sum())


def window_drift(sample: Sample, a: float, b: float, points: int, reg: float, xp=np):
    """(source places X, their masses, their drifts) from the first half of days [a, b) to
    the second, as `xp` arrays (gathered on the host); None where a half holds fewer than
    two rows."""
    mid = 0.5 * (a + b)
    first = np.flatnonzero((sample.days >= a) & (sample.days < mid))
    second = np.flatnonzero((sample.days >= mid) & (sample.days < b))
    if len(first) < 2 or len(second) < 2:
        return None
    X, wa = _snapshot(sample, first, points, xp)
    Y, wb = _snapshot(sample, second, points, xp)
    return X, wa, drift(X, wa, Y, wb, reg)


def score(sample: Sample, regions: Regions, state: None, xp=np, *, points: int = 300,
          reg: float = 0.1) -> dict[str, np.ndarray]:
    out = np.full(len(regions), np.nan)
    for t in np.unique(regions.bin):
        ks = np.flatnonzero(regions.bin == t)
        flow = window_drift(sample, *regions.window(int(ks[0])), points, reg, xp)
        if flow is not None:
            out[ks] = inward_flow(*flow, regions.centre[ks], regions.radius[ks])
    return {"flow_convergence": out}


def inward_flow(X, mass, V, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Per centre c (radius r): sum over the source rows within 2 r of c of their mass times
    their drift's component toward c, in radii (host floats; X, mass, V on any backend)."""
    import ot
    nx = ot.backend.get_backend(X)  # POT's array backend of X: numpy or cupy
    c, r = nx.from_numpy(np.asarray(centres, float), type_as=X), nx.from_numpy(
        np.asarray(radii, float), type_as=X)
    toward = c[:, None, :] - X[None, :, :]  # (K, n, d)
    dist = nx.sqrt((toward ** 2).sum(2))
    inward = (toward * V[None]).sum(2) / nx.clip(dist, 1e-12, None)
    return nx.to_numpy(((dist <= 2 * r[:, None]) * mass[None] * inward).sum(1) / r)
