"""`job=communities` end to end: planted truth, real cells (pbmc68k_reduced), outputs, errors."""

from __future__ import annotations

import json

import igraph
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from engine.errors import UserError
from engine.io.embeddings import embedding_array
from tests.conftest import DATA

PBMC = DATA / "pbmc68k_reduced"


def _read(out, name):
    return pq.read_table(out / name)


def test_synthetic_embeddings_recover_topics_and_outputs_agree(run_job):
    objective, out, m = run_job("job=communities", "data.n_rows=4000", "seed=1")
    assert m["ari_truth"] >= 0.9
    labels = _read(out, "labels.parquet")
    edges = _read(out, "edges.parquet")
    assert labels.column_names == ["id", "community"] and labels.num_rows == 4000
    assert edges.column_names == ["src", "dst", "weight"]
    src, dst = edges["src"].to_numpy(), edges["dst"].to_numpy()
    assert (src < dst).all() and len(set(zip(src, dst, strict=True))) == len(src)
    # Reported modularity = igraph's modularity of the returned partition on the returned graph.
    g = igraph.Graph(n=4000, edges=np.column_stack([src, dst]))
    comm = labels["community"].to_numpy()
    ref = g.modularity(comm.tolist(), weights=edges["weight"].to_numpy().astype(float).tolist())
    assert m["modularity"] == pytest.approx(ref, abs=1e-6) and objective == m["modularity"]
    assert m["n_communities"] == comm.max() + 1
    comms = _read(out, "communities.parquet")
    assert comms["size"].to_numpy().sum() == 4000
    ids_c5 = set(comms["ids"][5].as_py())
    assert ids_c5 == set(labels["id"].to_numpy()[comm == 5].tolist())
    assert 0.95 <= m["knn_recall"] <= 1.0
    # Defaults: IVF with the probe count calibrated on a sample to recall@k >= 0.96.
    assert m["knn"] == "ivf" and m["knn_dim"] == m["feature_dim"]
    assert m["knn_calibrated_recall"] >= 0.96 and 1 <= m["knn_nprobe"] <= m["knn_nlist"]
    assert m["seconds"]["knn"] >= 0 and "degree_q50" in m and "n_components" in m


def test_synthetic_activations_recover_groups(run_job):
    _, out, m = run_job("job=communities", "job.input=activations", "data.n_prompts=2000",
                        "data.n_layers=3", "data.n_neurons=512", "data.n_prompt_groups=6")
    assert m["features"] == "tfidf_sketch" and m["feature_dim"] == 3 * 64
    assert m["ari_truth"] >= 0.9
    assert m["removed_per_layer"] == {"layer_0": 0, "layer_1": 0, "layer_2": 0}
    top = _read(out, "top_neurons.parquet")
    assert set(top["layer"].to_pylist()) == {"layer_0", "layer_1", "layer_2"}
    assert top.num_rows == 3 * m["n_communities"] * 20


def test_torch_layer_files_misaligned_and_zero_rows(run_job, tmp_path):
    from engine.synthetic.activations import make_activations

    syn = make_activations(600, 2, 256, 4, seed=2)
    keep = {0: np.arange(600), 1: np.arange(10, 600)}  # layer 1 lacks the first 10 prompts
    for layer, X in enumerate(syn.layers):
        D = X.toarray()
        D[20:23] = 0 if layer == 0 else D[20:23]
        rows = keep[layer]
        torch.save({f"p{r:04d}": {"post": torch.from_numpy(D[r])} for r in rows},
                   tmp_path / f"layer_{layer}.json")
    _, out, m = run_job("job=communities", "job.input=activations",
                        f"job.layers_path={tmp_path}", "job.zscore=true", "job.baseline=others")
    assert m["n_rows"] == 590 and m["removed_per_layer"] == {"layer_0": 10, "layer_1": 0}
    labels = _read(out, "labels.parquet")
    assert labels["id"].to_pylist()[0] == "p0010"
    truth = syn.groups[10:]
    assert adjusted_rand_score(truth, labels["community"].to_numpy()) >= 0.9
    assert m["n_zero_rows"] == 0  # layer 1 still fires for prompts 20-22
    assert np.isfinite(_read(out, "edges.parquet")["weight"].to_numpy()).all()


