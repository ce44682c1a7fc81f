"""Early detection: rank fledgling clusters by how likely they are to become sustained.

- fledgling at t: size_t <= max(the bin's adaptive minimum size, the bin's 25th size percentile);
- sustained: within the next N bins, the cluster's basin has size >= T for >= S consecutive
  bins, with T the Tq quantile of the train cluster sizes;
- a logistic regression on cluster features is refitted at every bin t on the fledglings whose
  outcome is already known at t (bins t' with t' + N <= t) and scores the fledglings at t; on
  the test part the train part's labelled fledglings are known history too (without them the
  first N + few test bins have no model and a short test part scores almost no candidates);
- precision@k with k = max(1, round(k_frac x candidates at t)), pooled over bins; kappa-like
  lift = (P@k - pi) / (1 - pi), pi the prevalence among the scored candidates;
- lead time: bins from the flag to the start of the sustained run, for flagged hits.
Per-cluster tables are small (hundreds of rows), so this runs on the host on both backends.
"""

from __future__ import annotations

import itertools

import numpy as np

FEATURES = ("log_size", "log_prev_size", "is_new", "age", "confidence", "p_cont",
            "log_growth_forecast", "spread", "popularity", "share")


def features(table: dict[str, np.ndarray]) -> np.ndarray:
    size = table["size"].astype(float)
    exp = np.nan_to_num(table["expected_next_size"].astype(float), nan=0.0)
    cols = [np.log1p(size), np.log1p(table["prev_size"]), (table["prev_size"] == 0).astype(float),
            table["age"].astype(float), table["confidence"],
            np.nan_to_num(table["p_cont"].astype(float), nan=0.5),
            np.log1p(exp) - np.log1p(size), table["spread"], table["popularity"],
            size / np.maximum(table["n_points"], 1)]
    return np.stack(cols, 1).astype(float)


def fledglings(table: dict[str, np.ndarray]) -> np.ndarray:
    """Bool per row: the cluster is small for its bin."""
    out = np.zeros(len(table["size"]), bool)
    for t in np.unique(table["bin"]):
        r = table["bin"] == t
        q25 = np.percentile(table["size"][r], 25)
        out[r] = table["size"][r] <= np.maximum(table["min_size"][r], q25)
    return out


def basin_sizes(table: dict[str, np.ndarray]) -> dict[tuple[int, int], int]:
    return {(int(b), int(t)): int(s) for b, t, s in
            zip(table["basin_id"], table["bin"], table["size"], strict=True)}


