"""The optimizer of ``config.optim`` with its peak learning rate and weight decay held in
the optimizer state instead of baked into the compiled step.

``build_injected_optimizer`` wraps ``build_optimizer`` in ``optax.inject_hyperparams``:
the state is an ``InjectStatefulHyperparamsState`` whose ``hyperparams`` are
``{"lr": [], "weight_decay": []}`` float32 scalars (the inner optimizer's state is
``inner_state``). Each update rebuilds the same chain from those two numbers: the
schedule of ``optim.schedule`` (warm-up, cosine, ...) with ``lr`` as its peak, and the
decoupled weight decay ``weight_decay`` under the ``optim.no_decay`` mask. So a state
made with ``lr=a, weight_decay=b`` updates exactly as ``build_optimizer`` with
``optim.lr = a, optim.weight_decay = b`` does, and states with different values share
one compiled step: a population stacks them and ``jax.vmap``s the update over members
(train/population_hparams.py).
"""

from __future__ import annotations

import ml_collections
import optax

from mixer_vit.optim.optimizer import build_optimizer
from mixer_vit.optim.schedules import build_schedule

# The config keys a state holds, and the names of their leaves in ``hyperparams``.
INJECTED = {"optim.lr": "lr", "optim.weight_decay": "weight_decay"}


def build_injected_optimizer(
    optim: ml_collections.ConfigDict,
    total_steps: int,
    steps_per_epoch: int,
    *,
    accumulation_steps: int = 1,
) -> optax.GradientTransformationExtraArgs:
    """``build_optimizer(optim, build_schedule(optim, ...))`` with ``optim.lr`` and
    ``optim.weight_decay`` as the state leaves ``hyperparams["lr"]`` and
    ``hyperparams["weight_decay"]`` (initialised from ``optim``)."""

    def factory(lr, weight_decay):
        schedule = build_schedule(optim, total_steps, steps_per_epoch, lr=lr)
        tx = build_optimizer(
            optim,
            schedule,
            steps_per_epoch=steps_per_epoch,
            accumulation_steps=accumulation_steps,
            weight_decay=weight_decay,
        )
        if isinstance(tx, optax.MultiSteps):  # keep the extra arguments (plateau value)
            return tx.gradient_transformation()
        return tx

    return optax.inject_hyperparams(factory)(
        lr=float(optim.lr), weight_decay=float(optim.weight_decay)
    )
