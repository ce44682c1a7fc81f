"""`job=basins`: temporal consensus clustering of tweets, tracking, continuation forecasts,
tuning, early detection, lifecycle events and a time-shuffled null model (SPEC `basins`).

Coordinates: `job.coords` columns of a `data=files` table (e.g. the `project` job's
projected.parquet: id, datetime, retweet_count, favorite_count, sincerity, charity,
constructiveness). With `data=synthetic` the embeddings are projected onto the planted
good-faith axes of the generator (`truth.q`); `job.coords` then picks among sincerity,
charity, constructiveness (default: all three).

Outputs: tuning_results.parquet (tune=true), bins.parquet, train_/test_basins_summary.parquet,
early_detection.parquet, early_candidates.parquet, lifecycle_events.parquet,
assignments.parquet, validation_summary.parquet; metrics.json with the test forecasts'
scores and the same prefixed `null_` for the null model. Objective: train continuation AUROC
of the chosen parameters (forward-chaining on train, so sweeps never select on test).

Real vs null: continuation AUROC (SPEC step 6) and `basin_size_range_max` (largest max/min
size ratio over the life of a basin seen in >= 3 bins), each with its `null_` twin. The AUROC
separates them where planted basins end often enough to dominate the deaths (many short
basins: real 0.88-1.00 vs null 0.49-0.94, train margin >= 0.13 on each of seeds 0-7, see
bench/results/basins.md); with a few long basins it rests on a handful of deaths in both and
does not. `basin_size_range_max` (emergence and fading, which the shuffle destroys) separates
them in both settings. A part without deaths has a NaN AUROC.

Early detection on test uses the train part's labelled fledglings as history for the rolling
logistic regression (see `engine._basins.early`).

The grid runs in-process with `job.tune=true` (work shared between combos, resumable in the
same output directory). The same search as a Hydra multirun, one run per combo:
    python -m engine -m job=basins job.tune=false job.bin_size_days=5,7,14 \
        job.min_cluster_frac=0.002,0.005,0.01,0.02 job.lambda_factor=0,1,2 job.alpha=0.5,1,2
or with the Optuna sweeper (`hydra/sweeper=optuna_tpe`: TPE, maximise, SQLite storage that resumes) over the same keys.

With `cluster=local` (the default) the bins' bootstrap work runs in one process per core
from 20k rows up (`job.workers`; outputs do not depend on it); `cluster=dask` uses Dask.

Soft matching follows SPEC by default (tau = median centre distance, gamma = 1);
`job.softmatch_fit=true` instead fits both per transition on the earlier transitions (forward
chained), which on the synthetic tweets gives better calibrated continuation probabilities
and next-size forecasts.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import pyarrow as pa

from engine._basins import density_forecast, pipeline, significance
from engine._basins.settings import Settings
from engine.config import DataConfig
from engine.errors import UserError
from engine.run import RunContext

log = logging.getLogger("engine")
AXES = ("sincerity", "charity", "constructiveness")
HEADLINE = ("continuation_auroc", "continuation_brier", "continuation_logloss", "size_mae")
OBJECTIVES = ("continuation_auroc", "forecast_loglik")
MIN_NULL_DRAWS = 3


@dataclass
class _Name:
    name: str = "basins"


@dataclass
class Params(Settings, _Name):
    """`name` first, then the pipeline's parameters (`engine._basins.settings.Settings`: bin
    size, min_cluster_frac, recency_lambda, alpha, n_bootstrap, sample_frac, min_samples,
    min_cluster_size_global, knn_k, consensus_*, min_cosampled, low_cosample, track_gate,
    softmatch_*), then the job's own options below."""

    coords: list[str] = field(default_factory=list)  # coordinate columns (see module doc)
    retweet_column: str = "retweet_count"
    favorite_column: str = "favorite_count"
    train_split: float = 0.6
    lambda_factor: float | None = None  # when set: recency_lambda = factor x ln2 / bin_size_days
    final_n_bootstrap: int | None = None  # more runs for the final pass (default: n_bootstrap)
    # Tuning grid.
    tune: bool = True
    bin_size_candidates: list[float] = field(default_factory=lambda: [5.0, 7.0, 14.0])
    min_cluster_frac_candidates: list[float] = field(
        default_factory=lambda: [0.002, 0.005, 0.01, 0.02])
    lambda_factors: list[float] = field(default_factory=lambda: [0.0, 1.0, 2.0])  # x ln2/bin
    alpha_candidates: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    max_combos: int | None = None
    # Early detection grid.
    early_N: list[int] = field(default_factory=lambda: [2, 3])
    early_S: list[int] = field(default_factory=lambda: [1, 2])
    early_Tq: list[float] = field(default_factory=lambda: [0.5, 0.6])
    early_k_frac: list[float] = field(default_factory=lambda: [0.05, 0.10])
    # Lifecycle events.
    flow_min: float = 0.2
    growth_tol: float = 0.2
    null_model: bool = True
    # Significance (against `null_draws` time-shuffled draws through the same pipeline) and
    # the forecast of the next horizon.
    basin_alpha: float = 0.05  # family-wise over the part's basins (Sidak)
    null_draws: int = 8  # time-shuffled draws through the same pipeline (at least 3)
    horizon_days: float | None = None  # default: one bin
    # What tuning maximises and the run returns (on train): forecast_loglik | continuation_auroc.
    # The forecast separates real basins from the time-shuffled null on every planted run
    # measured; continuation AUROC often does not (bench/results/basins_planted.md).
    objective: str = "forecast_loglik"
    detect_bins: int = 4  # the basin lifetime (bins) the reported detection limit assumes
    # Processes for the per-bin work with cluster=local (0: one per core from 20k rows on);
    # results do not depend on it.
    workers: int = 0
    # Evidence per basin and bin against the null draws (engine._basins.evidence): methods
    # (all by default, [] for none), the density's candidate bandwidths (x the rows' median
    # axis spread) and decay times (x bin), its grid, and the graph's landmarks per window.
    evidence: list[str] = field(default_factory=lambda: ["density", "transport", "metastability",
                                                         "reply", "barrier", "hawkes"])
    evidence_bandwidths: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.4])
    evidence_tau_bins: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    evidence_grid_cells: int = 128
    evidence_landmarks: int = 2000
    evidence_transport_points: int = 300  # places per snapshot of the transport plan
    evidence_transport_reg: float = 0.1  # x the median squared distance
    evidence_hawkes_decay_days: float = 0.25  # decay of the self-excitation kernel, days


