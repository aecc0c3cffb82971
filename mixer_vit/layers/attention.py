"""Multi-head self-attention token mixer (ViT / timm layout: fused qkv, then proj)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from .blocked_attention import DEFAULT_BLOCK_BYTES, blocked_attention, softmax_attention
from .dense import dense_factory
from .kernels import cpu_tuned_active
from .mixers import register_mixer

ATTENTION_IMPLEMENTATIONS = ("auto", "xla", "blocked", "fused")


@register_mixer("attention")
class MultiHeadSelfAttention(nn.Module):
    """``softmax(Q K^T / sqrt(head_dim)) V`` over all tokens, ``[B, N, D] -> [B, N, D]``.

    Parameters (timm-compatible count): ``qkv/kernel [D, 3D]``, ``qkv/bias [3D]``
    (the output axis is ordered ``(3, num_heads, head_dim)`` like timm's fused qkv),
    ``proj/kernel [D, D]``, ``proj/bias [D]``. The softmax runs in float32 whatever
    ``dtype`` is.

    ``implementation``: ``"xla"`` (plain einsum + softmax, supports ``attn_drop``),
    ``"blocked"`` (the same a few images at a time with the logits recomputed in the
    backward, ``mixer_vit.layers.blocked_attention``: faster on CPU, no attention
    dropout), ``"fused"`` (``jax.nn.dot_product_attention``, which picks a fused kernel
    such as cuDNN flash attention on GPU where it applies; no attention dropout), or
    ``"auto"`` (default: with the CPU-tuned kernels, ``mixer_vit.layers.kernels``,
    ``"blocked"`` for training and for inference when one
    image's logits fit in a block, unless attention dropout is active; else ``"xla"``).
    All give the same result within float tolerance and have the same parameters.
    """

    num_heads: int
    qkv_bias: bool = True
    attn_drop: float = 0.0
    proj_drop: float = 0.0
    implementation: str = "auto"
    dtype: Any = jnp.float32

    def _auto_implementation(self, tokens: int, deterministic: bool) -> str:
        """``"blocked"`` on CPU for training (its backward recomputes the logits instead
        of storing them) and for inference when one image's logits fit in a block (the
        blocks then stay in cache); otherwise ``"xla"``. Measured in docs/benchmarks.md."""
        if not cpu_tuned_active() or (self.attn_drop > 0 and not deterministic):
            return "xla"
        image_fits = self.num_heads * tokens * tokens * 4 <= DEFAULT_BLOCK_BYTES
        return "blocked" if not deterministic or image_fits else "xla"

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
        if self.implementation not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(
                f"Attention implementation must be one of "
                f"{', '.join(ATTENTION_IMPLEMENTATIONS)}, got '{self.implementation}'."
            )
        if self.implementation in ("fused", "blocked") and self.attn_drop > 0:
            raise ValueError(
                f"Attention implementation '{self.implementation}' has no attention dropout; "
                "set attn_drop=0 or use implementation='xla' (or 'auto')."
            )
        implementation = self.implementation
        if implementation == "auto":
            implementation = self._auto_implementation(tokens, deterministic)
        head_dim = dim // self.num_heads
        dense = dense_factory(self.dtype, kernel_init=nn.initializers.xavier_uniform())

        qkv = dense(3 * dim, use_bias=self.qkv_bias, name="qkv")(x)
        qkv = qkv.reshape(batch, tokens, 3, self.num_heads, head_dim)
        if implementation == "fused":
            q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # each [B, N, H, head_dim]
            out = jax.nn.dot_product_attention(q, k, v, scale=head_dim**-0.5)  # [B, N, H, hd]
        else:
            # Head-major [B, H, N, hd] operands make both batched dots plain row-major
            # matmuls (weights @ v needs no transposed v); measured ~14% faster on XLA:CPU.
            q, k, v = jnp.transpose(qkv, (2, 0, 3, 1, 4))  # each [B, H, N, head_dim]
            q = q * (head_dim**-0.5)
            if implementation == "blocked":
                out = blocked_attention(q, k, v)  # [B, H, N, hd]
            else:  # float32 logits [B, H, N, N] whatever the dtype
                dropout = nn.Dropout(self.attn_drop)
                out = softmax_attention(
                    q, k, v, lambda w: dropout(w, deterministic=deterministic)
                )  # [B, H, N, hd]
            out = jnp.swapaxes(out, 1, 2)  # [B, N, H, hd]
        out = out.reshape(batch, tokens, dim)

        out = dense(dim, name="proj")(out)
        return nn.Dropout(self.proj_drop)(out, deterministic=deterministic)
