"""Reply pull and inward moves ("discourse begets discourse"): do replies to tweets in a
basin land in it, and closer to its centre than their parent?

Per region (scored on its next bin): among the replies posted in that window
- pull: of those whose parent lies inside the region's ball, the share that land inside it;
- inward: of those whose parent lies within two radii of the centre, the share that land
  closer to the centre than their parent.
Against the null, whose replies get parents drawn at random from all rows
(engine._basins.evidence.sample). A region with no such reply scores NaN. Parents absent
from the data were counted when the links were read and are no replies here.
"""

from __future__ import annotations

import numpy as np

from engine._basins.evidence.regions import Regions
from engine._basins.evidence.sample import Sample

NAMES = ("reply_pull", "inward_moves")


def score(sample: Sample, regions: Regions, state: None, xp=np) -> dict[str, np.ndarray]:
    out = {name: np.full(len(regions), np.nan) for name in NAMES}
    if sample.parent is None:
        return out
    child = np.flatnonzero(sample.parent >= 0)
    parent = sample.parent[child]
    for r in range(len(regions)):
        a, b = regions.window(r)
        now = (sample.days[child] >= a) & (sample.days[child] < b)
        c, rad = regions.centre[r], regions.radius[r]
        dp = np.sqrt(((sample.coords[parent[now]] - c) ** 2).sum(1))
        dc = np.sqrt(((sample.coords[child[now]] - c) ** 2).sum(1))
        held = dp <= rad
        if held.any():
            out["reply_pull"][r] = float((dc[held] <= rad).mean())
        near = dp <= 2 * rad
        if near.any():
            out["inward_moves"][r] = float((dc[near] < dp[near]).mean())
    return out
