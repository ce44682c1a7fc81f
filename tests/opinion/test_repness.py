"""Statement statistics against a direct computation of Polis's formulas on a hand-made matrix."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine._opinion import repness
from engine._opinion.votes import build_matrix

NAN = np.nan
# 8 voters x 5 statements; NaN = not voted. Voters 0-3 are group 0, 4-7 group 1.
HAND = np.array([
    [1, 1, -1, 0, 1],
    [1, 1, -1, NAN, 1],
    [1, NAN, -1, 1, 1],
    [1, 1, 0, -1, NAN],
    [-1, 1, 1, NAN, 1],
    [-1, -1, 1, 0, 1],
    [-1, NAN, 1, 1, 1],
    [0, -1, NAN, -1, 1],
])
GROUP = np.array([0, 0, 0, 0, 1, 1, 1, 1])


def matrix(dense):
    rows, cols = np.nonzero(~np.isnan(dense))
    return build_matrix(rows.astype(np.int32), cols.astype(np.int32),
                        dense[rows, cols].astype(np.int8), None,
                        np.arange(dense.shape[0]), np.arange(dense.shape[1]))


def direct(dense, group, g, j):
    """Polis's formulas for group g and statement j, written out one by one."""
    col = dense[:, j]
    inside = col[(group == g) & ~np.isnan(col)]
    rest = col[(group != g) & ~np.isnan(col)]
    na, nd, ns = (inside == 1).sum(), (inside == -1).sum(), len(inside)
    na_r, nd_r, ns_r = (rest == 1).sum(), (rest == -1).sum(), len(rest)
    pa, pd = (na + 1) / (ns + 2), (nd + 1) / (ns + 2)

    def one(s, n):
        return 2 * math.sqrt(n + 1) * ((s + 1) / (n + 1) - 0.5)

    def two(s1, s2, n1, n2):
        p1, p2 = (s1 + 1) / (n1 + 1), (s2 + 1) / (n2 + 1)
        pooled = (s1 + s2 + 2) / (n1 + n2 + 2)
        den = math.sqrt(pooled * (1 - pooled) * (1 / (n1 + 1) + 1 / (n2 + 1)))
        return 0.0 if den == 0 else (p1 - p2) / den

    return {"na": na, "nd": nd, "ns": ns, "pa": pa, "pd": pd,
            "pat": one(na, ns), "pdt": one(nd, ns),
            "ra": pa / ((na_r + 1) / (ns_r + 2)), "rd": pd / ((nd_r + 1) / (ns_r + 2)),
            "rat": two(na, na_r, ns, ns_r), "rdt": two(nd, nd_r, ns, ns_r)}


@pytest.fixture
def counts():
    return repness.group_counts(matrix(HAND).values, GROUP, 2)


def test_counts(counts):
    assert counts.agree[0].tolist() == [4, 3, 0, 1, 3]
    assert counts.disagree[1].tolist() == [3, 2, 0, 1, 0]
    assert counts.passed[1].tolist() == [1, 0, 0, 1, 0]
    assert counts.cast[0].tolist() == [4, 3, 4, 3, 3]


def test_repness_values_match_direct_formulas(counts):
    st = repness.repness_stats(counts)
    for g in range(2):
        for j in range(HAND.shape[1]):
            ref = direct(HAND, GROUP, g, j)
            for key, value in ref.items():
                assert st[key][g, j] == pytest.approx(value, rel=1e-12, abs=1e-12), (key, g, j)


def test_selection_follows_polis_rules(counts):
    st = repness.repness_stats(counts)
    eligible = np.ones(5, bool)
    for g in range(2):
        chosen = repness.select_representative(st, g, eligible, pick_max=5)
        # Recompute: significant statements by ra*rat*pa*pat (their direction), best agree first.
        z = repness.Z90
        sig = [j for j in range(5)
               if (st["pat"][g, j] > z and st["rat"][g, j] > z)
               or (st["pdt"][g, j] > z and st["rdt"][g, j] > z)]
        assert {j for j, _, best in chosen if not best} <= set(sig)
        assert len(chosen) <= 5
        directions = [d for _, d, _ in chosen]
        assert directions == sorted(directions, key=lambda d: d != "agree")
        for j, d, _ in chosen:
            assert d == ("agree" if st["rat"][g, j] > st["rdt"][g, j] else "disagree") or _
    # Group 0 agrees with statement 0 (4/4) while group 1 disagrees: it is picked, as agree.
    chosen0 = repness.select_representative(st, 0, eligible)
    assert (0, "agree") in [(j, d) for j, d, _ in chosen0]
    # A moderated-out statement is never picked.
    no0 = eligible.copy()
    no0[0] = False
    assert 0 not in [j for j, _, _ in repness.select_representative(st, 0, no0)]


