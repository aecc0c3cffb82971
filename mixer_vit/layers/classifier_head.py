"""The classification head shared by every model: a zero-initialised Dense named ``head``."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


def classifier_head(
    features: jax.Array, num_classes: int, dtype: Any = jnp.float32, name: str = "head"
) -> jax.Array:
    """features [B, D] -> float32 logits [B, num_classes]; with ``num_classes=0`` the
    features themselves (float32). Call it inside a ``@nn.compact`` method: the Dense
    becomes a submodule ``name`` of the calling module (weights zero-initialised, as in
    big_vision, so training starts from uniform predictions)."""
    if num_classes > 0:
        features = nn.Dense(
            num_classes,
            dtype=dtype,
            kernel_init=nn.initializers.zeros,
            bias_init=nn.initializers.zeros,
            name=name,
        )(features)
    return features.astype(jnp.float32)
