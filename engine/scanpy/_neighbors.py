"""`neighbors(adata, ...)`: the kNN graph of an AnnData, written as `sc.pp.neighbors` writes it."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from engine.backend import Backend
from engine.scanpy._knn import distance_matrix, knn_with_self


def representation(adata, use_rep: str, n_pcs: int | None):
    """The matrix the graph is built on: `obsm[use_rep]`, or `X` for use_rep="X"."""
    if use_rep == "X":
        X = adata.X
    elif use_rep in adata.obsm:
        X = adata.obsm[use_rep]
    else:
        raise KeyError(f"use_rep={use_rep!r}: not in adata.obsm (has {', '.join(adata.obsm)}); "
                       "run sc.pp.pca first, or pass use_rep='X'")
    return X if n_pcs is None else X[:, :n_pcs]


def connectivities(indices: np.ndarray, distances: np.ndarray, n_neighbors: int
                   ) -> sparse.csr_matrix:
    """UMAP's fuzzy simplicial set of the kNN graph, from umap-learn with the arguments scanpy
    passes (scanpy.neighbors._connectivity.umap)."""
    from umap.umap_ import fuzzy_simplicial_set

    n = indices.shape[0]
    graph, _sigmas, _rhos = fuzzy_simplicial_set(
        sparse.coo_matrix((n, 1)), n_neighbors, None, None, knn_indices=indices,
        knn_dists=np.nan_to_num(distances, nan=np.inf), set_op_mix_ratio=1.0,
        local_connectivity=1.0)
    return sparse.csr_matrix(graph)


def neighbors(adata, n_neighbors: int = 15, n_pcs: int | None = None, *,
              use_rep: str = "X_pca", metric: str = "euclidean", knn: str = "auto",
              random_state: int = 0, key_added: str | None = None,
              backend: str | Backend = "auto", target_recall: float = 0.96,
              copy: bool = False):
    """Compute the kNN graph of `adata` with the engine's kNN and store it as scanpy does:
    `obsp['distances']` (each cell's n_neighbors - 1 nearest other cells), `obsp[
    'connectivities']` (UMAP weights) and `uns['neighbors']` (keys and params); with
    `key_added`, `obsp[key_added + '_distances' | '_connectivities']` and `uns[key_added]`.

    n_neighbors counts the cell itself, as in scanpy. knn: "auto" (exact flat search up to
    50,000 cells, then IVF calibrated to `target_recall`), "flat", "hnsw", "ivf" or (GPU)
    "cagra". Returns the AnnData with `copy=True`, else None."""
    adata = adata.copy() if copy else adata
    X = representation(adata, use_rep, n_pcs)
    indices, distances = knn_with_self(X, n_neighbors, metric=metric, knn=knn, backend=backend,
                                       random_state=random_state, target_recall=target_recall)
    if key_added is None:
        key_added, dists_key, conns_key = "neighbors", "distances", "connectivities"
    else:
        dists_key, conns_key = f"{key_added}_distances", f"{key_added}_connectivities"
    params = {"n_neighbors": int(n_neighbors), "method": "umap", "random_state": random_state,
              "metric": metric, "use_rep": use_rep}
    if n_pcs is not None:
        params["n_pcs"] = int(n_pcs)
    adata.uns[key_added] = {"connectivities_key": conns_key, "distances_key": dists_key,
                            "params": params}
    adata.obsp[dists_key] = distance_matrix(indices, distances, keep_self=False)
    adata.obsp[conns_key] = connectivities(indices, distances, n_neighbors)
    return adata if copy else None
