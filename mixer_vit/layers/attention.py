"""Multi-head self-attention token mixer (ViT / timm layout: fused qkv, then proj)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from .attention_implementation import auto_attention_implementation
from .blocked_attention import blocked_attention, softmax_attention
from .dense import dense_factory
from .mixers import register_mixer

ATTENTION_IMPLEMENTATIONS = ("auto", "xla", "blocked", "fused", "cudnn")
NO_DROPOUT_IMPLEMENTATIONS = ("blocked", "fused", "cudnn")


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
    dropout), ``"fused"`` (``jax.nn.dot_product_attention`` with its default
    implementation; no attention dropout), ``"cudnn"`` (the same with
    ``implementation="cudnn"``: cuDNN flash attention, CUDA GPUs only, float16/bfloat16,
    head_dim a multiple of 8; no attention dropout), or ``"auto"`` (default: chosen per
    backend, dtype and shape by
    ``mixer_vit.layers.attention_implementation.choose_attention_implementation``:
    cuDNN on a GPU where it applies, blocked attention on CPU, else ``"xla"``).
    All give the same result within float tolerance and have the same parameters.

    Intermediates: when the ``"intermediates"`` collection is mutable
    (``model.apply(..., mutable=["intermediates"])``), the call runs the ``"xla"`` path
    and sows the attention weights ``attention_weights [B, H, N, N]`` (after the
    softmax, before attention dropout; rows sum to 1). Otherwise nothing is sown and the
    chosen kernel runs.
    """

    num_heads: int
    qkv_bias: bool = True
    attn_drop: float = 0.0
    proj_drop: float = 0.0
    implementation: str = "auto"
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
        if self.implementation not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(
                f"Attention implementation must be one of "
                f"{', '.join(ATTENTION_IMPLEMENTATIONS)}, got '{self.implementation}'."
            )
        if self.implementation in NO_DROPOUT_IMPLEMENTATIONS and self.attn_drop > 0:
            raise ValueError(
                f"Attention implementation '{self.implementation}' has no attention dropout; "
                "set attn_drop=0 or use implementation='xla' (or 'auto')."
            )
        if self.implementation == "cudnn" and jax.default_backend() != "gpu":
            raise ValueError(
                "Attention implementation 'cudnn' needs a CUDA GPU, but the backend is "
                f"'{jax.default_backend()}'; use implementation='auto' or 'xla'."
            )
        head_dim = dim // self.num_heads
        collecting = self.is_mutable_collection("intermediates")
        implementation = self.implementation
        if collecting:
            implementation = "xla"  # the only path that forms the weights
        elif implementation == "auto":
            implementation = auto_attention_implementation(
                self.dtype,
                heads=self.num_heads,
                tokens=tokens,
                head_dim=head_dim,
                training=not deterministic,
                dropout_active=self.attn_drop > 0 and not deterministic,
            )
        dense = dense_factory(self.dtype, kernel_init=nn.initializers.xavier_uniform())

        qkv = dense(3 * dim, use_bias=self.qkv_bias, name="qkv")(x)
        qkv = qkv.reshape(batch, tokens, 3, self.num_heads, head_dim)
        if implementation in ("fused", "cudnn"):
            q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # each [B, N, H, head_dim]
            out = jax.nn.dot_product_attention(
                q,
                k,
                v,
                scale=head_dim**-0.5,
                implementation="cudnn" if implementation == "cudnn" else None,
            )  # [B, N, H, hd]
        else:
            # Head-major [B, H, N, hd] operands make both batched dots plain row-major
            # matmuls (weights @ v needs no transposed v); measured ~14% faster on XLA:CPU.
            q, k, v = jnp.transpose(qkv, (2, 0, 3, 1, 4))  # each [B, H, N, head_dim]
            q = q * (head_dim**-0.5)
            if implementation == "blocked":
                out = blocked_attention(q, k, v)  # [B, H, N, hd]
            else:  # float32 logits [B, H, N, N] whatever the dtype
                dropout = nn.Dropout(self.attn_drop)

                def weights_dropout(weights: jax.Array) -> jax.Array:  # [B, H, N, N]
                    if collecting:
                        self.sow("intermediates", "attention_weights", weights)
                    return dropout(weights, deterministic=deterministic)

                out = softmax_attention(q, k, v, weights_dropout)  # [B, H, N, hd]
            out = jnp.swapaxes(out, 1, 2)  # [B, N, H, hd]
        out = out.reshape(batch, tokens, dim)

        out = dense(dim, name="proj")(out)
        return nn.Dropout(self.proj_drop)(out, deterministic=deterministic)
