"""Shift token mixer: parameter-free spatial mixing by rolling channel groups across the grid.

Like ShiftViT / the shift operation of Wu et al. (2018), with a circular roll: a quarter
of the channels moves one step up, a quarter down, a quarter left, a quarter right; the
rest (``D % 4`` channels) and any non-grid tokens (e.g. a class token) stay in place.
The README's "Adding a token mixer" walks through this file.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from .mixers import register_mixer


@register_mixer("shift")
class ShiftMixer(nn.Module):
    """``[B, N, D] -> [B, N, D]``; the last ``H * W`` tokens are the grid. No parameters."""

    shift: int = 1
    dtype: Any = jnp.float32

    def __call__(self, x: jax.Array, *, deterministic: bool, grid: tuple[int, int]) -> jax.Array:
        del deterministic  # no randomness
        (height, width), dim = grid, x.shape[-1]
        n_prefix = x.shape[1] - height * width
        prefix, tokens = x[:, :n_prefix], x[:, n_prefix:]
        tokens = tokens.reshape(x.shape[0], height, width, dim)  # [B, H, W, D]
        g = dim // 4
        moves = ((self.shift, 1), (-self.shift, 1), (self.shift, 2), (-self.shift, 2))
        groups = [
            jnp.roll(tokens[..., i * g : (i + 1) * g], step, axis)
            for i, (step, axis) in enumerate(moves)
        ]
        tokens = jnp.concatenate([*groups, tokens[..., 4 * g :]], axis=-1)
        return jnp.concatenate([prefix, tokens.reshape(x.shape[0], -1, dim)], axis=1)
