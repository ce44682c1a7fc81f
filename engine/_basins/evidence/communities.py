"""The Leiden communities of each window's landmark graph, as places to score beside the
basins (issue text: "per basin (and per Leiden community of each window's graph)").

Per bin t of a part (with a next bin): the metastability module's kNN graph over at most
`landmarks` of bin t's rows, cut into communities by Leiden (modularity,
engine.ops.leiden). A community's place is the Voronoi cell of its landmarks: a row of any
window belongs to it when its nearest landmark of bin t does. Like a cluster (see
engine._basins.evidence.regions) a community of bin t is scored on bin t + 1, real and null
draws alike, so the communities are chosen once, on the real rows.

In evidence.parquet the communities of part p are the rows of part "p/leiden", basin_id the
community's index in its bin (0 the largest; not tracked across bins). Communities of fewer
than MIN_SITES landmarks are left out (too small for a stable score).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from engine._basins.evidence.metastability import knn_graph, landmark_rows
from engine._basins.evidence.regions import Regions
from engine._basins.evidence.sample import Sample
from engine.backend import cpu_backend
from engine.ops.leiden import leiden

SUFFIX = "/leiden"
MIN_SITES = 10


@dataclass
class Communities(Regions):
    """Regions whose places are Voronoi cells: centre and radius are the community's
    landmarks' mean and largest distance from it (for display only)."""
    sites: dict[int, np.ndarray] = field(default_factory=dict)  # bin -> landmark coords
    labels: dict[int, np.ndarray] = field(default_factory=dict)  # bin -> their community

    def members(self, ks: np.ndarray, X: np.ndarray) -> np.ndarray:
        t = int(self.bin[ks[0]])
        _, nearest = cKDTree(self.sites[t]).query(X)
        return self.labels[t][nearest][None, :] == self.basin_id[ks][:, None]


def of_part(sample: Sample, regions: Regions, landmarks: int, k: int, seed: int
            ) -> Communities:
    """The communities of every bin of the part that has a next bin."""
    ids, bins, centres, radii = [], [], [], []
    sites, labels = {}, {}
    d = sample.coords.shape[1]
    for t in range(regions.n_bins - 1):
        a = float(regions.starts[t])
        rows = landmark_rows(sample, a, a + regions.size_days, landmarks, [seed, 19, 5, t])
        if len(rows) < 2 * MIN_SITES:
            continue
        X = sample.coords[rows]
        W = knn_graph(X, sample.days[rows], sample.weight[rows], k, regions.size_days)
        upper = W.tocoo()
        keep = upper.row < upper.col  # each undirected edge once
        # CPU Leiden whatever the backend: the graph has at most `landmarks` vertices.
        label = leiden(cpu_backend(), len(rows), upper.row[keep], upper.col[keep],
                       upper.data[keep], seed=seed)
        sizes = np.bincount(label)
        sites[t], labels[t] = X, label
        for c in np.flatnonzero(sizes >= MIN_SITES):
            own = X[label == c]
            centre = own.mean(0)
            ids.append(c), bins.append(t), centres.append(centre)
            radii.append(float(np.sqrt(((own - centre) ** 2).sum(1).max())))
    return Communities(np.asarray(ids, np.int64), np.asarray(bins, np.int64),
                       np.asarray(centres, float).reshape(len(ids), d), np.asarray(radii),
                       regions.starts, regions.size_days, sites, labels)