def settings_of(p: Params) -> Settings:
    """The pipeline settings of the job's parameters, validated."""
    check(p)
    s = Settings(**{f.name: getattr(p, f.name) for f in fields(Settings)})
    if p.lambda_factor is not None:
        s = replace(s, recency_lambda=p.lambda_factor * math.log(2) / p.bin_size_days)
    return s


def check(p: Params, data: DataConfig | None = None) -> None:
    """Refuse settings the job cannot run with, before anything is read (one line, the key)."""
    _check_grid(p)
    if p.low_cosample not in ("shrink", "drop"):
        raise UserError(f"job.low_cosample={p.low_cosample!r}: expected shrink or drop")
    if p.workers < 0:
        raise UserError(f"job.workers={p.workers}: must be >= 0 (0: one per core)")
    for key in ("n_bootstrap", "min_samples", "knn_k", "consensus_max_clusters"):
        if getattr(p, key) < 1:
            raise UserError(f"job.{key}={getattr(p, key)}: must be >= 1")
    if not 0 < p.sample_frac <= 1:
        raise UserError(f"job.sample_frac={p.sample_frac}: expected a fraction in (0, 1]")
    if not 0 < p.basin_alpha < 1:
        raise UserError(f"job.basin_alpha={p.basin_alpha}: expected a level in (0, 1)")
    if p.null_model and p.null_draws < MIN_NULL_DRAWS:
        raise UserError(f"job.null_draws={p.null_draws}: at least {MIN_NULL_DRAWS} null draws "
                        "are needed to estimate the null's tail")
    if p.horizon_days is not None and not p.horizon_days > 0:
        raise UserError(f"job.horizon_days={p.horizon_days}: must be positive (default: one bin)")
    if p.objective not in OBJECTIVES:
        raise UserError(f"job.objective={p.objective!r}: expected one of {', '.join(OBJECTIVES)}")
    if p.detect_bins < 1:
        raise UserError(f"job.detect_bins={p.detect_bins}: must be >= 1")
    _check_early(p)
    _check_evidence(p)


def _check_evidence(p: Params) -> None:
    from engine._basins import evidence

    evidence.check_methods(list(p.evidence))
    for key in ("evidence_bandwidths", "evidence_tau_bins"):
        values = getattr(p, key)
        if p.evidence and not values:
            raise UserError(f"job.{key}=[]: name at least one value")
        for v in values:
            if not v > 0:
                raise UserError(f"job.{key}={_listed(values)}: {v} is not > 0")
    for key in ("evidence_transport_reg", "evidence_hawkes_decay_days"):
        if not getattr(p, key) > 0:
            raise UserError(f"job.{key}={getattr(p, key)}: must be > 0")
    for key in ("evidence_grid_cells", "evidence_landmarks", "evidence_transport_points"):
        if getattr(p, key) < 3:
            raise UserError(f"job.{key}={getattr(p, key)}: must be >= 3")


def _check_early(p: Params) -> None:
    """The early-detection grid: windows of N bins, S of them growing (S <= N), the size
    threshold's quantile Tq, and the share k_frac of candidates flagged."""
    rules = {"early_N": (lambda v: v >= 1, "is not >= 1"),
             "early_S": (lambda v: v >= 1, "is not >= 1"),
             "early_Tq": (lambda v: 0 <= v <= 1, "is not a quantile in [0, 1]"),
             "early_k_frac": (lambda v: 0 < v <= 1, "is not a fraction in (0, 1]")}
    for key, (ok, why) in rules.items():
        values = getattr(p, key)
        if not values:
            raise UserError(f"job.{key}=[]: name at least one value")
        for v in values:
            if not ok(v):
                raise UserError(f"job.{key}={_listed(values)}: {v} {why}")
    if min(p.early_S) > max(p.early_N):
        raise UserError(f"job.early_S={_listed(p.early_S)}: every S exceeds every N in "
                        f"job.early_N={_listed(p.early_N)} (S of the N bins must grow)")


