"""Planted basins in noise, as seed 001's author built his test data: a background of tweets
spread over a box of coordinates for the whole time range, plus K Gaussian basins, each alive
inside its own time window, with known centres, spreads, windows and intensities.

- background: `uniform` over the box, or `clustered` (uniform plus static Gaussian blobs that
  are clusters all year but never basins); its volume can vary smoothly over the year
  (`volume_amplitude`: rate proportional to 1 + a sin(2 pi day / (n_days / 2))), which a
  basin finder must not mistake for basins;
- intensity of a basin: its rows per day while alive over the background's mean rows per day,
  so a basin of intensity 0.25 adds a quarter of the background's volume, packed into a blob;
- within its window a basin's rate is flat (`profile="flat"`, the default: the window is
  exactly when it is alive, so a found window can be judged against it), or rises, plateaus
  and fades (`profile="trapezoid"`, the shape of `engine.synthetic.tweets`; its ramps hold
  too few rows to be seen at low intensity, so a finder sees a shorter window);
- `shuffle=True` gives the matching pure-noise data: the same layout with every row's time
  drawn from the whole corpus's times, so each basin's rows are spread over the year (no
  temporal structure left).

Coordinates live in the unit box [0, 1]^dim. Rows come in chunks seeded by (seed, chunk), so
any size streams to disk (`job=synth data.planted=true`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from engine.synthetic.tweets import _days_in_window

PROFILES = ("flat", "trapezoid")
BLOB_COUNT = 4  # static blobs of a clustered background
BLOB_SHARE = 0.4  # share of the background rows in those blobs


def coord_names(dim: int) -> list[str]:
    return list("xyz"[:dim]) if dim <= 3 else [f"x{j}" for j in range(dim)]


@dataclass
class PlantedTruth:
    centres: np.ndarray  # (K, dim)
    spreads: np.ndarray  # (K,) standard deviation per axis
    windows: np.ndarray  # (K, 2) days [start, end)
    intensities: np.ndarray  # (K,) rows per day while alive / background rows per day
    counts: np.ndarray  # (K + 1,) rows of each basin, then of the background
    blob_centres: np.ndarray  # (B, dim) static blobs of a clustered background (B may be 0)
    blob_spreads: np.ndarray  # (B,)
    volume_amplitude: float
    n_days: int
    start: np.datetime64
    shuffle: bool
    profile: str = "flat"  # flat | trapezoid: the rate inside a basin's window

    @property
    def dim(self) -> int:
        return self.centres.shape[1]

    @property
    def n_rows(self) -> int:
        return int(self.counts.sum())


def _broadcast(values, k: int, name: str) -> np.ndarray:
    v = np.atleast_1d(np.asarray(values, float))
    if len(v) == 1:
        v = np.repeat(v, k)
    if len(v) != k:
        raise ValueError(f"{name}: {len(v)} values for {k} basins (give one, or one per basin)")
    return v


def make_truth(n_rows: int = 40000, n_basins: int = 5, dim: int = 2, n_days: int = 365,
               intensity=0.25, spread: tuple[float, float] = (0.03, 0.05),
               window_days: tuple[float, float] = (90.0, 200.0), background: str = "uniform",
               volume_amplitude: float = 0.0, start_date: str = "2024-01-01", seed: int = 0,
               shuffle: bool = False, profile: str = "flat") -> PlantedTruth:
    """Centres at least 5 spreads apart (and 3 from the box's edge), windows inside the range."""
    if dim < 1:
        raise ValueError(f"dim={dim}: must be at least 1")
    if background not in ("uniform", "clustered"):
        raise ValueError(f"background={background!r}: expected uniform or clustered")
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r}: expected one of {', '.join(PROFILES)}")
    if not 0 <= volume_amplitude < 1:
        raise ValueError(f"volume_amplitude={volume_amplitude}: expected [0, 1)")
    lo_w, hi_w = float(window_days[0]), float(window_days[1])
    if not 0 < lo_w <= hi_w <= n_days:
        raise ValueError(f"window_days={list(window_days)}: expected 0 < min <= max <= n_days")
    rng = np.random.default_rng([seed, 11])
    intensities = _broadcast(intensity, n_basins, "intensity")
    if (intensities < 0).any():
        raise ValueError("intensity: must be >= 0")
    spreads = rng.uniform(spread[0], spread[1], n_basins)
    centres = np.zeros((n_basins, dim))
    for k in range(n_basins):  # rejection: well apart, so each planted basin is one blob
        for _ in range(10_000):
            c = rng.uniform(3 * spreads[k], 1 - 3 * spreads[k], dim)
            if all(np.linalg.norm(c - centres[j]) > 5 * max(spreads[j], spreads[k])
                   for j in range(k)):
                break
        centres[k] = c
    lengths = rng.uniform(lo_w, hi_w, n_basins)
    begins = rng.uniform(0, n_days - lengths)
    windows = np.stack([begins, begins + lengths], 1)
    # Background rows per day r: n_rows = r n_days + sum_k intensity_k r length_k.
    share = intensities * lengths / n_days
    n_background = n_rows / (1 + share.sum())
    counts = np.append(share * n_background, n_background)
    counts = np.floor(counts).astype(np.int64)
    counts[-1] += n_rows - counts.sum()
    n_blobs = BLOB_COUNT if background == "clustered" else 0
    blob_spreads = rng.uniform(0.05, 0.10, n_blobs)
    blob_centres = rng.uniform(0.15, 0.85, (n_blobs, dim))
    return PlantedTruth(centres, spreads, windows, intensities, counts, blob_centres,
                        blob_spreads, float(volume_amplitude), int(n_days),
                        np.datetime64(start_date, "ns"), bool(shuffle), profile)


