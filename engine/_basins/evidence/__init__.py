"""Basin evidence beyond clustering (seed 001: what makes a basin real), each per basin and
bin, each against the basins job's time-shuffled null draws.

Methods (`job.evidence`; all by default, the job's `Params` holds the list):
- `density`: time-decayed kernel density at the basin's centre against all time, and its
  growth over the scored bin (engine._basins.evidence.density);
- `transport`: the drift field of entropic optimal transport between the two halves of the
  scored window, and the share of it pointing into the basin
  (engine._basins.evidence.transport);
- `metastability`: conductance, mean first-passage time out of the basin, the spectral
  gap of the walk restricted to it and Markov stability at a few Markov times, on a kNN
  graph over landmarks
  (engine._basins.evidence.metastability);
- `reply`: reply pull and inward moves, where the data has reply links
  (engine._basins.evidence.reply);
- `barrier`: the density drop along the easiest exit path from the centre
  (engine._basins.evidence.barrier);
- `hawkes`: self- against cross-excitation of a Hawkes process on the window's regions,
  fitted by EM (engine._basins.evidence.hawkes).

Every region (a cluster of bin t) is scored on bin t + 1 (engine._basins.evidence.regions).
With `metastability`, so is every Leiden community of bin t's landmark graph: part
"<part>/leiden" in evidence.parquet (engine._basins.evidence.communities).
Each null draw j is the job's own (`Rows.permuted_times(seed, j)`), scored at the same
regions; z = (score - null_mean) / null_sd, the sd floored at the median sd of the
method's regions in the part (a region whose draws all agree would otherwise get an
infinite z). A basin's combined evidence is the mean z over its rows; its growth evidence
the largest z of its density growth (when it formed).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np

from engine._basins.evidence import barrier, density, hawkes, metastability, reply, transport
from engine._basins.evidence import communities as leiden_parts
from engine._basins.evidence.regions import Regions, of_part
from engine._basins.evidence.sample import Sample, null_draw, of_rows, parents_of
from engine.errors import UserError

log = logging.getLogger("engine")
METHODS = {"density": density, "transport": transport, "metastability": metastability,
           "reply": reply, "barrier": barrier, "hawkes": hawkes}
USES_DENSITY = ("density", "barrier")  # methods on the time-decayed density grid
COLUMNS = ("basin_id", "part", "bin", "method", "score", "null_mean", "null_sd", "z")


@dataclass
class Options:
    bin_size_days: float
    bandwidths: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.4])  # x spread
    tau_bins: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])  # x bin size
    grid: int = 128  # density grid cells per axis (fewer where d > 2: at most 2^21 cells)
    landmarks: int = 2000
    transport_points: int = 300  # places (grid-cell centroids) per snapshot of the plan
    transport_reg: float = 0.1  # entropic regularisation, x the median squared distance
    hawkes_decay_days: float = 0.25  # the excitation kernel's decay time (6 hours)
    knn_k: int = 15
    seed: int = 0
    alpha: float = 1.0  # favourites' weight in the engagement (the job's alpha)

    def grid_cells(self, d: int) -> int:
        return int(min(self.grid, np.floor(2.0 ** (21 / max(d, 1)) + 1e-9)))


def check_methods(names: list[str]) -> list[str]:
    bad = [m for m in names if m not in METHODS]
    if bad:
        raise UserError(f"job.evidence={list(names)}: {bad[0]!r} is not a method "
                        f"(valid: {', '.join(METHODS)})")
    return list(dict.fromkeys(names))


def _score(name: str, sample: Sample, regions: Regions, state, opts: Options, xp):
    module = METHODS[name]
    if name == "metastability":
        return module.score(sample, regions, state, xp, landmarks=opts.landmarks,
                            k=opts.knn_k, seed=opts.seed)
    if name == "hawkes":
        return module.score(sample, regions, state, xp, decay_days=opts.hawkes_decay_days)
    if name == "transport":
        return module.score(sample, regions, state, xp, points=opts.transport_points,
                            reg=opts.transport_reg)
    return module.score(sample, regions, state, xp)


def usable(methods: list[str], sample: Sample) -> list[str]:
    """The methods the sample can feed (reply pull needs reply links)."""
    if "reply" in methods and sample.parent is None:
        log.info("evidence: no reply links (data.reply_column); reply pull not scored")
        return [m for m in methods if m != "reply"]
    return methods


def fit(sample: Sample, parts: dict[str, Regions], methods: list[str], opts: Options, xp=np
        ) -> dict:
    """Per method, what it fits once on the real rows (the density's h and tau)."""
    fitted = density.prepare(sample, parts, opts, xp) \
        if any(m in USES_DENSITY for m in methods) else None
    return {m: fitted if m in USES_DENSITY else None for m in methods}


def evaluate(sample: Sample, parts: dict[str, Regions], methods: list[str], opts: Options,
             null_days, xp=np, states: dict | None = None
             ) -> tuple[dict[str, np.ndarray], dict]:
    """evidence.parquet's columns and the methods' fitted settings. `null_days`: the null
    draws' shuffled days, one array per draw (at least 2 for a z), iterated once."""
    methods = usable(check_methods(methods), sample)
    states = states or fit(sample, parts, methods, opts, xp)
    fitted = next((states[m] for m in methods if m in USES_DENSITY), None)
    if "metastability" in methods:  # and per Leiden community (engine._basins.evidence.communities)
        parts = {**parts, **{p + leiden_parts.SUFFIX: leiden_parts.of_part(
            sample, r, opts.landmarks, opts.knn_k, opts.seed) for p, r in parts.items()}}
    real = {p: _all(sample, r, methods, states, opts, xp) for p, r in parts.items()}
    nulls = {p: {k: [] for k in real[p]} for p in parts}
    for j, days in enumerate(null_days):
        drawn = null_draw(sample, days, opts.seed, j)
        for p, r in parts.items():
            for k, v in _all(drawn, r, methods, states, opts, xp).items():
                nulls[p][k].append(v)
    cols: dict[str, list] = {c: [] for c in COLUMNS}
    for p, r in parts.items():
        for k, score in real[p].items():
            draws = np.asarray(nulls[p][k])
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN regions stay NaN
                mean = np.nanmean(draws, 0) if len(draws) else np.full(len(r), np.nan)
                sd = np.nanstd(draws, 0, ddof=1) if len(draws) > 1 else np.full(len(r), np.nan)
                floor = np.nanmedian(sd) if np.isfinite(sd).any() else np.nan
                z = (score - mean) / np.fmax(sd, max(floor, 1e-12))
            for c, v in (("basin_id", r.basin_id), ("part", np.full(len(r), p)),
                         ("bin", r.bin), ("method", np.full(len(r), k)), ("score", score),
                         ("null_mean", mean), ("null_sd", sd), ("z", z)):
                cols[c].append(np.asarray(v))
    out = {c: np.concatenate(v) if v else np.zeros(0) for c, v in cols.items()}
    info = {"evidence_methods": methods}
    if fitted is not None:
        info.update(evidence_bandwidth=fitted.h, evidence_tau_days=fitted.tau)
    return out, info


def of_job(rows, results: dict, methods: list[str], opts: Options, n_draws: int, xp=np
           ) -> tuple[dict[str, np.ndarray], dict, dict[str, np.ndarray]]:
    """`evaluate` on the basins job's rows (`Rows`, with reply ids where read), its parts'
    results and its null draws 0..n_draws-1 (`Rows.permuted_times`, the job's own); and
    the `weather` of its last part."""
    parent, absent = None, 0
    if rows.reply_to is not None:
        parent, absent = parents_of(rows.ids, rows.reply_to)
        if absent:
            log.warning("evidence: %d replies name a parent id absent from the data "
                        "(not counted as replies)", absent)
    sample = of_rows(rows, opts.alpha, parent)
    parts = {p: of_part(r.table, r.bins.starts, r.bins.size_days) for p, r in results.items()}
    days = (rows.permuted_times(opts.seed, j).days for j in range(n_draws))  # one at a time
    methods = usable(check_methods(methods), sample)
    states = fit(sample, parts, methods, opts, xp)
    cols, info = evaluate(sample, parts, methods, opts, days, xp, states)
    if parent is not None:
        info.update(evidence_replies=int((parent >= 0).sum()),
                    evidence_reply_parents_absent=absent)
    last = list(parts)[-1]
    return cols, info, weather(sample, parts[last], states, opts, xp)


def _all(sample, regions, methods, states, opts, xp) -> dict[str, np.ndarray]:
    if isinstance(regions, leiden_parts.Communities):  # scored by metastability alone
        methods = ["metastability"]
    out = {}
    for m in methods:
        out.update(_score(m, sample, regions, states[m], opts, xp))
    return out


def combined(cols: dict[str, np.ndarray], part: str, basin_ids: np.ndarray,
             method: str | None = None, reduce=np.mean) -> np.ndarray:
    """Per basin (in `basin_ids` order): `reduce` (the mean) of the z over its scored rows,
    of one `method`'s only where given (NaN: none)."""
    out = np.full(len(basin_ids), np.nan)
    mine = (cols["part"] == part) & np.isfinite(cols["z"])
    if method is not None:
        mine &= cols["method"] == method
    for i, b in enumerate(basin_ids):
        z = cols["z"][mine & (cols["basin_id"] == b)]
        if len(z):
            out[i] = float(reduce(z))
    return out


__all__ = ["METHODS", "Options", "Regions", "Sample", "check_methods", "combined", "evaluate",
           "fit", "of_job", "of_part", "of_rows", "weather"]


def weather(sample: Sample, regions: Regions, states: dict, opts: Options, xp=np,
            cells: int = 48, arrows: int = 16) -> dict[str, np.ndarray]:
    """The seed's "weather system" of the part's busiest window (the bin with most
    regions): the time-decayed density on the first two axes (summed over the others) as
    `cells` x `cells` block means, and the transport drift averaged in `arrows` x `arrows`
    blocks. Columns: kind (density | drift), bin, x, y, value, u, v."""
    out = {k: [] for k in ("kind", "x", "y", "value", "u", "v")}
    if len(regions) == 0 or sample.coords.shape[1] < 2:
        return {**{k: np.asarray(v, float) for k, v in out.items()},
                "kind": np.zeros(0, str), "bin": np.zeros(0, np.int64)}
    t = int(np.bincount(regions.bin).argmax())
    one = Regions(regions.basin_id[regions.bin == t], regions.bin[regions.bin == t],
                  regions.centre[regions.bin == t], regions.radius[regions.bin == t],
                  regions.starts, regions.size_days)
    state = next((states[m] for m in states if m in USES_DENSITY), None)
    if state is not None:
        for _, D in density.window_densities(sample, one, state, xp):
            f = D.get() if hasattr(D, "get") else np.asarray(D)
            f = f.reshape(f.shape[:2] + (-1,)).sum(2)  # the other axes summed out
            g, step = state.grid, max(f.shape[0] // cells, 1)
            n = f.shape[0] // step
            f = f[:n * step, :n * step].reshape(n, step, n, step).mean((1, 3))
            x = g.lo[0] + (np.arange(n) + 0.5) * step * g.cell[0]
            y = g.lo[1] + (np.arange(n) + 0.5) * step * g.cell[1]
            X, Y = np.meshgrid(x, y, indexing="ij")
            _extend(out, "density", X.ravel(), Y.ravel(), f.ravel(), 0.0, 0.0)
    flow = transport.window_drift(sample, *one.window(0), opts.transport_points,
                                  opts.transport_reg) if "transport" in states else None
    if flow is not None:
        X, _, V = flow
        lo, hi = X[:, :2].min(0), X[:, :2].max(0)
        cell = np.minimum(((X[:, :2] - lo) / np.maximum(hi - lo, 1e-12) * arrows).astype(int),
                          arrows - 1)
        key = cell[:, 0] * arrows + cell[:, 1]
        n = np.bincount(key, minlength=arrows * arrows)
        used = np.flatnonzero(n)
        mean = [np.bincount(key, w, arrows * arrows)[used] / n[used]
                for w in (X[:, 0], X[:, 1], V[:, 0], V[:, 1])]
        _extend(out, "drift", mean[0], mean[1], n[used].astype(float), mean[2], mean[3])
    cols = {k: np.asarray(v) for k, v in out.items()}
    cols["bin"] = np.full(len(cols["kind"]), t + 1)
    return cols


def _extend(out: dict, kind: str, x, y, value, u, v) -> None:
    n = len(x)
    for k, col in (("kind", np.full(n, kind)), ("x", x), ("y", y), ("value", value),
                   ("u", np.broadcast_to(u, n)), ("v", np.broadcast_to(v, n))):
        out[k].extend(np.asarray(col).tolist())
