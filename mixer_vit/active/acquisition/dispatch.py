"""``select``: one entry point for every acquisition strategy.

Strategies (names as in modAL / baal / small-text / DISTIL):

- ``random``: a uniform random permutation (``rng``).
- ``least_confidence``, ``margin``, ``entropy``: the most uncertain under the mean
  probabilities (margin: smallest top-1 minus top-2, "breaking ties").
- ``bald``: the largest mutual information, each image scored alone (needs S > 1).
- ``batchbald``: BatchBALD's greedy joint selection (needs S > 1; batchbald.py).
- ``coreset``: k-centre greedy on the features from the labelled ones (coreset.py).
- ``badge``: k-means++ seeding on gradient embeddings (badge.py).

Score-ranked strategies take the k best; equal scores go to the lower pool index.
``class_balanced`` splits the picks evenly over the predicted classes (availability.py).
"""

from __future__ import annotations

import numpy as np

from mixer_vit.active.acquisition import uncertainty
from mixer_vit.active.acquisition.availability import Availability, balanced_quotas
from mixer_vit.active.acquisition.badge import badge
from mixer_vit.active.acquisition.batchbald import batchbald
from mixer_vit.active.acquisition.coreset import kcenter_greedy
from mixer_vit.active.pool_outputs import PoolOutputs
from mixer_vit.errors import UserError

STRATEGIES = (
    "random",
    "least_confidence",
    "margin",
    "entropy",
    "bald",
    "batchbald",
    "coreset",
    "badge",
)
NEEDS_MC_SAMPLES = ("bald", "batchbald")


def _ranking(strategy: str, probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """[S, N, K] -> [N] pool indices, best first, for the score-ranked strategies."""
    if strategy == "random":
        return rng.permutation(probs.shape[1])
    if strategy == "margin":
        return uncertainty.rank_ascending(uncertainty.margin(probs))
    score = {
        "least_confidence": uncertainty.least_confidence,
        "entropy": uncertainty.entropy,
        "bald": uncertainty.bald,
    }[strategy]
    return uncertainty.rank_descending(score(probs))


def check_request(strategy: str, pool: PoolOutputs, k: int) -> None:
    """Raises ``UserError`` for an unknown strategy, a k outside 1..N, or BALD/BatchBALD
    on deterministic (S = 1) probabilities."""
    if strategy not in STRATEGIES:
        raise UserError(
            f"unknown acquisition strategy {strategy!r}; use one of {', '.join(STRATEGIES)}"
        )
    s, n, _ = pool.probs.shape
    if not 1 <= k <= n:
        raise UserError(
            f"asked to acquire {k} images from a pool of {n}; acquire between 1 and {n}"
        )
    if strategy in NEEDS_MC_SAMPLES and s < 2:
        raise UserError(
            f"{strategy} needs MC-dropout samples but the pool was scored with one "
            f"deterministic pass; set mc_samples > 1 and use a model with dropout or "
            f"drop-path (and no BatchNorm)"
        )


def select(
    strategy: str,
    pool: PoolOutputs,
    k: int,
    *,
    labelled_features: np.ndarray | None,
    rng: np.random.Generator,
    class_balanced: bool = False,
) -> np.ndarray:
    """The k pool images to label next: int64 [k] distinct indices into the pool
    (0..N-1), in acquisition order.

    pool: probs [S, N, K] and features [N, D] of the unlabelled pool. labelled_features
    [L, D]: the labelled images' features (core-set's starting centres; None or empty:
    the first centre is random). rng: draws for random, BADGE's seeding, BatchBALD's
    sampled configurations and an unlabelled core-set's first centre.
    """
    check_request(strategy, pool, k)
    s, n, num_classes = pool.probs.shape
    availability = Availability(n)
    if class_balanced:
        classes = np.argmax(uncertainty.mean_probs(pool.probs), axis=1)
        quotas = balanced_quotas(np.bincount(classes, minlength=num_classes), k)
        availability = Availability(n, classes, quotas)
    if strategy == "batchbald":
        return batchbald(pool.probs, k, rng=rng, availability=availability)[0]
    if strategy == "coreset":
        return kcenter_greedy(
            pool.features,
            k,
            labelled_features=labelled_features,
            rng=rng,
            availability=availability,
        )
    if strategy == "badge":
        probs_mean = uncertainty.mean_probs(pool.probs)
        return badge(probs_mean, pool.features, k, rng=rng, availability=availability)
    return availability.take_in_order(_ranking(strategy, pool.probs, rng), k)
