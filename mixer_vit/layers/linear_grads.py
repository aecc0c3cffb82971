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

Two forms of each op:

* float32 (and wider): ``jax.custom_jvp`` rules, so forward mode (``jax.jvp``,
  ``jax.jacfwd``) works. Reverse mode transposes the tangent rule, which is written so
  that its transpose is the backward above: the kernel tangent is a dot on ``[R, C]``
  rows and the bias tangent is :func:`broadcast_rows`, whose transpose is the
  :func:`column_sum` GEMM.
* bf16/f16 operands: ``jax.custom_vjp`` rules (reverse mode only). A transposed tangent
  rule would hand the float32 accumulator's cotangent to the dots unrounded (a float32
  GEMM instead of bf16 x bf16 -> f32); the hand-written backward rounds it first, as
  autodiff of the unfused form does. Forward mode with bf16/f16 compute uses
  ``kernels="reference"`` (``mixer_vit.layers.kernels``).

``matmul_accumulator`` and ``add_bias`` pick the form from the dtype, and with
``kernels="reference"`` (or ``"auto"`` off CPU) are plain autodiff math.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero

from .kernels import cpu_tuned_active
from .low_precision_dot import LOW_PRECISION, accumulating_dot_general

ONES_ROWS = 4
"""Rows of the ones block in :func:`column_sum` (>= 2 selects XLA's blocked GEMM)."""


def column_sum(g: jax.Array) -> jax.Array:
    """``g [..., F] -> [F]``: the sum over every axis but the last, as one GEMM."""
    rows = g.reshape(-1, g.shape[-1])
    ones = jnp.ones((ONES_ROWS, rows.shape[0]), g.dtype)
    return accumulating_dot_general(ones, rows, (((1,), (0,)), ((), ())))[0]


def broadcast_rows(v: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """``v [F] -> [..., F]`` (``shape``), written as a GEMM of a ones block whose transpose
    (the reverse-mode cotangent of ``v``) is :func:`column_sum`'s GEMM."""
    rows = math.prod(shape[:-1])
    block = jnp.pad(v[None], ((0, ONES_ROWS - 1), (0, 0)))  # [ONES_ROWS, F], row 0 = v
    ones = jnp.ones((ONES_ROWS, rows), v.dtype)
    return jax.lax.dot_general(ones, block, (((0,), (0,)), ((), ()))).reshape(shape)


def is_zero(tangent) -> bool:
    """True for a symbolic-zero tangent (``custom_jvp(..., symbolic_zeros=True)``)."""
    return isinstance(tangent, SymbolicZero)


def sum_tangents(parts: list, like: jax.Array) -> jax.Array:
    """The sum of the non-zero tangent ``parts``, zeros shaped ``like`` if there are none."""
    if not parts:
        return jnp.zeros_like(like)
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


@jax.custom_jvp
def add_bias_jvp(y: jax.Array, bias: jax.Array) -> jax.Array:
    """``y [..., F] + bias [F]``; reverse mode sums the bias gradient with
    :func:`column_sum` (float32 form)."""
    return y + bias


def _add_bias_tangent(primals, tangents):
    y, bias = primals
    dy, dbias = tangents
    out = y + bias
    parts = [] if is_zero(dy) else [dy]
    if not is_zero(dbias):
        parts.append(broadcast_rows(dbias, out.shape))
    return out, sum_tangents(parts, out)


add_bias_jvp.defjvp(_add_bias_tangent, symbolic_zeros=True)


def add_bias(y: jax.Array, bias: jax.Array) -> jax.Array:
    """``y [..., F] + bias [F]``: the tuned gradient form for the dtype (module docstring),
    or plain autodiff with ``kernels="reference"``."""
    if not cpu_tuned_active():
        return y + bias
    if jnp.result_type(y, bias) in LOW_PRECISION:
        return add_bias_vjp(y, bias)
    return add_bias_jvp(y, bias)


@jax.custom_vjp
def add_bias_vjp(y: jax.Array, bias: jax.Array) -> jax.Array:
    """``y [..., F] + bias [F]``; the bias gradient is :func:`column_sum` (bf16/f16 form)."""
    return y + bias


def _add_bias_fwd(y, bias):
    return y + bias, None


def _add_bias_bwd(_, g):
    return g, column_sum(g)


add_bias_vjp.defvjp(_add_bias_fwd, _add_bias_bwd)


def _contract_last_first(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """``[..., C] x [C, F] -> [..., F]``, float32 for bf16/f16 operands (no rounding)."""
    dtype = jnp.result_type(x, kernel)
    accumulator = jnp.float32 if dtype in LOW_PRECISION else None
    return jax.lax.dot_general(
        x, kernel, (((x.ndim - 1,), (0,)), ((), ())), preferred_element_type=accumulator
    )


def matmul_accumulator(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """``x [..., C] @ kernel [C, F] -> [..., F]`` left in the float32 accumulator when the
    operands are bf16/f16 (so elementwise work that follows runs on it before a single
    rounding); otherwise in their dtype. Gradients as described above (the form for the
    dtype), or plain autodiff with ``kernels="reference"``."""
    if not cpu_tuned_active():
        return _contract_last_first(x, kernel)
    if jnp.result_type(x, kernel) in LOW_PRECISION:
        return matmul_accumulator_vjp(x, kernel)
    return matmul_jvp(x, kernel)


@jax.custom_jvp
def matmul_jvp(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """``x [..., C] @ kernel [C, F] -> [..., F]`` (float32 form, forward and reverse mode)."""
    return _contract_last_first(x, kernel)


def _matmul_tangent(primals, tangents):
    x, kernel = primals
    dx, dkernel = tangents
    out = _contract_last_first(x, kernel)
    parts = [] if is_zero(dx) else [_contract_last_first(dx, kernel)]
    if not is_zero(dkernel):
        x_rows = x.reshape(-1, x.shape[-1])  # [R, C]: the kernel cotangent is x_rows^T g
        parts.append(_contract_last_first(x_rows, dkernel).reshape(out.shape))
    return out, sum_tangents(parts, out)


matmul_jvp.defjvp(_matmul_tangent, symbolic_zeros=True)


@jax.custom_vjp
def matmul_accumulator_vjp(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """:func:`matmul_accumulator` with the hand-written backward (bf16/f16 form)."""
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


matmul_accumulator_vjp.defvjp(_matmul_fwd, _matmul_bwd)


def matmul(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """``x [..., C] @ kernel [C, F] -> [..., F]`` in the operands' dtype (bf16/f16
    operands accumulate in float32 and the result is rounded once)."""
    return matmul_accumulator(x, kernel).astype(jnp.result_type(x, kernel))
