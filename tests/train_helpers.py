"""A tiny model, optimizer and batch for train-step tests (no data set needed)."""

import jax
import numpy as np
import optax
from conftest import TINY_MODEL, load_default_config

from mixer_vit import parallel
from mixer_vit.models import create_model
from mixer_vit.optim import build_optimizer
from mixer_vit.train.state import abstract_train_state, create_train_state
from mixer_vit.train.step import make_train_step
from mixer_vit.train.step_options import StepOptions


def tiny_model(**overrides):
    return create_model("vit_ti16", num_classes=10, **{**TINY_MODEL, **overrides})


def random_batch(size=32, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "image": rng.normal(size=(size, 8, 8, 1)).astype(np.float32),
        "label": rng.integers(0, 10, size=size).astype(np.int32),
    }


def make_optimizer(options: StepOptions, *, lr=1e-2, optim_changes=None):
    """The optimizer ``run_steps`` uses: sgd with momentum 0.9 at a constant ``lr``, with
    ``optim_changes`` applied to the default config's ``optim`` section."""
    optim = load_default_config().optim
    optim.name, optim.momentum = "sgd", 0.9
    for key, value in (optim_changes or {}).items():
        optim[key] = value
    return build_optimizer(
        optim, optax.constant_schedule(lr), accumulation_steps=options.accumulation_steps
    )


def run_steps(
    options: StepOptions,
    batches,
    *,
    mesh=None,
    model=None,
    lr=1e-2,
    optim_changes=None,
    teacher=None,
    shard_by_rules=False,
):
    """Trains from a fixed init on ``batches``; returns (states after each step, metrics).

    shard_by_rules: place the state by the parameter rules of ``mixer_vit.parallel``
    (FSDP / tensor parallel on a mesh with those axes) instead of replicating it.

    The optimizer is sgd with momentum 0.9 unless ``optim_changes`` says otherwise: adam's
    first steps are about lr * sign(g), which turns float noise in near-zero gradients into
    lr-sized differences, so comparisons that must agree to 1e-6 use sgd.
    """
    mesh = mesh or parallel.make_mesh(1)
    model = model or tiny_model()
    tx = make_optimizer(options, lr=lr, optim_changes=optim_changes)
    image_shape = batches[0]["image"].shape[1:]
    with_ema = options.ema_decay > 0
    sharding = parallel.replicated(mesh)
    if shard_by_rules:
        abstract = abstract_train_state(model, tx, image_shape, with_ema=with_ema)
        sharding = parallel.tree_shardings(abstract, mesh)
    state = create_train_state(
        model, tx, image_shape, jax.random.PRNGKey(0), sharding, with_ema=with_ema
    )
    teacher_model, args = (None, ()) if teacher is None else (teacher[0], (teacher[1],))
    step = make_train_step(
        model,
        tx,
        mesh,
        base_rng=jax.random.PRNGKey(1),
        options=options,
        teacher_model=teacher_model,
        state_sharding=sharding,
    )
    states, metrics = [], []
    for batch in batches:
        state, m = step(state, parallel.shard_batch(batch, mesh), *args)
        jax.block_until_ready(state)
        states.append(jax.device_get(state))
        metrics.append(jax.device_get(m))
    return states, metrics


def max_diff(tree_a, tree_b) -> float:
    return max(
        jax.tree.leaves(jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), tree_a, tree_b))
    )