def _check_grid(p: Params) -> None:
    """The tuned values, and their candidate lists with `job.tune=true`. The single values
    are checked with tuning too: tuning replaces them, so a bad one would pass unnoticed."""
    positive = {"bin_size_days": [p.bin_size_days]}
    fractions = {"min_cluster_frac": [p.min_cluster_frac]}
    at_least_0 = {"alpha": [p.alpha], "recency_lambda": [p.recency_lambda],
                  "lambda_factor": [] if p.lambda_factor is None else [p.lambda_factor]}
    if p.tune:
        positive["bin_size_candidates"] = p.bin_size_candidates
        fractions["min_cluster_frac_candidates"] = p.min_cluster_frac_candidates
        at_least_0.update(lambda_factors=p.lambda_factors, alpha_candidates=p.alpha_candidates)
        for key in ("bin_size_candidates", "min_cluster_frac_candidates", "lambda_factors",
                    "alpha_candidates"):
            if not getattr(p, key):
                raise UserError(f"job.{key}=[]: name at least one value to tune over "
                                "(or set job.tune=false)")
        if p.max_combos is not None and p.max_combos < 1:
            raise UserError(f"job.max_combos={p.max_combos}: must be >= 1 (or null: all)")
    for key, values in positive.items():
        for v in values:
            if not v > 0:
                raise UserError(f"job.{key}={_listed(getattr(p, key))}: {v} is not > 0")
    for key, values in fractions.items():
        for v in values:
            if not 0 < v <= 1:
                raise UserError(f"job.{key}={_listed(getattr(p, key))}: {v} is not a fraction "
                                "in (0, 1] of the bin's rows")
    for key, values in at_least_0.items():
        for v in values:
            if not v >= 0:
                raise UserError(f"job.{key}={_listed(getattr(p, key))}: {v} is negative")
    if not 0 < p.train_split < 1:
        raise UserError(f"job.train_split={p.train_split}: expected a fraction in (0, 1)")
    if p.final_n_bootstrap is not None and p.final_n_bootstrap < 1:
        raise UserError(f"job.final_n_bootstrap={p.final_n_bootstrap}: must be >= 1")


def _listed(value) -> str:
    return f"[{','.join(f'{v:g}' for v in value)}]" if isinstance(value, list) else f"{value:g}"


# -- input ------------------------------------------------------------------------------------
def _counts(table: pa.Table, name: str, where: str, warnings: list[str]) -> np.ndarray:
    n = table.num_rows
    if name not in table.column_names:
        warnings.append(f"{where}: no column {name!r}; counts set to 0")
        return np.zeros(n)
    v = table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
    bad = ~np.isfinite(v)
    if bad.any():
        warnings.append(f"{where}: column {name!r} has {int(bad.sum())} missing values; set to 0")
        v[bad] = 0
    return v


def load_rows(p: Params, data: DataConfig, seed: int):
    """(Rows, warnings, planted topics or None) from data=synthetic or a data=files table."""
    topics, dropped = None, 0  # dropped: rows the embeddings' reader left out
    if data.name == "synthetic" and data.planted:
        from engine.data import planted_truth
        from engine.synthetic import planted

        truth = planted_truth(data, seed)
        table = planted.generate(truth, seed)
        axes = planted.coord_names(truth.dim)
        names = list(p.coords) or axes
        bad = [c for c in names if c not in axes]
        if bad:
            raise UserError(f"job.coords: {bad[0]!r} is not a planted axis ({', '.join(axes)})")
        coords = np.stack([table.column(c).to_numpy() for c in names], 1)
        topics = table.column("planted_basin").to_numpy()
        where = "planted basins"
        time_col = "datetime"
    elif data.name == "synthetic":
        from engine.data import open_embeddings

        source = open_embeddings(data, seed)
        names = list(p.coords) or list(AXES)
        bad = [c for c in names if c not in AXES]
        if bad:
            raise UserError(f"job.coords: {bad[0]!r} is not a synthetic axis ({', '.join(AXES)})")
        cols = [data.id_column, "datetime", p.retweet_column, p.favorite_column]
        batch = source.read([c for c in dict.fromkeys(cols)
                             if c in source.metadata_columns()])
        table = batch.table
        q = source.truth.q[:, [AXES.index(c) for c in names]]
        coords = batch.embeddings.astype(np.float64) @ q
        topics, dropped = source.topics(), source.dropped
        where = "synthetic tweets"
        time_col = "datetime"
    elif data.name == "files":
        if not data.path:
            raise UserError("data=files needs data.path=FILE|DIR|GLOB")
        table, where = read_tables(data.path)
        rows, warnings = rows_of_table(p, table, where, data.id_column, data.time_column,
                                       data.drop_invalid, data.reply_column)
        return rows, warnings, topics
    else:
        raise UserError(f"data={data.name!r}: job=basins reads data=synthetic or data=files")
    rows, warnings = _rows(p, table, coords, names, where, data.id_column, time_col,
                           data.drop_invalid, dropped)
    return rows, warnings, topics


def rows_of_table(p: Params, table: pa.Table, where: str, id_column: str, time_column: str,
                  drop_invalid: bool = False, reply_column: str | None = None):
    """(Rows, warnings) of a table with the `job.coords` columns (default: the good-faith axes
    it has), a time column and the retweet / favourite counts."""
    names = list(p.coords) or [c for c in AXES if c in table.column_names]
    if not names:
        raise UserError(f"{where}: give the coordinate columns with job.coords=[x,y]")
    for c in [id_column, time_column, *names, *([reply_column] if reply_column else [])]:
        if c not in table.column_names:
            raise UserError(f"{where}: no column {c!r}")
    coords = np.stack([table.column(c).to_numpy(zero_copy_only=False).astype(np.float64)
                       for c in names], 1)
    rows, warnings = _rows(p, table, coords, names, where, id_column, time_column, drop_invalid)
    if reply_column:
        keep = np.isfinite(coords).all(1)  # the rows _rows kept
        rows.reply_to = np.asarray(table.column(reply_column).to_pylist(), object)[keep]
    return rows, warnings


