"""The real human-rated tweets (tests/data/real) as arrays, and a ready split."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

VADER = Path(__file__).resolve().parents[1] / "data" / "real" / "vader_tweets.parquet"
ALPHAS = [float(a) for a in np.logspace(-3, 4, 15)]


@functools.cache
def vader() -> tuple[np.ndarray, np.ndarray]:
    t = pq.read_table(VADER, columns=["embedding", "sentiment"])
    emb = t.column("embedding").combine_chunks()
    x = emb.flatten().to_numpy().reshape(len(emb), -1).astype(np.float64)
    return x, t.column("sentiment").to_numpy()


def well_conditioned(n: int = 600, d: int = 12, k: int = 3, seed: int = 0):
    """A full-rank regression problem with correlated targets."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) * 0.5 + rng.normal(0, 3, d)
    y = x @ rng.standard_normal((d, k)) + rng.standard_normal((n, k)) * 2.0 + 5.0
    return x, y
