"""scanpy / AnnData interop: the engine's kNN and Leiden on an `AnnData`, written where scanpy
writes them, so the rest of a scanpy analysis (UMAP, rank_genes_groups, plots) runs on.

- `neighbors(adata, n_neighbors=15, use_rep="X_pca")`: `obsp['distances']`,
  `obsp['connectivities']` (UMAP's fuzzy simplicial set, from umap-learn as scanpy computes
  it) and `uns['neighbors']`, as `sc.pp.neighbors` writes them; `n_neighbors` counts the cell
  itself, as in scanpy.
- `leiden(adata, resolution=1.0, key_added="leiden")`: `obs[key_added]` (categorical strings)
  and `uns[key_added]['params']`, as `sc.tl.leiden` writes them.
- `KNNTransformer(n_neighbors=15)`: a scikit-learn `KNeighborsTransformer`-style class for
  `sc.pp.neighbors(adata, transformer=KNNTransformer(...))`.

The kNN runs on `engine.ops.knn` (CPU: FAISS flat or the engine's IVF; GPU: cuVS) and the
Leiden on `engine.ops.leiden` (igraph; cuGraph on the GPU). Needs the `anndata` extra.
"""

from __future__ import annotations

from engine.scanpy._leiden import leiden
from engine.scanpy._neighbors import neighbors
from engine.scanpy._transformer import KNNTransformer

__all__ = ["KNNTransformer", "leiden", "neighbors"]
