"""Escape barriers: the density drop along the easiest way out of a basin.

On the window's time-decayed density grid (engine._basins.evidence.density, the same f_{t+1}
its score reads), the easiest exit from the centre c is the path to any cell EXIT radii
away that keeps the density highest (a maximin path); its lowest density is the pass. The
score is ln f(c) - ln pass: 0 on a slope or plain, the depth of the well a basin sits in.
The pass is found by bisection on the level L: c reaches the exit ring through cells with
f >= L (connected components, scipy.ndimage.label) exactly when L <= pass.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from engine._basins.evidence import grid as grids
from engine._basins.evidence.density import FLOOR, State, window_densities
from engine._basins.evidence.regions import Regions
from engine._basins.evidence.sample import Sample

NAMES = ("escape_barrier",)
EXIT = 3.0  # radii from the centre where a walker has left the basin
STEPS = 14  # bisection steps on the log level: the barrier to MAX_BARRIER / 2^14
MAX_BARRIER = 20.0  # nats; deeper wells are reported at this depth


def pass_level(f: np.ndarray, start: tuple[int, ...], exit_mask: np.ndarray) -> float:
    """The highest level L such that `start` connects to a cell of `exit_mask` through
    cells with f >= L (face-connected); the maximin path's lowest value."""
    lo, hi = float(f.min()), float(f[start])  # at the minimum every cell connects
    if hi <= lo:
        return hi

    def reaches(level: float) -> bool:
        labels, _ = ndimage.label(f >= level)
        return bool((labels[exit_mask] == labels[start]).any())

    lo, hi = max(np.log(max(lo, FLOOR)), np.log(hi) - MAX_BARRIER), np.log(hi)
    if not reaches(np.exp(lo)):
        return float(np.exp(lo))  # a barrier of MAX_BARRIER or more
    for _ in range(STEPS):
        mid = 0.5 * (lo + hi)
        if reaches(np.exp(mid)):
            lo = mid
        else:
            hi = mid
    return float(np.exp(lo))


def barrier(f: np.ndarray, g: grids.Grid, centre: np.ndarray, radius: float) -> float:
    """ln f(c) - ln pass, on the grid cells within EXIT radii (+ one cell) of the centre."""
    reach = EXIT * radius + g.cell
    lo = np.maximum(np.floor((centre - reach - g.lo) / g.cell).astype(int), 0)
    hi = np.minimum(np.ceil((centre + reach - g.lo) / g.cell).astype(int) + 1, g.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    sub = np.maximum(f[box], FLOOR)
    axes = [g.lo[j] + (np.arange(lo[j], hi[j]) + 0.5) * g.cell[j] for j in range(len(lo))]
    mesh = np.meshgrid(*axes, indexing="ij")
    dist = np.sqrt(sum((m - c) ** 2 for m, c in zip(mesh, centre, strict=True)))
    exit_mask = dist >= EXIT * radius
    if not exit_mask.any():
        return 0.0
    start = np.unravel_index(np.argmin(dist), dist.shape)
    return float(np.log(sub[start]) - np.log(pass_level(sub, start, exit_mask)))


def score(sample: Sample, regions: Regions, state: State, xp=np) -> dict[str, np.ndarray]:
    out = np.full(len(regions), np.nan)
    for t, D in window_densities(sample, regions, state, xp):
        f = D.get() if hasattr(D, "get") else np.asarray(D)
        for k in np.flatnonzero(regions.bin == t):
            out[k] = barrier(f, state.grid, regions.centre[k], regions.radius[k])
    return {"escape_barrier": out}
