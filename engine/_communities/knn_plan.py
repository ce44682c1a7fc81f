"""kNN settings chosen from the data's shape when the job leaves them on auto.

- `job.knn=auto`: IVF on both backends. On the CPU, IVF lists searched list by list with
  dense products (engine.ops.knn_ivf) beat HNSW at equal recall by 5x at 200k x 64 blobs and
  3x on the 50k x 448 activations sketch (bench/results/communities.md); `job.nprobe=0` lets
  the CPU pick the probe count from a sample so that recall@k reaches `job.target_recall`
  (the GPU uses GPU_NPROBE probes per query then).
- `job.ef_search=0` (HNSW): the search list grows with n, because a fixed list reaches a smaller
  share of the true neighbours as the graph grows. Measured on 50 blobs in 64 dimensions,
  k = 15, M = 20, efConstruction = 60 (bench/communities_knn.py, results in
  bench/results/communities.md): efSearch 64 gives recall@15 0.964 at 200k rows but 0.854 at
  1M, where 192 gives 0.955 and 256 gives 0.968. `auto_ef_search` keeps 64 up to
  `EF_BASE_ROWS` rows, then follows the power law through (200k, 64) and (1M, 256), within
  [k + 1, EF_MAX].
- `job.knn_dim=-1` (HNSW on the CPU): rows wider than `REDUCE_ABOVE` columns (the activations'
  concatenated sketch, layers x rp_dim) are searched on their `REDUCED_DIM` leading principal
  axes, `job.knn_candidates` x k candidates each, then re-ranked exactly in full width
  (engine._communities.reduce): each HNSW distance gets d / REDUCED_DIM times cheaper. The
  job asks for it only on request (its default is 0, full rows): on the 50k-prompt
  activations sketch 64 axes kept recall@15 at 0.21, because the order of neighbours inside
  a prompt group lives in the axes it drops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.errors import UserError
from engine.ops.knn_gpu import DEFAULT_NPROBE as GPU_NPROBE

EF_BASE = 64
EF_BASE_ROWS = 200_000
EF_AT_1M = 256
EF_MAX = 512
REDUCE_ABOVE = 128
REDUCED_DIM = 64


@dataclass(frozen=True)
class KnnPlan:
    method: str
    ef_search: int  # HNSW search list (ignored by the other methods)
    reduce_dim: int  # 0: search the full rows
    nprobe: int = 0  # IVF probes; 0: calibrated on a sample (CPU)


def auto_ef_search(n: int, k: int) -> int:
    """HNSW efSearch for n rows: EF_BASE up to EF_BASE_ROWS, then EF_BASE (n / EF_BASE_ROWS)^p
    with p set so that 1M rows get EF_AT_1M."""
    ef = EF_BASE
    if n > EF_BASE_ROWS:
        p = math.log(EF_AT_1M / EF_BASE) / math.log(1_000_000 / EF_BASE_ROWS)
        ef = math.ceil(EF_BASE * (n / EF_BASE_ROWS) ** p - 1e-9)
    return int(min(max(ef, k + 1), max(EF_MAX, k + 1)))


def plan_knn(n: int, d: int, k: int, gpu: bool, knn: str = "auto", ef_search: int = 0,
             knn_dim: int = -1, nprobe: int = 0) -> KnnPlan:
    """Resolve the auto settings (knn=auto, ef_search=0, knn_dim=-1, nprobe=0) for (n, d)."""
    method = "ivf" if knn == "auto" else knn
    if nprobe < 0:
        raise UserError(f"job.nprobe={nprobe}: expected 0 (auto) or > 0")
    if ef_search < 0:
        raise UserError(f"job.ef_search={ef_search}: expected 0 (auto: grows with n) or > 0")
    ef = int(ef_search) or auto_ef_search(n, k)
    if knn_dim < -1:
        raise UserError(f"job.knn_dim={knn_dim}: expected -1 (auto), 0 (off) or a width")
    if knn_dim == -1:
        reduce_dim = REDUCED_DIM if (method == "hnsw" and not gpu and d > REDUCE_ABOVE) else 0
    else:
        reduce_dim = int(knn_dim)
    if reduce_dim >= d or method == "flat":
        reduce_dim = 0  # nothing to gain; flat search is exact by definition
    return KnnPlan(method, ef, reduce_dim, int(nprobe) or (GPU_NPROBE if gpu else 0))
