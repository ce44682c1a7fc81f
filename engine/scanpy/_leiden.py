"""`leiden(adata, ...)`: Leiden communities of the neighbours graph, written as `sc.tl.leiden`
writes them."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from engine.backend import Backend
from engine.scanpy._knn import backend_of


def graph_of(adata, neighbors_key: str | None, obsp: str | None) -> sparse.csr_matrix:
    """The weighted adjacency scanpy would cluster: `obsp[obsp]`, or the connectivities of
    `uns[neighbors_key or 'neighbors']`."""
    if obsp is not None and neighbors_key is not None:
        raise ValueError("pass obsp or neighbors_key, not both")
    if obsp is None:
        key = neighbors_key or "neighbors"
        if key not in adata.uns:
            raise KeyError(f"no uns[{key!r}]: run engine.scanpy.neighbors (or sc.pp.neighbors) "
                           "first")
        obsp = adata.uns[key].get("connectivities_key", "connectivities")
    if obsp not in adata.obsp:
        raise KeyError(f"no obsp[{obsp!r}]")
    return sparse.csr_matrix(adata.obsp[obsp])


def leiden(adata, resolution: float = 1.0, *, key_added: str = "leiden",
           random_state: int = 0, n_iterations: int = 2, neighbors_key: str | None = None,
           obsp: str | None = None, use_weights: bool = True, backend: str | Backend = "auto",
           copy: bool = False):
    """Leiden communities (modularity with `resolution`) of the neighbours graph, stored as
    scanpy stores them: `obs[key_added]` categorical labels "0", "1", ... (here "0" is the
    largest community) and `uns[key_added]['params']`. n_iterations: Leiden passes (scanpy's
    igraph default 2; -1 until stable). Returns the AnnData with `copy=True`, else None."""
    from engine.ops.leiden import leiden as run_leiden

    adata = adata.copy() if copy else adata
    upper = sparse.triu(graph_of(adata, neighbors_key, obsp), k=1).tocoo()
    # Each undirected edge once; scanpy's igraph graph lists both directions, which doubles
    # every weight and leaves modularity, and so the partition, unchanged.
    weight = upper.data.astype(np.float64) if use_weights else None
    labels = run_leiden(backend_of(backend), adata.n_obs, upper.row, upper.col, weight,
                        resolution=resolution, seed=random_state, n_iterations=n_iterations)
    names = [str(c) for c in range(int(labels.max()) + 1)]
    adata.obs[key_added] = pd.Categorical(labels.astype(str), categories=names)
    adata.uns[key_added] = {"params": {"resolution": resolution, "random_state": random_state,
                                       "n_iterations": n_iterations}}
    return adata if copy else None
