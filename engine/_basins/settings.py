"""The parameters of one pipeline pass and the input rows (light: imported by the job's
config schema)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Settings:
    """Every parameter of one pipeline pass (the tuned four first). The job's `Params`
    extends this class, so each parameter and its default is declared here only."""

    bin_size_days: float = 7.0
    min_cluster_frac: float = 0.005
    recency_lambda: float = 0.0
    alpha: float = 1.0
    n_bootstrap: int = 20
    sample_frac: float = 0.8
    min_samples: int = 10
    min_cluster_size_global: int = 10
    knn_k: int = 15
    consensus_threshold: float = 0.5
    consensus_max_clusters: int = 50
    min_cosampled: int = 3
    low_cosample: str = "drop"  # drop | shrink
    prior_strength: float = 2.0
    track_gate: float = 1.0  # x median pairwise centre distance
    max_gap: int = 1
    track_spread_gate: float = 1.0  # never match cores farther apart than this x the sum of
    # their core radii (0: off); at 2.0 tracks jumped from a faded basin to noise beside it
    merge_overlap: float = 1.0  # merge a bin's clusters whose cores are closer than this x
    # the sum of their core radii (0: off)
    softmatch_gamma: float = 1.0
    softmatch_use_prior: bool = True
    softmatch_tau: float | None = None
    softmatch_fit: bool = False  # fit tau (x median) and gamma on earlier transitions


@dataclass
class Rows:
    """The input rows: ids, float days since the first row, coordinates, counts."""

    ids: np.ndarray
    days: np.ndarray
    coords: np.ndarray  # (n, d) float64
    retweets: np.ndarray
    favorites: np.ndarray
    coord_names: list[str] = field(default_factory=list)
    start: np.datetime64 | None = None  # the time of day 0
    n_dropped: int = 0  # invalid input rows left out (data.drop_invalid=true)
    reply_to: np.ndarray | None = None  # replied-to id per row, None where not a reply

    def permuted_times(self, seed: int, draw: int = 0) -> Rows:
        """A null draw's rows: times shuffled across rows, positions and counts kept."""
        rng = np.random.default_rng([seed, 7] if draw == 0 else [seed, 7, draw])
        return Rows(self.ids, self.days[rng.permutation(len(self.days))], self.coords,
                    self.retweets, self.favorites, self.coord_names, self.start)


def min_cluster_size(n_points: int, s: Settings, frac: float | None = None) -> int:
    frac = s.min_cluster_frac if frac is None else frac
    return int(max(s.min_cluster_size_global, np.ceil(frac * n_points)))
