"""Sharpness of a trained model: the largest Hessian eigenvalue of its training loss.

Measured once, at the end of training, when ``sharpness.examples`` > 0, and stored in
``test_report.json`` as ``sharpness: {hessian_top_eigenvalue, examples, iterations}``.
The loss is the run's classification objective (softmax or sigmoid cross-entropy with
the configured label smoothing) averaged over ``sharpness.examples`` fixed training
examples, without its randomness: no augmentation (the eval preprocessing), no mixup,
no dropout or drop-path, and BatchNorm in eval mode (its running statistics), so the loss
is a deterministic function of the parameters. The value is the largest eigenvalue (the
most positive; ``largest_hessian_eigenvalue``: a second power iteration, shifted, when a
negative curvature dominates). The examples are evenly spaced over the
training split (index ``floor(i * size / N)``), the same for every run of one data set.
The parameters are the ones the run is tested with (the EMA ones when it evaluates with
them). Power iteration on Hessian-vector products: ``mixer_vit.metrics.hessian``.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from mixer_vit import losses, parallel
from mixer_vit.data.pipeline import read_examples, stack_examples
from mixer_vit.errors import UserError
from mixer_vit.metrics.hessian import largest_hessian_eigenvalue

if TYPE_CHECKING:
    from mixer_vit.train.plan import RunPlan
    from mixer_vit.train.state import TrainState

log = logging.getLogger(__name__)

START_KEY = 0  # PRNG seed of the power iteration's starting vector, the same for every run


def sharpness_settings(config: ml_collections.ConfigDict) -> tuple[int, int, float]:
    """(examples, iterations, tolerance) of ``config.sharpness``; examples 0 is off.
    Raises ``UserError`` for a bad value (configs without the section are off)."""
    section = config.get("sharpness") or ml_collections.ConfigDict()
    examples = section.get("examples", 0)
    iterations = section.get("iterations", 20)
    tolerance = section.get("tolerance", 1e-3)
    if not isinstance(examples, int) or examples < 0:
        raise UserError(
            f"sharpness.examples must be an integer >= 0 (0: off), got {examples!r}"
        )
    if not isinstance(iterations, int) or iterations < 1:
        raise UserError(f"sharpness.iterations must be an integer >= 1, got {iterations!r}")
    if not tolerance >= 0:
        raise UserError(f"sharpness.tolerance must be >= 0, got {tolerance!r}")
    if examples and config.train.get("population", 0):
        raise UserError(
            "sharpness.examples is not measured for a population run (train.population > 0); "
            "set --config.sharpness.examples=0 or train the members as separate runs"
        )
    return examples, iterations, tolerance


def check_sharpness_examples(config: ml_collections.ConfigDict, train_size: int) -> None:
    """``UserError`` when ``sharpness.examples`` exceeds the ``train_size`` examples the
    run trains on (checked with the plan, before anything compiles)."""
    examples = sharpness_settings(config)[0]
    if examples > train_size:
        raise UserError(
            f"sharpness.examples is {examples}, but the run trains on only {train_size} "
            f"examples; lower --config.sharpness.examples"
        )


def example_indices(split_size: int, examples: int) -> np.ndarray:
    """int64 [examples]: ``floor(i * split_size / examples)``, evenly spread, no repeats
    (examples <= split_size)."""
    return np.arange(examples, dtype=np.int64) * split_size // examples


def sharpness_batch(plan: RunPlan, examples: int) -> dict[str, np.ndarray]:
    """The fixed examples: ``image`` float32 [N, H, W, C] (eval preprocessing), ``label``
    int32 [N]."""
    source = plan.open_train_split()
    preprocess = plan.eval_preprocess()
    rows = read_examples(source, example_indices(len(source), examples))
    batch = stack_examples([preprocess(row) for row in rows])
    return {"image": batch["image"], "label": batch["label"]}


def deterministic_loss_fn(
    model: nn.Module,
    model_state: Any,
    batch: dict[str, Any],
    *,
    loss: str = "softmax",
    label_smoothing: float = 0.0,
    chunk_size: int | None = None,
) -> Callable[[Any], jax.Array]:
    """``params -> mean loss`` over ``batch`` (``image`` [N, H, W, C], ``label`` [N]),
    the model in eval mode (``train=False``). With ``chunk_size`` the examples are taken
    ``chunk_size`` at a time in a ``lax.scan`` (the last chunk padded and masked), which
    bounds memory; ``batch`` may then hold ``[C, chunk_size, ...]`` arrays with a ``mask``
    [C, chunk_size] (``chunked``)."""
    per_example = losses.softmax_cross_entropy if loss == "softmax" else (
        losses.sigmoid_cross_entropy
    )

    def chunk_loss_sum(params, images, labels, mask):
        logits = model.apply({"params": params, **model_state}, images, train=False)
        return jnp.sum(per_example(logits, labels, label_smoothing) * mask)

    if chunk_size is None:

        def loss_fn(params):
            ones = jnp.ones(batch["label"].shape, jnp.float32)
            return chunk_loss_sum(params, batch["image"], batch["label"], ones) / ones.size

        return loss_fn

    def loss_fn(params):
        def body(total, chunk):
            images, labels, mask = chunk
            return total + chunk_loss_sum(params, images, labels, mask), None

        chunks = (batch["image"], batch["label"], batch["mask"])
        total, _ = jax.lax.scan(body, jnp.zeros((), jnp.float32), chunks)
        return total / jnp.sum(batch["mask"])

    return loss_fn


def chunked(batch: dict[str, np.ndarray], chunk_size: int) -> dict[str, np.ndarray]:
    """[N, ...] -> [ceil(N / chunk_size), chunk_size, ...] zero-padded, plus ``mask``."""
    n = len(batch["label"])
    count = -(-n // chunk_size)
    padded = {}
    for key, value in batch.items():
        pad = np.zeros((count * chunk_size - n, *value.shape[1:]), value.dtype)
        padded[key] = np.concatenate([value, pad]).reshape(count, chunk_size, *value.shape[1:])
    mask = (np.arange(count * chunk_size) < n).astype(np.float32).reshape(count, chunk_size)
    return {**padded, "mask": mask}


def measure_sharpness(plan: RunPlan, state: TrainState) -> dict[str, Any] | None:
    """``{"hessian_top_eigenvalue", "examples", "iterations"}`` of the run's final
    parameters, or None when ``sharpness.examples`` is 0. Every process calls it."""
    examples, iterations, tolerance = sharpness_settings(plan.config)
    if not examples:
        return None
    start = time.perf_counter()
    chunk_size = plan.global_batch_size
    batch = chunked(sharpness_batch(plan, examples), chunk_size)
    spread = NamedSharding(plan.mesh, PartitionSpec(None, parallel.BATCH_AXES))
    batch = jax.device_put(batch, spread)
    params = state.ema_params if plan.evaluate_with_ema else state.params
    loss_fn = deterministic_loss_fn(
        plan.model,
        state.model_state,
        batch,
        loss=plan.step_options.loss,
        label_smoothing=plan.step_options.label_smoothing,
        chunk_size=chunk_size,
    )
    result = largest_hessian_eigenvalue(
        loss_fn, params, jax.random.PRNGKey(START_KEY), iterations, tolerance
    )
    measured = {
        "hessian_top_eigenvalue": float(result.eigenvalue),
        "examples": examples,
        "iterations": int(result.iterations),
    }
    log.info("sharpness: top Hessian eigenvalue %.4g on %d training examples (%d "
             "iterations, %.1f s)", measured["hessian_top_eigenvalue"], examples,
             measured["iterations"], time.perf_counter() - start)
    return measured
