"""Explorer build at scale: time, per-day file sizes and peak memory for N projected tweets.

    python bench/explore.py --rows 1000000

The input is what job=project writes (id, metadata, one column per axis), made from the
synthetic corpus projected on its hidden rating directions. Results: bench/results/explore.md.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import Run  # noqa: E402

from engine.explore import build  # noqa: E402
from engine.io.write import ParquetStreamWriter  # noqa: E402
from engine.synthetic import tweets  # noqa: E402


def write_projected(path: Path, n_rows: int) -> None:
    truth = tweets.make_truth(dim=64, n_users=5000, seed=0)
    with ParquetStreamWriter(path, _schema()) as w:
        for batch, _ in tweets.iter_chunks(truth, n_rows, 0, 100_000):
            coords = batch.embeddings @ truth.q
            t = batch.table
            for j, a in enumerate(tweets.AXES):
                t = t.append_column(a, pa.array(coords[:, j].astype(np.float64)))
            w.write(t.cast(_schema()))


def _schema() -> pa.Schema:
    t, _, _ = tweets.generate_chunk(tweets.make_truth(dim=64, seed=0), 0, 1, 0)
    return t.schema.append(pa.field("sincerity", pa.float64())).append(
        pa.field("charity", pa.float64())).append(pa.field("constructiveness", pa.float64()))


def sizes(folder: Path) -> tuple[float, float, float]:
    s = [f.stat().st_size / 1024 for f in folder.iterdir()]
    return statistics.median(s), max(s), sum(s) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--max-rows", type=int, default=1_000_000, help="rows held per day range")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" /
                                         "explore.md"))
    args = ap.parse_args()
    run = Run(["pyarrow", "polars"])
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "projected.parquet"
        t0 = time.perf_counter()
        write_projected(src, args.rows)
        gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        index = build(src, Path(tmp) / "explorer", max_rows=args.max_rows)
        seconds = time.perf_counter() - t0
        r_med, r_max, r_total = sizes(Path(tmp) / "explorer" / "render")
        d_med, d_max, d_total = sizes(Path(tmp) / "explorer" / "detail")
        src_mb = src.stat().st_size / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    title = f"Explorer build: {args.rows:,} projected tweets over {len(index['days'])} days"
    lines = [
        f"input projected.parquet {src_mb:.0f} MiB (written in {gen:.1f}s); "
        f"rows held per day range <= {args.max_rows:,}",
        "",
        "| what | value |", "|---|---|",
        f"| build time | {seconds:.1f} s ({args.rows / seconds:,.0f} rows/s) |",
        f"| render file per day: median / max | {r_med:.0f} / {r_max:.0f} KiB |",
        f"| detail file per day: median / max | {d_med:.0f} / {d_max:.0f} KiB |",
        f"| all render / detail files | {r_total:.1f} / {d_total:.1f} MiB |",
        f"| peak RSS (whole process) | {peak:.0f} MiB |",
    ]
    print("\n".join(lines))
    run.write(args.out, title, lines)


if __name__ == "__main__":
    main()
