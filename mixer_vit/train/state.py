"""The train state: a pytree of everything a train step reads and writes."""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Sharding

# Fed to reduce-on-plateau before the first validation: any real loss improves on it.
PLATEAU_START = 1e30


class TrainState(flax.struct.PyTreeNode):
    """step: int32 scalar; params: the ``params`` collection; opt_state: the optimizer's
    state; model_state: every other variable collection (e.g. ``batch_stats``), updated by
    the forward pass in training mode; ema_params: the exponential moving average of the
    parameters (None when EMA is off); plateau_value: the validation metric that drives
    reduce-on-plateau (float32 scalar). The model and optimizer are not part of it: the
    train step closes over them."""

    step: jax.Array
    params: Any
    opt_state: Any
    model_state: Any
    ema_params: Any = None
    plateau_value: jax.Array | None = None


def _state_initializer(
    model: nn.Module,
    tx: optax.GradientTransformation,
    image_shape: tuple[int, int, int],
    rng: jax.Array,
    with_ema: bool,
) -> Callable[[], TrainState]:
    def init() -> TrainState:
        variables = model.init(
            {"params": rng, "dropout": rng}, jnp.zeros((1, *image_shape), jnp.float32), train=False
        )
        variables = dict(variables)
        params = variables.pop("params")
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            params=params,
            opt_state=tx.init(params),
            model_state=variables,
            ema_params=jax.tree.map(jnp.copy, params) if with_ema else None,
            plateau_value=jnp.asarray(PLATEAU_START, jnp.float32),
        )

    return init


def abstract_train_state(
    model: nn.Module,
    tx: optax.GradientTransformation,
    image_shape: tuple[int, int, int],
    *,
    with_ema: bool = False,
) -> TrainState:
    """The state's shapes and dtypes (``jax.ShapeDtypeStruct`` leaves), computed without
    allocating or running anything."""
    init = _state_initializer(model, tx, image_shape, jax.random.PRNGKey(0), with_ema)
    return jax.eval_shape(init)


def create_train_state(
    model: nn.Module,
    tx: optax.GradientTransformation,
    image_shape: tuple[int, int, int],
    rng: jax.Array,
    sharding: Sharding | Any,
    *,
    with_ema: bool = False,
) -> TrainState:
    """Initialises parameters and optimizer state directly with ``sharding`` (one sharding
    for every leaf, or a TrainState-shaped tree of them: FSDP-sharded parameters are
    never materialised whole).

    Args:
      image_shape: (H, W, C) of one input image.
    """
    init = _state_initializer(model, tx, image_shape, rng, with_ema)
    return jax.jit(init, out_shardings=sharding)()


def count_params(params: Any) -> int:
    """Total number of scalars in a parameter tree."""
    return sum(int(x.size) for x in jax.tree.leaves(params))
