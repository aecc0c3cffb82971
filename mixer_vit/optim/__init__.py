"""optax pieces: learning-rate schedules, parameter masks and the optimizer builder."""

from mixer_vit.optim.masks import decay_mask, flat_param_names
from mixer_vit.optim.optimizer import build_optimizer
from mixer_vit.optim.schedules import build_schedule

__all__ = ["build_optimizer", "build_schedule", "decay_mask", "flat_param_names"]
