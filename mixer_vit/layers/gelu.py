"""Exact GELU ``x * Phi(x)`` with a one-pass gradient.

``jax.nn.gelu(approximate=False)`` uses ``erfc``, which XLA:CPU expands into exp/select
passes; XLA's ``erf`` is one rational polynomial, so the forward is written with ``erf``
(same function to ~1e-6 absolute in float32). Autodiff of that forward keeps the erf term
as a second [..., hidden] residual and spends extra passes on it; the hand-written
derivative ``Phi(x) + x * phi(x)`` keeps only ``x`` and computes the input gradient in
one fused elementwise pass. Measured on CPU in docs/benchmarks.md ("Training step
profile").
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _normal_cdf(x: jax.Array) -> jax.Array:
    return 0.5 + 0.5 * jax.lax.erf(x * _SQRT_HALF)


@jax.custom_vjp
def gelu_exact(x: jax.Array) -> jax.Array:
    """Exact (erf) GELU, elementwise: any shape, same dtype as ``x``."""
    return x * _normal_cdf(x)


def _gelu_fwd(x):
    return x * _normal_cdf(x), x


def _gelu_bwd(x, g):
    # The barrier keeps XLA from sharing the forward's erf pass with this one (which
    # would make the forward write that [..., hidden] term out as an extra residual).
    x = jax.lax.optimization_barrier(x)
    # Computed in float32 for low-precision x, rounded to x's dtype at the end.
    x32 = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    density = _INV_SQRT_2PI * jnp.exp(-0.5 * x32 * x32)
    return ((g * (_normal_cdf(x32) + x32 * density)).astype(x.dtype),)


gelu_exact.defvjp(_gelu_fwd, _gelu_bwd)
