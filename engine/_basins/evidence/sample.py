"""The rows every evidence method reads, and their time-shuffled null draws.

A null draw is the basins job's own: `Rows.permuted_times(seed, j)` (every position kept,
the times permuted across rows). Reply links are re-drawn with it: each reply's parent
becomes a row drawn at random from all rows (seed 001: "compare the findings to randomly
sampling from all my tweets"), so a reply's landing place no longer depends on its parent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass
class Sample:
    coords: np.ndarray  # (n, d)
    days: np.ndarray  # (n,)
    weight: np.ndarray  # (n,) engagement: 1 + ln(1 + RT + alpha Fav), the job's w_pop
    parent: np.ndarray | None = None  # (n,) row of the replied-to tweet, -1: none or absent


def engagement(retweets: np.ndarray, favorites: np.ndarray, alpha: float) -> np.ndarray:
    return 1.0 + np.log1p(np.maximum(retweets, 0) + alpha * np.maximum(favorites, 0))


def of_rows(rows, alpha: float, parent: np.ndarray | None = None) -> Sample:
    return Sample(np.asarray(rows.coords, float), np.asarray(rows.days, float),
                  engagement(rows.retweets, rows.favorites, alpha), parent)


def null_draw(sample: Sample, days: np.ndarray, seed: int, draw: int) -> Sample:
    """The sample with the draw's shuffled `days` and, where there are replies, parents
    drawn at random from all rows."""
    parent = sample.parent
    if parent is not None:
        rng = np.random.default_rng([seed, 19, draw])
        parent = np.where(parent >= 0, rng.integers(0, len(parent), len(parent)), -1)
    return replace(sample, days=np.asarray(days, float), parent=parent)


def parents_of(ids: np.ndarray, reply_to: np.ndarray) -> tuple[np.ndarray, int]:
    """(Row of each row's parent, -1 where none; number of reply ids absent from the rows).
    `reply_to` holds the replied-to id, or null (None / NaN) for an original tweet."""
    ids = np.asarray(ids)
    reply_to = np.asarray(reply_to, dtype=object)
    given = np.array([v is not None and not (isinstance(v, float) and np.isnan(v))
                      for v in reply_to], bool)
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    parent = np.full(len(ids), -1, np.int64)
    if given.any():
        wanted = reply_to[given].astype(ids.dtype)
        at = np.minimum(np.searchsorted(sorted_ids, wanted), len(ids) - 1)
        found = sorted_ids[at] == wanted
        rows = np.flatnonzero(given)
        parent[rows[found]] = order[at[found]]
        return parent, int((~found).sum())
    return parent, 0
