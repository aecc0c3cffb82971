"""Dots whose low-precision operands accumulate in float32 explicitly.

With ``dtype=bfloat16`` a plain ``nn.Dense`` asks XLA for a bf16 x bf16 -> bf16 dot.
XLA:CPU cannot run that natively and rewrites it to an f32 dot on up-cast operands (an
extra pass over both operands, then f32 GEMM speed). Asking for bf16 x bf16 -> f32 and
rounding the result to bf16 afterwards is the same arithmetic (XLA accumulates in f32
either way) but is a form that XLA:CPU's YNNPACK dot path runs natively with bf16
operands (see ``mixer_vit.xla_cpu_flags``). float32 dots are unchanged.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

LOW_PRECISION = (jnp.bfloat16, jnp.float16)


def accumulating_dot_general(
    lhs: jax.Array,
    rhs: jax.Array,
    dimension_numbers: Any,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> jax.Array:
    """``lax.dot_general`` that, for bf16/f16 operands, accumulates in float32 and
    returns the operands' dtype; any other dtype, or an explicit
    ``preferred_element_type``, goes straight to ``lax.dot_general``."""
    dtype = jnp.result_type(lhs, rhs)
    if preferred_element_type is not None or dtype not in LOW_PRECISION:
        return lax.dot_general(
            lhs, rhs, dimension_numbers, precision, preferred_element_type=preferred_element_type
        )
    out = lax.dot_general(
        lhs, rhs, dimension_numbers, precision, preferred_element_type=jnp.float32
    )
    return out.astype(dtype)


def accumulating_einsum(subscripts: str, *operands: jax.Array) -> jax.Array:
    """``jnp.einsum`` with :func:`accumulating_dot_general`'s dtype rule: low-precision
    operands accumulate in float32 and the result is rounded back to their dtype."""
    dtype = jnp.result_type(*operands)
    if dtype not in LOW_PRECISION:
        return jnp.einsum(subscripts, *operands)
    return jnp.einsum(subscripts, *operands, preferred_element_type=jnp.float32).astype(dtype)
