"""Polis's statement statistics: representativeness, consensus, group-aware consensus,
voting patterns, pairwise agreement and bridge voters.

All of them are functions of per-group vote counts (agree / disagree / pass / cast per group
and statement), computed in one pass over the sparse votes; the formulas then run on small
(groups x statements) arrays:
- pa = (na + 1) / (ns + 2); ra = pa / ((na_rest + 1) / (ns_rest + 2)) (rest: every other
  grouped voter); pat = 2 sqrt(ns + 1) ((na + 1) / (ns + 1) - 0.5) (one-proportion test);
  rat = two-proportion z-test with +1 pseudo-counts; the same with disagree votes.
- significant: z > 1.2816 (90 %, one-sided); selection ranks by ra * rat * pa * pat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Z90 = 1.2816


@dataclass
class Counts:
    """Vote counts per group (rows) and statement (columns)."""

    agree: np.ndarray
    disagree: np.ndarray
    passed: np.ndarray

    @property
    def cast(self) -> np.ndarray:
        return self.agree + self.disagree + self.passed


def group_counts(values, group_of_row: np.ndarray, n_groups: int, xp=np) -> Counts:
    """Counts of each vote value per group in one pass; rows with group < 0 are left out."""
    n, m = values.shape
    indptr = xp.asarray(values.indptr)
    if xp is np:
        row = np.repeat(np.arange(n), np.diff(indptr))
    else:  # CuPy's repeat takes no array of counts: find each vote's row instead
        row = xp.searchsorted(indptr[1:], xp.arange(len(values.data)), side="right")
    g = xp.asarray(group_of_row, dtype=xp.int64)[row]
    # One bincount over (group, statement, vote + 1) cells.
    idx = (g * m + xp.asarray(values.indices)) * 3 + (xp.asarray(values.data) + 1)
    if not bool((g >= 0).all()):
        idx = idx[g >= 0]
    c = xp.bincount(idx, minlength=n_groups * m * 3).reshape(n_groups, m, 3)
    if xp is not np:
        c = c.get()
    return Counts(agree=c[:, :, 2], disagree=c[:, :, 0], passed=c[:, :, 1])


def merge_counts(c: Counts, parent: np.ndarray, n_parents: int) -> Counts:
    """Counts of clusters summed into their parents (e.g. base clusters into groups)."""
    def add(x):
        out = np.zeros((n_parents, x.shape[1]), x.dtype)
        np.add.at(out, parent, x)
        return out

    return Counts(add(c.agree), add(c.disagree), add(c.passed))


def prob(success, total):
    return (success + 1.0) / (total + 2.0)


def prop_test(success, total):
    """Polis's one-proportion test: 2 sqrt(n + 1) ((s + 1) / (n + 1) - 0.5)."""
    return 2.0 * np.sqrt(total + 1.0) * ((success + 1.0) / (total + 1.0) - 0.5)


def two_prop_test(succ_in, succ_out, n_in, n_out):
    """Two-proportion z-test with +1 pseudo-counts (0 where the pooled share is 1)."""
    s1, s2 = succ_in + 1.0, succ_out + 1.0
    n1, n2 = n_in + 1.0, n_out + 1.0
    pooled = (s1 + s2) / (n1 + n2)
    denom = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (s1 / n1 - s2 / n2) / denom
    return np.where(denom > 0, z, 0.0)


def repness_stats(c: Counts) -> dict[str, np.ndarray]:
    """Per (group, statement): na, nd, ns, pa, pd, pat, pdt, ra, rd, rat, rdt."""
    ns = c.cast.astype(np.float64)
    na, nd = c.agree.astype(np.float64), c.disagree.astype(np.float64)
    ns_rest, na_rest, nd_rest = ns.sum(0) - ns, na.sum(0) - na, nd.sum(0) - nd
    pa, pd = prob(na, ns), prob(nd, ns)
    return {
        "na": na, "nd": nd, "ns": ns, "pa": pa, "pd": pd,
        "pat": prop_test(na, ns), "pdt": prop_test(nd, ns),
        "ra": pa / prob(na_rest, ns_rest), "rd": pd / prob(nd_rest, ns_rest),
        "rat": two_prop_test(na, na_rest, ns, ns_rest),
        "rdt": two_prop_test(nd, nd_rest, ns, ns_rest),
    }


def select_representative(st: dict[str, np.ndarray], group: int, eligible: np.ndarray,
                          pick_max: int = 5, z: float = Z90) -> list[tuple[int, str, bool]]:
    """Polis's representative statements of one group: [(statement index, 'agree'|'disagree',
    is_best_agree)], best agree first, then significant ones by ra*rat*pa*pat, at most
    `pick_max`, agrees before disagrees."""
    s = {k: v[group] for k, v in st.items()}
    idx = np.flatnonzero(eligible)
    agree_for = s["rat"] > s["rdt"]
    metric_a = s["ra"] * s["rat"] * s["pa"] * s["pat"]
    metric_d = s["rd"] * s["rdt"] * s["pd"] * s["pdt"]
    metric = np.where(agree_for, metric_a, metric_d)
    significant = ((s["pat"] > z) & (s["rat"] > z)) | ((s["pdt"] > z) & (s["rdt"] > z))
    # Best agree: Polis's running "beats best of agrees" scan in statement order.
    best = None
    for j in idx:
        if s["na"][j] == 0 and s["nd"][j] == 0:
            continue
        if best is None:
            ok = s["pat"][j] > z or (s["ra"][j] > 1.0 and s["pa"][j] > 0.5)
        elif s["ra"][best] > 1.0:
            ok = metric_a[j] > metric_a[best]
        else:
            ok = s["pa"][j] * s["pat"][j] > s["pa"][best] * s["pat"][best]
        if ok:
            best = j
    sig = idx[significant[idx]]
    sig = sig[np.argsort(-metric[sig], kind="stable")]
    head: list[tuple[int, str, bool]] = []
    if best is not None:
        head = [(int(best), "agree", True)]
    elif len(sig) == 0 and len(idx):
        # Nothing significant: still show the most representative statement.
        j = idx[np.argmax(np.maximum(s["rat"][idx], s["rdt"][idx]))]
        head = [(int(j), "agree" if agree_for[j] else "disagree", False)]
    chosen = head + [(int(j), "agree" if agree_for[j] else "disagree", False)
                     for j in sig if not head or j != head[0][0]]
    chosen = chosen[:pick_max]
    return sorted(chosen, key=lambda t: t[1] != "agree")  # stable: agrees first


