"""Time-decayed density: how much denser a basin's place is now than it is over all time.

The density at the end of bin t is a kernel density estimate on the basin axes (Gaussian,
bandwidth h) of the rows up to then, each weighted by engagement * exp(-(T_t - s) / tau)
(s: the row's day). It lives on a grid (engine._basins.evidence.grid).

tau and h are picked once, on the first part (train), from a few candidates (seed 001
warns against tuning many values): the pair whose density at the end of each bin gives the
rows of the next bin the highest mean log-likelihood (a forecast, so a small h that only
fits the past loses).

Scores of a region (cluster of bin t, scored on bin t + 1, bin t's own rows left out), at
its centre c:
- `density`: ln f_{t+1}(c) - ln f_all(c), f_all the density of all rows (no decay, same
  h). Under the time shuffle f_{t+1} follows f_all, so the score is near 0 wherever a place
  is as dense as it always is, and positive where tweets gather now;
- `density_growth`: ln f_{t+1}(c) - ln f_<t(c), f_<t the (normalised) density of what came
  before bin t: how much the place's share of the mass grew over bin t + 1. Positive for a
  basin that is forming, near 0 for one that is as strong as before (and under the null).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine._basins.evidence import grid as grids
from engine._basins.evidence.regions import Regions
from engine._basins.evidence.sample import Sample
from engine.errors import UserError

NAMES = ("density", "density_growth")
FLOOR = 1e-300  # a density of 0 read as this (its log stays finite)
MIN_EFFECTIVE_ROWS = 10.0  # median effective rows behind a bin's density, at least
PREDICT_ROWS = 2000  # rows of each next bin the forecast is scored on (a seeded sample)


@dataclass
class State:
    grid: grids.Grid
    h: float
    tau: float
    flat: object  # cell index of every row (xp array)
    reference: object  # density of all rows at bandwidth h (xp array)
    loglik: dict = field(default_factory=dict)  # (h, tau) -> mean next-bin log-likelihood


def part_bins(days: np.ndarray, starts: np.ndarray, size: float) -> np.ndarray:
    """Bin of every row in the part's bins (-1 before, n_bins after them)."""
    b = np.floor((days - starts[0]) / size).astype(np.int64)
    return np.clip(b, -1, len(starts))


def decayed(sample: Sample, row_bin: np.ndarray, b: int, end: float, tau: float) -> np.ndarray:
    """Weights of bin b's rows (b = -1: all rows before the part) at day `end`."""
    w = np.zeros(len(row_bin))
    mine = row_bin == b
    w[mine] = sample.weight[mine] * np.exp(-(end - sample.days[mine]) / tau)
    return w


def effective_rows(w: np.ndarray) -> float:
    s2 = float((w * w).sum())
    return float(w.sum()) ** 2 / s2 if s2 > 0 else 0.0


def cumulative(sample: Sample, regions: Regions, tau: float, flat, g: grids.Grid, xp=np):
    """Per bin t of the part: (histogram of bin t, decayed sum D_{t-1} of everything before
    bin t at its start, effective rows of D_t), in bin order."""
    starts, size = regions.starts, regions.size_days
    rb = part_bins(sample.days, starts, size)
    before = grids.histogram(g, flat, decayed(sample, rb, -1, starts[0], tau), xp)
    step = np.exp(-size / tau)
    for t in range(regions.n_bins):
        w = decayed(sample, rb, t, starts[t] + size, tau)
        h_t = grids.histogram(g, flat, w, xp)
        yield h_t, before, effective_rows(w)
        before = before * step + h_t