def _rows(p: Params, table: pa.Table, coords: np.ndarray, names: list[str], where: str,
          id_column: str, time_col: str, drop_invalid: bool = False, dropped: int = 0):
    """`dropped`: rows the embeddings' reader already left out (counted in n_dropped)."""
    from engine._basins.bins import to_days
    from engine._basins.settings import Rows
    from engine.io.times import to_datetime64

    warnings: list[str] = []
    ids = table.column(id_column).to_numpy(zero_copy_only=False)
    times = to_datetime64(table.column(time_col), f"{where}: column {time_col!r}", ids)
    bad = ~np.isfinite(coords).all(1)
    if bad.any() and not drop_invalid:
        raise UserError(f"{where}: coordinates {names} missing or not finite at id "
                        f"{ids[bad][:1].tolist()[0]!r} (set data.drop_invalid=true to "
                        "drop such rows)")
    if bad.any():
        table, coords, ids, times = (table.filter(pa.array(~bad)), coords[~bad], ids[~bad],
                                     times[~bad])
    if len(coords) and not np.any(np.ptp(coords, axis=0) > 0):
        raise UserError(f"{where}: all rows have identical coordinates {names}; "
                        "nothing to cluster")
    rows = Rows(ids, to_days(times) if len(times) else np.zeros(0), coords,
                _counts(table, p.retweet_column, where, warnings),
                _counts(table, p.favorite_column, where, warnings), names,
                times.min() if len(times) else None,
                n_dropped=int(bad.sum()) + dropped)
    for w in warnings:
        log.warning(w)
    return rows, warnings


def read_tables(path: str) -> tuple[pa.Table, str]:
    import pyarrow.csv as pacsv
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    from engine.io.embeddings import TABLE_SUFFIXES, check_csv_text, expand_paths

    files = expand_paths(path, TABLE_SUFFIXES)
    parts = []
    for f in files:
        try:
            if f.suffix.lower() in (".parquet", ".pq"):
                parts.append(pq.read_table(f))
            elif f.suffix.lower() == ".csv":
                parts.append(pacsv.read_csv(f))
                check_csv_text(parts[-1].schema, f)
            else:
                parts.append(feather.read_table(f))
        except (pa.ArrowInvalid, OSError) as exc:
            raise UserError(f"{f}: cannot read: {str(exc).splitlines()[0]}") from None
    try:
        table = pa.concat_tables(parts, promote_options="default")
    except pa.ArrowInvalid as exc:
        raise UserError(f"{path}: files have different columns: {exc}") from None
    return table, str(files[0]) if len(files) == 1 else str(Path(path))


# -- tables -----------------------------------------------------------------------------------
def _table(columns: dict) -> pa.Table:
    return pa.table({k: pa.array(np.asarray(v).tolist() if np.asarray(v).dtype == object else v)
                     for k, v in columns.items()})


def bins_table(part: str, result, coord_names: list[str], start) -> pa.Table:
    t = result.table
    day = result.bins.starts[t["bin"].astype(int)] if len(t["bin"]) else np.zeros(0)
    cols = {"part": np.full(len(t["bin"]), part), "bin": t["bin"].astype(np.int64),
            "bin_start_day": day}
    if start is not None:
        cols["bin_start"] = start + (day * 86400e9).astype("int64").astype("timedelta64[ns]")
    cols["cluster"] = t["cluster"].astype(np.int64)
    cols["size"] = t["size"].astype(np.int64)
    for j, name in enumerate(coord_names):
        cols[f"centre_{name}"] = t["centre"][:, j] if len(t["bin"]) else np.zeros(0)
    for k in ("confidence", "spread", "basin_id", "reappeared", "age", "prev_size", "p_cont",
              "expected_next_size", "continued", "next_size", "n_points", "min_size",
              "coverage", "n_never_sampled", *SCAN_COLUMNS):
        if k in t:
            cols[k] = t[k]
    cols["continued"] = np.where(t["has_next"].astype(bool), t["continued"], False)
    return _table(cols)


def assignments_table(part: str, rows, result) -> pa.Table:
    ids, bins, cl, basin, conf = [], [], [], [], []
    offset_basin = result.tracks.basin
    for b, idx in enumerate(result.members):
        c = result.consensus[b]
        ids.append(rows.ids[idx])
        bins.append(np.full(len(idx), b))
        cl.append(c.labels)
        bmap = offset_basin[b]
        basin.append(np.where(c.labels >= 0, bmap[np.maximum(c.labels, 0)] if len(bmap) else -1, -1))
        conf.append(c.point_conf)
    def cat(v):
        return (np.concatenate(v) if v else np.zeros(0))
    return pa.table({"id": pa.array(cat(ids)), "part": np.full(len(cat(bins)), part),
                     "bin": cat(bins).astype(np.int64), "cluster": cat(cl).astype(np.int64),
                     "basin_id": cat(basin).astype(np.int64), "confidence": cat(conf)})


