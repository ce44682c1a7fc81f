"""Synthetic message stream with planted topics (the `stream` job's default input).

Ground truth (`MessageTruth`): `n_topics` unit centres in d dimensions; every message is its
topic's centre plus Gaussian noise scaled so that cos(message, centre) is about 0.95 (two
messages of a topic are about 0.90 apart, well inside the 0.78 similarity threshold, while
random centres are near-orthogonal). Half the topics persist all along; the others are
bursts active only inside a time window, so the active window matters. Users mostly write on
a few preferred topics. Times are sorted; rows are generated chunk by chunk from
(seed, chunk), so any size streams without being held in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

TOPIC_COS = 0.95  # typical cosine between a message and its topic centre
BURST_SHARE = 0.5  # share of topics active only in a window
USER_LOYALTY = 0.8  # share of a user's messages on their preferred topics


@dataclass
class MessageTruth:
    centres: np.ndarray  # (n_topics, d) unit rows
    windows: np.ndarray  # (n_topics, 2) active days [start, end)
    user_topics: np.ndarray  # (n_users, 2) preferred topics
    n_messages: int
    n_days: float
    start: np.datetime64

    @property
    def dim(self) -> int:
        return self.centres.shape[1]


def make_truth(n_messages: int = 20000, n_topics: int = 60, dim: int = 64, n_users: int = 400,
               n_days: float = 365, start_date: str = "2024-01-01", seed: int = 0
               ) -> MessageTruth:
    rng = np.random.default_rng([seed, 40])
    centres = rng.standard_normal((n_topics, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    windows = np.tile([0.0, float(n_days)], (n_topics, 1))
    bursts = rng.uniform(size=n_topics) < BURST_SHARE
    length = rng.uniform(0.1, 0.3, n_topics) * n_days
    begin = rng.uniform(0, 1, n_topics) * (n_days - length)
    windows[bursts] = np.stack([begin, begin + length], 1)[bursts]
    return MessageTruth(centres, windows, rng.integers(0, n_topics, (n_users, 2)), n_messages,
                        float(n_days), np.datetime64(start_date, "ns"))


def _days(truth: MessageTruth, seed: int) -> np.ndarray:
    """Sorted message times in days (all of them: 8 bytes a message)."""
    rng = np.random.default_rng([seed, 41])
    return np.sort(rng.uniform(0, truth.n_days, truth.n_messages))


def generate_chunk(truth: MessageTruth, days: np.ndarray, start_row: int, seed: int
                   ) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Messages start_row.. for the given (sorted) days: (table, float32 embeddings, topics)."""
    n = len(days)
    rng = np.random.default_rng([seed, 42, start_row])
    n_topics, d = truth.centres.shape
    topic = rng.integers(0, n_topics, n)
    # Re-draw messages that fell outside their topic's window (persistent topics accept all).
    for _ in range(1000):
        off = (days < truth.windows[topic, 0]) | (days >= truth.windows[topic, 1])
        if not off.any():
            break
        topic[off] = rng.integers(0, n_topics, int(off.sum()))
    # Loyal messages come from a fan of the topic (a user who prefers it), if it has any.
    n_users = len(truth.user_topics)
    user = rng.integers(0, n_users, n)
    fan_topic = truth.user_topics.reshape(-1)
    order = np.argsort(fan_topic, kind="stable")
    fans = order // truth.user_topics.shape[1]
    first = np.searchsorted(fan_topic[order], np.arange(n_topics))
    count = np.bincount(fan_topic, minlength=n_topics)
    loyal = (rng.uniform(size=n) < USER_LOYALTY) & (count[topic] > 0)
    pick = first[topic] + (rng.uniform(size=n) * count[topic]).astype(np.int64)
    user[loyal] = fans[pick[loyal]]
    sigma = np.sqrt((1 / TOPIC_COS**2 - 1) / d)
    emb = (truth.centres[topic] + sigma * rng.standard_normal((n, d))).astype(np.float32)
    times = truth.start + (days * 86400e9).astype("int64").astype("timedelta64[ns]")
    table = pa.table({
        "id": np.arange(start_row, start_row + n, dtype=np.int64),
        "datetime": pa.array(times, pa.timestamp("ns")),
        "user_id": pa.array([f"u{u:05d}" for u in user]),
    })
    return table, emb, topic


def iter_chunks(truth: MessageTruth, seed: int, chunk_rows: int = 65536
                ) -> Iterator[tuple[pa.Table, np.ndarray, np.ndarray]]:
    days = _days(truth, seed)
    for start in range(0, truth.n_messages, chunk_rows):
        yield generate_chunk(truth, days[start : start + chunk_rows], start, seed)
