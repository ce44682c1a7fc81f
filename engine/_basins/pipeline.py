"""One pass of the basin pipeline over one part (train or test) for one parameter setting:
per-bin consensus clusters -> tracking -> soft continuation -> scores.

`bin_consensus` is the per-bin unit of work (a picklable task, so `ctx.map` can spread bins
over Dask workers); `analyse_part` turns the bins' consensus into the cluster table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine._basins import forecast, sampling, tracking
from engine._basins.bins import Bins
from engine._basins.consensus import Consensus, consensus, count_coassignment
from engine._basins.evaluate import continuation_metrics
from engine._basins.hdbscan_ops import hdbscan_labels, labels_cpu_samples
from engine._basins.settings import Rows, Settings


@dataclass
class BinTask:
    """Everything one bin's bootstrap consensus needs (picklable)."""

    X: np.ndarray
    retweets: np.ndarray
    favorites: np.ndarray
    days_to_end: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    bin_key: int
    seed: int
    alpha: float
    recency_lambda: float
    min_sizes: list[int]  # consensus minimum sizes, one result each
    settings: Settings
    backend: str = "cpu"
    cache_dir: str | None = None  # on-disk cache of the result (engine.cache), shared by runs


def empty_consensus(n: int) -> Consensus:
    return Consensus(np.full(n, -1, np.int64), np.zeros(n), np.zeros(0), np.zeros(0, np.int64),
                     0.0, n)


CONSENSUS_SETTINGS = ("n_bootstrap", "sample_frac", "min_samples", "consensus_threshold",
                      "consensus_max_clusters", "min_cosampled", "prior_strength", "low_cosample")
CONSENSUS_FIELDS = ("labels", "point_conf", "cluster_conf", "sizes")


def bin_consensus(task: BinTask) -> list[Consensus]:
    """Bootstrap HDBSCAN consensus of one bin, one result per minimum size; read from the
    cache when `task.cache_dir` is set and the same bin was done before (the final pass
    repeats the best tuning combo on train; sweeps repeat bins across runs)."""
    if task.cache_dir is None:
        return _bin_consensus(task)
    from engine.cache import Cache

    parts = {"X": task.X, "retweets": task.retweets, "favorites": task.favorites,
             "days_to_end": task.days_to_end, "src": task.src, "dst": task.dst,
             "bin_key": task.bin_key, "seed": task.seed, "alpha": task.alpha,
             "recency_lambda": task.recency_lambda, "backend": task.backend,
             **{k: getattr(task.settings, k) for k in CONSENSUS_SETTINGS}}
    cache = Cache(task.cache_dir)
    done: list[Consensus] = []  # all sizes, computed together on the first miss

    def compute(i: int) -> dict[str, np.ndarray]:
        if not done:
            done.extend(_bin_consensus(task))
        c = done[i]
        return {**{k: np.asarray(getattr(c, k)) for k in CONSENSUS_FIELDS},
                "stats": np.array([c.coverage, c.n_never_sampled], float)}

    out = []
    # One entry per minimum size: a size's result does not depend on the others, so the
    # final pass (one size) reuses what tuning (four sizes) stored.
    for i, m in enumerate(task.min_sizes):
        z = cache.get_or_compute("basins_consensus", {**parts, "min_size": int(m)},
                                 lambda i=i: compute(i))
        out.append(Consensus(*(z[k] for k in CONSENSUS_FIELDS), float(z["stats"][0]),
                             int(z["stats"][1])))
    return out


