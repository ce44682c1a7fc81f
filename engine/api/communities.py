"""`engine.communities`: kNN graph + Leiden communities of embeddings or activation layers."""

from __future__ import annotations

from typing import Any

from engine.api import inputs
from engine.api.result import Result
from engine.api.running import job_params, run_job

RENAMES = {"k": "n_neighbors"}


def communities(X: Any, *, ids: Any = None, n_neighbors: int = 15, resolution: float = 1.0,
                graph: str = "union", knn: str = "auto", features: str = "auto",
                id_column: str = "id", embedding_column: str = "embedding",
                drop_invalid: bool = False, random_state: int = 0, backend: str = "auto",
                **options: Any) -> Result:
    """Communities of a kNN graph of the rows (Leiden), as ``job=communities``.

    Parameters
    ----------
    X : array (n, d), DataFrame, path, or dict of activation layers
        Embeddings: a 2-D array; a polars/pandas DataFrame or pyarrow Table with an
        `embedding_column` (one list per row) or `e0..e{d-1}` columns (and `id_column`);
        or a file, directory or glob read as ``data=files``. Activation layers: a dict
        layer name -> (prompts x neurons) dense or scipy sparse matrix, rows named by `ids`
        (the same prompts in every layer); features are then TF-IDF + CountSketch.
    ids : array-like, optional
        One id per row (default: the table's `id_column`, else row numbers). Must be unique.
    n_neighbors : int
        Neighbours per row in the kNN graph (``job.k``).
    resolution : float
        Leiden resolution (higher: more, smaller communities).
    graph : {"union", "mutual"}
        Keep an edge found from either end, or only from both.
    knn : {"auto", "flat", "hnsw", "ivf", "cagra"}
        Search method (``auto``: IVF calibrated to the target recall).
    features : {"auto", "none", "tfidf_sketch"}
        Row features (``auto``: L2-normalised embeddings; TF-IDF sketch for layers).
    drop_invalid : bool
        Drop rows with NaN/inf instead of refusing them.
    random_state : int
        Seed of the search, the sketch and Leiden.
    backend : {"auto", "cpu", "gpu"}
        Where to run (``auto``: the GPU when one is usable).
    **options
        Any other setting of ``job=communities`` by its config name (``hnsw_m``, ``rp_dim``,
        ``top_neurons``, ...).

    Returns
    -------
    Result
        Tables ``labels`` (id, community; the main table), ``edges`` (src, dst, weight),
        ``communities`` and ``top_neurons``; metrics ``modularity``, ``n_communities``, ...
    """
    from engine.jobs import communities as job

    layers = isinstance(X, dict)
    params = job_params(job.Params, {"k": n_neighbors, "resolution": resolution,
                                     "graph": graph, "knn": knn, "features": features,
                                     "input": "activations" if layers else "embeddings"},
                        options, "communities")

    def core(ctx) -> float:
        job.check(params)
        with ctx.stage("load"):
            if layers:
                data = _aligned_layers(X, ids)
                data = job.activation_inputs(data, None, ctx)
            else:
                rows = inputs.embedding_rows(X, ids=ids, id_column=id_column,
                                             embedding_column=embedding_column,
                                             drop_invalid=drop_invalid)
                row_ids, M, _ = job.read_embeddings(rows, "X", id_column, ctx)
                data = job.Inputs(row_ids, ["embedding"], [M])
        return job.compute(params, data, ctx)

    return run_job("communities", core, backend=backend, random_state=random_state,
                   renames=RENAMES)


def _aligned_layers(layers: dict[str, Any], ids: Any):
    import numpy as np
    import scipy.sparse as sp

    from engine._communities.layers import Layer, align
    from engine.errors import UserError

    if not layers:
        raise UserError("X: no activation layers")
    first = next(iter(layers.values()))
    ids = np.arange(first.shape[0]) if ids is None else np.asarray(ids)
    out = []
    for name, M in layers.items():
        if M.shape[0] != len(ids):
            raise UserError(f"X[{name!r}]: {M.shape[0]} rows for {len(ids)} ids")
        out.append(Layer(str(name), ids, sp.csr_matrix(M, dtype=np.float32)))
    return align(out)