# -- run --------------------------------------------------------------------------------------
def run(params: Params, data: DataConfig, ctx: RunContext) -> float:
    check(params, data)  # refused before the rows are read
    with ctx.stage("load"):
        rows, warnings, _ = load_rows(params, data, ctx.seed)
    return compute(params, rows, warnings, ctx)


def compute(params: Params, rows, warnings: list[str], ctx: RunContext) -> float:
    """Tuning, final pass, null draws, forecast, early detection and summaries of loaded rows
    (`engine._basins.settings.Rows`): the job after `load`, shared by
    `python -m engine job=basins` and `engine.basins`."""
    from engine._basins.workers import LocalPool

    with LocalPool(1) as pool:
        return _run(params, rows, warnings, ctx, pool)


def _run(params: Params, rows, warnings: list[str], ctx: RunContext, pool) -> float:
    import pyarrow.parquet as pq

    from engine._basins import early, evidence, lifecycle, summary, tuning
    from engine._basins.bins import split_point

    s = settings_of(params)
    ctx.record(n_rows=len(rows.ids), coords=rows.coord_names, input_warnings=warnings,
               n_dropped_rows=rows.n_dropped)
    if len(rows.ids) == 0:
        raise UserError("no rows to cluster")
    span = float(rows.days.max() - rows.days.min())
    if span < params.bin_size_days or (params.tune and span < min(params.bin_size_candidates)):
        raise UserError(f"the time range ({span:.2f} days) is shorter than one bin "
                        f"(job.bin_size_days={params.bin_size_days})")
    start, cut = float(rows.days.min()), split_point(rows.days, params.train_split)
    stop = float(rows.days.max()) + 1e-9
    if params.horizon_days is not None and params.horizon_days > stop - cut:
        raise UserError(f"job.horizon_days={params.horizon_days}: longer than the test part "
                        f"({stop - cut:.1f} days); at most {stop - cut:.1f}")
    backend = ctx.backend.name
    mapper = ctx.map  # Dask, or in-process on GPU
    if ctx.cluster is None and not ctx.backend.gpu:
        from engine._basins.workers import n_workers

        pool.n = n_workers(params.workers, len(rows.ids))
        mapper = pool.map
        ctx.record(workers=pool.n)
        if pool.n > 1:
            from engine._basins.hdbscan_ops import compile_cpu_kernels

            with ctx.stage("kernels"):  # compiled once here, not in every worker
                compile_cpu_kernels(s.min_samples)
    early_grid = {"Ns": tuple(params.early_N), "Ss": tuple(params.early_S),
                  "Tqs": tuple(params.early_Tq), "k_fracs": tuple(params.early_k_frac)}

    # 8. Tuning on train (resumable).
    tuning_rows: list[dict] = []
    if params.tune:
        combos = tuning.make_grid(params.bin_size_candidates, params.min_cluster_frac_candidates,
                                  params.lambda_factors, params.alpha_candidates,
                                  params.max_combos, ctx.seed)
        path = ctx.path("tuning_results.parquet")
        done = pq.read_table(path).to_pylist() if path.exists() else []
        wanted = {tuning.combo_key(c) for c in combos}
        done = [r for r in done if tuning.combo_key(r) in wanted and params.objective in r]
        if done:
            log.info("tuning: %d of %d combos already in %s", len(done), len(combos), path)

        def save(row: dict) -> None:
            tuning_rows.append(row)
            ctx.write_table("tuning_results.parquet", pa.Table.from_pylist(done + tuning_rows))

        with ctx.stage("tuning"):
            all_rows = tuning.tune(rows, start, cut, s, combos, done, ctx.seed, mapper, save,
                                   early_grid, backend, ctx.cache if ctx.cache.enabled else None,
                                   ctx.progress, params.objective, params.horizon_days)
        best = tuning.best_combo(all_rows, params.objective)
        s = replace(s, bin_size_days=best["bin_size_days"],
                    min_cluster_frac=best["min_cluster_frac"],
                    recency_lambda=best["recency_lambda"], alpha=best["alpha"])
        ctx.record(n_combos=len(all_rows), n_combos_run=len(all_rows) - len(done),
                   best_params={k: best[k] for k in (*tuning.TUNED, "recency_lambda")},
                   tuning_objective=best.get(params.objective, float("nan")))
        log.info("best parameters: %s", ctx.metrics["best_params"])
    final = replace(s, n_bootstrap=params.final_n_bootstrap or s.n_bootstrap)
    cache = ctx.cache if ctx.cache.enabled else None

    # 9. Final pass on train and test with the chosen parameters.
    spans = {"train": (start, cut, 0), "test": (cut, stop, 1)}
    results = {}
    with ctx.stage("final"):
        for part, (a, b, pid) in spans.items():
            pd = tuning.prepare_part(rows, a, b, final.bin_size_days, final.knn_k, pid, cache)
            results[part] = tuning.run_part(rows, pd, final, ctx.seed, mapper, backend, cache)
    train, test = results["train"], results["test"]
    if test.bins.n_bins < 2:
        log.warning("test part has %d bin(s): no transitions to score", test.bins.n_bins)
    check_rows_per_bin(results, final)

    # 11. Strength of every basin; significance against null draws run through the same
    # pipeline (10: draw 0 is also the null model of the scores).
    xp = ctx.backend.xp
    sig = {part: basin_significance(rows, r, xp, ctx.seed) for part, r in results.items()}
    null_rows, null_results, draws = None, None, {part: [] for part in spans}
    if params.null_model:
        with ctx.stage("null draws"):
            for j in ctx.progress(range(params.null_draws), params.null_draws, "null draws"):
                shuffled = rows.permuted_times(ctx.seed, j)
                pds = [tuning.prepare_part(shuffled, a, b, final.bin_size_days, final.knn_k,
                                           pid, cache) for a, b, pid in spans.values()]
                res = tuning.run_parts([(shuffled, pd) for pd in pds], final, ctx.seed, mapper,
                                       backend, cache)
                for part, r in zip(spans, res, strict=True):
                    draws[part].append(basin_significance(shuffled, r, xp, ctx.seed)["strength"])
                if j == 0:
                    null_rows, null_results = shuffled, dict(zip(spans, res, strict=True))
        for part in spans:
            pooled = np.concatenate(draws[part])
            p_value = significance.sidak_pvalues(sig[part]["strength"], pooled)
            sig[part].update(p_value=p_value, null_strengths=pooled,
                             **one_per_place(sig[part], p_value <= params.basin_alpha))
    else:
        for part in spans:
            n = len(sig[part]["strength"])
            sig[part].update(p_value=np.full(n, np.nan), significant=np.zeros(n, bool),
                             duplicate_of=np.full(n, -1, np.int64))
    for part, r in results.items():
        mark_significant(r.table, sig[part])

    # 13. Evidence per basin and bin, against the same null draws.
    evidence_cols = None
    if params.evidence:
        opts = evidence.Options(
            final.bin_size_days, bandwidths=list(params.evidence_bandwidths),
            tau_bins=list(params.evidence_tau_bins), grid=params.evidence_grid_cells,
            landmarks=params.evidence_landmarks, knn_k=final.knn_k, seed=ctx.seed,
            alpha=final.alpha, transport_points=params.evidence_transport_points,
            transport_reg=params.evidence_transport_reg,
            hawkes_decay_days=params.evidence_hawkes_decay_days)
        with ctx.stage("evidence"):
            evidence_cols, info, field = evidence.of_job(
                rows, results, list(params.evidence), opts,
                params.null_draws if params.null_model else 0, xp)
        ctx.record(**info)
        ctx.write_table("evidence.parquet", _table(evidence_cols))
        ctx.write_table("evidence_field.parquet", _table(field))
    detection = {}
    if params.null_model:
        with ctx.stage("detection limit"):
            detection, injected = measure_detection(
                rows, spans["test"][:2], sig["test"]["null_strengths"], final, params,
                ctx.seed, mapper, backend, xp, cache)
        ctx.write_table("detection.parquet", injected)

    # 12. Forecast of where the next horizon's tweets land, against its baselines.
    horizon = params.horizon_days or final.bin_size_days
    with ctx.stage("forecast"):
        forecasts, history, null_history = {}, [], []
        for part, r in results.items():
            a, b, pid = spans[part]
            tg = density_forecast.targets(rows.coords, rows.days, r.bins.ends, r.members, b,
                                          horizon, ctx.seed, pid)
            null = (null_rows.days, null_results[part], null_history) if null_results else None
            forecasts[part] = density_forecast.forecast_part(rows.coords, r, tg, horizon,
                                                             history, ctx.seed, null)
        ctx.write_table("forecast.parquet", pa.concat_tables(
            [_table(forecasts[part].table(part)) for part in results]))

    # 7. Early detection: settings chosen on train, applied to test with train's T.
    with ctx.stage("early detection"):
        train_sizes = train.table["size"]
        grid_rows = early.early_grid(train.table, train.bins.n_bins, train_sizes, **early_grid)
        best_early = early.best_setting(grid_rows)
        ed = [{"part": "train", **r, "chosen": r is best_early} for r in grid_rows]
        cands_table = None
        if best_early is not None:
            setting = (best_early["N"], best_early["S"], best_early["T"])
            history = early.labelled_candidates(train.table, train.bins.n_bins, *setting)
            m, cands = early.evaluate_setting(test.table, test.bins.n_bins, *setting,
                                              best_early["k_frac"], history=history)
            ed.append({"part": "test", **m, "Tq": best_early["Tq"], "chosen": True})
            ed.append({"part": "test_significant", **early.subset_metrics(
                cands, test.table["basin_significant"][cands["row"]]),
                "N": best_early["N"], "S": best_early["S"], "T": best_early["T"],
                "k_frac": best_early["k_frac"], "Tq": best_early["Tq"], "chosen": False})
            cands_table = _table({k: v for k, v in cands.items() if k != "row"})
        ctx.write_table("early_detection.parquet", pa.Table.from_pylist(ed))
        if cands_table is not None:
            ctx.write_table("early_candidates.parquet", cands_table)
        test_early = ed[-2] if best_early is not None else {}
        test_early_sig = ed[-1] if best_early is not None else {}

    # Lifecycle events and summaries.
    with ctx.stage("lifecycle"):
        events = []
        for part, r in results.items():
            spreads = [r.table["spread"][r.table["bin"] == b] for b in range(r.bins.n_bins)]
            sizes = [r.table["size"][r.table["bin"] == b] for b in range(r.bins.n_bins)]
            ev = lifecycle.part_events(rows.coords, r.members,
                                       [c.labels for c in r.consensus], r.centres, spreads,
                                       sizes, r.tracks.basin, r.tracks.reappeared,
                                       params.flow_min, params.growth_tol)
            events += [{"part": part, **e} for e in ev]
        ev_table = pa.Table.from_pylist(events) if events else pa.table(
            {"part": pa.array([], pa.string()), "bin": pa.array([], pa.int64()),
             "event": pa.array([], pa.string())})
        ctx.write_table("lifecycle_events.parquet", ev_table)
        sums = {part: {**summary.basin_summary(r.table, final.bin_size_days),
                       **summary.basin_places(r.table, r.bins, rows.coord_names),
                       **{k: sig[part][k] for k in SIGNIFICANCE_COLUMNS},
                       **{f"core_{c}": sig[part]["core"][:, j]
                          for j, c in enumerate(rows.coord_names)}}
                for part, r in results.items()}
        for part in results:
            if evidence_cols is not None:
                sums[part]["evidence_z"] = evidence.combined(evidence_cols, part,
                                                             sums[part]["basin_id"])
                sums[part]["evidence_growth_z"] = evidence.combined(
                    evidence_cols, part, sums[part]["basin_id"], "density_growth", np.max)
            ctx.write_table(f"{part}_basins_summary.parquet", _table(sums[part]))
        validation = summary.validation_summary(
            sums["train"], sums["test"], train.metrics["continuation_auroc"],
            test.metrics["continuation_auroc"])
        ctx.write_table("validation_summary.parquet", pa.Table.from_pylist([validation]))
        ctx.write_table("bins.parquet", pa.concat_tables(
            [bins_table(part, r, rows.coord_names, rows.start) for part, r in results.items()]))
        ctx.write_table("assignments.parquet", pa.concat_tables(
            [assignments_table(part, rows, r) for part, r in results.items()]))

    null = {}
    if null_results is not None:
        for prefix, part in (("", "test"), ("train_", "train")):
            null.update({f"{prefix}{k}": v for k, v in null_results[part].metrics.items()})
            loo = significance.leave_one_out_counts(draws[part], params.basin_alpha)
            null[f"{prefix}n_significant_basins"] = float(np.mean(loo))
            null[f"{prefix}any_significant_rate"] = float(np.mean(np.asarray(loo) > 0))

    event_counts = {}
    for e in events:
        event_counts[e["event"]] = event_counts.get(e["event"], 0) + 1
    ctx.record(
        **{k: test.metrics.get(k, float("nan")) for k in test.metrics},
        **{f"train_{k}": v for k, v in train.metrics.items()},
        **{f"null_{k}": null.get(k, float("nan")) for k in {*HEADLINE, *null}},
        early_precision_at_k=test_early.get("precision_at_k", float("nan")),
        early_kappa_lift=test_early.get("kappa_lift", float("nan")),
        early_mean_lead_bins=test_early.get("mean_lead_bins", float("nan")),
        train_early_kappa_lift=best_early["kappa_lift"] if best_early else float("nan"),
        lifecycle_events=event_counts,
        overfitting_risk=validation["overfitting_risk"],
        params_used={"bin_size_days": final.bin_size_days,
                     "min_cluster_frac": final.min_cluster_frac,
                     "recency_lambda": final.recency_lambda, "alpha": final.alpha,
                     "n_bootstrap": final.n_bootstrap, "min_samples": final.min_samples},
        n_train_bins=train.bins.n_bins, n_test_bins=test.bins.n_bins,
        n_rows_outside_bins=int(len(rows.ids) - sum(len(m) for m in train.members)
                                - sum(len(m) for m in test.members)),
    )
    for prefix, part in (("", "test"), ("train_", "train")):
        r, sg = results[part], sig[part]
        keep = r.table["basin_significant"]
        ctx.record(**{
            f"{prefix}n_significant_basins": int(sg["significant"].sum()),
            f"{prefix}max_basin_strength": significance.null_maximum(sg["strength"]),
            **{f"{prefix}significant_{k}": v
               for k, v in pipeline.table_scores(r.table, keep).items()},
            f"{prefix}significant_n_clusters": int(keep.sum()),
            **{f"{prefix}{k}": v for k, v in forecasts[part].metrics().items()}})
    ctx.record(
        significant_early_precision_at_k=test_early_sig.get("precision_at_k", float("nan")),
        significant_early_kappa_lift=test_early_sig.get("kappa_lift", float("nan")),
        basin_alpha=params.basin_alpha, null_draws=params.null_draws if params.null_model else 0,
        horizon_days=horizon, **detection)
    key = f"train_{params.objective}"
    objective = ctx.metrics.get(key, float("nan"))
    return float(objective) if np.isfinite(objective) else 0.0


