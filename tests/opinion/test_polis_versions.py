"""Polis's math settings by date, each change at the day of its commit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from engine._opinion import model, polis_versions
from engine._opinion.model import Options
from engine._opinion.votes import build_matrix

DAY = timedelta(days=1)


def test_today_is_the_default():
    assert polis_versions.options_as_of(date(2025, 1, 1)) == Options()
    assert polis_versions.options_as_of(polis_versions.ITERS_100) == Options()


@pytest.mark.parametrize(("change", "field", "before", "after"), [
    (polis_versions.ITERS_100, "pca_iters", 10, 100),
    (polis_versions.ITERS_100, "max_iter", 10, 100),
    (polis_versions.BASE_ITERS_READ, "max_iter", 20, 10),
    (polis_versions.RAW_COUNTS, "in_conv_counts_moderated", True, False),
    (polis_versions.MEAN_FILL, "missing_votes", "zero", "mean"),
])
def test_each_change_takes_effect_on_its_day(change, field, before, after):
    assert getattr(polis_versions.options_as_of(change - DAY), field) == before
    assert getattr(polis_versions.options_as_of(change), field) == after


def test_settings_not_in_polis_history_are_kept():
    base = Options(min_votes=3, max_groups=4)
    old = polis_versions.options_as_of(date(2017, 8, 1), base)
    assert (old.min_votes, old.max_groups) == (3, 4)


def test_a_replay_across_a_change_keeps_who_the_old_math_let_in():
    """Polis's in-conversation set is stored and only grows, so a voter let in by the count
    before October 2017 (moderated-out columns as votes) stays in after it, though the count
    of the day would leave them out; a replay with today's math never lets them in."""
    rng = np.random.default_rng(2)
    ms = lambda day: int(datetime(*day, tzinfo=UTC).timestamp() * 1000)  # noqa: E731
    rows, cols, times = [], [], []
    for v in range(20):  # regulars: 8 of statements 0-9 and the moderated-out 10-14, in 2017-09
        for s in sorted(rng.choice(10, 8, replace=False).tolist()) + list(range(10, 15)):
            rows.append(v), cols.append(s), times.append(ms((2017, 9, 1)) + len(times))
    for s in (0, 1, 2):  # the sparse voter, in 2017-09 too
        rows.append(20), cols.append(s), times.append(ms((2017, 9, 2)) + s)
    for v in range(20):  # more votes after the change: recomputations with today's count
        rows.append(v), cols.append(15), times.append(ms((2018, 1, 1)) + v)
    vals = rng.choice(np.array([-1, 1], np.int8), len(rows))
    mat = build_matrix(np.array(rows, np.int32), np.array(cols, np.int32), vals,
                       np.array(times, np.int64), np.arange(21), np.arange(16),
                       moderated_out=(np.arange(16) >= 10) & (np.arange(16) < 15))
    day = 86_400_000  # ms: the pause before 2018 ends a recomputation
    dated = model.replay(mat, Options(), every=50, reload_gap=day,
                         options_at=polis_versions.options_at_times(10**6))
    today = model.replay(mat, Options(), every=50, reload_gap=day)
    assert dated.in_conv[20] and dated.group_of_voter()[20] >= 0
    assert not today.in_conv[20]
    assert not model.fit(mat, polis_versions.options_as_of(date(2018, 1, 1)))[0].in_conv[20]
