"""The Hydra application: compose the config, pick the backend, run one job, report errors."""

from __future__ import annotations

import logging
import re
import sys
import traceback

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from engine import config, sweeps
from engine.backend import resolve
from engine.errors import UserError
from engine.report import write_report_safely
from engine.run import RunContext

log = logging.getLogger("engine")
config.register()
sweeps.register()


def run_config(cfg: DictConfig, out_dir: str, cache_dir: str | None = None) -> float:
    """Run the job described by a composed config, writing into `out_dir`; return its objective.

    `cache_dir` defaults to `cfg.cache_dir` (the task passes the sweep's shared cache).
    """
    try:
        params = OmegaConf.to_object(cfg.job)
        data = OmegaConf.to_object(cfg.data)
    except Exception as exc:  # a missing mandatory value (???) or an interpolation error
        raise UserError(_one_line(exc)) from None
    config.check_data(data)
    backend = resolve(cfg.backend.name)
    from engine.parallel import make_cluster

    ctx = RunContext(
        out_dir=out_dir,
        backend=backend,
        seed=cfg.seed,
        cache_dir=cache_dir if cache_dir is not None else sweeps.cache_dir_for(
            cfg.cache_dir, multirun=False, sweep_dir=None),
        cluster=make_cluster(cfg.cluster),
    )
    log.info("job=%s backend=%s (%s) -> %s", cfg.job.name, backend.name, backend.device, out_dir)
    try:
        objective = config.job_module(cfg.job.name).run(params, data, ctx)
    finally:
        if ctx.cluster is not None:
            ctx.cluster.close()
    write_report_safely(ctx, cfg.job.name, objective)
    return ctx.finish(objective)


@hydra.main(version_base=None, config_path=str(config.conf_dir()), config_name="config")
def task(cfg: DictConfig) -> float:
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    try:
        cache_dir = sweeps.cache_dir_for(cfg.cache_dir, multirun, hc.sweep.dir if multirun else None)
        return run_config(cfg, hc.runtime.output_dir, cache_dir)
    except UserError as exc:
        if cfg.get("debug"):
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        if multirun:
            raise  # one failed run of a sweep: the sweeper records it (Optuna: a FAIL trial)
        sys.exit(2)


def _one_line(exc: BaseException) -> str:
    """Hydra/OmegaConf messages span lines; keep the informative ones on one line."""
    skip = ("full_key:", "object_type", "Set the environment variable", "reference_type")
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(skip)]
    cause = exc.__cause__
    while cause is not None:
        lines += [ln.strip() for ln in str(cause).splitlines()
                  if ln.strip() and not ln.strip().startswith(skip)]
        cause = cause.__cause__
    seen: list[str] = []
    for ln in lines:
        if ln not in seen:
            seen.append(ln)
    return " ".join(seen)


def preflight(args: list[str]) -> None:
    """Check the command line before Hydra does, so bad keys/values give one line, exit 2.

    A single run is composed once as Hydra will compose it. A multirun (`-m`, `--multirun`)
    has its keys checked for every combination of the swept config groups, before the
    launcher starts anything; its values are the sweeper's. Skipped when Hydra's other flags
    are present (`--cfg`, `-cn`, ...): they change what is composed, or compose nothing.
    """
    flags = [a for a in args if a.startswith("-")]
    overrides = [a for a in args if not a.startswith("-")]
    multirun = bool(flags) and all(f in ("-m", "--multirun") for f in flags)
    if flags and not multirun:
        return
    try:
        if multirun:
            message = _sweep_key_error(overrides)
        else:
            _compose(overrides)
            message = None
    except Exception as exc:
        message = _unknown_key(exc, overrides) or _one_line(exc)
    if message:
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def _compose(overrides: list[str]) -> DictConfig:
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(config.conf_dir()), version_base=None):
        return compose("config", overrides=overrides)


def _sweep_key_error(overrides: list[str]) -> str | None:
    from hydra import compose, initialize_config_dir

    from engine.override_keys import sweep_key_error

    with initialize_config_dir(str(config.conf_dir()), version_base=None):
        return sweep_key_error(overrides, lambda choices: compose(
            "config", overrides=choices, return_hydra_config=True))


def _unknown_key(exc: Exception, overrides: list[str]) -> str | None:
    """For Hydra's refusal of an override of a key that does not exist, the one line of
    `override_keys.unknown_key_message` (Hydra's own message advises `+key=value`)."""
    from engine.override_keys import unknown_key_message

    found = re.search(r"Could not override '([^']+)'", str(exc))
    if not found:
        return None
    key = found.group(1)
    # Which keys exist depends only on the group choices (job=, data=, ...), not on values.
    rest = [o for o in overrides if "." not in o.split("=", 1)[0] and o.split("=", 1)[0] != key]
    try:
        return unknown_key_message(key, _compose(rest)) or f"{key}: no such key"
    except Exception:  # another override is wrong too: name this one without suggestions
        return f"{key}: no such key"


def show_help(args: list[str]) -> None:
    """Print the engine's help (the jobs, or one job's options) instead of Hydra's."""
    from engine import cli_help

    try:
        text = cli_help.render(args, _compose)
    except Exception as exc:  # job=unknown or a bad override beside --help
        overrides = [a for a in args if not a.startswith("-")]
        print(f"error: {_unknown_key(exc, overrides) or _one_line(exc)}", file=sys.stderr)
        sys.exit(2)
    print(text, end="")


def main() -> None:
    from engine.compile_notice import announce_compiles

    logging.getLogger("numba").setLevel(logging.WARNING)
    from engine.cli_help import wants_help

    if wants_help(sys.argv[1:]):
        show_help(sys.argv[1:])
        return
    announce_compiles()
    preflight(sys.argv[1:])
    task()
