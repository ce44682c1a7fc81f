"""scanpy's bundled pbmc68k_reduced (700 cells, 50 PCs, cell-type labels): a real peer dataset
for the kNN + Leiden path, compared with scanpy itself."""

from __future__ import annotations

import warnings

import pytest

sc = pytest.importorskip("scanpy", reason="scanpy is in the test extra")


@pytest.fixture(scope="session")
def pbmc():
    """A fresh copy per use of scanpy's pbmc68k_reduced (shipped with scanpy, no download)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = sc.datasets.pbmc68k_reduced()
    return data.copy


@pytest.fixture(scope="session")
def scanpy_graph(pbmc):
    """scanpy's own sc.pp.neighbors(n_neighbors=15, use_rep="X_pca") on pbmc68k_reduced."""
    adata = pbmc()
    sc.pp.neighbors(adata, n_neighbors=15, use_rep="X_pca")
    return adata
