"""Exact GELU ``x * Phi(x)`` with a one-pass gradient.

``jax.nn.gelu(approximate=False)`` uses ``erfc``, which XLA:CPU expands into exp/select
passes; XLA's ``erf`` is one rational polynomial, so the forward is written with ``erf``
(same function to ~1e-6 absolute in float32). Autodiff of that forward keeps the erf term
as a second [..., hidden] residual and spends extra passes on it; the hand-written
derivative ``Phi(x) + x * phi(x)`` keeps only ``x`` and computes the input gradient in
one fused elementwise pass. Measured on CPU in docs/benchmarks.md ("Training step
profile").

Two forms (:data:`GELU_FORMS`): ``"exact"`` (erf, timm / PyTorch) and ``"tanh"``
(``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``, flax's ``nn.gelu`` default, with
which the official vision_transformer / big_vision checkpoints were trained).

The rule is a ``jax.custom_jvp`` (forward mode works): tangent ``dx * gelu'(x)`` under
``jax.checkpoint``, so reverse mode keeps only ``x`` and recomputes ``gelu'(x)`` in the
backward's single pass. With ``kernels="reference"`` (``mixer_vit.layers.kernels``) it is
``jax.nn.gelu`` differentiated by autodiff.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from .kernels import cpu_tuned_active

GELU_FORMS = ("exact", "tanh")
"""Accepted values of the models' ``gelu`` option."""
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_TANH_CUBIC = 0.044715

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _normal_cdf(x: jax.Array) -> jax.Array:
    return 0.5 + 0.5 * jax.lax.erf(x * _SQRT_HALF)


def check_gelu(form: str) -> str:
    """``form`` if it is one of :data:`GELU_FORMS`, else a one-line ``ValueError``."""
    if form not in GELU_FORMS:
        raise ValueError(
            f"gelu must be one of {', '.join(GELU_FORMS)}, got {form!r} "
            "('tanh' for official vision_transformer / big_vision weights)."
        )
    return form


def gelu(x: jax.Array, form: str = "exact") -> jax.Array:
    """GELU of ``form`` (``"exact"`` | ``"tanh"``), elementwise: any shape, ``x``'s dtype."""
    check_gelu(form)
    if not cpu_tuned_active():
        return jax.nn.gelu(x, approximate=form == "tanh")
    return _gelu_tuned(x, form)


def gelu_exact(x: jax.Array) -> jax.Array:
    """Exact (erf) GELU, elementwise: any shape, same dtype as ``x``."""
    return gelu(x, "exact")


def _tanh_cdf(x: jax.Array) -> jax.Array:
    return 0.5 * (1.0 + jnp.tanh(_SQRT_2_OVER_PI * (x + _TANH_CUBIC * (x * x * x))))


def _gelu_value(x: jax.Array, form: str) -> jax.Array:
    return x * (_normal_cdf(x) if form == "exact" else _tanh_cdf(x))


def _gelu_slope(x32: jax.Array, form: str) -> jax.Array:
    """``gelu'(x)`` for float32 ``x32``."""
    if form == "exact":
        density = _INV_SQRT_2PI * jnp.exp(-0.5 * x32 * x32)
        return _normal_cdf(x32) + x32 * density
    t = jnp.tanh(_SQRT_2_OVER_PI * (x32 + _TANH_CUBIC * (x32 * x32 * x32)))
    inner_slope = _SQRT_2_OVER_PI * (1.0 + 3.0 * _TANH_CUBIC * x32 * x32)
    return 0.5 * (1.0 + t) + 0.5 * x32 * (1.0 - t * t) * inner_slope


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _gelu_tuned(x: jax.Array, form: str) -> jax.Array:
    return _gelu_value(x, form)


def _gelu_tangent(form, primals, tangents):
    (x,), (dx,) = primals, tangents

    def linear_part(x, dx):
        # Computed in float32 for low-precision x, rounded to x's dtype at the end.
        x32 = x.astype(jnp.promote_types(x.dtype, jnp.float32))
        return (dx * _gelu_slope(x32, form)).astype(x.dtype)

    return _gelu_value(x, form), jax.checkpoint(linear_part)(x, dx)


_gelu_tuned.defjvp(_gelu_tangent)
