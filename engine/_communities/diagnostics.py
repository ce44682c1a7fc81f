"""Graph and partition diagnostics, from edge arrays (each undirected edge once) and labels.

- sizes, degree quantiles, counts of degree-0 and degree-1 vertices (unweighted degree);
- connected components (scipy's csgraph);
- per community: size, internal weight, volume (sum of weighted degrees), cut (weight of edges
  leaving it) and conductance = cut / min(vol, 2m - vol) (0 when that minimum is 0: a community
  without edges, or one holding every edge, has no boundary to measure).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

DEGREE_QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)


def degrees(n: int, src: np.ndarray, dst: np.ndarray, weight: np.ndarray | None = None
            ) -> np.ndarray:
    return (np.bincount(src, weights=weight, minlength=n)
            + np.bincount(dst, weights=weight, minlength=n))


def components(n: int, src: np.ndarray, dst: np.ndarray) -> tuple[int, np.ndarray]:
    """(number of connected components, component of every vertex)."""
    A = sp.coo_matrix((np.ones(len(src), np.int8), (src, dst)), shape=(n, n)).tocsr()
    return connected_components(A, directed=False)


def community_table(n: int, src, dst, weight, labels) -> dict[str, np.ndarray]:
    """Per community c = 0..C-1: size, internal_weight, volume, cut, conductance."""
    labels = np.asarray(labels)
    w = np.ones(len(src)) if weight is None else np.asarray(weight, np.float64)
    n_comm = int(labels.max()) + 1 if len(labels) else 0
    size = np.bincount(labels, minlength=n_comm)
    ls, ld = labels[src], labels[dst]
    same = ls == ld
    internal = np.bincount(ls[same], weights=w[same], minlength=n_comm)
    vol = np.bincount(labels, weights=degrees(n, src, dst, w), minlength=n_comm)
    cut = (np.bincount(ls[~same], weights=w[~same], minlength=n_comm)
           + np.bincount(ld[~same], weights=w[~same], minlength=n_comm))
    denom = np.minimum(vol, 2 * w.sum() - vol)
    conductance = np.divide(cut, denom, out=np.zeros(n_comm), where=denom > 0)
    return {"community": np.arange(n_comm, dtype=np.int32), "size": size.astype(np.int64),
            "internal_weight": internal, "volume": vol, "cut": cut,
            "conductance": conductance}


def graph_summary(n: int, src, dst, labels) -> dict[str, float | int]:
    """Scalar diagnostics for metrics.json."""
    deg = degrees(n, src, dst).astype(np.int64)
    n_comp, comp = components(n, src, dst)
    comp_sizes = np.bincount(comp)
    sizes = np.bincount(labels)
    out: dict[str, float | int] = {
        "n_edges": int(len(src)),
        "degree_0": int((deg == 0).sum()),
        "degree_1": int((deg == 1).sum()),
        "degree_mean": float(deg.mean()) if n else 0.0,
        "n_components": int(n_comp),
        "largest_component": int(comp_sizes.max()) if n else 0,
        "n_communities": int(len(sizes)),
        "largest_community": int(sizes.max()) if n else 0,
        "singleton_communities": int((sizes == 1).sum()),
    }
    for q, v in zip(DEGREE_QUANTILES, np.quantile(deg, DEGREE_QUANTILES), strict=True):
        out[f"degree_q{int(round(q * 100)):02d}"] = float(v)
    return out