SCAN_COLUMNS = ("region_count", "region_expected", "cluster_llr", "density_ratio",
                "basin_strength", "basin_p_value", "basin_significant")
SIGNIFICANCE_COLUMNS = ("strength", "p_value", "significant", "duplicate_of", "density_ratio",
                        "excess", "region_count", "region_expected", "active_first_day",
                        "active_last_day")


def basin_significance(rows, result, xp=np, seed: int = 0) -> dict[str, np.ndarray]:
    """The cluster-level scan statistics of a part (added to its table) and its basins'
    strengths (engine._basins.significance)."""
    scan = significance.cluster_scan(rows.coords, result.bins.row_bin, result.bins.n_bins,
                                     result.table, xp, seed)
    for k in ("region_count", "region_expected", "cluster_llr", "density_ratio"):
        result.table[k] = scan[k]
    stitched = significance.stitch_tracks(result.table)
    renamed = dict(zip(result.table["basin_id"].tolist(), stitched.tolist(), strict=True))
    result.table["basin_id"] = stitched
    result.tracks.basin = [np.array([renamed.get(int(b), int(b)) for b in bins], np.int64)
                           for bins in result.tracks.basin]
    out = significance.basin_strength(result.table["basin_id"], result.table["bin"],
                                      scan["region_count"], scan["region_expected"])
    # The window's days: its clusters' bins, and the next bin its last one was scored on.
    ends = result.bins.ends
    out["active_first_day"] = result.bins.starts[out["window_first_bin"]] if len(ends) else \
        np.zeros(0)
    out["active_last_day"] = ends[np.minimum(out["window_last_bin"] + 1, len(ends) - 1)] \
        if len(ends) else np.zeros(0)
    # Where the basin is: the core of its window's most evident cluster (largest cluster
    # LLR; a window's clusters can include one that swallowed a neighbour for a bin).
    t = result.table
    at = np.searchsorted(out["basin_id"], t["basin_id"])
    inside = (t["bin"] >= out["window_first_bin"][at]) & (t["bin"] <= out["window_last_bin"][at])
    core = np.zeros((len(out["basin_id"]), len(rows.coord_names)))
    out["core_radius"] = np.zeros(len(core))
    for b in range(len(core)):
        rows_b = np.flatnonzero(inside & (at == b))
        evident = rows_b[np.argmax(t["cluster_llr"][rows_b])]
        core[b], out["core_radius"][b] = t["core_centre"][evident], t["core_radius"][evident]
    out["core"] = core
    return out


