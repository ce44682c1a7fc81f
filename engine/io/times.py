"""Time columns: Arrow timestamps, dates, epoch numbers or parseable strings -> datetime64[ns]."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import UserError

TWITTER_TIME = "%a %b %d %H:%M:%S %z %Y"  # created_at: "Wed Oct 10 20:19:24 +0000 2018"

# Tried in order on string columns; the first format that parses every non-null value wins.
STRING_FORMATS = (
    None,  # polars' ISO-8601 inference
    TWITTER_TIME,
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
    "%d/%m/%Y %H:%M",
)


# Epoch numbers are seconds (the common export) or milliseconds: since 1973 every time in
# milliseconds is above 1e11, and before the year 5138 every time in seconds is below it.
EPOCH_SECONDS_BELOW = 1e11


def epoch_ns_per_unit(values: np.ndarray) -> int:
    """Nanoseconds per unit of epoch numbers: seconds, or milliseconds where too large."""
    return 1_000_000_000 if np.nanmax(np.abs(values)) < EPOCH_SECONDS_BELOW else 1_000_000


def to_datetime64(values: pa.Array | pa.ChunkedArray, where: str, ids=None) -> np.ndarray:
    """Convert a time column to naive UTC datetime64[ns]; `where` names file and column.

    Raises UserError naming the first value that cannot be read (and its id when given).
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    t = values.type
    if values.null_count:
        _bad(where, np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0], None, ids)
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            values = pc.cast(values, pa.timestamp(t.unit))  # storage is UTC already
        return values.cast(pa.timestamp("ns")).to_numpy(zero_copy_only=False)
    if pa.types.is_date(t):
        return values.cast(pa.timestamp("ns")).to_numpy(zero_copy_only=False)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        v = values.to_numpy(zero_copy_only=False).astype(np.float64)
        return (v * epoch_ns_per_unit(v)).astype("int64").astype("datetime64[ns]")
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        s = pl.Series(values=values.cast(pa.large_string()))
        for fmt in STRING_FORMATS:
            try:
                parsed = s.str.to_datetime(format=fmt, strict=True, time_unit="ns")
            except Exception:
                continue
            if parsed.dtype.time_zone is not None:  # type: ignore[union-attr]
                parsed = parsed.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            return parsed.to_numpy().astype("datetime64[ns]")
        # Find the first offending value with the most lenient parse, to name it.
        loose = s.str.to_datetime(strict=False, time_unit="ns")
        bad = np.flatnonzero(loose.is_null().to_numpy())
        _bad(where, bad[0] if len(bad) else 0, s, ids)
    raise UserError(f"{where}: cannot read times of type {t}")


def _bad(where: str, row: int, values, ids) -> None:
    what = f"value {values[int(row)]!r}" if values is not None else "a missing value"
    at = f"id {_plain(ids[int(row)])!r}" if ids is not None else f"row {int(row)}"
    raise UserError(f"{where}: unparseable time: {what} at {at}")


def _plain(value):
    """A NumPy scalar as the Python value it holds (named as 5, not np.int64(5))."""
    return value.item() if isinstance(value, np.generic) else value