def test_all_zero_rows_become_isolated_without_nan(run_job, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 8)).astype(np.float32)
    X[[5, 6]] = 0
    pq.write_table(pa.table({"id": np.arange(300), "embedding": embedding_array(X)}),
                   tmp_path / "e.parquet")
    _, out, m = run_job("job=communities", "data=files", f"data.path={tmp_path / 'e.parquet'}",
                        "job.knn=flat")
    assert m["n_zero_rows"] == 2 and m["degree_0"] >= 2
    edges = _read(out, "edges.parquet")
    assert not np.isin(np.r_[edges["src"].to_numpy(), edges["dst"].to_numpy()], [5, 6]).any()
    assert np.isfinite(edges["weight"].to_numpy()).all() and np.isfinite(m["modularity"])


def test_pbmc68k_reduced_agrees_with_labels_like_scanpy(run_job, tmp_path):
    X = np.load(PBMC / "X_pca.npy")
    obs = pq.read_table(PBMC / "obs.parquet")
    ref = json.loads((PBMC / "reference.json").read_text())
    pq.write_table(pa.table({"id": obs["cell"], "embedding": embedding_array(X)}),
                   tmp_path / "pbmc.parquet")
    scores = []
    for seed in range(3):
        _, out, _ = run_job("job=communities", "data=files", f"seed={seed}", "job.knn=flat",
                            f"data.path={tmp_path / 'pbmc.parquet'}")
        labels = _read(out, "labels.parquet")
        assert labels["id"].to_pylist() == obs["cell"].to_pylist()
        comm = labels["community"].to_numpy()
        scores.append((adjusted_rand_score(obs["louvain"].to_numpy(), comm),
                       adjusted_rand_score(obs["bulk_labels"].to_pylist(), comm)))
    louvain, bulk = np.mean(scores, axis=0)
    scanpy_louvain, scanpy_bulk = ref["mean_ari_vs_louvain"], ref["mean_ari_vs_bulk_labels"]
    # About as well as scanpy's neighbors + leiden: the same mean agreement over both label
    # sets within 0.05, and neither label set far behind.
    assert (louvain + bulk) / 2 >= (scanpy_louvain + scanpy_bulk) / 2 - 0.05
    assert louvain >= scanpy_louvain - 0.15 and bulk >= scanpy_bulk - 0.05


def test_same_seed_same_result(run_job):
    a = run_job("job=communities", "data.n_rows=1500", "seed=3")[1]
    b = run_job("job=communities", "data.n_rows=1500", "seed=3")[1]
    assert _read(a, "labels.parquet").equals(_read(b, "labels.parquet"))
    assert _read(a, "edges.parquet").equals(_read(b, "edges.parquet"))


@pytest.mark.parametrize("overrides, match", [
    (("data.n_rows=12", "job.k=12"), "k=12 must be smaller"),
    (("job.input=images",), "job.input"),
    (("job.knn=cagra",), "does not run on the CPU"),
    (("job.features=tfidf_sketch",), "needs activation layers"),
    (("job.input=activations", "data=files", "data.path=/nonexistent/layers"), "no such file"),
    (("job.resolution=-1",), r"job.resolution=-1.0: must be > 0"),  # was accepted
])
def test_bad_input_is_one_user_error(run_job, overrides, match):
    with pytest.raises(UserError, match=match):
        run_job("job=communities", "data.n_rows=300", *overrides)


@pytest.mark.gpu
def test_gpu_matches_cpu_on_synthetic_activations(run_job, tmp_path):
    args = ("job=communities", "job.input=activations", "data.n_prompts=2000", "job.knn=flat")
    _, _, cpu_m = run_job(*args)
    from engine.app import run_config
    from tests.conftest import compose

    cfg = compose("backend=gpu", *args)
    out = tmp_path / "gpu"
    run_config(cfg, str(out))
    gpu_m = json.loads((out / "metrics.json").read_text())
    assert gpu_m["ari_truth"] >= 0.9 and cpu_m["ari_truth"] >= 0.9
    # Exact search on both: the graphs differ only where float rounding reorders near-ties.
    assert abs(gpu_m["n_edges"] - cpu_m["n_edges"]) <= 0.01 * cpu_m["n_edges"]
    assert gpu_m["modularity"] == pytest.approx(cpu_m["modularity"], abs=0.02)


