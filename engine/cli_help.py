"""`python -m engine --help`: the jobs, and the options of the chosen job with their defaults.

Hydra's own help lists config groups (including the internal `*_schema` nodes) and the composed
YAML without a word of explanation; the explanations live beside each parameter in the jobs'
`Params` dataclasses, as comments. This module renders those: the values from the composed
config (so YAML and command-line overrides show), the words from the comments in the source.
Hydra's help stays reachable as `--hydra-help`.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import inspect
import io
import re
import textwrap
import tokenize
from typing import Any

from omegaconf import DictConfig, OmegaConf

from engine.jobs import JOBS

HELP_FLAGS = ("--help", "-h")
WIDTH = 100
KEY_COLUMN = 38  # where the explanation starts when the option fits before it

USAGE = """\
usage: python -m engine [job=NAME] [data=synthetic|files|polis_export] [backend=auto|cpu|gpu]
                        [key=value ...]
       python -m engine -m job=NAME key=v1,v2 ...    (a sweep: one run per combination)"""

# The settings every job shares (engine.config.Config, DataConfig), in the order users need them.
COMMON = (
    ("backend", "where it runs: auto takes the GPU when a CUDA device and the GPU packages are "
                "present, else the CPU"),
    ("data", "synthetic (seeded, with ground truth) | files (data.path) | polis_export"),
    ("data.path", "file, directory or glob (data=files, data=polis_export)"),
    ("data.id_column", None),
    ("data.embedding_column", None),
    ("data.time_column", "timestamps or parseable strings such as created_at"),
    ("data.user_column", None),
    ("seed", "same seed and backend, same result"),
    ("hydra.run.dir", "output directory (default outputs/<job>/<date>/<time>)"),
    ("cache_dir", "on-disk cache of intermediates shared across runs (off: none)"),
    ("debug", "print the traceback of a user error too"),
)


def wants_help(args: list[str]) -> bool:
    return any(a in HELP_FLAGS for a in args)


def render(args: list[str], compose) -> str:
    """The help page for these command-line arguments: the overview, or with `job=NAME` that
    job's options. `compose(overrides)` returns the composed config (engine.app's)."""
    overrides = [a for a in args if not a.startswith("-")]
    chosen = next((a.split("=", 1)[1] for a in overrides if a.startswith("job=")), None)
    if chosen is not None and chosen not in JOBS:
        from engine.errors import UserError

        raise UserError(f"job={chosen}: no such job; the jobs are {', '.join(JOBS)}")
    cfg = compose(overrides)
    if chosen is None:
        return overview(cfg)
    return job_page(chosen, cfg)


def overview(cfg: DictConfig) -> str:
    width = max(len(name) for name in JOBS) + 2
    jobs = "\n".join(_hanging(f"  {name:<{width}}", summary(name)) for name in JOBS)
    return "\n\n".join([
        USAGE,
        f"Jobs (job=NAME; default: {cfg.job.name}):\n{jobs}",
        "Common options:\n" + _common(cfg),
        "More:\n"
        "  python -m engine job=NAME --help     the options of one job, with their defaults\n"
        "  python -m engine job=NAME --cfg job  the composed job config (YAML)\n"
        "  python -m engine --hydra-help        Hydra's own flags (multirun, launchers, ...)",
    ]) + "\n"


def job_page(name: str, cfg: DictConfig) -> str:
    from engine.config import job_module

    params = job_module(name).Params
    notes = field_comments(params)
    lines = []
    # Unresolved: a mandatory value shows as ???, an interpolation as written.
    for key, value in OmegaConf.to_container(cfg.job, resolve=False).items():
        if key == "name":
            continue
        if isinstance(value, dict):  # a pipeline stage: the stage job's own options
            lines.append(_option(f"job.{key}.*", f"as job={key} --help shows"))
            alone = OmegaConf.to_container(OmegaConf.structured(job_module(key).Params))
            lines += [_option(f"job.{key}.{k}={_value(v)}",
                              f"(job={key} alone: {_value(alone[k])})")
                      for k, v in value.items() if k != "name" and alone.get(k) != v]
        else:
            heading, note = notes.get(key, ("", ""))
            if heading:
                lines.append(textwrap.fill(heading, WIDTH, initial_indent="  # ",
                                           subsequent_indent="  # "))
            lines.append(_option(f"job.{key}={_value(value)}", note))
    return "\n\n".join([
        f"python -m engine job={name} [key=value ...]",
        textwrap.fill(summary(name), WIDTH),
        f"Options of job={name} (defaults, or this command line's values):\n" + "\n".join(lines),
        "Common options:\n" + _common(cfg),
    ]) + "\n"


def summary(name: str) -> str:
    """A job's one-line description: its module docstring's first sentence, without the
    `job=NAME:` prefix and the references to the specification's sections."""
    spec = importlib.util.find_spec(f"engine.jobs.{name}")
    with open(spec.origin, encoding="utf-8") as f:
        doc = ast.get_docstring(ast.parse(f.read())) or ""
    first = " ".join(doc.split("\n\n", 1)[0].split())
    first = re.sub(r"^`job=\w+`:\s*", "", first)
    first = re.sub(r"\s*\((?:seed|SPEC)[^)]*\)", "", first)
    first = first.split(". ", 1)[0].rstrip(".")
    if first[:2].islower():  # not a word such as kNN
        first = first[:1].upper() + first[1:]
    return first + "."


