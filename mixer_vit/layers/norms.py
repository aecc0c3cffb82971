"""Normalisation layers with the epsilon stated explicitly at every use."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from .layer_norm_grad import layer_norm as layer_norm_op

VIT_LAYER_NORM_EPS = 1e-6
"""LayerNorm epsilon of ViT, DeiT, CaiT, MLP-Mixer, ResMLP (timm and big_vision)."""


class LayerNorm(nn.Module):
    """LayerNorm over the last axis, ``[..., D] -> [..., D]`` in ``dtype``.

    Same parameters (``scale [D]`` ones, ``bias [D]`` zeros, float32), statistics and
    result as ``flax.linen.LayerNorm``; statistics in at least float32 even when
    ``dtype`` is bfloat16. The gradient is the closed form of
    ``mixer_vit.layers.layer_norm_grad`` (fewer passes on CPU)."""

    epsilon: float = VIT_LAYER_NORM_EPS
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        features = (jnp.shape(x)[-1],)
        scale = self.param("scale", nn.initializers.ones_init(), features, jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), features, jnp.float32)
        return layer_norm_op(x, scale, bias, self.epsilon).astype(self.dtype)


def layer_norm(
    epsilon: float = VIT_LAYER_NORM_EPS, *, dtype: Any = jnp.float32, name: str | None = None
) -> LayerNorm:
    """:class:`LayerNorm` with the epsilon stated at the call site."""
    return LayerNorm(epsilon=epsilon, dtype=dtype, name=name)
