"""Identity token mixer (MetaFormer's "IdentityFormer" baseline): no mixing at all."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from .mixers import register_mixer


@register_mixer("identity")
class IdentityMixer(nn.Module):
    """Returns its input unchanged, ``[B, N, D] -> [B, N, D]``; no parameters."""

    dtype: Any = jnp.float32

    def __call__(
        self, x: jax.Array, *, deterministic: bool, grid: tuple[int, int] | None = None
    ) -> jax.Array:
        del grid  # mixes all tokens alike; no spatial layout needed
        del deterministic
        return x
