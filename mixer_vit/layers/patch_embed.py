"""Patch embedding: non-overlapping patches projected to tokens.

float32: one strided convolution. bfloat16/float16: the patches are gathered into rows
and projected by one GEMM, because XLA:CPU has no low-precision convolution (it up-casts
image and kernel and runs an f32 convolution) while the GEMM runs natively in bf16
(``mixer_vit.layers.dense``). Measured for a ViT-B/16 stem at batch 32 on a 2-core CPU:
bf16 convolution 69 ms, gather + bf16 GEMM 45 ms; float32 convolution 44 ms, gather + GEMM
50 ms (median of 40). Same parameters, same result up to summation order.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from .linear_grads import add_bias, matmul
from .low_precision_dot import LOW_PRECISION


class PatchProjection(nn.Module):
    """``[B, H, W, C] -> [B, H // p, W // p, D]``: each ``p x p`` patch times the kernel.

    Parameters as ``nn.Conv(D, (p, p), strides=(p, p))``: ``kernel [p, p, C, D]``
    (LeCun normal), ``bias [D]`` (zeros)."""

    patch_size: int
    features: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        p, channels = self.patch_size, images.shape[-1]
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (p, p, channels, self.features)
        )
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        images, kernel, bias = nn.dtypes.promote_dtype(images, kernel, bias, dtype=self.dtype)
        if images.dtype not in LOW_PRECISION:
            out = jax.lax.conv_general_dilated(
                images, kernel, (p, p), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
            return out + bias
        batch, height, width, _ = images.shape
        rows, cols = height // p, width // p
        patches = images.reshape(batch, rows, p, cols, p, channels)
        patches = patches.transpose(0, 1, 3, 2, 4, 5).reshape(batch, rows, cols, -1)
        return add_bias(matmul(patches, kernel.reshape(-1, self.features)), bias)


class PatchEmbed(nn.Module):
    """Split images into ``patch_size`` x ``patch_size`` patches and embed each one.

    ``[B, H, W, C] -> [B, N, D]`` with ``N = (H // p) * (W // p)`` in row-major patch
    order and ``D = embed_dim``. Parameters: ``proj/kernel [p, p, C, D]``,
    ``proj/bias [D]``.
    """

    patch_size: int
    embed_dim: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        if images.ndim != 4:
            raise ValueError(
                f"PatchEmbed expects images [B, H, W, C], got shape {tuple(images.shape)}."
            )
        batch, height, width, _ = images.shape
        p = self.patch_size
        if height % p or width % p:
            fix_h, fix_w = max(p, round(height / p) * p), max(p, round(width / p) * p)
            raise ValueError(
                f"Image size {height}x{width} is not divisible by patch size {p}; "
                f"resize or crop images to a multiple of {p} (e.g. {fix_h}x{fix_w}) "
                "or choose a patch size dividing both."
            )
        x = PatchProjection(p, self.embed_dim, dtype=self.dtype, name="proj")(images)
        return x.reshape(batch, -1, self.embed_dim)