def one_per_place(sig: dict[str, np.ndarray], passed: np.ndarray) -> dict[str, np.ndarray]:
    """`significant`: passed the null, and not a duplicate of a stronger significant basin
    at the same place and time; `duplicate_of`: that basin's id, or -1."""
    dup = significance.duplicates(passed, sig["strength"], sig["core"], sig["core_radius"],
                                  sig["active_first_day"], sig["active_last_day"])
    return {"significant": passed & (dup < 0),
            "duplicate_of": np.where(dup >= 0, sig["basin_id"][np.maximum(dup, 0)], -1)}


def mark_significant(table: dict[str, np.ndarray], sig: dict[str, np.ndarray]) -> None:
    """Each cluster row gets its basin's strength, p-value and significance."""
    at = np.searchsorted(sig["basin_id"], table["basin_id"])
    for k, name in (("strength", "basin_strength"), ("p_value", "basin_p_value"),
                    ("significant", "basin_significant")):
        v = np.asarray(sig[k])
        table[name] = v[at] if len(at) else v[:0]


def check_rows_per_bin(results: dict, s: Settings) -> None:
    """Too few rows per bin to cluster anything is one error naming the bin size."""
    sizes = np.concatenate([[len(m) for m in r.members] for r in results.values()])
    need = max(s.min_cluster_size_global, s.min_samples + 1)
    if len(sizes) == 0 or np.median(sizes) < 2 * need:
        raise UserError(
            f"job.bin_size_days={s.bin_size_days} gives {float(np.median(sizes) if len(sizes) else 0):.0f} "
            f"rows per bin (median); at least {2 * need} are needed to test for basins "
            f"(2 x max(job.min_cluster_size_global, job.min_samples + 1)): use longer bins")


