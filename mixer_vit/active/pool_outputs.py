"""Scoring the unlabelled pool: class probabilities under MC-dropout samples and the
pre-logits features, from one jitted, batch-sharded function.

Per batch, one jitted call runs the model once deterministically (``train=False``; its
head input is the feature, its softmax the probabilities when ``mc_samples == 1``) and,
when ``mc_samples = S > 1``, S more times in train mode with S different ``dropout`` keys
(``jax.vmap`` over the keys). In train mode every stochastic layer is on: dropout and
stochastic depth (drop-path), both drawn from the ``dropout`` stream. A model without
either gives S identical samples (BALD 0 everywhere). Models with BatchNorm
(``batch_stats``) cannot run in train mode without using and updating batch statistics,
so for them only ``mc_samples=1`` is allowed.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from mixer_vit import parallel
from mixer_vit.active.head_input import HeadInputRecorder
from mixer_vit.active.pool_batches import padded_batches
from mixer_vit.errors import UserError


@dataclasses.dataclass
class PoolOutputs:
    """probs: float32 [S, N, K] class probabilities of N pool images under S MC-dropout
    samples (S = 1: deterministic forward); features: float32 [N, D] the embedding the
    classifier head reads (pre-logits)."""

    probs: np.ndarray
    features: np.ndarray


def _logits(output: Any) -> jax.Array:
    """A distilled model in train mode returns (class-token, distillation) logits; its
    prediction is their mean, as at inference."""
    if isinstance(output, tuple):
        return (output[0] + output[1]) / 2
    return output


@functools.lru_cache(maxsize=16)
def make_pool_scorer(model: nn.Module, mesh: Mesh, mc_samples: int):
    """``score(variables, images [B, H, W, C], rng, batch_index) -> (probs [S, B, K],
    features [B, D])``, jitted; images sharded over the batch axes, variables replicated.
    The S dropout keys are ``split(fold_in(rng, batch_index), S)``. Cached per (model,
    mesh, S), so scoring the pool again with new variables (the next active-learning
    round) reuses the compiled function."""

    def score(variables, images, rng, batch_index):
        recorder = HeadInputRecorder()
        with nn.intercept_methods(recorder):
            logits = _logits(model.apply(variables, images, train=False)).astype(jnp.float32)
        features = recorder.features(logits.shape[-1]).astype(jnp.float32)
        if mc_samples == 1:
            return jax.nn.softmax(logits, axis=-1)[None], features

        def sample(key):
            out = model.apply(variables, images, train=True, rngs={"dropout": key})
            return jax.nn.softmax(_logits(out).astype(jnp.float32), axis=-1)

        keys = jax.random.split(jax.random.fold_in(rng, batch_index), mc_samples)
        return jax.vmap(sample)(keys), features

    replicated = parallel.replicated(mesh)
    batch = parallel.batch_sharding(mesh)
    return jax.jit(
        score,
        in_shardings=(replicated, batch, replicated, replicated),
        out_shardings=(NamedSharding(mesh, PartitionSpec(None, parallel.BATCH_AXES)), batch),
    )


def score_pool(
    model: nn.Module,
    variables: dict[str, Any],
    images_iter_or_array: np.ndarray | Iterable[np.ndarray],
    *,
    mc_samples: int,
    rng: jax.Array | int,
    batch_size: int,
    mesh: Mesh | None = None,
) -> PoolOutputs:
    """Scores every pool image: ``PoolOutputs(probs [S, N, K], features [N, D])``.

    images_iter_or_array: preprocessed float images, one ``[N, H, W, C]`` array or an
    iterable of ``[b, H, W, C]`` batches. mc_samples: S >= 1 (see the module docstring).
    rng: a JAX key (or an int seed) for the dropout masks; the samples depend on it and
    on the batch boundaries, not on the device count. batch_size: images per jitted
    call, rounded up to a multiple of the batch shards; the last batch is zero-padded so
    the function compiles once. One call runs ``(S + 1) * batch_size`` image forwards
    (S dropout samples vmapped); on a CPU keep that product near 512 (a 6-block ViT on
    28x28 images ran 1.6x faster at S=8, batch_size=64 than at batch_size=512). mesh: default ``parallel.make_mesh()`` (every device).
    """
    if mc_samples < 1:
        raise UserError(f"mc_samples={mc_samples}; set it to 1 (deterministic) or more")
    if mc_samples > 1 and "batch_stats" in variables:
        raise UserError(
            f"mc_samples={mc_samples} needs a model without BatchNorm (this one keeps "
            f"batch_stats, which train mode would use and update); use mc_samples=1, or a "
            f"model with dropout/drop-path and no BatchNorm (ViT, Mixer, ...)"
        )
    if batch_size < 1:
        raise UserError(f"batch_size={batch_size}; set it to a positive number of images")
    mesh = parallel.make_mesh() if mesh is None else mesh
    shards = parallel.batch_shard_count(mesh)
    batch_size = -(-batch_size // shards) * shards
    if isinstance(rng, int):
        rng = jax.random.key(rng)

    scorer = make_pool_scorer(model, mesh, mc_samples)
    variables = jax.device_put(variables, parallel.replicated(mesh))
    pending = []  # device results, fetched at the end so batches dispatch back to back
    for index, (batch, n_real) in enumerate(padded_batches(images_iter_or_array, batch_size)):
        images = parallel.shard_batch({"image": batch}, mesh)["image"]
        pending.append((scorer(variables, images, rng, np.int32(index)), n_real))
    if not pending:
        raise UserError("the pool is empty; pass at least one image to score")
    probs = [np.asarray(jax.device_get(p))[:, :n] for (p, _), n in pending]
    features = [np.asarray(jax.device_get(f))[:n] for (_, f), n in pending]
    return PoolOutputs(
        probs=np.concatenate(probs, axis=1).astype(np.float32),
        features=np.concatenate(features).astype(np.float32),
    )
