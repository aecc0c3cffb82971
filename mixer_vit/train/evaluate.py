"""Evaluation over a whole split: every example counted exactly once."""

from __future__ import annotations

from typing import Callable, Iterable

import jax
import numpy as np
from jax.sharding import Mesh

from mixer_vit import parallel
from mixer_vit.train.state import TrainState


def evaluate(
    state: TrainState,
    eval_step: Callable,
    batches: Iterable[dict[str, np.ndarray]],
    mesh: Mesh,
    predictions: list | None = None,
) -> dict[str, float]:
    """Runs ``eval_step`` over padded, masked batches and returns ``accuracy``,
    ``accuracy_top5``, ``loss`` (mean cross-entropy) and ``count`` (real examples seen).

    predictions: if a list is given, ``(probs [n, K], labels [n])`` of the real examples of
    each batch are appended to it (for host-side reports).
    """
    totals = {"correct": 0.0, "correct_top5": 0.0, "loss_sum": 0.0, "count": 0.0}
    for batch in batches:
        out = eval_step(state, parallel.shard_batch(batch, mesh))
        sums = jax.device_get({k: out[k] for k in totals})
        for key in totals:
            totals[key] += float(sums[key])
        if predictions is not None:
            real = np.asarray(batch["mask"]) > 0
            predictions.append(
                (np.asarray(jax.device_get(out["probs"]))[real], np.asarray(batch["label"])[real])
            )
    count = totals["count"]
    if count == 0:
        return {
            "accuracy": float("nan"),
            "accuracy_top5": float("nan"),
            "loss": float("nan"),
            "count": 0,
        }
    return {
        "accuracy": totals["correct"] / count,
        "accuracy_top5": totals["correct_top5"] / count,
        "loss": totals["loss_sum"] / count,
        "count": int(count),
    }
