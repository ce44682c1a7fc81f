"""`job=pipeline`: project -> basins -> communities -> balance on one dataset, one report.

Each stage runs its job module's `run(params, data, ctx)` into a subdirectory of the run
(`project/`, `basins/`, `communities/`, `balance/`, each with its own metrics.json and
report.html); stages hand data on through files:
- basins clusters `project/projected.parquet` on the projected axes;
- communities clusters the embeddings;
- balance scores user pairs inside the communities, from `balance_input.parquet`
  (id, user, category, embedding, cluster = community).
Stage parameters are the jobs' own: `job.basins.n_bootstrap=20`, `job.project.method=ols`.
Every stage's settings are checked (each job's own `check`) before the first stage runs, and
an error names the full key (`job.communities.k=0`, not `job.k=0`).
The objective is the basins stage's continuation AUROC (the seed's tuning objective).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.config import DataConfig
from engine.errors import UserError
from engine.jobs import balance, basins, communities, project
from engine.run import RunContext

log = logging.getLogger("engine")


@dataclass
class Params:
    name: str = "pipeline"
    project: project.Params = field(default_factory=project.Params)
    # No tuning grid by default: `job.basins.tune=true` runs the seed's 108 combinations.
    basins: basins.Params = field(default_factory=lambda: basins.Params(tune=False))
    communities: communities.Params = field(default_factory=communities.Params)
    balance: balance.Params = field(default_factory=lambda: balance.Params(
        max_users_per_cluster=40))
    summary: bool = True  # print the summary table on the terminal


# Figures shown per stage in the summary (those present in the stage's metrics).
HEADLINES = {
    "project": ("method", "n_rows"),
    "basins": ("continuation_auroc", "null_continuation_auroc", "n_train_bins"),
    "communities": ("n_communities", "modularity"),
    "balance": ("n_pairs", "mean_dist"),
}


def stage_params(params: Params) -> dict[str, tuple[Any, Any]]:
    """(job module, its parameters as the pipeline runs it) per stage, in order."""
    coords = list(params.basins.coords) or list(params.project.axes)
    return {"project": (project, params.project),
            "basins": (basins, dataclasses.replace(params.basins, coords=coords)),
            "communities": (communities,
                            dataclasses.replace(params.communities, input="embeddings")),
            "balance": (balance, params.balance)}


def check(params: Params, data: DataConfig) -> None:
    """Every stage's settings, before the first stage runs (a late stage's bad setting
    would otherwise fail after the earlier stages had run for minutes)."""
    if data.name not in ("synthetic", "files"):
        raise UserError(f"data={data.name!r}: job=pipeline needs tweet embeddings "
                        "(data=synthetic or data=files)")
    for name, (module, p) in stage_params(params).items():
        with qualified_keys(name):
            module.check(p, data)


# A setting named in a stage's message, `job.k`: not part of a path or of a longer name.
_JOB_KEY = re.compile(r"(?<![\w./\\-])job\.(?=\w)")


@contextlib.contextmanager
def qualified_keys(name: str):
    """A stage's user errors name its settings as the pipeline's keys: job.<name>.<key>."""
    try:
        yield
    except UserError as exc:
        raise UserError(_JOB_KEY.sub(f"job.{name}.", str(exc))) from exc


def run(params: Params, data: DataConfig, ctx: RunContext) -> float:
    check(params, data)
    stages = stage_params(params)
    results: dict[str, dict[str, Any]] = {}

    projected = stage(ctx, "project", *stages["project"], data, results)
    with ctx.stage("held-out predictions"):
        write_heldout_predictions(params.project, data, ctx, projected)
    basins_data = files_config(data, projected / "projected.parquet")
    stage(ctx, "basins", *stages["basins"], basins_data, results)
    found = stage(ctx, "communities", *stages["communities"], data, results)
    with ctx.stage("balance input"):
        table_path = write_balance_input(data, found / "labels.parquet", ctx)
    stage(ctx, "balance", *stages["balance"], files_config(data, table_path), results)

    ctx.record(n_rows=results["project"].get("n_rows", 0),
               n_dropped_rows=results["project"].get("n_dropped_rows", 0),
               stages={name: {k: m[k] for k in HEADLINES[name] if k in m}
                       for name, m in results.items()})
    if params.summary:
        print_summary(ctx, results)
    objective = results["basins"].get("objective", 0.0)
    return float(objective) if np.isfinite(objective) else 0.0


def stage(ctx: RunContext, name: str, module, params, data: DataConfig,
          results: dict[str, dict[str, Any]]):
    """Run one job into `<run>/<name>/` with its own context; returns that directory."""
    from engine.report import write_report_safely

    sub = RunContext(out_dir=ctx.path(name), backend=ctx.backend, seed=ctx.seed,
                     cache_dir=ctx.cache_dir, cluster=ctx.cluster,
                     show_progress=ctx.show_progress)
    with ctx.stage(name), qualified_keys(name):
        objective = module.run(params, data, sub)
        write_report_safely(sub, name, objective)
        sub.finish(objective)
    results[name] = sub.metrics
    return sub.out_dir


def files_config(data: DataConfig, path) -> DataConfig:
    """`data` pointing at a table written by an earlier stage (same column names)."""
    return dataclasses.replace(data, name="files", path=str(path))


def write_heldout_predictions(p: project.Params, data: DataConfig, ctx: RunContext,
                              out_dir) -> None:
    """`project/predictions.parquet`: id, <axis>_true, <axis>_pred on the project stage's own
    held-out rows (same ratings, same seeded split), for the report's predicted-vs-actual plot.
    Skipped when the map was refit on all rated rows (nothing is held out then)."""
    from engine._project import fit, ratings
    from engine._project.linear_map import LinearMap
    from engine.data import open_embeddings
    from engine.io.write import write_parquet

    if p.refit_all or p.projection_file:
        return
    try:
        source = open_embeddings(data, ctx.seed)
        if p.ratings_path:
            table = ratings.read_ratings(p.ratings_path, p.rating_id_column, p.axes)
        else:
            table = ratings.ratings_table(source.ratings(), "id", p.axes, "synthetic ratings")
        rated = ratings.join(table, source.batches([]), p.axes, "ratings")
        _, test = fit.split_rated(rated.y, p.axes, p.test_size, ctx.seed,
                                  min_train=max(2 * p.n_folds, 5))
        pred = LinearMap.load(out_dir / "projection.npz").predict(rated.x[test])
    except (UserError, OSError, ValueError) as exc:
        log.warning("held-out predictions not written: %s", exc)
        return
    columns = {"id": rated.ids.take(pa.array(test))}
    for j, axis in enumerate(p.axes):
        columns[f"{axis}_true"] = rated.y[test, j]
        columns[f"{axis}_pred"] = np.asarray(pred)[:, j]
    write_parquet(pa.table(columns), out_dir / "predictions.parquet")


def write_balance_input(data: DataConfig, labels_path, ctx: RunContext):
    """id, user, category, embedding and the row's community as the cluster column."""
    import pyarrow.parquet as pq

    from engine.data import open_embeddings
    from engine.io.embeddings import embedding_array
    from engine.io.write import ParquetStreamWriter

    labels = pq.read_table(labels_path)
    source = open_embeddings(data, ctx.seed)
    wanted = [c for c in (data.user_column, data.category_column)
              if c in source.metadata_columns()]
    if data.user_column not in wanted:
        raise UserError(f"{data.path}: no column {data.user_column!r} (job=pipeline scores "
                        "pairs of users; set data.user_column)")
    path = ctx.path("balance_input.parquet")
    offset = 0
    writer = None
    try:
        for batch in source.batches(wanted):
            n = len(batch)
            ids = labels.column("id").slice(offset, n)
            if not pc.all(pc.equal(ids, batch.table.column(0))).as_py():
                raise UserError(f"{labels_path}: rows are not in the input's order")
            table = (batch.table.append_column(data.cluster_column,
                                               labels.column("community").slice(offset, n))
                     .append_column(data.embedding_column, embedding_array(batch.embeddings)))
            if writer is None:
                writer = ParquetStreamWriter(path, table.schema)
            writer.write(table)
            offset += n
    except BaseException as exc:
        if writer is not None:
            writer.__exit__(type(exc), exc, None)
        raise
    if writer is None:
        raise UserError("job=pipeline: no input rows")
    writer.close()
    return path


def print_summary(ctx: RunContext, results: dict[str, dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="pipeline", title_justify="left")
    for col in ("stage", "seconds", "objective", "figures"):
        table.add_column(col, justify="left" if col in ("stage", "figures") else "right")
    for name, m in results.items():
        figures = ", ".join(f"{k}={_short(m[k])}" for k in HEADLINES[name] if k in m)
        table.add_row(name, f"{ctx.metrics['seconds'].get(name, 0):.1f}",
                      _short(m.get("objective")), figures)
    console = Console()
    console.print(table)
    console.print(f"report: {ctx.path('report.html')}")
    console.print(f"explore over time: python -m engine.explore {ctx.out_dir}")


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)

