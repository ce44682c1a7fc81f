"""Polis's sparsity-aware PCA, without ever densifying the vote matrix.

Missing votes are filled with the statement's mean over cast votes, then the columns are
centred. (Polis before 21 October 2017 filled them with 0 instead, `missing="zero"`: see
`ZeroFilled`.) Filled-then-centred entries are exactly 0, so the centred matrix A has the same
sparsity pattern as the votes: A = votes - mean on cast entries, 0 elsewhere. Moderated-out
statements are zero columns. The top-2 right singular vectors of A are the principal
components (the same subspace as Polis's power iteration); a voter's projection is A @ V^T,
i.e. Polis's sum over the statements they voted on, scaled by
sqrt(n_statements / max(n_votes_cast, 1)) so sparse voters are not bunched at the centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FLOAT32_ABOVE = 4_000_000  # cast votes


@dataclass
class PcaResult:
    components: np.ndarray  # (2, n_statements), unit rows
    center: np.ndarray  # (n_statements,) mean over cast votes (0 for moderated-out)
    projection: np.ndarray  # (n_voters, 2), scaled
    explained_variance_ratio: np.ndarray  # (2,)
    scale: np.ndarray  # (n_voters,) sqrt(n_statements / max(n_votes_cast, 1))
    n_statements: int = 0  # in the scaling

    def statement_projection(self) -> np.ndarray:
        """(n_statements, 2): each statement where a voter who agreed with it alone would sit
        on the map (Polis's comment projection, red-dwarf's projected_statements): the
        statement's centred agree, 1 - mean, on its loadings, scaled by sqrt(n_statements)."""
        return (np.sqrt(self.n_statements) * (1.0 - self.center))[:, None] * self.components.T


def sparse_module(xp):
    if xp is np:
        import scipy.sparse as sps
    else:
        import cupyx.scipy.sparse as sps
    return sps


def centred(values, moderated_out, xp=np, dtype=np.float64, missing: str = "mean"):
    """(A, center): the cast votes minus their statement's center (same pattern as
    `values`): the mean-filled, centred matrix. `missing="zero"`: the center is the mean with
    missing votes as 0, over the voters with a vote (the rows of Polis's rating matrix)."""
    sps = sparse_module(xp)
    n, m = values.shape
    cols = values.indices
    if missing == "zero":
        counts = xp.full(m, int((xp.diff(values.indptr) > 0).sum()))
    else:
        counts = xp.bincount(cols, minlength=m)
    sums = xp.bincount(cols, weights=values.data, minlength=m)
    mod = xp.asarray(moderated_out)
    center = xp.where(mod, 0.0, sums / xp.maximum(counts, 1))
    data = values.data.astype(dtype)
    data -= center.astype(dtype)[cols]
    if bool(mod.any()):
        data[mod[cols]] = 0
    return sps.csr_matrix((data, cols, values.indptr), shape=(n, m)), center


class ZeroFilled:
    """The zero-filled, centred matrix of Polis before 21 October 2017 (commit 90b5b9e6 of
    compdemocracy/polis, "Use column/comment averages instead of 0s for missing votes"):
    A = X - 1 c^T over the voters with a vote, X the votes with 0 where none was cast, c the
    column means of X. Dense in principle (a missing vote is -c, not 0), so it is kept as
    products with the sparse X: A v = X v - (c.v) and A^T w = X^T w - c (sum of w), on those
    rows only. The voters' projection still sums over cast votes only (`centred`)."""

    def __init__(self, values, center, moderated_out, xp=np, dtype=np.float64):
        sps = sparse_module(xp)
        data = values.data.astype(dtype)
        data[xp.asarray(moderated_out)[values.indices]] = 0  # zeroed columns (Polis's mod-out)
        self.x = sps.csr_matrix((data, values.indices, values.indptr), shape=values.shape)
        self.center = center.astype(dtype)
        self.rows = (xp.diff(values.indptr) > 0).astype(dtype)  # Polis's matrix has only these
        self.shape, self.dtype, self.xp = values.shape, dtype, xp

    def __matmul__(self, v):
        out = self.x @ v - self.xp.tensordot(self.center, v, axes=(0, 0))
        return out * (self.rows if out.ndim == 1 else self.rows[:, None])

    @property
    def T(self):  # noqa: N802 (the array protocol's name)
        return _Transposed(self)

    def squared_norm(self) -> float:
        """||A||_F^2 over the voters' rows."""
        x, c = self.x, self.center
        col_sums = x.T @ self.rows
        return float((x.data ** 2).sum() - 2 * (c * col_sums).sum()
                     + self.rows.sum() * (c ** 2).sum())


class _Transposed:
    def __init__(self, a: ZeroFilled):
        self.a = a

    def __matmul__(self, w):
        a = self.a
        w = w * (a.rows if w.ndim == 1 else a.rows[:, None])
        total = w.sum(0)
        return a.x.T @ w - (a.center * total if w.ndim == 1 else a.center[:, None] * total[None, :])


