"""Embedding rows from an AnnData `.h5ad` file (scanpy's format), read in row batches.

The embeddings are `obsm[key]` (e.g. `X_pca`), or `X` with key "X" (read from disk batch by
batch, dense or sparse); the ids are `obs_names`, under the id column's name; the other
columns come from `obs` (categorical columns as their values). Rows are checked as in
`EmbeddingFiles` (NaN/inf: an error, or dropped with drop_invalid).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from scipy import sparse

from engine.errors import UserError
from engine.io.embeddings import Batch, EmbeddingFiles


@dataclass
class AnnDataEmbeddings(EmbeddingFiles):
    """`embedding_column` holds the obsm key (or "X")."""

    def __post_init__(self) -> None:
        try:
            import anndata
        except ImportError:
            raise UserError("data=anndata needs the anndata package: pip install "
                            "'engine[anndata]'") from None
        path = Path(str(self.path)).expanduser()
        if not path.is_file():
            raise UserError(f"{path}: no such file (data.path of data=anndata)")
        try:
            # Backed: X stays on disk and is read batch by batch; obs and obsm are loaded.
            self._adata = anndata.read_h5ad(path, backed="r")
        except Exception as exc:
            raise UserError(f"{path}: not a readable .h5ad file ({exc})") from None
        key = self.embedding_column
        if key != "X" and key not in self._adata.obsm:
            raise UserError(f"{path}: no obsm[{key!r}] (has: {', '.join(self._adata.obsm)}; "
                            "set data.embedding_key, or X for the matrix itself)")
        shape = self._matrix().shape
        if len(shape) != 2:
            raise UserError(f"{path}: obsm[{key!r}] is not a 2-D matrix (shape {shape})")
        self.files = [path]
        self.dim = int(shape[1])

    def _matrix(self):
        key = self.embedding_column
        return self._adata.X if key == "X" else self._adata.obsm[key]

    def metadata_columns(self) -> list[str]:
        return [self.id_column, *[str(c) for c in self._adata.obs.columns
                                  if str(c) != self.id_column]]

    @property
    def n_rows(self) -> int:
        return int(self._adata.n_obs)

    def _file_batches(self, f: Path, columns: list[str] | None, offset: int) -> Iterator[Batch]:
        obs = self._adata.obs
        meta = self._wanted(f, self.metadata_columns()[1:], columns)
        matrix = self._matrix()
        ids = self._adata.obs_names
        for lo in range(0, self.n_rows, self.batch_rows):
            hi = min(lo + self.batch_rows, self.n_rows)
            rows = matrix[lo:hi]
            emb = rows.toarray() if sparse.issparse(rows) else np.asarray(rows)
            arrays = [pa.array(np.asarray(ids[lo:hi], dtype=str))]
            arrays += [_arrow(obs[c].iloc[lo:hi]) for c in meta]
            yield Batch(pa.Table.from_arrays(arrays, names=[self.id_column, *meta]),
                        self._cast(emb))


def _arrow(values) -> pa.Array:
    """An obs column as Arrow; a categorical one as its plain values (strings, numbers), as
    the jobs read columns of files."""
    if str(values.dtype) == "category":
        return pa.array(np.asarray(values), from_pandas=True)
    return pa.Array.from_pandas(values)
