"""Evaluation over a whole split: every example counted exactly once.

In a multi-process run every process evaluates its slice of each batch; the summed
metrics come back replicated, and the per-example predictions are gathered from all
processes, so the report on process 0 sees each example of the split once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import jax
import numpy as np
from jax.experimental import multihost_utils
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
    each global batch are appended to it (for host-side reports), on every process.
    """
    totals = {"correct": 0.0, "correct_top5": 0.0, "loss_sum": 0.0, "count": 0.0}
    for batch in batches:
        global_batch = parallel.shard_batch(batch, mesh)
        out = eval_step(state, global_batch)
        sums = jax.device_get({k: out[k] for k in totals})  # replicated scalars
        for key in totals:
            totals[key] += float(sums[key])
        if predictions is not None:
            predictions.append(gather_predictions(out["probs"], global_batch))
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


def gather_predictions(
    probs: jax.Array, global_batch: dict[str, jax.Array]
) -> tuple[np.ndarray, np.ndarray]:
    """(probs [n, K], labels [n]) of the real examples of a global batch, on every process.

    probs, labels and mask are global arrays sharded the same way, gathered together, so
    their rows line up whatever the process layout (one process: no communication).
    """
    probs, labels, mask = multihost_utils.process_allgather(
        (probs, global_batch["label"], global_batch["mask"]), tiled=True
    )
    real = np.asarray(mask) > 0
    return np.asarray(probs)[real], np.asarray(labels)[real]
