"""Weight-standardised convolution (Qiao et al. 2019), as used by BiT ResNet-V2."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

BIT_WEIGHT_STANDARDIZATION_EPS = 1e-8
"""Epsilon of timm's BiT ``StdConv2d`` (``partial(StdConv2d, eps=1e-8)``)."""


def standardize_kernel(kernel: jax.Array, epsilon: float) -> jax.Array:
    """``(w - mean) / sqrt(var + eps)`` per output channel of an HWIO kernel.

    ``[kH, kW, I, O] -> [kH, kW, I, O]``; mean and (biased) variance over the first three
    axes, in float32.
    """
    kernel = kernel.astype(jnp.float32)
    mean = kernel.mean(axis=(0, 1, 2), keepdims=True)
    var = kernel.var(axis=(0, 1, 2), keepdims=True)
    return (kernel - mean) * jax.lax.rsqrt(var + epsilon)


class StdConv(nn.Module):
    """Conv2d whose kernel is standardised (zero mean, unit variance per output channel)
    before every use.

    ``[B, H, W, I] -> [B, H', W', features]``. Parameters: ``kernel [kH, kW, I, O]``
    (float32, unstandardised, as stored by timm / big_vision) and ``bias [O]`` when
    ``use_bias``.
    """

    features: int
    kernel_size: int
    strides: int = 1
    padding: str | Sequence[tuple[int, int]] = "SAME"
    use_bias: bool = False
    epsilon: float = BIT_WEIGHT_STANDARDIZATION_EPS
    kernel_init: Callable[..., Any] = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel_size
        kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
        kernel = standardize_kernel(kernel, self.epsilon).astype(self.dtype)
        y = jax.lax.conv_general_dilated(
            x.astype(self.dtype),
            kernel,
            window_strides=(self.strides, self.strides),
            padding=self.padding,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        if self.use_bias:
            bias = self.param("bias", nn.initializers.zeros, (self.features,))
            y = y + bias.astype(self.dtype)
        return y
