"""Evaluation over a whole split: every example counted exactly once."""

from __future__ import annotations

from typing import Callable, Iterable

import jax
import numpy as np
from jax.sharding import Mesh

from mixer_vit import parallel
from mixer_vit.train.state import TrainState


def evaluate(
    state: TrainState, eval_step: Callable, batches: Iterable[dict[str, np.ndarray]], mesh: Mesh
) -> dict[str, float]:
    """Runs ``eval_step`` over padded, masked batches and returns ``accuracy``, ``loss``
    (mean cross-entropy) and ``count`` (the number of real examples seen)."""
    correct = loss_sum = count = 0.0
    for batch in batches:
        sums = jax.device_get(eval_step(state, parallel.shard_batch(batch, mesh)))
        correct += float(sums["correct"])
        loss_sum += float(sums["loss_sum"])
        count += float(sums["count"])
    if count == 0:
        return {"accuracy": float("nan"), "loss": float("nan"), "count": 0}
    return {"accuracy": correct / count, "loss": loss_sum / count, "count": int(count)}
