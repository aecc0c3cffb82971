"""Split a token sequence into its prefix tokens and its 2-D patch grid, and back.

Shared by the spatial token mixers (pooling, depthwise convolution), which follow the
mixer contract: the last ``H * W`` of the ``N`` tokens are the row-major patch grid and
any others (a class token, ...) come first.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def split_grid(x: jax.Array, grid: tuple[int, int] | None) -> tuple[jax.Array, jax.Array]:
    """``x [B, N, D]`` -> (prefix ``[B, N - H*W, D]``, patches ``[B, H, W, D]``).

    ``grid=None`` means the sequence has no 2-D layout: all ``N`` tokens form one row
    ``(1, N)``, so a spatial mixer becomes its 1-D counterpart along the sequence.
    """
    batch, tokens, dim = x.shape
    height, width = (1, tokens) if grid is None else grid
    if height < 1 or width < 1 or height * width > tokens:
        raise ValueError(
            f"Token grid {height}x{width} does not fit in {tokens} tokens; "
            "pass grid=(H, W) with H * W <= N."
        )
    num_prefix = tokens - height * width
    return x[:, :num_prefix], x[:, num_prefix:].reshape(batch, height, width, dim)


def merge_grid(prefix: jax.Array, patches: jax.Array) -> jax.Array:
    """Inverse of :func:`split_grid`: ``[B, P, D]`` and ``[B, H, W, D]`` -> ``[B, P + H*W, D]``."""
    batch, height, width, dim = patches.shape
    flat = patches.reshape(batch, height * width, dim)
    return flat if prefix.shape[1] == 0 else jnp.concatenate([prefix, flat], axis=1)
