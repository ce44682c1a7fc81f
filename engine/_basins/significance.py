"""Basin strength and significance against the time-shuffled null.

A basin is a place where tweets gather more at some times than the time-shuffled rows would
put there: the null keeps every position and permutes the times, so a static cluster (a
topic present all year) is no basin, while one that emerges, holds and fades is.

Statistic (a prospective scan log-likelihood ratio with a robust volume per bin):
- each cluster k of bin t defines a region R_k, the ball around its core (the members'
  coordinate-wise median, with their median distance to it as radius: robust to the
  background a cluster swallows); it is scored on the NEXT bin: c_k counts bin t+1's rows
  in R_k;
- the share of bin b, w_b, is the median over reference balls (centres uniform over the
  rows' box, each holding ~PER_BIN rows per bin) of each ball's count in b over its count in
  all the data: a median, so neither basins (a minority of the balls) nor their volume move
  it;
- under the time shuffle (every row's time drawn from all the data's times) R_k holds rows
  in proportion to the share: mu_k = w_{t+1} (N(R_k) - N_t(R_k)) / (1 - w_t), N over all the
  data (both parts), bin t's own rows left out. Over all the data, not the part: against the
  part alone a basin alive for most of the part is its own reference and looks static;
- a basin is the tube of its clusters, c = sum c_k, mu = sum mu_k, and its strength is the
  Poisson log-likelihood ratio c ln(c/mu) - (c - mu) (0 when c <= mu); `density_ratio` c/mu
  and `excess` c - mu are its effect sizes.
Why so: the pipeline puts each cluster where bin t happens to be dense, so counting bin t
itself rewards every noise fluctuation, and a long chain of them adds up to a strong
"basin". Bin t+1 did not choose the region: a fluctuation does not recur there, a basin does
(tweets keep landing where they landed). Against raw bin totals (Kulldorff's space-time
permutation form, mu = N(R) n_t / N) every background region looks dense in quiet bins and
sparse where basins elsewhere add volume; against a local surround, a basin next door moves
the reference. The median volume is moved by neither.

p-values: the null distribution of a basin's strength comes from M draws of time-shuffled
rows run through the same pipeline with the same parameters; every basin of every draw is
one sample of it. q(s) is the share of those samples at or above s, with an exponential
tail fitted to the top TAIL share above the samples' range (likelihood ratios have
exponential tails; its scale at an upper confidence bound), and the p-value corrects for the
n basins tested in the part (Sidak: p = 1 - (1 - q)^n), so `significant` (p <= alpha)
holds the family-wise error near alpha (0.03-0.04 at alpha 0.05 with 8 or 19 draws of 30
basins, simulated; tests/basins/test_significance.py).
A basin is judged on its strongest window (`basin_strength`), and tracks broken for a bin
or two are stitched first (`stitch_tracks`); the null draws go through the same steps.
Why not the max-T null (each draw's strongest basin): how many tracks a pipeline draws
depends on the rest of the data (HDBSCAN on bins holding a few basins keeps more noise
clusters than on the shuffled rows, whose blobs are static), so the draws' maxima came from
fewer tracks than the real part tests and noise passed; per-basin samples with the real
count of tests do not depend on that.

Array code over `xp` (NumPy or CuPy): the region counts are one product per chunk of rows;
the reference balls' radii come from a SciPy k-d tree on the host.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import gamma as gamma_dist

TAIL = 0.1  # share of the null samples the exponential tail is fitted to
TAIL_CONFIDENCE = 0.2  # the tail's scale is taken at its 1 - this upper confidence bound
REFERENCES = 256  # reference balls for the volume of a bin
PER_BIN = 30  # rows per bin a reference ball holds on average


def region_counts(X, row_bin, n_bins: int, centres, radii, xp=np, chunk: int = 16384
                  ) -> np.ndarray:
    """(K, n_bins) rows of each bin inside each ball (centre k, radius k), on xp's device."""
    K = len(centres)
    out = xp.zeros((K, n_bins), xp.float64)
    if K == 0 or n_bins == 0:
        return _host(out)
    C = xp.asarray(centres, xp.float64)
    r2 = xp.asarray(radii, xp.float64) ** 2
    cc = (C * C).sum(1)
    eye = xp.eye(n_bins, dtype=xp.float64)
    for a in range(0, len(X), chunk):
        x = xp.asarray(X[a:a + chunk], xp.float64)
        b = xp.asarray(row_bin[a:a + chunk])
        d2 = (x * x).sum(1)[:, None] + cc[None, :] - 2.0 * (x @ C.T)
        inside = (d2 <= r2[None, :]).astype(xp.float64)
        out += inside.T @ eye[b]
    return _host(out)


