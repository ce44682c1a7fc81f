"""Polis's math as it ran at a given date: the defaults that changed in its history.

A Polis export's groups are those of the worker's last update, run by the Polis of that
day: for a closed conversation, the day of its last vote. These changes, in the Clojure
source of compdemocracy/polis (`math/src/polismath/math/conversation.clj`, before 2020
`src/polismath/math/conversation.clj`), decide groups:

| from | commit | what changed |
|---|---|---|
| (2014) | | missing votes filled with 0 before the PCA (`:mat`, "swap nils for zeros"); the in-conversation filter counts votes on the rating matrix after moderated-out columns were set to 0, so each such column counts as a vote of every voter; `pca-iters` 10; the base k-means gets its `base-iters` under a key (`:cluster-iters`) that `kmeans` ignores, so it runs its default 20 steps |
| 2017-10-21 | 90b5b9e6 | missing votes filled with the statement's mean over cast votes |
| 2017-10-31 | 30355e11 | the filter counts the raw votes (`:user-vote-counts` on `raw-rating-mat`) |
| 2017-12-08 | e07aec5a | the base k-means reads `base-iters` (10) |
| 2022-06-29 | a2efd9ba | `pca-iters` and `base-iters` 100 (today's defaults, `Options`) |

When a day's deployment followed a commit is not in the source, so a conversation whose last
vote falls within days of a change may have run either side of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime

from engine._opinion.model import Options

MEAN_FILL = date(2017, 10, 21)
RAW_COUNTS = date(2017, 10, 31)
BASE_ITERS_READ = date(2017, 12, 8)
ITERS_100 = date(2022, 6, 29)


def options_as_of(day: date, base: Options | None = None) -> Options:
    """`base` (default: today's Polis) with the settings Polis's math had on `day`."""
    base = base or Options()
    if day >= ITERS_100:
        return base
    out = replace(base, pca_iters=10, max_iter=10 if day >= BASE_ITERS_READ else 20)
    if day < RAW_COUNTS:
        out = replace(out, in_conv_counts_moderated=True)
    if day < MEAN_FILL:
        out = replace(out, missing_votes="zero")
    return out


def options_at_times(ns_per_time_unit: int, base: Options | None = None
                     ) -> Callable[[int], Options]:
    """`model.replay`'s `options_at`: the options of the Polis that ran at a vote time (in
    units of `ns_per_time_unit` since the epoch), so that a replay over years changes its
    math on the days Polis's did, carrying its state over as Polis's stored state did."""
    def at(time: int) -> Options:
        return options_as_of(datetime.fromtimestamp(time * ns_per_time_unit / 1e9, UTC).date(),
                             base)
    return at
