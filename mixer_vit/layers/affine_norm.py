"""ResMLP's Affine "normalisation": a learned per-channel scale and shift, no statistics."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


class Affine(nn.Module):
    """``alpha * x + beta`` over the last axis, ``[..., D] -> [..., D]``.

    Parameters (float32): ``alpha [D]`` (init 1) and ``beta [D]`` (init 0). Unlike
    LayerNorm it computes no statistics, so it folds into the next linear layer at
    inference.
    """

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dim = x.shape[-1]
        alpha = self.param("alpha", nn.initializers.ones, (dim,))
        beta = self.param("beta", nn.initializers.zeros, (dim,))
        return alpha.astype(self.dtype) * x.astype(self.dtype) + beta.astype(self.dtype)
