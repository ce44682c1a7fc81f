"""The tuning grid, run in-process with work shared between combos, and resumable.

Shared work: for each bin size the bins and their kNN graphs are built once (and cached on
disk with `cache_dir=`); for each (bin size, alpha, lambda) every bin's bootstrap samples
and HDBSCAN spanning trees are computed once and serve all min_cluster_frac values.
Each finished combo is appended to `tuning_results.parquet` at once, so a rerun in the same
output directory skips the combos already there.
Objective: continuation AUROC or the forecast's log-likelihood (`objective`, larger);
tie-breakers continuation AUROC, Brier, log loss, size MAE (smaller), kappa-like lift.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from engine._basins import early
from engine._basins.bins import Bins, make_bins
from engine._basins.consensus import Consensus, knn_edges
from engine._basins.pipeline import BinTask, PartResult, analyse_part, bin_consensus
from engine._basins.settings import Rows, Settings, min_cluster_size

TUNED = ("bin_size_days", "min_cluster_frac", "lambda_factor", "alpha")
TUNING_ARRIVALS = 1000  # arriving rows per bin scored when the grid ranks by the forecast


def make_grid(bin_sizes, fracs, lambda_factors, alphas, max_combos: int | None = None,
              seed: int = 0) -> list[dict]:
    """All combos (lambda = factor x ln2 / bin size), or a seeded subset of max_combos."""
    combos = [dict(zip(TUNED, map(float, c), strict=True))
              for c in itertools.product(bin_sizes, fracs, lambda_factors, alphas)]
    for c in combos:
        c["recency_lambda"] = c["lambda_factor"] * math.log(2) / c["bin_size_days"]
    if max_combos is not None and max_combos < len(combos):
        keep = np.sort(np.random.default_rng([seed, 8]).permutation(len(combos))[:max_combos])
        combos = [combos[i] for i in keep]
    return combos


def combo_key(c: dict) -> tuple:
    return tuple(round(float(c[k]), 9) for k in TUNED)


def sort_key(m: dict, objective: str = "continuation_auroc") -> tuple:
    """The objective (larger is better) first, then the seed's tie-breakers."""
    def val(x, sign):
        x = float(x) if x is not None else float("nan")
        return sign * x if np.isfinite(x) else np.inf
    return (val(m.get(objective), -1), val(m.get("continuation_auroc"), -1),
            val(m.get("continuation_brier"), 1), val(m.get("continuation_logloss"), 1),
            val(m.get("size_mae"), 1), val(m.get("early_kappa_lift"), -1))


def best_combo(rows: list[dict], objective: str = "continuation_auroc") -> dict:
    return min(rows, key=lambda m: sort_key(m, objective))


def train_forecast(rows: Rows, pd: PartData, result: PartResult, horizon: float | None,
                   seed: int) -> dict[str, float]:
    """The forecast scores of a combo on its part (targets shared by every combo of a bin
    size, kept on the PartData)."""
    from engine._basins import density_forecast

    h = float(horizon or pd.bins.size_days)
    if h not in pd.forecast_targets:
        stop = float(pd.bins.ends[-1]) if pd.bins.n_bins else 0.0
        pd.forecast_targets[h] = density_forecast.targets(
            rows.coords, rows.days, pd.bins.ends, pd.members, stop, h, seed, pd.part,
            max_arrivals=TUNING_ARRIVALS)
    fc = density_forecast.forecast_part(rows.coords, result, pd.forecast_targets[h], h, [],
                                        seed)
    m = fc.metrics()
    return {"forecast_loglik": m["forecast_loglik"],
            "forecast_skill_vs_global": m["forecast_skill_vs_global"]}


@dataclass
class PartData:
    """A part's bins, their members and kNN graphs (shared by every combo of a bin size)."""

    bins: Bins
    members: list[np.ndarray]
    edges: list[tuple[np.ndarray, np.ndarray]]
    part: int  # 0 train, 1 test
    forecast_targets: dict = field(default_factory=dict)  # horizon -> density_forecast.Targets


def prepare_part(rows: Rows, start: float, stop: float, bin_size: float, knn_k: int, part: int,
                 cache=None) -> PartData:
    bins = make_bins(rows.days, start, stop, bin_size)
    members = bins.members()
    edges = []
    for _b, idx in enumerate(members):
        def compute(idx=idx):
            src, dst = knn_edges(rows.coords[idx], knn_k)
            return {"src": src, "dst": dst}
        if cache is not None:
            e = cache.get_or_compute("basins_knn", {"X": rows.coords[idx], "k": knn_k}, compute)
        else:
            e = compute()
        edges.append((e["src"], e["dst"]))
    return PartData(bins, members, edges, part)


def _cache_dir(cache) -> str | None:
    return str(cache.root) if cache is not None and cache.enabled else None


def bin_key(bin_size: float, part: int, b: int) -> int:
    return int(round(bin_size * 1000)) * 1_000_000 + part * 100_000 + b


