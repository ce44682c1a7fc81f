"""Polis's sparsity-aware PCA, without ever densifying the vote matrix.

Missing votes are filled with the statement's mean over cast votes, then the columns are
centred. Filled-then-centred entries are exactly 0, so the centred matrix A has the same
sparsity pattern as the votes: A = votes - mean on cast entries, 0 elsewhere. Moderated-out
statements are zero columns. The top-2 right singular vectors of A are the principal
components (the same subspace as Polis's power iteration); a voter's projection is A @ V^T,
i.e. Polis's sum over the statements they voted on, scaled by
sqrt(n_statements / max(n_votes_cast, 1)) so sparse voters are not bunched at the centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PcaResult:
    components: np.ndarray  # (2, n_statements), unit rows
    center: np.ndarray  # (n_statements,) mean over cast votes (0 for moderated-out)
    projection: np.ndarray  # (n_voters, 2), scaled
    explained_variance_ratio: np.ndarray  # (2,)
    scale: np.ndarray  # (n_voters,) sqrt(n_statements / max(n_votes_cast, 1))


def sparse_module(xp):
    if xp is np:
        import scipy.sparse as sps
    else:
        import cupyx.scipy.sparse as sps
    return sps


def centred(values, moderated_out, xp=np):
    """(A, center): the mean-filled, centred matrix (same pattern as `values`, float64)."""
    sps = sparse_module(xp)
    n, m = values.shape
    data = values.data.astype(xp.float64)
    cols = values.indices
    counts = xp.bincount(cols, minlength=m).astype(xp.float64)
    sums = xp.bincount(cols, weights=data, minlength=m)
    center = sums / xp.maximum(counts, 1)
    mod = xp.asarray(moderated_out)
    center = xp.where(mod, 0.0, center)
    data = xp.where(mod[cols], 0.0, data - center[cols])
    return sps.csr_matrix((data, cols, values.indptr), shape=(n, m)), center


def top_components(a, k: int = 2, xp=np, block: int = 8, tol: float = 1e-9,
                   max_iter: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """(components (k, m), singular values (k,)) of sparse A by block subspace iteration
    with Rayleigh-Ritz: deterministic (fixed start), the same code on NumPy and CuPy."""
    m = a.shape[1]
    b = min(m, k + block)
    start = np.random.default_rng(0).standard_normal((m, b))  # fixed: same start every run
    q, _ = xp.linalg.qr(xp.asarray(start))
    prev = None
    for _ in range(max_iter):
        z = a.T @ (a @ q)  # (m, b): A^T A Q
        q, _ = xp.linalg.qr(z)
        # Rayleigh-Ritz on the block: eigenvectors of Q^T A^T A Q give the Ritz vectors.
        aq = a @ q
        small = aq.T @ aq
        w, u = xp.linalg.eigh(small)
        order = xp.argsort(-w)[:k]
        v = q @ u[:, order]  # (m, k)
        if prev is not None:
            # Converged when the top-k subspace stops moving: the part of v outside the
            # previous subspace (the sines of the principal angles) is below tol.
            if float(xp.abs(v - prev @ (prev.T @ v)).max()) < tol:
                break
        prev = v
    sing = xp.sqrt(xp.maximum(w[order], 0))
    return v.T, sing


def orient(components, reference=None, xp=np):
    """Fix each component's sign: along `reference` (the previous run's components, for warm
    replays), else so that its largest-magnitude loading is positive."""
    out = components.copy()
    for i in range(out.shape[0]):
        if reference is not None:
            sign = xp.sign(xp.dot(out[i], reference[i]))
        else:
            sign = xp.sign(out[i, xp.argmax(xp.abs(out[i]))])
        if float(sign) < 0:
            out[i] = -out[i]
    return out


def sparsity_aware_pca(values, moderated_out, n_scale_votes, xp=np, reference=None,
                       n_statements: int | None = None, n_components: int = 2) -> PcaResult:
    """Polis's PCA of a CSR vote matrix (`values`, passes as explicit zeros).

    `n_scale_votes` is the per-voter vote count used in the scaling (cast votes, with
    moderated-out statements counted as the zeros they are set to); `n_statements` the
    statement count there (default: the matrix's columns).
    """
    a, center = centred(values, moderated_out, xp)
    comps, sing = top_components(a, n_components, xp)
    comps = orient(comps, None if reference is None else xp.asarray(reference), xp)
    m = values.shape[1] if n_statements is None else n_statements
    scale = xp.sqrt(m / xp.maximum(xp.asarray(n_scale_votes, dtype=xp.float64), 1.0))
    proj = (a @ comps.T) * scale[:, None]
    total = float((a.data ** 2).sum())
    ratio = (sing ** 2) / total if total > 0 else xp.zeros_like(sing)
    to_host = (lambda x: x) if xp is np else (lambda x: x.get())
    return PcaResult(to_host(comps), to_host(center), to_host(proj), to_host(ratio),
                     to_host(scale))
