"""Patch embedding: non-overlapping patches projected by one strided convolution."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


class PatchEmbed(nn.Module):
    """Split images into ``patch_size`` x ``patch_size`` patches and embed each one.

    ``[B, H, W, C] -> [B, N, D]`` with ``N = (H // p) * (W // p)`` in row-major patch
    order and ``D = embed_dim``. Parameters: ``proj/kernel [p, p, C, D]``,
    ``proj/bias [D]``.
    """

    patch_size: int
    embed_dim: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        if images.ndim != 4:
            raise ValueError(
                f"PatchEmbed expects images [B, H, W, C], got shape {tuple(images.shape)}."
            )
        batch, height, width, _ = images.shape
        p = self.patch_size
        if height % p or width % p:
            fix_h, fix_w = max(p, round(height / p) * p), max(p, round(width / p) * p)
            raise ValueError(
                f"Image size {height}x{width} is not divisible by patch size {p}; "
                f"resize or crop images to a multiple of {p} (e.g. {fix_h}x{fix_w}) "
                "or choose a patch size dividing both."
            )
        x = nn.Conv(
            self.embed_dim,
            kernel_size=(p, p),
            strides=(p, p),
            padding="VALID",
            dtype=self.dtype,
            name="proj",
        )(images)
        return x.reshape(batch, -1, self.embed_dim)
