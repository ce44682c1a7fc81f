"""Figures of `job=stream`: how clusters grow and open over the stream, assignment
confidence. Row order of the assignments is time order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
from matplotlib.figure import Figure

from engine.figures.canvas import color, finite, panels
from engine.figures.tables import frame, need, numeric

MAX_CLUSTERS = 10
MAX_STEPS = 400  # points per curve


def steps(n: int) -> np.ndarray:
    """1-based message counts at which the curves are drawn."""
    return np.unique(np.linspace(1, n, min(n, MAX_STEPS)).astype(int))


def cluster_growth(tables: Mapping[str, pa.Table], metrics: Mapping[str, Any]) -> Figure:
    """Messages in each of the largest clusters as the stream goes on."""
    cid = frame(tables, "assignments")["cluster_id"].to_numpy()
    at = steps(len(cid))
    ids, counts = np.unique(cid, return_counts=True)
    top = ids[np.argsort(-counts)][:MAX_CLUSTERS]
    fig, (ax,) = panels(caption=f"the {len(top)} largest of {len(ids)} clusters")
    for i, c in enumerate(top):
        ax.plot(at, np.cumsum(cid == c)[at - 1], color=color(i), label=f"cluster {c}")
    if len(top) > 1:
        ax.legend(fontsize="x-small", ncols=2)
    ax.set(title="Growth of the largest clusters", xlabel="message",
           ylabel="messages in cluster")
    return fig


def clusters_started(tables: Mapping[str, pa.Table], metrics: Mapping[str, Any]) -> Figure:
    """Clusters opened so far, against messages seen."""
    assign = frame(tables, "assignments")
    started = np.cumsum(numeric(assign, need(assign, "new_cluster")))
    at = steps(len(started))
    fig, (ax,) = panels(caption="new clusters opened by the stream")
    ax.plot(at, started[at - 1], color="C0")
    ax.set(title="Clusters started", xlabel="message", ylabel="clusters")
    return fig


def confidence(tables: Mapping[str, pa.Table], metrics: Mapping[str, Any]) -> Figure:
    """Cosine similarity of each message to the centroid it joined."""
    assign = frame(tables, "assignments")
    conf = finite(numeric(assign, need(assign, "confidence")))
    fig, (ax,) = panels(caption="1.0 for messages that opened a cluster")
    ax.hist(conf, bins=30, histtype="step", color="C0")
    ax.set(title="Assignment confidence", xlabel="cosine similarity", ylabel="messages")
    return fig


FIGURES = {"cluster_growth": cluster_growth, "clusters_started": clusters_started,
           "confidence": confidence}
