"""`python -m engine.explore RUN_DIR [--port 8000] [--axes a,b] [--rebuild] [--no-serve]`

Builds RUN_DIR/explorer/ from RUN_DIR/projected.parquet (or RUN_DIR/project/projected.parquet
for a pipeline run) when missing or older than the table, then serves it on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
import time
from pathlib import Path

from engine.errors import UserError
from engine.explore.build import Columns, build


def projected_of(run_dir: Path) -> Path:
    for candidate in (run_dir / "projected.parquet", run_dir / "project" / "projected.parquet"):
        if candidate.exists():
            return candidate
    if run_dir.suffix == ".parquet" and run_dir.exists():
        return run_dir
    raise UserError(f"{run_dir}: no projected.parquet (run job=project or job=pipeline)")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m engine.explore", description=__doc__.split("\n")[2])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--port", type=int, default=8000, help="0: any free port")
    ap.add_argument("--axes", help="comma-separated axis columns (default: the projection's)")
    ap.add_argument("--time-column", default="datetime")
    ap.add_argument("--text-column", default="full_text")
    ap.add_argument("--out", type=Path, help="explorer folder (default RUN_DIR/explorer)")
    ap.add_argument("--max-per-day", type=int, help="keep the N most engaged tweets per day")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--no-serve", action="store_true", help="build only")
    args = ap.parse_args(argv)
    try:
        source = projected_of(args.run_dir)
        out = args.out or (source.parent / "explorer")
        index = out / "index.json"
        if args.rebuild or not index.exists() or index.stat().st_mtime < source.stat().st_mtime:
            t0 = time.perf_counter()
            built = build(source, out, args.axes.split(",") if args.axes else None,
                          Columns(time=args.time_column, text=args.text_column),
                          max_per_day=args.max_per_day)
            print(f"built {out}: {built['rows']:,} tweets over {len(built['days'])} days "
                  f"in {time.perf_counter() - t0:.1f}s")
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.no_serve:
        return 0
    handler = functools.partial(QuietHandler, directory=str(out))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    except OSError as exc:  # most often: the port is taken (another explorer, a notebook)
        print(f"error: cannot serve on 127.0.0.1:{args.port} ({exc.strerror}); choose another "
              "port with --port N, or --port 0 for any free one", file=sys.stderr)
        return 2
    with server:
        print(f"explorer: http://127.0.0.1:{server.server_address[1]}/  (Ctrl-C stops)",
              flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # one line per request is noise here
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
