"""The stream's state between runs: centroids, counts, last-seen and creation times, the
per (user, cluster) sums, the user ids, the parameters it was built with and the time of the
latest message. One `state.npz` written atomically (temp file + rename), so an interrupted run
leaves the previous state whole; loading it continues exactly where the last run stopped.
A run saves its new state as pending and commits it with its outputs (just before
metrics.json): a run killed after saving can be rerun, since the state is still the old one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine._stream.online import Centroids
from engine._stream.participation import Participation
from engine.errors import UserError
from engine.io.write import write_npz

FILE = "state.npz"
PENDING = ".pending-state.npz"  # a run's new state until the run commits (see `commit`)
FORMAT = 1


@dataclass
class StreamState:
    threshold: float
    cap: int
    window_days: float | None
    centroids: Centroids
    participation: Participation
    last_time: int | None = None  # ns of the latest message seen
    n_messages: int = 0

    @property
    def dim(self) -> int:
        return self.centroids.dim


def save(state: StreamState, directory: str | Path, name: str = FILE) -> Path:
    c = state.centroids.live()
    p = state.participation
    n = p.size
    return write_npz(
        Path(directory) / name,
        format=np.int64(FORMAT),
        threshold=np.float64(state.threshold),
        cap=np.int64(state.cap),
        window_days=np.float64(np.nan if state.window_days is None else state.window_days),
        last_time=np.int64(-1 if state.last_time is None else state.last_time),
        n_messages=np.int64(state.n_messages),
        centroids=c.vectors, counts=c.counts, last_seen=c.last_seen, created=c.created,
        users=p.user_array(), pair_user=p.pair_user[:n], pair_cluster=p.pair_cluster[:n],
        score=p.score[:n], count=p.count[:n], vector_sum=p.vector_sum[:n],
    )


def save_pending(state: StreamState, directory: str | Path) -> Path:
    """Save `state` beside the current one without replacing it: a run killed before it
    commits leaves the state as it found it, so that rerunning the run works."""
    return save(state, directory, PENDING)


def commit(directory: str | Path) -> None:
    """Make the pending state the state (one rename: atomic)."""
    os.replace(Path(directory) / PENDING, Path(directory) / FILE)


def discard_pending(directory: str | Path) -> None:
    """Drop the pending state of a run that was killed before it committed."""
    (Path(directory) / PENDING).unlink(missing_ok=True)


def load(directory: str | Path) -> StreamState | None:
    """The saved state in `directory`, or None when there is none yet."""
    path = Path(directory) / FILE
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read the stream state ({exc})") from None
    if int(a.get("format", -1)) != FORMAT:
        raise UserError(f"{path}: not a stream state of format {FORMAT}")
    dim = a["centroids"].shape[1]
    window = float(a["window_days"])
    centroids = Centroids(dim, len(a["counts"]), a["centroids"], a["counts"], a["last_seen"],
                          a["created"])
    participation = Participation(dim, a["users"], a["pair_user"], a["pair_cluster"],
                                  a["score"], a["count"], a["vector_sum"])
    last = int(a["last_time"])
    return StreamState(float(a["threshold"]), int(a["cap"]), None if np.isnan(window) else window,
                       centroids, participation, None if last < 0 else last,
                       int(a["n_messages"]))
