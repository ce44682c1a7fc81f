"""`job=project`: fit a linear map from embeddings to rated axes, then project every row.

Reads the ratings (`job.ratings_path`, or the synthetic corpus's own with data=synthetic),
joins them to the embeddings by id, fits `job.method` (ols | ridge | cca, or compare: all
three) on a seeded train split, scores it on the held-out rows, saves the map and streams all
rows through it. `job.projection_file=...` reuses a saved map without fitting.

Artifacts: `projection.npz`, `fit.parquet` (method, axis, pearson_r, r2, n_train, n_test,
alpha), `projected.parquet` (id, passthrough columns, one float32 column per axis).
Objective: the mean held-out Pearson r of the chosen method (higher is better; with
`job.projection_file`, the one stored in the file).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.config import DataConfig
from engine.errors import UserError
from engine.run import RunContext

log = logging.getLogger("engine")


@dataclass
class Params:
    name: str = "project"
    ratings_path: str | None = None  # id + one column per axis; None: synthetic ratings
    rating_id_column: str = "id"
    axes: list[str] = field(default_factory=lambda: ["sincerity", "charity", "constructiveness"])
    method: str = "ridge"  # ols | ridge | cca | compare (fits all, keeps the best held-out r)
    test_size: float = 0.2  # < 1: fraction of the rated rows; >= 1: number of rows (seed: 5000)
    alphas: list[float] = field(default_factory=lambda: [float(a) for a in np.logspace(-3, 4, 15)])
    n_folds: int = 5  # ridge: k-fold CV on the training rows
    cca_components: int = 1  # joint CCA only; a per-axis CCA has one component
    cca_joint: bool = False  # one CCA on all axes instead of one per axis
    refit_all: bool = False  # refit the chosen method on all rated rows before applying
    projection_file: str | None = None  # apply this saved projection.npz, skip fitting
    passthrough: list[str] | None = None  # columns copied to projected.parquet; None: all
    apply: bool = True  # write projected.parquet


def run(params: Params, data: DataConfig, ctx: RunContext) -> float:
    from engine.data import open_embeddings

    check(params, data)
    source = open_embeddings(data, ctx.seed, dtype=None)  # float16 stays float16
    return compute(params, source, lambda: _load_ratings(params, data, source), ctx)


def compute(params: Params, source, load_ratings: Callable[[], tuple], ctx: RunContext) -> float:
    """Fit (or load) the map and project every row of `source` (a row source of
    `engine.data`); `load_ratings()` gives (ratings table, where it came from). Shared by
    `python -m engine job=project` and `engine.project`."""
    from engine._project.linear_map import LinearMap

    ctx.record(dim=source.dim)
    if params.projection_file:
        lmap = LinearMap.load(params.projection_file)
        if lmap.dim != source.dim:
            raise UserError(f"{params.projection_file}: projection has dimension {lmap.dim}, "
                            f"but the embeddings have {source.dim}")
        objective = float(np.nanmean(lmap.heldout_r)) if np.isfinite(lmap.heldout_r).any() \
            else float("nan")
        ctx.record(method=lmap.method, axes=lmap.axes)
    else:
        lmap, objective = _fit(params, load_ratings, source, ctx)
    lmap.save(ctx.path("projection.npz"))
    if params.apply:
        _apply(params, source, lmap, ctx)
    else:
        ctx.record(n_rows=0)
    return objective


def _load_ratings(params: Params, data: DataConfig, source):
    """(ratings table: id + one float64 column per axis, where it came from)."""
    from engine._project import ratings

    if params.ratings_path:
        where = params.ratings_path
        return ratings.read_ratings(where, params.rating_id_column, params.axes), where
    if data.name != "synthetic":
        raise UserError("job.ratings_path is required (a table with an id column and one "
                        "column per axis)")
    where = "synthetic ratings"
    table = source.ratings()
    missing = [a for a in params.axes if a not in table.column_names]
    if missing:
        raise UserError(f"job.axes: synthetic ratings have no axis {missing[0]!r} "
                        f"(they have {', '.join(table.column_names[1:])})")
    return ratings.ratings_table(table, "id", params.axes, where), where


def _fit(params: Params, load_ratings: Callable[[], tuple], source, ctx: RunContext):
    import pyarrow as pa
    from threadpoolctl import threadpool_limits

    from engine._project import fit, ratings

    with ctx.stage("load ratings"):
        table, where = load_ratings()
    with ctx.stage("join"):
        rated = ratings.join(table, source.batches([]), params.axes, where)  # ids only
        ratings.check_axes(rated, where)
    if rated.n_unknown:
        log.warning("%s: %d of %d rated ids have no embedding (e.g. %s); they are left out",
                    where, rated.n_unknown, rated.n_ratings, rated.unknown_examples)
    settings = fit.FitSettings([float(a) for a in params.alphas], params.n_folds,
                               params.cca_components, params.cca_joint, ctx.seed)
    # The rated matrices are small: BLAS threads cost more than they give (and on shared
    # cores they spin), so the fit runs single-threaded.
    with ctx.stage("fit"), threadpool_limits(1, user_api="blas"):
        train, test = fit.split_rated(rated.y, params.axes, params.test_size, ctx.seed,
                                      min_train=max(2 * params.n_folds, 5))
        methods = fit.METHODS if params.method == "compare" else (params.method,)
        xp = ctx.backend.xp
        maps, rows = {}, []
        for method in methods:
            maps[method] = fit.fit_map(method, rated.x, rated.y, params.axes, train, settings,
                                       xp)
            rows += fit.evaluate(maps[method], rated.x, rated.y, train, test)
        mean_r = {m: float(np.nanmean([r["pearson_r"] for r in rows if r["method"] == m]))
                  for m in methods}
        chosen = max(methods, key=lambda m: (np.nan_to_num(mean_r[m], nan=-np.inf),
                                             -methods.index(m)))
        lmap = maps[chosen]
        lmap.heldout_r = np.array([r["pearson_r"] for r in rows if r["method"] == chosen])
        if params.refit_all:
            rated_rows = np.flatnonzero(~np.isnan(rated.y).all(axis=1))
            refit = fit.fit_map(chosen, rated.x, rated.y, params.axes, rated_rows, settings, xp,
                                ridge_alpha=lmap.alpha if chosen == "ridge" else None)
            refit.heldout_r = lmap.heldout_r
            lmap = refit
    ctx.write_table("fit.parquet", pa.Table.from_pylist(rows))
    ctx.record(
        refit_all=params.refit_all, method=chosen, axes=params.axes, n_ratings=rated.n_ratings,
        n_ratings_unknown_id=rated.n_unknown, n_rated_rows=len(rated.y),
        n_train=len(train), n_test=len(test), mean_pearson_r=mean_r,
        pearson_r={r["axis"]: r["pearson_r"] for r in rows if r["method"] == chosen},
        r2={r["axis"]: r["r2"] for r in rows if r["method"] == chosen},
        alpha={a: float(v) for a, v in zip(params.axes, lmap.alpha, strict=True)},
    )
    for r in rows:
        log.info("%-6s %-18s r=%.4f R2=%.4f", r["method"], r["axis"], r["pearson_r"], r["r2"])
    return lmap, mean_r[chosen]


def check(params: Params, data: DataConfig) -> None:
    """Refuse settings the job cannot run with, before anything is read (one line, the key)."""
    from engine._project.fit import METHODS

    if params.method not in (*METHODS, "compare"):
        raise UserError(f"job.method={params.method!r}: expected one of "
                        f"{', '.join(METHODS)}, compare")
    if not params.axes:
        raise UserError("job.axes: name at least one rating column")
    if len(set(params.axes)) != len(params.axes):
        raise UserError(f"job.axes={list(params.axes)}: an axis is named twice")
    if params.test_size <= 0:
        raise UserError(f"job.test_size={params.test_size:g}: must be positive")
    if params.n_folds < 2:
        raise UserError(f"job.n_folds={params.n_folds}: need at least 2 folds")
    if not params.alphas or min(params.alphas) <= 0:
        raise UserError("job.alphas: need one or more positive penalties")
    if not params.cca_joint and params.cca_components != 1:
        raise UserError(f"job.cca_components={params.cca_components} needs job.cca_joint=true "
                        f"(a CCA per axis has one component)")
    if params.cca_joint and not 1 <= params.cca_components <= len(params.axes):
        raise UserError(f"job.cca_components={params.cca_components}: must be between 1 and "
                        f"the number of axes ({len(params.axes)})")


def _apply(params: Params, source, lmap, ctx: RunContext) -> None:
    import time

    from engine._project.stream import write_projected

    available = source.metadata_columns()
    id_column = available[0]
    if params.passthrough is None:
        columns = [c for c in available if c not in lmap.axes]
    else:
        clash = [c for c in params.passthrough if c in lmap.axes]
        if clash:
            raise UserError(f"job.passthrough: column {clash[0]!r} has the name of an axis")
        columns = [id_column, *[c for c in params.passthrough if c != id_column]]
    if ctx.backend.gpu:
        from engine._project.apply_gpu import gpu_projections as projections
    else:
        from engine._project.apply import cpu_projections as projections
    n_batches = -(-source.n_rows // max(1, getattr(source, "batch_rows", 1)))
    with ctx.stage("apply"):
        t0 = time.perf_counter()
        pairs = projections(source.batches(columns[1:]), lmap)  # the id comes first anyway
        n = write_projected(ctx.path("projected.parquet"),
                            ctx.progress(pairs, n_batches, "project"), columns, lmap.axes)
        seconds = time.perf_counter() - t0
    ctx.record(n_rows=n, apply_rows_per_s=round(n / max(seconds, 1e-9)),
               n_dropped_rows=getattr(source, "dropped", 0), passthrough=columns[1:])
