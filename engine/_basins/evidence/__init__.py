"""Basin evidence beyond clustering (seed 001: what makes a basin real), each per basin and
bin, each against the basins job's time-shuffled null draws.

Methods (`job.evidence`, all by default):
- `density`: time-decayed kernel density at the basin's centre against all time
  (engine._basins.evidence.density);
- `transport`: the drift field of entropic optimal transport between the two halves of the
  scored window, and the share of it pointing into the basin
  (engine._basins.evidence.transport);
- `metastability`: conductance, mean first-passage time out of the basin and the spectral
  gap of the walk restricted to it, on a kNN graph over landmarks
  (engine._basins.evidence.metastability);
- `reply`: reply pull and inward moves, where the data has reply links
  (engine._basins.evidence.reply);
- `barrier`: the density drop along the easiest exit path from the centre
  (engine._basins.evidence.barrier).

Every region (a cluster of bin t) is scored on bin t + 1 (engine._basins.evidence.regions).
Each null draw j is the job's own (`Rows.permuted_times(seed, j)`), scored at the same
regions; z = (score - null_mean) / null_sd, the sd floored at the median sd of the
method's regions in the part (a region whose draws all agree would otherwise get an
infinite z). A basin's combined evidence is the mean z over its rows.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np

from engine._basins.evidence import barrier, density, metastability, reply, transport
from engine._basins.evidence.regions import Regions, of_part
from engine._basins.evidence.sample import Sample, null_draw, of_rows, parents_of
from engine.errors import UserError

log = logging.getLogger("engine")
METHODS = {"density": density, "transport": transport, "metastability": metastability,
           "reply": reply, "barrier": barrier}
USES_DENSITY = ("density", "barrier")  # methods on the time-decayed density grid
COLUMNS = ("basin_id", "part", "bin", "method", "score", "null_mean", "null_sd", "z")


@dataclass
class Options:
    bin_size_days: float
    bandwidths: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.4])  # x spread
    tau_bins: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])  # x bin size
    grid: int = 128  # density grid cells per axis (fewer where d > 2: at most 2^21 cells)
    landmarks: int = 2000
    transport_points: int = 300  # rows per snapshot of the transport plan
    transport_reg: float = 0.2  # entropic regularisation, x the median squared distance
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
    if name == "transport":
        return module.score(sample, regions, state, xp, points=opts.transport_points,
                            reg=opts.transport_reg, seed=opts.seed)
    return module.score(sample, regions, state, xp)


def evaluate(sample: Sample, parts: dict[str, Regions], methods: list[str], opts: Options,
             null_days, xp=np) -> tuple[dict[str, np.ndarray], dict]:
    """evidence.parquet's columns and the methods' fitted settings. `null_days`: the null
    draws' shuffled days, one array per draw (at least 2)."""
    methods = check_methods(methods)
    if "reply" in methods and sample.parent is None:
        log.info("evidence: no reply links (data.reply_column); reply pull not scored")
        methods = [m for m in methods if m != "reply"]
    fitted = density.prepare(sample, parts, opts, xp) \
        if any(m in USES_DENSITY for m in methods) else None
    states = {m: fitted if m in USES_DENSITY else None for m in methods}
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
           ) -> tuple[dict[str, np.ndarray], dict]:
    """`evaluate` on the basins job's rows (`Rows`, with reply ids where read), its parts'
    results and its null draws 0..n_draws-1 (`Rows.permuted_times`, the job's own)."""
    parent, absent = None, 0
    if rows.reply_to is not None:
        parent, absent = parents_of(rows.ids, rows.reply_to)
        if absent:
            log.warning("evidence: %d replies name a parent id absent from the data "
                        "(not counted as replies)", absent)
    sample = of_rows(rows, opts.alpha, parent)
    parts = {p: of_part(r.table, r.bins.starts, r.bins.size_days) for p, r in results.items()}
    days = [rows.permuted_times(opts.seed, j).days for j in range(n_draws)]
    cols, info = evaluate(sample, parts, methods, opts, days, xp)
    if parent is not None:
        info.update(evidence_replies=int((parent >= 0).sum()),
                    evidence_reply_parents_absent=absent)
    return cols, info


def _all(sample, regions, methods, states, opts, xp) -> dict[str, np.ndarray]:
    out = {}
    for m in methods:
        out.update(_score(m, sample, regions, states[m], opts, xp))
    return out


def combined(cols: dict[str, np.ndarray], part: str, basin_ids: np.ndarray) -> np.ndarray:
    """Per basin (in `basin_ids` order): the mean z over its scored rows (NaN: none)."""
    out = np.full(len(basin_ids), np.nan)
    mine = (cols["part"] == part) & np.isfinite(cols["z"])
    for i, b in enumerate(basin_ids):
        z = cols["z"][mine & (cols["basin_id"] == b)]
        if len(z):
            out[i] = float(z.mean())
    return out


__all__ = ["METHODS", "Options", "Regions", "Sample", "check_methods", "combined", "evaluate",
           "of_job", "of_part", "of_rows"]