def sustained(table: dict[str, np.ndarray], n_bins: int, N: int, S: int, T: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(label, known, start offset) per row: sustained within N bins; label known only when
    all N bins exist; offset = bins to the start of the first qualifying run (or -1)."""
    sizes = basin_sizes(table)
    k = len(table["size"])
    label = np.zeros(k, bool)
    known = np.zeros(k, bool)
    start = np.full(k, -1)
    for r in range(k):
        t, b = int(table["bin"][r]), int(table["basin_id"][r])
        known[r] = t + N < n_bins
        run = 0
        for h in range(1, N + 1):
            run = run + 1 if sizes.get((b, t + h), 0) >= T else 0
            if run >= S:
                label[r] = True
                start[r] = h - S + 1
                break
    return label, known, start


def fit_logistic(X: np.ndarray, y: np.ndarray, C: float = 1.0, iters: int = 50
                 ) -> tuple[np.ndarray, float]:
    """L2-penalised logistic regression by Newton's method (scikit-learn's objective:
    0.5 |w|^2 + C * sum of log losses, intercept unpenalised). The tables are a few hundred
    rows, where this is ~50x cheaper than building a scikit-learn estimator per bin."""
    n, d = X.shape
    A = np.hstack([X, np.ones((n, 1))])
    w = np.zeros(d + 1)
    reg = np.r_[np.ones(d), 0.0] / C
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(A @ w, -30, 30)))
        grad = A.T @ (p - y) + reg * w
        H = (A * (p * (1 - p))[:, None]).T @ A + np.diag(reg + 1e-10)
        step = np.linalg.solve(H, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:d], float(w[d])


def rolling_scores(X: np.ndarray, y: np.ndarray, bin_of: np.ndarray, N: int,
                   min_train: int = 8, history: tuple[np.ndarray, np.ndarray] | None = None
                   ) -> np.ndarray:
    """Score of every row, from a model fitted on rows with t' + N <= t plus `history`
    (labelled rows of an earlier part, e.g. train's when scoring test; NaN: no model yet)."""
    scores = np.full(len(y), np.nan)
    Xh, yh = history if history is not None else (np.zeros((0, X.shape[1])), np.zeros(0, bool))
    for t in np.unique(bin_of):
        train = bin_of + N <= t
        now = bin_of == t
        Xt = np.concatenate([Xh, X[train]])
        yt = np.concatenate([yh, y[train]]).astype(float)
        if len(yt) < min_train or len(np.unique(yt)) < 2:
            continue
        mu, sd = Xt.mean(0), Xt.std(0) + 1e-9
        coef, b = fit_logistic((Xt - mu) / sd, yt)
        scores[now] = 1 / (1 + np.exp(-(((X[now] - mu) / sd) @ coef + b)))
    return scores


def labelled_candidates(table: dict[str, np.ndarray], n_bins: int, N: int, S: int, T: float
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(features, sustained) of a part's fledglings whose outcome is known within the part."""
    label, known, _ = sustained(table, n_bins, N, S, T)
    rows = np.flatnonzero(fledglings(table) & known)
    return features(table)[rows], label[rows]


def evaluate_setting(table: dict[str, np.ndarray], n_bins: int, N: int, S: int, T: float,
                     k_frac: float, history: tuple[np.ndarray, np.ndarray] | None = None
                     ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Metrics of one (N, S, T, k_frac) setting, and the scored candidates. `history`: labelled
    candidates of the preceding part (`labelled_candidates` of train when scoring test)."""
    cand = fledglings(table)
    label, known, start = sustained(table, n_bins, N, S, T)
    rows = np.flatnonzero(cand & known)
    X = features(table)[rows]
    y = label[rows]
    bin_of = table["bin"][rows]
    scores = rolling_scores(X, y, bin_of, N, history=history)
    flagged = np.zeros(len(rows), bool)
    hits = picks = 0
    scored = ~np.isnan(scores)
    for t in np.unique(bin_of[scored]):
        r = np.flatnonzero(scored & (bin_of == t))
        k = max(1, int(round(k_frac * len(r))))
        top = r[np.argsort(-scores[r], kind="stable")[:k]]
        flagged[top] = True
        hits += int(y[top].sum())
        picks += k
    pi = float(y[scored].mean()) if scored.any() else float("nan")
    p_at_k = hits / picks if picks else float("nan")
    lift = (p_at_k - pi) / (1 - pi) if picks and pi < 1 else float("nan")
    hit_rows = rows[flagged & y]
    metrics = {"N": N, "S": S, "T": float(T), "k_frac": k_frac,
               "n_candidates": int(scored.sum()), "n_flagged": picks,
               "precision_at_k": p_at_k, "prevalence": pi, "kappa_lift": lift,
               "mean_lead_bins": float(np.mean(start[hit_rows])) if len(hit_rows) else float("nan")}
    cands = {"row": rows, "bin": bin_of, "cluster": table["cluster"][rows],
             "basin_id": table["basin_id"][rows], "score": scores, "flagged": flagged,
             "sustained": y}
    return metrics, cands


def early_grid(table: dict[str, np.ndarray], n_bins: int, train_sizes: np.ndarray,
               Ns=(2, 3), Ss=(1, 2), Tqs=(0.5, 0.6), k_fracs=(0.05, 0.10)) -> list[dict]:
    """Metrics of every setting of the small grid."""
    out = []
    for N, S, Tq, kf in itertools.product(Ns, Ss, Tqs, k_fracs):
        if S > N:
            continue
        T = float(np.quantile(train_sizes, Tq)) if len(train_sizes) else 0.0
        m, _ = evaluate_setting(table, n_bins, N, S, T, kf)
        out.append({**m, "Tq": Tq})
    return out


def best_setting(rows: list[dict]) -> dict | None:
    """Largest kappa-like lift, then precision@k (NaN ranks last)."""
    def key(m):
        lift = m["kappa_lift"]
        p = m["precision_at_k"]
        return (-(lift if np.isfinite(lift) else -np.inf), -(p if np.isfinite(p) else -np.inf))
    return min(rows, key=key) if rows else None


def subset_metrics(cands: dict[str, np.ndarray], keep: np.ndarray) -> dict[str, float]:
    """Precision@k, prevalence and lift of an evaluated setting's ranking restricted to the
    candidates in `keep` (e.g. those of significant basins): the same flags, fewer rows."""
    scored = ~np.isnan(cands["score"]) & np.asarray(keep, bool)
    y = cands["sustained"][scored]
    flagged = cands["flagged"][scored]
    pi = float(y.mean()) if len(y) else float("nan")
    p_at_k = float(y[flagged].mean()) if flagged.any() else float("nan")
    lift = (p_at_k - pi) / (1 - pi) if flagged.any() and pi < 1 else float("nan")
    return {"n_candidates": int(scored.sum()), "n_flagged": int(flagged.sum()),
            "precision_at_k": p_at_k, "prevalence": pi, "kappa_lift": lift}
