"""The stream's state between runs: centroids, counts, last-seen and creation times, the
per (user, cluster) sums, the user ids, the parameters it was built with and the time of the
latest message. One `state.npz` written atomically (temp file + rename), so an interrupted run
leaves the previous state whole; loading it continues exactly where the last run stopped.
A run saves its new state as pending, marked with the run's id, and commits it just after
its metrics.json (which holds the same id). The next run using the state directory settles a
pending state a killed run left (`recover`): committed when that run's metrics.json exists
(the run finished; only the rename was cut off), discarded otherwise, so that rerunning the
killed run starts from the state it started from.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine._stream.online import Centroids
from engine._stream.participation import Participation
from engine.errors import UserError
from engine.io.write import write_npz, write_text

FILE = "state.npz"
PENDING = ".pending-state.npz"  # a run's new state until the run commits (see `commit`)
PENDING_RUN = ".pending-state.run.json"  # which run commits it (the state itself stays the
# same bytes for the same messages)
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


def save_pending(state: StreamState, directory: str | Path, run_id: str,
                 metrics: str | Path) -> Path:
    """Save `state` beside the current one without replacing it, marked with the run that
    commits it (its id, and the metrics.json that run writes when it finishes)."""
    path = save(state, directory, PENDING)
    write_text(json.dumps({"run_id": run_id, "metrics": str(metrics)}),
               Path(directory) / PENDING_RUN)
    return path


def commit(directory: str | Path) -> None:
    """Make the pending state the state (one rename: atomic)."""
    os.replace(Path(directory) / PENDING, Path(directory) / FILE)
    (Path(directory) / PENDING_RUN).unlink(missing_ok=True)


def recover(directory: str | Path) -> None:
    """Settle the pending state of a run killed before it committed: commit it when that run
    finished (its metrics.json holds its id), else discard it."""
    pending, mark = Path(directory) / PENDING, Path(directory) / PENDING_RUN
    if not pending.exists():
        mark.unlink(missing_ok=True)
        return
    try:
        run = json.loads(mark.read_text())
        finished = json.loads(Path(run["metrics"]).read_text()).get("run_id") == run["run_id"]
    except (OSError, ValueError, KeyError):  # no mark or no metrics.json: not finished
        finished = False
    if finished:
        commit(directory)
    else:
        pending.unlink()
        mark.unlink(missing_ok=True)


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
