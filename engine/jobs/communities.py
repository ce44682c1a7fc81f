"""`job=communities`: kNN graph + Leiden communities of embeddings or activation maps (seed 002).

Inputs (`job.input`):
- `embeddings`: the rows of `data` (data=synthetic tweets, or data=files embedding tables);
- `activations`: one file per layer (torch `{prompt_id: {"post": tensor}}` or sparse long
  Parquet, see `engine._communities.layers`) from `job.layers_path` (default `data.path`), or
  synthetic activation maps with data=synthetic. Layers are aligned to the prompts present in
  every layer; the others are dropped and counted per layer in metrics.json.

Outputs: `labels.parquet` (id, community; row i = vertex i), `edges.parquet` (src, dst, weight;
each undirected edge once, src < dst), `communities.parquet` (community, size, internal_weight,
volume, cut, conductance, ids), `top_neurons.parquet` (layer, community, rank, neuron, score,
prototype; for embeddings the "neurons" are embedding dimensions, layer `embedding`).
Objective and metrics: `modularity` (resolution 1), `n_communities`, `quality` (modularity at
`job.resolution`), `knn_recall`, degree / component diagnostics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from engine.config import DataConfig
from engine.errors import UserError
from engine.run import RunContext

INPUTS = ("embeddings", "activations")


@dataclass
class Params:
    name: str = "communities"
    input: str = "embeddings"  # embeddings | activations
    layers_path: str | None = None  # activation layer files (file, dir or glob); default data.path
    prompt_column: str = "prompt_id"  # prompt id column of Parquet activation layers
    features: str = "auto"  # none | tfidf_sketch | auto (none for embeddings, else tfidf_sketch)
    rp_dim: int = 64  # CountSketch width per layer
    layer_weights: list[float] = field(default_factory=list)  # per layer; empty: all 1
    feature_batch_rows: int = 4096
    knn: str = "auto"  # flat | hnsw (CPU) | ivf | cagra (GPU) | auto (ivf: fastest at recall
    # >= 0.95 on both backends, bench/results/communities.md)
    k: int = 15
    hnsw_m: int = 20  # HNSW defaults: recall@15 ~0.96 on 200k x 64 blobs (bench/results)
    ef_construction: int = 60
    ef_search: int = 0  # 0: grows with n (engine._communities.knn_plan); else fixed
    knn_dim: int = 0  # HNSW search width: 0 full rows, N: N PCA axes + exact re-rank, -1: 64 axes
    # for rows > 128 wide on the CPU. Off by default: on the activations sketch 64 axes keep
    # recall@15 at 0.21 (within-group order lives in the discarded axes; bench/results)
    knn_candidates: int = 2  # with knn_dim: candidates per neighbour, re-ranked in full width
    nlist: int = 0  # IVF lists; 0: about 2 sqrt(n) (CPU), 4 sqrt(n) (GPU)
    nprobe: int = 0  # IVF lists probed; 0: CPU picks the fewest whose recall@k on a sample
    # reaches target_recall (engine.ops.knn_ivf), GPU 32
    target_recall: float = 0.96  # CPU IVF calibration target (0.95 with sampling margin)
    graph_degree: int = 32  # CAGRA
    intermediate_graph_degree: int = 64
    itopk_size: int = 0  # CAGRA search list; 0: max(k + 1, 64)
    recall_sample: int = 1000  # rows checked against exact search (0: skip)
    graph: str = "union"  # union | mutual (mutual isolates many low-degree rows; see README)
    resolution: float = 1.0
    leiden: str = "igraph"  # igraph | leidenalg (CPU)
    n_iterations: int = -1  # Leiden passes (-1: until stable)
    zscore: bool = False  # z-score neurons before the prototypes
    baseline: str = "global"  # global | others (top neurons)
    top_neurons: int = 20


@dataclass
class Inputs:
    """What the core clusters: row ids, the layers' matrices (one `embedding` layer for
    embeddings) and the planted truth of synthetic data (or None)."""

    ids: pa.Array | pa.ChunkedArray
    layer_names: list[str]
    layer_mats: list
    truth: np.ndarray | None = None


def _load_embeddings(data: DataConfig, ctx: RunContext):
    """(ids, float32 rows, planted truth or None) of the rows named by `data`."""
    from engine.data import open_embeddings

    return read_embeddings(open_embeddings(data, ctx.seed), str(data.path or data.name),
                           data.id_column, ctx)


def read_embeddings(source, where: str, id_column: str, ctx: RunContext):
    """(ids, float32 rows, planted truth or None), the rows read batch by batch into one
    preallocated matrix: peak memory about the matrix plus one batch, not twice the matrix."""
    from engine.io.embeddings import duplicate_ids

    X = np.empty((source.n_rows, source.dim), np.float32)  # n_rows: before invalid rows drop
    ids, filled = [], 0
    for batch in source.batches([]):  # the id column only (always first)
        X[filled : filled + len(batch)] = batch.embeddings
        filled += len(batch)
        ids.append(batch.table.column(0))
    if not filled:
        raise UserError(f"{where}: no valid rows")
    ids = pa.chunked_array([c for col in ids for c in col.chunks])
    # labels.parquet maps ids to vertices, and the pipeline joins it back by id: ids must be
    # unique (an error rather than a warning: no row can be chosen over another).
    dup = duplicate_ids(ids)
    if dup is not None:
        raise UserError(f"{where}: id {dup[0]!r} appears in {dup[1]} rows "
                        f"(column {id_column!r}; ids must be unique)")
    truth = source.topics() if hasattr(source, "topics") else None
    ctx.record(n_dropped_rows=getattr(source, "dropped", 0))
    return ids, X[:filled], truth


def _load_activations(params: Params, data: DataConfig, ctx: RunContext):
    from engine._communities import layers as L

    path = params.layers_path or (data.path if data.name == "files" else None)
    if path is None and data.name == "synthetic":
        from engine.synthetic.activations import make_activations

        syn = make_activations(data.n_prompts, data.n_layers, data.n_neurons,
                               data.n_prompt_groups, ctx.seed)
        aligned = L.align([L.Layer(n, syn.ids, X)
                           for n, X in zip(syn.names, syn.layers, strict=True)])
        return aligned, syn.groups
    if path is None:
        raise UserError("job.input=activations needs job.layers_path=DIR|GLOB (or data=files "
                        "data.path=...)")
    return L.align(L.read_layers(path, params.prompt_column)), None


def check(params: Params, data: DataConfig | None = None) -> None:
    """Refuse settings the job cannot run with, before anything is read (one line, the key)."""
    from engine._communities.features import FEATURES
    from engine._communities.graph import MODES
    from engine.ops.leiden import IMPLEMENTATIONS

    choices = {"input": INPUTS, "features": (*FEATURES, "auto"), "graph": MODES,
               "leiden": IMPLEMENTATIONS}
    for key, allowed in choices.items():
        if getattr(params, key) not in allowed:
            raise UserError(f"job.{key}={getattr(params, key)!r}: expected one of "
                            f"{', '.join(allowed)}")
    if params.k < 1:
        raise UserError(f"job.k={params.k}: must be at least 1 (neighbours per row)")
    if not params.resolution > 0:
        raise UserError(f"job.resolution={params.resolution}: must be > 0")
    if not 0 < params.target_recall <= 1:
        raise UserError(f"job.target_recall={params.target_recall}: expected a value in (0, 1]")


def run(params: Params, data: DataConfig, ctx: RunContext) -> float:
    check(params, data)
    with ctx.stage("load"):
        if params.input == "embeddings":
            ids, X, truth = _load_embeddings(data, ctx)
            inputs = Inputs(ids, ["embedding"], [X], truth)
        else:
            aligned, truth = _load_activations(params, data, ctx)
            inputs = activation_inputs(aligned, truth, ctx)
    return compute(params, inputs, ctx)


def activation_inputs(aligned, truth, ctx: RunContext) -> Inputs:
    ctx.record(layers=aligned.names, prompts_per_layer=aligned.n_all,
               removed_per_layer=aligned.removed)
    return Inputs(pa.array(aligned.ids.tolist()), aligned.names, aligned.matrices, truth)


def compute(params: Params, inputs: Inputs, ctx: RunContext) -> float:
    """Features, kNN graph, Leiden and diagnostics of loaded inputs: the job after `load`,
    shared by `python -m engine job=communities` and `engine.communities` (both `check`
    the settings first)."""
    from engine._communities.detect import detect
    from engine._communities.features import make_features
    from engine._communities.knn_plan import plan_knn

    xp = ctx.backend.xp
    features = params.features
    if features == "auto":
        features = "none" if params.input == "embeddings" else "tfidf_sketch"
    ids, layer_names, layer_mats, truth = (inputs.ids, inputs.layer_names, inputs.layer_mats,
                                           inputs.truth)
    n = len(ids)
    ctx.record(n_rows=n)
    with ctx.stage("features"):
        if params.input == "embeddings":
            F = make_features(features, embeddings=xp.asarray(layer_mats[0]), xp=xp)
        else:
            F = make_features(features, layers=layer_mats, rp_dim=params.rp_dim, seed=ctx.seed,
                              layer_weights=params.layer_weights or None,
                              batch_rows=params.feature_batch_rows, xp=xp)
        zero_rows = ctx.backend.to_host((F != 0).sum(axis=1) == 0)
    ctx.record(features=features, feature_dim=int(F.shape[1]), n_zero_rows=int(zero_rows.sum()))
    plan = plan_knn(n, int(F.shape[1]), params.k, ctx.backend.gpu, params.knn,
                    params.ef_search, params.knn_dim, params.nprobe)
    method = plan.method
    ctx.record(knn_dim=plan.reduce_dim or int(F.shape[1]))
    if method == "hnsw":
        ctx.record(knn_ef_search=plan.ef_search)
    knn_info: dict = {}  # what the search resolved (CPU ivf: nlist, nprobe)
    knn_params = dict(hnsw_m=params.hnsw_m, ef_construction=params.ef_construction,
                      ef_search=plan.ef_search, nlist=params.nlist, nprobe=plan.nprobe,
                      target_recall=params.target_recall, info=knn_info,
                      graph_degree=params.graph_degree,
                      intermediate_graph_degree=params.intermediate_graph_degree,
                      itopk_size=params.itopk_size, seed=ctx.seed)
    result = detect(ctx.backend, F, k=params.k, knn=method, graph=params.graph,
                    resolution=params.resolution, seed=ctx.seed, knn_params=knn_params,
                    leiden_impl=params.leiden, n_iterations=params.n_iterations,
                    recall_sample=params.recall_sample,
                    exclude=zero_rows if zero_rows.any() else None, stage=ctx.stage,
                    progress=ctx.progress, reduce_dim=plan.reduce_dim,
                    candidates=params.knn_candidates)
    del F
    ctx.record(**{f"knn_{key}": value for key, value in knn_info.items()})
    with ctx.stage("diagnostics"):
        _write_outputs(ctx, params, ids, result, layer_names, layer_mats)
    ctx.record(knn=method, modularity=result.modularity, quality=result.quality,
               knn_recall=result.recall)
    if truth is not None:
        from sklearn.metrics import adjusted_rand_score

        planted = truth >= 0  # synthetic tweets mark diffuse rows -1: they belong nowhere
        ctx.record(ari_truth=float(adjusted_rand_score(truth[planted],
                                                       result.labels[planted])))
    return result.modularity


def _write_outputs(ctx: RunContext, params: Params, ids, result, layer_names, layer_mats):
    from engine._communities.diagnostics import community_table, graph_summary
    from engine._communities.prototypes import layer_prototypes, top_neurons

    n = len(ids)
    labels = result.labels
    ctx.write_table("labels.parquet", pa.table({"id": ids, "community": labels}))
    ctx.write_table("edges.parquet", pa.table({"src": result.src, "dst": result.dst,
                                               "weight": result.weight}))
    table = community_table(n, result.src, result.dst, result.weight, labels)
    # ids per community: one sort of the vertices by label, then offsets.
    order = np.argsort(labels, kind="stable")
    offsets = np.concatenate([[0], np.cumsum(table["size"])]).astype(np.int64)
    values = ids.take(pa.array(order))
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    id_lists = pa.LargeListArray.from_arrays(pa.array(offsets), values)
    ctx.write_table("communities.parquet", pa.table({**table, "ids": id_lists}))
    summary = graph_summary(n, result.src, result.dst, labels)
    ctx.record(**summary)
    parts = []
    for name, X in zip(layer_names, layer_mats, strict=True):
        X = ctx.backend.to_host(X) if not hasattr(X, "tocsr") else X
        proto = layer_prototypes(X, labels, zscore=params.zscore)
        idx, score = top_neurons(proto, params.top_neurons, params.baseline)
        C, t = idx.shape
        parts.append(pa.table({
            "layer": pa.array([name] * (C * t)),
            "community": np.repeat(np.arange(C, dtype=np.int32), t),
            "rank": np.tile(np.arange(t, dtype=np.int32), C),
            "neuron": idx.reshape(-1).astype(np.int32),
            "score": score.reshape(-1),
            "prototype": np.take_along_axis(proto, idx, 1).reshape(-1),
        }))
    ctx.write_table("top_neurons.parquet", pa.concat_tables(parts))
