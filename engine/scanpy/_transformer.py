"""A scikit-learn `KNeighborsTransformer`-style class on the engine's kNN, for
`sc.pp.neighbors(adata, transformer=KNNTransformer(n_neighbors=15))`."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin

from engine.scanpy._knn import distance_matrix, knn_with_self


class KNNTransformer(TransformerMixin, BaseEstimator):
    """The kNN graph of the rows it is fit on, as scikit-learn's
    `KNeighborsTransformer(mode="distance")` returns it: an (n, n) sparse matrix with, per row,
    the row itself (an explicit 0) and its `n_neighbors` nearest other rows, in order of
    distance. scanpy reads `n_neighbors` from `get_params()` and keeps the row itself plus
    n_neighbors - 1 of them, as with scikit-learn's transformer.

    Only the rows given to `fit` can be transformed (scanpy's use): the graph is a self-join.
    """

    def __init__(self, n_neighbors: int = 15, *, mode: str = "distance",
                 metric: str = "euclidean", knn: str = "auto", backend: str = "auto",
                 random_state: int = 0, target_recall: float = 0.96):
        self.n_neighbors = n_neighbors
        self.mode = mode
        self.metric = metric
        self.knn = knn
        self.backend = backend
        self.random_state = random_state
        self.target_recall = target_recall

    def fit(self, X, y=None):
        if self.mode != "distance":
            raise ValueError(f"mode={self.mode!r}: only 'distance' is supported")
        indices, distances = knn_with_self(
            X, self.n_neighbors + 1, metric=self.metric, knn=self.knn, backend=self.backend,
            random_state=self.random_state, target_recall=self.target_recall)
        self.n_samples_fit_ = indices.shape[0]
        self.n_features_in_ = X.shape[1]
        self.graph_ = distance_matrix(indices, distances, keep_self=True)
        self._fit_X = X
        return self

    def transform(self, X):
        fitted = self._fit_X
        same = X is fitted or (X.shape == fitted.shape and _equal(X, fitted))
        if not same:
            raise ValueError("KNNTransformer transforms the rows it was fit on only (the kNN "
                             "graph is a self-join); call fit_transform(X)")
        return self.graph_.copy()


def _equal(a, b) -> bool:
    if sparse.issparse(a) or sparse.issparse(b):
        return sparse.issparse(a) and sparse.issparse(b) and (a != b).nnz == 0
    return bool(np.array_equal(np.asarray(a), np.asarray(b)))
