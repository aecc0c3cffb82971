"""Depthwise-separable convolution as a MetaFormer token mixer."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from .mixers import register_mixer
from .token_grid import merge_grid, split_grid


@register_mixer("dwconv")
class DepthwiseConvMixer(nn.Module):
    """Depthwise ``k x k`` convolution over the patch grid, then (optionally) a pointwise
    ``D -> D`` projection. ``[B, N, D] -> [B, N, D]``.

    Only the depthwise convolution mixes tokens (each channel with its own ``k x k``
    filter, zero "same" padding); the pointwise projection mixes channels per token.
    Parameters: ``dwconv/kernel [k, k, 1, D]``, ``dwconv/bias [D]`` and, with
    ``pointwise``, ``pwconv/kernel [D, D]``, ``pwconv/bias [D]``. Prefix tokens (before
    the ``H * W`` grid) are not mixed: their output is 0. ``grid=None`` convolves along the
    sequence as one row.
    """

    kernel_size: int = 7
    pointwise: bool = True
    use_bias: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(
        self, x: jax.Array, *, deterministic: bool, grid: tuple[int, int] | None = None
    ) -> jax.Array:
        del deterministic
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1, got {self.kernel_size}.")
        dim = x.shape[-1]
        prefix, patches = split_grid(x, grid)  # [B, P, D], [B, H, W, D]
        pad = self.kernel_size // 2
        y = nn.Conv(
            dim,
            kernel_size=(self.kernel_size, self.kernel_size),
            padding=((pad, pad), (pad, pad)),
            feature_group_count=dim,
            use_bias=self.use_bias,
            dtype=self.dtype,
            name="dwconv",
        )(patches)
        if self.pointwise:
            y = nn.Dense(dim, use_bias=self.use_bias, dtype=self.dtype, name="pwconv")(y)
        return merge_grid(jnp.zeros_like(prefix, dtype=y.dtype), y)
