"""Report of `job=communities`: community sizes, a 2-D map, diagnostics and top neurons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from engine.report import svg
from engine.report.common import group_codes, numeric, pick, read, sample
from engine.report.html import Section

MAX_NODES = 40  # communities drawn in the map
MAX_EDGES = 2_000_000  # edges read for the map


def sections(run_dir: Path) -> list[Section]:
    s = Section("Communities")
    labels = read(run_dir, "labels.parquet")
    if labels is None:
        return [s.note("No labels.parquet in this run.")]
    comm = labels["community"]
    sizes = comm.value_counts(sort=True)
    figs = [(svg.bars([str(c) for c in sizes["community"].head(40).to_list()],
                      sizes["count"].head(40).to_numpy(), title="Community sizes",
                      xlabel="community", ylabel="vertices"),
             f"{len(sizes)} communities over {len(labels):,} vertices"
             + (", the 40 largest shown" if len(sizes) > 40 else ""))]
    if pick(labels, "x") and pick(labels, "y"):
        pts = sample(labels)
        codes, names = group_codes(pts["community"])
        figs.append((svg.scatter(numeric(pts, "x"), numeric(pts, "y"), groups=codes,
                                 title="Vertices in 2-D", radius=1.8), "coloured by community"))
    else:
        edges = thinned_edges(Path(run_dir) / "edges.parquet")
        if edges is not None and len(edges):
            figs.append(community_map(comm.to_numpy(), edges))
    s.figures(*figs)
    table = read(run_dir, "communities.parquet")
    if table is not None:
        lists = [c for c, t in table.schema.items() if isinstance(t, pl.List)]  # member ids
        s.heading("Per community").table(table.drop(lists), max_rows=20)
    neurons = read(run_dir, "top_neurons.parquet")
    if neurons is not None:
        s.heading("Top neurons per community").table(neurons, max_rows=20)
    return [s]


def thinned_edges(path: Path, limit: int = MAX_EDGES) -> pl.DataFrame | None:
    """The edge list, or every k-th edge of a very large graph (the map needs only totals
    between communities, which a uniform thinning keeps in proportion)."""
    if not path.exists():
        return None
    n = pq.ParquetFile(path).metadata.num_rows
    lf = pl.scan_parquet(path)
    return (lf if n <= limit else lf.gather_every(-(-n // limit))).collect()


def community_map(comm: np.ndarray, edges: pl.DataFrame):
    """The largest communities as bubbles, placed by a force layout of the graph between them
    (edge weight = total weight of the kNN edges joining two communities)."""
    ids, counts = np.unique(comm, return_counts=True)
    keep = ids[np.argsort(-counts)][:MAX_NODES]
    index = {int(c): i for i, c in enumerate(keep)}
    a = np.array([index.get(int(c), -1) for c in comm[edges["src"].to_numpy()]])
    b = np.array([index.get(int(c), -1) for c in comm[edges["dst"].to_numpy()]])
    w = numeric(edges, "weight") if "weight" in edges.columns else np.ones(len(a))
    ok = (a >= 0) & (b >= 0) & (a != b)
    n = len(keep)
    adj = np.zeros((n, n))
    np.add.at(adj, (a[ok], b[ok]), w[ok])
    adj = adj + adj.T
    xy = force_layout(adj)
    iu = np.transpose(np.nonzero(np.triu(adj) > 0))
    sizes = counts[np.argsort(-counts)][:n]
    return (svg.network(xy, sizes, [tuple(e) for e in iu], adj[iu[:, 0], iu[:, 1]],
                        names=[str(c) for c in keep], title="Community map"),
            "bubble area ~ size; lines: kNN edges between communities")


def force_layout(adj: np.ndarray, iterations: int = 300, seed: int = 0) -> np.ndarray:
    """Fruchterman-Reingold layout of a small weighted graph (deterministic)."""
    n = len(adj)
    if n == 1:
        return np.zeros((1, 2))
    rng = np.random.default_rng(seed)
    angle = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pos = np.c_[np.cos(angle), np.sin(angle)] + 0.05 * rng.standard_normal((n, 2))
    w = adj / adj.max() if adj.max() > 0 else adj
    k = 1.0 / np.sqrt(n)
    temp = 0.1
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        dist = np.maximum(np.linalg.norm(delta, axis=-1), 1e-3)
        force = (k * k / dist**2 - w * dist / k)[:, :, None] * delta
        disp = force.sum(axis=1)
        disp -= 0.05 * pos  # weak pull to the centre keeps disconnected parts in view
        length = np.maximum(np.linalg.norm(disp, axis=1, keepdims=True), 1e-9)
        pos += disp / length * np.minimum(length, temp)
        temp *= 0.99
    return pos