def activation_features(*overrides):
    """The job's feature rows for synthetic activations, rebuilt outside the job."""
    from engine._communities import layers
    from engine._communities.features import make_features
    from engine.synthetic.activations import make_activations
    from tests.conftest import compose

    cfg = compose("backend=cpu", "job=communities", "job.input=activations", *overrides)
    d = cfg.data
    syn = make_activations(d.n_prompts, d.n_layers, d.n_neurons, d.n_prompt_groups, cfg.seed)
    aligned = layers.align([layers.Layer(name, syn.ids, X)
                            for name, X in zip(syn.names, syn.layers, strict=True)])
    F = make_features("tfidf_sketch", layers=aligned.matrices, rp_dim=cfg.job.rp_dim,
                      seed=cfg.seed, batch_rows=cfg.job.feature_batch_rows)
    return aligned.ids, np.asarray(F), cfg.job.k


def graph_recall(F, src, dst, k):
    """Share of each row's exact k nearest rows (brute-force inner products) that the graph
    links it to. The union graph holds every listed neighbour, so this bounds the kNN's
    recall@k from above."""
    S = F @ F.T
    np.fill_diagonal(S, -np.inf)
    exact = np.argsort(-S, axis=1, kind="stable")[:, :k]
    n = len(F)
    adj = np.zeros((n, n), bool)
    adj[src, dst] = adj[dst, src] = True
    return adj[np.repeat(np.arange(n), k), exact.ravel()].mean()


@pytest.mark.parametrize(("overrides", "knn", "width", "floor"), [
    # 3 layers x 64 = 192 columns: HNSW searches them on 64 PCA axes, 2k candidates re-ranked
    # in full width; the within-group order lives partly in the dropped axes (0.83 here).
    (("job.knn=hnsw", "job.knn_dim=-1"), "hnsw", 64, 0.8),
    ((), "ivf", 192, 0.95),  # the default: IVF on the full rows, calibrated to recall 0.96
])
def test_activations_knn_choices_record_what_ran(run_job, overrides, knn, width, floor):
    args = ("data.n_prompts=1500", *overrides)
    _, out, m = run_job("job=communities", "job.input=activations", *args)
    assert m["knn"] == knn and m["knn_dim"] == width and m["feature_dim"] == 192
    assert m["ari_truth"] >= 0.9
    ids, F, k = activation_features(*args)
    assert np.array_equal(_read(out, "labels.parquet")["id"].to_numpy(), ids)
    edges = _read(out, "edges.parquet")
    upper = graph_recall(F, edges["src"].to_numpy(), edges["dst"].to_numpy(), k)
    # Measured on the full rows, whatever was searched; a sample of 1,000 of the 1,500 rows
    # and float32 near-ties (1e-7 apart) stay well within 0.01 of the full figure.
    assert floor <= m["knn_recall"] <= upper + 0.01
    assert upper >= floor + 0.02


def test_embedding_rows_are_read_in_order_across_batches_and_invalid_rows_dropped(tmp_path, cpu):
    from engine.config import DataConfig
    from engine.jobs.communities import _load_embeddings
    from engine.run import RunContext

    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 8)).astype(np.float32)
    X[[3, 500]] = np.nan
    ids = np.arange(1000, 2000)
    pq.write_table(pa.table({"id": ids, "embedding": embedding_array(X)}),
                   tmp_path / "e.parquet", row_group_size=300)
    data = DataConfig(name="files", path=str(tmp_path / "e.parquet"), batch_rows=128,
                      drop_invalid=True)

    ctx = RunContext(out_dir=tmp_path / "run", backend=cpu)
    got_ids, got, truth = _load_embeddings(data, ctx)
    assert ctx.metrics["n_dropped_rows"] == 2
    keep = np.ones(1000, bool)
    keep[[3, 500]] = False
    np.testing.assert_array_equal(got, X[keep])
    np.testing.assert_array_equal(got_ids.to_numpy(), ids[keep])
    assert got.dtype == np.float32 and truth is None


def test_duplicate_ids_are_refused_naming_the_id_and_file(run_job, tmp_path):
    # Before: labels.parquet held 11 rows of id 7, and nothing said so.
    rng = np.random.default_rng(0)
    ids = np.arange(200)
    ids[150:160] = 7
    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({"id": ids, "embedding": embedding_array(
        rng.standard_normal((200, 8)).astype(np.float32))}), path)
    with pytest.raises(UserError, match=r"e.parquet: id 7 appears in 11 rows"):
        run_job("job=communities", "data=files", f"data.path={path}")
