"""Polis's math settings by date, each change at the day of its commit."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from engine._opinion import polis_versions
from engine._opinion.model import Options

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
