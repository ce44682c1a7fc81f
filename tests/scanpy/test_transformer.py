"""engine.scanpy.KNNTransformer: scikit-learn's KNeighborsTransformer contract, and the graph
sc.pp.neighbors builds with it."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.neighbors import KNeighborsTransformer

import engine.scanpy as es

from .conftest import sc


def test_same_graph_as_scikit_learn(pbmc):
    X = pbmc().obsm["X_pca"]
    ours = es.KNNTransformer(n_neighbors=5, backend="cpu").fit_transform(X)
    theirs = KNeighborsTransformer(n_neighbors=5, mode="distance").fit_transform(X)
    assert ours.shape == theirs.shape == (700, 700) and ours.nnz == theirs.nnz == 700 * 6
    for i in range(0, 700, 50):
        np.testing.assert_array_equal(ours[i].indices, theirs[i].indices)  # self, then nearest
        np.testing.assert_allclose(ours[i].data, theirs[i].data, atol=1e-4)
    assert np.all(ours.diagonal() == 0)


def test_scanpy_builds_our_graph_with_it(pbmc, scanpy_graph):
    with_ours = pbmc()
    sc.pp.neighbors(with_ours, use_rep="X_pca",
                    transformer=es.KNNTransformer(n_neighbors=15, backend="cpu"))
    direct = pbmc()
    es.neighbors(direct, n_neighbors=15, backend="cpu")
    assert with_ours.uns["neighbors"]["params"]["n_neighbors"] == 15
    assert abs(with_ours.obsp["connectivities"] - direct.obsp["connectivities"]).max() == 0
    assert abs(with_ours.obsp["connectivities"]
               - scanpy_graph.obsp["connectivities"]).max() < 1e-4
    # With a transformer scanpy keeps its matrix as is: the cell and its 15 nearest, as
    # with scikit-learn's transformer.
    with_sklearn = pbmc()
    sc.pp.neighbors(with_sklearn, use_rep="X_pca",
                    transformer=KNeighborsTransformer(n_neighbors=15, algorithm="brute"))
    ours, theirs = with_ours.obsp["distances"], with_sklearn.obsp["distances"]
    assert ours.nnz == theirs.nnz == 700 * 16
    assert abs(ours - theirs).max() < 1e-4


def test_estimator_protocol(pbmc):
    X = pbmc().obsm["X_pca"]
    t = es.KNNTransformer(n_neighbors=7, metric="cosine", backend="cpu")
    assert clone(t).get_params() == t.get_params()
    assert t.get_params()["n_neighbors"] == 7  # what scanpy reads
    t.fit(X)
    assert t.transform(X).nnz == 700 * 8 and t.n_samples_fit_ == 700
    with pytest.raises(ValueError, match="rows it was fit on"):
        t.transform(X[:10])
    with pytest.raises(ValueError, match="mode='connectivity'"):
        es.KNNTransformer(mode="connectivity").fit(X)
