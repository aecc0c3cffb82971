"""PoolFormer's token mixer: local average pooling minus the identity."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from .mixers import register_mixer
from .token_grid import merge_grid, split_grid


@register_mixer("pooling")
class PoolingMixer(nn.Module):
    """``avgpool_k(x) - x`` over the patch grid, ``[B, N, D] -> [B, N, D]``; no parameters.

    The pool is ``pool_size`` x ``pool_size``, stride 1, zero padding ``pool_size // 2``,
    and divides by the number of *real* neighbours (PyTorch ``count_include_pad=False``),
    so border tokens are not pulled towards zero. Subtracting ``x`` makes the branch a pure
    mixing term, because the MetaFormer block adds ``x`` back through its residual.
    Prefix tokens (those before the ``H * W`` grid) have no spatial neighbours: their output
    is 0. ``grid=None`` pools along the sequence as one row.
    """

    pool_size: int = 3
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(
        self, x: jax.Array, *, deterministic: bool, grid: tuple[int, int] | None = None
    ) -> jax.Array:
        del deterministic
        if self.pool_size < 1 or self.pool_size % 2 == 0:
            raise ValueError(f"pool_size must be odd and >= 1, got {self.pool_size}.")
        x = x.astype(self.dtype)
        prefix, patches = split_grid(x, grid)  # [B, P, D], [B, H, W, D]
        k, pad = self.pool_size, self.pool_size // 2
        pooled = nn.avg_pool(
            patches,
            window_shape=(k, k),
            strides=(1, 1),
            padding=((pad, pad), (pad, pad)),
            count_include_pad=False,
        )
        return merge_grid(jnp.zeros_like(prefix), pooled - patches)
