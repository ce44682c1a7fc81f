"""A forecast of where the next `horizon` days' tweets land, scored by their log-likelihood
("a better thing to test against would be the position of all actual tweets N days into the
future", seed 001).

From bin t (ending at e_t) the forecast density of the tweets arriving in [e_t, e_t + h) is

    p(x) = sum_k pi_k N(x; m_k, S_k) + (1 - sum_k pi_k) g_t(x),   pi_k = rho_a(k) size_k / n_t

- N(m_k, S_k): cluster k of bin t (its members' mean and covariance);
- g_t: the background, a Gaussian KDE (scipy, Scott's rule) of all tweets before e_t;
- rho_a: how much of a cluster's share carries over, one value per age class of its basin
  (new, second bin, older), fitted forward-chained: the forecast from bin t uses only the
  transitions whose arrivals are known by e_t (earlier parts included), by coordinate ascent
  on a grid of their pooled log-likelihood (concave in rho). The mixture nests the global
  density (all rho = 0), so fitted weights only move off it where history says basins carry
  over.

Baselines, each scored on the same arriving tweets: (a) persistence, the KDE of bin t's own
tweets; (b) the null, this forecast built from a time-shuffled draw's clusters and rows; (c)
the global density g_t. Skills are differences of mean log-likelihood per tweet (nats;
positive: the forecast is better).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp
from scipy.stats import gaussian_kde

RHO_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
RHO_DEFAULT = (0.5, 0.5, 0.5)  # before any history
MAX_SHARE = 0.98  # the background always keeps some mass
MAX_REFERENCE = 1000  # KDE reference rows (seeded subsample)
FLOOR = -50.0  # log-density floor per tweet (a KDE far in its tails underflows)


def kde_logpdf(ref: np.ndarray, x: np.ndarray, seed) -> np.ndarray | None:
    """log density of x under scipy's Gaussian KDE of `ref` (Scott's rule), evaluated as one
    product per chunk in whitened coordinates (scipy's own logpdf is ~5x slower here); None
    with too few or degenerate rows."""
    d = ref.shape[1]
    if len(ref) < d + 2 or len(x) == 0:
        return None
    if len(ref) > MAX_REFERENCE:
        ref = ref[np.random.default_rng(seed).choice(len(ref), MAX_REFERENCE, replace=False)]
    try:
        cov = gaussian_kde(ref.T).covariance
        L = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        return None
    a = np.linalg.solve(L, ref.T).T
    aa = (a * a).sum(1)
    norm = np.log(len(ref)) + np.log(np.diag(L)).sum() + 0.5 * d * np.log(2 * np.pi)
    out = np.empty(len(x))
    for i in range(0, len(x), 4096):
        b = np.linalg.solve(L, x[i:i + 4096].T).T
        d2 = (b * b).sum(1)[:, None] + aa[None, :] - 2.0 * (b @ a.T)
        out[i:i + 4096] = logsumexp(-0.5 * np.maximum(d2, 0.0), axis=1) - norm
    return np.maximum(out, FLOOR)


def component_logpdf(X: np.ndarray, labels: np.ndarray, k: int, x: np.ndarray
                     ) -> np.ndarray:
    """(len(x), k) log densities of the k clusters' Gaussians (ridged covariances)."""
    d = X.shape[1]
    out = np.empty((len(x), k))
    scale = float(np.mean(np.var(X, axis=0))) if len(X) else 1.0
    for j in range(k):
        m = X[labels == j]
        mean = m.mean(0)
        cov = np.cov(m.T).reshape(d, d) if len(m) > 1 else np.zeros((d, d))
        cov = cov + (1e-4 * scale + 1e-12) * np.eye(d)
        L = np.linalg.cholesky(cov)
        z = np.linalg.solve(L, (x - mean).T)
        out[:, j] = -0.5 * (z * z).sum(0) - np.log(np.diag(L)).sum() - 0.5 * d * np.log(2 * np.pi)
    return out


@dataclass
class Step:
    """One forecast from bin t, reduced to what rho acts on: within an age class a, rho_a is
    a common factor, so p(x) = sum_a rho_a F_a(x) + (1 - sum_a rho_a S_a) g(x) with
    F_a = sum_{k in a} pi_k N_k and S_a = sum_{k in a} pi_k."""

    log_f: np.ndarray  # (n, 3) log F_a at the arrivals (-inf for an empty class)
    s: np.ndarray  # (3,) S_a
    background: np.ndarray  # (n,) log g_t
    known_at: float = 0.0  # day by which its arrivals are all known

    def loglik(self, rho) -> np.ndarray:
        w = np.asarray(rho, float) * self.s
        total = w.sum()
        scale = MAX_SHARE / total if total > MAX_SHARE else 1.0
        with np.errstate(divide="ignore"):
            logw = np.log(np.append(np.asarray(rho, float) * scale, 1.0 - total * scale))
        terms = np.concatenate([self.log_f, self.background[:, None]], 1) + logw[None, :]
        return np.maximum(logsumexp(terms, axis=1), FLOOR)

    def sample(self, n: int, seed) -> Step:
        """At most n arrivals (seeded), for fitting rho on a long history quickly."""
        if len(self.background) <= n:
            return self
        i = np.random.default_rng(seed).choice(len(self.background), n, replace=False)
        return Step(self.log_f[i], self.s, self.background[i], self.known_at)


def make_step(comp: np.ndarray, share: np.ndarray, age_class: np.ndarray,
              background: np.ndarray, known_at: float) -> Step:
    log_f = np.full((len(background), 3), -np.inf)
    s = np.zeros(3)
    with np.errstate(divide="ignore"):
        for a in range(3):
            sel = age_class == a
            if sel.any():
                log_f[:, a] = logsumexp(comp[:, sel] + np.log(share[sel])[None, :], axis=1)
                s[a] = share[sel].sum()
    return Step(log_f, s, background, known_at)


FIT_ROWS = 200  # arrivals per history step used to fit rho


def _stacked_loglik(log_f: np.ndarray, background: np.ndarray, s: np.ndarray,
                    rho) -> np.ndarray:
    """`Step.loglik` of many steps at once: rows of log_f/background, each row's S_a in s."""
    w = np.asarray(rho, float)[None, :] * s
    total = w.sum(1)
    scale = np.where(total > MAX_SHARE, MAX_SHARE / np.maximum(total, 1e-300), 1.0)
    with np.errstate(divide="ignore"):  # F_a holds the shares already: weight rho_a
        logw = np.concatenate([np.log(np.asarray(rho, float)[None, :] * scale[:, None]),
                               np.log(1.0 - total * scale)[:, None]], 1)
    terms = np.concatenate([log_f, background[:, None]], 1) + logw
    top = terms.max(1)
    with np.errstate(invalid="ignore"):
        out = top + np.log(np.exp(terms - top[:, None]).sum(1))
    return np.maximum(np.where(np.isfinite(top), out, FLOOR), FLOOR)


def fit_rho(history: list[Step]) -> tuple[float, float, float]:
    """Coordinate ascent over RHO_GRID of the pooled log-likelihood of earlier steps."""
    if not history:
        return RHO_DEFAULT
    log_f = np.concatenate([h.log_f for h in history])
    background = np.concatenate([h.background for h in history])
    s = np.concatenate([np.repeat(h.s[None, :], len(h.background), 0) for h in history])
    present = s.max(0) > 0
    rho = list(RHO_DEFAULT)

    def score(r):
        return float(_stacked_loglik(log_f, background, s, r).sum())

    best = score(rho)
    for _ in range(3):
        moved = False
        for a in np.flatnonzero(present):
            for v in RHO_GRID:
                trial = rho.copy()
                trial[a] = v
                sc = score(trial)
                if sc > best + 1e-9:
                    best, rho, moved = sc, trial, True
        if not moved:
            break
    return tuple(rho)


@dataclass
class Targets:
    """Per bin of a part: the rows arriving within the horizon after the bin's end (None when
    the window runs past the part's end or nothing arrives) and their baseline densities."""

    arriving: list[np.ndarray | None]
    global_logpdf: list[np.ndarray | None]
    persistence_logpdf: list[np.ndarray | None]


def targets(coords: np.ndarray, days: np.ndarray, bin_ends: np.ndarray, members, stop: float,
            horizon: float, seed: int, part: int, max_arrivals: int | None = None) -> Targets:
    """`max_arrivals`: score at most that many arriving rows per bin (a seeded subsample;
    tuning ranks 100+ combos by this mean, which a sample of 1000 fixes to ~0.01 nats)."""
    arriving, glob, pers = [], [], []
    order = np.argsort(days, kind="stable")
    sorted_days = days[order]
    for t, end in enumerate(bin_ends):
        lo, hi = np.searchsorted(sorted_days, [end, end + horizon], side="left")
        idx = order[lo:hi] if end + horizon <= stop + 1e-9 else np.zeros(0, np.int64)
        if max_arrivals is not None and len(idx) > max_arrivals:
            idx = np.sort(np.random.default_rng([seed, 25, part, t]).choice(
                idx, max_arrivals, replace=False))
        past = order[:lo]
        g = kde_logpdf(coords[past], coords[idx], [seed, 21, part, t]) if len(idx) else None
        p = kde_logpdf(coords[members[t]], coords[idx], [seed, 22, part, t]) if len(idx) else None
        ok = g is not None and p is not None
        arriving.append(idx if ok else None)
        glob.append(g if ok else None)
        pers.append(p if ok else None)
    return Targets(arriving, glob, pers)


@dataclass
class PartForecast:
    """Per scored bin: the bin, arrivals, and summed log-likelihoods of each forecast."""

    bins: list[int] = field(default_factory=list)
    n: list[int] = field(default_factory=list)
    forecast: list[float] = field(default_factory=list)
    persistence: list[float] = field(default_factory=list)
    global_: list[float] = field(default_factory=list)
    null: list[float] = field(default_factory=list)
    rho: list[tuple] = field(default_factory=list)

    def mean(self, name: str) -> float:
        n = sum(self.n)
        return float(sum(getattr(self, name)) / n) if n else float("nan")

    def metrics(self) -> dict[str, float]:
        out = {"forecast_loglik": self.mean("forecast"), "n_forecast_tweets": int(sum(self.n))}
        for name, attr in (("persistence", "persistence"), ("global", "global_"),
                           ("null", "null")):
            base = self.mean(attr) if len(getattr(self, attr)) == len(self.n) else float("nan")
            out[f"forecast_{name}_loglik"] = base
            out[f"forecast_skill_vs_{name}"] = out["forecast_loglik"] - base
        return out

    def table(self, part: str) -> dict[str, np.ndarray]:
        n = np.maximum(np.asarray(self.n, float), 1)
        cols = {"part": np.full(len(self.bins), part), "bin": np.asarray(self.bins, np.int64),
                "n_arriving": np.asarray(self.n, np.int64),
                "loglik": np.asarray(self.forecast) / n,
                "persistence_loglik": np.asarray(self.persistence) / n,
                "global_loglik": np.asarray(self.global_) / n}
        if len(self.null) == len(self.bins):
            cols["null_loglik"] = np.asarray(self.null) / n
        rho = np.asarray(self.rho, float).reshape(-1, 3)
        for a, name in enumerate(("rho_new", "rho_second", "rho_older")):
            cols[name] = rho[:, a]
        return cols


def steps(coords: np.ndarray, members, labels, table: dict[str, np.ndarray],
          arrive: list[np.ndarray | None], background: list[np.ndarray | None],
          known_at: np.ndarray) -> list[Step | None]:
    """The forecast pieces of every bin of a part (None where nothing is scored)."""
    out = []
    for t, idx in enumerate(arrive):
        if idx is None or background[t] is None:
            out.append(None)
            continue
        r = table["bin"] == t
        k = int(r.sum())
        X = coords[members[t]]
        comp = component_logpdf(X, labels[t], k, coords[idx]) if k else np.zeros((len(idx), 0))
        share = table["size"][r].astype(float) / max(len(members[t]), 1)
        age = np.minimum(table["age"][r].astype(np.int64) - 1, 2)
        out.append(make_step(comp, share, age, background[t], float(known_at[t])))
    return out


def run_forecast(pieces: list[Step | None], bin_ends: np.ndarray, history: list[Step],
                 seed) -> tuple[list, list]:
    """(summed log-likelihood per step or None, rho per step). The forecast from bin t (made
    at its end e_t) is fitted on the history steps whose arrivals are all known by e_t;
    `history` (earlier parts' steps) grows with this part's."""
    sums, rhos = [], []
    for t, st in enumerate(pieces):
        if st is None:
            sums.append(None)
            rhos.append(None)
            continue
        known = [h for h in history if h.known_at <= bin_ends[t] + 1e-9]
        rho = fit_rho(known)
        sums.append(float(st.loglik(rho).sum()))
        rhos.append(rho)
        history.append(st.sample(FIT_ROWS, [seed, 23, len(history)]))
    return sums, rhos


def forecast_part(coords: np.ndarray, result, tg: Targets, horizon: float,
                  history: list[Step], seed: int, null=None) -> PartForecast:
    """Score a part's forecasts (and, with `null` = (shuffled days, the draw's PartResult,
    its history), the same forecaster built from the time-shuffled draw) on the arrivals of
    `tg`. Histories carry over from earlier parts."""
    ends = result.bins.ends
    known_at = ends + horizon
    pieces = steps(coords, result.members, [c.labels for c in result.consensus], result.table,
                   tg.arriving, tg.global_logpdf, known_at)
    sums, rhos = run_forecast(pieces, ends, history, seed)
    null_sums = None
    if null is not None:
        days, nres, nhist = null
        order = np.argsort(days, kind="stable")
        sorted_days = days[order]
        background = []
        for t, idx in enumerate(tg.arriving):
            past = order[:np.searchsorted(sorted_days, ends[t], side="left")]
            background.append(None if idx is None else
                              kde_logpdf(coords[past], coords[idx], [seed, 24, t]))
        npieces = steps(coords, nres.members, [c.labels for c in nres.consensus], nres.table,
                        tg.arriving, background, known_at)
        null_sums, _ = run_forecast(npieces, ends, nhist, seed + 1)
    out = PartForecast()
    for t, total in enumerate(sums):
        if total is None or (null_sums is not None and null_sums[t] is None):
            continue
        out.bins.append(t)
        out.n.append(len(tg.arriving[t]))
        out.forecast.append(total)
        out.persistence.append(float(tg.persistence_logpdf[t].sum()))
        out.global_.append(float(tg.global_logpdf[t].sum()))
        if null_sums is not None:
            out.null.append(null_sums[t])
        out.rho.append(rhos[t])
    return out
