"""Learning-rate schedules built from config (optax does the arithmetic).

Every schedule starts with a linear warm-up from 0 to ``lr`` over ``optim.warmup`` (a
duration: ``"500"`` steps, ``"5ep"`` epochs, ``"10%"`` of training), then:

- ``cosine``: cosine decay to ``lr * end_lr_factor`` at the end of training;
- ``cosine_restarts``: cosine cycles (SGDR) of ``restart_period``, each ``restart_mult``
  times longer than the one before, every cycle restarting at ``lr``;
- ``step``: ``lr`` multiplied by ``decay_factor`` at each of ``decay_at`` (a comma-separated
  list of durations, e.g. ``"30ep,60ep,80ep"``);
- ``constant``: ``lr``.

Reduce-on-plateau is not a schedule of the step: it is an optimizer transform driven by the
validation metric (see ``optimizer.py``), and multiplies whichever schedule is chosen here.
"""

from __future__ import annotations

import ml_collections
import optax

from mixer_vit.errors import UserError
from mixer_vit.optim.durations import duration_steps

SCHEDULES = ("cosine", "cosine_restarts", "step", "constant")


def _after_warmup(
    optim: ml_collections.ConfigDict, steps: int, steps_per_epoch: int, total_steps: int, lr
) -> optax.Schedule:
    """The schedule of the ``steps`` steps that follow the warm-up, counted from 0."""
    name = optim.schedule
    if name == "constant":
        return optax.constant_schedule(lr)
    if name == "cosine":
        return optax.cosine_decay_schedule(lr, max(steps, 1), alpha=optim.end_lr_factor)
    if name == "cosine_restarts":
        period = duration_steps(
            optim.restart_period, steps_per_epoch, total_steps, "optim.restart_period"
        )
        if period < 1:
            raise UserError("optim.restart_period must be at least one step")
        cycles, boundaries, covered, length = [], [], 0, float(period)
        while covered < steps:
            cycle = max(int(round(length)), 1)
            cycles.append(optax.cosine_decay_schedule(lr, cycle, alpha=optim.end_lr_factor))
            covered += cycle
            boundaries.append(covered)
            length *= optim.restart_mult
        return optax.join_schedules(cycles, boundaries[:-1])
    if name == "step":
        marks = [m for m in str(optim.decay_at).split(",") if m.strip()]
        boundaries = {}
        for mark in marks:
            at = duration_steps(mark.strip(), steps_per_epoch, total_steps, "optim.decay_at")
            at -= total_steps - steps  # decay_at counts from the start of training
            if at > 0:
                boundaries[at] = boundaries.get(at, 1.0) * optim.decay_factor
        return optax.piecewise_constant_schedule(lr, boundaries)
    raise UserError(
        f"unknown schedule {name!r}; set --config.optim.schedule to one of {', '.join(SCHEDULES)}"
    )


def build_schedule(
    optim: ml_collections.ConfigDict, total_steps: int, steps_per_epoch: int, *, lr=None
) -> optax.Schedule:
    """The learning rate as a function of the step (0-based). ``lr``: the peak learning rate
    in place of ``optim.lr`` (a float or a traced scalar: optim/injected.py)."""
    lr = optim.lr if lr is None else lr
    warmup = min(
        duration_steps(optim.warmup, steps_per_epoch, total_steps, "optim.warmup"), total_steps
    )
    main = _after_warmup(optim, total_steps - warmup, steps_per_epoch, total_steps, lr)
    if warmup == 0:
        return main
    ramp = optax.linear_schedule(0.0, lr, warmup)
    return optax.join_schedules([ramp, main], [warmup])
