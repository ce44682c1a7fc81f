"""On-disk cache of parameter-independent intermediates, shared across the runs of a sweep.

An entry is a set of named arrays saved as `.npz` under `cache_dir/<name>/<key>.npz`, where the
key hashes everything that shapes the result: the inputs (files by path, size and mtime; arrays
by content, shape and dtype), the parameters, `CACHE_FORMAT` and the versions of the libraries
that compute them. Change any of them and the key changes, so a stale entry is never read. With
no `cache_dir` the cache is off and every call computes.

Safe to share between the concurrent runs of a sweep: entries are written to a temporary file
and renamed into place (a reader sees a whole entry or none), a per-key lock file makes a
second process wait for the first's result instead of computing it again, and an unreadable
entry (truncated, corrupt) is recomputed and replaced.

Pass input files as `pathlib.Path` (a plain string is hashed as text, not as a file).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from engine.backend import library_versions
from engine.io.write import write_npz

log = logging.getLogger("engine")

# Not the package version: a release changes it without changing any cached array (every
# sweep would recompute for nothing), and code between releases changes arrays without changing
# it (stale entries would be read). Bump this when the engine's own computation of a cached
# intermediate (kNN edges, per-bin consensus) changes its result; library upgrades change the
# key through library_versions().
CACHE_FORMAT = 1


def fingerprint(value: Any) -> Any:
    """A JSON-able stand-in for a value: arrays by content hash, paths by size and mtime."""
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError("cache key: object arrays cannot be hashed by content")
        h = hashlib.sha256(np.ascontiguousarray(value).view(np.uint8)).hexdigest()
        return {"array": h, "shape": list(value.shape), "dtype": value.dtype.str}
    if isinstance(value, Path):
        if value.is_dir():
            return {"dir": str(value.resolve()),
                    "files": [fingerprint(p) for p in sorted(value.iterdir()) if p.is_file()]}
        st = value.stat()
        return {"file": str(value.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if isinstance(value, dict):
        return {str(k): fingerprint(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [fingerprint(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((fingerprint(v) for v in value), key=repr)
    if isinstance(value, bytes | bytearray | memoryview):
        return {"bytes": hashlib.sha256(value).hexdigest()}
    if isinstance(value, Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "__dataclass_fields__"):
        return {"dataclass": type(value).__name__, "fields": fingerprint(vars(value))}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cache key: cannot fingerprint a {type(value).__name__}")


def cache_key(**parts: Any) -> str:
    blob = json.dumps({"format": CACHE_FORMAT, "libraries": library_versions(),
                       "parts": fingerprint(parts)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class Cache:
    def __init__(self, root: str | Path | None):
        self.root = Path(root).expanduser() if root else None
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def path_for(self, name: str, parts: dict[str, Any]) -> Path | None:
        """Where the entry for (name, parts) lives (None with the cache off)."""
        if self.root is None:
            return None
        return self.root / name / f"{cache_key(**parts)}.npz"

    def get_or_compute(self, name: str, parts: dict[str, Any],
                       compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Arrays for (name, parts): read from the cache, or computed and stored.

        `compute()` returns a dict of arrays (anything `np.asarray` turns into a non-object
        array). A hit and a miss return the same: a dict of numpy arrays.
        """
        path = self.path_for(name, parts)
        if path is None:
            return compute()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # an unusable cache only costs the reuse, not the run
            log.warning("cache directory unusable (%s): computing without it", exc)
            self.misses += 1
            return _as_arrays(name, compute())
        out = _read(path)
        if out is None:
            with _locked(path.with_suffix(".lock")):
                out = _read(path)  # another process may have written it while we waited
                if out is None:
                    out = _as_arrays(name, compute())
                    self.misses += 1
                    _write(path, out)
                    return out
        self.hits += 1
        log.info("cache hit: %s", path)
        return out


def _as_arrays(name: str, values: dict[str, Any]) -> dict[str, np.ndarray]:
    out = {}
    for key, value in values.items():
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            raise TypeError(f"cache entry {name!r}: {key!r} is not a numeric/string array")
        out[key] = arr
    return out


def _read(path: Path) -> dict[str, np.ndarray] | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as exc:  # truncated or corrupt file: zipfile, OSError, ValueError, EOF...
        log.warning("cache entry unreadable (%s), recomputing: %s", type(exc).__name__, path)
        return None


def _write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Store an entry; a cache that cannot be written only costs the reuse, not the run."""
    try:
        write_npz(path, **arrays)
    except OSError as exc:
        log.warning("cache entry not written (%s): %s", exc, path)


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """An exclusive advisory lock, released when the block ends or the process dies."""
    try:
        import fcntl
    except ImportError:  # no POSIX locks: concurrent runs may compute twice, still safely
        yield
        return
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