def _background_days(rng: np.random.Generator, n: int, n_days: int, amplitude: float
                     ) -> np.ndarray:
    """Days with rate proportional to 1 + a sin(4 pi day / n_days) (rejection sampling)."""
    if amplitude == 0:
        return rng.uniform(0, n_days, n)
    out = np.empty(0)
    while len(out) < n:
        d = rng.uniform(0, n_days, 2 * (n - len(out)) + 16)
        keep = rng.uniform(0, 1 + amplitude, len(d)) < 1 + amplitude * np.sin(4 * np.pi * d / n_days)
        out = np.concatenate([out, d[keep]])
    return out[:n]


def _chunk_components(truth: PlantedTruth, start_row: int, n: int, seed: int) -> np.ndarray:
    """The component (basin index, or K for the background) of rows [start_row, start_row+n):
    a fixed seeded permutation of the exact counts, so every chunk agrees with the totals."""
    order = np.random.default_rng([seed, 12]).permutation(truth.n_rows)[start_row:start_row + n]
    return np.searchsorted(np.cumsum(truth.counts), order, side="right")


def generate_chunk(truth: PlantedTruth, start_row: int, n: int, seed: int) -> pa.Table:
    """Rows [start_row, start_row + n): id, datetime, coordinates, counts, planted_basin."""
    rng = np.random.default_rng([seed, 13, start_row])
    K = len(truth.centres)
    comp = _chunk_components(truth, start_row, n, seed)
    X = np.empty((n, truth.dim))
    basin = comp < K
    b = comp[basin]
    X[basin] = truth.centres[b] + truth.spreads[b, None] * rng.standard_normal((len(b), truth.dim))
    bg = np.flatnonzero(~basin)
    X[bg] = rng.uniform(0, 1, (len(bg), truth.dim))
    if len(truth.blob_centres):
        in_blob = bg[rng.uniform(size=len(bg)) < BLOB_SHARE]
        which = rng.integers(0, len(truth.blob_centres), len(in_blob))
        X[in_blob] = truth.blob_centres[which] + truth.blob_spreads[which, None] * \
            rng.standard_normal((len(in_blob), truth.dim))
    # The matching noise: each row's time is that of a row drawn at random from the whole
    # corpus (a basin's rows spread over the year, the spatial layout kept).
    when = rng.choice(K + 1, n, p=truth.counts / truth.n_rows) if truth.shuffle else comp
    days = np.empty(n)
    alive = when < K
    lo, hi = truth.windows[when[alive], 0], truth.windows[when[alive], 1]
    days[alive] = rng.uniform(lo, hi) if truth.profile == "flat" else \
        _days_in_window(rng, lo, hi)
    days[~alive] = _background_days(rng, int((~alive).sum()), truth.n_days,
                                    truth.volume_amplitude)
    fav = np.floor(rng.lognormal(1.0, 1.5, n)).astype(np.int64)
    rt = np.floor(fav * rng.beta(1.0, 4.0, n)).astype(np.int64)
    times = truth.start + (days * 86400e9).astype("int64").astype("timedelta64[ns]")
    cols = {"id": np.arange(start_row, start_row + n, dtype=np.int64),
            "datetime": pa.array(times, pa.timestamp("ns"))}
    cols.update({name: X[:, j] for j, name in enumerate(coord_names(truth.dim))})
    cols.update({"retweet_count": rt, "favorite_count": fav,
                 "planted_basin": np.where(basin, comp, -1).astype(np.int64)})
    return pa.table(cols)