def top_components(a, k: int = 2, xp=np, block: int = 2, tol: float | None = None,
                   max_iter: int = 500, warm=None) -> tuple[np.ndarray, np.ndarray]:
    """(components (k, m), singular values (k,)) of sparse A by block subspace iteration
    with Rayleigh-Ritz: deterministic (fixed start), the same code on NumPy and CuPy.
    Two sparse products per iteration (A Q is reused by the next Rayleigh-Ritz step).
    `warm` (k, m): the previous components, a start that is nearly converged (replays)."""
    m = a.shape[1]
    if tol is None:  # what the precision allows
        tol = 1e-9 if a.dtype == np.float64 else 1e-5
    b = min(m, k + block)
    start = np.random.default_rng(0).standard_normal((m, b))  # fixed: same start every run
    if warm is not None:
        start[:, :k] = np.asarray(warm).T
    q, _ = xp.linalg.qr(xp.asarray(start, dtype=a.dtype))
    aq = a @ q
    prev = None
    for _ in range(max_iter):
        # Rayleigh-Ritz: eigenvectors of Q^T A^T A Q give the Ritz vectors of the block.
        w, u = xp.linalg.eigh((aq.T @ aq).astype(xp.float64))
        order = xp.argsort(-w)[:k]
        v = q.astype(xp.float64) @ u[:, order]  # (m, k)
        # Converged when the top-k subspace stops moving: the part of v outside the previous
        # subspace (the sines of the principal angles) is below tol.
        if prev is not None and float(xp.abs(v - prev @ (prev.T @ v)).max()) < tol:
            break
        prev = v
        q, _ = xp.linalg.qr(a.T @ aq)  # A^T A Q
        aq = a @ q
    sing = xp.sqrt(xp.maximum(w[order], 0))
    return v.T, sing


def power_components(a, k: int = 2, iters: int = 100, start=None, xp=np) -> np.ndarray:
    """Polis's PCA: per component, power iteration on the deflated A^T A for `iters` steps
    (stopping early only when the norm repeats exactly), from `start` (k, m) (the last run's
    components, with 1 for statements new since then) or from ones. With a small eigengap
    100 steps stop short of convergence, so the result depends on the start: the last run's
    components carry over as Polis's do."""
    m = a.shape[1]
    starts = xp.ones((k, m)) if start is None else xp.asarray(start, dtype=xp.float64)
    a_t = a.T  # once: each `.T` builds a new matrix object, costly next to a small product
    comps = []
    for i in range(k):
        v = starts[i].astype(a.dtype)

        def deflate(w):  # what the components found so far explain is removed (Gram-Schmidt)
            for pc in comps:
                w = w - pc * xp.dot(pc, w)
            return w

        last = 0.0
        for _ in range(iters + 1):
            y = deflate(a_t @ (a @ deflate(v)))
            norm = float(xp.linalg.norm(y))
            if norm == 0:
                v = y
                break
            v = y / norm
            if norm == last:
                break
            last = norm
        comps.append(v)
    return xp.stack(comps)


def orient(components, reference=None, xp=np):
    """Fix each component's sign: along `reference` (the previous run's components, for warm
    replays), else (or where the reference is orthogonal, e.g. all zero) so that its
    largest-magnitude loading is positive."""
    out = components.copy()
    for i in range(out.shape[0]):
        sign = 0.0 if reference is None else xp.sign(xp.dot(out[i], reference[i]))
        if float(sign) == 0:  # no reference, or one it has nothing in common with
            sign = xp.sign(out[i, xp.argmax(xp.abs(out[i]))])
        if float(sign) < 0:
            out[i] = -out[i]
    return out


def sparsity_aware_pca(values, moderated_out, n_scale_votes, xp=np, reference=None,
                       n_statements: int | None = None, n_components: int = 2,
                       power_iters: int = 0, new_statements=None,
                       missing: str = "mean") -> PcaResult:
    """Polis's PCA of a CSR vote matrix (`values`, passes as explicit zeros).

    `n_scale_votes` is the per-voter vote count used in the scaling (cast votes, with
    moderated-out statements counted as the zeros they are set to); `n_statements` the
    statement count there (default: the matrix's columns). `power_iters` > 0: Polis's power
    iteration for that many steps from `reference` (1 at `new_statements`), else the
    converged subspace. `missing`: what a missing vote counts as, "mean" (Polis since
    October 2017) or "zero" (before: `ZeroFilled`).
    """
    # Large matrices in float32: half the memory and faster products; the subspace agrees
    # with float64 to ~1e-8, far below what moves a voter between clusters.
    dtype = np.float32 if values.nnz > FLOAT32_ABOVE else np.float64
    a, center = centred(values, moderated_out, xp, dtype, missing)
    # What the components are found on: the cast votes centred, or the zero-filled matrix.
    op = a if missing == "mean" else ZeroFilled(values, center, moderated_out, xp, dtype)
    if power_iters > 0:
        start = None
        if reference is not None:
            start = np.array(reference, np.float64)
            # A component that came out all zero (e.g. everyone voted alike) is no start:
            # Polis's wrapped-pca drops it and starts that component afresh.
            start[~start.any(axis=1)] = 1.0
            if new_statements is not None:
                start[:, new_statements] = 1.0
        comps = power_components(op, n_components, power_iters, start, xp)
        sing = xp.sqrt(xp.maximum(((op @ comps.T) ** 2).sum(0), 0))
    else:
        comps, sing = top_components(op, n_components, xp, warm=reference)
    comps = orient(comps, None if reference is None else xp.asarray(reference), xp)
    m = values.shape[1] if n_statements is None else n_statements
    scale = xp.sqrt(m / xp.maximum(xp.asarray(n_scale_votes, dtype=xp.float64), 1.0))
    proj = (a @ comps.T.astype(a.dtype)).astype(xp.float64) * scale[:, None]
    total = float(xp.dot(a.data, a.data)) if op is a else op.squared_norm()
    ratio = (sing ** 2) / total if total > 0 else xp.zeros_like(sing)
    to_host = (lambda x: x) if xp is np else (lambda x: x.get())
    return PcaResult(to_host(comps), to_host(center), to_host(proj), to_host(ratio),
                     to_host(scale), int(m))
