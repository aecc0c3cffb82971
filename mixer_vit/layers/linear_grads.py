"""A matmul and a bias add with hand-written gradients shaped for XLA:CPU's GEMMs.

Autodiff of ``y = x @ kernel + bias`` gives the right numbers, but on XLA:CPU (jaxlib
0.10.2) two of its backward ops are slow (measured, docs/benchmarks.md):

* the bias gradient, a column sum of the output gradient ``g [R, F]`` over all rows, is
  rewritten by XLA into a ``reduce-window``: 16 ms for ``[6304, 1536]`` float32. The
  same sum as a GEMM with a ``[4, R]`` block of ones takes 1.7 ms and is more accurate
  (blocked accumulation; a ``[1, R]`` vector takes XLA's GEMV path, which sums rows
  sequentially).
* with autodiff's matmul gradient, XLA also copied ``g`` into transposed ``[F, R]`` order
  for the kernel gradient ``x^T g`` (79 ms of copies per 2-block ViT-S/16 step). With
  both gradients written here (the same dots as autodiff's) the copies are gone; the
  bias-add alone hand-written, with autodiff's matmul, measured no faster (2-block
  ViT-S/16 step 1.63 s vs 1.34 s plain vs 1.18 s with both).

Same arithmetic as autodiff (float32 accumulation, bf16 operands accumulate in float32
via :func:`mixer_vit.layers.low_precision_dot.accumulating_dot_general`), so parity is unchanged up
to summation order. Both ops are ordinary JAX: they jit, shard, scan and remat.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .low_precision_dot import LOW_PRECISION, accumulating_dot_general

ONES_ROWS = 4
"""Rows of the ones block in :func:`column_sum` (>= 2 selects XLA's blocked GEMM)."""


def column_sum(g: jax.Array) -> jax.Array:
    """``g [..., F] -> [F]``: the sum over every axis but the last, as one GEMM."""
    rows = g.reshape(-1, g.shape[-1])
    ones = jnp.ones((ONES_ROWS, rows.shape[0]), g.dtype)
    return accumulating_dot_general(ones, rows, (((1,), (0,)), ((), ())))[0]


@jax.custom_vjp
def add_bias(y: jax.Array, bias: jax.Array) -> jax.Array:
    """``y [..., F] + bias [F]``; the bias gradient is :func:`column_sum`."""
    return y + bias


def _add_bias_fwd(y, bias):
    return y + bias, None


def _add_bias_bwd(_, g):
    return g, column_sum(g)


add_bias.defvjp(_add_bias_fwd, _add_bias_bwd)


def _contract_last_first(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """``[..., C] x [C, F] -> [..., F]``, float32 for bf16/f16 operands (no rounding)."""
    dtype = jnp.result_type(x, kernel)
    accumulator = jnp.float32 if dtype in LOW_PRECISION else None
    return jax.lax.dot_general(
        x, kernel, (((x.ndim - 1,), (0,)), ((), ())), preferred_element_type=accumulator
    )


@jax.custom_vjp
def matmul_accumulator(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """``x [..., C] @ kernel [C, F] -> [..., F]`` left in the float32 accumulator when the
    operands are bf16/f16 (so elementwise work that follows runs on it before a single
    rounding); otherwise in their dtype. Gradients as described above."""
    return _contract_last_first(x, kernel)


def _matmul_fwd(x, kernel):
    return _contract_last_first(x, kernel), (x, kernel)


def _matmul_bwd(residuals, g):
    x, kernel = residuals
    g = g.astype(jnp.result_type(x, kernel))  # the accumulator's cotangent, as autodiff's
    grad_x = accumulating_dot_general(g, kernel, (((g.ndim - 1,), (1,)), ((), ())))
    x_rows = x.reshape(-1, x.shape[-1])  # [R, C]
    g_rows = g.reshape(-1, g.shape[-1])  # [R, F]
    grad_kernel = accumulating_dot_general(x_rows, g_rows, (((0,), (0,)), ((), ())))
    return grad_x.astype(x.dtype), grad_kernel.astype(kernel.dtype)


matmul_accumulator.defvjp(_matmul_fwd, _matmul_bwd)


def matmul(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """``x [..., C] @ kernel [C, F] -> [..., F]`` in the operands' dtype (bf16/f16
    operands accumulate in float32 and the result is rounded once)."""
    return matmul_accumulator(x, kernel).astype(jnp.result_type(x, kernel))
