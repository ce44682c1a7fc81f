"""engine.scanpy.neighbors against scanpy's own sc.pp.neighbors on pbmc68k_reduced."""

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

import engine.scanpy as es


def neighbour_sets(distances) -> list[set[int]]:
    return [set(distances[i].indices) for i in range(distances.shape[0])]


def recall(ours, reference) -> float:
    a, b = neighbour_sets(ours), neighbour_sets(reference)
    return sum(len(x & y) for x, y in zip(a, b, strict=True)) / sum(len(y) for y in b)


def test_writes_what_scanpy_writes(pbmc, scanpy_graph):
    adata = pbmc()
    es.neighbors(adata, n_neighbors=15, use_rep="X_pca", backend="cpu")
    ref = scanpy_graph
    assert adata.uns["neighbors"] == ref.uns["neighbors"]
    for key in ("distances", "connectivities"):
        ours, theirs = adata.obsp[key], ref.obsp[key]
        assert type(ours) is type(theirs) and ours.dtype == theirs.dtype, key
        assert ours.nnz == theirs.nnz, key
    assert recall(adata.obsp["distances"], ref.obsp["distances"]) == 1.0  # exact search
    # Same rows in the same order (nearest first), distances to float32 precision.
    for i in (0, 123, 699):
        np.testing.assert_array_equal(adata.obsp["distances"][i].indices,
                                      ref.obsp["distances"][i].indices)
    assert abs(adata.obsp["distances"] - ref.obsp["distances"]).max() < 1e-4
    assert abs(adata.obsp["connectivities"] - ref.obsp["connectivities"]).max() < 1e-4


def test_approximate_search_keeps_most_neighbours(pbmc, scanpy_graph):
    adata = pbmc()
    es.neighbors(adata, n_neighbors=15, knn="ivf", backend="cpu", target_recall=0.95)
    assert recall(adata.obsp["distances"], scanpy_graph.obsp["distances"]) >= 0.93


def test_key_added_n_pcs_and_copy(pbmc):
    adata = pbmc()
    out = es.neighbors(adata, n_neighbors=10, n_pcs=20, key_added="pcs20", backend="cpu",
                       copy=True)
    assert "pcs20" not in adata.uns and "pcs20_distances" not in adata.obsp  # untouched
    assert out.uns["pcs20"] == {"connectivities_key": "pcs20_connectivities",
                                "distances_key": "pcs20_distances",
                                "params": {"n_neighbors": 10, "method": "umap",
                                           "random_state": 0, "metric": "euclidean",
                                           "use_rep": "X_pca", "n_pcs": 20}}
    exact = NearestNeighbors(n_neighbors=10).fit(adata.obsm["X_pca"][:, :20])
    dist, idx = exact.kneighbors()  # each row's 10 nearest other rows
    got = out.obsp["pcs20_distances"]
    assert all(set(got[i].indices) == set(idx[i, :9]) for i in range(0, 700, 7))
    np.testing.assert_allclose(got[5].data, dist[5, :9], rtol=1e-5)


def test_cosine_distances_match_scikit_learn(pbmc):
    adata = pbmc()
    es.neighbors(adata, n_neighbors=8, metric="cosine", backend="cpu")
    dist, idx = NearestNeighbors(n_neighbors=7, metric="cosine").fit(
        adata.obsm["X_pca"]).kneighbors()
    got = adata.obsp["distances"]
    np.testing.assert_allclose(np.vstack([got[i].data for i in range(700)]), dist, atol=1e-5)
    assert adata.uns["neighbors"]["params"]["metric"] == "cosine"


def test_bad_input_says_what(pbmc):
    adata = pbmc()
    with pytest.raises(KeyError, match="use_rep='X_scvi'"):
        es.neighbors(adata, use_rep="X_scvi", backend="cpu")
    with pytest.raises(ValueError, match="n_neighbors=701"):
        es.neighbors(adata, n_neighbors=701, backend="cpu")
    with pytest.raises(ValueError, match="metric='manhattan'"):
        es.neighbors(adata, metric="manhattan", backend="cpu")
