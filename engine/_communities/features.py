"""Row features for the kNN graph: `none` and `tfidf_sketch` (seed 002).

- `none`: rows L2-normalised (cosine = inner product). All-zero rows stay zero (no NaN).
- `tfidf_sketch`, per layer (CSR, never densified): column IDF log((P+1)/(df+1))+1, rows scaled
  by IDF then L2-normalised, CountSketch to `rp_dim` columns with seeded hashes (bucket and
  sign per neuron, drawn from (seed, layer)), per-layer L2, then the optional layer weight as a
  sqrt(w) factor; layers concatenated, final L2. The weight is applied after the per-layer L2:
  applied before it (as in the seed notebook) the normalisation would cancel it.

The sketch is one sparse product: row_scale * (X @ M) with M = diag(idf) @ S, where S (N x rp_dim)
holds sign(j) at (j, bucket(j)); rows run in batches of `batch_rows` so the dense output of a
batch is the only dense temporary.
"""

from __future__ import annotations

import numpy as np

from engine.errors import UserError

FEATURES = ("none", "tfidf_sketch")
TINY = 1e-12
MAX_DENSE = 500_000_000  # features=none on activation layers: largest dense matrix allowed


def sparse_module(xp):
    """scipy.sparse for NumPy arrays, cupyx.scipy.sparse for CuPy."""
    if xp is np:
        import scipy.sparse as sp

        return sp
    import cupyx.scipy.sparse as csp

    return csp


NORM_BLOCK = 65536


def l2_normalize(X, xp=np):
    """Rows scaled to unit L2 norm; zero rows stay zero. Returns (rows, norms)."""
    X = xp.asarray(X, dtype=xp.float32)
    # Norms in float64 a block of rows at a time: no float64 copy of the whole matrix.
    norms = xp.empty(X.shape[0], dtype=xp.float64)
    for lo in range(0, X.shape[0], NORM_BLOCK):
        block = X[lo : lo + NORM_BLOCK].astype(xp.float64)
        norms[lo : lo + NORM_BLOCK] = xp.sqrt((block * block).sum(axis=1))
    scale = xp.where(norms > TINY, 1.0 / xp.maximum(norms, TINY), 0.0).astype(xp.float32)
    return X * scale[:, None], norms


def idf(X, xp=np) -> np.ndarray:
    """Column IDF log((P+1)/(df+1))+1 of a CSR layer (df = rows with a non-zero entry)."""
    P, N = X.shape
    nz = X.indices[X.data != 0]
    df = xp.bincount(nz, minlength=N).astype(xp.float64)
    return (xp.log((P + 1.0) / (df + 1.0)) + 1.0).astype(xp.float32)


def sketch_hashes(n_columns: int, rp_dim: int, seed: int, layer: int):
    """Seeded CountSketch bucket (0..rp_dim-1) and sign (+-1) of every column (host arrays)."""
    rng = np.random.default_rng([seed, 2002, layer])
    buckets = rng.integers(0, rp_dim, size=n_columns, dtype=np.int64)
    signs = rng.choice(np.array([-1.0, 1.0], np.float32), size=n_columns)
    return buckets, signs


def tfidf_sketch_layer(X, rp_dim: int, seed: int, layer: int, batch_rows: int = 4096,
                       xp=np):
    """(P, rp_dim) float32 sketch of one CSR layer, rows L2-normalised (zero rows stay 0)."""
    sp = sparse_module(xp)
    X = sp.csr_matrix(X, dtype=xp.float32) if not sp.isspmatrix_csr(X) else X
    if X.dtype != xp.float32:
        X = X.astype(xp.float32)
    P, N = X.shape
    w_idf = idf(X, xp)
    buckets, signs = sketch_hashes(N, rp_dim, seed, layer)
    M = sp.coo_matrix((w_idf * xp.asarray(signs), (xp.arange(N), xp.asarray(buckets))),
                      shape=(N, rp_dim), dtype=xp.float32).tocsr()
    idf_sq = w_idf.astype(xp.float64) ** 2
    out = xp.empty((P, rp_dim), dtype=xp.float32)
    for lo in range(0, P, batch_rows):
        sub = X[lo : lo + batch_rows]
        # ||row * idf||: the TF-IDF row norm, from the CSR entries directly.
        sq = sp.csr_matrix((sub.data.astype(xp.float64) ** 2 * idf_sq[sub.indices],
                            sub.indices, sub.indptr), shape=sub.shape).sum(axis=1)
        inv = 1.0 / xp.sqrt(xp.maximum(xp.asarray(sq).reshape(-1), TINY))
        sketch = (sub @ M).toarray()
        out[lo : lo + batch_rows] = sketch * inv[:, None].astype(xp.float32)
    return l2_normalize(out, xp)[0]


def tfidf_sketch(layers: list, rp_dim: int | list[int] = 64, seed: int = 0,
                 layer_weights: list[float] | None = None, batch_rows: int = 4096, xp=np):
    """Concatenated, L2-normalised TF-IDF CountSketch features of aligned CSR layers."""
    if not layers:
        raise UserError("tfidf_sketch: no activation layers")
    dims = [int(rp_dim)] * len(layers) if np.isscalar(rp_dim) else [int(d) for d in rp_dim]
    if len(dims) != len(layers):
        raise UserError(f"job.rp_dim: {len(dims)} values for {len(layers)} layers")
    if layer_weights is not None and len(layer_weights) not in (0, len(layers)):
        raise UserError(f"job.layer_weights: {len(layer_weights)} values for "
                        f"{len(layers)} layers")
    if layer_weights is not None and any(w < 0 for w in layer_weights):
        raise UserError("job.layer_weights: weights must be >= 0")
    parts = []
    for i, (X, d) in enumerate(zip(layers, dims, strict=True)):
        F = tfidf_sketch_layer(X, d, seed, i, batch_rows, xp)
        if layer_weights:
            F *= np.float32(np.sqrt(layer_weights[i]))
        parts.append(F)
    return l2_normalize(xp.concatenate(parts, axis=1), xp)[0]


def make_features(kind: str, *, embeddings=None, layers=None, rp_dim=64, seed: int = 0,
                  layer_weights=None, batch_rows: int = 4096, xp=np):
    """Features named by `job.features`: embeddings (none) or activation layers (either)."""
    if kind not in FEATURES:
        raise UserError(f"job.features={kind!r}: expected one of {', '.join(FEATURES)}")
    if kind == "tfidf_sketch":
        if layers is None:
            raise UserError("job.features=tfidf_sketch needs activation layers "
                            "(job.input=activations)")
        return tfidf_sketch(layers, rp_dim, seed, layer_weights, batch_rows, xp)
    if embeddings is None:  # activation layers with features=none: concatenated raw rows
        sp = sparse_module(xp)
        size = layers[0].shape[0] * sum(X.shape[1] for X in layers)
        if size > MAX_DENSE:
            raise UserError(f"job.features=none on activations would densify {size:,} values "
                            "(FAISS needs dense rows); use job.features=tfidf_sketch")
        embeddings = sp.hstack(layers, format="csr").toarray()
    return l2_normalize(embeddings, xp)[0]