CHUNK = 65536


def iter_chunks(truth: PlantedTruth, seed: int, chunk_rows: int = CHUNK) -> Iterator[pa.Table]:
    for start in range(0, truth.n_rows, chunk_rows):
        yield generate_chunk(truth, start, min(chunk_rows, truth.n_rows - start), seed)


def generate(truth: PlantedTruth, seed: int) -> pa.Table:
    return pa.concat_tables(list(iter_chunks(truth, seed)))


def from_config(data, seed: int) -> PlantedTruth:
    """The planted truth of a DataConfig (`data.planted_*` keys, `n_rows`, `n_basins`, ...)."""
    return make_truth(data.n_rows, data.n_basins, data.planted_dim, data.n_days,
                      list(data.planted_intensity), tuple(data.planted_spread),
                      tuple(data.planted_window_days), data.planted_background,
                      data.planted_volume_amplitude, data.start_date, seed,
                      data.planted_shuffle, data.planted_profile)


def match_basins(truth: PlantedTruth, centres: np.ndarray, first_day: np.ndarray,
                 last_day: np.ndarray, part: tuple[float, float], min_days: float = 14.0,
                 min_overlap: float = 0.5) -> dict[str, np.ndarray]:
    """Found basins (centres (n, dim), day spans) against the planted ones alive in `part`
    ([start, end) days, for at least `min_days` there): a pair matches when the centres are
    within the planted spread (2 sigma: the radius holding 86% of a 2-D basin's rows) and the
    time windows, clipped to the part, overlap by at least `min_overlap` of their union.
    Returns `found_to_planted` (-1: no match), `planted_alive` and `planted_to_found` (the
    first match; -1: missed)."""
    lo = np.maximum(truth.windows[:, 0], part[0])
    hi = np.minimum(truth.windows[:, 1], part[1])
    alive = hi - lo >= min_days
    n = len(centres)
    found_to_planted = np.full(n, -1)
    planted_to_found = np.full(len(truth.centres), -1)
    for i in range(n):
        for k in np.flatnonzero(alive):
            near = np.linalg.norm(centres[i] - truth.centres[k]) <= 2 * truth.spreads[k]
            inter = min(hi[k], last_day[i]) - max(lo[k], first_day[i])
            union = max(hi[k], last_day[i]) - min(lo[k], first_day[i])
            if near and inter / union >= min_overlap:
                found_to_planted[i] = k
                if planted_to_found[k] < 0:
                    planted_to_found[k] = i
                break
    return {"found_to_planted": found_to_planted, "planted_alive": alive,
            "planted_to_found": planted_to_found}
