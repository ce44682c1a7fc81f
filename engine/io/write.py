"""Atomic artifact writers: a final name only ever holds a complete file.

Everything is written to a temporary file in the same directory, then renamed over the final
name (rename is atomic on POSIX). A failure midway removes the temporary file and leaves any
earlier file under the final name untouched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger("engine")
_UMASK = os.umask(0)
os.umask(_UMASK)


# The temporary files of `atomic_path`: ".NAME.XXXXXXXX.tmp" (mkstemp's 8 random characters).
TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it to `final` when the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; artifacts are ordinary files
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_orphans(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed run left in `folder` (a killed process never reaches
    the clean-up in `atomic_path`); a run calls this before it writes there."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    orphans = [p for p in folder.iterdir() if TEMP_NAME.match(p.name) and p.is_file()]
    for p in orphans:
        p.unlink(missing_ok=True)
    if orphans:
        log.info("%s: removed %d temporary file(s) of an interrupted run", folder, len(orphans))
    return orphans


def write_parquet(table: pa.Table, path: str | os.PathLike, **kwargs: Any) -> Path:
    """Write a whole table atomically."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **kwargs)
    return Path(path)


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Strict JSON: NaN and infinities (a figure undefined for this input, e.g. a correlation
    of constant values) are written as null, which every JSON parser reads, and logged."""
    replaced: list[str] = []
    obj = _finite(obj, "", replaced)
    if replaced:
        log.warning("%s: %s not finite (undefined for this input); written as null, since "
                    "strict JSON has no NaN or infinity", Path(path).name, ", ".join(replaced))
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default,
                                  allow_nan=False))
    return Path(path)


def _finite(obj: Any, key: str, replaced: list[str]) -> Any:
    """`obj` with every non-finite float replaced by None; their keys appended to `replaced`."""
    if isinstance(obj, dict):
        return {k: _finite(v, f"{key}.{k}" if key else str(k), replaced) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_finite(v, f"{key}[{i}]", replaced) for i, v in enumerate(obj)]
    if isinstance(obj, (float, np.floating)) and not np.isfinite(obj):
        replaced.append(f"{key}={float(obj)}")
        return None
    return obj


def write_npz(path: str | os.PathLike, **arrays: Any) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    return Path(path)


def write_text(text: str, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


class ParquetStreamWriter:
    """Write a Parquet file row group by row group; renamed into place only on `close()`.

    Use as a context manager: an exception inside the block discards the partial file.
    """

    def __init__(self, path: str | os.PathLike, schema: pa.Schema, **kwargs: Any):
        self._ctx = atomic_path(path)
        self._tmp = self._ctx.__enter__()
        self._writer = pq.ParquetWriter(self._tmp, schema, **kwargs)
        self.rows = 0

    def write(self, table: pa.Table | pa.RecordBatch) -> None:
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()
        self._ctx.__exit__(None, None, None)

    def __enter__(self) -> ParquetStreamWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            try:
                self._writer.close()
            finally:
                # Leaving the atomic context with an exception removes the temporary file.
                with contextlib.suppress(BaseException):
                    self._ctx.__exit__(exc_type, exc, tb)


def write_stream(path: str | os.PathLike, tables) -> int:
    """Write an iterable of tables as the row groups of one Parquet file (the first table's
    schema), atomically: an exception discards the partial file. Returns the rows written
    (0 and no file when there is no table)."""
    writer = None
    try:
        for table in tables:
            if writer is None:
                writer = ParquetStreamWriter(path, table.schema)
            writer.write(table)
    except BaseException as exc:
        if writer is not None:
            writer.__exit__(type(exc), exc, None)
        raise
    if writer is None:
        return 0
    writer.close()
    return writer.rows
