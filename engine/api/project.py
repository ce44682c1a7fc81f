"""`engine.project`: a linear map from embeddings to rated axes, applied to every row."""

from __future__ import annotations

from typing import Any

from engine.api import inputs
from engine.api.result import Result
from engine.api.running import job_params, run_job

RENAMES = {"ratings_path": "ratings"}


def project(X: Any, ratings: Any, *, ids: Any = None, axes: list[str] | None = None,
            method: str = "ridge", test_size: float = 0.2, id_column: str = "id",
            rating_id_column: str = "id", embedding_column: str = "embedding",
            drop_invalid: bool = False, random_state: int = 0, backend: str = "auto",
            **options: Any) -> Result:
    """Fit a linear map from embeddings to rated axes on the rated rows, score it on a held-out
    split and project every row, as ``job=project``.

    Parameters
    ----------
    X : array (n, d), DataFrame or path
        The rows: a 2-D array; a DataFrame / pyarrow Table with an `embedding_column` or
        `e0..e{d-1}` columns, an `id_column` and other columns (copied to the output); or a
        file, directory or glob, streamed in row batches as ``data=files``.
    ratings : DataFrame or path
        One row per rated id: `rating_id_column` and one numeric column per axis (missing
        values allowed).
    ids : array-like, optional
        Ids of the rows of an array `X` (default: row numbers), matched to the ratings' ids.
    axes : list of str, optional
        The rating columns to fit (default: every column of `ratings` but the id).
    method : {"ridge", "ols", "cca", "compare"}
        ``compare`` fits all three and keeps the best held-out Pearson r.
    test_size : float
        Held-out share of the rated rows (< 1) or number of rows (>= 1).
    random_state : int
        Seed of the split and the cross-validation folds.
    backend : {"auto", "cpu", "gpu"}
    **options
        Any other setting of ``job=project`` (``alphas``, ``n_folds``, ``refit_all``,
        ``passthrough``, ``projection_file``, ...).

    Returns
    -------
    Result
        Tables ``projected`` (id, other columns, one column per axis; the main table) and
        ``fit`` (method, axis, pearson_r, r2, ...); metrics ``mean_pearson_r``, ``r2``, ...
    """
    from engine.jobs import project as job

    rating_table = None if inputs.is_path(ratings) else inputs.as_table(ratings, "ratings")
    if axes is None:
        names = rating_table.column_names if rating_table is not None else _file_columns(ratings)
        axes = [c for c in names if c != rating_id_column]
    params = job_params(job.Params, {"axes": list(axes), "method": method,
                                     "test_size": test_size,
                                     "rating_id_column": rating_id_column,
                                     "ratings_path": str(ratings) if rating_table is None
                                     else None}, options, "project")

    def load_ratings():
        from engine._project import ratings as R

        if rating_table is None:
            return R.read_ratings(ratings, rating_id_column, params.axes), str(ratings)
        for name in (rating_id_column, *params.axes):
            inputs.column(rating_table, name, "ratings",
                          "rating_id_column" if name == rating_id_column else "axes")
        return R.ratings_table(rating_table, rating_id_column, params.axes, "ratings"), \
            "ratings"

    def core(ctx) -> float:
        rows = inputs.embedding_rows(X, ids=ids, id_column=id_column,
                                     embedding_column=embedding_column,
                                     drop_invalid=drop_invalid, dtype=None)
        return job.compute(params, rows, load_ratings, ctx)

    return run_job("project", core, backend=backend, random_state=random_state,
                   renames=RENAMES)


def _file_columns(path: Any) -> list[str]:
    from pathlib import Path

    from engine.errors import UserError
    from engine.io.embeddings import read_schema

    if not Path(path).exists():
        raise UserError(f"ratings={path}: no such file")
    return read_schema(Path(path)).names
