"""Chronological train/test split and fixed-width time bins.

Times are float days since the first row. Train is the first `train_split` of the time
range, test the rest; each part is cut into whole bins of `bin_size_days` from its start.
A trailing remainder shorter than a bin is left out of both (counted, not silent).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import UserError


@dataclass
class Bins:
    """Bins of one part (train or test): edges in days and the bin of every row (-1: none)."""

    starts: np.ndarray  # (n_bins,) days
    size_days: float
    row_bin: np.ndarray  # (n_rows,) bin index, -1 outside this part's bins

    @property
    def n_bins(self) -> int:
        return len(self.starts)

    @property
    def ends(self) -> np.ndarray:
        return self.starts + self.size_days

    def rows(self, b: int) -> np.ndarray:
        return np.flatnonzero(self.row_bin == b)

    def members(self) -> list[np.ndarray]:
        """Row indices of every bin (one pass over the rows)."""
        order = np.argsort(self.row_bin, kind="stable")
        sorted_bins = self.row_bin[order]
        cuts = np.searchsorted(sorted_bins, np.arange(self.n_bins + 1))
        return [order[cuts[b]:cuts[b + 1]] for b in range(self.n_bins)]


def to_days(times: np.ndarray) -> np.ndarray:
    """datetime64 -> float days since the earliest time."""
    ns = times.astype("datetime64[ns]").astype(np.int64)
    return (ns - ns.min()) / 86400e9


def split_point(days: np.ndarray, train_split: float) -> float:
    if not 0 < train_split < 1:
        raise UserError(f"job.train_split={train_split}: expected a fraction in (0, 1)")
    return float(days.min() + train_split * (days.max() - days.min()))


def make_bins(days: np.ndarray, start: float, stop: float, bin_size_days: float) -> Bins:
    """Whole bins of `bin_size_days` covering [start, stop); rows elsewhere get bin -1."""
    if bin_size_days <= 0:
        raise UserError(f"job.bin_size_days={bin_size_days}: must be positive")
    span = stop - start
    n_bins = int(np.floor(span / bin_size_days + 1e-9))
    starts = start + bin_size_days * np.arange(n_bins)
    row_bin = np.full(len(days), -1, np.int64)
    inside = (days >= start) & (days < start + n_bins * bin_size_days)
    row_bin[inside] = np.minimum(((days[inside] - start) // bin_size_days).astype(np.int64),
                                 n_bins - 1)
    return Bins(starts, float(bin_size_days), row_bin)


def split_bins(days: np.ndarray, train_split: float, bin_size_days: float) -> tuple[Bins, Bins]:
    """Train and test bins; a UserError when the whole range is shorter than one bin."""
    span = float(days.max() - days.min()) if len(days) else 0.0
    if span < bin_size_days:
        raise UserError(f"the time range ({span:.2f} days) is shorter than one bin "
                        f"(job.bin_size_days={bin_size_days})")
    cut = split_point(days, train_split)
    # The last row sits exactly at the range end; widen the stop so it belongs to a bin.
    end = float(days.max()) + 1e-9
    return make_bins(days, float(days.min()), cut, bin_size_days), \
        make_bins(days, cut, end, bin_size_days)