def test_consensus_matches_direct(counts):
    everyone = repness.group_counts(matrix(HAND).values, np.zeros(8, np.int32), 1)
    cons = repness.consensus(everyone, np.ones(5, bool), pick_max=5)
    for j in range(5):
        col = HAND[:, j][~np.isnan(HAND[:, j])]
        na, n = (col == 1).sum(), len(col)
        pa = (na + 1) / (n + 2)
        pat = 2 * math.sqrt(n + 1) * ((na + 1) / (n + 1) - 0.5)
        assert cons["p_agree"][j] == pytest.approx(pa)
        assert cons["test_agree"][j] == pytest.approx(pat)
        chosen = pa > 0.5 and pat > 1.2816
        assert (cons["agree_rank"][j] > 0) == chosen
    # Statement 4: 7 agrees of 7 is the strongest agreed consensus.
    assert cons["agree_rank"][4] == 1
    # Ranked by pa * pat, descending.
    ranked = np.flatnonzero(cons["agree_rank"])
    metric = cons["p_agree"] * cons["test_agree"]
    assert list(ranked[np.argsort(cons["agree_rank"][ranked])]) == \
        sorted(ranked, key=lambda j: -metric[j])


def test_group_aware_consensus(counts):
    agree, disagree = repness.group_aware_consensus(counts)
    for j in range(5):
        expect = 1.0
        for g in range(2):
            col = HAND[GROUP == g, j]
            col = col[~np.isnan(col)]
            expect *= ((col == 1).sum() + 1) / (len(col) + 2)
        assert agree[j] == pytest.approx(expect)
    assert disagree.shape == (5,)


def test_patterns(counts):
    pat = repness.patterns(counts)
    # Statement 3 in group 0: one agree, one disagree, one pass: ties go to agree.
    assert pat["majority"][0].tolist() == [1, 1, -1, 1, 1]
    assert pat["consensus_score"][0, 0] == 1.0
    assert pat["consensus_score"][1, 0] == pytest.approx(3 / 4)


def test_pairwise_agreement_brute_force():
    m = matrix(HAND)
    co, share = repness.pairwise_agreement(m.values)
    for a in range(8):
        for b in range(8):
            both = ~np.isnan(HAND[a]) & ~np.isnan(HAND[b])
            assert co[a, b] == both.sum()
            if both.any():
                assert share[a, b] == pytest.approx((HAND[a][both] == HAND[b][both]).mean())


def test_group_and_voter_agreement_brute_force(counts):
    m = matrix(HAND)
    co, share = repness.group_agreement(counts)
    per_voter = repness.agreement_with_groups(m.values, counts)
    for g in range(2):
        for h in range(2):
            same = tot = 0
            for a in np.flatnonzero(GROUP == g):
                for b in np.flatnonzero(GROUP == h):
                    if a == b:
                        continue
                    both = ~np.isnan(HAND[a]) & ~np.isnan(HAND[b])
                    tot += both.sum()
                    same += (HAND[a][both] == HAND[b][both]).sum()
            assert co[g, h] == tot and share[g, h] == pytest.approx(same / tot)
    for a in range(8):
        for g in range(2):
            same = tot = 0
            for b in np.flatnonzero(GROUP == g):
                both = ~np.isnan(HAND[a]) & ~np.isnan(HAND[b])
                tot += both.sum()
                same += (HAND[a][both] == HAND[b][both]).sum()
            assert per_voter[a, g] == pytest.approx(same / tot)


def test_bridge_scores():
    centres = np.array([[0.0, 0.0], [4.0, 0.0]])
    proj = np.array([[0.1, 0.0], [2.0, 0.0], [3.0, 0.0]])
    nearest, score = repness.bridge_scores(proj, centres)
    assert nearest.tolist() == [0, 0, 1]
    assert score[1] == 1.0 and score[0] == pytest.approx(0.1 / 3.9)
