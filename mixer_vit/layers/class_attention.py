"""Class attention (CaiT): only the class token queries; all tokens are keys and values."""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


class ClassAttention(nn.Module):
    """Attention of the class token over ``[class token, patch tokens]``.

    ``tokens [B, 1 + N, D]`` (the class token first) ``-> [B, 1, D]``, the class
    token's update. The query comes from the class token only, so the cost is linear in
    N. Parameters (timm CaiT layout): ``q``, ``k``, ``v``, ``proj``, each
    ``{kernel [D, D], bias [D]}`` (no ``q``/``k``/``v`` biases when ``qkv_bias`` is False).
    """

    num_heads: int
    qkv_bias: bool = True
    attn_drop: float = 0.0
    proj_drop: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, tokens: jax.Array, *, deterministic: bool) -> jax.Array:
        batch, num_tokens, dim = tokens.shape
        if dim % self.num_heads:
            raise ValueError(
                f"Attention width {dim} is not divisible by num_heads={self.num_heads}."
            )
        head_dim = dim // self.num_heads
        dense = functools.partial(
            nn.Dense, dtype=self.dtype, kernel_init=nn.initializers.xavier_uniform()
        )
        heads = (self.num_heads, head_dim)

        q = dense(dim, use_bias=self.qkv_bias, name="q")(tokens[:, :1])
        q = q.reshape(batch, 1, *heads)  # [B, 1, H, head_dim]
        k = dense(dim, use_bias=self.qkv_bias, name="k")(tokens).reshape(batch, num_tokens, *heads)
        v = dense(dim, use_bias=self.qkv_bias, name="v")(tokens).reshape(batch, num_tokens, *heads)
        logits = jnp.einsum("bqhd,bkhd->bhqk", q * (head_dim**-0.5), k)  # [B, H, 1, 1 + N]
        weights = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(v.dtype)
        self.sow("intermediates", "attention_weights", weights)  # [B, H, 1, 1 + N]
        weights = nn.Dropout(self.attn_drop)(weights, deterministic=deterministic)
        out = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(batch, 1, dim)

        out = dense(dim, name="proj")(out)
        return nn.Dropout(self.proj_drop)(out, deterministic=deterministic)
