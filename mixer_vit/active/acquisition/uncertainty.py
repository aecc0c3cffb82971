"""Per-image uncertainty scores from MC-dropout class probabilities ``probs [S, N, K]``
(S samples, N pool images, K classes), in float64, and the order they rank images in.

Least confidence, margin and entropy score the predictive distribution, the mean over the
S samples; BALD (Houlsby et al. 2011) is the mutual information between the label and the
model parameters, ``H[mean_s p_s] - mean_s H[p_s]``.
"""

from __future__ import annotations

import numpy as np


def mean_probs(probs: np.ndarray) -> np.ndarray:
    """probs [S, N, K] -> the predictive distribution [N, K] (float64 mean over S)."""
    return np.asarray(probs, np.float64).mean(axis=0)


def entropy_of(p: np.ndarray) -> np.ndarray:
    """Entropy in nats over the last axis, with 0 log 0 = 0: [..., K] -> [...]."""
    p = np.asarray(p, np.float64)
    return -np.sum(p * np.log(np.where(p > 0, p, 1.0)), axis=-1)


def least_confidence(probs: np.ndarray) -> np.ndarray:
    """[S, N, K] -> [N]: ``1 - max_k pbar_k`` (higher = more uncertain)."""
    return 1.0 - mean_probs(probs).max(axis=-1)


def margin(probs: np.ndarray) -> np.ndarray:
    """[S, N, K] -> [N]: ``pbar_(1) - pbar_(2)``, the top probability minus the runner-up
    ("breaking ties"; smaller = more uncertain)."""
    top2 = np.sort(mean_probs(probs), axis=-1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def entropy(probs: np.ndarray) -> np.ndarray:
    """[S, N, K] -> [N]: entropy of the mean probabilities (higher = more uncertain)."""
    return entropy_of(mean_probs(probs))


def bald(probs: np.ndarray) -> np.ndarray:
    """[S, N, K] -> [N]: ``H[mean_s p_s] - mean_s H[p_s]`` (>= 0; 0 when all samples
    agree; higher = more informative about the parameters)."""
    return entropy(probs) - entropy_of(probs).mean(axis=0)


def rank_descending(scores: np.ndarray) -> np.ndarray:
    """[N] -> [N] indices, highest score first; equal scores in increasing index order."""
    return np.argsort(-np.asarray(scores, np.float64), kind="stable")


def rank_ascending(scores: np.ndarray) -> np.ndarray:
    """[N] -> [N] indices, lowest score first; equal scores in increasing index order."""
    return np.argsort(np.asarray(scores, np.float64), kind="stable")
