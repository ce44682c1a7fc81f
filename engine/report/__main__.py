"""`python -m engine.report RUN_DIR [JOB]`: rebuild a finished run's report.html."""

from __future__ import annotations

import sys
from pathlib import Path

from engine.report import write_report


def job_of(run_dir: Path) -> str:
    """The job named in the run's saved Hydra config."""
    cfg = run_dir / ".hydra" / "config.yaml"
    if cfg.exists():
        from omegaconf import OmegaConf

        name = OmegaConf.load(cfg).get("job", {}).get("name")
        if name:
            return str(name)
    sys.exit(f"error: {cfg}: no job name; pass it: python -m engine.report RUN_DIR JOB")


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return
    run_dir = Path(argv[0])
    if not run_dir.is_dir():
        sys.exit(f"error: {run_dir}: no such run directory")
    print(write_report(run_dir, argv[1] if len(argv) > 1 else job_of(run_dir)))


if __name__ == "__main__":
    main(sys.argv[1:])