def _bin_consensus(task: BinTask) -> list[Consensus]:
    from engine.backend import cpu_backend, resolve

    s = task.settings
    n = len(task.X)
    if n < max(min(task.min_sizes), s.min_samples + 1, 3) or len(task.src) == 0:
        return [empty_consensus(n) for _ in task.min_sizes]
    backend = cpu_backend() if task.backend == "cpu" else resolve(task.backend)
    w = sampling.sample_weights(task.retweets, task.favorites, task.days_to_end, task.alpha,
                                task.recency_lambda)
    u = sampling.uniforms(task.seed, task.bin_key, s.n_bootstrap, n)
    samples = sampling.weighted_samples(u, w, sampling.sample_size(n, s.sample_frac))
    # A cluster of the minimum size keeps ~sample_frac of its points in a run.
    run_sizes = sorted({max(2, round(s.sample_frac * m)) for m in task.min_sizes})
    labels = {size: [] for size in run_sizes}
    if backend.gpu:
        per_sample = [hdbscan_labels(backend, task.X[idx], s.min_samples, run_sizes)
                      for idx in samples]
    else:  # one kNN query of the bin serves every sample's spanning tree
        per_sample = labels_cpu_samples(task.X, samples, s.min_samples, run_sizes)
    for by_size in per_sample:
        for size, lab in zip(run_sizes, by_size, strict=True):
            labels[size].append(lab)
    out = []
    for m in task.min_sizes:
        counts = count_coassignment(n, task.src, task.dst, list(samples),
                                    labels[max(2, round(s.sample_frac * m))], backend.xp)
        out.append(consensus(n, counts, s.consensus_threshold, m, s.consensus_max_clusters,
                             s.min_cosampled, s.prior_strength, s.low_cosample))
    return out


@dataclass
class PartResult:
    """Clusters of every bin of a part, their tracks and forecasts, and the scores."""

    bins: Bins
    members: list[np.ndarray]
    consensus: list[Consensus]
    min_sizes: list[int]
    centres: list[np.ndarray]
    tracks: tracking.Tracks
    table: dict[str, np.ndarray]  # one row per (bin, cluster)
    metrics: dict[str, float]


def cluster_stats(X: np.ndarray, labels: np.ndarray, k: int, pop: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centres (k, d), RMS radius (k,), mean popularity weight (k,))."""
    d = X.shape[1]
    if k == 0:
        return np.zeros((0, d)), np.zeros(0), np.zeros(0)
    inside = labels >= 0
    lab = labels[inside]
    cnt = np.maximum(np.bincount(lab, minlength=k), 1)
    centres = np.stack([np.bincount(lab, X[inside, j], k) for j in range(d)], 1) / cnt[:, None]
    sq = ((X[inside] - centres[lab]) ** 2).sum(1)
    spread = np.sqrt(np.bincount(lab, sq, k) / cnt)
    return centres, spread, np.bincount(lab, pop[inside], k) / cnt


def cluster_cores(X: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(centres (k, d), radii (k,)) of the clusters' cores: the coordinate-wise median and the
    median distance to it. A cluster that swallowed background around a basin has its mean
    and RMS radius pulled outward; its core stays on the basin."""
    d = X.shape[1]
    centres, radii = np.zeros((k, d)), np.zeros(k)
    for j in range(k):
        m = X[labels == j]
        if len(m):
            centres[j] = np.median(m, axis=0)
            radii[j] = np.median(np.linalg.norm(m - centres[j], axis=1))
    return centres, radii


def merge_overlapping(X: np.ndarray, c: Consensus, overlap: float) -> Consensus:
    """One cluster for the fragments of one blob: clusters of a bin whose cores are closer
    than overlap x (r_a + r_b) (core radii, `cluster_cores`) are merged, transitively. Consensus components can
    split a dense blob in two side by side; tracked apart, one basin would count twice."""
    k = c.n_clusters
    if k < 2:
        return c
    centres, radius = cluster_cores(X, c.labels, k)
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial.distance import cdist

    near = cdist(centres, centres) < overlap * (radius[:, None] + radius[None, :])
    n, comp = connected_components(near, directed=False)
    if n == k:
        return c
    # New ids by decreasing merged size (the convention of consensus_clusters).
    sizes = np.bincount(comp, c.sizes, n)
    order = np.argsort(-sizes, kind="stable")
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    labels = np.where(c.labels >= 0, rank[comp[np.maximum(c.labels, 0)]], -1)
    inside = labels >= 0
    new_sizes = np.bincount(labels[inside], minlength=n)
    conf = np.bincount(labels[inside], c.point_conf[inside], n) / np.maximum(new_sizes, 1)
    return Consensus(labels, c.point_conf, conf, new_sizes, c.coverage, c.n_never_sampled)


