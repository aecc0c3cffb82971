"""Parameter counts and FLOPs of a model, from shapes and XLA's cost analysis (no
real allocation of parameters, no compilation)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from mixer_vit.layers.image_groups import loop_free_lowering


def _abstract_variables(model: nn.Module, image_shape: tuple[int, int, int]):
    images = jax.ShapeDtypeStruct((1, *image_shape), jnp.float32)
    return jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x, train=False), images)


def param_count(model: nn.Module, image_shape: tuple[int, int, int]) -> int:
    """Number of scalars in the ``params`` collection for images of (H, W, C)."""
    variables = _abstract_variables(model, image_shape)
    return sum(int(x.size) for x in jax.tree.leaves(variables["params"]))


def forward_flops_per_image(
    model: nn.Module, image_shape: tuple[int, int, int], batch_size: int = 1
) -> float:
    """FLOPs of one inference forward pass per image, as XLA counts them (a multiply-add is
    2 FLOPs, so this is about twice the "GMACs" papers quote)."""
    variables = _abstract_variables(model, image_shape)
    images = jax.ShapeDtypeStruct((batch_size, *image_shape), jnp.float32)
    # XLA's cost analysis counts a loop body once: lower without blocking or grouping.
    with loop_free_lowering():
        lowered = jax.jit(lambda v, x: model.apply(v, x, train=False)).lower(variables, images)
    cost = lowered.cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0]
    return float(cost["flops"]) / batch_size
