"""Layer-scale (CaiT / DeiT-III / ResMLP / PoolFormer): a learned per-channel residual gain."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


class LayerScale(nn.Module):
    """Multiply each channel by a learned gain, ``[..., D] -> [..., D]``.

    Parameter ``scale [D]`` (float32), initialised to ``init_value`` everywhere: a small
    value (1e-5 in CaiT-S24, 1e-6 in CaiT-S36) makes every residual branch start near zero,
    which is what lets deep transformers train.
    """

    init_value: float = 1e-5
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        scale = self.param("scale", nn.initializers.constant(self.init_value), (x.shape[-1],))
        return x * scale.astype(self.dtype)
