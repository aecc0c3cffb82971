"""A small stand-in for the acquisition side of the active-learning loop (scoring and
selection with the interface of mixer_vit/active/pool_outputs.py and selection), so the
loop's tests depend on the loop alone."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from mixer_vit.active.loop import Acquisition


@dataclasses.dataclass
class StandInPoolOutputs:
    probs: np.ndarray  # float32 [1, N, K]
    features: np.ndarray  # float32 [N, K] (the probabilities themselves)


def score_pool(model, variables, images, *, mc_samples, rng, batch_size):
    """Deterministic softmax of the model's logits; records what it was asked to score."""
    score_pool.calls.append({"images": np.asarray(images), "mc_samples": mc_samples})
    forward = jax.jit(lambda v, x: model.apply(v, x, train=False))
    logits = np.concatenate([
        np.asarray(forward(variables, images[i:i + batch_size]))
        for i in range(0, len(images), batch_size)
    ])
    probs = np.asarray(jax.nn.softmax(logits), dtype=np.float32)
    return StandInPoolOutputs(probs=probs[None], features=probs)


score_pool.calls = []


def select(strategy, pool, k, *, labelled_features, rng, class_balanced=False):
    """random: a permutation's first k; least_confidence: the k lowest top-1 probabilities
    (lower position first on ties)."""
    select.calls.append({"strategy": strategy, "n": pool.probs.shape[1], "k": k,
                         "labelled": None if labelled_features is None
                         else len(labelled_features)})
    if strategy == "random":
        return rng.permutation(pool.probs.shape[1])[:k]
    confidence = pool.probs.mean(axis=0).max(axis=1)
    return np.argsort(confidence, kind="stable")[:k]


select.calls = []

STAND_IN = Acquisition(score_pool=score_pool, select=select,
                       strategies=("random", "least_confidence"))
