"""The time explorer (seed 001's explorer.html): projected tweets on two chosen axes over time.

`python -m engine.explore RUN_DIR` builds per-day files from the run's projected.parquet
(`engine.explore.build`) and serves them on 127.0.0.1.
"""

from engine.explore.build import Columns, build

__all__ = ["Columns", "build"]
