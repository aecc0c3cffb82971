"""Squeeze-and-excitation (Hu et al. 2018): channel gating from global context."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


class SqueezeExcite(nn.Module):
    """``x * sigmoid(expand(act(reduce(mean_hw(x)))))``.

    ``[B, H, W, C] -> [B, H, W, C]``. Parameters: ``conv_reduce/{kernel [C, R], bias [R]}``
    and ``conv_expand/{kernel [R, C], bias [C]}`` (timm's 1x1 convs, held as Dense).
    EfficientNet uses SiLU and ``R = round(C_in_block * 0.25)``.
    """

    reduced_features: int
    activation: Callable[[jax.Array], jax.Array] = nn.silu
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        s = x.mean(axis=(1, 2), keepdims=True)  # [B, 1, 1, C]
        s = nn.Dense(self.reduced_features, dtype=self.dtype, name="conv_reduce")(s)
        s = self.activation(s)
        s = nn.Dense(x.shape[-1], dtype=self.dtype, name="conv_expand")(s)
        return x * nn.sigmoid(s).astype(x.dtype)
