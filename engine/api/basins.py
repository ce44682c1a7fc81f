"""`engine.basins`: temporal consensus clustering, basin tracking, significance and forecasts."""

from __future__ import annotations

from typing import Any

from engine.api import inputs
from engine.api.result import Result
from engine.api.running import job_params, run_job


def basins(data: Any, *, coords: list[str] | None = None, time_column: str = "datetime",
           id_column: str = "id", bin_size_days: float = 7.0, min_cluster_frac: float = 0.005,
           n_bootstrap: int = 20, tune: bool = True, null_draws: int = 8,
           random_state: int = 0, backend: str = "auto", **options: Any) -> Result:
    """Basins: clusters that persist over time bins, tracked, tested against time-shuffled
    null draws and scored by how well they forecast the next bin, as ``job=basins``.

    Parameters
    ----------
    data : DataFrame or path
        One row per item: `id_column`, `time_column` (datetimes, parseable strings or epoch
        seconds), the coordinate columns and optionally ``retweet_count`` /
        ``favorite_count`` (popularity weights; other names with ``retweet_column=``,
        ``favorite_column=``). A path (file, directory or glob) is read as ``data=files``.
    coords : list of str, optional
        The coordinate columns (default: the good-faith axes the table has: sincerity,
        charity, constructiveness, as `engine.project` writes them).
    bin_size_days : float
        Width of the time bins.
    min_cluster_frac : float
        Smallest cluster as a share of a bin's rows.
    n_bootstrap : int
        HDBSCAN runs per bin for the consensus.
    tune : bool
        Search the grid of bin sizes, cluster fractions, recency and popularity weights on
        the training part first (108 combinations; slow). False uses the values given.
    null_draws : int
        Time-shuffled draws through the same pipeline for the basins' p-values.
    random_state : int
    backend : {"auto", "cpu", "gpu"}
    **options
        Any other setting of ``job=basins`` (``train_split``, ``basin_alpha``,
        ``horizon_days``, ``objective``, ``knn_k``, ``min_samples``, ...).

    Returns
    -------
    Result
        Tables ``assignments`` (id, part, bin, cluster, basin_id, confidence; the main table),
        ``bins``, ``train_basins_summary``, ``test_basins_summary``, ``forecast``,
        ``early_detection``, ``lifecycle_events``, ``validation_summary`` (and
        ``tuning_results`` with `tune`); metrics ``n_significant_basins``,
        ``forecast_loglik``, ``continuation_auroc``, ... and their ``null_`` twins.
    """
    from engine.jobs import basins as job

    params = job_params(job.Params, {"coords": list(coords or []),
                                     "bin_size_days": bin_size_days,
                                     "min_cluster_frac": min_cluster_frac,
                                     "n_bootstrap": n_bootstrap, "tune": tune,
                                     "null_draws": null_draws}, options, "basins")

    def core(ctx) -> float:
        job.settings_of(params)
        with ctx.stage("load"):
            if inputs.is_path(data):
                table, where = job.read_tables(str(data))
            else:
                table, where = inputs.as_table(data, "data"), "data"
            rows, warnings = job.rows_of_table(params, table, where, id_column, time_column)
        return job.compute(params, rows, warnings, ctx)

    return run_job("basins", core, backend=backend, random_state=random_state)
