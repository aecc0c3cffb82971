"""Fill a Flax variable tree from a flat ``{"a/b/kernel": array}`` dict, strictly.

Every converter builds a flat dict keyed like the target tree and hands it to
``assign_flat``, which checks it against the model's own (abstract) variables: a missing,
unexpected or mis-shaped key is an error that names them all, never a silent skip.
"""

from __future__ import annotations

from typing import Any, Mapping

import flax.traverse_util
import numpy as np

from mixer_vit.errors import UserError


class ConversionError(UserError):
    """Converted weights do not fit the target model."""


def flatten(tree: Mapping[str, Any]) -> dict[str, Any]:
    """Nested dict -> ``{"a/b/c": leaf}``."""
    return {"/".join(k): v for k, v in flax.traverse_util.flatten_dict(tree).items()}


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a/b/c": leaf}`` -> nested dict."""
    return flax.traverse_util.unflatten_dict({tuple(k.split("/")): v for k, v in flat.items()})


def _listing(keys: list[str], limit: int = 8) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def assign_flat(template: Mapping[str, Any], flat: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Returns a tree like ``template`` holding the arrays of ``flat`` (as float32 numpy,
    or the template leaf's dtype).

    Args:
      template: the target variables (e.g. ``jax.eval_shape(model.init, ...)``); leaves
        need ``.shape`` and ``.dtype``.
      flat: ``{"/"-joined path: array}``, exactly one entry per template leaf.
    Raises:
      ConversionError: one line naming the missing, unexpected and mis-shaped keys.
    """
    wanted = flatten(template)
    missing = [k for k in wanted if k not in flat]
    unexpected = [k for k in flat if k not in wanted]
    misshaped = [
        f"{k} {tuple(np.shape(flat[k]))} vs {tuple(wanted[k].shape)}"
        for k in wanted
        if k in flat and tuple(np.shape(flat[k])) != tuple(wanted[k].shape)
    ]
    if missing or unexpected or misshaped:
        parts = []
        if missing:
            parts.append(f"missing: {_listing(missing)}")
        if unexpected:
            parts.append(f"unexpected: {_listing(unexpected)}")
        if misshaped:
            parts.append(f"mis-shaped (given vs model): {_listing(misshaped)}")
        raise ConversionError(
            "weights do not fit the model; "
            + "; ".join(parts)
            + "; check the model name and its overrides (image size, classes)"
        )
    return unflatten({k: np.asarray(flat[k], dtype=wanted[k].dtype) for k in wanted})
