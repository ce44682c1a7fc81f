"""data=anndata: embedding rows from an AnnData .h5ad file (scanpy's pbmc68k_reduced written
to disk), through the reader and through a job."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

from engine.errors import UserError

sc = pytest.importorskip("scanpy", reason="scanpy is in the test extra")


@pytest.fixture(scope="module")
def h5ad(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = sc.datasets.pbmc68k_reduced()
    path = tmp_path_factory.mktemp("h5ad") / "pbmc.h5ad"
    adata.write_h5ad(path)
    return path, adata


def reader(path, key="X_pca", batch_rows=256, drop_invalid=False):
    from engine.io.h5ad import AnnDataEmbeddings

    return AnnDataEmbeddings(path, "id", key, batch_rows, drop_invalid)


def test_rows_ids_and_obs_columns_in_batches(h5ad):
    path, adata = h5ad
    source = reader(path)
    assert (source.n_rows, source.dim) == (700, 50)
    assert source.metadata_columns()[:3] == ["id", "bulk_labels", "n_genes"]
    batches = list(source.batches(["bulk_labels", "n_genes"]))
    assert [len(b) for b in batches] == [256, 256, 188]
    whole = source.read(["bulk_labels"])
    np.testing.assert_array_equal(whole.embeddings, adata.obsm["X_pca"])
    assert whole.table["id"].to_pylist() == list(adata.obs_names)
    assert whole.table["bulk_labels"].to_pylist() == adata.obs["bulk_labels"].astype(str).tolist()
    x = reader(path, key="X").read([])
    np.testing.assert_allclose(x.embeddings, np.asarray(adata.X, np.float32))


def test_bad_key_file_and_rows_are_named(h5ad, tmp_path):
    path, adata = h5ad
    with pytest.raises(UserError, match=r"no obsm\['X_scvi'\] \(has: X_pca, X_umap"):
        reader(path, key="X_scvi")
    with pytest.raises(UserError, match="no such file"):
        reader(tmp_path / "missing.h5ad")
    (tmp_path / "bad.h5ad").write_bytes(b"not hdf5")
    with pytest.raises(UserError, match="not a readable .h5ad file"):
        reader(tmp_path / "bad.h5ad")
    broken = adata.copy()
    broken.obsm["X_pca"][[3, 40]] = np.nan
    broken.write_h5ad(tmp_path / "nan.h5ad")
    with pytest.raises(UserError, match=r"2 rows with NaN/inf.*first ids \['"
                                        + adata.obs_names[3]):
        reader(tmp_path / "nan.h5ad").read([])
    kept = reader(tmp_path / "nan.h5ad", drop_invalid=True)
    assert len(kept.read([])) == 698 and kept.dropped == 2


def test_communities_job_reads_anndata(h5ad, run_job):
    path, adata = h5ad
    _, out, metrics = run_job("job=communities", "data=anndata", f"data.path={path}",
                              "data.embedding_key=X_pca", "job.k=14")
    labels = pl.read_parquet(out / "labels.parquet")
    assert labels["id"].to_list() == list(adata.obs_names)
    assert metrics["n_rows"] == 700 and metrics["n_communities"] > 1
    with pytest.raises(UserError, match="data=anndata needs data.path"):
        run_job("job=communities", "data=anndata", "data.path=")
