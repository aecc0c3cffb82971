"""MLP-Mixer token-mixing MLP: an MLP applied across tokens, shared over channels."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from .mixers import register_mixer
from .mlp import Mlp


@register_mixer("mlp")
class TokenMixingMlp(nn.Module):
    """Transpose to ``[B, D, N]``, run ``Mlp(tokens_mlp_dim, out=N)``, transpose back.

    ``[B, N, D] -> [B, N, D]``. Parameters: ``mlp/fc1/kernel [N, tokens_mlp_dim]``,
    ``mlp/fc1/bias``, ``mlp/fc2/kernel [tokens_mlp_dim, N]``, ``mlp/fc2/bias``; the
    number of tokens N is fixed by the input at init. The token-mixing weights are these
    parameters; with the ``"intermediates"`` collection mutable the mixed tokens
    ``[B, N, D]`` are sown as ``output``. ``gelu``: ``"exact"`` | ``"tanh"``
    (``mixer_vit.layers.mlp.Mlp``).
    """

    tokens_mlp_dim: int
    dropout: float = 0.0
    dtype: Any = jnp.float32
    gelu: str = "exact"

    @nn.compact
    def __call__(
        self, x: jax.Array, *, deterministic: bool, grid: tuple[int, int] | None = None
    ) -> jax.Array:
        del grid  # mixes all tokens alike; no spatial layout needed
        y = jnp.swapaxes(x, 1, 2)  # [B, D, N]
        mlp = Mlp(
            self.tokens_mlp_dim, dropout=self.dropout, dtype=self.dtype, gelu=self.gelu, name="mlp"
        )
        y = mlp(y, deterministic=deterministic)
        y = jnp.swapaxes(y, 1, 2)  # [B, N, D]
        self.sow("intermediates", "output", y)  # only when collected
        return y
