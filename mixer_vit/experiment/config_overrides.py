"""Config overrides as flat ``{"a.b.c": value}`` maps: flattening the nested dicts an
experiment file writes, checking them against a base config, and spelling them as
``--config.a.b.c=value`` flags of ``mixer-vit train``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ml_collections

from mixer_vit.errors import UserError


def flatten(overrides: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"num_epochs": 5}, "optim.lr": 1e-3} -> {"train.num_epochs": 5,
    "optim.lr": 1e-3}: nested mappings become dotted paths to their leaves."""
    flat: dict[str, Any] = {}
    for key, value in overrides.items():
        path = f"{prefix}{key}"
        if isinstance(value, (Mapping, ml_collections.ConfigDict)) and len(value):
            flat.update(flatten(dict(value.items()), prefix=f"{path}."))
        else:
            flat[path] = value.to_dict() if isinstance(value, ml_collections.ConfigDict) else value
    return flat


def check_against(config: ml_collections.ConfigDict, overrides: Mapping[str, Any], where: str):
    """Raises ``UserError`` naming ``where`` (e.g. "arm pooling of digits_mixers") for a key
    the config lacks or a value of the wrong type; ``config`` is changed (pass a copy)."""
    for path, value in overrides.items():
        node, *parents = config, *path.split(".")[:-1]
        for i, part in enumerate(parents):
            if not isinstance(node, ml_collections.ConfigDict) or part not in node:
                raise _unknown_key(path, ".".join(parents[: i + 1]), where)
            node = node[part]
        leaf = path.split(".")[-1]
        if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
            raise _unknown_key(path, path, where)
        try:
            node[leaf] = value
        except (TypeError, ValueError) as e:
            raise UserError(
                f"{where}: config key {path} cannot be {value!r} "
                f"({' '.join(str(e).split())}); fix the value in the experiment file"
            ) from None


def _unknown_key(path: str, missing: str, where: str) -> UserError:
    return UserError(
        f"{where}: unknown config key {path} (the base config has no {missing}); use a key "
        f"of the base config file"
    )


def flag_value(value: Any) -> str:
    """The text ml_collections' ``--config.KEY=`` flag parses back into ``value``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return repr(tuple(value))
    raise UserError(
        f"override value {value!r} has type {type(value).__name__}; use a str, number, bool "
        f"or tuple"
    )


def as_flags(overrides: Mapping[str, Any]) -> list[str]:
    return [f"--config.{path}={flag_value(value)}" for path, value in overrides.items()]
