"""Normalisation layers with the epsilon stated explicitly at every use."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

VIT_LAYER_NORM_EPS = 1e-6
"""LayerNorm epsilon of ViT, DeiT, CaiT, MLP-Mixer, ResMLP (timm and big_vision)."""


def layer_norm(
    epsilon: float = VIT_LAYER_NORM_EPS, *, dtype: Any = jnp.float32, name: str | None = None
) -> nn.LayerNorm:
    """``flax.linen.LayerNorm`` over the last axis, ``[..., D] -> [..., D]``.

    Parameters ``scale [D]`` and ``bias [D]`` stay float32; statistics are computed in
    at least float32 even when ``dtype`` is bfloat16.
    """
    return nn.LayerNorm(epsilon=epsilon, dtype=dtype, name=name)
