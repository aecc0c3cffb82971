"""The population train and eval steps: one jitted step, ``jax.vmap``-ped over members.

A population is N runs of the same shapes (seeds of one arm) trained together: every
leaf of the train state carries a leading member axis ``[N, ...]``, and so do the batch
(each member reads its own data order) and the base random keys. The member axis is
never sharded (each device holds every member); the batch axis is sharded over the
``data`` axes as in the single-run step, so the data parallelism is unchanged. The body
is exactly the single-run step's (``train_step_body``), so member i computes what a
separate run with its seed computes.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from mixer_vit import parallel
from mixer_vit.train.state import TrainState
from mixer_vit.train.step import Batch, Metrics, eval_step_body, train_step_body
from mixer_vit.train.step_options import StepOptions


def population_batch_sharding(mesh: Mesh) -> NamedSharding:
    """``[N, B, ...]`` arrays: member axis whole on every device, batch axis split over the
    batch axes of ``mesh``."""
    return NamedSharding(mesh, PartitionSpec(None, parallel.BATCH_AXES))


def shard_population_batch(batch: dict[str, Any], mesh: Mesh) -> dict[str, jax.Array]:
    """Host ``[N, B, ...]`` numpy batch (one process) -> global arrays placed with
    ``population_batch_sharding``."""
    sharding = population_batch_sharding(mesh)
    return jax.tree.map(lambda x: jax.device_put(x, sharding), batch)


def make_population_train_step(
    model: nn.Module,
    tx: optax.GradientTransformation,
    mesh: Mesh,
    *,
    base_rngs: jax.Array,
    options: StepOptions | None = None,
) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics]]:
    """Returns ``step(state, batch) -> (new_state, metrics)`` over N members.

    state: a TrainState whose every leaf is ``[N, ...]``; batch: ``image`` [N, B, H, W, C],
    ``label`` [N, B]; base_rngs: [N, 2] uint32, member i's run key
    (``fold_in(PRNGKey(seed_i), 1)``). metrics: ``loss``, ``accuracy``, ``grad_norm``,
    each [N]. The state is donated.
    """
    body = train_step_body(model, tx, mesh, options=options)

    def step(state: TrainState, batch: Batch, rngs: jax.Array):
        return jax.vmap(body)(state, batch, rngs)

    replicated = parallel.replicated(mesh)
    jitted = jax.jit(
        step,
        in_shardings=(replicated, population_batch_sharding(mesh), replicated),
        out_shardings=(replicated, replicated),
        donate_argnums=0,
    )
    rngs = jax.device_put(base_rngs, replicated)
    return lambda state, batch: jitted(state, batch, rngs)


def make_population_eval_step(
    model: nn.Module, mesh: Mesh, *, use_ema: bool = False
) -> Callable[[TrainState, Batch], Metrics]:
    """Returns ``eval_step(state, batch) -> sums``: every member on the same padded batch
    (``image`` [B, H, W, C], ``label`` [B], ``mask`` [B]). sums as ``make_eval_step``'s,
    with a leading member axis: ``correct`` etc. [N], ``probs`` [N, B, K]."""
    body = eval_step_body(model, use_ema=use_ema)
    replicated = parallel.replicated(mesh)
    out_shardings = {
        "correct": replicated,
        "correct_top5": replicated,
        "loss_sum": replicated,
        "count": replicated,
        "probs": population_batch_sharding(mesh),
    }
    return jax.jit(
        jax.vmap(body, in_axes=(0, None)),
        in_shardings=(replicated, parallel.batch_sharding(mesh)),
        out_shardings=out_shardings,
    )
