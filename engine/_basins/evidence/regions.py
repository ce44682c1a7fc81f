"""The places the evidence methods score: one ball per cluster of a part's table, scored on
the NEXT bin with the rows of its own bin left out.

Why the next bin: the pipeline put each cluster where its own bin happens to be dense, so
any statistic of that bin rewards noise; bin t + 1 did not choose the region
(engine._basins.significance scores its strength the same way). A part's last bin has no
next bin and is not scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Regions:
    basin_id: np.ndarray  # (K,)
    bin: np.ndarray  # (K,) the bin that chose the region; scored on bin + 1
    centre: np.ndarray  # (K, d)
    radius: np.ndarray  # (K,)
    starts: np.ndarray  # (n_bins,) the part's bin starts, days
    size_days: float

    def __len__(self) -> int:
        return len(self.bin)

    @property
    def n_bins(self) -> int:
        return len(self.starts)

    def window(self, k: int) -> tuple[float, float]:
        """Days [start, end) of region k's scoring window (the next bin)."""
        s = self.starts[self.bin[k] + 1]
        return float(s), float(s + self.size_days)

    def members(self, ks: np.ndarray, X: np.ndarray) -> np.ndarray:
        """(len(ks), n): which rows of X lie in each of the regions ks (one bin's)."""
        return np.stack([inside(X, self.centre[k], self.radius[k]) for k in ks])

    def left_out(self, k: int) -> tuple[float, float]:
        """Days [start, end) of the bin that chose region k."""
        s = self.starts[self.bin[k]]
        return float(s), float(s + self.size_days)


def of_part(table: dict[str, np.ndarray], starts: np.ndarray, size_days: float) -> Regions:
    """The clusters of a part's table that have a next bin (cores: centre and radius)."""
    b = np.asarray(table["bin"], np.int64)
    keep = b + 1 < len(starts)
    d = np.asarray(table["core_centre"]).reshape(len(b), -1).shape[1] if len(b) else 0
    centre = np.asarray(table["core_centre"], float).reshape(len(b), d)[keep]
    return Regions(np.asarray(table["basin_id"], np.int64)[keep], b[keep], centre,
                   np.maximum(np.asarray(table["core_radius"], float)[keep], 1e-12),
                   np.asarray(starts, float), float(size_days))


def inside(X: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    return ((X - centre) ** 2).sum(1) <= radius * radius
