"""Typed config schemas behind the YAML in `conf/`.

Every job module `engine.jobs.<name>` defines a `Params` dataclass; it is registered here as
`job/<name>_schema`, and `conf/job/<name>.yaml` extends it. An unknown key or a wrong type
fails when the config is composed.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from engine.jobs import JOBS


@dataclass
class DataConfig:
    """Where the rows come from, and what their columns are called."""

    name: str = "synthetic"  # synthetic | files | polis_export | anndata
    path: str | None = None  # file, directory or glob (files, polis_export); .h5ad (anndata)
    id_column: str = "id"
    embedding_column: str = "embedding"
    embedding_key: str = "X_pca"  # data=anndata: the obsm key of the embeddings, or X
    time_column: str = "datetime"
    user_column: str = "user_id"
    cluster_column: str = "cluster_id"
    category_column: str = "category"
    text_column: str = "full_text"
    reply_column: str | None = None  # replied-to id (e.g. in_reply_to_status_id; job=basins)
    batch_rows: int = 65536
    drop_invalid: bool = False
    # Synthetic corpus sizes (data=synthetic). Tweets:
    n_rows: int = 20000
    dim: int = 64
    n_topics: int = 16
    n_basins: int = 5
    basin_window: list[float] = field(default_factory=lambda: [0.20, 0.35])  # shares of n_days
    n_users: int = 400
    n_days: int = 365
    n_labelled: int = 3000
    start_date: str = "2024-01-01"
    # Planted basins in noise (job=basins, job=synth): 2-D coordinates instead of embeddings,
    # a background plus n_basins Gaussian basins (engine/synthetic/planted.py).
    planted: bool = False
    planted_dim: int = 2
    planted_intensity: list[float] = field(default_factory=lambda: [0.25])  # one, or per basin
    planted_spread: list[float] = field(default_factory=lambda: [0.03, 0.05])  # [min, max]
    planted_window_days: list[float] = field(default_factory=lambda: [90.0, 200.0])
    planted_background: str = "uniform"  # uniform | clustered (static blobs, not basins)
    planted_volume_amplitude: float = 0.0  # smooth seasonal variation of the background volume
    planted_profile: str = "flat"  # flat | trapezoid: a basin's rate inside its window
    planted_shuffle: bool = False  # the matching noise: every row's time drawn from all rows'
    # Activation maps (communities on activations):
    n_prompts: int = 3000
    n_layers: int = 3
    n_neurons: int = 1024
    n_prompt_groups: int = 8
    # Votes (opinion):
    n_voters: int = 2000
    n_statements: int = 60
    n_opinion_groups: int = 3
    vote_density: float = 0.3
    # Message stream (stream):
    n_messages: int = 20000
    n_stream_topics: int = 60


@dataclass
class BackendConfig:
    name: str = "auto"  # auto | cpu | gpu


@dataclass
class ClusterConfig:
    """Where data-parallel stages run: in this process, or on a Dask scheduler."""

    name: str = "local"  # local | dask | dask_cuda
    address: str | None = None  # scheduler address; None with name=dask starts a LocalCluster
    n_workers: int | None = 2  # local cluster size; None with dask_cuda: one per visible GPU


@dataclass
class Config:
    job: Any = MISSING
    data: DataConfig = MISSING
    backend: BackendConfig = MISSING
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    seed: int = 0
    debug: bool = False  # show tracebacks for user errors
    cache_dir: str | None = None  # on-disk cache of intermediates shared across runs


def check_data(data: DataConfig) -> None:
    """Refuse data settings that no job can honour, once for every job (one line, the key)."""
    from engine.errors import UserError

    if data.batch_rows < 1:
        raise UserError(f"data.batch_rows={data.batch_rows}: must be at least 1 (rows per batch)")


def job_module(name: str):
    return importlib.import_module(f"engine.jobs.{name}")


def register() -> None:
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    cs.store(group="data", name="data_schema", node=DataConfig)
    cs.store(group="backend", name="backend_schema", node=BackendConfig)
    cs.store(group="cluster", name="cluster_schema", node=ClusterConfig)
    for name in JOBS:
        try:
            module = job_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != f"engine.jobs.{name}":
                raise
            continue  # a job not built in this checkout
        cs.store(group="job", name=f"{name}_schema", node=module.Params)


def conf_dir() -> Path:
    """`conf/` of a source checkout, else the copy shipped inside the package."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "conf", here / "conf"):
        if (candidate / "config.yaml").exists():
            return candidate
    raise FileNotFoundError("conf/config.yaml not found beside the engine package")