def consensus(c: Counts, eligible: np.ndarray, pick_max: int = 5, z: float = Z90
              ) -> dict[str, np.ndarray]:
    """Consensus over all voters (one 'group'): per statement pa, pd, pat, pdt and the rank
    (1..pick_max, 0 = not chosen) among statements with p > 0.5 and a significant test,
    ranked by p * test."""
    na, nd, ns = c.agree.sum(0), c.disagree.sum(0), c.cast.sum(0)
    out = {"n_agree": na, "n_disagree": nd, "n_pass": c.passed.sum(0), "n_votes": ns}
    for name, n in (("agree", na), ("disagree", nd)):
        p, t = prob(n, ns), prop_test(n, ns)
        ok = eligible & (p > 0.5) & (t > z)
        cand = np.flatnonzero(ok)
        cand = cand[np.argsort(-(p * t)[cand], kind="stable")][:pick_max]
        rank = np.zeros(len(ns), np.int32)
        rank[cand] = np.arange(1, len(cand) + 1)
        out[f"p_{name}"], out[f"test_{name}"], out[f"{name}_rank"] = p, t, rank
    return out


def group_aware_consensus(c: Counts) -> tuple[np.ndarray, np.ndarray]:
    """Product over groups of (A_g + 1) / (S_g + 2), for agree and for disagree."""
    return prob(c.agree, c.cast).prod(0), prob(c.disagree, c.cast).prod(0)


def patterns(c: Counts) -> dict[str, np.ndarray]:
    """Per (group, statement): majority vote (1, -1, 0; None-like -2 with no votes) and its
    share of the group's cast votes (the within-group consensus score, 0..1)."""
    stack = np.stack([c.agree, c.disagree, c.passed])  # ties: agree, then disagree, then pass
    top = stack.argmax(0)
    cast = c.cast
    majority = np.where(cast > 0, np.array([1, -1, 0])[top], -2)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(cast > 0, stack.max(0) / np.maximum(cast, 1), np.nan)
    return {"majority": majority, "consensus_score": score}


def pairwise_agreement(values, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(co_voted, agreement) between every pair of the selected voters: statements both voted
    on, and the share of those with equal votes (NaN when none). Dense in len(rows)^2."""
    v = values if rows is None else values[rows]
    agree_ind, dis_ind, pass_ind = (_indicator(v, x) for x in (1, -1, 0))
    cast = agree_ind + dis_ind + pass_ind
    co = (cast @ cast.T).toarray()
    same = (agree_ind @ agree_ind.T + dis_ind @ dis_ind.T + pass_ind @ pass_ind.T).toarray()
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(co > 0, same / np.maximum(co, 1), np.nan)
    return co, share


def agreement_with_groups(values, c: Counts) -> np.ndarray:
    """(n_voters, n_groups): pooled share of equal votes between a voter and the members of
    each group over co-voted statements (a voter's own votes included in their group)."""
    same = (_indicator(values, 1) @ c.agree.T + _indicator(values, -1) @ c.disagree.T
            + _indicator(values, 0) @ c.passed.T)
    co = _indicator(values, None) @ c.cast.T
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(co > 0, same / np.maximum(co, 1), np.nan)


def group_agreement(c: Counts) -> tuple[np.ndarray, np.ndarray]:
    """(pairs' co-votes, pooled agreement) between groups g, h (g == h: within the group,
    pairs of distinct voters; counted from the per-group counts, no voter pairs needed)."""
    a, d, p, s = (x.astype(np.float64) for x in (c.agree, c.disagree, c.passed, c.cast))
    same = a @ a.T + d @ d.T + p @ p.T
    co = s @ s.T
    # Within a group, drop each voter's pairing with itself: sum over statements of cast.
    own = s.sum(1)
    same[np.diag_indices_from(same)] -= own
    co[np.diag_indices_from(co)] -= own
    with np.errstate(divide="ignore", invalid="ignore"):
        return co, np.where(co > 0, same / np.maximum(co, 1), np.nan)


def bridge_scores(proj: np.ndarray, group_centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nearest group, d1/d2): the ratio of the distances to the nearest and second-nearest
    group centres; near 1 means a voter sits between groups (a bridge)."""
    d = np.sqrt(((proj[:, None, :] - group_centres[None, :, :]) ** 2).sum(-1))
    order = np.argsort(d, axis=1)
    d1 = np.take_along_axis(d, order[:, :1], 1)[:, 0]
    if d.shape[1] < 2:
        return order[:, 0], np.zeros(len(proj))
    d2 = np.take_along_axis(d, order[:, 1:2], 1)[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        return order[:, 0], np.where(d2 > 0, d1 / d2, 1.0)


def _indicator(values, value):
    import scipy.sparse as sp

    keep = np.ones(len(values.data), bool) if value is None else values.data == value
    # Shares the pattern arrays with `values` (no copy): never compact it in place.
    return sp.csr_matrix((keep.astype(np.float64), values.indices, values.indptr),
                         shape=values.shape)
