"""The sweep cache: same inputs hit, any changed input misses, bad entries recompute,
concurrent writers leave one whole entry."""

from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from engine.cache import Cache, cache_key


class Counter:
    """A compute function that counts its calls."""

    def __init__(self, value=None):
        self.calls = 0
        self.value = np.arange(5.0) if value is None else value

    def __call__(self):
        self.calls += 1
        return {"x": self.value * 2, "n": self.calls}


@dataclass
class Shape:
    k: int = 15
    metric: str = "ip"


def test_off_without_a_directory():
    cache, compute = Cache(None), Counter()
    cache.get_or_compute("a", {"k": 1}, compute)
    cache.get_or_compute("a", {"k": 1}, compute)
    assert compute.calls == 2 and not cache.enabled


def test_same_parts_hit_and_return_what_the_miss_returned(tmp_path):
    cache, compute = Cache(tmp_path), Counter()
    X = np.random.default_rng(0).standard_normal((50, 4))
    first = cache.get_or_compute("knn", {"X": X, "params": Shape()}, compute)
    again = cache.get_or_compute("knn", {"X": X.copy(), "params": Shape()}, compute)
    assert compute.calls == 1 and (cache.hits, cache.misses) == (1, 1)
    assert first.keys() == again.keys()
    for key in first:
        assert type(first[key]) is type(again[key]) is np.ndarray
        np.testing.assert_array_equal(first[key], again[key])
    # Another Cache object on the same directory (the next run of a sweep) hits as well.
    other = Cache(tmp_path)
    other.get_or_compute("knn", {"X": X, "params": Shape()}, compute)
    assert compute.calls == 1 and other.hits == 1


@pytest.mark.parametrize("change", [
    lambda p: {**p, "params": Shape(k=16)},                         # a parameter
    lambda p: {**p, "params": Shape(metric="l2")},
    lambda p: {**p, "X": p["X"] + np.float32(1e-6)},                # array content
    lambda p: {**p, "X": p["X"].astype(np.float64)},                # dtype
    lambda p: {**p, "X": p["X"].reshape(25, 8)},                    # shape
    lambda p: {**p, "X": np.asfortranarray(p["X"])[::2]},           # a strided view
    lambda p: {**p, "extra": None},                                 # a new part
    lambda p: {**p, "seed": 1.0},                                   # 1.0 is not 1
])
def test_any_changed_part_misses(tmp_path, change):
    cache, compute = Cache(tmp_path), Counter()
    parts = {"X": np.ones((50, 4), np.float32), "params": Shape(), "seed": 1}
    cache.get_or_compute("knn", parts, compute)
    cache.get_or_compute("knn", change(parts), compute)
    assert compute.calls == 2 and cache.hits == 0


def test_key_follows_what_computes_the_arrays_not_the_release(monkeypatch):
    import engine
    from engine import cache as cache_module

    key = cache_key(k=1)
    monkeypatch.setattr(engine, "__version__", "99.0.0")  # a release alone keeps the entries
    assert cache_key(k=1) == key
    monkeypatch.setattr(cache_module, "CACHE_FORMAT", cache_module.CACHE_FORMAT + 1)
    bumped = cache_key(k=1)
    assert bumped != key
    upgraded = {**cache_module.library_versions(), "fast_hdbscan": "0.0.0"}
    monkeypatch.setattr(cache_module, "library_versions", lambda: upgraded)
    assert cache_key(k=1) not in (key, bumped)


def test_name_separates_entries(tmp_path):
    cache, compute = Cache(tmp_path), Counter()
    cache.get_or_compute("a", {"k": 1}, compute)
    cache.get_or_compute("b", {"k": 1}, compute)
    assert compute.calls == 2


def test_file_inputs_key_on_size_and_mtime(tmp_path):
    src = tmp_path / "emb.parquet"
    src.write_bytes(b"abcd")
    cache, compute = Cache(tmp_path / "cache"), Counter()
    cache.get_or_compute("load", {"path": src}, compute)
    cache.get_or_compute("load", {"path": src}, compute)
    assert compute.calls == 1
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: same bytes, new mtime
    cache.get_or_compute("load", {"path": src}, compute)
    assert compute.calls == 2
    mtime = src.stat().st_mtime_ns
    src.write_bytes(b"abcde")  # rewritten with another size, mtime put back
    os.utime(src, ns=(mtime, mtime))
    cache.get_or_compute("load", {"path": src}, compute)
    assert compute.calls == 3
    # A directory input changes when a file is added to it.
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.parquet").write_bytes(b"1")
    cache.get_or_compute("load", {"path": tmp_path / "d"}, compute)
    (tmp_path / "d" / "b.parquet").write_bytes(b"2")
    cache.get_or_compute("load", {"path": tmp_path / "d"}, compute)
    assert compute.calls == 5


@pytest.mark.parametrize("damage", [
    lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),  # truncated
    lambda p: p.write_bytes(b"not an npz file"),
    lambda p: p.write_bytes(b""),
])
def test_a_corrupt_entry_is_recomputed_and_replaced(tmp_path, damage):
    cache, compute = Cache(tmp_path), Counter()
    parts = {"k": 3}
    cache.get_or_compute("a", parts, compute)
    entry = cache.path_for("a", parts)
    damage(entry)
    out = cache.get_or_compute("a", parts, compute)
    assert compute.calls == 2 and int(out["n"]) == 2
    out = Cache(tmp_path).get_or_compute("a", parts, compute)  # the repaired entry now hits
    assert compute.calls == 2 and int(out["n"]) == 2


def test_unhashable_parts_and_object_results_are_refused(tmp_path):
    with pytest.raises(TypeError, match="object arrays"):
        cache_key(X=np.array([object()]))
    with pytest.raises(TypeError, match="cannot fingerprint"):
        cache_key(f=lambda: 0)
    with pytest.raises(TypeError, match="'bad'"):
        Cache(tmp_path).get_or_compute("a", {}, lambda: {"bad": [object()]})


def test_unusable_cache_directory_still_computes(tmp_path):
    root = tmp_path / "cache"
    root.mkdir()
    (root / "a").write_text("a file where the entry folder should be")
    out = Cache(root).get_or_compute("a", {"k": 1}, Counter())
    assert int(out["n"]) == 1


def _worker(root: str, start, results) -> None:
    """One of several processes asking for the same entry at the same moment."""
    import time

    def compute():
        time.sleep(0.3)  # long enough for the others to arrive while this one computes
        return {"x": np.full(100_000, os.getpid(), np.int64)}

    start.wait()
    cache = Cache(root)
    out = cache.get_or_compute("shared", {"k": 1}, compute)
    results.put((os.getpid(), int(out["x"][0]), cache.misses, len(np.unique(out["x"]))))


def test_concurrent_processes_compute_once_and_read_whole_entries(tmp_path):
    ctx = mp.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), start, results)) for _ in range(3)]
    for p in procs:
        p.start()
    start.set()
    got = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    writers = {value for _, value, _, _ in got}
    assert len(writers) == 1  # everyone saw the one computed entry ...
    assert sum(misses for *_, misses, _ in got) == 1  # ... computed by exactly one process
    assert all(n_unique == 1 for *_, n_unique in got)
    assert not [p for p in Path(tmp_path, "shared").iterdir() if p.suffix == ".tmp"]
