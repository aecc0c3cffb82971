"""LayerNorm over the last axis with a hand-written gradient.

Autodiff of LayerNorm on XLA:CPU (jaxlib 0.10.2) spends several passes over the
``[..., D]`` activations on the backward and turns the ``scale``/``bias`` gradients
(column sums over every token) into slow ``reduce-window`` ops. The closed-form backward
here reads ``x`` and the incoming gradient once for the input gradient (two row
reductions, one elementwise pass) and sums the columns with one GEMM each
(:func:`mixer_vit.layers.linear_grads.column_sum`). Statistics as in
``flax.linen.LayerNorm`` (``mean(x^2) - mean(x)^2``, float32 at least); measured in
docs/benchmarks.md ("Training step profile").

For float32 inputs the rule is a ``jax.custom_jvp`` (forward mode works) whose tangent is
written so that its transpose is that backward: the ``x`` tangent is the symmetric
projection above, the ``scale``/``bias`` tangents are
:func:`mixer_vit.layers.linear_grads.broadcast_rows` (transpose: one GEMM each), and
the tangent runs under ``jax.checkpoint`` so reverse mode keeps only ``x`` and the row
statistics and recomputes ``x_hat``. bf16/f16 inputs keep the ``jax.custom_vjp``
backward (reverse mode only; see ``linear_grads``). With ``kernels="reference"`` the
forward below is differentiated by autodiff.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from .kernels import cpu_tuned_active
from .linear_grads import broadcast_rows, column_sum, is_zero, sum_tangents
from .low_precision_dot import LOW_PRECISION


def _statistics(x32: jax.Array, epsilon: float) -> tuple[jax.Array, jax.Array]:
    mean = jnp.mean(x32, axis=-1, keepdims=True)
    variance = jnp.maximum(jnp.mean(x32 * x32, axis=-1, keepdims=True) - mean * mean, 0.0)
    return mean, jax.lax.rsqrt(variance + epsilon)


def _float32_at_least(x: jax.Array) -> jax.Array:
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def layer_norm(x: jax.Array, scale: jax.Array, bias: jax.Array, epsilon: float) -> jax.Array:
    """``(x - mean) / sqrt(var + epsilon) * scale + bias`` over the last axis.

    ``x [..., D]``, ``scale [D]``, ``bias [D]`` -> ``[..., D]`` in float32 (or wider).
    Derivative rule as in the module docstring (kernels switch, then dtype)."""
    if not cpu_tuned_active():
        return _layer_norm_fwd(x, scale, bias, epsilon)[0]
    if x.dtype in LOW_PRECISION:
        return layer_norm_vjp(x, scale, bias, epsilon)
    return layer_norm_jvp(x, scale, bias, epsilon)


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def layer_norm_jvp(x: jax.Array, scale: jax.Array, bias: jax.Array, epsilon: float) -> jax.Array:
    """:func:`layer_norm` with the forward- and reverse-mode rule (float32 inputs)."""
    return _layer_norm_fwd(x, scale, bias, epsilon)[0]


def _layer_norm_tangent(epsilon, primals, tangents):
    x, scale, bias = primals
    out, (_, mean, inv_std, _) = _layer_norm_fwd(x, scale, bias, epsilon)
    present = tuple(not is_zero(t) for t in tangents)
    live = [t for t in tangents if not is_zero(t)]
    if not live:
        return out, jnp.zeros_like(out)

    def linear_part(x, mean, inv_std, scale, *live):
        """Tangent ``[..., D]`` of the output for the non-zero input tangents."""
        dx, dscale, dbias = _place(present, live)
        x_hat = (_float32_at_least(x) - mean) * inv_std
        parts = []
        if dx is not None:
            d32 = _float32_at_least(dx)
            d_hat = inv_std * (
                d32
                - jnp.mean(d32, axis=-1, keepdims=True)
                - x_hat * jnp.mean(x_hat * d32, axis=-1, keepdims=True)
            )
            parts.append(d_hat * scale)
        if dscale is not None:
            parts.append(x_hat * broadcast_rows(dscale, x_hat.shape))
        if dbias is not None:
            parts.append(broadcast_rows(dbias, x_hat.shape))
        return sum_tangents(parts, x_hat)

    return out, jax.checkpoint(linear_part)(x, mean, inv_std, scale, *live)


def _place(present: tuple[bool, ...], live: list) -> list:
    """``live`` tangents back in their argument slots, ``None`` for the zero ones."""
    values = iter(live)
    return [next(values) if here else None for here in present]


layer_norm_jvp.defjvp(_layer_norm_tangent, symbolic_zeros=True)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def layer_norm_vjp(x: jax.Array, scale: jax.Array, bias: jax.Array, epsilon: float) -> jax.Array:
    """:func:`layer_norm` with the hand-written backward (bf16/f16 inputs)."""
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


layer_norm_vjp.defvjp(_layer_norm_fwd, _layer_norm_bwd)
