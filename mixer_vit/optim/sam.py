"""Sharpness-aware minimisation (Foret et al. 2021) and its adaptive form (ASAM, Kwon et
al. 2021), as one pure function of a loss-and-gradient function.

SAM descends with the gradient taken at the worst nearby point w + e,
e = rho * g / ||g||; ASAM measures the neighbourhood relative to the weights:
e = rho * T^2 g / ||T g|| with T = |w| + eta. The first (clean) pass is the one whose
auxiliary outputs (e.g. BatchNorm statistics) are kept.

optax.contrib.sam implements the plain form as a chained optimizer; this function is used
instead because it also needs ASAM, keeping the clean pass's BatchNorm statistics, and the
per-device (m-sharpness) variant inside the same jitted step.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

LossAndGrad = Callable[[Any], tuple[tuple[jax.Array, Any], Any]]


def sam_perturbation(
    params: Any,
    grads: Any,
    rho: float,
    *,
    adaptive: bool = False,
    eta: float = 0.01,
    eps: float = 1e-12,
) -> Any:
    """The ascent step e (a tree like ``params``)."""
    if adaptive:
        scale = jax.tree.map(lambda w: jnp.abs(w) + eta, params)
        scaled = jax.tree.map(lambda t, g: t * g, scale, grads)
        norm = optax.tree.norm(scaled)
        return jax.tree.map(lambda t, g: rho * t * t * g / (norm + eps), scale, grads)
    norm = optax.tree.norm(grads)
    return jax.tree.map(lambda g: rho * g / (norm + eps), grads)


def sam_gradients(
    loss_and_grad: LossAndGrad,
    params: Any,
    rho: float,
    *,
    adaptive: bool = False,
    eta: float = 0.01,
):
    """Returns ((loss, aux) of the clean pass, clean grads, SAM grads at w + e).

    Args:
      loss_and_grad: ``params -> ((loss, aux), grads)``, e.g.
        ``jax.value_and_grad(loss_fn, has_aux=True)``.
    """
    (loss, aux), grads = loss_and_grad(params)
    perturbation = sam_perturbation(params, grads, rho, adaptive=adaptive, eta=eta)
    perturbed = jax.tree.map(lambda w, e: w + e, params, perturbation)
    _, sam_grads = loss_and_grad(perturbed)
    return (loss, aux), grads, sam_grads
