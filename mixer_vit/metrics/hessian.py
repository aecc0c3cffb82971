"""The largest Hessian eigenvalue of a loss, by power iteration on Hessian-vector products.

The Hessian is never formed: ``hessian_vector_product`` differentiates the gradient in the
direction of a vector (forward-over-reverse, ``jax.jvp`` of ``jax.grad``), which costs
about two gradient evaluations and no more memory than a gradient's. Power iteration
``v <- H v / ||H v||`` from a random start converges to the eigenvector of the eigenvalue
of largest magnitude (at the rate |lambda_2 / lambda_1| per step); the Rayleigh quotient
``v . H v`` is the estimate. ``largest_hessian_eigenvalue`` gives the most positive
eigenvalue (sharpness) even where a negative one dominates. The parameters are any
pytree (a model's ``params``); vectors are pytrees of the same structure.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

Params = Any  # a pytree of float arrays
LossFn = Callable[[Params], jax.Array]  # params -> scalar loss


class HessianEigen(NamedTuple):
    """eigenvalue: float32 scalar, the Rayleigh quotient v . H v of the last iterate (the
    eigenvalue of largest magnitude, with its sign); vector: a unit-norm pytree like the
    params; iterations: int32 scalar, Hessian-vector products taken."""

    eigenvalue: jax.Array
    vector: Params
    iterations: jax.Array


def hessian_vector_product(loss_fn: LossFn, params: Params, vector: Params) -> Params:
    """H(params) @ vector, a pytree like ``params``; H is the Hessian of ``loss_fn``."""
    return jax.jvp(jax.grad(loss_fn), (params,), (vector,))[1]


def _tree_dot(a: Params, b: Params) -> jax.Array:
    leaves = jax.tree.leaves(jax.tree.map(lambda x, y: jnp.vdot(x, y), a, b))
    return sum(leaves, jnp.zeros((), jnp.float32))


def _normalised(tree: Params) -> Params:
    norm = optax.tree.norm(tree)
    return jax.tree.map(lambda x: x / jnp.maximum(norm, 1e-30), tree)


def _random_like(key: jax.Array, params: Params) -> Params:
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    noise = [jax.random.normal(k, jnp.shape(x), jnp.result_type(x)) for k, x in zip(keys, leaves)]
    return jax.tree.unflatten(treedef, noise)


def _power_iteration(
    loss_fn: LossFn, num_iterations: int, tolerance: float
) -> Callable[[Params, jax.Array, jax.Array], HessianEigen]:
    """The jitted ``(params, key, shift) -> HessianEigen``: power iteration on H - shift I,
    its estimate reported as an eigenvalue of H (the shift added back)."""
    if num_iterations < 1:
        raise ValueError(f"num_iterations must be >= 1, got {num_iterations}")

    def power_iteration(params, key, shift):
        def step(carry):
            v, _, estimate, i = carry
            hv = hessian_vector_product(loss_fn, params, v)
            shifted = jax.tree.map(lambda h, x: h - shift * x, hv, v)
            return _normalised(shifted), estimate, _tree_dot(v, hv), i + 1

        def not_converged(carry):
            _, previous, estimate, i = carry
            change = jnp.abs(estimate - previous)
            settled = (i >= 2) & (change <= tolerance * jnp.abs(estimate))
            return (i < num_iterations) & ~settled

        v = _normalised(_random_like(key, params))
        start = (v, jnp.float32(jnp.inf), jnp.float32(0.0), jnp.int32(0))
        v, _, estimate, iterations = jax.lax.while_loop(not_converged, step, start)
        return HessianEigen(estimate, v, iterations)

    return jax.jit(power_iteration)


def top_hessian_eigenvalue(
    loss_fn: LossFn,
    params: Params,
    key: jax.Array,
    num_iterations: int = 20,
    tolerance: float = 1e-3,
    shift: float = 0.0,
) -> HessianEigen:
    """The Hessian eigenvalue of largest magnitude of ``loss_fn`` at ``params`` (with
    ``shift``: the eigenvalue farthest from ``shift``).

    Power iteration (jitted, a ``lax.while_loop``) on H - shift I from a normal random
    start drawn with ``key``: each iteration takes one Hessian-vector product and stops
    after ``num_iterations`` of them, or earlier once the estimate changes by at most
    ``tolerance`` times its magnitude between two iterations. The same key, params and
    loss give the same result.

    Args:
      loss_fn: ``params -> scalar``, deterministic (no dropout or augmentation drawn inside).
      params: the point, any pytree of float arrays.
      key: PRNG key of the starting vector.
      num_iterations: the most Hessian-vector products (>= 1).
      tolerance: relative change of the estimate that counts as converged.
      shift: iterate with H - shift I (0: plain power iteration).
    """
    iterate = _power_iteration(loss_fn, num_iterations, tolerance)
    return iterate(params, key, jnp.float32(shift))


def largest_hessian_eigenvalue(
    loss_fn: LossFn,
    params: Params,
    key: jax.Array,
    num_iterations: int = 20,
    tolerance: float = 1e-3,
) -> HessianEigen:
    """The largest (most positive) Hessian eigenvalue, the usual measure of sharpness.

    Power iteration finds the eigenvalue of largest magnitude; when that one is negative
    (away from a minimum a negative curvature can dominate), a second run on H - lambda I,
    whose spectrum is shifted to be non-negative with the largest eigenvalue now the
    dominant one, finds it. ``iterations`` counts the products of both runs (each at most
    ``num_iterations``).
    """
    iterate = _power_iteration(loss_fn, num_iterations, tolerance)
    first = iterate(params, key, jnp.float32(0.0))
    if float(first.eigenvalue) >= 0:
        return first
    second = iterate(params, key, first.eigenvalue)
    return second._replace(iterations=first.iterations + second.iterations)
