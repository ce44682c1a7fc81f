"""Per-day files of the explorer, built from a run's `projected.parquet` (streamed, polars).

Layout (seed 001's plan: small render files, fuller detail files, loaded on demand):
    explorer/index.html          the page (engine/explore/explorer.html)
    explorer/index.json          axes, value ranges, categories, days with their row counts
    explorer/render/DAY.json     per day, columnar: axis values, size class, category index
    explorer/detail/DAY.json     per day, same row order: id, time, text, user, counts
Rows are read in day ranges holding at most `max_rows` rows at once, so memory stays flat
however long the table is. The folder is built beside its final name and renamed into place.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from engine.config import DataConfig
from engine.errors import UserError
from engine.io.times import TWITTER_TIME

PAGE = Path(__file__).with_name("explorer.html")
MAX_CATEGORIES = 10


_DATA = DataConfig()  # the default column names


@dataclass
class Columns:
    """Column names of projected.parquet (project passes the input's metadata through)."""

    time: str = _DATA.time_column
    id: str = _DATA.id_column
    text: str = _DATA.text_column
    user: str = _DATA.user_column
    category: str = _DATA.category_column
    retweets: str = "retweet_count"
    favorites: str = "favorite_count"


def build(projected: Path, out_dir: Path, axes: list[str] | None = None,
          columns: Columns | None = None, max_rows: int = 1_000_000,
          max_text: int = 280, digits: int = 3, max_per_day: int | None = None) -> dict:
    """Write the explorer for `projected` into `out_dir` (replaced atomically); its index.

    `max_per_day` keeps only the most engaged tweets of each day (retweets + favourites),
    bounding file sizes and drawing time on very large corpora."""
    from engine.report.project import axis_columns

    projected, out_dir = Path(projected), Path(out_dir)
    if not projected.exists():
        raise UserError(f"{projected}: no such file (run job=project or job=pipeline first)")
    c = columns or Columns()
    names = pq.read_schema(projected).names
    axes = list(axes) if axes else axis_columns(projected)
    for col in (c.time, *axes):
        if col not in names:
            raise UserError(f"{projected}: no column {col!r}")
    if len(axes) < 2:
        raise UserError(f"{projected}: the explorer needs two axis columns, found {axes}")
    lf = pl.scan_parquet(projected).with_columns(_t=_parsed_time(pl.col(c.time),
                                                               pq.read_schema(projected)
                                                               .field(c.time).type))
    lf = lf.with_columns(_day=pl.col("_t").dt.date())
    days = (lf.group_by("_day").len().sort("_day").collect(engine="streaming"))
    if days["_day"].null_count():  # only then scan again, to name the first bad row
        _check_times(lf, projected, c.time, c.id if c.id in names else None)
    if days.is_empty():
        raise UserError(f"{projected}: no rows with a valid {c.time!r}")
    ranges = lf.select([pl.concat_list(pl.col(a).quantile(0.002), pl.col(a).quantile(0.998))
                        .alias(a) for a in axes]).collect(engine="streaming").row(0)
    categories = []
    if c.category in names:
        categories = (lf.group_by(c.category).len().sort("len", descending=True)
                      .head(MAX_CATEGORIES).collect(engine="streaming")[c.category].to_list())
        categories = [str(x) for x in categories if x is not None]
    detail_cols = {k: v for k, v in vars(c).items() if k != "time" and v in names}

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        (tmp / "render").mkdir()
        (tmp / "detail").mkdir()
        kept = {}
        for lo, hi in day_ranges(days, max_rows):
            chunk = (lf.filter(pl.col("_day").is_between(lo, hi)).sort("_t")
                     .collect(engine="streaming"))
            for (day,), part in chunk.group_by("_day", maintain_order=True):
                if max_per_day and len(part) > max_per_day:
                    part = most_engaged(part, max_per_day, c)
                kept[day] = len(part)
                name = f"{day.isoformat()}.json"
                _dump(render_file(part, axes, categories, c, digits), tmp / "render" / name)
                _dump(detail_file(part, detail_cols, max_text, str(projected)),
                      tmp / "detail" / name)
        index = {
            "source": str(projected.resolve()),
            "axes": axes,
            "ranges": {a: [float(v[0]), float(v[1])] for a, v in zip(axes, ranges, strict=True)},
            "categories": categories,
            "detail_columns": sorted(detail_cols),
            "rows": int(days["len"].sum()),
            "days": [{"day": d.isoformat(), "n": kept[d], "total": int(n)}
                     for d, n in days.iter_rows()],
        }
        _dump(index, tmp / "index.json")
        shutil.copyfile(PAGE, tmp / "index.html")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return index


def _parsed_time(col: pl.Expr, arrow_type) -> pl.Expr:
    """Timestamps as they are; strings as ISO dates/times or Twitter's created_at."""
    import pyarrow as pa

    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return col.cast(pl.Datetime("us"))
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pl.coalesce(col.str.to_datetime(strict=False, time_zone="UTC")
                           .dt.replace_time_zone(None),
                           col.str.to_datetime(TWITTER_TIME, strict=False)
                           .dt.convert_time_zone("UTC").dt.replace_time_zone(None))
    raise UserError(f"time column has type {arrow_type}; expected a timestamp or a string")


def _check_times(lf: pl.LazyFrame, projected: Path, time: str, id_column: str | None) -> None:
    """One line naming the first missing or unparseable time, as the job readers do."""
    cols = [time] + ([id_column] if id_column else [])
    bad = (lf.with_row_index("_row").filter(pl.col("_t").is_null()).select("_row", *cols)
           .head(1).collect(engine="streaming"))
    if bad.is_empty():
        return
    row = bad.row(0, named=True)
    value = "a missing value" if row[time] is None else f"value {row[time]!r}"
    at = f"id {row[id_column]!r}" if id_column else f"row {row['_row']}"
    raise UserError(f"{projected}: column {time!r}: unparseable time: {value} at {at}")


def day_ranges(days: pl.DataFrame, max_rows: int) -> list[tuple]:
    """Consecutive day ranges [lo, hi] holding at most max_rows rows (or a single day)."""
    out, lo, prev, total = [], None, None, 0
    for day, n in days.iter_rows():
        if lo is not None and total + n > max_rows:
            out.append((lo, prev))
            lo, total = None, 0
        lo = day if lo is None else lo
        prev, total = day, total + n
    out.append((lo, prev))
    return out


def most_engaged(part: pl.DataFrame, n: int, c: Columns) -> pl.DataFrame:
    counts = [pl.col(k).cast(pl.Float64).fill_null(0) for k in (c.retweets, c.favorites)
              if k in part.columns]
    if not counts:
        return part.head(n)
    return (part.with_row_index("_row").sort(pl.sum_horizontal(counts), "_row",
                                             descending=[True, False])
            .head(n).sort("_row").drop("_row"))


def render_file(part: pl.DataFrame, axes: list[str], categories: list[str], c: Columns,
                digits: int) -> dict:
    """What drawing needs: axis values, a size class from engagement, a category index."""
    out = {"n": len(part),
           "a": [part[a].cast(pl.Float64).round(digits).fill_nan(None).to_list() for a in axes]}
    counts = [pl.col(k).cast(pl.Float64).fill_null(0) for k in (c.retweets, c.favorites)
              if k in part.columns]
    if counts:
        out["s"] = part.select((pl.sum_horizontal(counts) + 1).log().round().clip(0, 9)
                               .cast(pl.Int8))[:, 0].to_list()
    if categories:
        lookup = {v: i for i, v in enumerate(categories)}
        out["c"] = [lookup.get(v, -1) for v in part[c.category].cast(pl.String).to_list()]
    return out


def detail_file(part: pl.DataFrame, detail_cols: dict[str, str], max_text: int,
                where: str = "projected.parquet") -> dict:
    """What a tooltip shows, row for row with the render file."""
    out = {"t": part["_t"].dt.strftime("%H:%M").to_list()}
    for key, col in detail_cols.items():
        s = part[col]
        if key == "text":
            s = _as_text(s, where).str.slice(0, max_text)
        elif s.dtype not in (pl.Int64, pl.Int32, pl.Float64, pl.Float32):
            s = _as_text(s, where)
        out[key] = s.to_list()
    return out


def _as_text(s: pl.Series, where: str) -> pl.Series:
    try:
        return s.cast(pl.String)
    except pl.exceptions.ComputeError:  # binary that is not UTF-8 (e.g. from a Latin-1 CSV)
        raise UserError(f"{where}: column {s.name!r} is not UTF-8 text") from None


def _dump(obj: dict, path: Path) -> None:
    path.write_text(json.dumps(obj, separators=(",", ":"), allow_nan=False))