def _host(v) -> np.ndarray:
    return v.get() if hasattr(v, "get") else np.asarray(v)


def bin_shares(X, row_bin, n_bins: int, seed, xp=np) -> np.ndarray:
    """(n_bins,) robust share of the data's rows that each bin of the part holds: the median
    over reference balls of (the ball's rows in the bin) / (its rows in all the data).
    Centres are drawn uniformly over the rows' box (so dense basins, small in area, are a
    small minority of them); each radius reaches ~PER_BIN rows per bin of the part, so a
    ball's share is not Poisson noise."""
    from scipy.spatial import cKDTree

    inside = row_bin >= 0
    n, n_part = len(X), int(inside.sum())
    if n_part == 0 or n_bins == 0:
        return np.zeros(n_bins)
    Xh = np.asarray(X, float)
    lo, hi = np.quantile(Xh, 0.01, axis=0), np.quantile(Xh, 0.99, axis=0)
    centres = np.random.default_rng(seed).uniform(lo, hi, (REFERENCES, Xh.shape[1]))
    k = int(min(PER_BIN * n_bins * n / n_part, max(n // 4, 1)))
    radius = cKDTree(Xh).query(centres, k=[k])[0][:, 0]
    counts = region_counts(Xh[inside], row_bin[inside], n_bins, centres, radius, xp)
    total = region_counts(Xh, np.zeros(n, np.int64), 1, centres, radius, xp)[:, 0]
    ok = total > 0
    if not ok.any():
        return np.full(n_bins, n_part / n / n_bins)
    return np.median(counts[ok] / total[ok, None], axis=0)


def cluster_scan(X, row_bin, n_bins: int, table: dict[str, np.ndarray], xp=np, seed=0
                 ) -> dict[str, np.ndarray]:
    """Per cluster of a part's table, on the next bin: region_count c, region_expected mu,
    cluster_llr, density_ratio (zeros for the part's last bin). X holds all the data's
    rows, row_bin their bin in the part (-1 outside it)."""
    inside = row_bin >= 0
    r = np.maximum(table["core_radius"].astype(float), 1e-12)
    t = table["bin"].astype(np.int64)
    if len(t) == 0:
        z = np.zeros(0)
        return {"region_count": z, "region_expected": z, "cluster_llr": z,
                "density_ratio": z}
    ball = region_counts(X[inside], row_bin[inside], n_bins, table["core_centre"], r, xp)
    total = region_counts(X, np.zeros(len(X), np.int64), 1, table["core_centre"], r, xp)[:, 0]
    w = bin_shares(X, row_bin, n_bins, seed, xp)
    k = np.arange(len(t))
    has_next = t + 1 < n_bins
    nxt = np.minimum(t + 1, n_bins - 1)
    c = np.where(has_next, ball[k, nxt], 0.0)
    # Bin t chose the region: its rows are left out, of the count and of the shares.
    rest = total - ball[k, t]
    mu = np.where(has_next, rest * w[nxt] / np.maximum(1.0 - w[t], 1e-12), 0.0)
    llr = poisson_llr(c, mu)
    ratio = np.divide(c, mu, out=np.zeros_like(c), where=mu > 0)
    return {"region_count": c, "region_expected": mu, "cluster_llr": llr,
            "density_ratio": ratio}


def poisson_llr(c, mu) -> np.ndarray:
    """c ln(c/mu) - (c - mu) where c > mu, else 0."""
    c, mu = np.asarray(c, float), np.asarray(mu, float)
    hi = (c > mu) & (mu > 0)
    out = np.zeros(np.broadcast(c, mu).shape)
    out[hi] = c[hi] * np.log(c[hi] / mu[hi]) - (c[hi] - mu[hi])
    return out


def stitch_tracks(table: dict[str, np.ndarray], max_gap: int = 2) -> np.ndarray:
    """Basin ids with broken tracks joined: a track that starts within `max_gap` bins after
    another one ended, with its first core within the two cores' radii of that one's last
    core, continues it (the nearest such track; each track continued at most once). Hungarian
    tracking loses a basin for a bin or two when its cluster splits or shrinks below the
    minimum size; counted as two basins, one planted basin would be found twice."""
    basin = table["basin_id"].astype(np.int64).copy()
    if len(basin) == 0:
        return basin
    t = table["bin"].astype(np.int64)
    ids = np.unique(basin)
    first = {b: int(t[basin == b].min()) for b in ids}
    last = {b: int(t[basin == b].max()) for b in ids}

    def end_core(b, at):
        r = np.flatnonzero((basin == b) & (t == at))[0]
        return table["core_centre"][r], float(table["core_radius"][r])

    continued = set()
    root = {b: b for b in ids}
    for b in sorted(ids, key=lambda x: first[x]):
        cb, rb = end_core(b, first[b])
        best, best_d = None, np.inf
        for a in ids:
            if a in continued or a == b or not 1 <= first[b] - last[a] <= max_gap:
                continue
            ca, ra = end_core(a, last[a])
            d = float(np.linalg.norm(ca - cb))
            if d <= ra + rb and d < best_d:
                best, best_d = a, d
        if best is not None:
            continued.add(best)
            root[b] = root[best]
    return np.array([root[b] for b in basin], np.int64)


def basin_strength(basin_id: np.ndarray, bins: np.ndarray, c: np.ndarray, mu: np.ndarray
                   ) -> dict[str, np.ndarray]:
    """Per basin (sorted ids): the strongest window of its tube (Kulldorff's scan over time
    windows): among runs of consecutive clusters of the track, the one with the largest LLR
    of sum c against sum mu. A track that chained noise before a basin emerged, or after it
    faded, is judged on the basin's stretch. Returns its observed, expected, strength,
    ratio, excess and the window's first and last cluster bins."""
    ids, inv = np.unique(basin_id, return_inverse=True)
    K = len(ids)
    out = {k: np.zeros(K) for k in ("region_count", "region_expected", "strength")}
    first, last = np.zeros(K, np.int64), np.zeros(K, np.int64)
    for b in range(K):
        rows = np.flatnonzero(inv == b)
        rows = rows[np.argsort(bins[rows], kind="stable")]
        cs = np.concatenate([[0.0], np.cumsum(c[rows])])
        ms = np.concatenate([[0.0], np.cumsum(mu[rows])])
        i, j = np.triu_indices(len(rows) + 1, 1)  # windows rows[i:j]
        llr = poisson_llr(cs[j] - cs[i], ms[j] - ms[i])
        w = int(np.argmax(llr))
        out["region_count"][b] = cs[j[w]] - cs[i[w]]
        out["region_expected"][b] = ms[j[w]] - ms[i[w]]
        out["strength"][b] = llr[w]
        first[b], last[b] = bins[rows[i[w]]], bins[rows[j[w] - 1]]
    cb, mb = out["region_count"], out["region_expected"]
    ratio = np.divide(cb, mb, out=np.zeros_like(cb), where=mb > 0)
    return {"basin_id": ids, **out, "density_ratio": ratio, "excess": cb - mb,
            "window_first_bin": first, "window_last_bin": last}


def tail_probability(s: np.ndarray, null: np.ndarray) -> np.ndarray:
    """q(s) = P(null strength >= s): empirical (with the +1 of a permutation test) while at
    least 10 samples reach s, beyond that an exponential tail fitted by its mean excess over
    the top TAIL share of the samples."""
    s = np.asarray(s, float)
    null = np.sort(np.asarray(null, float))
    n = len(null)
    if n == 0:
        return np.full(len(s), np.nan)
    exceed = n - np.searchsorted(null, s, side="left")
    q = (1.0 + exceed) / (n + 1.0)
    n_tail = max(int(np.ceil(TAIL * n)), 10)
    if n >= n_tail:
        u = null[n - n_tail]
        # The mean excess, raised to its 80% upper confidence bound (n_tail beta_hat / beta
        # is Gamma(n_tail)): a tail fitted to a few dozen samples is otherwise too thin often
        # enough to lift the family-wise error to ~0.07 at alpha 0.05 (0.03-0.04 with it).
        beta = max(float(np.mean(null[n - n_tail:] - u)), 1e-12) * n_tail / \
            gamma_dist.ppf(TAIL_CONFIDENCE, n_tail)
        far = exceed < 10
        q[far] = (n_tail / (n + 1.0)) * np.exp(-np.maximum(s[far] - u, 0.0) / beta)
    return np.minimum(q, 1.0)


def sidak_pvalues(strength: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Family-wise p-values of a part's basins: 1 - (1 - q)^n over its n basins."""
    q = tail_probability(strength, null)
    return -np.expm1(len(q) * np.log1p(-np.minimum(q, 1 - 1e-16)))


def null_maximum(strength: np.ndarray) -> float:
    """A draw's largest basin strength (0 with no basin: nothing beat the null)."""
    return float(np.max(strength)) if len(strength) else 0.0


def leave_one_out_counts(draw_strengths: list[np.ndarray], alpha: float) -> list[int]:
    """Per null draw: its basins significant against the other draws (the null's own count
    of false discoveries, which should be 0 in all but about alpha of the draws)."""
    out = []
    for j, s in enumerate(draw_strengths):
        others = np.concatenate([d for i, d in enumerate(draw_strengths) if i != j] or
                                [np.zeros(0)])
        out.append(int((sidak_pvalues(s, others) <= alpha).sum()) if len(others) else 0)
    return out


def strength_threshold(null: np.ndarray, n_tests: int, alpha: float) -> float:
    """The strength a basin must exceed to be significant among n_tests (bisection on the
    monotone p-value)."""
    null = np.asarray(null, float)
    if len(null) == 0:
        return float("inf")
    q_target = -np.expm1(np.log1p(-alpha) / max(n_tests, 1))
    lo, hi = 0.0, float(null.max()) + 1.0
    for _ in range(64):
        if tail_probability(np.array([hi]), null)[0] <= q_target:
            break
        hi *= 2
    else:  # too few null samples for a tail: no strength reaches the target
        return float("inf")
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if tail_probability(np.array([mid]), null)[0] <= q_target else (mid, hi)
    return hi


def duplicates(significant: np.ndarray, strength: np.ndarray, cores: np.ndarray,
               radii: np.ndarray, first_day: np.ndarray, last_day: np.ndarray) -> np.ndarray:
    """Per basin: the stronger significant basin it duplicates, or -1. Two significant basins
    whose cores lie inside each other's core balls while their active windows overlap are one
    place at one time: one basin, tracked twice (Hungarian tracking can swap identities when a
    bin's cluster swallows two basins, leaving two tracks that each hold part of one). Inside
    the smaller ball, not the sum: a cluster that swallowed two basins has a wide core, and
    the basin beside it is not its duplicate.
    Visited strongest first, so each duplicate points at a basin that is kept."""
    out = np.full(len(strength), -1, np.int64)
    kept: list[int] = []
    for b in np.argsort(-np.asarray(strength, float), kind="stable"):
        if not significant[b]:
            continue
        for a in kept:
            near = np.linalg.norm(cores[a] - cores[b]) <= min(radii[a], radii[b])
            overlap = min(last_day[a], last_day[b]) > max(first_day[a], first_day[b])
            if near and overlap:
                out[b] = a
                break
        else:
            kept.append(int(b))
    return out
