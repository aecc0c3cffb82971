"""BADGE (Ash et al., 2020): k-means++ seeding on gradient embeddings.

The gradient embedding of pool image i is the gradient of the cross-entropy, at its own
predicted label, with respect to the head's weights: ``g_i = a_i (x) h_i`` with
``a_i = onehot(argmax p_i) - p_i`` [K] and h_i [D] the head's input (sign irrelevant
here). It is never materialised ([N, K*D]): ``<g_i, g_j> = <a_i, a_j><h_i, h_j>`` gives
every squared distance from the factors, O(N (K + D)) per centre.

Seeding as in the paper's code: the first point has the largest gradient norm, each next
one is drawn with probability proportional to its squared distance to the nearest chosen
point (one ``rng.random()`` per draw, inverse CDF); when every remaining distance is 0 it
is drawn uniformly (``rng.choice``) among the available points. p is the mean over the
MC samples.
"""

from __future__ import annotations

import numpy as np

from mixer_vit.active.acquisition.availability import Availability


def gradient_factors(probs_mean: np.ndarray) -> np.ndarray:
    """[N, K] -> a [N, K] = onehot(argmax p) - p (float64)."""
    p = np.asarray(probs_mean, np.float64)
    return np.eye(p.shape[1])[np.argmax(p, axis=1)] - p


def sq_norms(a: np.ndarray, h: np.ndarray) -> np.ndarray:
    """a [N, K], h [N, D] -> [N] squared gradient-embedding norms ``||a_i||^2 ||h_i||^2``."""
    return np.sum(a * a, axis=1) * np.sum(h * h, axis=1)


def sq_distances_to(
    a: np.ndarray, h: np.ndarray, j: int, norms: np.ndarray | None = None
) -> np.ndarray:
    """a [N, K], h [N, D] -> [N] squared distances ``||g_i - g_j||^2`` (>= 0); norms:
    ``sq_norms(a, h)`` when already computed."""
    norms = sq_norms(a, h) if norms is None else norms
    cross = (a @ a[j]) * (h @ h[j])
    return np.maximum(norms + norms[j] - 2.0 * cross, 0.0)


def badge(
    probs_mean: np.ndarray,
    features: np.ndarray,
    k: int,
    *,
    rng: np.random.Generator,
    availability: Availability | None = None,
) -> np.ndarray:
    """probs_mean [N, K], features [N, D] -> k pool indices [k] in pick order."""
    a = gradient_factors(probs_mean)
    h = np.asarray(features, np.float64)
    availability = availability or Availability(len(a))
    norms = sq_norms(a, h)
    index = int(np.argmax(np.where(availability.available, norms, -np.inf)))
    chosen = [index]
    availability.take(index)
    nearest = sq_distances_to(a, h, index, norms)
    for _ in range(k - 1):
        weights = np.where(availability.available, nearest, 0.0)
        total = weights.sum()
        if total > 0:
            cdf = np.cumsum(weights)
            index = int(np.searchsorted(cdf, rng.random() * total, side="right"))
            index = min(index, int(np.flatnonzero(weights)[-1]))
        else:
            index = int(rng.choice(np.flatnonzero(availability.available)))
        chosen.append(index)
        availability.take(index)
        nearest = np.minimum(nearest, sq_distances_to(a, h, index, norms))
    return np.asarray(chosen, np.int64)
