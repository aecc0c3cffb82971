"""Two-layer feed-forward MLP (the channel MLP of ViT/Mixer blocks)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from .dense import dense_factory
from .gelu import check_gelu, gelu


class Mlp(nn.Module):
    """Dense -> GELU -> dropout -> Dense -> dropout over the last axis.

    ``[..., C] -> [..., out_dim]`` (``out_dim`` defaults to ``C``). Parameters:
    ``fc1/kernel [C, hidden_dim]``, ``fc1/bias``, ``fc2/kernel [hidden_dim, out_dim]``,
    ``fc2/bias``. ``gelu``: ``"exact"`` (erf, default, as timm) or ``"tanh"`` (as the
    official vision_transformer / big_vision Flax code; the two differ by up to ~2e-4).
    With bf16/f16 ``dtype`` the fc1 bias and GELU run in float32 on the dot's
    accumulator and the hidden activation is rounded to ``dtype`` once, after the GELU.
    """

    hidden_dim: int
    out_dim: int | None = None
    dropout: float = 0.0
    dtype: Any = jnp.float32
    gelu: str = "exact"

    def __post_init__(self):
        check_gelu(self.gelu)
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array, *, deterministic: bool) -> jax.Array:
        out_dim = x.shape[-1] if self.out_dim is None else self.out_dim
        dense = dense_factory(self.dtype, kernel_init=nn.initializers.xavier_uniform())
        # bf16/f16: bias and GELU on fc1's float32 accumulator, rounded once.
        x = dense(self.hidden_dim, round_output=False, name="fc1")(x)
        x = gelu(x, self.gelu).astype(self.dtype)
        x = nn.Dropout(self.dropout)(x, deterministic=deterministic)
        x = dense(out_dim, name="fc2")(x)
        return nn.Dropout(self.dropout)(x, deterministic=deterministic)
