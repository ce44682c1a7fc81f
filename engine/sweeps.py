"""What Hydra multirun needs from the app: config resolvers, the sweep cache, failing trials.

The presets live in `conf/hydra/launcher/` (local_parallel, slurm_gpu) and
`conf/hydra/sweeper/` (optuna_tpe); docs/sweeps.md shows a command for each.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from omegaconf import OmegaConf

CACHE_OFF = "off"


def _mkdir(path: str) -> str:
    """`${engine_mkdir:DIR}`: DIR made absolute and created (SQLite will not create folders)."""
    p = Path(path).expanduser().resolve()
    p.mkdir(parents=True, exist_ok=True)
    return str(p)


def register() -> None:
    """Config resolvers the presets use; quiet a known warning of the Optuna sweeper."""
    if not OmegaConf.has_resolver("engine_mkdir"):
        OmegaConf.register_new_resolver("engine_mkdir", _mkdir)
    # hydra-optuna-sweeper 1.3 needs SQLAlchemy < 2, whose every use of Optuna's storage warns
    # about SQLAlchemy 2.0; the pin is deliberate, so the warning is noise in every study.
    warnings.filterwarnings("ignore", message="Deprecated API features detected")


def cache_dir_for(cache_dir: str | None, multirun: bool, sweep_dir: str | None) -> str | None:
    """The cache directory a run uses.

    An explicit `cache_dir=DIR` wins; `cache_dir=off` turns the cache off. Otherwise a single
    run has no cache, and the runs of a multirun share `cache/` beside their sweep directory
    (with the default `hydra.sweep.dir`, multirun/<job>/<date>/cache), so a sweep computes its
    parameter-independent intermediates once.
    """
    if cache_dir == CACHE_OFF:
        return None
    if cache_dir is not None:
        return cache_dir
    if multirun and sweep_dir:
        return str(Path(sweep_dir).parent / "cache")
    return None