def basin_size_range_max(basin_id: np.ndarray, size: np.ndarray, min_bins: int = 3) -> float:
    """Largest max/min size ratio over the life of a basin seen in >= `min_bins` bins (NaN if
    none). Emerging and fading basins span a wide range of sizes; under the time-shuffled null
    every cluster is a stationary blob whose size only fluctuates, so this separates temporal
    structure from noise even where continuation AUROC rests on a handful of deaths."""
    best = float("nan")
    if len(size) == 0:
        return best
    ids, inv, counts = np.unique(basin_id, return_inverse=True, return_counts=True)
    hi = np.full(len(ids), -np.inf)
    lo = np.full(len(ids), np.inf)
    np.maximum.at(hi, inv, size.astype(float))
    np.minimum.at(lo, inv, size.astype(float))
    ok = (counts >= min_bins) & (lo > 0)
    return float(np.max(hi[ok] / lo[ok])) if ok.any() else best


def table_scores(table: dict[str, np.ndarray], keep: np.ndarray | None = None
                 ) -> dict[str, float]:
    """Forward-chaining continuation and size scores over the scored clusters of a part's
    table (only the rows of `keep`, e.g. the clusters of significant basins, when given)."""
    scored = table["has_next"].astype(bool)
    if keep is not None:
        scored &= keep
    return continuation_metrics(
        table["bin"][scored], table["size"][scored].astype(float),
        table["prev_size"][scored].astype(float), table["p_cont"][scored],
        table["continued"][scored], table["expected_next_size"][scored],
        table["next_size"][scored])


