"""engine.scanpy on the GPU backend (cuVS kNN, cuGraph Leiden) against scanpy on the CPU."""

import pytest
from sklearn.metrics import adjusted_rand_score

import engine.scanpy as es

from .conftest import sc
from .test_neighbors import recall

pytestmark = [pytest.mark.gpu, pytest.mark.rapids]


def test_gpu_graph_and_leiden_match_scanpy(pbmc, scanpy_graph):
    adata = pbmc()
    es.neighbors(adata, n_neighbors=15, knn="flat", backend="gpu")
    assert adata.uns["neighbors"] == scanpy_graph.uns["neighbors"]
    assert recall(adata.obsp["distances"], scanpy_graph.obsp["distances"]) >= 0.999
    assert abs(adata.obsp["connectivities"] - scanpy_graph.obsp["connectivities"]).max() < 1e-3
    ref = scanpy_graph.copy()
    sc.tl.leiden(ref, flavor="igraph", n_iterations=2, random_state=0)
    es.leiden(adata, backend="gpu", n_iterations=-1)
    assert adjusted_rand_score(ref.obs["leiden"], adata.obs["leiden"]) >= 0.75
