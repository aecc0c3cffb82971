"""LayerNorm over the last axis with a hand-written gradient.

Autodiff of LayerNorm on XLA:CPU (jaxlib 0.10.2) spends several passes over the
``[..., D]`` activations on the backward and turns the ``scale``/``bias`` gradients
(column sums over every token) into slow ``reduce-window`` ops. The closed-form backward
here reads ``x`` and the incoming gradient once for the input gradient (two row
reductions, one elementwise pass) and sums the columns with one GEMM each
(:func:`mixer_vit.layers.linear_grads.column_sum`). Statistics as in
``flax.linen.LayerNorm`` (``mean(x^2) - mean(x)^2``, float32 at least); measured in
docs/benchmarks.md ("Training step profile").
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from .linear_grads import column_sum


def _statistics(x32: jax.Array, epsilon: float) -> tuple[jax.Array, jax.Array]:
    mean = jnp.mean(x32, axis=-1, keepdims=True)
    variance = jnp.maximum(jnp.mean(x32 * x32, axis=-1, keepdims=True) - mean * mean, 0.0)
    return mean, jax.lax.rsqrt(variance + epsilon)


def _float32_at_least(x: jax.Array) -> jax.Array:
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def layer_norm(x: jax.Array, scale: jax.Array, bias: jax.Array, epsilon: float) -> jax.Array:
    """``(x - mean) / sqrt(var + epsilon) * scale + bias`` over the last axis.

    ``x [..., D]``, ``scale [D]``, ``bias [D]`` -> ``[..., D]`` in float32 (or wider)."""
    return _layer_norm_fwd(x, scale, bias, epsilon)[0]


def _layer_norm_fwd(x, scale, bias, epsilon):
    x32 = _float32_at_least(x)
    mean, inv_std = _statistics(x32, epsilon)
    return (x32 - mean) * (inv_std * scale) + bias, (x, mean, inv_std, scale)


def _layer_norm_bwd(epsilon, residuals, g):
    del epsilon
    x, mean, inv_std, scale = residuals
    # The barrier keeps XLA from reusing forward intermediates ([..., D] x_hat) as extra
    # residuals; recomputing x_hat inside the backward's fusion is cheaper than storing it.
    x = jax.lax.optimization_barrier(x)
    x_hat = (_float32_at_least(x) - mean) * inv_std
    g32 = _float32_at_least(g)
    g_scaled = g32 * scale
    grad_x = inv_std * (
        g_scaled
        - jnp.mean(g_scaled, axis=-1, keepdims=True)
        - x_hat * jnp.mean(g_scaled * x_hat, axis=-1, keepdims=True)
    )
    grad_scale = column_sum(g32 * x_hat).astype(scale.dtype)
    grad_bias = column_sum(g32).astype(scale.dtype)
    return grad_x.astype(x.dtype), grad_scale, grad_bias


layer_norm.defvjp(_layer_norm_fwd, _layer_norm_bwd)
