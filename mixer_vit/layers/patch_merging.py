"""Swin patch merging: halve the grid by concatenating 2x2 neighbours, then project."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


class PatchMerging(nn.Module):
    """``[B, H, W, C] -> [B, ceil(H/2), ceil(W/2), out_dim]`` (``out_dim`` defaults to 2C).

    Odd H or W is zero-padded at the bottom/right first. Each 2x2 group is concatenated
    in the order (h0w0, h1w0, h0w1, h1w1) -- the order of the Swin / timm weights -- into
    4C channels, then LayerNorm(4C) and a bias-free Dense(4C -> out_dim). Parameters:
    ``norm/{scale, bias} [4C]``, ``reduction/kernel [4C, out_dim]``.

    Attributes:
      out_dim: output channels (``2 * C`` when None).
      norm_eps: LayerNorm epsilon (1e-5 in Swin).
      dtype: compute dtype; parameters stay float32.
    """

    out_dim: int | None = None
    norm_eps: float = 1e-5
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim != 4:
            raise ValueError(f"PatchMerging expects [B, H, W, C], got shape {tuple(x.shape)}.")
        batch, height, width, channels = x.shape
        x = jnp.pad(x, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)))
        half_h, half_w = (height + 1) // 2, (width + 1) // 2
        x = x.reshape(batch, half_h, 2, half_w, 2, channels)  # [B, h, dy, w, dx, C]
        x = x.transpose(0, 1, 3, 4, 2, 5)  # [B, h, w, dx, dy, C]: dy varies fastest
        x = x.reshape(batch, half_h, half_w, 4 * channels)
        x = nn.LayerNorm(epsilon=self.norm_eps, dtype=self.dtype, name="norm")(x)
        out_dim = 2 * channels if self.out_dim is None else self.out_dim
        return nn.Dense(
            out_dim,
            use_bias=False,
            dtype=self.dtype,
            kernel_init=nn.initializers.xavier_uniform(),
            name="reduction",
        )(x)
