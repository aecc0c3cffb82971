"""The Dense layer of this project's transformer and MLP blocks.

Same parameters, initialisers and result as ``flax.linen.Dense`` (``kernel [C, F]``,
``bias [F]``, float32 parameters), computed with

* float32 accumulation for bf16/f16 compute (``mixer_vit.layers.low_precision_dot``:
  the bf16 x bf16 -> f32 form that XLA:CPU's YNNPACK path runs natively), and
* the matmul / bias-add gradients of ``mixer_vit.layers.linear_grads``, which avoid
  XLA:CPU's slow reduce-window and operand transposes in the backward pass.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from .linear_grads import add_bias, matmul, matmul_accumulator


class Dense(nn.Module):
    """``[..., C] -> [..., features]``: ``x @ kernel + bias`` in ``dtype`` (see
    ``round_output``).

    Parameters ``kernel [C, features]`` (``kernel_init``, default LeCun normal as in
    ``nn.Dense``) and ``bias [features]`` (zeros) in ``param_dtype``.

    ``round_output=False`` keeps a bf16/f16 result in the float32 accumulator (the bias
    is added in float32, unrounded): the caller runs its elementwise ops (e.g. GELU) on it and
    rounds once, which is more accurate and, on XLA:CPU, one cheap pass instead of a
    rounding after every op. float32 compute is unaffected."""

    features: int
    use_bias: bool = True
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros_init()
    round_output: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param(
            "kernel", self.kernel_init, (jnp.shape(x)[-1], self.features), self.param_dtype
        )
        bias = (
            self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias
            else None
        )
        param_bias = bias
        x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
        if self.round_output:
            y = matmul(x, kernel)
            return y if bias is None else add_bias(y, bias)
        y = matmul_accumulator(x, kernel)  # float32 for bf16/f16 compute
        return y if bias is None else add_bias(y, param_bias.astype(y.dtype))


def dense(features: int, *, dtype: Any = jnp.float32, **kwargs: Any) -> Dense:
    """``Dense(features, dtype=dtype, **kwargs)`` (``use_bias``, ``kernel_init``, ``name``...)."""
    return Dense(features, dtype=dtype, **kwargs)


def dense_factory(dtype: Any, **kwargs: Any):
    """``functools.partial(dense, dtype=dtype, **kwargs)``: a layer-local Dense maker."""
    return functools.partial(dense, dtype=dtype, **kwargs)
