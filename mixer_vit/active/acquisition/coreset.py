"""Core-set selection by k-centre greedy (Sener & Savarese, 2018) on pre-logits features.

The centres start as the labelled images; each step takes the pool image farthest
(Euclidean) from its nearest centre and makes it a centre. Without labelled images the
first centre is drawn uniformly from the pool with ``rng``. Cost: one [N, L] distance
pass for L labelled images (blocked, float64), then O(N D) per pick.
"""

from __future__ import annotations

import numpy as np

from mixer_vit.active.acquisition.availability import Availability

_BLOCK = 4096


def nearest_sq_distances(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """points [N, D], centres [L, D] -> [N] squared distance to the nearest centre."""
    points = np.asarray(points, np.float64)
    centres = np.asarray(centres, np.float64)
    centre_sq = np.sum(centres * centres, axis=1)
    nearest = np.full(len(points), np.inf)
    for start in range(0, len(centres), _BLOCK):
        c, c_sq = centres[start : start + _BLOCK], centre_sq[start : start + _BLOCK]
        for row in range(0, len(points), _BLOCK):
            p = points[row : row + _BLOCK]
            d = np.sum(p * p, axis=1)[:, None] + c_sq[None, :] - 2.0 * p @ c.T
            block = slice(row, row + len(p))
            nearest[block] = np.minimum(nearest[block], np.maximum(d.min(axis=1), 0.0))
    return nearest


def kcenter_greedy(
    features: np.ndarray,
    k: int,
    *,
    labelled_features: np.ndarray | None,
    rng: np.random.Generator,
    availability: Availability | None = None,
) -> np.ndarray:
    """features [N, D] pool, labelled_features [L, D] or None -> k pool indices [k] in
    pick order. Ties (equal distances) go to the lowest index."""
    features = np.asarray(features, np.float64)
    availability = availability or Availability(len(features))
    if labelled_features is not None and len(labelled_features):
        nearest = nearest_sq_distances(features, labelled_features)
    else:
        nearest = None
    chosen = []
    for _ in range(k):
        if nearest is None:
            index = int(rng.choice(np.flatnonzero(availability.available)))
        else:
            index = int(np.argmax(np.where(availability.available, nearest, -np.inf)))
        chosen.append(index)
        availability.take(index)
        diff = features - features[index]
        d = np.einsum("nd,nd->n", diff, diff)
        nearest = d if nearest is None else np.minimum(nearest, d)
    return np.asarray(chosen, np.int64)
