"""In-conversation rules, determinism, replay with k smoothing, planted groups."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score

from engine._opinion import model
from engine._opinion.votes import build_matrix
from engine.synthetic.votes import make_votes


def synthetic_matrix(n=1500, m=50, groups=3, density=0.4, seed=0):
    s = make_votes(n, m, groups, density, seed)
    mat = build_matrix(s.voter, s.statement, s.vote, s.time, np.arange(n), np.arange(m))
    return mat, s.truth.groups


def test_in_conversation_threshold_counts_passes_and_caps_at_n_statements():
    n_votes = np.array([7, 6, 10, 3, 7] + [8] * 20)
    mask = model.in_conversation(n_votes, n_statements=50)
    assert mask.tolist()[:5] == [True, False, True, False, True]
    # Fewer statements than 7: casting every one is enough.
    assert model.in_conversation(np.array([4] * 20), n_statements=4).all()


def test_in_conversation_tops_up_to_15_with_the_most_active():
    n_votes = np.array([9, 9, 9, 1, 5, 6, 2, 3, 4, 5, 6, 2, 1, 3, 6, 4, 2, 0])
    mask = model.in_conversation(n_votes, n_statements=50)
    assert mask.sum() == 15
    # The three qualified voters, then the most active; ties go to the earlier voter.
    left_out = np.flatnonzero(~mask).tolist()
    assert left_out == [3, 12, 17]  # the least active (and the voter without votes)
    few = model.in_conversation(np.array([1, 2, 0, 3]), n_statements=50)
    assert few.tolist() == [True, True, False, True]  # only voters with votes


def test_fit_recovers_planted_groups_and_is_deterministic():
    mat, truth = synthetic_matrix()
    fit_a, _ = model.fit(mat, model.Options())
    fit_b, _ = model.fit(mat, model.Options())
    g = fit_a.group_of_voter()
    assert np.array_equal(g, fit_b.group_of_voter())
    assert np.array_equal(fit_a.pca.projection, fit_b.pca.projection)
    inside = g >= 0
    assert fit_a.k == 3
    assert adjusted_rand_score(truth[inside], g[inside]) > 0.8
    assert len(fit_a.base.centres) == 100
    # Every base cluster belongs to one group; subgroups are within groups.
    assert fit_a.group_of_base.shape == (len(fit_a.base.centres),)
    assert (fit_a.subgroup_of_voter()[inside] >= 0).all()


def test_voters_outside_the_conversation_get_no_group():
    mat, _ = synthetic_matrix(n=300, m=30, density=0.15, seed=3)
    fit, _ = model.fit(mat, model.Options())
    n_votes = np.diff(mat.values.indptr)
    out = n_votes < 7
    assert out.any()
    assert (fit.group_of_voter()[out] == -1).all() and (fit.base_of_voter[out] == -1).all()
    assert (fit.group_of_voter()[~out] >= 0).all()
    assert np.isfinite(fit.pca.projection[out]).all()  # still projected


def test_replay_smooths_k_over_four_recomputations():
    mat, truth = synthetic_matrix(n=600, m=40, density=0.4, seed=6)
    fit = model.replay(mat, model.Options(), every=1000)
    hist = fit.k_history
    assert hist[-1]["votes"] == len(mat.vote)
    # The shown k only changes to a k that won 4 recomputations in a row.
    shown = hist[0]["k"]
    for i, h in enumerate(hist):
        if h["k"] != shown:
            run = [x["best_k"] for x in hist[max(0, i - 3):i + 1]]
            assert run == [h["k"]] * 4
            shown = h["k"]
    g = fit.group_of_voter()
    assert fit.k == 3 and adjusted_rand_score(truth[g >= 0], g[g >= 0]) > 0.65
    again = model.replay(mat, model.Options(), every=1000)
    assert np.array_equal(g, again.group_of_voter())


def test_seed_rule_base_k_is_a_tenth_of_the_voters():
    mat, _ = synthetic_matrix(n=400, m=30, density=0.5, seed=1)
    fit, _ = model.fit(mat, model.Options(base_k_per_voter=0.1))
    assert len(fit.base.centres) == int(fit.in_conv.sum() * 0.1) < 100
    default, _ = model.fit(mat, model.Options())  # Polis's rule: min(100, voters)
    assert len(default.base.centres) == 100


def test_once_in_the_conversation_a_voter_stays_in():
    mat, _ = synthetic_matrix(n=300, m=30, density=0.15, seed=3)
    n_votes = np.diff(mat.values.indptr)
    few = np.flatnonzero(n_votes < 7)[:3]
    _, state = model.fit(mat, model.Options())
    assert not state["in_conv"][few].any()
    state["in_conv"][few] = True  # as if they had qualified in an earlier recomputation
    fit, _ = model.fit(mat, model.Options(), state=state)
    assert fit.in_conv[few].all() and (fit.group_of_voter()[few] >= 0).all()


def test_silhouette_ties_go_to_the_larger_k():
    from engine._opinion import kmeans

    c = kmeans.Clustering(np.zeros(1, np.int32), np.zeros((1, 2)), np.ones(1), 1)
    assert kmeans.best_k({2: (c, 0.4), 3: (c, 0.4), 4: (c, 0.1)}) == 3
    assert kmeans.best_k({2: (c, 0.5), 3: (c, 0.4)}) == 2


def test_replay_recomputes_every_n_votes_and_before_each_long_pause():
    hour = 3.6e6
    times = np.array([0, 1, 2, 3, 4, 5, 30 * hour, 30 * hour + 1, 30 * hour + 2, 31 * hour])
    ends, reloads = model.replay_ends(times, 4, 24 * hour)
    # Every 4 votes, at the end, and after vote 6 (the last before the 30 h pause); the
    # first recomputation after the pause reloads.
    assert ends == [4, 6, 8, 10]
    assert reloads == {8}
    assert model.replay_ends(times, 4, None) == ([4, 8, 10], set())


def test_a_reload_restarts_the_group_level_and_shows_its_best_k_at_once():
    mat, _ = synthetic_matrix(n=600, m=40, density=0.4, seed=6)
    _, state = model.fit(mat, model.Options())
    # A smoother that has shown k = 2 while 3 won once: without a reload k stays 2.
    state.update(k=2, last_k=3, k_count=1)
    kept, _ = model.fit(mat, model.Options(), state=dict(state))
    assert kept.k == 2 and max(kept.candidates, key=lambda k: kept.candidates[k][1]) == 3
    reloaded = {k: v for k, v in state.items() if k not in model.RELOAD_DROPS}
    fresh, after = model.fit(mat, model.Options(), state=reloaded)
    assert fresh.k == 3 and after["k_count"] == 1
    # The base clusters carried over either way: same ids.
    assert np.array_equal(fresh.base.ids, kept.base.ids)


def test_polling_schedule_recomputes_once_per_poll_that_brought_votes():
    # Polis's worker polls every second (1000 ms) and runs one update per poll with new
    # votes. Votes at 0, 200 and 999 ms arrive in the first poll, 1000 and 1500 in the second,
    # none in the next two, 4000 and 4001 in the fifth, 10000 alone: 4 recomputations, after
    # votes 3, 5, 7 and 8.
    times = np.array([0, 200, 999, 1000, 1500, 4000, 4001, 10_000])
    assert model.polling_ends(times, 1000) == [3, 5, 7, 8]
    assert model.replay_ends(times, 100, None, polling_interval=1000) == ([3, 5, 7, 8], set())
    # Whole-second timestamps (newer exports) with a 1-second poll: one update per second.
    assert model.polling_ends(np.array([5, 5, 5, 6, 9, 9]), 1) == [3, 4, 6]


def test_polling_schedule_marks_the_poll_after_a_long_pause_as_a_reload():
    hour = 3.6e6
    times = np.array([0, 10, 2500, 30 * hour, 30 * hour + 5, 30 * hour + 1500])
    ends, reloads = model.replay_ends(times, 100, 24 * hour, polling_interval=1000)
    assert ends == [2, 3, 5, 6]
    assert reloads == {5}  # the first poll after the 30 h pause


def polled_matrix(seconds_between: float, pause_after: int | None = None):
    """300 voters x 30 statements whose votes arrive `seconds_between` apart (ms times),
    with a 30 h pause after vote `pause_after`."""
    mat, _ = synthetic_matrix(n=300, m=30, density=0.4, seed=6)
    t = np.argsort(np.random.default_rng(1).random(len(mat.vote))) * seconds_between * 1000.0
    if pause_after is not None:
        t = np.where(t >= pause_after * seconds_between * 1000.0, t + 30 * 3.6e6, t)
    mat.time = t.astype(np.int64)
    return mat


def test_polling_replay_recomputes_at_polis_moments_and_twice_after_a_reload():
    # Twenty votes a second, one poll a second: a recomputation every 20 votes.
    mat = polled_matrix(0.05, pause_after=2000)
    fit = model.replay(mat, model.Options(), every=10**9, reload_gap=24 * 3.6e6,
                       polling_interval=1000)
    by_time = np.sort(mat.time)
    ends, reloads = model.replay_ends(by_time, 10**9, 24 * 3.6e6, polling_interval=1000)
    total = len(mat.vote)
    assert ends == sorted(set(range(20, total, 20)) | {total})
    assert reloads == {2020}  # the first poll after the pause
    hist = fit.k_history
    votes = [h["votes"] for h in hist]
    # Every poll from the first with enough voters to cluster (3) is a recomputation.
    assert sorted(set(votes)) == [e for e in ends if e >= votes[0]] and votes[0] <= 60
    # After the reload Polis's actor recomputes as it loads and again for the waking batch:
    # two runs at that moment, the k smoother (started afresh) counting both.
    at_reload = [h for h in hist if h["votes"] == 2020]
    assert len(at_reload) == 2 and all(h["reload"] for h in at_reload)
    assert votes.count(2000) == 1


def from_scratch_polling_replay(mat, opts, interval):
    """The polling replay written plainly: at the close of every polling window holding a
    vote, the matrix rebuilt from the votes cast so far and every output (subgroups included)
    recomputed, carrying the state from one window to the next."""
    window = mat.time // interval
    voter, statement, vote = mat.voter, mat.statement, mat.vote
    state, history, last = {}, [], None
    for w in np.unique(window):
        keep = window <= w
        sub = build_matrix(voter[keep], statement[keep], vote[keep], mat.time[keep],
                           mat.voter_ids, mat.statement_ids)
        seen = np.isin(np.arange(mat.shape[1]), statement[keep])
        if len(np.unique(voter[keep])) < 3 or seen.sum() < 2:
            continue
        sub.moderated_out = mat.moderated_out & seen
        last, state = model.fit(sub, opts, state=state, n_statements=int(seen.sum()))
        history.append({"votes": int(keep.sum()), "best_k": state["last_k"], "k": state["k"],
                        "silhouette": last.candidates[state["last_k"]][1], "reload": False})
    return last, history


def test_polling_replay_equals_recomputing_from_scratch_at_every_poll():
    # Ten votes a second over 120 voters, one statement moderated out: ~100 recomputations.
    mat, _ = synthetic_matrix(n=120, m=20, groups=3, density=0.4, seed=4)
    rng = np.random.default_rng(2)
    mat.time = (np.argsort(rng.random(len(mat.vote))) * 100).astype(np.int64)  # ms
    mat.moderated_out[5] = True
    opts = model.Options()
    want, want_history = from_scratch_polling_replay(mat, opts, 1000)
    got = model.replay(mat, opts, every=10**9, polling_interval=1000)
    assert len(want_history) > 80 and got.k_history == want_history
    assert got.k == want.k
    assert np.array_equal(got.group_of_voter(), want.group_of_voter())
    assert np.array_equal(got.subgroup_of_voter(), want.subgroup_of_voter())
    assert len(np.unique(want.subgroup_of_voter())) > 2  # subgroups found, not all zero
    assert np.array_equal(got.base_of_voter, want.base_of_voter)
    assert np.array_equal(got.pca.projection, want.pca.projection)


def test_before_october_2017_moderated_out_columns_count_as_votes_for_the_filter():
    """Polis counted a voter's votes for the in-conversation filter on the matrix whose
    moderated-out columns were set to 0 for everyone (a 0 is a vote) until October 2017:
    a voter with 3 votes, in a conversation with 5 moderated-out statements with votes, had 8."""
    rng = np.random.default_rng(1)
    rows, cols = [], []
    for v in range(20):  # 20 regulars: 8 of statements 0-9 and all of the moderated 10-14
        rows += [v] * 13
        cols += sorted(rng.choice(10, 8, replace=False).tolist()) + list(range(10, 15))
    rows += [20] * 3
    cols += [0, 1, 2]  # the sparse voter
    vals = rng.choice(np.array([-1, 1], np.int8), len(rows))
    mat = build_matrix(np.array(rows, np.int32), np.array(cols, np.int32), vals, None,
                       np.arange(21), np.arange(15), moderated_out=np.arange(15) >= 10)
    today, _ = model.fit(mat, model.Options())
    before, _ = model.fit(mat, model.Options(in_conv_counts_moderated=True))
    assert not today.in_conv[20] and today.in_conv[:20].all()
    assert before.in_conv.all() and before.group_of_voter()[20] >= 0
