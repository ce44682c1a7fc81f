"""Synthetic tweets: embeddings around topic centres over a year, with planted basins.

Ground truth (`TweetTruth`):
- topics: `n_topics` centres in d dimensions; the first `n_basins` are *basins*, active only
  inside a time window (they emerge, persist and fade; window lengths drawn from
  `basin_window`, shares of the range), the rest persist all year; a share of tweets is
  diffuse noise (topic -1);
- a hidden linear map from embeddings to the three good-faith axes: ratings on a labelled
  subset are `4 + beta * Q^T x + noise`, with noise set so the best linear fit reaches a
  held-out correlation near the seed's 0.63-0.70;
- the topics sit at chosen points of that 3-D axis space, so basins are visible after
  projection (the `basins` job clusters the projected axes).

Rows are generated in chunks, each seeded by (seed, chunk index), so any size can be written
to disk without holding it in memory, and the same seed gives the same corpus.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from engine.io.embeddings import Batch

AXES = ("sincerity", "charity", "constructiveness")
CATEGORIES = ("politics", "coding", "science", "sports", "culture", "personal")
DIFFUSE_SHARE = 0.15
BASIN_SHARE = 0.40
NOISE = 0.3  # per-dimension noise around a topic centre
AXIS_NOISE = 1.0  # rating noise, relative to the axis signal's standard deviation
BASIN_WINDOW = (0.20, 0.35)  # a basin's active window: min and max share of the range


@dataclass
class TweetTruth:
    centres: np.ndarray  # (n_topics, d)
    axis_positions: np.ndarray  # (n_topics, 3): Q^T centre
    q: np.ndarray  # (d, 3) orthonormal basis of the rating directions
    beta: float  # rating scale along each axis
    rating_noise: np.ndarray  # (3,) std of the rating noise per axis
    windows: np.ndarray  # (n_topics, 2) active days [start, end); persistent topics span all
    is_basin: np.ndarray  # (n_topics,) bool
    topic_weight: np.ndarray  # (n_topics,) share of tweets per topic
    categories: np.ndarray  # (n_topics,) category index
    user_topics: np.ndarray  # (n_users, 3) preferred topics per user
    user_weight: np.ndarray  # (n_users,) Zipf activity
    n_days: int
    start: np.datetime64

    @property
    def n_topics(self) -> int:
        return len(self.centres)


def check_basin_window(window, name: str = "basin_window") -> tuple[float, float]:
    """[min, max] shares of the time range, 0 < min <= max <= 1 (ValueError naming `name`
    otherwise)."""
    window = list(window)
    if len(window) != 2 or not 0 < window[0] <= window[1] <= 1:
        raise ValueError(f"{name}={window}: expected [min, max] shares of the time range with "
                         "0 < min <= max <= 1")
    return float(window[0]), float(window[1])


def make_truth(n_topics: int = 16, n_basins: int = 5, dim: int = 64, n_users: int = 400,
               n_days: int = 365, start_date: str = "2024-01-01", seed: int = 0,
               basin_window: tuple[float, float] = BASIN_WINDOW) -> TweetTruth:
    if dim < 8:
        raise ValueError("synthetic tweets need dim >= 8")
    lo, hi = check_basin_window(basin_window)
    n_basins = min(n_basins, n_topics)
    rng = np.random.default_rng([seed, 1])
    q, _ = np.linalg.qr(rng.standard_normal((dim, 3)))
    # Topic positions on the three axes: a jittered grid, so topics are well apart there.
    side = int(np.ceil(n_topics ** (1 / 3)))
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    grid = grid[rng.permutation(len(grid))[:n_topics]].astype(float)
    axis_pos = (grid - (side - 1) / 2) * 2.0 + rng.uniform(-0.25, 0.25, grid.shape)
    # The rest of each centre lies orthogonal to the rating directions.
    other = rng.standard_normal((n_topics, dim))
    other -= (other @ q) @ q.T
    other *= 2.0 / np.linalg.norm(other, axis=1, keepdims=True)
    centres = axis_pos @ q.T + other
    # Basins: windows of basin_window shares of the range, spread over the year; others span
    # all of it.
    windows = np.tile([0.0, float(n_days)], (n_topics, 1))
    is_basin = np.zeros(n_topics, bool)
    is_basin[:n_basins] = True
    for b in range(n_basins):
        length = rng.uniform(lo, hi) * n_days
        begin = (b + 0.5) / max(n_basins, 1) * (n_days - length) + rng.uniform(-0.05, 0.05) * n_days
        begin = float(np.clip(begin, 0, n_days - length))
        windows[b] = (begin, begin + length)
    weight = np.where(is_basin, BASIN_SHARE / max(n_basins, 1),
                      (1 - DIFFUSE_SHARE - BASIN_SHARE) / max(n_topics - n_basins, 1))
    if n_basins == n_topics:
        weight = np.full(n_topics, (1 - DIFFUSE_SHARE) / n_topics)
    signal_sd = np.sqrt(np.var(axis_pos, axis=0) + NOISE**2)
    beta = 1.0 / float(np.mean(signal_sd))
    return TweetTruth(
        centres=centres,
        axis_positions=axis_pos,
        q=q,
        beta=beta,
        rating_noise=AXIS_NOISE * beta * signal_sd * np.array([1.05, 1.2, 0.95]),
        windows=windows,
        is_basin=is_basin,
        topic_weight=weight / weight.sum() * (1 - DIFFUSE_SHARE),
        categories=rng.integers(0, len(CATEGORIES), n_topics),
        user_topics=rng.integers(0, n_topics, (n_users, 3)),
        user_weight=_zipf(n_users, rng),
        n_days=n_days,
        start=np.datetime64(start_date, "ns"),
    )


def _zipf(n: int, rng: np.random.Generator) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** 0.9
    w = w[rng.permutation(n)]
    return w / w.sum()


def _days_in_window(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Trapezoid in time: rise over the first 25%, plateau, fade over the last 35%."""
    u = rng.uniform(size=lo.shape)
    # Inverse CDF of a trapezoid on [0,1] with ramps a=0.25 (up) and b=0.35 (down).
    a, b = 0.25, 0.35
    h = 1.0 / (1 - a / 2 - b / 2)
    c1, c2 = h * a / 2, 1 - h * b / 2
    x = np.where(
        u < c1, np.sqrt(2 * a * u / h),
        np.where(u < c2, a + (u - c1) / h, 1 - np.sqrt(2 * b * (1 - u) / h)),
    )
    return lo + x * (hi - lo)


