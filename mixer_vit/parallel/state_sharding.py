"""Shardings for whole pytrees (train state, parameters) from the rules in ``rules.py``."""

from __future__ import annotations

from typing import Any

import jax
from jax.sharding import Mesh, NamedSharding

from .rules import partition_spec


def _path_string(path) -> str:
    """``(DictKey('params'), GetAttrKey('mu'), ...)`` -> ``"params/mu/..."``."""
    parts = []
    for key in path:
        for attr in ("key", "name", "idx"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
        else:
            parts.append(str(key))
    return "/".join(parts)


def tree_shardings(tree: Any, mesh: Mesh) -> Any:
    """A ``NamedSharding`` for every array leaf of ``tree`` (arrays or
    ``jax.ShapeDtypeStruct``s), placed by the parameter rules; scalars are replicated."""

    def place(path, leaf):
        return NamedSharding(mesh, partition_spec(_path_string(path), leaf.shape, mesh))

    return jax.tree_util.tree_map_with_path(place, tree)


def bytes_per_device(tree: Any) -> dict[Any, int]:
    """Bytes of ``tree``'s arrays held on each device (by device)."""
    held: dict[Any, int] = {}
    for leaf in jax.tree.leaves(tree):
        for shard in leaf.addressable_shards:
            held[shard.device] = held.get(shard.device, 0) + shard.data.nbytes
    return held