def analyse_part(rows: Rows, bins: Bins, members: list[np.ndarray], results: list[Consensus],
                 min_sizes: list[int], s: Settings) -> PartResult:
    """Tracking, soft continuation and forward-chaining scores from the bins' consensus."""
    n_bins = bins.n_bins
    centres, conf, sizes, spread, pop, cores = [], [], [], [], [], []
    if s.merge_overlap > 0:
        results = [merge_overlapping(rows.coords[members[b]], results[b], s.merge_overlap)
                   for b in range(n_bins)]
    for b in range(n_bins):
        c = results[b]
        X = rows.coords[members[b]]
        w_pop = sampling.popularity_weight(rows.retweets[members[b]], rows.favorites[members[b]],
                                           s.alpha)
        ce, sp, po = cluster_stats(X, c.labels, c.n_clusters, w_pop)
        centres.append(ce)
        conf.append(np.asarray(c.cluster_conf, float))
        sizes.append(np.asarray(c.sizes, np.int64))
        spread.append(sp)
        pop.append(po)
        cores.append(cluster_cores(X, c.labels, c.n_clusters))
    # Tracked by their cores: a noise cluster's mean and RMS radius are wide, and a gate on
    # them lets a track jump from a basin that faded to a blob several basin radii away.
    core_centres, core_radii = [c for c, _ in cores], [r for _, r in cores]
    gate = s.track_gate * tracking.median_pairwise(core_centres)
    tracks = tracking.track(core_centres, conf, gate, s.max_gap, core_radii,
                            s.track_spread_gate)
    cols: dict[str, list] = {k: [] for k in (
        "bin", "cluster", "size", "n_points", "min_size", "confidence", "spread", "popularity",
        "basin_id", "reappeared", "age", "prev_size", "has_next", "p_cont",
        "expected_next_size", "continued", "next_size", "coverage", "n_never_sampled")}
    centre_cols: list[np.ndarray] = []
    age_of: dict[int, int] = {}
    history: list[tuple] = []  # earlier transitions and their hard-match outcomes
    outcomes: list[np.ndarray] = []
    for t in range(n_bins):
        k = len(sizes[t])
        prev = np.zeros(k, np.int64)
        if t > 0:
            nm = tracks.next_match[t - 1]
            ok = nm >= 0
            prev[nm[ok]] = sizes[t - 1][ok]
        has_next = t + 1 < n_bins
        if has_next:
            tau, gamma = s.softmatch_tau, s.softmatch_gamma
            if s.softmatch_fit:
                transition = (centres[t], conf[t], centres[t + 1], conf[t + 1], sizes[t + 1])
                scale, gamma = forecast.fit_softmatch(history, outcomes, s.softmatch_use_prior,
                                                      (1.0, s.softmatch_gamma))
                tau = scale * forecast.auto_tau(centres[t], centres[t + 1])
                history.append(transition)
                outcomes.append((tracks.next_match[t] >= 0).astype(float))
            p, p_null = forecast.soft_match(centres[t], conf[t], centres[t + 1], conf[t + 1],
                                            sizes[t + 1], tau, gamma, s.softmatch_use_prior)
            exp_size = forecast.expected_next_size(p, sizes[t + 1])
            nm = tracks.next_match[t]
            nxt = np.where(nm >= 0, sizes[t + 1][np.maximum(nm, 0)] if len(sizes[t + 1]) else 0, 0)
            p_cont = 1 - p_null
        else:
            exp_size = nxt = p_cont = np.full(k, np.nan)
            nm = np.full(k, -1)
        ages = []
        for bid in tracks.basin[t]:
            age_of[int(bid)] = age_of.get(int(bid), 0) + 1
            ages.append(age_of[int(bid)])
        c = results[t]
        cols["bin"].append(np.full(k, t))
        cols["cluster"].append(np.arange(k))
        cols["size"].append(sizes[t])
        cols["n_points"].append(np.full(k, len(members[t])))
        cols["min_size"].append(np.full(k, min_sizes[t]))
        cols["confidence"].append(conf[t])
        cols["spread"].append(spread[t])
        cols["popularity"].append(pop[t])
        cols["basin_id"].append(tracks.basin[t])
        cols["reappeared"].append(tracks.reappeared[t])
        cols["age"].append(np.asarray(ages, np.int64))
        cols["prev_size"].append(prev)
        cols["has_next"].append(np.full(k, has_next))
        cols["p_cont"].append(p_cont)
        cols["expected_next_size"].append(exp_size)
        cols["continued"].append(nm >= 0)
        cols["next_size"].append(np.asarray(nxt, float))
        cols["coverage"].append(np.full(k, c.coverage))
        cols["n_never_sampled"].append(np.full(k, c.n_never_sampled))
        centre_cols.append(centres[t])
    table = {name: np.concatenate(v) if v else np.zeros(0) for name, v in cols.items()}
    d = rows.coords.shape[1]
    table["centre"] = np.concatenate(centre_cols) if centre_cols else np.zeros((0, d))
    table["core_centre"] = np.concatenate([c[0] for c in cores]) if cores else np.zeros((0, d))
    table["core_radius"] = np.concatenate([c[1] for c in cores]) if cores else np.zeros(0)
    metrics = table_scores(table)
    metrics["n_clusters"] = int(len(table["size"]))
    metrics["n_basins"] = int(len(np.unique(table["basin_id"]))) if len(table["size"]) else 0
    metrics["basin_size_range_max"] = basin_size_range_max(table["basin_id"], table["size"])
    metrics["mean_coverage"] = float(np.mean([c.coverage for c in results])) if results else 0.0
    metrics["n_never_sampled"] = int(sum(c.n_never_sampled for c in results))
    return PartResult(bins, members, results, min_sizes, centres, tracks, table, metrics)