def generate_chunk(truth: TweetTruth, start_row: int, n: int, seed: int
                   ) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Rows [start_row, start_row + n): (metadata table, float32 embeddings, topic per row)."""
    rng = np.random.default_rng([seed, 2, start_row])
    d = truth.centres.shape[1]
    n_topics = truth.n_topics
    probs = np.append(truth.topic_weight, DIFFUSE_SHARE)
    topic = rng.choice(n_topics + 1, size=n, p=probs / probs.sum())
    topic[topic == n_topics] = -1
    diffuse = topic < 0
    # Users: mostly their preferred topics; a user's tweet picks the topic first, then a user
    # among those who prefer it (or anyone, for diffuse tweets and 20% of the rest).
    n_users = len(truth.user_weight)
    user = rng.choice(n_users, size=n, p=truth.user_weight)
    prefers = rng.uniform(size=n) < 0.8
    for k in np.unique(topic[~diffuse & prefers]):
        fans = np.flatnonzero((truth.user_topics == k).any(axis=1))
        rows = np.flatnonzero((topic == k) & prefers)
        if len(fans):
            w = truth.user_weight[fans]
            user[rows] = fans[rng.choice(len(fans), size=len(rows), p=w / w.sum())]
    # Times: basins inside their windows, everything else over the whole range.
    lo = np.where(diffuse, 0.0, truth.windows[topic, 0])
    hi = np.where(diffuse, float(truth.n_days), truth.windows[topic, 1])
    basin_rows = ~diffuse & truth.is_basin[np.maximum(topic, 0)]
    days = np.where(basin_rows, _days_in_window(rng, lo, hi), rng.uniform(lo, hi))
    times = truth.start + (days * 86400e9).astype("int64").astype("timedelta64[ns]")
    # Embeddings: topic centre + noise; diffuse tweets around random points of the axis box.
    centre = truth.centres[np.maximum(topic, 0)]
    if diffuse.any():
        box = np.abs(truth.axis_positions).max() + 1.0
        pos = rng.uniform(-box, box, (int(diffuse.sum()), 3))
        rest = rng.standard_normal((int(diffuse.sum()), d))
        rest -= (rest @ truth.q) @ truth.q.T
        rest *= 2.0 / np.linalg.norm(rest, axis=1, keepdims=True)
        centre[diffuse] = pos @ truth.q.T + rest
    emb = (centre + NOISE * rng.standard_normal((n, d))).astype(np.float32)
    # Popularity: heavy-tailed favourites; retweets a fraction of them; basins draw more.
    fav = np.floor(rng.lognormal(1.0 + 0.8 * basin_rows, 1.5)).astype(np.int64)
    rt = np.floor(fav * rng.beta(1.0, 4.0, n)).astype(np.int64)
    category = np.where(diffuse, len(CATEGORIES) - 1, truth.categories[np.maximum(topic, 0)])
    ids = np.arange(start_row, start_row + n, dtype=np.int64)
    table = pa.table({
        "id": ids,
        "datetime": pa.array(times, pa.timestamp("ns")),
        "user_id": pa.array([f"u{u:05d}" for u in user]),
        "retweet_count": rt,
        "favorite_count": fav,
        "category": pa.array(np.array(CATEGORIES)[category]),
        "full_text": pa.array([f"tweet {i} on topic {k}" for i, k in zip(ids, topic, strict=True)]),
    })
    return table, emb, topic


def iter_chunks(truth: TweetTruth, n_rows: int, seed: int, chunk_rows: int = 65536
                ) -> Iterator[tuple[Batch, np.ndarray]]:
    """All rows in chunks: (Batch, topic per row)."""
    for start in range(0, n_rows, chunk_rows):
        table, emb, topic = generate_chunk(truth, start, min(chunk_rows, n_rows - start), seed)
        yield Batch(table, emb), topic


def labelled_ids(n_rows: int, n_labelled: int, seed: int) -> np.ndarray:
    """Sorted ids of the rated subset."""
    rng = np.random.default_rng([seed, 3])
    return np.sort(rng.choice(n_rows, size=min(n_labelled, n_rows), replace=False))


def rate(truth: TweetTruth, ids: np.ndarray, emb: np.ndarray, seed: int) -> pa.Table:
    """Ratings of the given rows on the three axes (the hidden linear map plus noise)."""
    rng = np.random.default_rng([seed, 4, int(ids[0]) if len(ids) else 0])
    signal = 4.0 + truth.beta * (emb.astype(np.float64) @ truth.q)
    y = signal + rng.standard_normal(signal.shape) * truth.rating_noise
    return pa.table({"id": ids, **{a: y[:, j] for j, a in enumerate(AXES)}})


@dataclass
class Tweets:
    """A whole synthetic corpus in memory (for the default sizes)."""

    batch: Batch
    topic: np.ndarray
    ratings: pa.Table
    truth: TweetTruth


def generate(n_rows: int = 20000, dim: int = 64, n_topics: int = 16, n_basins: int = 5,
             n_users: int = 400, n_days: int = 365, n_labelled: int = 3000,
             start_date: str = "2024-01-01", seed: int = 0,
             basin_window: tuple[float, float] = BASIN_WINDOW) -> Tweets:
    truth = make_truth(n_topics, n_basins, dim, n_users, n_days, start_date, seed, basin_window)
    parts = list(iter_chunks(truth, n_rows, seed))
    batch = Batch(pa.concat_tables([b.table for b, _ in parts]),
                  np.concatenate([b.embeddings for b, _ in parts]))
    topic = np.concatenate([t for _, t in parts])
    rated = labelled_ids(n_rows, n_labelled, seed)
    ratings = rate(truth, rated, batch.embeddings[rated], seed)
    return Tweets(batch, topic, ratings, truth)


def from_config(data, seed: int) -> Tweets:
    """`generate` with the sizes of a DataConfig."""
    return generate(data.n_rows, data.dim, data.n_topics, data.n_basins, data.n_users,
                    data.n_days, data.n_labelled, data.start_date, seed,
                    tuple(data.basin_window))
