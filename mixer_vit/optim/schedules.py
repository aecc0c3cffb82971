"""Learning-rate schedules built from config (optax does the arithmetic)."""

from __future__ import annotations

import ml_collections
import optax

from mixer_vit.errors import UserError

SCHEDULES = ("warmup_cosine", "constant")


def build_schedule(
    optim: ml_collections.ConfigDict, total_steps: int, steps_per_epoch: int
) -> optax.Schedule:
    """The learning rate as a function of the step.

    ``warmup_cosine``: linear warm-up from 0 to ``lr`` over ``warmup_epochs`` epochs, then
    cosine decay to ``lr * end_lr_factor`` at ``total_steps`` (optax counts the warm-up
    inside ``decay_steps``). ``constant``: ``lr`` throughout.
    """
    name = optim.schedule
    if name == "constant":
        return optax.constant_schedule(optim.lr)
    if name == "warmup_cosine":
        warmup_steps = min(int(round(optim.warmup_epochs * steps_per_epoch)), total_steps)
        return optax.warmup_cosine_decay_schedule(
            init_value=0.0,
            peak_value=optim.lr,
            warmup_steps=warmup_steps,
            decay_steps=max(total_steps, warmup_steps + 1),
            end_value=optim.lr * optim.end_lr_factor,
        )
    raise UserError(
        f"unknown schedule {name!r}; set --config.optim.schedule to one of {', '.join(SCHEDULES)}"
    )
