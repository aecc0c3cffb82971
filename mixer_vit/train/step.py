"""The jitted, sharded train and eval steps.

Both are plain ``jax.jit`` functions over a mesh: the batch is sharded over the ``data``
and ``fsdp`` axes, the state is replicated or placed by the parameter rules of
``mixer_vit.parallel`` (FSDP / tensor parallel), and jit (GSPMD) inserts the gradient
all-reduce, parameter all-gathers and reduce-scatters. The train step
donates the incoming state so parameters and optimizer state are updated in place.

One train step = one optimizer update. Inside it, in this order: the batch is split into
``accumulation_steps`` micro-batches (scanned; optax.MultiSteps accumulates and applies
the mean gradient on the last one), each micro-batch's loss comes from
``objective.make_loss_fn`` (augmentation, distillation), its gradient from one plain pass
or from SAM's two, then the EMA of the parameters is updated.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh, PartitionSpec

from mixer_vit import losses, parallel
from mixer_vit.optim.sam import sam_gradients
from mixer_vit.train.objective import make_loss_fn
from mixer_vit.train.state import TrainState
from mixer_vit.train.step_options import StepOptions

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


def _gradients(loss_fn, params: Any, opts: StepOptions):
    """((loss, (logits, model_state)), grads used for the update, clean grads)."""
    value_and_grad = jax.value_and_grad(loss_fn, has_aux=True)
    if opts.sam_rho > 0:
        (loss, aux), clean, sam = sam_gradients(
            value_and_grad, params, opts.sam_rho, adaptive=opts.sam_adaptive, eta=opts.sam_eta
        )
        return (loss, aux), sam, clean
    (loss, aux), grads = value_and_grad(params)
    return (loss, aux), grads, grads


def _per_device(fn, mesh: Mesh):
    """Runs ``fn(params, model_state, batch, rng, teacher_variables)`` on each device's slice
    of the batch and averages its outputs over devices (SAM's m-sharpness: the perturbation
    of each device comes from its own gradient)."""
    replicated, sharded = PartitionSpec(), PartitionSpec(parallel.BATCH_AXES)

    def body(*args):
        return jax.lax.pmean(fn(*args), parallel.BATCH_AXES)

    in_specs = (replicated, replicated, sharded, replicated, replicated)
    return jax.shard_map(body, mesh=mesh, in_specs=in_specs, out_specs=replicated, check_vma=False)


def train_step_body(
    model: nn.Module,
    tx: optax.GradientTransformation,
    mesh: Mesh,
    *,
    options: StepOptions | None = None,
    label_smoothing: float | None = None,
    teacher_model: nn.Module | None = None,
) -> Callable[..., tuple[TrainState, Metrics]]:
    """The un-jitted step ``body(state, batch, base_rng, teacher_variables=None) ->
    (new_state, metrics)`` that ``make_train_step`` jits (and the population step vmaps
    over members); arguments and metrics as there, ``base_rng`` the run's key."""
    opts = options or StepOptions()
    if label_smoothing is not None:
        opts = StepOptions(**{**opts.__dict__, "label_smoothing": label_smoothing})
    k = opts.accumulation_steps

    def micro_gradients(params, model_state, batch, rng, teacher_variables):
        teacher = None
        if teacher_model is not None:
            teacher = partial(
                lambda v, x: teacher_model.apply(v, x, train=False), teacher_variables
            )
        loss_fn = make_loss_fn(model, opts, model_state, batch, rng, teacher)
        (loss, (logits, new_model_state)), grads, clean = _gradients(loss_fn, params, opts)
        metrics = {
            "loss": loss,
            "accuracy": jnp.mean(jnp.argmax(logits, -1) == batch["label"]),
            "grad_norm": optax.tree.norm(clean),
        }
        return grads, new_model_state, metrics

    if opts.sam_per_device and opts.sam_rho > 0:
        micro_gradients = _per_device(micro_gradients, mesh)

    def body(state: TrainState, batch: Batch, base_rng: jax.Array, teacher_variables=None):
        rng = jax.random.fold_in(base_rng, state.step)
        extra = {"value": state.plateau_value} if opts.plateau else {}
        micro_batches = jax.tree.map(lambda x: x.reshape(k, x.shape[0] // k, *x.shape[1:]), batch)

        def one_micro_batch(carry, inputs):
            params, opt_state, model_state = carry
            index, micro = inputs
            grads, model_state, metrics = micro_gradients(
                params, model_state, micro, jax.random.fold_in(rng, index), teacher_variables
            )
            updates, opt_state = tx.update(grads, opt_state, params, **extra)
            return (optax.apply_updates(params, updates), opt_state, model_state), metrics

        carry = (state.params, state.opt_state, state.model_state)
        if k == 1:
            carry, metrics = one_micro_batch(
                carry, (0, jax.tree.map(lambda x: x[0], micro_batches))
            )
        else:
            carry, metrics = jax.lax.scan(one_micro_batch, carry, (jnp.arange(k), micro_batches))
            metrics = jax.tree.map(jnp.mean, metrics)
        params, opt_state, model_state = carry
        ema = state.ema_params
        if opts.ema_decay > 0:
            ema = optax.incremental_update(params, ema, step_size=1.0 - opts.ema_decay)
        new_state = state.replace(
            step=state.step + 1,
            params=params,
            opt_state=opt_state,
            model_state=model_state,
            ema_params=ema,
        )
        return new_state, metrics

    return body


def make_train_step(
    model: nn.Module,
    tx: optax.GradientTransformation,
    mesh: Mesh,
    *,
    base_rng: jax.Array,
    options: StepOptions | None = None,
    label_smoothing: float | None = None,
    teacher_model: nn.Module | None = None,
    state_sharding: Any = None,
) -> Callable[..., tuple[TrainState, Metrics]]:
    """Returns ``step(state, batch[, teacher_variables]) -> (new_state, metrics)``.

    batch: ``image`` float32 [B, H, W, C], ``label`` int32 [B] (B = global batch).
    teacher_variables: the teacher's variables, only when ``options.distillation`` is on.
    metrics: scalars ``loss`` (training objective), ``accuracy`` (top-1 against the
    un-mixed labels) and ``grad_norm`` (of the clean gradient).
    The randomness of step t comes from ``fold_in(base_rng, t)``, so a resumed run draws
    exactly what an uninterrupted one would.
    state_sharding: the state's placement (a TrainState of shardings, e.g.
    ``RunPlan.state_sharding()`` for FSDP / tensor parallelism); replicated by default.
    The new state keeps it.
    """
    body = train_step_body(
        model,
        tx,
        mesh,
        options=options,
        label_smoothing=label_smoothing,
        teacher_model=teacher_model,
    )

    def step(state: TrainState, batch: Batch, teacher_variables=None):
        return body(state, batch, base_rng, teacher_variables)

    replicated = parallel.replicated(mesh)
    state_sharding = replicated if state_sharding is None else state_sharding
    in_shardings = (state_sharding, parallel.batch_sharding(mesh))
    if teacher_model is not None:
        in_shardings += (replicated,)
    return jax.jit(
        step,
        in_shardings=in_shardings,
        out_shardings=(state_sharding, replicated),
        donate_argnums=0,
    )


def eval_step_body(model: nn.Module, *, use_ema: bool = False) -> Callable[..., Metrics]:
    """The un-jitted ``eval_step(state, batch) -> sums`` of ``make_eval_step``."""

    def eval_step(state: TrainState, batch: Batch) -> Metrics:
        params = state.ema_params if use_ema else state.params
        logits = model.apply({"params": params, **state.model_state}, batch["image"], train=False)
        mask = batch["mask"].astype(jnp.float32)
        labels = batch["label"]
        correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
        top5 = jax.lax.top_k(logits, min(5, logits.shape[-1]))[1]
        correct_top5 = jnp.any(top5 == labels[:, None], axis=-1).astype(jnp.float32)
        loss = losses.softmax_cross_entropy(logits, labels)
        return {
            "correct": jnp.sum(correct * mask),
            "correct_top5": jnp.sum(correct_top5 * mask),
            "loss_sum": jnp.sum(loss * mask),
            "count": jnp.sum(mask),
            "probs": jax.nn.softmax(logits.astype(jnp.float32), axis=-1),
        }

    return eval_step


def make_eval_step(
    model: nn.Module, mesh: Mesh, *, use_ema: bool = False, state_sharding: Any = None
) -> Callable[[TrainState, Batch], Metrics]:
    """Returns ``eval_step(state, batch) -> sums`` for a padded batch.

    batch: ``image`` [B, H, W, C], ``label`` [B], ``mask`` [B] (1 = real example,
    0 = padding). sums: ``correct``, ``correct_top5``, ``loss_sum`` (unsmoothed
    cross-entropy) and ``count``, float32 scalars summed over the real examples only; and
    ``probs`` [B, K] softmax probabilities (for host-side reports). With ``use_ema`` the
    EMA parameters are evaluated. state_sharding: as for ``make_train_step``.
    """
    eval_step = eval_step_body(model, use_ema=use_ema)

    replicated = parallel.replicated(mesh)
    out_shardings = {
        "correct": replicated,
        "correct_top5": replicated,
        "loss_sum": replicated,
        "count": replicated,
        "probs": parallel.batch_sharding(mesh),
    }
    return jax.jit(
        eval_step,
        in_shardings=(
            replicated if state_sharding is None else state_sharding,
            parallel.batch_sharding(mesh),
        ),
        out_shardings=out_shardings,
    )
