"""Synthetic LLM activation maps with planted prompt groups (the `communities` job's input).

Each of `n_groups` groups has, in every layer, a signature set of neurons (about 4% of the
layer). A prompt fires a random 60% of its group's signature neurons (Gamma-distributed,
strong) plus background neurons drawn uniformly (about 2% of the layer, weak), so layers are
sparse and non-negative and the groups are recoverable only from the joint pattern.
Everything is drawn from (seed, layer), in whole-array operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

SIGNATURE_SHARE = 0.04
FIRE_PROB = 0.6
BACKGROUND_SHARE = 0.02


@dataclass
class SyntheticActivations:
    ids: np.ndarray  # (P,) int64 prompt ids
    names: list[str]  # layer names
    layers: list[sp.csr_matrix]  # (P, n_neurons) float32 each
    groups: np.ndarray  # (P,) planted group of every prompt


def make_activations(n_prompts: int = 3000, n_layers: int = 3, n_neurons: int = 1024,
                     n_groups: int = 8, seed: int = 0) -> SyntheticActivations:
    rng = np.random.default_rng([seed, 3])
    # Unequal group sizes (Dirichlet shares), every group non-empty when n_prompts allows.
    shares = rng.dirichlet(np.full(n_groups, 4.0))
    groups = rng.choice(n_groups, size=n_prompts, p=shares)
    groups[: min(n_groups, n_prompts)] = np.arange(min(n_groups, n_prompts))
    groups = groups[rng.permutation(n_prompts)]
    n_sig = max(4, int(SIGNATURE_SHARE * n_neurons))
    layers = []
    for layer in range(n_layers):
        lr = np.random.default_rng([seed, 3, layer])
        signature = np.stack([lr.choice(n_neurons, n_sig, replace=False)
                              for _ in range(n_groups)])  # (groups, n_sig)
        fires = lr.random((n_prompts, n_sig)) < FIRE_PROB
        rows_s, slot = np.nonzero(fires)
        cols_s = signature[groups[rows_s], slot]
        vals_s = lr.gamma(2.0, 1.0, size=len(rows_s))
        n_bg = lr.poisson(BACKGROUND_SHARE * n_neurons, size=n_prompts)
        rows_b = np.repeat(np.arange(n_prompts), n_bg)
        cols_b = lr.integers(0, n_neurons, size=len(rows_b))
        vals_b = lr.exponential(0.3, size=len(rows_b))
        X = sp.coo_matrix((np.r_[vals_s, vals_b].astype(np.float32),
                           (np.r_[rows_s, rows_b], np.r_[cols_s, cols_b])),
                          shape=(n_prompts, n_neurons)).tocsr()  # duplicates are summed
        X.sort_indices()
        layers.append(X)
    return SyntheticActivations(np.arange(n_prompts, dtype=np.int64),
                                [f"layer_{i}" for i in range(n_layers)], layers, groups)