def measure_detection(rows, part: tuple[float, float], null_strengths: np.ndarray, s: Settings,
                      p: Params, seed: int, mapper, backend: str, xp, cache
                      ) -> tuple[dict[str, float], pa.Table]:
    """The weakest basin this data could show as significant, measured on the test part by
    injection (engine._basins.injection): metrics and the per-basin table."""
    from engine._basins import injection, tuning

    inj = injection.inject(rows, *part, p.detect_bins * s.bin_size_days, seed)
    pd = tuning.prepare_part(inj.rows, *part, s.bin_size_days, s.knn_k, 1, cache)
    r = tuning.run_part(inj.rows, pd, s, seed, mapper, backend, cache)
    sg = basin_significance(inj.rows, r, xp, seed)
    p_value = significance.sidak_pvalues(sg["strength"], null_strengths)
    sg.update(p_value=p_value, **one_per_place(sg, p_value <= p.basin_alpha))
    found = injection.recovered(inj, sg["core"], sg["active_first_day"], sg["active_last_day"],
                                sg["significant"])
    ladder = np.asarray(injection.LADDER)
    limit = injection.limit(ladder, found)
    per_bin = inj.rows_per_day * s.bin_size_days
    table = pa.table({"intensity": ladder, "rows_per_bin": ladder * per_bin,
                      "days_alive": inj.truth.windows[:, 1] - inj.truth.windows[:, 0],
                      "recovered": found})
    threshold = significance.strength_threshold(null_strengths, len(sg["strength"]),
                                                p.basin_alpha)
    return {"detection_threshold_strength": threshold,
            "detection_limit_intensity": limit,
            "detection_limit_rows_per_bin": limit * per_bin,
            "detection_recovered": int(found.sum())}, table