def prepare(sample: Sample, parts: dict[str, Regions], opts, xp=np) -> State:
    """tau and h chosen on the first part by next-bin predictive log-likelihood."""
    spread = float(np.median(sample.coords.std(0)))
    hs = [f * spread for f in opts.bandwidths]
    taus = [f * opts.bin_size_days for f in opts.tau_bins]
    for f, tau in zip(opts.tau_bins, taus, strict=True):
        if not tau > 0:
            raise UserError(f"job.evidence_tau_bins={list(opts.tau_bins)}: {f} is not > 0")
    for f, h in zip(opts.bandwidths, hs, strict=True):
        if not h > 0:
            raise UserError(f"job.evidence_bandwidths={list(opts.bandwidths)}: {f} is not > 0")
    g = grids.make_grid(sample.coords, max(hs), opts.grid_cells(sample.coords.shape[1]))
    for h in hs:
        grids.check_bandwidth(g, h, f"job.evidence_bandwidths={list(opts.bandwidths)}")
    flat = grids.cell_index(g, sample.coords, xp)
    first = next(iter(parts.values()))
    rb = part_bins(sample.days, first.starts, first.size_days)
    rng = np.random.default_rng([opts.seed, 19, 1])
    targets = []
    for t in range(1, first.n_bins):
        rows = np.flatnonzero(rb == t)
        targets.append(sample.coords[rng.choice(rows, min(len(rows), PREDICT_ROWS),
                                                replace=False)])
    loglik = {}
    for tau, f in zip(taus, opts.tau_bins, strict=True):
        dens = list(cumulative(sample, first, tau, flat, g, xp))
        n_eff = np.median([e for *_, e in dens]) if dens else 0.0
        if not n_eff >= MIN_EFFECTIVE_ROWS:
            raise UserError(f"job.evidence_tau_bins={list(opts.tau_bins)}: tau = {f} bin(s) "
                            f"leaves {n_eff:.1f} effective rows per bin (at least "
                            f"{MIN_EFFECTIVE_ROWS:g} needed): raise it")
        step = np.exp(-first.size_days / tau)
        for h in hs:
            ll = []
            for t, x in enumerate(targets):
                h_t, before, _ = dens[t]
                D = grids.density(g, h_t + before * step, h, xp)
                if len(x):
                    ll.append(np.log(np.maximum(grids.at(g, D, x, xp), FLOOR)).mean())
            loglik[(h, tau)] = float(np.mean(ll)) if ll else float("-inf")
    (h, tau), _ = max(loglik.items(), key=lambda kv: kv[1])
    H_all = grids.histogram(g, flat, sample.weight, xp)
    return State(g, h, tau, flat, grids.density(g, H_all, h, xp), loglik)


def window_densities(sample: Sample, regions: Regions, state: State, xp=np):
    """(t, f) for each bin t that chose a region: f the density at the end of bin t + 1 of
    bin t + 1's rows and everything before bin t (bin t's own rows left out)."""
    for t, after, _ in _window_histograms(sample, regions, state, xp):
        yield t, grids.density(state.grid, after, state.h, xp)


def _window_histograms(sample: Sample, regions: Regions, state: State, xp=np):
    """(t, decayed cell sums at the end of bin t + 1, those of everything before bin t) for
    each bin t that chose a region (bin t's own rows in neither)."""
    wanted = set(regions.bin.tolist())
    step = np.exp(-regions.size_days / state.tau)
    prev = None  # everything before the previous bin, at its start
    for t, (h_t, before, _) in enumerate(cumulative(sample, regions, state.tau, state.flat,
                                                    state.grid, xp)):
        if t - 1 in wanted and prev is not None:
            yield t - 1, h_t + prev * step * step, prev
        prev = before


def score(sample: Sample, regions: Regions, state: State, xp=np) -> dict[str, np.ndarray]:
    """ln f_{t+1}(c) - ln f_all(c) and ln f_{t+1}(c) - ln f_<t(c) per region."""
    out = {name: np.full(len(regions), np.nan) for name in NAMES}
    g = state.grid

    def log_at(D, c):
        return np.log(np.maximum(grids.at(g, D, c, xp), FLOOR))

    ref = log_at(state.reference, regions.centre)
    for t, after, before in _window_histograms(sample, regions, state, xp):
        k = np.flatnonzero(regions.bin == t)
        now = log_at(grids.density(g, after, state.h, xp), regions.centre[k])
        out["density"][k] = now - ref[k]
        if float(before.sum()) > 0:  # nothing before the part's first bin: no growth
            out["density_growth"][k] = now - log_at(grids.density(g, before, state.h, xp),
                                                    regions.centre[k])
    return out
