"""A density grid over the basin axes: weighted rows binned to cells, smoothed with a
Gaussian of bandwidth h (scipy.ndimage / cupyx.scipy.ndimage), read back by linear
interpolation. It is a kernel density estimate (Gaussian kernel, per-row weights) up to the
cell size: the grid reaches PAD bandwidths beyond the rows, so no kernel mass is cut off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import UserError

PAD = 4.0  # bandwidths of margin around the rows (the Gaussian's truncation)


@dataclass
class Grid:
    lo: np.ndarray  # (d,) corner of cell 0
    cell: np.ndarray  # (d,) cell widths
    shape: tuple[int, ...]

    @property
    def cell_volume(self) -> float:
        return float(np.prod(self.cell))


def make_grid(X: np.ndarray, h_max: float, cells_per_axis: int) -> Grid:
    """Cells over the rows' box widened by PAD * h_max, `cells_per_axis` per axis."""
    lo = X.min(0) - PAD * h_max
    hi = X.max(0) + PAD * h_max
    n = int(cells_per_axis)
    return Grid(lo, (hi - lo) / n, (n,) * X.shape[1])


def check_bandwidth(grid: Grid, h: float, key: str) -> None:
    """A bandwidth below one cell leaves each row's kernel inside its cell: refused."""
    if not h >= grid.cell.max():
        raise UserError(f"{key}: a bandwidth of {h:.4g} is below one cell of the density "
                        f"grid ({grid.cell.max():.4g}); raise it or job.evidence_grid_cells")


def _ndimage(xp):
    if xp is np:
        import scipy.ndimage as nd
    else:
        import cupyx.scipy.ndimage as nd
    return nd


def cell_index(grid: Grid, X: np.ndarray, xp=np):
    """Flat cell index of every row (rows outside the grid clipped to its edge)."""
    idx = xp.floor((xp.asarray(X) - xp.asarray(grid.lo)) / xp.asarray(grid.cell)).astype(
        xp.int64)
    idx = xp.clip(idx, 0, xp.asarray(grid.shape) - 1)
    return xp.ravel_multi_index(tuple(idx.T), grid.shape)


def histogram(grid: Grid, flat, weights, xp=np):
    """Sum of the weights per cell (rows given by their `cell_index`)."""
    n = int(np.prod(grid.shape))
    return xp.bincount(flat, weights=xp.asarray(weights, xp.float64), minlength=n).reshape(
        grid.shape)


def density(grid: Grid, H, h: float, xp=np):
    """The normalised density (integral 1) of the weighted cell sums H at bandwidth h."""
    total = float(H.sum())
    if total <= 0:
        return xp.zeros_like(H)
    smooth = _ndimage(xp).gaussian_filter(H, sigma=tuple(h / grid.cell), mode="constant",
                                          truncate=PAD)
    return smooth / (total * grid.cell_volume)


def at(grid: Grid, D, points: np.ndarray, xp=np) -> np.ndarray:
    """The grid's values at `points` (n, d), linear interpolation between cell centres."""
    if len(points) == 0:  # no region to score (a part without clusters)
        return np.zeros(0)
    pos = (xp.asarray(points, xp.float64) - xp.asarray(grid.lo)) / xp.asarray(grid.cell) - 0.5
    out = _ndimage(xp).map_coordinates(D, pos.T, order=1, mode="nearest")
    return out.get() if hasattr(out, "get") else np.asarray(out)
