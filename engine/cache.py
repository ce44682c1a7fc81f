"""On-disk cache of parameter-independent intermediates, shared across the runs of a sweep.

An entry is a set of named arrays saved as `.npz` under `cache_dir/<name>/<key>.npz`, where the
key hashes everything that shapes the result: the inputs (file paths with sizes and mtimes, or
array contents) and the parameters. Change any of them and the key changes, so stale entries
are never read. With no `cache_dir` the cache is off and every call computes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.io.write import write_npz

log = logging.getLogger("engine")


def fingerprint(value: Any) -> Any:
    """A JSON-able stand-in for a value: arrays by content hash, paths by size and mtime."""
    if isinstance(value, np.ndarray):
        h = hashlib.sha256(np.ascontiguousarray(value).view(np.uint8)).hexdigest()
        return {"array": h, "shape": list(value.shape), "dtype": str(value.dtype)}
    if isinstance(value, Path):
        if value.is_dir():
            return {"dir": str(value.resolve()),
                    "files": [fingerprint(p) for p in sorted(value.iterdir()) if p.is_file()]}
        st = value.stat()
        return {"file": str(value.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if isinstance(value, dict):
        return {str(k): fingerprint(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [fingerprint(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "__dataclass_fields__"):
        return fingerprint(vars(value))
    return value


def cache_key(**parts: Any) -> str:
    blob = json.dumps(fingerprint(parts), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class Cache:
    def __init__(self, root: str | Path | None):
        self.root = Path(root).expanduser() if root else None
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def get_or_compute(self, name: str, parts: dict[str, Any],
                       compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Arrays for (name, parts): read from the cache, or computed and stored."""
        if self.root is None:
            return compute()
        path = self.root / name / f"{cache_key(**parts)}.npz"
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as z:
                    out = {k: z[k] for k in z.files}
                self.hits += 1
                log.info("cache hit: %s", path)
                return out
            except (OSError, ValueError):
                log.warning("cache entry unreadable, recomputing: %s", path)
        out = compute()
        write_npz(path, **out)
        self.misses += 1
        return out
