"""Per-layer community prototypes and the neurons that set each community apart (seed 002).

prototype[c, j] = mean activation of neuron j over the prompts of community c, computed as a
sparse indicator product (never densifying a layer). With `zscore`, neurons are z-scored over
prompts first; z-scoring is affine per neuron, so the prototype of z-scores is
(prototype - mean_j) / std_j, with the exact column mean and standard deviation (implicit
zeros included) from sparse sums.

Top neurons per community: score = prototype[c] - baseline, baseline `global` = mean of all
community prototypes, or `others` = mean of the other communities' prototypes (as seed 002).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from engine.errors import UserError

BASELINES = ("global", "others")


def layer_prototypes(X, labels: np.ndarray, zscore: bool = False) -> np.ndarray:
    """(C, N) mean activation per community of a (P, N) layer (CSR or dense)."""
    labels = np.asarray(labels)
    P = X.shape[0]
    n_comm = int(labels.max()) + 1
    S = sp.csr_matrix((np.ones(P, np.float64), (labels, np.arange(P))), shape=(n_comm, P))
    counts = np.bincount(labels, minlength=n_comm).astype(np.float64)
    sums = S @ X
    sums = sums.toarray() if sp.issparse(sums) else np.asarray(sums)
    proto = sums / np.maximum(counts, 1)[:, None]
    if zscore:
        if sp.issparse(X):
            mean = np.asarray(X.mean(axis=0)).reshape(-1)
            mean_sq = np.asarray(X.multiply(X).mean(axis=0)).reshape(-1)
        else:
            mean = X.mean(axis=0)
            mean_sq = (np.asarray(X, np.float64) ** 2).mean(axis=0)
        std = np.sqrt(np.maximum(mean_sq - mean**2, 0.0))
        proto = np.divide(proto - mean, std, out=np.zeros_like(proto), where=std > 1e-12)
    return proto.astype(np.float32)


def top_neurons(proto: np.ndarray, top_k: int = 20, baseline: str = "global"
                ) -> tuple[np.ndarray, np.ndarray]:
    """(C, t) neuron indices and scores, best first, t = min(top_k, N)."""
    if baseline not in BASELINES:
        raise UserError(f"job.baseline={baseline!r}: expected one of {', '.join(BASELINES)}")
    C, N = proto.shape
    total = proto.sum(axis=0, dtype=np.float64)
    if baseline == "global":
        base = (total / C)[None, :]
    else:
        base = (total[None, :] - proto) / max(C - 1, 1)
    scores = (proto - base).astype(np.float32)
    t = min(top_k, N)
    part = np.argpartition(-scores, t - 1, axis=1)[:, :t] if t < N else np.tile(np.arange(N), (C, 1))
    part_scores = np.take_along_axis(scores, part, 1)
    order = np.lexsort((part, -part_scores), axis=1)  # score desc, then neuron index
    idx = np.take_along_axis(part, order, 1)
    return idx, np.take_along_axis(scores, idx, 1)