def field_comments(cls: type) -> dict[str, tuple[str, str]]:
    """Field name -> (the comment lines just above it, the comment beside it with its
    lower-case continuation lines) in the source, over the dataclass's bases too. A comment
    above a field often heads a group of fields, so it is shown as a heading, not as the
    field's own words."""
    out: dict[str, tuple[str, str]] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            out.update(_class_comments(klass))
    return out


def _class_comments(klass: type) -> dict[str, tuple[str, str]]:
    try:
        source = textwrap.dedent(inspect.getsource(klass))
    except (OSError, TypeError):  # no source (a frozen install): values without words
        return {}
    lines = source.splitlines()
    whole: dict[int, str] = {}  # comment lines
    beside: dict[int, str] = {}  # comments after code
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            row, text = tok.start[0], tok.string.lstrip("#").strip()
            (beside if lines[row - 1][: tok.start[1]].strip() else whole)[row] = text
    out = {}
    used: set[int] = set()
    for node in ast.parse(source).body[0].body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above: list[str] = []
        row = node.lineno - 1
        while row in whole and row not in used:
            above.insert(0, whole[row])
            row -= 1
        own = [beside[r] for r in range(node.lineno, node.end_lineno + 1) if r in beside]
        row = node.end_lineno + 1
        while own and row in whole and whole[row][:1].islower():  # the comment goes on
            own.append(whole[row])
            used.add(row)
            row += 1
        if above or own:
            out[node.target.id] = (" ".join(above), " ".join(own))
    return out


def _common(cfg: DictConfig) -> str:
    out = []
    for key, note in COMMON:
        if key in ("backend", "data"):
            value = OmegaConf.select(cfg, f"{key}.name")
        elif key == "hydra.run.dir":
            value = "DIR"
        else:
            value = OmegaConf.select(cfg, key, default=None)
        if key == "cache_dir" and value is None:
            value = "DIR|off"
        out.append(_option(f"{key}={_value(value)}", note))
    return "\n".join(out)


def _option(left: str, note: str | None) -> str:
    left = f"  {left}"
    if not note:
        return left
    if len(left) < KEY_COLUMN - 1:
        return _hanging(f"{left:<{KEY_COLUMN}}", note)
    return left + "\n" + textwrap.fill(note, WIDTH, initial_indent=" " * KEY_COLUMN,
                                       subsequent_indent=" " * KEY_COLUMN)


def _hanging(head: str, text: str) -> str:
    return textwrap.fill(text, WIDTH, initial_indent=head, subsequent_indent=" " * len(head))


def _value(value: Any) -> str:
    """A value as it is written on the command line (Hydra's override grammar)."""
    if isinstance(value, list | tuple):
        return "[" + ",".join(_value(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
