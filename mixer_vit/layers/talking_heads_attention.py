"""Talking-heads self-attention (Shazeer et al. 2020; CaiT): heads mix before and after
the softmax."""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from .mixers import register_mixer


@register_mixer("talking_heads_attention")
class TalkingHeadsAttention(nn.Module):
    """Multi-head self-attention whose attention maps are linearly mixed across heads.

    ``[B, N, D] -> [B, N, D]``. With H heads, ``L = Q K^T / sqrt(head_dim)`` is
    ``[B, H, N, N]``; ``proj_l`` (an H x H Dense over the head axis) mixes the logits,
    the softmax runs over keys (in float32), ``proj_w`` mixes the weights, then they
    average V as usual.

    Parameters (timm CaiT layout): ``qkv/kernel [D, 3D]`` (output axis ordered
    ``(3, H, head_dim)``), ``qkv/bias [3D]``, ``proj_l/{kernel [H, H], bias [H]}``,
    ``proj_w/{kernel [H, H], bias [H]}``, ``proj/{kernel [D, D], bias [D]}``.
    """

    num_heads: int
    qkv_bias: bool = True
    attn_drop: float = 0.0
    proj_drop: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(
        self, x: jax.Array, *, deterministic: bool, grid: tuple[int, int] | None = None
    ) -> jax.Array:
        del grid  # mixes all tokens alike; no spatial layout needed
        batch, tokens, dim = x.shape
        if dim % self.num_heads:
            raise ValueError(
                f"Attention width {dim} is not divisible by num_heads={self.num_heads}."
            )
        head_dim = dim // self.num_heads
        dense = functools.partial(
            nn.Dense, dtype=self.dtype, kernel_init=nn.initializers.xavier_uniform()
        )

        qkv = dense(3 * dim, use_bias=self.qkv_bias, name="qkv")(x)
        qkv = qkv.reshape(batch, tokens, 3, self.num_heads, head_dim)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # each [B, N, H, head_dim]
        logits = jnp.einsum("bqhd,bkhd->bqkh", q * (head_dim**-0.5), k)  # [B, N, N, H]
        logits = dense(self.num_heads, name="proj_l")(logits)  # mix heads before softmax
        weights = jax.nn.softmax(logits.astype(jnp.float32), axis=2).astype(v.dtype)
        weights = dense(self.num_heads, name="proj_w")(weights)  # mix heads after softmax
        self.sow("intermediates", "attention_weights", jnp.moveaxis(weights, -1, 1))  # [B,H,N,N]
        weights = nn.Dropout(self.attn_drop)(weights, deterministic=deterministic)
        out = jnp.einsum("bqkh,bkhd->bqhd", weights, v).reshape(batch, tokens, dim)

        out = dense(dim, name="proj")(out)
        return nn.Dropout(self.proj_drop)(out, deterministic=deterministic)