def consensus_by_frac(rows: Rows, pd: PartData, s: Settings, fracs: list[float], seed: int,
                      mapper: Callable, backend: str = "cpu", cache_dir: str | None = None
                      ) -> dict[float, tuple[list[Consensus], list[int]]]:
    """Every bin's consensus for each min_cluster_frac, sharing the runs across fracs."""
    tasks, sizes_by_bin = bin_tasks(rows, pd, s, fracs, seed, backend, cache_dir)
    results = mapper(bin_consensus, tasks)
    return {f: ([r[i] for r in results], [sz[i] for sz in sizes_by_bin])
            for i, f in enumerate(fracs)}


def bin_tasks(rows: Rows, pd: PartData, s: Settings, fracs: list[float], seed: int,
              backend: str = "cpu", cache_dir: str | None = None
              ) -> tuple[list[BinTask], list[list[int]]]:
    """The per-bin consensus tasks of a part, and each bin's minimum sizes (one per frac)."""
    tasks = []
    sizes_by_bin = []
    for b, idx in enumerate(pd.members):
        sizes = [min_cluster_size(len(idx), s, f) for f in fracs]
        sizes_by_bin.append(sizes)
        tasks.append(BinTask(
            X=rows.coords[idx], retweets=rows.retweets[idx], favorites=rows.favorites[idx],
            days_to_end=pd.bins.ends[b] - rows.days[idx], src=pd.edges[b][0], dst=pd.edges[b][1],
            bin_key=bin_key(pd.bins.size_days, pd.part, b), seed=seed, alpha=s.alpha,
            recency_lambda=s.recency_lambda, min_sizes=sizes, settings=s, backend=backend,
            cache_dir=cache_dir))
    return tasks, sizes_by_bin


def run_part(rows: Rows, pd: PartData, s: Settings, seed: int, mapper: Callable,
             backend: str = "cpu", cache=None) -> PartResult:
    return run_parts([(rows, pd)], s, seed, mapper, backend, cache)[0]


def run_parts(items: list[tuple[Rows, PartData]], s: Settings, seed: int, mapper: Callable,
              backend: str = "cpu", cache=None) -> list[PartResult]:
    """`run_part` of several (rows, part) pairs with one `mapper` call over all their bins
    (the null draws: every worker stays busy across parts)."""
    built = [bin_tasks(r, pd, s, [s.min_cluster_frac], seed, backend, _cache_dir(cache))
             for r, pd in items]
    flat = mapper(bin_consensus, [t for tasks, _ in built for t in tasks])
    out, at = [], 0
    for (r, pd), (tasks, sizes) in zip(items, built, strict=True):
        res = [x[0] for x in flat[at:at + len(tasks)]]
        at += len(tasks)
        out.append(analyse_part(r, pd.bins, pd.members, res, [sz[0] for sz in sizes], s))
    return out


def early_best(result: PartResult, train_sizes: np.ndarray, grid: dict) -> dict:
    rows = early.early_grid(result.table, result.bins.n_bins, train_sizes, **grid)
    best = early.best_setting(rows)
    return {f"early_{k}": v for k, v in (best or {}).items()}


def tune(rows: Rows, start: float, stop: float, base: Settings, combos: list[dict],
         done: list[dict], seed: int, mapper: Callable, on_result: Callable[[dict], None],
         early_grid: dict, backend: str = "cpu", cache=None, progress=None,
         objective: str = "continuation_auroc", horizon: float | None = None) -> list[dict]:
    """Run the combos not in `done`; call on_result(row) after each; return all rows."""
    finished = {combo_key(r) for r in done}
    todo = [c for c in combos if combo_key(c) not in finished]
    results = list(done)
    groups: dict[tuple, list[dict]] = {}
    for c in todo:
        groups.setdefault((c["bin_size_days"], c["lambda_factor"], c["alpha"]), []).append(c)
    parts: dict[float, PartData] = {}
    iterator = groups.items() if progress is None else progress(groups.items(), len(groups),
                                                                "tuning groups")
    for (bin_size, _, alpha), group in iterator:
        if bin_size not in parts:
            parts = {bin_size: prepare_part(rows, start, stop, bin_size, base.knn_k, 0, cache)}
        pd = parts[bin_size]
        s = replace(base, bin_size_days=bin_size, alpha=alpha,
                    recency_lambda=group[0]["recency_lambda"])
        fracs = [c["min_cluster_frac"] for c in group]
        by_frac = consensus_by_frac(rows, pd, s, fracs, seed, mapper, backend, _cache_dir(cache))
        for c in group:
            sc = replace(s, min_cluster_frac=c["min_cluster_frac"])
            res, sizes = by_frac[c["min_cluster_frac"]]
            result = analyse_part(rows, pd.bins, pd.members, res, sizes, sc)
            row = {**c, **result.metrics,
                   **early_best(result, result.table["size"], early_grid)}
            if objective == "forecast_loglik":
                row.update(train_forecast(rows, pd, result, horizon, seed))
            results.append(row)
            on_result(row)
    return results
