"""Which keys of the command line's overrides do not exist, named with the closest keys.

Hydra's own message for an unknown key advises `+key=value`, which adds the misspelt key
beside the real one and runs as if the setting had not been given; these messages name the
existing keys instead. The sweep check looks at keys only: a sweep's values (`7,14`,
`range(1,3)`, `choice(...)`, `glob(...)`, `interval(...)`) are the sweeper's to expand.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Callable

from omegaconf import DictConfig, OmegaConf


def unknown_key_message(key: str, cfg: DictConfig) -> str | None:
    """None when `key` exists in `cfg` (or falls under a node that takes any key or is not a
    mapping: Hydra judges those); else one line naming the closest existing keys."""
    node = cfg
    parts = key.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(node, DictConfig) or not OmegaConf.is_struct(node):
            return None
        if part not in node:
            parent = ".".join(parts[:depth])
            prefix = f"{parent}." if parent else ""
            keys = [str(k) for k in node.keys()]
            if not keys:
                return f"{key}: no such key"
            closest = sorted(keys, key=lambda k: -difflib.SequenceMatcher(None, part, k).ratio())
            return f"{key}: no such key; closest: {', '.join(prefix + k for k in closest[:3])}"
        # The node itself, not its value: values may be interpolations only Hydra resolves.
        node = node._get_node(part)
    return None


def sweep_key_error(overrides: list[str],
                    compose: Callable[[list[str]], DictConfig]) -> str | None:
    """The first unknown key among a multirun's overrides, checked against the config of
    every combination of the swept config groups (`job=basins,communities`: a key must exist
    in both jobs); None when every key exists. Call inside Hydra's initialized context
    (`compose` composes with the hydra node, so `hydra.launcher.*` keys are checked too)."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    loader = GlobalHydra.instance().config_loader()
    parsed = OverridesParser.create().parse_overrides(overrides)
    groups, keys = [], []
    for o in parsed:
        if o.is_add() or o.is_force_add() or o.is_delete():
            continue  # `+`, `++` and `~` ask for a change of structure: Hydra judges those
        is_group = o.package is not None or "/" in o.key_or_group or (
            "." not in o.key_or_group and loader.get_group_options(o.key_or_group))
        (groups if is_group else keys).append(o)
    choices = []
    for o in groups:
        o.config_loader = loader  # glob(...) lists the group's options through it
        values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [
            o.get_value_element_as_str()]
        choices.append([f"{o.get_key_element()}={v}" for v in values])
    swept = [c for o, c in zip(groups, choices, strict=True) if o.is_sweep_override()]
    for combination in itertools.product(*choices):
        cfg = compose(list(combination))
        for o in keys:
            message = unknown_key_message(o.key_or_group, cfg)
            if message:  # with a swept group, say in which of its choices the key is missing
                where = [c for c in combination if any(c in s for s in swept)]
                return message + (f" (with {' '.join(where)})" if where else "")
    return None
