"""The jitted, sharded train and eval steps.

Both are plain ``jax.jit`` functions over a mesh: the batch is sharded on the ``data``
axis, the state is replicated, and jit inserts the gradient all-reduce. The train step
donates the incoming state so parameters and optimizer state are updated in place.
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from mixer_vit import losses, parallel
from mixer_vit.train.state import TrainState

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


def make_train_step(
    model: nn.Module,
    tx: optax.GradientTransformation,
    mesh: Mesh,
    *,
    base_rng: jax.Array,
    label_smoothing: float = 0.0,
) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics]]:
    """Returns ``step(state, batch) -> (new_state, metrics)``.

    batch: ``image`` float32 [B, H, W, C], ``label`` int32 [B] (B = global batch).
    metrics: scalar ``loss`` (mean smoothed cross-entropy), ``accuracy`` and ``grad_norm``.
    The dropout/drop-path key of step t is ``fold_in(base_rng, t)``, so a resumed run draws
    exactly the same randomness as an uninterrupted one.
    """

    def step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        rng = jax.random.fold_in(base_rng, state.step)
        mutable = list(state.model_state) or False

        def loss_fn(params):
            out = model.apply(
                {"params": params, **state.model_state},
                batch["image"],
                train=True,
                rngs={"dropout": rng},
                mutable=mutable,
            )
            logits, new_model_state = out if mutable else (out, state.model_state)
            loss = losses.softmax_cross_entropy(logits, batch["label"], label_smoothing).mean()
            return loss, (logits, new_model_state)

        (loss, (logits, new_model_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params
        )
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        new_state = state.replace(
            step=state.step + 1,
            params=optax.apply_updates(state.params, updates),
            opt_state=opt_state,
            model_state=new_model_state,
        )
        metrics = {
            "loss": loss,
            "accuracy": jnp.mean(jnp.argmax(logits, -1) == batch["label"]),
            "grad_norm": optax.tree.norm(grads),
        }
        return new_state, metrics

    replicated = parallel.replicated(mesh)
    return jax.jit(
        step,
        in_shardings=(replicated, parallel.batch_sharding(mesh)),
        out_shardings=(replicated, replicated),
        donate_argnums=0,
    )


def make_eval_step(model: nn.Module, mesh: Mesh) -> Callable[[TrainState, Batch], Metrics]:
    """Returns ``eval_step(state, batch) -> sums`` for a padded batch.

    batch: ``image`` [B, H, W, C], ``label`` [B], ``mask`` [B] (1 = real example,
    0 = padding). sums: ``correct``, ``loss_sum`` (unsmoothed cross-entropy) and ``count``,
    each a float32 scalar summed over the real examples only.
    """

    def eval_step(state: TrainState, batch: Batch) -> Metrics:
        logits = model.apply(
            {"params": state.params, **state.model_state}, batch["image"], train=False
        )
        mask = batch["mask"].astype(jnp.float32)
        correct = (jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)
        loss = losses.softmax_cross_entropy(logits, batch["label"])
        return {
            "correct": jnp.sum(correct * mask),
            "loss_sum": jnp.sum(loss * mask),
            "count": jnp.sum(mask),
        }

    replicated = parallel.replicated(mesh)
    return jax.jit(
        eval_step,
        in_shardings=(replicated, parallel.batch_sharding(mesh)),
        out_shardings=replicated,
    )
